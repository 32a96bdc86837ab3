//! LayerNorm and residual adds over host memory, for the transformer blocks that run on the
//! host kernels. burn-flex's LayerNorm is several passes over the activations (mean, centring,
//! variance, scale, shift), each writing a new tensor; here a row is read twice and written
//! once, while it is still in cache.

use super::{for_each_chunk, threads};

/// Activations smaller than this (values) are normalized on one thread.
const THREADS_FROM: usize = 1 << 17;

/// Lanes of partial sums: one AVX-512 vector (or four simd128 ones), so that the compiler can
/// vectorize the sums without reordering any one of them.
const LANES: usize = 16;

/// `x` is rows of `gamma.len()` values; returns each row normalized to zero mean and unit
/// variance (`eps` added to the variance), times `gamma`, plus `beta`.
pub fn layer_norm(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) -> Vec<f32> {
    let d = gamma.len();
    assert!(d > 0 && beta.len() == d, "gamma and beta are [d]");
    assert!(x.len().is_multiple_of(d), "x is [rows, d]");
    let mut out = vec![0.0; x.len()];
    let threads = if x.len() >= THREADS_FROM {
        threads()
    } else {
        1
    };
    for_each_chunk(&mut out, d, threads, |index, y| {
        let row = &x[index * d..][..d];
        let mean = lane_sum(row, |v| v) / d as f32;
        let variance = lane_sum(row, |v| (v - mean) * (v - mean)) / d as f32;
        let inverse = 1.0 / (variance + eps).sqrt();
        for (((y, &v), &g), &b) in y.iter_mut().zip(row).zip(gamma).zip(beta) {
            *y = (v - mean) * inverse * g + b;
        }
    });
    out
}

/// `x += y`, element by element.
pub fn add_in_place(x: &mut [f32], y: &[f32]) {
    assert_eq!(x.len(), y.len(), "same lengths");
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// The sum of `f(v)` over `values`, in `LANES` interleaved partial sums.
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    for (lane, &v) in lanes.iter_mut().zip(tail) {
        *lane += f(v);
    }
    lanes.iter().sum()
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;

    /// Against the formula in f64, on widths below, at and above the lane count, with a row
    /// far from zero mean (where a one-pass variance would lose precision), and once with
    /// enough rows to be split over a pool of 3 threads.
    #[test]
    fn layer_norm_matches_the_formula() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (d, rows) in [(1, 3), (5, 3), (16, 3), (37, 3), (768, 3), (768, 181)] {
            assert_eq!(
                rows * d >= THREADS_FROM,
                rows == 181,
                "the last case is threaded"
            );
            let x: Vec<f32> = (0..rows * d)
                .map(|i| {
                    let offset = if i / d == 2 { 1000.0 } else { 0.0 };
                    offset + ((i * 37 % 101) as f32 - 50.0) / 20.0
                })
                .collect();
            let gamma: Vec<f32> = (0..d).map(|i| 0.5 + i as f32 / d as f32).collect();
            let beta: Vec<f32> = (0..d).map(|i| i as f32 * 0.01 - 0.2).collect();
            let eps = 1e-5;
            let y = pool.install(|| layer_norm(&x, &gamma, &beta, eps));
            for (r, (row, got)) in x.chunks(d).zip(y.chunks(d)).enumerate() {
                let mean = row.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
                let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
                for i in 0..d {
                    let want = (row[i] as f64 - mean) / (var + eps as f64).sqrt() * gamma[i] as f64
                        + beta[i] as f64;
                    let error = (got[i] as f64 - want).abs();
                    assert!(
                        error <= 2e-4 * (1.0 + want.abs()),
                        "d {d} row {r} [{i}]: {} vs {want}",
                        got[i]
                    );
                }
            }
        }
    }

    #[test]
    fn add_in_place_adds() {
        let mut x = vec![1.0, 2.0, 3.0];
        add_in_place(&mut x, &[0.5, -2.0, 4.0]);
        assert_eq!(x, [1.5, 0.0, 7.0]);
    }
}
