//! memeclip: MemeCLIP meme classification on a frozen OpenAI CLIP, with burn.
//!
//! - [`clip`]: the CLIP towers and their weights,
//! - [`data`]: tokenizer and image preprocessing,
//! - [`head`]: the MemeCLIP head, SAI, zero-shot heads and head files,
//! - [`pipeline`]: a Hugging Face CLIP folder loaded as one pipeline,
//! - [`train`]: training the head on cached features, and the metrics,
//! - [`bundle`]: the single-file web bundle and weight quantization,
//! - [`ocr`]: the meme's text read from its pixels (PP-OCRv5 detector and recognizer),
//! - [`kernels`]: hand-written CPU kernels (int8 matrix products),
//! - [`backend`]: the backend choice, made at the edges (CLI flag, wasm start-up),
//! - [`atomic`]: files written whole or not at all.

pub mod atomic;
pub mod backend;
pub mod bundle;
pub mod clip;
pub mod data;
pub mod error;
pub mod head;
pub mod kernels;
pub mod ocr;
pub mod pipeline;
#[cfg(feature = "native")]
pub mod train;

#[cfg(feature = "native")]
pub mod cli;

pub use error::{Error, Result};

#[cfg(all(target_arch = "wasm32", feature = "web"))]
pub mod web;
