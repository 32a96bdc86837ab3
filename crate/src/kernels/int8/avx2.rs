//! Native x86-64: `vpmaddwd` on 256 bits covers a whole panel (8 columns) per pair of inputs.

use std::arch::x86_64::*;

use super::{Code, PANEL, Tile};

/// # Safety
/// The CPU must have AVX2; the tile's bounds are checked by `super::add_products`.
#[target_feature(enable = "avx2")]
pub unsafe fn add_products<C: Code>(tile: &Tile<C>, out: &mut [f32], stride: usize) {
    let (x, w, out) = (tile.x.as_ptr(), tile.weights.as_ptr(), out.as_mut_ptr());
    let (pairs, x_stride) = (tile.pairs, tile.x_stride);
    unsafe {
        match tile.rows {
            4 => rows::<4, C>(x, x_stride, w, pairs, out, stride),
            3 => rows::<3, C>(x, x_stride, w, pairs, out, stride),
            2 => rows::<2, C>(x, x_stride, w, pairs, out, stride),
            _ => rows::<1, C>(x, x_stride, w, pairs, out, stride),
        }
    }
}

/// # Safety
/// As `simd128::rows`, and the CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn rows<const R: usize, C: Code>(
    x: *const i16,
    x_stride: usize,
    w: *const C,
    pairs: usize,
    out: *mut f32,
    stride: usize,
) {
    let mut acc = [_mm256_setzero_si256(); R];
    for p in 0..pairs {
        unsafe {
            let wv = panel_weights(w, p);
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = (x.add(r * x_stride + 2 * p) as *const i32).read_unaligned();
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(_mm256_set1_epi32(pair), wv));
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        unsafe {
            let o = out.add(r * stride);
            _mm256_storeu_ps(
                o,
                _mm256_add_ps(_mm256_loadu_ps(o), _mm256_cvtepi32_ps(*acc)),
            );
        }
    }
}

/// The largest |v|, 8 lanes at a time; NaN if any value is NaN.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn max_abs(row: &[f32]) -> f32 {
    let sign = _mm256_set1_ps(-0.0);
    let (mut max, mut nan) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        // SAFETY: a chunk is 8 floats.
        let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
        max = _mm256_max_ps(max, _mm256_andnot_ps(sign, v));
        nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
    }
    let tail = super::max_abs_portable(chunks.remainder());
    // `f32::max` drops a NaN: look for one first.
    if _mm256_movemask_ps(nan) != 0 || tail.is_nan() {
        return f32::NAN;
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), max) };
    lanes.iter().fold(tail, |m, v| m.max(*v))
}

/// `dst[i] = round(row[i] * inv)`, ties to even: the conversion rounds as the MXCSR says, and
/// Rust leaves it at round-to-nearest-even.
///
/// # Safety
/// The CPU must have AVX2; `dst` is at least as long as `row`.
#[target_feature(enable = "avx2")]
pub unsafe fn scale_and_round(row: &[f32], inv: f32, dst: &mut [i16]) {
    let scale = _mm256_set1_ps(inv);
    let mut chunks = row.chunks_exact(8);
    let mut out = dst.chunks_exact_mut(8);
    for (c, d) in (&mut chunks).zip(&mut out) {
        // SAFETY: a chunk is 8 floats, its destination 8 codes.
        unsafe {
            let v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(c.as_ptr()), scale));
            let codes =
                _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            _mm_storeu_si128(d.as_mut_ptr() as *mut __m128i, codes);
        }
    }
    let done = row.len() - chunks.remainder().len();
    super::scale_and_round_portable(chunks.remainder(), inv, &mut dst[done..]);
}

/// The 16 weight codes of pair `p` as sixteen i16.
///
/// # Safety
/// `w` holds at least `(p + 1) * 2 * PANEL` codes; the CPU has AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) unsafe fn panel_weights<C: Code>(w: *const C, p: usize) -> __m256i {
    unsafe {
        let at = w.add(p * 2 * PANEL);
        if C::WIDE {
            _mm256_loadu_si256(at as *const __m256i)
        } else {
            _mm256_cvtepi8_epi16(_mm_loadu_si128(at as *const __m128i))
        }
    }
}
