use std::path::PathBuf;

use serde_json::json;

use crate::backend::Backend;
use crate::data::{DecodeLimits, PreprocessMode, decode_rgb};
use crate::error::{Error, Result};
use crate::pipeline::ClipPipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Hugging Face CLIP folder: config.json, model.safetensors, tokenizer.json
    #[arg(long)]
    clip: PathBuf,
    /// Image file (PNG, JPEG, WebP, GIF); repeat for several
    #[arg(long = "image")]
    images: Vec<PathBuf>,
    /// Text; repeat for several
    #[arg(long = "text")]
    texts: Vec<String>,
    /// Image preprocessing: `clip` (resize shortest side, center crop) or `memeclip` (squash)
    #[arg(long, default_value = "clip")]
    preprocess: PreprocessMode,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// Images per forward pass
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Print the full result as JSON (otherwise a short summary)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.images.is_empty() && args.texts.is_empty() {
        return Err(Error::Invalid(
            "nothing to embed (pass --image and/or --text)".into(),
        ));
    }
    // Decode every image before loading the model: a bad file fails fast.
    let images = args
        .images
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            decode_rgb(&bytes, &path.display().to_string(), DecodeLimits::default())
        })
        .collect::<Result<Vec<_>>>()?;
    let device = args.backend.device()?;
    let pipeline = ClipPipeline::from_folder(&args.clip, args.preprocess, &device)?;

    let mut image_embeds = Vec::new();
    for chunk in images.chunks(args.batch.max(1)) {
        image_embeds.extend(pipeline.embed_images(chunk)?);
    }
    let text = if args.texts.is_empty() {
        None
    } else {
        Some(pipeline.embed_texts(&args.texts)?)
    };

    if args.json {
        let (ids, pooled, embeds) = match &text {
            Some(t) => (&t.input_ids[..], &t.text_pooled[..], &t.text_embeds[..]),
            None => (&[][..], &[][..], &[][..]),
        };
        let out = json!({
            "model": pipeline.clip.config.name,
            "preprocess": args.preprocess,
            "images": args.images,
            "texts": args.texts,
            "image_embeds": image_embeds,
            "text_pooled": pooled,
            "text_embeds": embeds,
            "input_ids": ids,
        });
        println!("{out}");
        return Ok(());
    }
    for (path, row) in args.images.iter().zip(&image_embeds) {
        println!("image {}: image_embeds {}", path.display(), summary(row));
    }
    if let Some(t) = &text {
        for (i, text) in args.texts.iter().enumerate() {
            println!("text {text:?} ({} tokens)", t.input_ids[i].len());
            println!("  text_pooled {}", summary(&t.text_pooled[i]));
            println!("  text_embeds {}", summary(&t.text_embeds[i]));
        }
    }
    Ok(())
}

fn summary(row: &[f32]) -> String {
    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
    let head: Vec<String> = row.iter().take(4).map(|v| format!("{v:.4}")).collect();
    format!(
        "dim {} norm {norm:.4} [{}, ...]",
        row.len(),
        head.join(", ")
    )
}
