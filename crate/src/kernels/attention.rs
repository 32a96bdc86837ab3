//! Multi-head attention over host memory, reading each head's queries, keys and values in place
//! out of the stacked q/k/v projection's output `[batch, len, 3d]` and writing each head's
//! result straight into its columns of `[batch, len, d]`, the out-projection's input. Through
//! burn's tensors the same step splits, permutes and copies q, k, v and the result (four strided
//! copies a block); on a 2-core Xeon those copies and burn's attention took a quarter of a
//! ViT-B/32 tower's time at batch 8.

use super::activation::softmax;
use super::{map_parts, threads};

/// Attention smaller than this (multiply-adds) runs on one thread.
const THREADS_FROM: usize = 1 << 21;

/// `softmax(q kᵀ / √head_dim) v` for every sequence and head; with `causal`, position `i`
/// attends to positions `0..=i` only. `qkv` is `[batch, len, 3d]` (q, k, then v), the result
/// `[batch, len, d]`.
pub fn attention(qkv: &[f32], batch: usize, len: usize, heads: usize, causal: bool) -> Vec<f32> {
    assert!(
        heads > 0 && qkv.len().is_multiple_of(3 * heads),
        "qkv is [batch, len, 3d]"
    );
    let d = qkv.len() / (batch * len).max(1) / 3;
    assert_eq!(qkv.len(), batch * len * 3 * d, "qkv is [batch, len, 3d]");
    let head_dim = d / heads;
    assert_eq!(head_dim * heads, d, "d is a multiple of the heads");
    let mut out = vec![0.0; batch * len * d];
    let jobs = batch * heads;
    if jobs == 0 || len == 0 {
        return out;
    }
    let parts = if jobs * len * len * head_dim * 2 >= THREADS_FROM {
        threads().min(jobs)
    } else {
        1
    };
    let per_part = jobs.div_ceil(parts);
    let out_address = out.as_mut_ptr() as usize;
    let scale = 1.0 / (head_dim as f32).sqrt();
    map_parts(parts, |part| {
        let mut scores = vec![0.0f32; len * len];
        for job in part * per_part..((part + 1) * per_part).min(jobs) {
            let (b, h) = (job / heads, job % heads);
            let sequence = &qkv[b * len * 3 * d..][..len * 3 * d];
            // SAFETY: the head's q, k and v are `len` rows of `head_dim` values at row stride
            // 3d inside `sequence`; its output is the same rows' columns h·head_dim.. of
            // `out` (row stride d), which no other job writes, and `out` aliases no input.
            unsafe {
                let q = sequence.as_ptr().add(h * head_dim);
                let k = q.add(d);
                let v = q.add(2 * d);
                // scores[i, j] = q_i · k_j: the right operand is kᵀ, k read column-wise.
                gemm::gemm(
                    len,
                    len,
                    head_dim,
                    scores.as_mut_ptr(),
                    1,
                    len as isize,
                    false,
                    q,
                    1,
                    3 * d as isize,
                    k,
                    3 * d as isize,
                    1,
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
                for (i, row) in scores.chunks_exact_mut(len).enumerate() {
                    let seen = if causal { i + 1 } else { len };
                    softmax(&mut row[..seen]);
                    row[seen..].fill(0.0);
                }
                let o = (out_address as *mut f32).add(b * len * d + h * head_dim);
                gemm::gemm(
                    len,
                    head_dim,
                    len,
                    o,
                    1,
                    d as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    len as isize,
                    v,
                    1,
                    3 * d as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the textbook formula in f64, with and without the causal mask, on shapes
    /// below and above the threading threshold.
    #[test]
    fn matches_the_formula_in_f64() {
        for (batch, len, heads, head_dim, causal) in [
            (1, 1, 1, 4, false),
            (2, 5, 3, 8, true),
            (3, 50, 12, 64, false),
            (2, 77, 8, 64, true),
        ] {
            let d = heads * head_dim;
            let qkv: Vec<f32> = (0..batch * len * 3 * d)
                .map(|i| ((i * 7919 % 211) as f32 - 105.0) / 80.0)
                .collect();
            let got = attention(&qkv, batch, len, heads, causal);
            let at = |b: usize, t: usize, part: usize, h: usize, c: usize| {
                qkv[(b * len + t) * 3 * d + part * d + h * head_dim + c] as f64
            };
            for b in 0..batch {
                for h in 0..heads {
                    for i in 0..len {
                        let seen = if causal { i + 1 } else { len };
                        let logits: Vec<f64> = (0..seen)
                            .map(|j| {
                                let dot: f64 = (0..head_dim)
                                    .map(|c| at(b, i, 0, h, c) * at(b, j, 1, h, c))
                                    .sum();
                                dot / (head_dim as f64).sqrt()
                            })
                            .collect();
                        let max = logits.iter().copied().fold(f64::MIN, f64::max);
                        let weights: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
                        let total: f64 = weights.iter().sum();
                        for c in 0..head_dim {
                            let want: f64 = (0..seen)
                                .map(|j| weights[j] / total * at(b, j, 2, h, c))
                                .sum();
                            let g = got[(b * len + i) * d + h * head_dim + c] as f64;
                            assert!(
                                (g - want).abs() <= 1e-5 * (1.0 + want.abs()),
                                "b{b} h{h} [{i}, {c}]: {g} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
