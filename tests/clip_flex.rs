//! The CLIP towers on the flex (CPU) backend against transformers' CLIPModel, within 1e-4.

mod common;

use burn::tensor::Device;
use common::parity::{assert_within, model_diffs_on};
use common::{Reference, fixtures, image_bytes, max_abs_diff};
use memeclip::clip::Kernels;
use memeclip::data::{DecodeLimits, PreprocessMode, decode_rgb};
use memeclip::pipeline::ClipPipeline;

/// Both models (QuickGELU and GELU) on both f32 kernels: memeclip's fused layers, the default
/// on flex, and burn's own products.
#[test]
fn both_models_on_both_f32_kernels_match_transformers() {
    for kernels in [Kernels::Fused, Kernels::Float] {
        for (model, key) in [("tiny-clip", "tiny"), ("tiny-clip-gelu", "gelu")] {
            assert_within(&model_diffs_on(model, key, &Device::flex(), kernels), 1e-4);
        }
    }
}

#[test]
fn single_texts_equal_the_batch() {
    let device = Device::flex();
    let pipeline =
        ClipPipeline::from_folder(&fixtures().join("tiny-clip"), PreprocessMode::Clip, &device)
            .unwrap();
    let reference = Reference::load();
    let batch = pipeline.embed_texts(&reference.texts).unwrap();
    for (i, text) in reference.texts.iter().enumerate() {
        let one = pipeline.embed_texts(std::slice::from_ref(text)).unwrap();
        let diff = max_abs_diff(&one.text_pooled, &batch.text_pooled[i..=i]);
        assert!(diff < 1e-5, "text {i}: batch and single differ by {diff}");
    }
}

/// Rust decoding and preprocessing, then the model, against the Python pipeline end to end.
/// Lossless images match to 1e-4; JPEG decoders differ by a few levels (see tests/preprocess.rs).
#[test]
fn end_to_end_image_embeds_match() {
    let device = Device::flex();
    let reference = Reference::load();
    for (mode, key) in [
        (PreprocessMode::Clip, "tiny.image_embeds"),
        (PreprocessMode::Memeclip, "tiny.image_embeds_memeclip"),
    ] {
        let pipeline =
            ClipPipeline::from_folder(&fixtures().join("tiny-clip"), mode, &device).unwrap();
        let images: Vec<_> = reference
            .images
            .iter()
            .map(|n| decode_rgb(&image_bytes(n), n, DecodeLimits::default()).unwrap())
            .collect();
        let embeds = pipeline.embed_images(&images).unwrap();
        for ((name, got), want) in reference
            .images
            .iter()
            .zip(&embeds)
            .zip(reference.rows(key))
        {
            let diff = max_abs_diff(std::slice::from_ref(got), std::slice::from_ref(&want));
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            println!("{key} {name}: end-to-end max abs diff {diff:e} (largest value {scale})");
            let limit = if name.ends_with(".jpg") {
                2e-2 * scale
            } else {
                1e-4
            };
            assert!(diff <= limit, "{key} {name}: off by {diff}");
        }
    }
}
