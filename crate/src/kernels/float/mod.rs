//! f32 linear layers on the host: `y = x · W + b`, then QuickGELU where the layer has it, with
//! the bias in the product's starting values and the activation applied while the output is
//! still in cache. burn's linear layer is a product plus a separate
//! bias pass, and its QuickGELU three more passes with a scalar `exp`: about a sixth of the
//! native CPU time of a CLIP tower.
//!
//! Where the CPU has AVX-512 the weight is packed once into panels for memeclip's own kernel
//! (`avx512.rs`); elsewhere the product is the `gemm` crate's.

#[cfg(target_arch = "x86_64")]
mod avx512;

use super::activation::quick_gelu;
use super::{map_parts, threads};

/// Products smaller than this (multiply-adds) run on one thread: splitting them costs more
/// than it saves.
const THREADS_FROM: usize = 1 << 21;

/// Each thread's columns are a multiple of this (a whole number of AVX-512 f32 vectors).
const COLUMN_BLOCK: usize = 16;

/// A weight `[k, n]` (burn's `[in, out]` layout).
pub struct F32Matrix {
    k: usize,
    n: usize,
    weights: Weights,
}

enum Weights {
    /// Row-major, for the `gemm` crate.
    RowMajor(Vec<f32>),
    /// Packed for the AVX-512 kernel.
    #[cfg(target_arch = "x86_64")]
    Panels(avx512::Panels),
}

impl F32Matrix {
    /// From row-major values; `None` if `values` is not `k · n` long.
    pub fn new(values: Vec<f32>, k: usize, n: usize) -> Option<Self> {
        if values.len() != k * n {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            let weights = Weights::Panels(avx512::Panels::pack(&values, k, n));
            return Some(F32Matrix { k, n, weights });
        }
        Some(Self::row_major(values, k, n))
    }

    /// Always on the `gemm` crate: the reference the packed kernel is tested against.
    fn row_major(values: Vec<f32>, k: usize, n: usize) -> Self {
        F32Matrix {
            k,
            n,
            weights: Weights::RowMajor(values),
        }
    }

    /// Output features.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `x` is `[m, k]` row-major; returns `[m, n]`, plus `bias` on every row, then QuickGELU
    /// if `with_quick_gelu`.
    pub fn forward(
        &self,
        x: &[f32],
        m: usize,
        bias: Option<&[f32]>,
        with_quick_gelu: bool,
    ) -> Vec<f32> {
        let n = self.n;
        self.check(x, m, bias);
        #[cfg(target_arch = "x86_64")]
        if let Weights::Panels(panels) = &self.weights {
            // The kernel writes every output once, starting from the bias: no pass to fill
            // the outputs first.
            let mut y = Vec::with_capacity(m * n);
            let out = Out {
                y: y.spare_capacity_mut().as_mut_ptr().cast(),
                accumulate: false,
            };
            // SAFETY: `out` has room for [m, n], and the tiles cover all of it.
            unsafe {
                packed_on_threads(
                    panels,
                    x,
                    [m, self.k, n],
                    self.threads(m),
                    out,
                    bias,
                    with_quick_gelu,
                );
                y.set_len(m * n);
            }
            return y;
        }
        let mut y = match bias {
            Some(bias) => bias.repeat(m),
            None => vec![0.0; m * n],
        };
        self.add_product(x, m, None, &mut y, with_quick_gelu);
        y
    }

    /// `y += x · W + bias` for `x` `[m, k]` and `y` `[m, n]`, row-major, then QuickGELU on `y`
    /// if `with_quick_gelu`: on each thread's own part, just after its product.
    pub fn add_product(
        &self,
        x: &[f32],
        m: usize,
        bias: Option<&[f32]>,
        y: &mut [f32],
        with_quick_gelu: bool,
    ) {
        let (k, n) = (self.k, self.n);
        self.check(x, m, bias);
        assert_eq!(y.len(), m * n, "outputs are [m, n]");
        if m == 0 || n == 0 {
            return;
        }
        let threads = self.threads(m);
        match &self.weights {
            Weights::RowMajor(values) => {
                if let Some(bias) = bias {
                    for row in y.chunks_exact_mut(n) {
                        row.iter_mut().zip(bias).for_each(|(y, b)| *y += b);
                    }
                }
                gemm_on_threads(values, x, [m, k, n], threads, y, with_quick_gelu)
            }
            #[cfg(target_arch = "x86_64")]
            Weights::Panels(panels) => {
                let out = Out {
                    y: y.as_mut_ptr(),
                    accumulate: true,
                };
                // SAFETY: `out` holds [m, n] initialized values.
                unsafe {
                    packed_on_threads(panels, x, [m, k, n], threads, out, bias, with_quick_gelu)
                }
            }
        }
    }

    fn check(&self, x: &[f32], m: usize, bias: Option<&[f32]>) {
        assert_eq!(x.len(), m * self.k, "activations are [m, k]");
        if let Some(bias) = bias {
            assert_eq!(bias.len(), self.n, "one bias per output");
        }
    }

    /// Threads for a product of `m` rows: one below [`THREADS_FROM`] multiply-adds.
    fn threads(&self, m: usize) -> usize {
        if m * self.n * self.k >= THREADS_FROM {
            threads()
        } else {
            1
        }
    }
}

/// The `gemm` crate's product added to `y`, split by output columns, one single-threaded call
/// per thread: each reads only its share of the weight, and a batch-1 tower has too few rows
/// (50 tokens) to split the other way. gemm's own rayon split gained nothing at batch 1 on a
/// 2-core Xeon (1 and 2 threads took the same time).
fn gemm_on_threads(
    values: &[f32],
    x: &[f32],
    [m, k, n]: [usize; 3],
    threads: usize,
    y: &mut [f32],
    with_quick_gelu: bool,
) {
    let parts = threads.min(n.div_ceil(COLUMN_BLOCK)).max(1);
    let per_part = n.div_ceil(parts).next_multiple_of(COLUMN_BLOCK);
    pack_weights_always();
    let y_address = y.as_mut_ptr() as usize;
    map_parts(parts, |part| {
        let first = part * per_part;
        if first >= n {
            return;
        }
        let cols = per_part.min(n - first);
        // SAFETY: y and x are row-major [m, n] and [m, k], the weight row-major [k, n];
        // this call covers y's and the weight's columns first..first + cols, which no other
        // part touches, and y does not alias the inputs.
        unsafe {
            gemm::gemm(
                m,
                cols,
                k,
                (y_address as *mut f32).add(first),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                values.as_ptr().add(first),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
            if with_quick_gelu {
                for row in 0..m {
                    let start = (y_address as *mut f32).add(row * n + first);
                    quick_gelu(std::slice::from_raw_parts_mut(start, cols));
                }
            }
        }
    });
}

/// Where the packed kernel writes: `[m, n]` row-major, either only written or added to.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Out {
    y: *mut f32,
    accumulate: bool,
}

/// The packed kernel's product, plus `bias`, into `out`. The work is a grid of row ranges by
/// panel ranges, one cell per thread: panels first (each thread then reads only its share of
/// the weight), rows as well where there are more threads than panels. Within a cell, panel
/// by panel, six rows at a time over the whole of `k`, so that each output is written once
/// while the panel sits in the core's L2, and the next panel is fetched meanwhile; QuickGELU
/// follows each tile while it is in cache.
///
/// # Safety
/// `out.y` has room for `m · n` values, initialized if `out.accumulate`.
#[cfg(target_arch = "x86_64")]
unsafe fn packed_on_threads(
    panels: &avx512::Panels,
    x: &[f32],
    [m, k, n]: [usize; 3],
    threads: usize,
    out: Out,
    bias: Option<&[f32]>,
    with_quick_gelu: bool,
) {
    use avx512::{LINE_VALUES, PANEL, ROWS, Tile};
    if m == 0 || n == 0 {
        return;
    }
    let panel_count = n.div_ceil(PANEL);
    let tiles = m.div_ceil(ROWS);
    let row_parts = threads.div_ceil(panel_count).min(tiles).max(1);
    let panel_parts = (threads / row_parts).clamp(1, panel_count);
    let (panels_per_part, tiles_per_part) =
        (panel_count.div_ceil(panel_parts), tiles.div_ceil(row_parts));
    let y_address = out.y as usize;
    map_parts(panel_parts * row_parts, |part| {
        let (panel_part, row_part) = (part % panel_parts, part / panel_parts);
        let first_panel = panel_part * panels_per_part;
        let end_panel = (first_panel + panels_per_part).min(panel_count);
        let first_row = row_part * tiles_per_part * ROWS;
        let end_row = (first_row + tiles_per_part * ROWS).min(m);
        // The next panel's lines (one per 16 columns, per step of k) shared out over this
        // cell's tiles of the current one.
        let lines_per_step = PANEL / LINE_VALUES;
        let ahead_per_step =
            lines_per_step.div_ceil(end_row.saturating_sub(first_row).div_ceil(ROWS).max(1));
        for p in first_panel..end_panel {
            let first_col = p * PANEL;
            let cols = PANEL.min(n - first_col);
            for (t, row) in (first_row..end_row).step_by(ROWS).enumerate() {
                let rows = ROWS.min(end_row - row);
                let first_line = t * ahead_per_step;
                let (ahead, ahead_per_step) = if p + 1 < end_panel && first_line < lines_per_step {
                    let next = panels.panel(k, p + 1);
                    (
                        next[first_line * k * LINE_VALUES..].as_ptr(),
                        ahead_per_step,
                    )
                } else {
                    (std::ptr::null(), 0)
                };
                let tile = Tile {
                    x: x[row * k..].as_ptr(),
                    x_stride: k,
                    rows,
                    w: panels.panel(k, p).as_ptr(),
                    depth: k,
                    // SAFETY: inside `out` ([m, n]); this cell's rows and panels are its own.
                    y: unsafe { (y_address as *mut f32).add(row * n + first_col) },
                    y_stride: n,
                    cols,
                    bias: bias.map_or(std::ptr::null(), |b| b[first_col..].as_ptr()),
                    accumulate: out.accumulate,
                    ahead,
                    ahead_per_step,
                };
                // SAFETY: the panels were packed only where the CPU has AVX-512F; the tile is
                // inside x ([m, k]), the panel ([k, PANEL]), the bias and `out`, as built above.
                unsafe { avx512::add_products(&tile) };
                if with_quick_gelu {
                    for r in 0..rows {
                        // SAFETY: this tile's own row of `out`, written above.
                        let out =
                            unsafe { std::slice::from_raw_parts_mut(tile.y.add(r * n), cols) };
                        quick_gelu(out);
                    }
                }
            }
        }
    });
}

/// gemm packs the weight of a single-threaded call only when the activations have more than
/// 8 · 6 rows; below that its microkernel reads the weight in place, strided. On a 2-core
/// Xeon (AVX-512) the packed product was faster at every size a tower has: ViT-B/32 text of
/// 30 tokens 33 -> 22 ms, images at batch 1 98 -> 64 ms (`memeclip bench`). The setting is
/// gemm's, for the whole process, and set natively only: the browser's kernels are unmeasured.
fn pack_weights_always() {
    #[cfg(feature = "native")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| gemm::set_lhs_packing_threshold_single_thread(1));
    }
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;

    /// Both weight layouts against a plain f64 triple loop, on shapes around the threading
    /// threshold, with partial panels, row tiles and depth blocks, on pools of 1, 2 and 5
    /// threads (5: more threads than panels, so rows are split too).
    #[test]
    fn matches_a_plain_product_with_bias() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            let packed = F32Matrix::new(vec![0.0; 6], 2, 3).unwrap();
            assert!(
                matches!(packed.weights, Weights::Panels(_)),
                "AVX-512 packs"
            );
        }
        for (m, k, n, with_bias) in [
            (1, 3, 2, true),
            (7, 33, 19, false),
            (50, 768, 96, true),
            (50, 768, 203, false),
            (37, 600, 130, true),
        ] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 89) as f32 - 44.0) / 40.0)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let bias = with_bias.then_some(&b[..]);
            let mut want = vec![0.0f64; m * n];
            for r in 0..m {
                for c in 0..n {
                    let mut sum = if with_bias { b[c] as f64 } else { 0.0 };
                    for i in 0..k {
                        sum += x[r * k + i] as f64 * w[i * n + c] as f64;
                    }
                    want[r * n + c] = sum;
                }
            }
            for matrix in [
                F32Matrix::new(w.clone(), k, n).unwrap(),
                F32Matrix::row_major(w.clone(), k, n),
            ] {
                for threads in [1, 2, 5] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let (y, activated, added) = pool.install(|| {
                        let y = matrix.forward(&x, m, bias, false);
                        // y + (x · W + b): twice the product, where the outputs accumulate.
                        let mut added = y.clone();
                        matrix.add_product(&x, m, bias, &mut added, false);
                        (y, matrix.forward(&x, m, bias, true), added)
                    });
                    for (i, (&got, &want)) in y.iter().zip(&want).enumerate() {
                        let mut gelu = [got];
                        quick_gelu(&mut gelu);
                        assert_eq!(
                            activated[i].to_bits(),
                            gelu[0].to_bits(),
                            "{m}x{k}x{n} [{i}]"
                        );
                        assert!(
                            (got as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{m}x{k}x{n} on {threads} threads [{i}]: {got} vs {want}"
                        );
                        let twice = added[i] as f64;
                        assert!(
                            (twice - 2.0 * want).abs() <= 2e-4 * (1.0 + want.abs()),
                            "{m}x{k}x{n} accumulated [{i}]: {twice} vs {}",
                            2.0 * want
                        );
                    }
                }
            }
        }
        assert!(F32Matrix::new(vec![0.0; 5], 2, 3).is_none());
    }
}
