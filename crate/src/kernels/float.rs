//! f32 linear layers on the host: `y = x · W + b`, then QuickGELU where the layer has it, with
//! the bias written into the output before the product accumulates onto it and the activation
//! applied while the output is still in cache. burn's linear layer is a product plus a separate
//! bias pass, and its QuickGELU three more passes with a scalar `exp`: about a sixth of the
//! native CPU time of a CLIP tower.

/// Products smaller than this (multiply-adds) run on one thread: splitting them costs more
/// than it saves.
const THREADS_FROM: usize = 1 << 21;

/// Each thread's columns are a multiple of this (a whole number of AVX-512 f32 vectors).
const COLUMN_BLOCK: usize = 16;

use super::activation::quick_gelu;
use super::{map_parts, threads};

/// A weight `[k, n]` (burn's `[in, out]` layout), row-major.
pub struct F32Matrix {
    k: usize,
    n: usize,
    values: Vec<f32>,
}

impl F32Matrix {
    /// `None` if `values` is not `k · n` long.
    pub fn new(values: Vec<f32>, k: usize, n: usize) -> Option<Self> {
        (values.len() == k * n).then_some(F32Matrix { k, n, values })
    }

    /// Output features.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `x` is `[m, k]` row-major; returns `[m, n]`, plus `bias` on every row, then QuickGELU
    /// if `with_quick_gelu`: on each thread's own columns, just after its product.
    pub fn forward(
        &self,
        x: &[f32],
        m: usize,
        bias: Option<&[f32]>,
        with_quick_gelu: bool,
    ) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        assert_eq!(x.len(), m * k, "activations are [m, k]");
        let mut y = match bias {
            Some(bias) => {
                assert_eq!(bias.len(), n, "one bias per output");
                bias.repeat(m)
            }
            None => vec![0.0; m * n],
        };
        if m == 0 || n == 0 {
            return y;
        }
        // Split by output columns, one gemm call per thread: each reads only its share of the
        // weight, and a batch-1 tower has too few rows (50 tokens) to split the other way.
        // gemm's own rayon split gained nothing at batch 1 on a 2-core Xeon (1 and 2 threads
        // took the same time).
        let parts = if m * n * k >= THREADS_FROM {
            threads().min(n.div_ceil(COLUMN_BLOCK)).max(1)
        } else {
            1
        };
        let per_part = n.div_ceil(parts).next_multiple_of(COLUMN_BLOCK);
        pack_weights_always();
        let y_address = y.as_mut_ptr() as usize;
        let read_dst = bias.is_some();
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
                    read_dst,
                    x.as_ptr(),
                    1,
                    k as isize,
                    self.values.as_ptr().add(first),
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
        y
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain f64 triple loop, on shapes around the threading threshold.
    #[test]
    fn matches_a_plain_product_with_bias() {
        for (m, k, n, with_bias) in [
            (1, 3, 2, true),
            (7, 33, 19, false),
            (50, 768, 96, true),
            (50, 768, 203, false),
        ] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 89) as f32 - 44.0) / 40.0)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let matrix = F32Matrix::new(w.clone(), k, n).unwrap();
            let y = matrix.forward(&x, m, with_bias.then_some(&b[..]), false);
            let activated = matrix.forward(&x, m, with_bias.then_some(&b[..]), true);
            for r in 0..m {
                for c in 0..n {
                    let mut want = if with_bias { b[c] as f64 } else { 0.0 };
                    for i in 0..k {
                        want += x[r * k + i] as f64 * w[i * n + c] as f64;
                    }
                    let mut gelu = [y[r * n + c]];
                    quick_gelu(&mut gelu);
                    assert_eq!(
                        activated[r * n + c].to_bits(),
                        gelu[0].to_bits(),
                        "[{r}, {c}]"
                    );
                    let got = y[r * n + c] as f64;
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "[{r}, {c}]: {got} vs {want}"
                    );
                }
            }
        }
        assert!(F32Matrix::new(vec![0.0; 5], 2, 3).is_none());
    }
}
