//! Decoding and preprocessing against transformers' CLIPImageProcessorPil and Pillow.

mod common;

use common::{Reference, image_bytes, max_abs_diff};
use memeclip::data::{DecodeLimits, PreprocessMode, Preprocessor, decode_rgb};

fn decode(name: &str) -> image::RgbImage {
    decode_rgb(&image_bytes(name), name, DecodeLimits::default()).unwrap()
}

/// One normalized level of 8-bit input is 1/255/std ~ 0.0151 (std ~ 0.26).
const ONE_LEVEL: f32 = 1.0 / 255.0 / 0.2613;

fn is_jpeg(name: &str) -> bool {
    name.ends_with(".jpg")
}

/// Largest difference per image between our pixels and the reference's, in levels of 255.
fn level_diffs(mode: PreprocessMode, crop: usize, key: &str) -> Vec<(String, f32)> {
    let reference = Reference::load();
    let expected = reference.rows(key);
    let pre = Preprocessor::openai(crop, mode);
    expected
        .iter()
        .zip(&reference.images)
        .map(|(want, name)| {
            let got = pre.pixels(&decode(name)).unwrap();
            let diff = max_abs_diff(&[got], std::slice::from_ref(want)) / ONE_LEVEL;
            println!("{key} {name}: max diff {diff:.4} levels of 255");
            (name.clone(), diff)
        })
        .collect()
}

/// The resize reproduces Pillow exactly, so lossless formats agree to float rounding. JPEG
/// decoders differ: zune-jpeg (Rust) and libjpeg-turbo (Pillow) use different IDCT and chroma
/// upsampling arithmetic, which moves some pixels by up to 4 levels before any resizing.
fn assert_close(diffs: &[(String, f32)]) {
    for (name, diff) in diffs {
        let limit = if is_jpeg(name) { 5.0 } else { 1e-3 };
        assert!(
            *diff <= limit,
            "{name}: {diff} levels of 255 off (limit {limit})"
        );
    }
}

#[test]
fn clip_mode_matches_clip_image_processor_at_64() {
    assert_close(&level_diffs(PreprocessMode::Clip, 64, "pixels_clip_64"));
}

#[test]
fn clip_mode_matches_clip_image_processor_at_224() {
    assert_close(&level_diffs(PreprocessMode::Clip, 224, "pixels_clip_224"));
}

#[test]
fn memeclip_mode_matches_pil_squash_resize() {
    assert_close(&level_diffs(
        PreprocessMode::Memeclip,
        64,
        "pixels_memeclip_64",
    ));
}

#[test]
fn exif_orientation_is_applied() {
    // Stored 90x50 with orientation 6 (rotate 90 degrees clockwise): shown 50 wide, 90 high.
    let img = decode("oriented.jpg");
    assert_eq!((img.width(), img.height()), (50, 90));
}

#[test]
fn sixteen_bit_decodes_to_the_eight_bit_picture() {
    // gray16.png holds gray.png's levels times 257, so it must decode to the same RGB.
    let deep = decode("gray16.png");
    let shallow = decode("gray.png");
    assert_eq!(deep.dimensions(), shallow.dimensions());
    assert_eq!(deep.as_raw(), shallow.as_raw());
    let px = shallow.get_pixel(3, 5);
    assert!(
        px[0] == px[1] && px[1] == px[2],
        "grayscale becomes equal RGB channels"
    );
}

#[test]
fn gif_gives_its_first_frame() {
    let img = decode("anim.gif");
    assert_eq!(img.dimensions(), (70, 70));
}

#[test]
fn preprocessor_config_is_read() {
    let json =
        std::fs::read_to_string(common::tiny_clip().join("preprocessor_config.json")).unwrap();
    let pre = Preprocessor::from_hf_json(&json, "preprocessor_config.json", PreprocessMode::Clip)
        .unwrap();
    assert_eq!(pre, Preprocessor::openai(64, PreprocessMode::Clip));
}

#[test]
fn extreme_aspect_ratio_computes_only_the_crop() {
    // Resized in full this would be 1,120,000 x 224 pixels; only the 224 x 224 crop is computed.
    let tall = image::RgbImage::from_pixel(5000, 1, image::Rgb([10, 200, 30]));
    let pixels = Preprocessor::openai(224, PreprocessMode::Clip)
        .pixels(&tall)
        .unwrap();
    assert_eq!(pixels.len(), 3 * 224 * 224);
    let red = (10.0 / 255.0 - memeclip::data::image::OPENAI_MEAN[0])
        / memeclip::data::image::OPENAI_STD[0];
    assert!((pixels[0] - red).abs() < 1e-6, "a flat image stays flat");
}
