//! The web bundle on the tiny fixture: fidelity per quantization, heads, and integrity errors.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{Reference, fixtures, tiny_clip};
use memeclip::bundle::quant::Quant;
use memeclip::bundle::{Bundle, BundleInputs, write_bundle};
use memeclip::clip::Kernels;
use memeclip::data::PreprocessMode;
use memeclip::head::file::{self, Head, HeadFile};
use memeclip::pipeline::{ClipFolder, ClipPipeline, rows};

fn bundle_bytes(quant: Quant, heads: Vec<HeadFile>) -> Vec<u8> {
    let folder = ClipFolder::open(&tiny_clip(), PreprocessMode::Clip).unwrap();
    let inputs = BundleInputs {
        config: &folder.config,
        weights: &folder.weights,
        tokenizer_json: String::from_utf8(folder.tokenizer_json.clone()).unwrap(),
        preprocess: folder.preprocessor.clone(),
        heads,
        ocr: None,
    };
    write_bundle(&inputs, quant).unwrap()
}

struct Outputs {
    image: Vec<Vec<f32>>,
    pooled: Vec<Vec<f32>>,
    embeds: Vec<Vec<f32>>,
}

fn outputs(pipeline: &ClipPipeline, device: &Device) -> Outputs {
    let reference = Reference::load();
    let shape = reference.shape("pixels_clip_64");
    let pixels = Tensor::<4>::from_data(
        TensorData::new(
            reference.rows("pixels_clip_64").concat(),
            [shape[0], shape[1], shape[2], shape[3]],
        ),
        device,
    );
    let text = pipeline.embed_texts(&reference.texts).unwrap();
    Outputs {
        image: rows(pipeline.clip.encode_images(pixels).unwrap()).unwrap(),
        pooled: text.text_pooled,
        embeds: text.text_embeds,
    }
}

fn min_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(p, q)| *p as f64 * *q as f64).sum();
            let n = |v: &[f32]| v.iter().map(|p| (*p as f64).powi(2)).sum::<f64>().sqrt();
            dot / (n(x) * n(y))
        })
        .fold(f64::INFINITY, f64::min)
}

/// The smallest cosine over image_embeds, text_pooled and text_embeds against the folder model,
/// both on the fused f32 kernels (the folder model's own on flex).
fn fidelity(quant: Quant) -> f64 {
    fidelity_on(quant, Kernels::Fused)
}

fn fidelity_on(quant: Quant, kernels: Kernels) -> f64 {
    let device = Device::flex();
    let folder = outputs(
        &ClipPipeline::from_folder(&tiny_clip(), PreprocessMode::Clip, &device).unwrap(),
        &device,
    );
    let bundle = Bundle::from_bytes(bundle_bytes(quant, vec![]), "tiny.memeclip").unwrap();
    let ours = outputs(&bundle.pipeline(&device, kernels).unwrap(), &device);
    if quant == Quant::F32 {
        assert_eq!(ours.image, folder.image);
        assert_eq!(ours.pooled, folder.pooled);
        assert_eq!(ours.embeds, folder.embeds);
    }
    let cos = [
        min_cosine(&ours.image, &folder.image),
        min_cosine(&ours.pooled, &folder.pooled),
        min_cosine(&ours.embeds, &folder.embeds),
    ];
    println!(
        "{quant:?} on {kernels:?} kernels: min cosine image_embeds {} text_pooled {} text_embeds {}",
        cos[0], cos[1], cos[2]
    );
    cos.into_iter().fold(f64::INFINITY, f64::min)
}

#[test]
fn f32_bundle_is_identical_to_the_folder_model() {
    assert!(fidelity(Quant::F32) > 0.999_999);
}

#[test]
fn f16_bundle_is_within_cosine_0_9999() {
    assert!(fidelity(Quant::F16) >= 0.9999);
}

#[test]
fn int8_bundle_is_within_cosine_0_999() {
    assert!(fidelity(Quant::Int8) >= 0.999);
}

#[test]
fn int8_bundle_on_int8_kernels_is_within_cosine_0_999() {
    // The browser's CPU path: int8 weights times activations quantized to 15 bits per row.
    assert!(fidelity_on(Quant::Int8, Kernels::Int8) >= 0.999);
}

#[test]
fn int8_kernels_need_the_cpu_backend() {
    let bundle = Bundle::from_bytes(bundle_bytes(Quant::Int8, vec![]), "b").unwrap();
    let device = Device::wgpu_options().init().unwrap();
    let error = bundle
        .pipeline(&device, Kernels::Int8)
        .err()
        .expect("int8 kernels on wgpu must be refused")
        .to_string();
    assert!(error.contains("int8 kernels run on the CPU"), "{error}");
}

#[test]
fn heads_travel_unquantized() {
    let device = Device::flex();
    let trained = file::load(&fixtures().join("head/reference_head.safetensors"), &device).unwrap();
    let bundle = Bundle::from_bytes(bundle_bytes(Quant::Int8, vec![trained]), "b").unwrap();
    let heads = bundle.heads(&device).unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(
        (heads[0].info.task.as_str(), heads[0].kind()),
        ("stance", "memeclip")
    );
    let Head::MemeClip(from_bundle) = &heads[0].head else {
        panic!()
    };
    let Head::MemeClip(direct) =
        file::load(&fixtures().join("head/reference_head.safetensors"), &device)
            .unwrap()
            .head
    else {
        panic!()
    };
    let input = |d: usize| {
        Tensor::<2>::from_data(
            TensorData::new(
                (0..2 * d)
                    .map(|i| (i as f32 * 0.37).sin())
                    .collect::<Vec<f32>>(),
                [2, d],
            ),
            &device,
        )
    };
    let a = rows(from_bundle.forward(input(24), input(32))).unwrap();
    let b = rows(direct.forward(input(24), input(32))).unwrap();
    assert_eq!(a, b);
}

fn load_error(bytes: Vec<u8>) -> String {
    match Bundle::from_bytes(bytes, "model.memeclip") {
        Ok(_) => panic!("the bundle should be rejected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn damaged_bundles_are_rejected_before_use() {
    let good = bundle_bytes(Quant::Int8, vec![]);
    let mut tampered = good.clone();
    let last = tampered.len() - 10;
    tampered[last] ^= 0x01;
    let err = load_error(tampered);
    assert!(err.starts_with("model.memeclip: SHA-256 mismatch"), "{err}");

    let err = load_error(good[..good.len() - 1000].to_vec());
    assert!(err.contains("truncated"), "{err}");
    let err = load_error(good[..100].to_vec());
    assert!(err.contains("truncated"), "{err}");

    let mut magic = good.clone();
    magic[0] = b'X';
    assert!(load_error(magic).contains("wrong magic"));
    let mut version = good.clone();
    version[8] = 9;
    assert!(load_error(version).contains("version 9 is not supported"));

    // A header entry whose size does not fit its shape names the tensor.
    let header_len = u64::from_le_bytes(good[12..20].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&good[20..20 + header_len]).unwrap();
    let entry = header["tensors"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"] == "text_projection.weight")
        .unwrap();
    entry["shape"] = serde_json::json!([24, 16]);
    let new_header = serde_json::to_vec(&header).unwrap();
    let mut reshaped = good[..12].to_vec();
    reshaped.extend((new_header.len() as u64).to_le_bytes());
    reshaped.extend(new_header);
    reshaped.extend_from_slice(&good[20 + header_len..]);
    let err = load_error(reshaped);
    assert!(
        err.contains("`text_projection.weight`") && err.contains("needs"),
        "{err}"
    );
}

/// Runs the binary and insists that it succeeds.
fn memeclip(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_memeclip"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn classify_reads_a_bundle_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.memeclip");
    memeclip(&[
        "export-web",
        "--clip",
        tiny_clip().to_str().unwrap(),
        "--quant",
        "int8",
        "--out",
        path.to_str().unwrap(),
    ]);
    let image = fixtures().join("images/photo.png");
    let classify = |kernels: &str| -> (serde_json::Value, String) {
        let mut args = vec![
            "classify",
            "--bundle",
            path.to_str().unwrap(),
            "--image",
            image.to_str().unwrap(),
            "--text",
            "hi",
            "--json",
        ];
        if !kernels.is_empty() {
            args.extend(["--kernels", kernels]);
        }
        let out = memeclip(&args);
        let text = String::from_utf8(out.stdout).unwrap();
        (serde_json::from_str(&text).unwrap(), text)
    };
    let (json, text) = classify("float");
    // Tasks come as one object keyed by task name, in the bundle's order (as in the JS API):
    // with no head given, the four PrideMM tasks zero-shot.
    let tasks = json["tasks"].as_object().unwrap();
    assert_eq!(tasks.len(), 4);
    let at: Vec<usize> = ["hate", "target", "stance", "humour"]
        .iter()
        .map(|t| text.find(&format!("\"{t}\":{{")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(tasks.values().all(|t| t["kind"] == "zero-shot"));
    // A second head for a task the bundle already scores is refused by name.
    let head = fixtures().join("head/reference_head.safetensors");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_memeclip"))
        .args(["classify", "--bundle", path.to_str().unwrap()])
        .args(["--head", head.to_str().unwrap()])
        .args(["--image", image.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("`stance`"), "{err}");
    // The browser's CPU path (int8 kernels) gives the same probabilities within 1e-3.
    let (int8, _) = classify("int8");
    let probs = |j: &serde_json::Value| -> Vec<f64> {
        j["tasks"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|t| {
                t["probs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_f64().unwrap())
            })
            .collect()
    };
    let (a, b) = (probs(&json), probs(&int8));
    assert_eq!(a.len(), b.len());
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-3, "float {a:?} vs int8 {b:?}");
    }
    // On the CPU an int8 bundle runs on the int8 kernels unless told otherwise, as in the
    // browser: the same probabilities bit for bit.
    let (default, _) = classify("");
    assert_eq!(probs(&default), b);
}
