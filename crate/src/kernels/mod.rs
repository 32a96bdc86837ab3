//! Hand-written CPU kernels where burn has none: matrix products with int8 weights (burn's
//! quantized tensors dequantize to f32 before they compute), f32 linear layers with the bias and
//! activation fused, and a vectorized QuickGELU for their outputs.

pub mod activation;
pub mod float;
pub mod int8;
