//! Weight-only quantization of row-major matrices `[rows, cols]` (PyTorch layout: a row is an
//! output channel, or a token for embeddings). Activations stay f32: weights are dequantized
//! once, when a bundle is loaded.
//! - int8: symmetric per row, scale = max|w| / 127, f32 scales;
//! - int4: symmetric per block of 32 along the row, scale = max|w| / 7, f16 scales, two values a
//!   byte (low nibble first);
//! - f16 and f32: plain casts.

use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use crate::clip::weights::decode_floats;
use crate::kernels::int8::quantize_weight_rows;

pub const INT4_BLOCK: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "native", derive(clap::ValueEnum))]
pub enum Quant {
    F32,
    F16,
    Int8,
    Int4,
}

/// Encodes `values` (a `[rows, cols]` matrix) as `quant` says.
pub fn encode(values: &[f32], rows: usize, cols: usize, quant: Quant) -> Vec<u8> {
    assert_eq!(values.len(), rows * cols);
    match quant {
        Quant::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Quant::F16 => values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect(),
        Quant::Int8 => {
            let (codes, scales) = quantize_weight_rows(values, cols);
            let mut bytes: Vec<u8> = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
            bytes.extend(codes.iter().map(|&c| c as u8));
            bytes
        }
        Quant::Int4 => {
            let blocks_per_row = cols.div_ceil(INT4_BLOCK);
            let mut scales = Vec::with_capacity(rows * blocks_per_row * 2);
            let mut codes = Vec::with_capacity(rows * cols.div_ceil(2));
            for row in values.chunks(cols.max(1)) {
                let mut nibbles = Vec::with_capacity(cols);
                for block in row.chunks(INT4_BLOCK) {
                    let scale = int4_scale(block);
                    scales.extend(scale.to_le_bytes());
                    let scale = scale.to_f32();
                    let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
                    nibbles.extend(
                        block
                            .iter()
                            .map(|v| ((v * inv).round().clamp(-7.0, 7.0) as i8) as u8 & 0x0f),
                    );
                }
                codes.extend(
                    nibbles
                        .chunks(2)
                        .map(|p| p[0] | (p.get(1).copied().unwrap_or(0) << 4)),
                );
            }
            scales.extend(codes);
            scales
        }
    }
}

/// The block scale with the smallest squared rounding error among `max|w| / 7` shrunk by up to
/// 30 %: clipping the largest value a little buys a finer step for all the others.
fn int4_scale(block: &[f32]) -> half::f16 {
    let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let error = |scale: f32| -> f32 {
        if scale <= 0.0 {
            return 0.0;
        }
        block
            .iter()
            .map(|v| (v - (v / scale).round().clamp(-7.0, 7.0) * scale).powi(2))
            .sum()
    };
    (0..=15)
        .map(|i| half::f16::from_f32(max / 7.0 * (1.0 - 0.02 * i as f32)))
        .min_by(|a, b| error(a.to_f32()).total_cmp(&error(b.to_f32())))
        .expect("candidates")
}

/// Bytes `encode` produces for a `[rows, cols]` matrix.
pub fn encoded_len(rows: usize, cols: usize, quant: Quant) -> usize {
    match quant {
        Quant::F32 => rows * cols * 4,
        Quant::F16 => rows * cols * 2,
        Quant::Int8 => rows * 4 + rows * cols,
        Quant::Int4 => rows * cols.div_ceil(INT4_BLOCK) * 2 + rows * cols.div_ceil(2),
    }
}

/// The f32 values of an encoded matrix; `None` when `bytes` has the wrong length.
pub fn decode(bytes: &[u8], rows: usize, cols: usize, quant: Quant) -> Option<Vec<f32>> {
    if bytes.len() != encoded_len(rows, cols, quant) {
        return None;
    }
    let values = match quant {
        Quant::F32 => decode_floats(bytes, Dtype::F32)?,
        Quant::F16 => decode_floats(bytes, Dtype::F16)?,
        Quant::Int8 => {
            let (codes, scales) = int8_parts(bytes, rows, cols)?;
            let mut out = Vec::with_capacity(rows * cols);
            for (scale, row) in scales.iter().zip(codes.chunks(cols.max(1))) {
                out.extend(row.iter().map(|&c| c as f32 * scale));
            }
            out
        }
        Quant::Int4 => {
            let blocks_per_row = cols.div_ceil(INT4_BLOCK);
            let (scales, codes) = bytes.split_at(rows * blocks_per_row * 2);
            let row_bytes = cols.div_ceil(2);
            let mut out = Vec::with_capacity(rows * cols);
            for r in 0..rows {
                let packed = &codes[r * row_bytes..(r + 1) * row_bytes];
                for c in 0..cols {
                    let nibble = (packed[c / 2] >> ((c % 2) * 4)) & 0x0f;
                    // Sign-extend the 4-bit two's complement value.
                    let q = ((nibble << 4) as i8) >> 4;
                    let s = &scales[(r * blocks_per_row + c / INT4_BLOCK) * 2..][..2];
                    out.push(q as f32 * half::f16::from_le_bytes([s[0], s[1]]).to_f32());
                }
            }
            out
        }
    };
    Some(values)
}

/// An int8 matrix's codes (`[rows, cols]`) and row scales; `None` when `bytes` has the wrong
/// length.
pub fn int8_parts(bytes: &[u8], rows: usize, cols: usize) -> Option<(Vec<i8>, Vec<f32>)> {
    if bytes.len() != encoded_len(rows, cols, Quant::Int8) {
        return None;
    }
    let (scales, codes) = bytes.split_at(rows * 4);
    let scales = scales
        .chunks_exact(4)
        .map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .collect();
    Some((codes.iter().map(|&c| c as i8).collect(), scales))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i / cols) as f32))
            .collect()
    }

    #[test]
    fn int8_round_trips_within_half_a_step() {
        let (rows, cols) = (5, 70);
        let w = matrix(rows, cols);
        let bytes = encode(&w, rows, cols, Quant::Int8);
        assert_eq!(bytes.len(), encoded_len(rows, cols, Quant::Int8));
        let back = decode(&bytes, rows, cols, Quant::Int8).unwrap();
        for (a, b) in w.chunks(cols).zip(back.chunks(cols)) {
            let max = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let err = a
                .iter()
                .zip(b)
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(err <= max / 127.0 * 0.5 * 1.001 + 1e-7, "{err}");
        }
        assert_eq!(
            decode(&encode(&w, rows, cols, Quant::F32), rows, cols, Quant::F32).unwrap(),
            w
        );
        assert!(decode(&[0; 3], rows, cols, Quant::Int8).is_none());
    }

    #[test]
    fn int4_error_is_at_most_plain_rounding() {
        let (rows, cols) = (5, 70); // 70: a partial block and an odd nibble count
        let w = matrix(rows, cols);
        let bytes = encode(&w, rows, cols, Quant::Int4);
        assert_eq!(bytes.len(), encoded_len(rows, cols, Quant::Int4));
        let back = decode(&bytes, rows, cols, Quant::Int4).unwrap();
        let sq = |a: f32, b: f32| ((a - b) as f64).powi(2);
        for (a, b) in w.chunks(cols).zip(back.chunks(cols)) {
            for (x, y) in a.chunks(INT4_BLOCK).zip(b.chunks(INT4_BLOCK)) {
                // Plain symmetric rounding with scale max/7, computed independently.
                let s = half::f16::from_f32(x.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 7.0)
                    .to_f32();
                let plain: f64 = x
                    .iter()
                    .map(|v| sq(*v, (v / s).round().clamp(-7.0, 7.0) * s))
                    .sum();
                let ours: f64 = x.iter().zip(y).map(|(p, q)| sq(*p, *q)).sum();
                assert!(ours <= plain * 1.0001 + 1e-12, "{ours} > {plain}");
            }
        }
    }

    #[test]
    fn int4_codes_by_hand() {
        // One block [7, -7, 0, 1]: scale 1 is exact (any smaller one clips 7), codes 7, -7 (0x9),
        // 0, 1, low nibble first.
        let bytes = encode(&[7.0, -7.0, 0.0, 1.0], 1, 4, Quant::Int4);
        assert_eq!(&bytes[..2], &half::f16::from_f32(1.0).to_le_bytes());
        assert_eq!(&bytes[2..], &[0x97, 0x10]);
        assert_eq!(
            decode(&bytes, 1, 4, Quant::Int4).unwrap(),
            vec![7.0, -7.0, 0.0, 1.0]
        );
        // [7, -7, 0, 3.5]: shrinking the scale to 0.98 lowers the squared error (0.216 < 0.25).
        let bytes = encode(&[7.0, -7.0, 0.0, 3.5], 1, 4, Quant::Int4);
        assert_eq!(
            half::f16::from_le_bytes([bytes[0], bytes[1]]),
            half::f16::from_f32(0.98)
        );
    }
}
