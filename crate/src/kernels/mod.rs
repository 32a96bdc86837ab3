//! Hand-written CPU kernels where burn has none: matrix products with int8 weights (burn's
//! quantized tensors dequantize to f32 before they compute), f32 linear layers with the bias and
//! activation fused, a vectorized QuickGELU for their outputs, and the OCR's convolutions with
//! their bias and activation fused.

pub mod activation;
pub mod conv;
pub mod float;
pub mod int8;
