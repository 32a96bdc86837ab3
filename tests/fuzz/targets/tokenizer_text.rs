//! Arbitrary text through the test CLIP's tokenizer (a real CLIP BPE vocabulary, cut down).
#![no_main]

use libfuzzer_sys::fuzz_target;
use memeclip::data::ClipTokenizer;

fuzz_target!(|data: &[u8]| {
    static JSON: &[u8] = include_bytes!("../../fixtures/tiny-clip/tokenizer.json");
    thread_local! {
        static TOKENIZER: ClipTokenizer =
            ClipTokenizer::from_bytes(JSON, "tokenizer.json", 77).expect("the fixture loads");
    }
    let text = String::from_utf8_lossy(data);
    TOKENIZER.with(|t| {
        if let Ok(ids) = t.encode(&text) {
            assert!(ids.len() <= 77, "{} tokens", ids.len());
        }
    });
});
