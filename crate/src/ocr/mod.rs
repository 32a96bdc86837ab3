//! Reading a meme's text from its pixels: PP-OCRv5 mobile (Apache-2.0), a DB text detector and a
//! CTC line recognizer, written out on burn so that it runs wherever CLIP runs.
//!
//! - [`onnx`]: the networks' weights, read from the exported `.onnx` files,
//! - [`layers`], [`lcnet`], [`detector`], [`recognizer`]: the two networks,
//! - [`boxes`]: the detector's map to text boxes (threshold, regions, DB "unclip"),
//! - [`crop`]: each box cut out, straightened and resized to a recognizer line,
//! - [`charset`]: the recognizer pruned to the characters memes in Latin script use,
//! - [`ctc`]: greedy CTC decoding with the dictionary,
//! - [`pipeline`]: the whole image to text, lines in reading order.

pub mod boxes;
pub mod charset;
pub mod crop;
pub mod ctc;
pub mod detector;
pub mod layers;
pub mod lcnet;
pub mod onnx;
pub mod pipeline;
pub mod recognizer;

pub use charset::Charset;
pub use pipeline::{Ocr, OcrFolder, OcrLine, OcrText};

/// The files of an OCR model folder (`pkg-scripts/get-ocr.sh` writes them).
pub const DET_FILE: &str = "det.onnx";
pub const REC_FILE: &str = "rec.onnx";
pub const DICT_FILE: &str = "dict.txt";
