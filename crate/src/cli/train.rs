//! `memeclip train`: the head on cached features, with SAI when a CLIP folder is given.

use std::path::PathBuf;

use burn::module::Param;
use burn::tensor::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::backend::Backend;
use crate::data::PreprocessMode;
use crate::data::features::Features;
use crate::error::{Error, Result};
use crate::head::HeadConfig;
use crate::head::file::{HeadInfo, save_memeclip};
use crate::head::sai::sai_weights;
use crate::head::tasks::class_names;
use crate::pipeline::ClipPipeline;
use crate::train::{Select, TaskRows, TrainOptions, train};

#[derive(clap::Args)]
pub struct Args {
    /// Features file from `memeclip features`
    #[arg(long)]
    features: PathBuf,
    /// Task to train: a label column of the features (hate, target, stance, humour, harmful, label)
    #[arg(long)]
    task: String,
    /// Run folder: head.safetensors, metrics.json, report.json
    #[arg(long)]
    out: PathBuf,
    /// CLIP folder the features came from, for Semantic-Aware Initialization of the classifier
    #[arg(long)]
    clip: Option<PathBuf>,
    /// The head's mapped width (the CLIP vision width), where neither the features' metadata
    /// nor --clip gives it
    #[arg(long)]
    map_dim: Option<usize>,
    /// Class names in label-id order, where the features' metadata does not name them
    #[arg(long, value_delimiter = ',')]
    labels: Option<Vec<String>>,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Model selection: validation split (default) or the official code's choice, the test split
    #[arg(long, value_enum, default_value = "val")]
    select: Select,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
}

pub fn run(args: Args) -> Result<()> {
    let features = super::load_features(&args.features)?;
    let names = args
        .labels
        .clone()
        .or_else(|| features.class_names.get(&args.task).cloned())
        .or_else(|| class_names(&args.task))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "no class names known for task `{}`: pass --labels in label-id order",
                args.task
            ))
        })?;
    let rows = TaskRows::new(&features, &args.task, names.len())?;
    let device = args.backend.device()?;
    device.seed(args.seed);
    let train_device = device.clone().autodiff();

    let clip = args
        .clip
        .as_ref()
        .map(|dir| ClipPipeline::from_folder(dir, PreprocessMode::Memeclip, &device))
        .transpose()?;
    let map_dim = mapped_width(&features, clip.as_ref(), args.map_dim)?;
    let mut head =
        HeadConfig::memeclip(features.image_dim, features.text_dim, map_dim, names.len())
            .init(&train_device);
    match &clip {
        Some(p) => {
            let weights = sai_weights(&p.clip, &p.tokenizer, &names)?;
            // Recreated from its values: a tensor moved onto the autodiff device is not a leaf.
            let weights = Tensor::from_data(weights.into_data(), &train_device);
            head.classifier = Param::from_tensor(weights);
        }
        None => eprintln!("memeclip: no --clip given: the classifier starts random, without SAI"),
    }

    let options = TrainOptions {
        task: args.task.clone(),
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        weight_decay: args.weight_decay,
        seed: args.seed,
        select: args.select,
    };
    let steps = rows.train.len().div_ceil(args.batch.max(1)) as u64;
    let bar = ProgressBar::new(steps * args.epochs as u64).with_style(
        ProgressStyle::with_template("epoch {prefix:>3} {bar:30} {pos}/{len} steps {msg}")
            .expect("valid template"),
    );
    let started = std::time::Instant::now();
    let trained = train(
        head,
        &features,
        &rows,
        &options,
        &train_device,
        |epoch, loss| {
            bar.set_prefix(epoch.to_string());
            bar.set_message(format!("loss {loss:.4}"));
            bar.inc(1);
        },
        |record| {
            bar.println(format!(
                "epoch {:>3}: loss {:.4}, selection AUROC {:.4}",
                record.epoch, record.train_loss, record.selection_auroc
            ))
        },
    )?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();

    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let info = HeadInfo {
        task: args.task.clone(),
        class_names: names,
        clip_model: features.clip_model.clone(),
    };
    let head_path = args.out.join("head.safetensors");
    save_memeclip(&head_path, &trained.best, &info)?;
    let best = &trained.history[trained.best_epoch - 1];
    let report = json!({
        "head": head_path,
        "task": args.task,
        "options": options,
        "train_rows": rows.train.len(),
        "best_epoch": trained.best_epoch,
        "val": best.val,
        "test": best.test,
        "seconds": seconds,
    });
    write_json(&args.out.join("metrics.json"), &json!(trained.history))?;
    write_json(&args.out.join("report.json"), &report)?;
    println!("{report}");
    Ok(())
}

/// SAI maps class embeddings into the CLIP vision width, so with --clip that width is the one.
fn mapped_width(
    features: &Features,
    clip: Option<&ClipPipeline>,
    asked: Option<usize>,
) -> Result<usize> {
    let from_clip = clip.map(|p| p.clip.config.vision.tower.hidden_size);
    let recorded = (features.clip_vision_width > 0).then_some(features.clip_vision_width);
    match (asked, from_clip, recorded) {
        (Some(0), _, _) => Err(Error::Invalid("--map-dim must be at least 1".into())),
        (Some(asked), Some(width), _) if asked != width => Err(Error::Invalid(format!(
            "--map-dim {asked} differs from the CLIP vision width {width} that SAI needs"
        ))),
        (Some(width), _, _) | (None, Some(width), _) | (None, None, Some(width)) => Ok(width),
        (None, None, None) => Err(Error::Invalid(
            "the features do not record the CLIP vision width: pass --map-dim N or --clip DIR"
                .into(),
        )),
    }
}

fn write_json(path: &std::path::Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("json serializes");
    crate::atomic::write(path, (text + "\n").as_bytes())
}
