//! Matrix products with int8 weights on the CPU: `y = x · Wᵀ + b` where `W` (`[n, k]`, PyTorch's
//! layout) holds int8 codes and one scale per output row, the bundle's int8 encoding.
//!
//! Each row of `x` is quantized on the fly to i16 with its own scale, and products of i16 pairs
//! are summed into i32 lanes: wasm's `i32x4.dot_i16x8_s` (x86's `pmaddwd`) does eight
//! multiply-adds in one instruction, where f32 without fused multiply-add needs four
//! instructions for the same work. The integer sums are exact, so the only errors are the
//! weights' own int8 rounding and the activations' 15-bit rounding.
//!
//! This module uses `std` alone, so a test (`tests/wasm/kernels_check.rs`) can compile it by
//! itself for wasm32 and check the simd128 path against the portable one bit for bit; natively
//! the AVX2 path is checked the same way (`tests.rs`).

use std::ops::Range;

/// Output columns per packed panel: two vectors of four i32 lanes.
const PANEL: usize = 8;
/// Rows of `x` per micro-tile: 8 i32 accumulators, 2 weight vectors and a broadcast fit in the
/// 16 vector registers engines give wasm on x86.
const TILE_ROWS: usize = 4;
/// The largest activation code.
const X_MAX: f32 = 32767.0;
/// k pairs summed in i32 before the sum moves to f32: 512 products of at most 32767 · 127 stay
/// below 2³¹.
const CHUNK_PAIRS: usize = 256;

/// Which implementation computes: the portable one is the reference the SIMD one is checked
/// against, bit for bit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Portable,
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Vnni,
}

impl Kernel {
    fn best() -> Self {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return Kernel::Simd128;
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            return Kernel::Vnni;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Kernel::Avx2;
        }
        #[allow(unreachable_code)]
        Kernel::Portable
    }

    /// Panels one [`add_products`] call covers.
    fn panels_per_call(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => vnni::PANELS,
            _ => 1,
        }
    }

    /// Rows of `x` one [`add_products`] call covers.
    fn rows_per_call(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => vnni::ROWS,
            _ => TILE_ROWS,
        }
    }
}

/// A weight matrix packed for the kernel: for each panel of 8 output rows and each pair of
/// inputs `(2p, 2p+1)`, 16 codes `w[c][2p], w[c][2p+1]` for c in the panel. Padding is zero.
/// The codes stay int8 in memory (a bundle's weights take their own size, not twice it) and
/// are widened to i16 inside the kernels, 16 at a time, one vector load per pair.
pub struct Int8Matrix {
    n: usize,
    k: usize,
    pairs: usize,
    packed: Vec<i8>,
    /// One per output row, padded to whole panels.
    scales: Vec<f32>,
}

impl Int8Matrix {
    /// From int8 codes `[n, k]` in row-major order and a scale per row; `None` if the lengths
    /// disagree with `n` and `k`.
    pub fn from_codes(codes: &[i8], scales: &[f32], n: usize, k: usize) -> Option<Self> {
        if codes.len() != n * k || scales.len() != n {
            return None;
        }
        let pairs = k.div_ceil(2);
        let panels = n.div_ceil(PANEL);
        let mut packed = vec![0i8; panels * pairs * 2 * PANEL];
        for (row, codes) in codes.chunks(k.max(1)).enumerate().take(n) {
            for (i, &code) in codes.iter().enumerate() {
                packed[packed_index(pairs, row, i)] = code;
            }
        }
        let mut scales = scales.to_vec();
        scales.resize(panels * PANEL, 0.0);
        Some(Int8Matrix {
            n,
            k,
            pairs,
            packed,
            scales,
        })
    }

    /// Quantizes f32 weights `[n, k]` as [`quantize_weight_rows`] does.
    pub fn quantize(values: &[f32], n: usize, k: usize) -> Option<Self> {
        if values.len() != n * k {
            return None;
        }
        let (codes, scales) = quantize_weight_rows(values, k);
        Self::from_codes(&codes, &scales, n, k)
    }

    /// Output features.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input features.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The weight `[n, k]` as the kernel sees it (codes times scales).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.n * self.k);
        for row in 0..self.n {
            out.extend(
                (0..self.k).map(|i| {
                    self.packed[packed_index(self.pairs, row, i)] as f32 * self.scales[row]
                }),
            );
        }
        out
    }

    /// `x` is `[m, k]` row-major; returns `[m, n]`. A row of `x` with a NaN or an infinity gives
    /// a row of NaN (there is no scale to quantize it with).
    pub fn forward(&self, x: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
        self.forward_on(Kernel::best(), x, m, bias)
    }

    /// [`Self::forward`] on the portable kernel, whatever the target: the reference for tests.
    pub fn forward_portable(&self, x: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
        self.forward_on(Kernel::Portable, x, m, bias)
    }

    fn forward_on(&self, kernel: Kernel, x: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
        let rows = self.quantize_rows_on(kernel, x, m);
        self.columns_on(kernel, &rows, 0..self.panels(), bias)
    }

    /// Groups of 8 output columns: the unit [`Self::columns`] splits the product by.
    pub fn panels(&self) -> usize {
        self.scales.len() / PANEL
    }

    /// `x` (`[m, k]`) quantized for [`Self::columns`]: done once for all the column ranges of
    /// one product.
    pub fn quantize_input(&self, x: &[f32], m: usize) -> QuantizedRows {
        self.quantize_rows_on(Kernel::best(), x, m)
    }

    fn quantize_rows_on(&self, kernel: Kernel, x: &[f32], m: usize) -> QuantizedRows {
        assert_eq!(x.len(), m * self.k, "x must be [m, k]");
        let (codes, scales) = quantize_rows(kernel, x, m, self.k, self.pairs);
        QuantizedRows { m, codes, scales }
    }

    /// The output columns of panels `panels` (8 columns each, the last one clipped at `n`) for
    /// every row: `[m, columns]` row-major. Each output depends on its own column's weights
    /// alone, so ranges computed apart (on other threads) join into [`Self::forward`]'s result
    /// bit for bit.
    pub fn columns(
        &self,
        x: &QuantizedRows,
        panels: Range<usize>,
        bias: Option<&[f32]>,
    ) -> Vec<f32> {
        self.columns_on(Kernel::best(), x, panels, bias)
    }

    fn columns_on(
        &self,
        kernel: Kernel,
        x: &QuantizedRows,
        panels: Range<usize>,
        bias: Option<&[f32]>,
    ) -> Vec<f32> {
        if let Some(b) = bias {
            assert_eq!(b.len(), self.n, "bias must have n values");
        }
        assert!(panels.end <= self.panels(), "panels out of range");
        let (m, codes) = (x.m, &x.codes);
        let width = panels.len() * PANEL;
        let mut sums = vec![0.0f32; m * width];
        // k in chunks outside, panels inside: a group of panels' chunk of weights (4 KB a
        // panel) stays in the L1 cache while every row of x passes over it.
        let panel_stride = self.pairs * 2 * PANEL;
        let (group, tile_rows) = (kernel.panels_per_call(), kernel.rows_per_call());
        for start in (0..self.pairs).step_by(CHUNK_PAIRS) {
            let len = CHUNK_PAIRS.min(self.pairs - start);
            for i in (0..panels.len()).step_by(group) {
                let count = group.min(panels.len() - i);
                let offset = (panels.start + i) * panel_stride + start * 2 * PANEL;
                let weights =
                    &self.packed[offset..][..(count - 1) * panel_stride + len * 2 * PANEL];
                for r0 in (0..m).step_by(tile_rows) {
                    let tile = Tile {
                        x: &codes[r0 * 2 * self.pairs + 2 * start..],
                        x_stride: 2 * self.pairs,
                        rows: tile_rows.min(m - r0),
                        weights,
                        panels: count,
                        panel_stride,
                        pairs: len,
                    };
                    let out = &mut sums[r0 * width + i * PANEL..];
                    add_products(kernel, &tile, out, width);
                }
            }
        }
        let first = panels.start * PANEL;
        let columns = (panels.end * PANEL).min(self.n).saturating_sub(first);
        let scales = &self.scales[first..][..columns];
        let zeros;
        let bias = match bias {
            Some(b) => &b[first..][..columns],
            None => {
                zeros = vec![0.0; columns];
                &zeros
            }
        };
        let mut out = vec![0.0f32; m * columns];
        for ((dst, row), xs) in out
            .chunks_mut(columns.max(1))
            .zip(sums.chunks(width.max(1)))
            .zip(&x.scales)
        {
            // Plain zipped slices of one length: the compiler vectorizes this loop.
            for (((y, s), ws), b) in dst.iter_mut().zip(row).zip(scales).zip(bias) {
                *y = s * (xs * ws) + b;
            }
        }
        out
    }
}

/// The activations of one product as the kernels read them: each row's i16 codes and scale.
pub struct QuantizedRows {
    m: usize,
    codes: Vec<i16>,
    scales: Vec<f32>,
}

/// Where weight `[row, i]` lies in the packed layout of a matrix with `pairs` input pairs.
fn packed_index(pairs: usize, row: usize, i: usize) -> usize {
    let (panel, lane) = (row / PANEL, row % PANEL);
    (panel * pairs + i / 2) * 2 * PANEL + 2 * lane + i % 2
}

/// Symmetric per-row int8 codes of a row-major matrix with `k` columns, and the row scales
/// (max|w| / 127): the bundle's int8 encoding.
pub fn quantize_weight_rows(values: &[f32], k: usize) -> (Vec<i8>, Vec<f32>) {
    let mut codes = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len() / k.max(1));
    for row in values.chunks(k.max(1)) {
        let scale = row.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        codes.extend(
            row.iter()
                .map(|v| (v * inv).round().clamp(-127.0, 127.0) as i8),
        );
        scales.push(scale);
    }
    (codes, scales)
}

/// Each row of `x` as i16 codes (`2 * pairs` per row, zero-padded) and its scale (NaN for a row
/// with a NaN or an infinity).
fn quantize_rows(
    kernel: Kernel,
    x: &[f32],
    m: usize,
    k: usize,
    pairs: usize,
) -> (Vec<i16>, Vec<f32>) {
    let mut codes = vec![0i16; m * 2 * pairs];
    let scales = x
        .chunks(k.max(1))
        .take(m)
        .zip(codes.chunks_mut(2 * pairs))
        .map(|(row, dst)| {
            let max = max_abs(kernel, row);
            if !max.is_finite() {
                return f32::NAN;
            }
            let inv = if max > 0.0 { X_MAX / max } else { 0.0 };
            scale_and_round(kernel, row, inv, dst);
            max / X_MAX
        })
        .collect();
    (codes, scales)
}

/// The largest |v|; NaN if any value is NaN.
fn max_abs(kernel: Kernel, row: &[f32]) -> f32 {
    match kernel {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Kernel::Simd128 => simd128::max_abs(row),
        // SAFETY: `Kernel::best` (and the tests) pick these only where the CPU has AVX2.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 | Kernel::Vnni => unsafe { avx2::max_abs(row) },
        _ => max_abs_portable(row),
    }
}

fn max_abs_portable(row: &[f32]) -> f32 {
    if row.iter().any(|v| v.is_nan()) {
        return f32::NAN;
    }
    row.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// `dst[i] = round(row[i] * inv)`, ties to even (wasm's `f32x4.nearest`).
fn scale_and_round(kernel: Kernel, row: &[f32], inv: f32, dst: &mut [i16]) {
    match kernel {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Kernel::Simd128 => simd128::scale_and_round(row, inv, dst),
        // SAFETY: as in `max_abs`; `dst` is a whole padded row, at least as long as `row`.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 | Kernel::Vnni => unsafe { avx2::scale_and_round(row, inv, dst) },
        _ => scale_and_round_portable(row, inv, dst),
    }
}

fn scale_and_round_portable(row: &[f32], inv: f32, dst: &mut [i16]) {
    for (d, v) in dst.iter_mut().zip(row) {
        *d = (v * inv).round_ties_even() as i16;
    }
}

/// A few rows of activation codes against a few panels' weights (as many as the kernel's
/// `rows_per_call` and `panels_per_call`), over one chunk of k.
struct Tile<'a> {
    /// The first row's codes from the chunk's start; row `r` starts at `r * x_stride`.
    x: &'a [i16],
    x_stride: usize,
    rows: usize,
    /// `pairs * 2 * PANEL` codes for each panel, panel `j` from `j * panel_stride`.
    weights: &'a [i8],
    panels: usize,
    panel_stride: usize,
    pairs: usize,
}

/// Adds the tile's products (i32 sums, then f32) to `out`: row `r`, column `c` of the panel is
/// `out[r * stride + c]`.
fn add_products(kernel: Kernel, tile: &Tile, out: &mut [f32], stride: usize) {
    assert!(tile.rows >= 1 && tile.rows <= kernel.rows_per_call());
    assert!(tile.panels >= 1 && tile.panels <= kernel.panels_per_call());
    assert!(tile.weights.len() >= (tile.panels - 1) * tile.panel_stride + tile.pairs * 2 * PANEL);
    assert!(tile.x.len() >= (tile.rows - 1) * tile.x_stride + 2 * tile.pairs);
    assert!(out.len() >= (tile.rows - 1) * stride + tile.panels * PANEL);
    match kernel {
        Kernel::Portable => add_products_portable(tile, out, stride),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Kernel::Simd128 => simd128::add_products(tile, out, stride),
        // SAFETY: `Kernel::best` (and the tests) pick these only where the CPU has them.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { avx2::add_products(tile, out, stride) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Vnni => unsafe { vnni::add_products(tile, out, stride) },
    }
}

fn add_products_portable(tile: &Tile, out: &mut [f32], stride: usize) {
    let mut acc = [[0i32; PANEL]; TILE_ROWS];
    for p in 0..tile.pairs {
        let w = &tile.weights[p * 2 * PANEL..][..2 * PANEL];
        for (r, acc) in acc.iter_mut().enumerate().take(tile.rows) {
            let a0 = tile.x[r * tile.x_stride + 2 * p] as i32;
            let a1 = tile.x[r * tile.x_stride + 2 * p + 1] as i32;
            for (c, acc) in acc.iter_mut().enumerate() {
                *acc += a0 * w[2 * c] as i32 + a1 * w[2 * c + 1] as i32;
            }
        }
    }
    for (r, acc) in acc.iter().enumerate().take(tile.rows) {
        for (o, a) in out[r * stride..][..PANEL].iter_mut().zip(acc) {
            *o += *a as f32;
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod vnni;

#[cfg(test)]
mod tests;
