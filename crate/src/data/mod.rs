//! Model inputs: text tokens and image pixels.

#[cfg(feature = "native")]
pub mod datasets;
pub mod features;
pub mod image;
mod resample;
pub mod tokenizer;

pub use image::{DecodeLimits, PreprocessMode, Preprocessor, decode_rgb};
pub use tokenizer::ClipTokenizer;
