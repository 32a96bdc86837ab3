//! Bad inputs give errors that name the file, field or tensor at fault.

mod common;

use std::path::Path;

use burn::tensor::{Device, Tensor};
use common::{image_bytes, tiny_clip};
use memeclip::clip::{SafetensorsWeights, WeightSource};
use memeclip::data::{DecodeLimits, PreprocessMode, decode_rgb};
use memeclip::pipeline::ClipPipeline;

/// A copy of the tiny CLIP folder to break.
fn copy_of_tiny() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tiny_clip()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn load_error(dir: &Path) -> String {
    match ClipPipeline::from_folder(dir, PreprocessMode::Clip, &Device::flex()) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// Rewrites model.safetensors with `edit` applied to the (key, shape, values) list.
fn rewrite_weights(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f32>)>)) {
    let path = dir.join("model.safetensors");
    let weights = SafetensorsWeights::open(&path).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = weights
        .keys()
        .map(|k| {
            let shape = weights.shape(k).unwrap().to_vec();
            (
                k.to_owned(),
                shape.clone(),
                weights.read(k, &shape).unwrap(),
            )
        })
        .collect();
    edit(&mut tensors);
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((k, shape, _), b)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                    .unwrap();
            (k.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, &path).unwrap();
}

#[test]
fn missing_weights_file_is_named() {
    let dir = copy_of_tiny();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("model.safetensors") && err.contains("no such file"),
        "{err}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = copy_of_tiny();
    rewrite_weights(dir.path(), |t| {
        t.retain(|(k, _, _)| k != "text_model.final_layer_norm.weight")
    });
    let err = load_error(dir.path());
    assert!(err.contains("model.safetensors"), "{err}");
    assert!(
        err.contains("`text_model.final_layer_norm.weight`: missing"),
        "{err}"
    );
}

#[test]
fn misshaped_tensor_is_named_with_both_shapes() {
    let dir = copy_of_tiny();
    rewrite_weights(dir.path(), |t| {
        let entry = t
            .iter_mut()
            .find(|(k, _, _)| k == "visual_projection.weight")
            .unwrap();
        entry.1 = vec![48, 24];
    });
    let err = load_error(dir.path());
    assert!(err.contains("`visual_projection.weight`"), "{err}");
    assert!(
        err.contains("shape is [48, 24], expected [24, 48]"),
        "{err}"
    );
}

#[test]
fn truncated_weights_file_is_rejected() {
    let dir = copy_of_tiny();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("model.safetensors") && err.contains("not a valid safetensors"),
        "{err}"
    );
}

#[test]
fn unsupported_config_is_named() {
    let dir = copy_of_tiny();
    let path = dir.path().join("config.json");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, config.replacen("\"quick_gelu\"", "\"relu\"", 1)).unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("config.json") && err.contains("text_config.hidden_act"),
        "{err}"
    );
    assert!(err.contains("`relu`"), "{err}");

    std::fs::write(&path, config.replacen("\"clip\"", "\"bert\"", 1)).unwrap();
    let err = load_error(dir.path());
    assert!(err.contains("model_type is `bert`"), "{err}");
}

#[test]
fn missing_tokenizer_is_named() {
    let dir = copy_of_tiny();
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("tokenizer.json") && err.contains("no such file"),
        "{err}"
    );
}

fn image_error(bytes: &[u8], limits: DecodeLimits) -> String {
    decode_rgb(bytes, "upload.bin", limits)
        .expect_err("decoding should fail")
        .to_string()
}

#[test]
fn non_image_is_rejected() {
    let err = image_error(
        b"this is a text file, not a picture",
        DecodeLimits::default(),
    );
    assert!(
        err.contains("upload.bin") && err.contains("not a recognized image"),
        "{err}"
    );
}

#[test]
fn truncated_and_corrupt_images_are_rejected() {
    for name in ["photo.png", "portrait.jpg", "meme.webp", "anim.gif"] {
        let bytes = image_bytes(name);
        let err = image_error(&bytes[..bytes.len() / 3], DecodeLimits::default());
        assert!(
            err.contains("upload.bin")
                && (err.contains("truncated") || err.contains("cannot decode")),
            "{name}: {err}"
        );
    }
    let mut corrupt = image_bytes("photo.png");
    for b in corrupt[60..200].iter_mut() {
        *b ^= 0x5a;
    }
    let err = image_error(&corrupt, DecodeLimits::default());
    assert!(
        err.contains("cannot decode") || err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn jpeg_with_bytes_after_its_end_still_decodes() {
    let mut bytes = image_bytes("portrait.jpg");
    bytes.extend_from_slice(b"trailing junk some cameras write");
    let img = decode_rgb(&bytes, "portrait.jpg", DecodeLimits::default()).unwrap();
    assert_eq!(img.dimensions(), (50, 90));
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG header that claims `w` x `h` pixels, followed by no real data: a decompression bomb's
/// first bytes.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    png.extend(0u32.to_be_bytes());
    png.extend(b"IEND");
    png.extend(crc32(b"IEND").to_be_bytes());
    png
}

#[test]
fn images_over_the_limits_are_refused_before_decoding() {
    let err = image_error(&png_claiming(100_000, 100_000), DecodeLimits::default());
    assert!(err.contains("larger than the decoder limits"), "{err}");
    // A real image under tighter limits.
    let tight = DecodeLimits {
        max_width: 32,
        max_height: 32,
        max_alloc_bytes: 1 << 20,
    };
    let err = image_error(&image_bytes("photo.png"), tight);
    assert!(err.contains("larger than the decoder limits"), "{err}");
}

#[test]
fn bad_model_inputs_are_errors_not_panics() {
    let device = Device::flex();
    let pipeline = ClipPipeline::from_folder(&tiny_clip(), PreprocessMode::Clip, &device).unwrap();
    let err = pipeline
        .clip
        .encode_texts(&[vec![49406, 60_000, 49407]])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("token id 60000"), "{err}");
    let err = pipeline
        .clip
        .encode_texts(&[vec![1; 78]])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("78 tokens"), "{err}");
    let err = pipeline.clip.encode_texts(&[]).err().unwrap().to_string();
    assert!(err.contains("no texts"), "{err}");
    let pixels = Tensor::<4>::zeros([1, 3, 32, 32], &device);
    let err = pipeline
        .clip
        .encode_images(pixels)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("[B, 3, 64, 64]"), "{err}");
}

/// Found by fuzzing (tests/fuzz/regressions/safetensors/): a head file whose metadata gives a
/// dropout of 1.1 panicked inside burn; it is now refused, naming the field.
#[test]
fn a_head_file_with_an_impossible_dropout_is_refused() {
    let path =
        common::fixtures().join("../fuzz/regressions/safetensors/dropout-out-of-range.safetensors");
    let err = memeclip::head::file::load(&path, &Device::flex())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("dropout") && err.contains("1.1"), "{err}");
}
