//! Matrix products with integer weights on the CPU: `y = x · Wᵀ + b` where `W` (`[n, k]`,
//! PyTorch's layout) holds integer codes and one scale per output row: int8 codes (the bundle's
//! int8 encoding, [`Int8Matrix`]) or 12-bit codes in i16 ([`Int12Matrix`], for the OCR's convs,
//! whose text int8 weights change).
//!
//! Each row of `x` is quantized on the fly to i16 with its own scale, and products of i16 pairs
//! are summed into i32 lanes: wasm's `i32x4.dot_i16x8_s` (x86's `pmaddwd`) does eight
//! multiply-adds in one instruction, where f32 without fused multiply-add needs four
//! instructions for the same work. The integer sums are exact, so the only errors are the
//! weights' own rounding and the activations' rounding (15 bits against int8 weights, 12 bits
//! against 12-bit weights, so that the sums fit i32 either way).
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
/// k pairs summed in i32 before the sum moves to f32: 512 products of at most
/// [`Code::X_MAX`] · [`Code::W_MAX`] stay below 2³¹.
const CHUNK_PAIRS: usize = 256;

/// A weight code type.
pub trait Code: Copy + Default + Send + Sync + Into<i32> + 'static {
    /// Two bytes a code (loaded as they are), or one (widened to i16 as they are loaded).
    const WIDE: bool;
    /// The largest weight code.
    const W_MAX: f32;
    /// The largest activation code against these weights.
    const X_MAX: f32;
    /// An integer-valued `v` within ±[`Self::W_MAX`] as a code (NaN gives 0).
    fn from_integer(v: f32) -> Self;

    fn value(self) -> i32 {
        self.into()
    }

    /// `v` (already scaled) rounded to a code, ties away from zero: the bundle's encoding.
    fn round(v: f32) -> Self {
        Self::from_integer(v.round().clamp(-Self::W_MAX, Self::W_MAX))
    }

    /// `v` (already scaled, within ±[`Self::W_MAX`]) rounded to a code, ties to even as the
    /// activations are; NaN gives 0.
    fn nearest(v: f32) -> Self {
        Self::from_integer(round_ties_even(v))
    }

    /// One panel of two rows' values (`even`, `odd`: 8 each) times `inv`, rounded as
    /// [`Self::nearest`] does, into the packed layout: `dst[2c] = even[c]`, `dst[2c+1] = odd[c]`.
    fn pack_panel(kernel: Kernel, even: &[f32], odd: &[f32], inv: &[f32], dst: &mut [Self]) {
        let _ = kernel;
        pack_panel_portable(even, odd, inv, dst);
    }
}

fn pack_panel_portable<C: Code>(even: &[f32], odd: &[f32], inv: &[f32], dst: &mut [C]) {
    for lane in 0..PANEL {
        dst[2 * lane] = C::nearest(even[lane] * inv[lane]);
        dst[2 * lane + 1] = C::nearest(odd[lane] * inv[lane]);
    }
}

impl Code for i8 {
    const WIDE: bool = false;
    const W_MAX: f32 = 127.0;
    const X_MAX: f32 = 32767.0;
    fn from_integer(v: f32) -> Self {
        v as i8
    }
}

/// 12-bit codes: 2047 · 2047 · 512 < 2³¹.
impl Code for i16 {
    const WIDE: bool = true;
    const W_MAX: f32 = 2047.0;
    const X_MAX: f32 = 2047.0;
    fn from_integer(v: f32) -> Self {
        v as i16
    }
    fn pack_panel(kernel: Kernel, even: &[f32], odd: &[f32], inv: &[f32], dst: &mut [Self]) {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if kernel == Kernel::Simd128 {
            return simd128::pack_panel(even, odd, inv, dst);
        }
        let _ = kernel;
        pack_panel_portable(even, odd, inv, dst);
    }
}

/// `v` rounded to an integer, ties to even, for |v| < 2²²: adding 1.5 · 2²³ leaves no fraction
/// bits, so the sum is rounded as the FPU rounds (to nearest, ties to even). Without SSE4.1
/// `f32::round_ties_even` is a library call on x86-64, a quarter of the OCR's time.
#[inline(always)]
fn round_ties_even(v: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    (v + SHIFT) - SHIFT
}

const _: () = assert!((i8::X_MAX as i64) * (i8::W_MAX as i64) * 2 * (CHUNK_PAIRS as i64) < 1 << 31);
const _: () =
    assert!((i16::X_MAX as i64) * (i16::W_MAX as i64) * 2 * (CHUNK_PAIRS as i64) < 1 << 31);

/// Which implementation computes: the portable one is the reference the SIMD one is checked
/// against, bit for bit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
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

/// The rows of a `[k, n]` matrix, one at a time: read in place, or written into a buffer of
/// `n` values and read from there.
pub trait RowSource {
    fn row<'a>(&'a self, i: usize, buf: &'a mut [f32]) -> &'a [f32];
}

/// `k` rows of `n` values, `stride` apart in one slice.
pub struct StridedRows<'x> {
    x: &'x [f32],
    n: usize,
    stride: usize,
}

impl<'x> StridedRows<'x> {
    pub fn new(x: &'x [f32], k: usize, n: usize, stride: usize) -> Self {
        assert!(
            k == 0 || x.len() >= (k - 1) * stride + n,
            "x holds k rows of n"
        );
        StridedRows { x, n, stride }
    }
}

impl RowSource for StridedRows<'_> {
    fn row<'a>(&'a self, i: usize, _buf: &'a mut [f32]) -> &'a [f32] {
        &self.x[i * self.stride..][..self.n]
    }
}

/// A weight matrix packed for the kernel: for each panel of 8 output rows and each pair of
/// inputs `(2p, 2p+1)`, 16 codes `w[c][2p], w[c][2p+1]` for c in the panel. Padding is zero.
/// int8 codes stay int8 in memory (a bundle's weights take their own size, not twice it) and
/// are widened to i16 inside the kernels, 16 at a time, one vector load per pair.
pub struct QuantMatrix<C: Code> {
    n: usize,
    k: usize,
    pairs: usize,
    packed: Vec<C>,
    /// One per output row, padded to whole panels.
    scales: Vec<f32>,
}

/// int8 weights: the bundle's int8 encoding.
pub type Int8Matrix = QuantMatrix<i8>;
/// 12-bit weights in i16.
pub type Int12Matrix = QuantMatrix<i16>;

impl<C: Code> QuantMatrix<C> {
    /// From codes `[n, k]` in row-major order and a scale per row; `None` if the lengths
    /// disagree with `n` and `k`.
    pub fn from_codes(codes: &[C], scales: &[f32], n: usize, k: usize) -> Option<Self> {
        if codes.len() != n * k || scales.len() != n {
            return None;
        }
        let pairs = k.div_ceil(2);
        let panels = n.div_ceil(PANEL);
        let mut packed = vec![C::default(); panels * pairs * 2 * PANEL];
        for (row, codes) in codes.chunks(k.max(1)).enumerate().take(n) {
            for (i, &code) in codes.iter().enumerate() {
                packed[packed_index(pairs, row, i)] = code;
            }
        }
        let mut scales = scales.to_vec();
        scales.resize(panels * PANEL, 0.0);
        Some(QuantMatrix {
            n,
            k,
            pairs,
            packed,
            scales,
        })
    }

    /// Quantizes f32 weights `[n, k]` symmetrically per row (scale max|w| / W_MAX), as
    /// [`quantize_weight_rows`] does for int8.
    pub fn quantize(values: &[f32], n: usize, k: usize) -> Option<Self> {
        if values.len() != n * k {
            return None;
        }
        let (codes, scales) = quantize_rows_to::<C>(values, k);
        Self::from_codes(&codes, &scales, n, k)
    }

    /// The transpose of `x` (`k` rows of `n` values, `row_stride` apart) as a matrix `[n, k]`,
    /// each of its rows (a column of `x`) with its own scale, max|v| / W_MAX (NaN for a column
    /// with a NaN or an infinity). It reads `x` row by row and writes whole panels: a conv's
    /// input planes go in without a transpose, as the right side of a product whose left side
    /// is the filters ([`QuantizedRows::new`]).
    pub fn from_columns(x: &[f32], k: usize, n: usize, row_stride: usize) -> Self {
        Self::from_rows(&StridedRows::new(x, k, n, row_stride), k, n)
    }

    /// [`Self::from_columns`] packed by the portable code, whatever the target: the reference
    /// for tests.
    pub fn from_columns_portable(x: &[f32], k: usize, n: usize, row_stride: usize) -> Self {
        let rows = StridedRows::new(x, k, n, row_stride);
        Self::from_rows_on(Kernel::Portable, &rows, k, n)
    }

    /// [`Self::from_columns`] of the `k` rows of `n` values that `rows` gives: a matrix that
    /// need not be stored whole (a wide conv's im2col, gathered a row at a time).
    pub fn from_rows(rows: &impl RowSource, k: usize, n: usize) -> Self {
        Self::from_rows_on(Kernel::best(), rows, k, n)
    }

    fn from_rows_on(kernel: Kernel, rows: &impl RowSource, k: usize, n: usize) -> Self {
        // Two passes over the rows: the columns' largest values, then the codes.
        let (mut even_buf, mut odd_buf) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut max = vec![0.0f32; n];
        for i in 0..k {
            for (m, v) in max.iter_mut().zip(rows.row(i, &mut even_buf)) {
                let a = v.abs();
                // A NaN stays once in: `a > NaN` is false.
                *m = if a > *m || a.is_nan() { a } else { *m };
            }
        }
        let (panels, pairs) = (n.div_ceil(PANEL), k.div_ceil(2));
        let mut scales = vec![0.0f32; panels * PANEL];
        let mut inverse = vec![0.0f32; n];
        for ((scale, inv), m) in scales.iter_mut().zip(&mut inverse).zip(&max) {
            if !m.is_finite() {
                *scale = f32::NAN;
            } else if *m > 0.0 {
                (*scale, *inv) = (m / C::W_MAX, C::W_MAX / m);
            }
        }
        // Whole panels read in place; the last, partial one from a zero-padded copy.
        inverse.resize(panels * PANEL, 0.0);
        let zeros = vec![0.0f32; n];
        let mut packed = vec![C::default(); panels * pairs * 2 * PANEL];
        for p in 0..pairs {
            let even = rows.row(2 * p, &mut even_buf);
            let odd = if 2 * p + 1 < k {
                rows.row(2 * p + 1, &mut odd_buf)
            } else {
                &zeros
            };
            for (panel, inv) in inverse.chunks_exact(PANEL).enumerate() {
                let dst = &mut packed[(panel * pairs + p) * 2 * PANEL..][..2 * PANEL];
                let start = panel * PANEL;
                if start + PANEL <= n {
                    let (e, o) = (&even[start..][..PANEL], &odd[start..][..PANEL]);
                    C::pack_panel(kernel, e, o, inv, dst);
                } else {
                    let mut tail = [[0.0f32; PANEL]; 2];
                    tail[0][..n - start].copy_from_slice(&even[start..]);
                    tail[1][..n - start].copy_from_slice(&odd[start..]);
                    C::pack_panel(kernel, &tail[0], &tail[1], inv, dst);
                }
            }
        }
        QuantMatrix {
            n,
            k,
            pairs,
            packed,
            scales,
        }
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
            out.extend((0..self.k).map(|i| {
                self.packed[packed_index(self.pairs, row, i)].value() as f32 * self.scales[row]
            }));
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
        let (codes, scales) = quantize_rows(kernel, x, m, self.k, self.pairs, C::X_MAX);
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
        assert_eq!(
            codes.len(),
            m * 2 * self.pairs,
            "x was quantized for this k"
        );
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

impl QuantizedRows {
    /// `x` (`[m, k]`) quantized per row for products with a [`QuantMatrix<C>`] of `k` inputs.
    pub fn new<C: Code>(x: &[f32], m: usize, k: usize) -> Self {
        assert_eq!(x.len(), m * k, "x must be [m, k]");
        let (codes, scales) = quantize_rows(Kernel::best(), x, m, k, k.div_ceil(2), C::X_MAX);
        QuantizedRows { m, codes, scales }
    }

    /// The rows as the products see them (codes times scales), `[m, k]`.
    pub fn dequantize(&self, k: usize) -> Vec<f32> {
        let per_row = self.codes.len() / self.m.max(1);
        let rows = self.codes.chunks(per_row.max(1)).zip(&self.scales);
        rows.flat_map(|(codes, s)| codes[..k].iter().map(move |c| *c as f32 * s))
            .collect()
    }
}

/// Where weight `[row, i]` lies in the packed layout of a matrix with `pairs` input pairs.
fn packed_index(pairs: usize, row: usize, i: usize) -> usize {
    let (panel, lane) = (row / PANEL, row % PANEL);
    (panel * pairs + i / 2) * 2 * PANEL + 2 * lane + i % 2
}

/// Symmetric per-row int8 codes of a row-major matrix with `k` columns, and the row scales
/// (max|w| / 127): the bundle's int8 encoding.
pub fn quantize_weight_rows(values: &[f32], k: usize) -> (Vec<i8>, Vec<f32>) {
    quantize_rows_to::<i8>(values, k)
}

fn quantize_rows_to<C: Code>(values: &[f32], k: usize) -> (Vec<C>, Vec<f32>) {
    let mut codes = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len() / k.max(1));
    for row in values.chunks(k.max(1)) {
        let scale = row.iter().fold(0.0f32, |m, v| m.max(v.abs())) / C::W_MAX;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        codes.extend(row.iter().map(|v| C::round(v * inv)));
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
    x_max: f32,
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
            let inv = if max > 0.0 { x_max / max } else { 0.0 };
            scale_and_round(kernel, row, inv, dst);
            max / x_max
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
struct Tile<'a, C> {
    /// The first row's codes from the chunk's start; row `r` starts at `r * x_stride`.
    x: &'a [i16],
    x_stride: usize,
    rows: usize,
    /// `pairs * 2 * PANEL` codes for each panel, panel `j` from `j * panel_stride`.
    weights: &'a [C],
    panels: usize,
    panel_stride: usize,
    pairs: usize,
}

/// Adds the tile's products (i32 sums, then f32) to `out`: row `r`, column `c` of the panel is
/// `out[r * stride + c]`.
fn add_products<C: Code>(kernel: Kernel, tile: &Tile<C>, out: &mut [f32], stride: usize) {
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

fn add_products_portable<C: Code>(tile: &Tile<C>, out: &mut [f32], stride: usize) {
    let mut acc = [[0i32; PANEL]; TILE_ROWS];
    for p in 0..tile.pairs {
        let w = &tile.weights[p * 2 * PANEL..][..2 * PANEL];
        for (r, acc) in acc.iter_mut().enumerate().take(tile.rows) {
            let a0 = tile.x[r * tile.x_stride + 2 * p] as i32;
            let a1 = tile.x[r * tile.x_stride + 2 * p + 1] as i32;
            for (c, acc) in acc.iter_mut().enumerate() {
                *acc += a0 * w[2 * c].value() + a1 * w[2 * c + 1].value();
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
