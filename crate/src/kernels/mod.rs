//! Hand-written CPU kernels where burn has none: matrix products with int8 weights (burn's
//! quantized tensors dequantize to f32 before they compute), f32 linear layers with the bias and
//! activation fused, a vectorized QuickGELU for their outputs, attention reading q, k and v in
//! place, and the OCR's convolutions with their bias and activation fused.

pub mod activation;
pub mod attention;
pub mod conv;
pub mod float;
pub mod int8;

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
