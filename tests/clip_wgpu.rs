//! The CLIP towers on the wgpu backend (Mesa's software Vulkan in CI), within 1e-3.

mod common;

use common::parity::{assert_within, model_diffs};
use memeclip::backend::Backend;

#[test]
fn wgpu_matches_transformers() {
    let device = Backend::Wgpu
        .device()
        .expect("a wgpu adapter (in CI: mesa-vulkan-drivers)");
    assert_within(&model_diffs("tiny-clip", "tiny", &device), 1e-3);
    assert_within(&model_diffs("tiny-clip-gelu", "gelu", &device), 1e-3);
}
