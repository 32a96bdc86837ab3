//! The MemeCLIP head, SAI, zero-shot and head files against the PyTorch reference
//! (pkg-scripts/make-head-fixtures.py).

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{fixtures, max_abs_diff, tiny_clip};
use memeclip::clip::{SafetensorsWeights, WeightSource};
use memeclip::data::PreprocessMode;
use memeclip::head::MemeClipHead;
use memeclip::head::file::{self, Head, HeadInfo};
use memeclip::head::sai::sai_weights;
use memeclip::head::zero_shot::ZeroShotHead;
use memeclip::pipeline::{ClipPipeline, rows};

fn reference(key: &str) -> (Vec<usize>, Vec<f32>) {
    let file = SafetensorsWeights::open(&fixtures().join("head/reference.safetensors")).unwrap();
    let shape = file.shape(key).unwrap().to_vec();
    let values = file.read(key, &shape).unwrap();
    (shape, values)
}

fn matrix(key: &str, device: &Device) -> Tensor<2> {
    let (shape, values) = reference(key);
    Tensor::from_data(TensorData::new(values, [shape[0], shape[1]]), device)
}

fn load_head(path: &std::path::Path, device: &Device) -> MemeClipHead {
    match file::load(path, device).unwrap().head {
        Head::MemeClip(head) => *head,
        Head::ZeroShot(_) => panic!("expected a MemeCLIP head"),
    }
}

fn head_logit_diff(device: &Device) -> f32 {
    let head = load_head(&fixtures().join("head/reference_head.safetensors"), device);
    let logits = rows(head.forward(matrix("image", device), matrix("text", device))).unwrap();
    let expected = rows(matrix("logits", &Device::flex())).unwrap();
    let diff = max_abs_diff(&logits, &expected);
    println!("head logits max abs diff {diff:e}");
    diff
}

#[test]
fn head_matches_pytorch_on_flex() {
    assert!(head_logit_diff(&Device::flex()) <= 1e-5);
}

#[test]
fn head_matches_pytorch_on_wgpu() {
    let device = memeclip::backend::Backend::Wgpu
        .device()
        .expect("a wgpu adapter");
    assert!(head_logit_diff(&device) <= 1e-3);
}

#[test]
fn head_file_round_trips() {
    let device = Device::flex();
    let loaded = file::load(&fixtures().join("head/reference_head.safetensors"), &device).unwrap();
    assert_eq!(loaded.info.class_names, ["Neutral", "Support", "Oppose"]);
    assert_eq!(loaded.info.task, "stance");
    let Head::MemeClip(head) = loaded.head else {
        panic!()
    };
    assert_eq!(head.config().num_mapping_layers, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.safetensors");
    file::save_memeclip(&path, &head, &loaded.info).unwrap();
    let again = load_head(&path, &device);
    let (image, text) = (matrix("image", &device), matrix("text", &device));
    let a = rows(head.forward(image.clone(), text.clone())).unwrap();
    let b = rows(again.forward(image, text)).unwrap();
    assert_eq!(a, b);
    // The same tensors under the same official names.
    let original =
        SafetensorsWeights::open(&fixtures().join("head/reference_head.safetensors")).unwrap();
    let copy = SafetensorsWeights::open(&path).unwrap();
    let mut keys: Vec<&str> = original.keys().collect();
    keys.sort();
    let mut copy_keys: Vec<&str> = copy.keys().collect();
    copy_keys.sort();
    assert_eq!(keys, copy_keys);
    for key in keys {
        let shape = original.shape(key).unwrap().to_vec();
        assert_eq!(
            original.read(key, &shape).unwrap(),
            copy.read(key, &shape).unwrap(),
            "{key}"
        );
    }
}

#[test]
fn official_checkpoint_imports_to_the_same_head() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported.safetensors");
    let info = memeclip::head::import::import_checkpoint(
        &fixtures().join("head/official.ckpt"),
        "stance",
        "tiny-clip",
        &out,
    )
    .unwrap();
    assert_eq!(info.class_names, ["Neutral", "Support", "Oppose"]);
    let device = Device::flex();
    let head = load_head(&out, &device);
    let logits = rows(head.forward(matrix("image", &device), matrix("text", &device))).unwrap();
    assert!(max_abs_diff(&logits, &rows(matrix("logits", &device)).unwrap()) <= 1e-5);
    // A task whose class count differs from the checkpoint's classifier is refused.
    let err = memeclip::head::import::import_checkpoint(
        &fixtures().join("head/official.ckpt"),
        "hate",
        "x",
        &out,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("classifier.weight") && err.contains("3 classes"),
        "{err}"
    );
}

fn clip_reference(key: &str) -> Vec<Vec<f32>> {
    let file =
        SafetensorsWeights::open(&fixtures().join("head/clip_reference.safetensors")).unwrap();
    let shape = file.shape(key).unwrap().to_vec();
    file.read(key, &shape)
        .unwrap()
        .chunks(shape[1])
        .map(<[f32]>::to_vec)
        .collect()
}

fn stance() -> Vec<String> {
    ["Neutral", "Support", "Oppose"].map(String::from).to_vec()
}

#[test]
fn sai_matches_pytorch() {
    let device = Device::flex();
    let pipeline = ClipPipeline::from_folder(&tiny_clip(), PreprocessMode::Clip, &device).unwrap();
    let sai = rows(sai_weights(&pipeline.clip, &pipeline.tokenizer, &stance()).unwrap()).unwrap();
    let diff = max_abs_diff(&sai, &clip_reference("sai"));
    println!("SAI max abs diff {diff:e}");
    assert!(diff <= 1e-5);
}

#[test]
fn zero_shot_matches_pytorch_and_round_trips() {
    let device = Device::flex();
    let pipeline = ClipPipeline::from_folder(&tiny_clip(), PreprocessMode::Clip, &device).unwrap();
    let head =
        ZeroShotHead::from_class_names(&pipeline.clip, &pipeline.tokenizer, &stance(), false)
            .unwrap();
    let reference = common::Reference::load();
    let shape = reference.shape("pixels_clip_64");
    let pixels = Tensor::<4>::from_data(
        TensorData::new(
            reference.rows("pixels_clip_64").concat(),
            [shape[0], shape[1], shape[2], shape[3]],
        ),
        &device,
    );
    let image = pipeline.clip.encode_images(pixels).unwrap();
    let unused_text = Tensor::<2>::zeros([shape[0], 24], &device);
    let logits = rows(head.forward(image.clone(), unused_text.clone())).unwrap();
    let diff = max_abs_diff(&logits, &clip_reference("zero_shot_logits"));
    println!("zero-shot logits max abs diff {diff:e} (logit scale 100)");
    assert!(diff <= 1e-3);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zs.safetensors");
    let info = HeadInfo {
        task: "stance".into(),
        class_names: stance(),
        clip_model: "tiny".into(),
    };
    file::save_zero_shot(&path, &head, &info).unwrap();
    let loaded = file::load(&path, &device).unwrap();
    assert_eq!(loaded.kind(), "zero-shot");
    let Head::ZeroShot(again) = loaded.head else {
        panic!()
    };
    assert_eq!(rows(again.forward(image, unused_text)).unwrap(), logits);
}

#[test]
fn dropout_acts_only_on_an_autodiff_device() {
    let plain = Device::flex();
    let train = Device::flex().autodiff();
    let path = fixtures().join("head/reference_head.safetensors");
    let eval_head = load_head(&path, &plain);
    let a = rows(eval_head.forward(matrix("image", &plain), matrix("text", &plain))).unwrap();
    let b = rows(eval_head.forward(matrix("image", &plain), matrix("text", &plain))).unwrap();
    assert_eq!(a, b);
    let train_head = load_head(&path, &train);
    let c = rows(train_head.forward(matrix("image", &train), matrix("text", &train))).unwrap();
    assert!(
        max_abs_diff(&a, &c) > 1e-3,
        "dropout should change training outputs"
    );
}

#[test]
fn bad_head_files_are_named() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("head/reference_head.safetensors")).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let err = file::load(&truncated, &device).err().unwrap().to_string();
    assert!(err.contains("truncated.safetensors"), "{err}");
    // A CLIP weights file is not a head file.
    let err = file::load(&tiny_clip().join("model.safetensors"), &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a memeclip head file"), "{err}");
}
