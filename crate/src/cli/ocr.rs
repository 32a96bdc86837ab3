//! `memeclip ocr`: the text of meme images, read with PP-OCRv5 on burn.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::Backend;
use crate::bundle::Bundle;
use crate::clip::Kernels;
use crate::data::{DecodeLimits, decode_rgb};
use crate::error::{Error, Result};
use crate::ocr::crop::Pixels;
use crate::ocr::{Charset, Ocr};

#[derive(clap::Args)]
pub struct Args {
    /// OCR model folder (det.onnx, rec.onnx, dict.txt; pkg-scripts/get-ocr.sh writes one)
    #[arg(long, required_unless_present = "bundle", conflicts_with = "bundle")]
    ocr: Option<PathBuf>,
    /// A web bundle with an OCR model (`memeclip export-web --ocr`), read as the browser reads it
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// How the bundle's convs compute on flex (default: int8 for an int8 or int4 bundle, as the
    /// browser's CPU path, f32 host kernels otherwise)
    #[arg(long, value_enum, requires = "bundle")]
    kernels: Option<Kernels>,
    /// Characters to read with --ocr (latin: the recognizer pruned to Latin script, 18 times faster in its
    /// last layer; full: every character of the model, Chinese and Japanese too)
    #[arg(long, value_enum, default_value = "latin")]
    charset: Charset,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// One JSON object per image and line, in input order:
    /// {"image", "text", "lines": [{"text", "confidence", "box": [x0, y0, x1, y1]}]}
    #[arg(long)]
    json: bool,
    /// Images to read
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// Decodes one image file as the OCR's pixels.
pub(super) fn read_image(path: &Path) -> Result<Pixels> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let rgb = decode_rgb(&bytes, &path.display().to_string(), DecodeLimits::default())?;
    Ok(Pixels::from_rgb(&rgb))
}

pub fn run(args: Args) -> Result<()> {
    let device = args.backend.device()?;
    let ocr = match (&args.ocr, &args.bundle) {
        (Some(dir), _) => Ocr::from_folder(dir, args.charset, &device)?,
        (None, Some(path)) => {
            let bundle = Bundle::open(path)?;
            let kernels = args.kernels.unwrap_or(bundle.default_kernels(&device));
            bundle.ocr(&device, kernels)?.ok_or_else(|| {
                Error::config(
                    path.display().to_string(),
                    "the bundle has no OCR model (export it with --ocr DIR, or pass --ocr DIR)",
                )
            })?
        }
        (None, None) => unreachable!("clap requires --ocr or --bundle"),
    };
    let bar = ProgressBar::new(args.images.len() as u64).with_style(
        ProgressStyle::with_template("reading {bar:30} {pos}/{len} images [{elapsed} < {eta}]")
            .expect("valid template"),
    );
    if args.images.len() < 2 {
        bar.finish_and_clear();
    }
    for path in &args.images {
        let read = ocr.read_blocking(&read_image(path)?)?;
        bar.inc(1);
        if args.json {
            #[derive(serde::Serialize)]
            struct Output<'a> {
                image: &'a Path,
                #[serde(flatten)]
                read: &'a crate::ocr::OcrText,
            }
            let line = serde_json::to_string(&Output {
                image: path,
                read: &read,
            })
            .expect("OCR results serialize");
            bar.suspend(|| println!("{line}"));
        } else {
            bar.suspend(|| println!("{}: {}", path.display(), read.text));
        }
    }
    bar.finish_and_clear();
    Ok(())
}
