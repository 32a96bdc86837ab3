//! A CLIP folder's JSON files: config.json, preprocessor_config.json and tokenizer.json.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memeclip::clip::ClipConfig;
use memeclip::data::{ClipTokenizer, PreprocessMode, Preprocessor};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ClipConfig::from_json(text, "config.json");
        let _ = Preprocessor::from_hf_json(text, "preprocessor_config.json", PreprocessMode::Clip);
    }
    if let Ok(tokenizer) = ClipTokenizer::from_bytes(data, "tokenizer.json", 77) {
        let _ = tokenizer.encode("a photo of a cat");
    }
});
