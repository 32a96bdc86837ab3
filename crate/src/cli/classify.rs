//! `memeclip classify`: one meme through CLIP and every given head (or zero-shot class names).

use std::path::PathBuf;

use crate::backend::Backend;
use crate::bundle::Bundle;
use crate::clip::Kernels;
use crate::data::{DecodeLimits, PreprocessMode, decode_rgb};
use crate::error::{Error, Result};
use crate::head::file::{self, Head, HeadFile, HeadInfo};
use crate::head::result::{TaskResult, TaskResults, check_unique_tasks};
use crate::head::tasks::{TASKS, class_names};
use crate::head::zero_shot::ZeroShotHead;
use crate::ocr::crop::Pixels;
use crate::ocr::{Charset, Ocr};
use crate::pipeline::{ClipPipeline, rows};

#[derive(clap::Args)]
pub struct Args {
    /// Hugging Face CLIP folder
    #[arg(long, required_unless_present = "bundle", conflicts_with = "bundle")]
    clip: Option<PathBuf>,
    /// A web bundle (from `memeclip export-web`): its CLIP and all its heads
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Head file; repeat for several tasks
    #[arg(long = "head")]
    heads: Vec<PathBuf>,
    /// Zero-shot class names, comma-separated (plain CLIP, no training data)
    #[arg(long, value_delimiter = ',')]
    labels: Option<Vec<String>>,
    /// Zero-shot: fuse the meme text's embedding with the image's
    #[arg(long)]
    fuse_text: bool,
    /// The meme image
    #[arg(long)]
    image: PathBuf,
    /// The meme's text; without it the text is read from the image (with the bundle's OCR
    /// or --ocr)
    #[arg(long)]
    text: Option<String>,
    /// OCR model folder (pkg-scripts/get-ocr.sh) for reading the text when --text is absent
    #[arg(long)]
    ocr: Option<PathBuf>,
    /// Characters the OCR reads (latin: the recognizer pruned to Latin script, 18 times faster
    /// in its last layer; full: every character of the model, Chinese and Japanese too)
    #[arg(long, value_enum, default_value = "latin")]
    ocr_charset: Charset,
    #[arg(long, default_value = "memeclip")]
    preprocess: PreprocessMode,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// How the bundle's transformer layers and OCR convs compute (default on flex: int8 for an
    /// int8 or int4 bundle, as the browser's CPU path, fused for f16 and f32; float elsewhere);
    /// fused and int8 need --backend flex
    #[arg(long, value_enum, requires = "bundle")]
    kernels: Option<Kernels>,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let bytes = std::fs::read(&args.image).map_err(|e| Error::io(&args.image, e))?;
    let image = decode_rgb(
        &bytes,
        &args.image.display().to_string(),
        DecodeLimits::default(),
    )?;
    let device = args.backend.device()?;
    let (pipeline, bundled, bundled_ocr) = match (&args.clip, &args.bundle) {
        (Some(dir), _) => (
            ClipPipeline::from_folder(dir, args.preprocess, &device)?,
            Vec::new(),
            None,
        ),
        (None, Some(path)) => {
            let bundle = Bundle::open(path)?;
            let kernels = args.kernels.unwrap_or(bundle.default_kernels(&device));
            let ocr = match (&args.text, &args.ocr) {
                (None, None) => bundle.ocr(&device, kernels)?,
                _ => None,
            };
            (
                bundle.pipeline(&device, kernels)?,
                bundle.heads(&device)?,
                ocr,
            )
        }
        (None, None) => unreachable!("clap requires --clip or --bundle"),
    };
    let (text, text_source) = meme_text(&args, &image, bundled_ocr, &device)?;
    let zero_shot = |task: &str, names: Vec<String>| -> Result<HeadFile> {
        let head = ZeroShotHead::from_class_names(
            &pipeline.clip,
            &pipeline.tokenizer,
            &names,
            args.fuse_text,
        )?;
        let info = HeadInfo {
            task: task.into(),
            class_names: names,
            clip_model: pipeline.clip.config.name.clone(),
        };
        Ok(HeadFile {
            info,
            head: Head::ZeroShot(Box::new(head)),
        })
    };
    let mut heads = bundled;
    for path in &args.heads {
        heads.push(file::load(path, &device)?);
    }
    if let Some(labels) = &args.labels {
        heads.push(zero_shot("zero-shot", labels.clone())?);
    }
    if heads.is_empty() {
        // No head given: the four PrideMM tasks, zero-shot, so the command works without training.
        for (task, _) in TASKS.iter().filter(|(t, _)| *t != "harmful") {
            heads.push(zero_shot(task, class_names(task).expect("known task"))?);
        }
    }

    check_unique_tasks(&heads)?;

    let image_embeds = pipeline
        .clip
        .encode_images(pipeline.pixel_batch(&[image])?)?;
    let text_out = pipeline
        .clip
        .encode_texts(&[pipeline.tokenizer.encode(&text)?])?;
    let mut results = TaskResults::default();
    for head_file in &heads {
        let logits = match &head_file.head {
            Head::MemeClip(head) => head.forward(image_embeds.clone(), text_out.pooled.clone()),
            Head::ZeroShot(head) => head.forward(image_embeds.clone(), text_out.embeds.clone()),
        };
        let logits = rows(logits)?.remove(0);
        results.0.push((
            head_file.info.task.clone(),
            TaskResult::from_logits(head_file, &logits),
        ));
    }
    if args.json {
        // Serialized directly: a `serde_json::Value` would sort the tasks by name.
        #[derive(serde::Serialize)]
        struct Output<'a> {
            image: &'a std::path::Path,
            text: &'a str,
            text_source: &'a str,
            tasks: &'a TaskResults,
        }
        let output = Output {
            image: &args.image,
            text: &text,
            text_source,
            tasks: &results,
        };
        println!(
            "{}",
            serde_json::to_string(&output).expect("results serialize")
        );
        return Ok(());
    }
    if text_source == "ocr" {
        println!("text (read from the image): {text:?}");
    }
    for (task, r) in &results.0 {
        println!("{task} ({}): {}", r.kind, r.predicted);
        for (label, p) in r.labels.iter().zip(&r.probs) {
            println!("  {label:<24} {p:.3}");
        }
    }
    Ok(())
}

/// The meme's text and where it came from: `typed` (--text), `ocr` (read from the image), or
/// `none` (no text given and no OCR model to read it with: classified with empty text).
fn meme_text(
    args: &Args,
    image: &image::RgbImage,
    bundled: Option<Ocr>,
    device: &burn::tensor::Device,
) -> Result<(String, &'static str)> {
    if let Some(text) = &args.text {
        return Ok((text.clone(), "typed"));
    }
    let ocr = match (&args.ocr, bundled) {
        (Some(dir), _) => Some(Ocr::from_folder(dir, args.ocr_charset, device)?),
        (None, ocr) => ocr,
    };
    match ocr {
        Some(ocr) => Ok((ocr.read_blocking(&Pixels::from_rgb(image))?.text, "ocr")),
        None => {
            super::warn(
                &["no --text and no OCR model (a bundle with OCR, or --ocr): \
                           classifying with empty text"
                    .to_string()],
            );
            Ok((String::new(), "none"))
        }
    }
}
