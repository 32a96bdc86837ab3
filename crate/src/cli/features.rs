//! `memeclip features`: runs the frozen CLIP once over a dataset and writes the feature cache.
//! Work is saved in chunks beside the output, so an interrupted run resumes where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::backend::Backend;
use crate::data::datasets::{self, BadRow, CsvColumns, Dataset};
use crate::data::features::Features;
use crate::data::{DecodeLimits, PreprocessMode, decode_rgb};
use crate::error::{Error, Result};
use crate::ocr::crop::Pixels;
use crate::ocr::{Charset, Ocr};
use crate::pipeline::ClipPipeline;

#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    Pridemm,
    Harmeme,
    Csv,
}

#[derive(clap::Args)]
pub struct Args {
    /// Hugging Face CLIP folder
    #[arg(long)]
    clip: PathBuf,
    #[arg(long, value_enum)]
    dataset: Kind,
    /// PrideMM: the CSV; HarMeme: the folder with train/val/test.jsonl; csv: the CSV
    #[arg(long)]
    annotations: PathBuf,
    /// Folder the image names are relative to
    #[arg(long)]
    images: PathBuf,
    /// csv: image path column
    #[arg(long, default_value = "image")]
    image_column: String,
    /// csv: text column
    #[arg(long, default_value = "text")]
    text_column: String,
    /// csv: label column
    #[arg(long, default_value = "label")]
    label_column: String,
    /// csv: split column (train/val/test); without it rows are split 80/10/10 by position
    #[arg(long)]
    split_column: Option<String>,
    /// csv: class names in label-id order (default: sorted distinct labels)
    #[arg(long, value_delimiter = ',')]
    labels: Option<Vec<String>>,
    /// Output features file (safetensors)
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "memeclip")]
    preprocess: PreprocessMode,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// Memes per forward pass
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// OCR model folder (pkg-scripts/get-ocr.sh): empty texts are read from the images (a csv
    /// dataset may then lack the text column)
    #[arg(long)]
    ocr: Option<PathBuf>,
    /// Characters the OCR reads (latin: the recognizer pruned to Latin script, 18 times faster
    /// in its last layer; full: every character of the model, Chinese and Japanese too)
    #[arg(long, value_enum, default_value = "latin")]
    ocr_charset: Charset,
    /// Skip bad rows (listed in the summary) instead of stopping before any work
    #[arg(long)]
    skip_bad: bool,
}

/// Rows per saved chunk: what an interruption can lose at most.
const CHUNK: usize = 256;

pub fn run(args: Args) -> Result<()> {
    let dataset = match args.dataset {
        Kind::Pridemm => datasets::pridemm(&args.annotations, &args.images)?,
        Kind::Harmeme => datasets::harmeme(&args.annotations, &args.images)?,
        Kind::Csv => datasets::generic_csv(
            &args.annotations,
            &args.images,
            &CsvColumns {
                image: args.image_column.clone(),
                text: args.text_column.clone(),
                text_required: args.ocr.is_none(),
                label: args.label_column.clone(),
                split: args.split_column.clone(),
                labels: args.labels.clone(),
            },
        )?,
    };
    super::warn(&dataset.warnings);
    dataset.check(args.skip_bad)?;
    if dataset.rows.is_empty() {
        return Err(Error::Invalid("the dataset has no usable rows".into()));
    }
    let device = args.backend.device()?;
    let pipeline = ClipPipeline::from_folder(&args.clip, args.preprocess, &device)?;
    let ocr = args
        .ocr
        .as_ref()
        .map(|dir| Ocr::from_folder(dir, args.ocr_charset, &device))
        .transpose()?;
    let work = args.out.with_extension("partial.d");
    let fingerprint = fingerprint(
        &dataset,
        &pipeline,
        args.preprocess,
        ocr.as_ref().map(|_| args.ocr_charset),
    );
    prepare_work_dir(&work, &fingerprint)?;

    let bar = ProgressBar::new(dataset.rows.len() as u64).with_style(
        ProgressStyle::with_template("encoding {bar:30} {pos}/{len} memes [{elapsed} < {eta}]")
            .expect("valid template"),
    );
    let mut skipped = dataset.bad.clone();
    let mut chunks = Vec::new();
    for (index, rows) in dataset.rows.chunks(CHUNK).enumerate() {
        let path = work.join(format!("chunk-{index:06}.safetensors"));
        let chunk = match Features::load(&path) {
            Ok(done) => done,
            Err(_) => {
                let models = (&pipeline, ocr.as_ref());
                let chunk = encode_chunk(models, &dataset, rows, &args, &mut skipped, &bar)?;
                chunk.save(&path)?;
                chunk
            }
        };
        bar.set_position(((index + 1) * CHUNK).min(dataset.rows.len()) as u64);
        chunks.push(chunk);
    }
    bar.finish_and_clear();
    let all = concat(chunks).ok_or_else(|| Error::Invalid("every row was skipped".into()))?;
    all.save(&args.out)?;
    std::fs::remove_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    println!(
        "{}",
        json!({"out": args.out, "rows": all.len(), "tasks": all.labels.keys().collect::<Vec<_>>(),
               "skipped": skipped.len(), "skipped_rows": skipped})
    );
    Ok(())
}

/// What the chunks in the work folder must have been made from to be reused.
fn fingerprint(
    dataset: &Dataset,
    pipeline: &ClipPipeline,
    mode: PreprocessMode,
    ocr: Option<Charset>,
) -> String {
    let names: Vec<&str> = dataset.rows.iter().map(|r| r.name.as_str()).collect();
    json!({"names": names, "clip": pipeline.clip.config, "preprocess": mode, "chunk": CHUNK,
           "ocr": ocr.map(|c| format!("{c:?}"))})
    .to_string()
}

fn prepare_work_dir(work: &Path, fingerprint: &str) -> Result<()> {
    let manifest = work.join("manifest.json");
    match std::fs::read_to_string(&manifest) {
        Ok(existing) if existing == fingerprint => return Ok(()),
        Ok(_) => {
            return Err(Error::Invalid(format!(
                "{} holds an interrupted run for other inputs; delete it to start over",
                work.display()
            )));
        }
        Err(_) => {}
    }
    std::fs::create_dir_all(work).map_err(|e| Error::io(work, e))?;
    crate::atomic::write(&manifest, fingerprint.as_bytes())
}

fn encode_chunk(
    (pipeline, ocr): (&ClipPipeline, Option<&Ocr>),
    dataset: &Dataset,
    rows: &[datasets::Row],
    args: &Args,
    skipped: &mut Vec<BadRow>,
    bar: &ProgressBar,
) -> Result<Features> {
    let mut kept = Vec::new();
    let mut images = Vec::new();
    let mut texts = Vec::new();
    for row in rows {
        let decoded = std::fs::read(&row.image)
            .map_err(|e| Error::io(&row.image, e))
            .and_then(|bytes| {
                decode_rgb(
                    &bytes,
                    &row.image.display().to_string(),
                    DecodeLimits::default(),
                )
            });
        match decoded {
            Ok(image) => {
                let text = match ocr {
                    Some(ocr) if row.text.is_empty() => {
                        ocr.read_blocking(&Pixels::from_rgb(&image))?.text
                    }
                    _ => row.text.clone(),
                };
                kept.push(row);
                images.push(image);
                texts.push(text);
            }
            Err(e) if args.skip_bad => skipped.push(BadRow {
                origin: row.origin.clone(),
                reason: e.to_string(),
            }),
            Err(e) => {
                return Err(Error::Invalid(format!(
                    "{}: {e} (pass --skip-bad to skip such rows)",
                    row.origin
                )));
            }
        }
    }
    let mut image_features = Vec::new();
    let mut text_features = Vec::new();
    let batch = args.batch.max(1);
    for (batch_images, batch_texts) in images.chunks(batch).zip(texts.chunks(batch)) {
        for row in pipeline.embed_images(batch_images)? {
            image_features.extend(row);
        }
        for row in pipeline.embed_texts(batch_texts)?.text_pooled {
            text_features.extend(row);
        }
        bar.inc(batch_images.len() as u64);
    }
    let config = &pipeline.clip.config;
    let mut labels = BTreeMap::new();
    let mut class_names = BTreeMap::new();
    for (t, task) in dataset.tasks.iter().enumerate() {
        labels.insert(task.clone(), kept.iter().map(|r| r.labels[t]).collect());
        class_names.insert(task.clone(), dataset.class_names[t].clone());
    }
    Ok(Features {
        image_dim: config.projection_dim,
        text_dim: config.text.tower.hidden_size,
        image: image_features,
        text: text_features,
        split: kept.iter().map(|r| r.split).collect(),
        labels,
        class_names,
        names: kept.iter().map(|r| r.name.clone()).collect(),
        clip_model: config.name.clone(),
        clip_vision_width: config.vision.tower.hidden_size,
        preprocess: format!("{:?}", args.preprocess).to_lowercase(),
    })
}

fn concat(chunks: Vec<Features>) -> Option<Features> {
    let mut iter = chunks.into_iter().filter(|c| !c.is_empty());
    let mut all = iter.next()?;
    for chunk in iter {
        all.image.extend(chunk.image);
        all.text.extend(chunk.text);
        all.split.extend(chunk.split);
        all.names.extend(chunk.names);
        for (task, labels) in chunk.labels {
            all.labels.entry(task).or_default().extend(labels);
        }
    }
    Some(all)
}
