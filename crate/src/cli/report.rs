//! `memeclip bundle-report`: how far a bundle's outputs are from the f32 model's.

use std::path::PathBuf;

use burn::tensor::Device;
use image::RgbImage;
use serde_json::json;

use crate::bundle::Bundle;
use crate::clip::Kernels;
use crate::data::{DecodeLimits, decode_rgb};
use crate::error::{Error, Result};
use crate::head::file::Head;
use crate::pipeline::{ClipPipeline, rows};
use crate::train::metrics::{argmax, softmax};

#[derive(clap::Args)]
pub struct Args {
    /// The f32 CLIP folder the bundle was made from
    #[arg(long)]
    clip: PathBuf,
    #[arg(long)]
    bundle: PathBuf,
    /// Folder of images to compare on (default: built-in synthetic images)
    #[arg(long)]
    images: Option<PathBuf>,
    /// Text file, one text per line (default: built-in texts)
    #[arg(long)]
    texts: Option<PathBuf>,
    /// How the bundle's transformer layers compute (default: int8 for an int8 or int4 bundle,
    /// as the browser's CPU path and `classify` run it, fused for f16 and f32)
    #[arg(long, value_enum)]
    kernels: Option<Kernels>,
}

/// Cosine similarity of each pair of rows: (min, mean).
fn cosines(a: &[Vec<f32>], b: &[Vec<f32>]) -> serde_json::Value {
    let cos: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let dot: f64 = x
                .iter()
                .zip(y)
                .map(|(p, q)| (*p as f64) * (*q as f64))
                .sum();
            let nx: f64 = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            let ny: f64 = y.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            dot / (nx * ny).max(1e-30)
        })
        .collect();
    json!({"min": cos.iter().copied().fold(f64::INFINITY, f64::min), "mean": cos.iter().sum::<f64>() / cos.len().max(1) as f64})
}

/// Eight small synthetic pictures: gradients, stripes and checks of different colours.
fn synthetic_images() -> Vec<RgbImage> {
    (0..8u32)
        .map(|k| {
            RgbImage::from_fn(96 + 8 * k, 80, |x, y| {
                let v = ((x * (k + 1) + y * 3) % 256) as u8;
                let check = if (x / (4 + k) + y / 6) % 2 == 0 {
                    255
                } else {
                    0
                };
                image::Rgb([
                    v,
                    check as u8 ^ (k as u8 * 30),
                    (255 - v) / (1 + k as u8 % 3),
                ])
            })
        })
        .collect()
}

const TEXTS: &[&str] = &[
    "when the code compiles on the first try",
    "pride month is for everyone",
    "they should not be allowed to exist",
    "me explaining memes to my grandma",
    "",
    "a very long caption that goes on and on about nothing in particular just to fill the context window",
];

pub fn run(args: Args) -> Result<()> {
    let device = Device::flex();
    let bundle = Bundle::open(&args.bundle)?;
    let quantized = bundle.pipeline(
        &device,
        args.kernels.unwrap_or(bundle.default_kernels(&device)),
    )?;
    let reference = ClipPipeline::from_folder(&args.clip, quantized.preprocessor.mode, &device)?;
    let images = match &args.images {
        Some(dir) => {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            paths.sort();
            paths
                .iter()
                .filter_map(|p| {
                    std::fs::read(p).ok().and_then(|b| {
                        decode_rgb(&b, &p.display().to_string(), DecodeLimits::default()).ok()
                    })
                })
                .collect()
        }
        None => synthetic_images(),
    };
    let texts: Vec<String> = match &args.texts {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, e))?
            .lines()
            .map(String::from)
            .collect(),
        None => TEXTS.iter().map(|t| t.to_string()).collect(),
    };
    if images.is_empty() || texts.is_empty() {
        return Err(Error::Invalid("no images or no texts to compare on".into()));
    }
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for chunk in images.chunks(8) {
        ours.extend(quantized.embed_images(chunk)?);
        theirs.extend(reference.embed_images(chunk)?);
    }
    let text_q = quantized.embed_texts(&texts)?;
    let text_f = reference.embed_texts(&texts)?;

    // Every head on every (image, text) pair, with the bundle's CLIP and with the f32 one.
    let pairs = images.len().min(texts.len()).max(1);
    let mut tasks = Vec::new();
    for head in bundle.heads(&device)? {
        let (mut agree, mut max_diff) = (0, 0.0f32);
        for i in 0..pairs {
            let (i_img, i_txt) = (i % images.len(), i % texts.len());
            let logits = |pipe: &ClipPipeline,
                          img: &[f32],
                          pooled: &[f32],
                          embeds: &[f32]|
             -> Result<Vec<f32>> {
                let t = |v: &[f32]| {
                    burn::tensor::Tensor::<2>::from_data(
                        burn::tensor::TensorData::new(v.to_vec(), [1, v.len()]),
                        pipe.clip.device(),
                    )
                };
                let out = match &head.head {
                    Head::MemeClip(h) => h.forward(t(img), t(pooled)),
                    Head::ZeroShot(h) => h.forward(t(img), t(embeds)),
                };
                Ok(rows(out)?.remove(0))
            };
            let a = logits(
                &quantized,
                &ours[i_img],
                &text_q.text_pooled[i_txt],
                &text_q.text_embeds[i_txt],
            )?;
            let b = logits(
                &reference,
                &theirs[i_img],
                &text_f.text_pooled[i_txt],
                &text_f.text_embeds[i_txt],
            )?;
            agree += usize::from(argmax(&a) == argmax(&b));
            let (pa, pb) = (softmax(&a), softmax(&b));
            max_diff = pa
                .iter()
                .zip(&pb)
                .fold(max_diff, |m, (x, y)| m.max((x - y).abs()));
        }
        tasks.push(json!({"task": head.info.task, "kind": head.kind(), "agreement": agree as f64 / pairs as f64,
                          "max_prob_diff": max_diff}));
    }
    let report = json!({
        "bundle": args.bundle,
        "quant": bundle.header.quant,
        "images": images.len(),
        "texts": texts.len(),
        "image_embeds_cosine": cosines(&ours, &theirs),
        "text_pooled_cosine": cosines(&text_q.text_pooled, &text_f.text_pooled),
        "text_embeds_cosine": cosines(&text_q.text_embeds, &text_f.text_embeds),
        "tasks": tasks,
        "bytes": bundle.part_sizes(),
    });
    println!("{report}");
    Ok(())
}
