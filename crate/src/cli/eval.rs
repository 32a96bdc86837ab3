//! `memeclip eval`: metrics of a head on one split of a features file.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::backend::Backend;
use crate::data::features::Split;
use crate::error::{Error, Result};
use crate::head::file::{self, Head};
use crate::train::metrics::{argmax, evaluate, softmax};
use crate::train::{TaskRows, predict};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    features: PathBuf,
    /// Head file (from `memeclip train` or `import-memeclip`)
    #[arg(long)]
    head: PathBuf,
    /// Split to evaluate: train, val or test
    #[arg(long, default_value = "test")]
    split: String,
    /// Write one JSON line per row: name, label, predicted class, logits, probabilities
    #[arg(long)]
    predictions: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let split = Split::parse(&args.split).ok_or_else(|| {
        Error::Invalid(format!(
            "--split `{}` is not train, val or test",
            args.split
        ))
    })?;
    let features = super::load_features(&args.features)?;
    let device = args.backend.device()?;
    let head_file = file::load(&args.head, &device)?;
    let info = &head_file.info;
    let task = TaskRows::new(&features, &info.task, info.class_names.len())?;
    let rows = match split {
        Split::Train => &task.train,
        Split::Val => &task.val,
        Split::Test => &task.test,
    };
    if rows.is_empty() {
        return Err(Error::Invalid(format!(
            "no labelled {} rows for task `{}`",
            args.split, info.task
        )));
    }
    let logits = match &head_file.head {
        Head::MemeClip(head) => {
            let config = head.config();
            if (config.image_dim, config.text_dim) != (features.image_dim, features.text_dim) {
                return Err(Error::Invalid(format!(
                    "{} expects features of widths {}/{}, {} has {}/{}",
                    args.head.display(),
                    config.image_dim,
                    config.text_dim,
                    args.features.display(),
                    features.image_dim,
                    features.text_dim
                )));
            }
            predict(head, &features, rows, 16, &device)?
        }
        Head::ZeroShot(_) => {
            return Err(Error::Invalid(
                "zero-shot heads score raw CLIP outputs: use `memeclip classify`, not cached features".into(),
            ));
        }
    };
    let labels: Vec<usize> = rows.iter().map(|&r| task.labels[r] as usize).collect();
    let report = evaluate(&logits, &labels, info.class_names.len(), 16);
    if let Some(path) = &args.predictions {
        crate::atomic::write_with(path, |out| {
            for ((row, logit), &label) in rows.iter().zip(&logits).zip(&labels) {
                let line = json!({
                    "name": features.names[*row],
                    "label": info.class_names[label],
                    "predicted": info.class_names[argmax(logit)],
                    "logits": logit,
                    "probs": softmax(logit),
                });
                writeln!(out, "{line}")?;
            }
            Ok(())
        })?;
    }
    let output = json!({
        "task": info.task, "split": args.split, "class_names": info.class_names,
        "head": args.head, "features": args.features, "report": report,
    });
    if args.json {
        println!("{output}");
    } else {
        println!(
            "task {} on {} ({} rows)",
            info.task, args.split, report.count
        );
        for (name, m) in [
            ("proper (dataset-level)", &report.proper),
            ("code-faithful (per batch)", &report.code_faithful),
        ] {
            println!(
                "  {name:<26} accuracy {:.4}  macro-F1 {:.4}  AUROC {:.4}",
                m.accuracy, m.macro_f1, m.auroc
            );
        }
        println!(
            "  confusion (rows: true {:?}): {:?}",
            info.class_names, report.confusion
        );
    }
    Ok(())
}
