//! The official MemeCLIP `.ckpt` reader (PyTorch zip/pickle), and the head import on top.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memeclip::head::import::CheckpointWeights;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let path = scratch::file("input.ckpt", data);
    let _ = CheckpointWeights::open(&path);
});
