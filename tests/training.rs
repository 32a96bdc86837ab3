//! End to end on a synthetic PrideMM-style dataset: features -> train -> eval through the CLI.

mod common;

use std::path::Path;
use std::process::Command;

use common::{synth, tiny_clip};
use memeclip::clip::{SafetensorsWeights, WeightSource};
use memeclip::data::features::Features;

fn memeclip(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_memeclip"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn features(data: &synth::Synthetic, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "features",
        "--clip",
        s(&tiny_clip()).to_owned().leak(),
        "--dataset",
        "pridemm",
        "--annotations",
        s(&data.csv),
        "--images",
        s(&data.images),
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    memeclip(&args)
}

/// The hate head on `feats` into `out`: 15 epochs at lr 1e-3 (the planted signal needs more
/// steps than 160 rows give at the paper's 1e-4), seed 7.
fn train_hate(feats: &Path, out: &Path) -> serde_json::Value {
    ok(memeclip(&[
        "train",
        "--features",
        s(feats),
        "--task",
        "hate",
        "--out",
        s(out),
        "--clip",
        s(&tiny_clip()),
        "--epochs",
        "15",
        "--lr",
        "1e-3",
        "--seed",
        "7",
    ]))
}

#[test]
fn features_train_eval_beats_the_majority_class() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth::make(dir.path(), 160);
    let feats = dir.path().join("features.safetensors");
    let summary = ok(features(&data, &feats, &[]));
    assert_eq!(summary["rows"], 160);
    let loaded = Features::load(&feats).unwrap();
    assert_eq!(
        (loaded.image_dim, loaded.text_dim, loaded.clip_vision_width),
        (24, 32, 48)
    );
    // Target is NA (-1) exactly for the non-hateful rows.
    let benign = (0..160).filter(|i| (i / 3) % 2 == 0).count();
    assert_eq!(
        loaded.labels["target"].iter().filter(|&&l| l == -1).count(),
        benign
    );

    let run = dir.path().join("run");
    let report = train_hate(&feats, &run);
    assert!(run.join("head.safetensors").is_file() && run.join("metrics.json").is_file());
    let eval = ok(memeclip(&[
        "eval",
        "--features",
        s(&feats),
        "--head",
        s(&run.join("head.safetensors")),
        "--json",
    ]));
    let proper = &eval["report"]["proper"];
    let accuracy = proper["accuracy"].as_f64().unwrap();
    // The test split is balanced within one row: the majority class scores about 0.5.
    println!(
        "synthetic hate: test accuracy {accuracy}, AUROC {}",
        proper["auroc"]
    );
    assert!(accuracy >= 0.85, "accuracy {accuracy}");
    assert_eq!(eval["report"]["count"], 24);
    assert!(report["best_epoch"].as_u64().unwrap() >= 1);

    // Same seed, same backend: the same head.
    let again = dir.path().join("again");
    train_hate(&feats, &again);
    let first = SafetensorsWeights::open(&run.join("head.safetensors")).unwrap();
    let second = SafetensorsWeights::open(&again.join("head.safetensors")).unwrap();
    for key in first.keys() {
        let shape = first.shape(key).unwrap().to_vec();
        let same = first.read(key, &shape).unwrap() == second.read(key, &shape).unwrap();
        assert!(same, "{key} differs between two runs with the same seed");
    }
}

#[test]
fn bad_rows_stop_the_run_before_any_work_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth::make(dir.path(), 20);
    let csv = std::fs::read_to_string(&data.csv).unwrap();
    let csv = csv
        .replacen("meme_0003.png", "missing.png", 1)
        .replacen(",0,NA,", ",7,NA,", 1);
    std::fs::write(&data.csv, csv).unwrap();
    let out_path = dir.path().join("f.safetensors");
    let out = features(&data, &out_path, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("2 bad row(s), nothing done"), "{err}");
    assert!(
        err.contains("pridemm.csv:2: column `hate`") && err.contains("missing.png does not exist"),
        "{err}"
    );
    assert!(!out_path.exists());
    let summary = ok(features(&data, &out_path, &["--skip-bad"]));
    assert_eq!(summary["rows"], 18);
    assert_eq!(summary["skipped"], 2);
}

#[test]
fn an_interrupted_run_resumes_without_reencoding() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth::make(dir.path(), 300);
    // A corrupt image in the second chunk of 256 rows stops the first run after chunk one.
    let corrupt = data.images.join("meme_0280.png");
    let good = std::fs::read(&corrupt).unwrap();
    std::fs::write(&corrupt, &good[..good.len() / 2]).unwrap();
    let out_path = dir.path().join("f.safetensors");
    let out = features(&data, &out_path, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("meme_0280.png") && err.contains("truncated"),
        "{err}"
    );
    let work = out_path.with_extension("partial.d");
    let chunk = work.join("chunk-000000.safetensors");
    // Mark the saved chunk: if the next run re-encoded it, the mark would be gone.
    let mut saved = Features::load(&chunk).unwrap();
    saved.image[0] = 1234.5;
    saved.save(&chunk).unwrap();
    std::fs::write(&corrupt, good).unwrap();
    let summary = ok(features(&data, &out_path, &[]));
    assert_eq!(summary["rows"], 300);
    let all = Features::load(&out_path).unwrap();
    assert_eq!(all.image[0], 1234.5);
    assert_eq!(all.names[299], "meme_0299.png");
    assert!(!work.exists(), "the work folder is removed when done");
}

#[test]
fn mismatched_or_truncated_features_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth::make(dir.path(), 20);
    let feats = dir.path().join("f.safetensors");
    ok(features(&data, &feats, &[]));
    let bytes = std::fs::read(&feats).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let err = Features::load(&cut).err().unwrap().to_string();
    assert!(err.contains("cut.safetensors"), "{err}");
    // The reference head reads 24/32-wide features; give it 12-wide image features.
    let mut narrow = Features::load(&feats).unwrap();
    narrow.image = narrow
        .image
        .chunks(24)
        .flat_map(|r| r[..12].to_vec())
        .collect();
    narrow.image_dim = 12;
    let narrow_path = dir.path().join("narrow.safetensors");
    narrow.save(&narrow_path).unwrap();
    let out = memeclip(&[
        "eval",
        "--features",
        s(&narrow_path),
        "--head",
        s(&common::fixtures().join("head/reference_head.safetensors")),
        "--split",
        "train",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("expects features of widths 24/32") && err.contains("has 12/32"),
        "{err}"
    );
}

/// The fused host AdamW against burn's tensor-op AdamW (itself checked against PyTorch by burn)
/// on the same module, inputs and hyperparameters, over enough steps for the bias corrections and
/// weight decay to matter.
#[test]
fn host_adamw_follows_burns_adamw() {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
    use burn::tensor::{Device, Tensor, TensorData};
    use memeclip::train::adamw::{AdamWSettings, HostAdamW};

    let device = Device::flex().autodiff();
    let start = LinearConfig::new(6, 4).init(&device);
    let settings = AdamWSettings::new(1e-8, 0.05);
    let run = |mut model: Linear, mut optimizer: ModuleOptimizer| {
        for step in 0..30 {
            let x: Vec<f32> = (0..18)
                .map(|i| ((i * 7 + step * 3) % 11) as f32 / 5.0 - 1.0)
                .collect();
            let x = Tensor::<2>::from_data(TensorData::new(x, [3, 6]), &device);
            let loss = model.forward(x).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(0.01, model, grads);
        }
        let w = model.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let b = model
            .bias
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        [w, b].concat()
    };
    let burns = run(
        start.clone(),
        AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(0.05)
            .init(),
    );
    let ours = run(start.clone(), ModuleOptimizer::from(HostAdamW(settings)));
    let initial = [
        start.weight.val().into_data().try_to_vec::<f32>().unwrap(),
        start
            .bias
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    ]
    .concat();
    for (a, b) in ours.iter().zip(&burns) {
        assert!((a - b).abs() <= 1e-6, "host {a} vs burn {b}");
    }
    // The parameters really moved (30 steps of lr 0.01), so the comparison means something.
    let moved = burns
        .iter()
        .zip(&initial)
        .map(|(b, s)| (b - s).abs())
        .fold(0f32, f32::max);
    assert!(moved > 0.1, "largest change {moved}");
}

/// Only the documented tensors, no metadata, numpy's own integer types: a features file as another
/// tool writes it (pkg-scripts/make-foreign-features.py) loads, evaluates and trains.
#[test]
fn features_from_another_tool_evaluate_and_train() {
    let fixtures = common::fixtures();
    let feats = fixtures.join("foreign-features.safetensors");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("foreign-features.json")).unwrap(),
    )
    .unwrap();
    let (loaded, warnings) = Features::load_with_warnings(&feats).unwrap();
    let as_i64 = |v: &serde_json::Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        loaded.labels.keys().collect::<Vec<_>>(),
        ["stance", "topic"]
    );
    assert_eq!(loaded.labels["stance"], as_i64(&expected["stance_labels"]));
    assert_eq!(loaded.labels["topic"], as_i64(&expected["topic_labels"]));
    assert_eq!(loaded.len(), expected["rows"].as_u64().unwrap() as usize);
    assert_eq!(loaded.names[35], "35");
    assert_eq!((loaded.image_dim, loaded.text_dim), (24, 32));
    assert!(
        warnings.iter().any(|w| w.contains("`format`")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("`names`")),
        "{warnings:?}"
    );

    // The reference stance head on the six test rows: PyTorch's predictions and accuracy.
    let dir = tempfile::tempdir().unwrap();
    let predictions = dir.path().join("p.jsonl");
    let head = fixtures.join("head/reference_head.safetensors");
    let args = [
        "eval",
        "--features",
        s(&feats),
        "--head",
        s(&head),
        "--json",
    ];
    let out = memeclip(&[&args[..], &["--predictions", s(&predictions)]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
    let report = ok(out);
    let accuracy = report["report"]["proper"]["accuracy"].as_f64().unwrap();
    assert!((accuracy - expected["test_accuracy"].as_f64().unwrap()).abs() < 1e-9);
    let names = ["Neutral", "Support", "Oppose"];
    let predicted: Vec<String> = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            row["predicted"].as_str().unwrap().to_string()
        })
        .collect();
    let want: Vec<&str> = as_i64(&expected["test_predicted"])
        .iter()
        .map(|&c| names[c as usize])
        .collect();
    assert_eq!(predicted, want);

    // Training needs the mapped width, which such a file does not record.
    let run = dir.path().join("run");
    let train = |extra: &[&str]| {
        let base = [
            "train",
            "--features",
            s(&feats),
            "--out",
            s(&run),
            "--epochs",
            "2",
        ];
        memeclip(&[&base[..], extra].concat())
    };
    let err = String::from_utf8(train(&["--task", "stance"]).stderr).unwrap();
    assert!(err.contains("--map-dim"), "{err}");
    let report = ok(train(&["--task", "stance", "--map-dim", "48"]));
    assert_eq!(
        report["train_rows"],
        expected["labelled_stance_rows"]["train"]
    );
    assert!(run.join("head.safetensors").exists());
    // A task memeclip does not know needs its class names.
    let err = String::from_utf8(train(&["--task", "topic", "--map-dim", "16"]).stderr).unwrap();
    assert!(err.contains("--labels"), "{err}");
    let report = ok(train(&[
        "--task",
        "topic",
        "--map-dim",
        "16",
        "--labels",
        "even,odd",
    ]));
    assert_eq!(report["task"], "topic");
}

/// A file that names another format, or stores split codes as floats, is refused by name.
#[test]
fn features_of_another_format_or_float_splits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, split_dtype: safetensors::Dtype, format: Option<&str>| {
        let rows = 2usize;
        let floats: Vec<u8> = (0..rows * 4)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        let split: Vec<u8> = match split_dtype {
            safetensors::Dtype::F32 => [0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
            _ => vec![0, 2],
        };
        let views = [
            (
                "image_features",
                safetensors::Dtype::F32,
                vec![rows, 4],
                floats.clone(),
            ),
            (
                "text_features",
                safetensors::Dtype::F32,
                vec![rows, 4],
                floats.clone(),
            ),
            ("split", split_dtype, vec![rows], split),
        ];
        let tensors: Vec<(&str, safetensors::tensor::TensorView)> = views
            .iter()
            .map(|(k, d, shape, bytes)| {
                (
                    *k,
                    safetensors::tensor::TensorView::new(*d, shape.clone(), bytes).unwrap(),
                )
            })
            .collect();
        let metadata = format
            .map(|f| std::collections::HashMap::from([("format".to_string(), f.to_string())]));
        let path = dir.path().join(name);
        safetensors::serialize_to_file(tensors, metadata, &path).unwrap();
        path
    };
    let ok_file = write("ok.safetensors", safetensors::Dtype::U8, None);
    let (loaded, _) = Features::load_with_warnings(&ok_file).unwrap();
    assert!(loaded.labels.is_empty());
    let err = Features::load(&write(
        "other.safetensors",
        safetensors::Dtype::U8,
        Some("not-features"),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("other.safetensors") && err.contains("not-features"),
        "{err}"
    );
    let err = Features::load(&write("float.safetensors", safetensors::Dtype::F32, None))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`split`") && err.contains("integer type"),
        "{err}"
    );
}
