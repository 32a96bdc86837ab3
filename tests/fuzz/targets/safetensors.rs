//! Head files and features files, as `memeclip eval` and `train` read them.
#![no_main]

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use memeclip::data::features::Features;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let path = scratch::file("input.safetensors", data);
    let _ = memeclip::head::file::load(&path, &Device::flex());
    let _ = Features::load_with_warnings(&path);
});
