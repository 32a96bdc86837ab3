//! f32 linear layers on the host: `y = x · W + b`, then QuickGELU where the layer has it, with
//! the bias written into the output before the product accumulates onto it and the activation
//! applied while the output is still in cache. burn's linear layer is a product plus a separate
//! bias pass, and its QuickGELU three more passes with a scalar `exp`: about a sixth of the
//! native CPU time of a CLIP tower.

/// Products smaller than this (multiply-adds) run on one thread: splitting them costs more
/// than it saves.
const THREADS_FROM: usize = 1 << 21;

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

    /// `x` is `[m, k]` row-major; returns `[m, n]`, plus `bias` on every row.
    pub fn forward(&self, x: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
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
        let parallelism = if m * n * k >= THREADS_FROM {
            threads()
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: every pointer covers its matrix with the strides given: y and x are row-major
        // [m, n] and [m, k], the weight row-major [k, n]; y does not alias the inputs.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                y.as_mut_ptr(),
                1,
                n as isize,
                bias.is_some(),
                x.as_ptr(),
                1,
                k as isize,
                self.values.as_ptr(),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        y
    }
}

#[cfg(feature = "native")]
fn threads() -> gemm::Parallelism {
    gemm::Parallelism::Rayon(0)
}

/// The browser's module has no threads.
#[cfg(not(feature = "native"))]
fn threads() -> gemm::Parallelism {
    gemm::Parallelism::None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain f64 triple loop, on shapes around the threading threshold.
    #[test]
    fn matches_a_plain_product_with_bias() {
        for (m, k, n, with_bias) in [(1, 3, 2, true), (7, 33, 19, false), (50, 768, 96, true)] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 89) as f32 - 44.0) / 40.0)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let matrix = F32Matrix::new(w.clone(), k, n).unwrap();
            let y = matrix.forward(&x, m, with_bias.then_some(&b[..]));
            for r in 0..m {
                for c in 0..n {
                    let mut want = if with_bias { b[c] as f64 } else { 0.0 };
                    for i in 0..k {
                        want += x[r * k + i] as f64 * w[i * n + c] as f64;
                    }
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
