//! `memeclip export-web`: one bundle file with CLIP, tokenizer and every task head.

use std::path::PathBuf;

use burn::tensor::Device;
use serde_json::json;

use crate::bundle::quant::Quant;
use crate::bundle::{Bundle, BundleInputs, write_bundle};
use crate::clip::random::RandomWeights;
use crate::clip::{Clip, ClipConfig, Kernels, WeightSource};
use crate::data::{ClipTokenizer, PreprocessMode, Preprocessor};
use crate::error::{Error, Result};
use crate::head::file::{self, Head, HeadFile, HeadInfo};
use crate::head::tasks::{TASKS, class_names};
use crate::head::zero_shot::ZeroShotHead;
use crate::ocr::{Charset, OcrFolder};
use crate::pipeline::ClipFolder;

#[derive(clap::Args)]
pub struct Args {
    /// Hugging Face CLIP folder
    #[arg(long, required_unless_present = "random")]
    clip: Option<PathBuf>,
    /// Random weights in these shapes instead of --clip (for size reports; needs --tokenizer)
    #[arg(long, value_parser = ["vit-b-32", "vit-l-14"], requires = "tokenizer")]
    random: Option<String>,
    /// tokenizer.json for --random
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Trained head file; repeat for several tasks
    #[arg(long = "head")]
    heads: Vec<PathBuf>,
    /// A zero-shot head, TASK=label1,label2,...; repeat for several
    #[arg(long = "zero-shot")]
    zero_shot: Vec<String>,
    /// Weight quantization of the CLIP towers (heads stay f32)
    #[arg(long, value_enum)]
    quant: Quant,
    /// OCR model folder (pkg-scripts/get-ocr.sh) to include, so the bundle reads memes' text
    #[arg(long)]
    ocr: Option<PathBuf>,
    /// Characters the OCR reads (latin: the recognizer pruned to Latin script, 18 times faster
    /// in its last layer; full: every character of the model, Chinese and Japanese too)
    #[arg(long, value_enum, default_value = "latin")]
    ocr_charset: Charset,
    /// Image preprocessing the page will use
    #[arg(long, default_value = "memeclip")]
    preprocess: PreprocessMode,
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let (config, weights, tokenizer_json, preprocess): (
        ClipConfig,
        Box<dyn WeightSource>,
        Vec<u8>,
        Preprocessor,
    ) = match (&args.clip, &args.random) {
        (Some(dir), _) => {
            let folder = ClipFolder::open(dir, args.preprocess)?;
            (
                folder.config,
                Box::new(folder.weights),
                folder.tokenizer_json,
                folder.preprocessor,
            )
        }
        (None, Some(shape)) => {
            let config = if shape == "vit-l-14" {
                ClipConfig::vit_l14()
            } else {
                ClipConfig::vit_b32()
            };
            let path = args.tokenizer.as_ref().expect("clap requires --tokenizer");
            let json = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let pre = Preprocessor::openai(config.vision.image_size, args.preprocess);
            (config, Box::new(RandomWeights { seed: 0 }), json, pre)
        }
        (None, None) => unreachable!("clap requires --clip or --random"),
    };
    let tokenizer =
        ClipTokenizer::from_bytes(&tokenizer_json, "tokenizer.json", config.text.max_positions)?;
    let device = Device::flex();

    let mut heads: Vec<HeadFile> = args
        .heads
        .iter()
        .map(|p| file::load(p, &device))
        .collect::<Result<_>>()?;
    let mut zero_shot: Vec<(String, Vec<String>)> = Vec::new();
    for spec in &args.zero_shot {
        let (task, labels) = spec.split_once('=').ok_or_else(|| {
            Error::Invalid(format!(
                "--zero-shot `{spec}`: expected TASK=label1,label2,..."
            ))
        })?;
        zero_shot.push((
            task.to_string(),
            labels.split(',').map(|l| l.trim().to_string()).collect(),
        ));
    }
    if heads.is_empty() && zero_shot.is_empty() {
        // The four PrideMM tasks, zero-shot: a bundle that works without training data.
        for (task, _) in TASKS.iter().filter(|(t, _)| *t != "harmful") {
            zero_shot.push((task.to_string(), class_names(task).expect("known task")));
        }
    }
    if !zero_shot.is_empty() {
        let clip = Clip::load(
            &config,
            weights.as_ref(),
            tokenizer.eos_id(),
            &device,
            Kernels::Float,
        )?;
        for (task, labels) in zero_shot {
            let head = ZeroShotHead::from_class_names(&clip, &tokenizer, &labels, false)?;
            let info = HeadInfo {
                task,
                class_names: labels,
                clip_model: config.name.clone(),
            };
            heads.push(HeadFile {
                info,
                head: Head::ZeroShot(Box::new(head)),
            });
        }
    }
    for head in &heads {
        if let Head::MemeClip(h) = &head.head {
            let c = h.config();
            if (c.image_dim, c.text_dim) != (config.projection_dim, config.text.tower.hidden_size) {
                return Err(Error::Invalid(format!(
                    "head `{}` reads features of widths {}/{}, this CLIP gives {}/{}",
                    head.info.task,
                    c.image_dim,
                    c.text_dim,
                    config.projection_dim,
                    config.text.tower.hidden_size
                )));
            }
        }
    }
    let ocr = match &args.ocr {
        Some(dir) => {
            let mut folder = OcrFolder::open(dir)?;
            folder.prune(args.ocr_charset)?;
            Some(folder)
        }
        None => None,
    };
    let tokenizer_json = String::from_utf8(tokenizer_json)
        .map_err(|_| Error::Invalid("tokenizer.json is not UTF-8".into()))?;
    let bytes = write_bundle(
        &BundleInputs {
            config: &config,
            weights: weights.as_ref(),
            tokenizer_json,
            preprocess,
            heads,
            ocr: ocr.as_ref().map(|f| {
                (
                    &f.det as &dyn WeightSource,
                    &f.rec as &dyn WeightSource,
                    f.dictionary.clone(),
                )
            }),
        },
        args.quant,
    )?;
    crate::atomic::write(&args.out, &bytes)?;
    let bundle = Bundle::from_bytes(bytes, &args.out.display().to_string())?;
    let tasks: Vec<_> = bundle
        .header
        .tasks
        .iter()
        .map(|t| json!({"task": t.name, "kind": t.kind}))
        .collect();
    println!(
        "{}",
        json!({"out": args.out, "quant": args.quant, "bytes": bundle.part_sizes().values().sum::<usize>(),
               "parts": bundle.part_sizes(), "tasks": tasks, "ocr": bundle.has_ocr(), "sha256": bundle.header.payload_sha256})
    );
    Ok(())
}
