//! Image files (PNG, JPEG, WebP, GIF, EXIF orientation) decoded within limits, then CLIP's
//! preprocessing of whatever decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memeclip::data::{DecodeLimits, PreprocessMode, Preprocessor, decode_rgb};

fuzz_target!(|data: &[u8]| {
    // Smaller limits than the default so that a run is not dominated by big allocations; the
    // limits themselves are what is under test.
    let limits = DecodeLimits {
        max_width: 4096,
        max_height: 4096,
        max_alloc_bytes: 64 << 20,
    };
    if let Ok(image) = decode_rgb(data, "image", limits) {
        let _ = Preprocessor::openai(224, PreprocessMode::Memeclip).pixels(&image);
    }
});
