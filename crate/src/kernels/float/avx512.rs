//! Native x86-64 with AVX-512F: the weight is packed once, at load, into panels of 64 columns
//! (four vectors), each panel's `k` rows one after another; a call multiplies up to six rows of
//! activations by one panel over the whole of `k`, in 24 accumulators, each activation
//! broadcast from its row in place. The `gemm` crate packs both operands again on every call:
//! at a tower's batch-1 shapes (30 to 77 rows) this kernel did 1.2 to 1.6 times its work per
//! second on a 2-core Xeon, and the same at 400 rows.

use std::arch::x86_64::*;

/// Columns per panel.
pub const PANEL: usize = 64;
/// Activation rows per call: 6 rows × 4 vectors = 24 accumulators, 4 weight registers and a
/// broadcast within the 32 registers.
pub const ROWS: usize = 6;
const VECTORS: usize = PANEL / 16;

/// A weight packed into panels of [`PANEL`] columns, each `[k, PANEL]` row-major, the columns
/// past `n` zero. The panels start on a cache line, so that each vector load reads one line:
/// an allocator gives 16-byte alignment, and a weight vector that straddles two lines costs
/// two reads on every step of the kernel.
pub struct Panels {
    values: Vec<f32>,
    start: usize,
}

/// Bytes per cache line.
const LINE: usize = 64;

impl Panels {
    pub fn pack(values: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(values.len(), k * n, "values are [k, n]");
        let panels = if k == 0 { 0 } else { n.div_ceil(PANEL) };
        let slack = LINE / size_of::<f32>();
        let mut storage = vec![0.0f32; panels * k * PANEL + slack];
        let start = storage.as_ptr().align_offset(LINE).min(slack);
        for (p, panel) in storage[start..]
            .chunks_exact_mut(k * PANEL)
            .take(panels)
            .enumerate()
        {
            let first = p * PANEL;
            let cols = PANEL.min(n - first);
            for (row, out) in panel.chunks_exact_mut(PANEL).enumerate() {
                out[..cols].copy_from_slice(&values[row * n + first..][..cols]);
            }
        }
        Panels {
            values: storage,
            start,
        }
    }

    /// Panel `p`, `[k, PANEL]`.
    pub fn panel(&self, k: usize, p: usize) -> &[f32] {
        &self.values[self.start + p * k * PANEL..][..k * PANEL]
    }
}

/// The operands of one call: `rows` rows of `x` (`x_stride` apart), `depth` values each, one
/// panel's `depth` rows, and the `rows` x `cols` block of `y` (`y_stride` apart) that the
/// products go to.
pub struct Tile {
    pub x: *const f32,
    pub x_stride: usize,
    pub rows: usize,
    pub w: *const f32,
    pub depth: usize,
    pub y: *mut f32,
    pub y_stride: usize,
    pub cols: usize,
    /// The panel's `cols` biases, or null for none.
    pub bias: *const f32,
    /// Whether the products are added to what `y` holds; if not, `y` is only written.
    pub accumulate: bool,
    /// Weights to bring into L2 during the call, `ahead_per_step` cache lines per step of `k`
    /// from `ahead` on (0: none): the next panel, which would otherwise come from memory only
    /// when its first tile asks for it, with the cores waiting.
    pub ahead: *const f32,
    pub ahead_per_step: usize,
}

/// f32 values per cache line.
pub const LINE_VALUES: usize = LINE / size_of::<f32>();

/// `y = x · w + bias`, or `y += x · w + bias` where the tile accumulates, over the tile.
///
/// # Safety
/// The CPU must have AVX-512F; `rows` is 1 to [`ROWS`] and `cols` 1 to [`PANEL`]; `x` holds
/// `depth` values on each of its rows, `w` holds `depth · PANEL` values, `y` holds `cols` values
/// on each of its rows (initialized where the tile accumulates), `bias` is null or holds `cols`
/// values, and `y` aliases no input.
#[target_feature(enable = "avx512f")]
pub unsafe fn add_products(t: &Tile) {
    unsafe {
        match t.rows {
            6 => rows::<6>(t),
            5 => rows::<5>(t),
            4 => rows::<4>(t),
            3 => rows::<3>(t),
            2 => rows::<2>(t),
            _ => rows::<1>(t),
        }
    }
}

/// # Safety
/// As [`add_products`], with `R` rows.
#[target_feature(enable = "avx512f")]
unsafe fn rows<const R: usize>(t: &Tile) {
    // Each vector's lanes inside `cols`: the panel's last columns past `n` are not written.
    let masks: [__mmask16; VECTORS] = std::array::from_fn(|v| {
        let lanes = t.cols.saturating_sub(16 * v).min(16);
        ((1u32 << lanes) - 1) as __mmask16
    });
    unsafe {
        // Every row starts from the bias (or zero), plus what `y` holds where it accumulates.
        let start: [__m512; VECTORS] = std::array::from_fn(|v| {
            if t.bias.is_null() {
                _mm512_setzero_ps()
            } else {
                _mm512_maskz_loadu_ps(masks[v], t.bias.add(16 * v))
            }
        });
        let mut acc = [start; R];
        if t.accumulate {
            for (r, row) in acc.iter_mut().enumerate() {
                for (v, a) in row.iter_mut().enumerate() {
                    let y = _mm512_maskz_loadu_ps(masks[v], t.y.add(r * t.y_stride + 16 * v));
                    *a = _mm512_add_ps(*a, y);
                }
            }
        }
        // One step of `k`: four weight vectors, each row's activation broadcast.
        let step = |acc: &mut [[__m512; VECTORS]; R], w: *const f32, x: *const f32| {
            let weights: [__m512; VECTORS] =
                std::array::from_fn(|v| _mm512_loadu_ps(w.add(16 * v)));
            for (r, row) in acc.iter_mut().enumerate() {
                let value = _mm512_set1_ps(*x.add(r * t.x_stride));
                for (a, weight) in row.iter_mut().zip(&weights) {
                    *a = _mm512_fmadd_ps(*weight, value, *a);
                }
            }
        };
        let (mut w, mut x, mut ahead) = (t.w, t.x, t.ahead);
        // Four steps per turn of the loop, as the `gemm` crate's kernels do: a quarter of the
        // loop's own instructions, and room for the core to reorder loads.
        for _ in 0..t.depth / 4 {
            for u in 0..4 {
                step(&mut acc, w.add(u * PANEL), x.add(u));
            }
            // A prefetch is a hint that never faults, wherever it points.
            for line in 0..4 * t.ahead_per_step {
                _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(line * LINE_VALUES) as *const i8);
            }
            ahead = ahead.wrapping_add(4 * t.ahead_per_step * LINE_VALUES);
            w = w.add(4 * PANEL);
            x = x.add(4);
        }
        for _ in 0..t.depth % 4 {
            step(&mut acc, w, x);
            w = w.add(PANEL);
            x = x.add(1);
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, a) in row.iter().enumerate() {
                _mm512_mask_storeu_ps(t.y.add(r * t.y_stride + 16 * v), masks[v], *a);
            }
        }
    }
}
