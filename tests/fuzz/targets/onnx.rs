//! The OCR model's ONNX files: the protobuf and the parameters read from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memeclip::ocr::onnx::OnnxWeights;

fuzz_target!(|data: &[u8]| {
    let _ = OnnxWeights::parse(data, "det.onnx", "det");
});
