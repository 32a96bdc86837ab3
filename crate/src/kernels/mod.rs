//! Hand-written CPU kernels where burn has none: matrix products with int8 weights (burn's
//! quantized tensors dequantize to f32 before they compute), f32 linear layers with the bias and
//! activation fused, a vectorized QuickGELU for their outputs, attention reading q, k and v in
//! place, and the OCR's convolutions with their bias and activation fused.

pub mod activation;
pub mod attention;
pub mod conv;
pub mod float;
pub mod int8;
pub mod norm;

/// The threads the kernels may split a product over: rayon's pool natively and in the threaded
/// browser module, one elsewhere.
#[cfg(any(feature = "native", feature = "web-threads"))]
fn threads() -> usize {
    rayon::current_num_threads()
}

/// A browser module without threads.
#[cfg(not(any(feature = "native", feature = "web-threads")))]
fn threads() -> usize {
    1
}

/// `f(i)` for each part `i`, on the pool when there is more than one part.
fn map_parts<R: Send>(parts: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    #[cfg(any(feature = "native", feature = "web-threads"))]
    if parts > 1 {
        use rayon::prelude::*;
        return (0..parts).into_par_iter().map(f).collect();
    }
    (0..parts).map(f).collect()
}

/// `f(index, chunk)` for each `len`-long chunk of `values`, on the pool when `threads > 1`.
fn for_each_chunk(
    values: &mut [f32],
    len: usize,
    threads: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    #[cfg(any(feature = "native", feature = "web-threads"))]
    if threads > 1 {
        use rayon::prelude::*;
        let per_task = (values.len() / len).div_ceil(threads);
        values
            .par_chunks_mut(len * per_task)
            .enumerate()
            .for_each(|(task, chunk)| {
                for (i, one) in chunk.chunks_exact_mut(len).enumerate() {
                    f(task * per_task + i, one);
                }
            });
        return;
    }
    let _ = threads;
    values
        .chunks_exact_mut(len)
        .enumerate()
        .for_each(|(i, chunk)| f(i, chunk));
}

/// Runs `f` on the pool where there is one (and waits for it): the kernels it calls then split
/// their work from a pool thread, which takes a part itself, instead of from a thread that
/// hands every part off and sleeps until they are done. One hand-off for a whole tower instead
/// of two wake-ups per product.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(any(feature = "native", feature = "web-threads"))]
    if threads() > 1 && rayon::current_thread_index().is_none() {
        return rayon::scope(|_| f());
    }
    f()
}
