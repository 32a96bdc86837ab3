//! CLIP outputs on one backend against transformers' CLIPModel.

use burn::tensor::{Device, Tensor, TensorData};
use memeclip::clip::Kernels;
use memeclip::data::PreprocessMode;
use memeclip::pipeline::{ClipPipeline, rows};

use super::{Reference, fixtures, max_abs_diff};

pub struct Diffs {
    pub image_embeds: f32,
    pub text_pooled: f32,
    pub text_embeds: f32,
}

/// Feeds the reference pixel values (so only the model is compared) and the fixture texts.
pub fn model_diffs(model: &str, key: &str, device: &Device) -> Diffs {
    model_diffs_on(model, key, device, Kernels::float_for(device))
}

pub fn model_diffs_on(model: &str, key: &str, device: &Device, kernels: Kernels) -> Diffs {
    let reference = Reference::load();
    let pipeline = ClipPipeline::from_folder_on(
        &fixtures().join(model),
        PreprocessMode::Clip,
        device,
        kernels,
    )
    .unwrap();
    let shape = reference.shape("pixels_clip_64");
    let pixels: Vec<f32> = reference.rows("pixels_clip_64").concat();
    let pixels = Tensor::<4>::from_data(
        TensorData::new(pixels, [shape[0], shape[1], shape[2], shape[3]]),
        device,
    );
    let image_embeds = rows(pipeline.clip.encode_images(pixels).unwrap()).unwrap();
    // All texts in one batch: the batch is cut to the longest text, shorter ones pool earlier.
    let text = pipeline.embed_texts(&reference.texts).unwrap();
    assert_eq!(text.input_ids, reference.input_ids);
    let diffs = Diffs {
        image_embeds: max_abs_diff(
            &image_embeds,
            &reference.rows(&format!("{key}.image_embeds")),
        ),
        text_pooled: max_abs_diff(
            &text.text_pooled,
            &reference.rows(&format!("{key}.text_pooled")),
        ),
        text_embeds: max_abs_diff(
            &text.text_embeds,
            &reference.rows(&format!("{key}.text_embeds")),
        ),
    };
    println!(
        "{model} on {kernels:?} kernels: max abs diff image_embeds {:e}, text_pooled {:e}, text_embeds {:e}",
        diffs.image_embeds, diffs.text_pooled, diffs.text_embeds
    );
    diffs
}

pub fn assert_within(d: &Diffs, tolerance: f32) {
    assert!(
        d.image_embeds <= tolerance,
        "image_embeds off by {}",
        d.image_embeds
    );
    assert!(
        d.text_pooled <= tolerance,
        "text_pooled off by {}",
        d.text_pooled
    );
    assert!(
        d.text_embeds <= tolerance,
        "text_embeds off by {}",
        d.text_embeds
    );
}
