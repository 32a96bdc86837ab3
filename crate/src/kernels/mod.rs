//! Hand-written CPU kernels for the int8 path where burn has none: matrix products with int8
//! weights (burn's quantized tensors dequantize to f32 before they compute), and a vectorized
//! QuickGELU for their outputs.

pub mod activation;
pub mod int8;
