//! `memeclip import-memeclip`: the official PyTorch Lightning checkpoint as a head file.

use std::path::PathBuf;

use serde_json::json;

use crate::error::Result;
use crate::head::import::import_checkpoint;

#[derive(clap::Args)]
pub struct Args {
    /// The official checkpoint (.ckpt)
    #[arg(long)]
    ckpt: PathBuf,
    /// Output head file (.safetensors)
    #[arg(long)]
    out: PathBuf,
    /// Task the checkpoint was trained for (the released one is hate)
    #[arg(long, default_value = "hate")]
    task: String,
    /// CLIP the checkpoint was trained on
    #[arg(long, default_value = "openai/clip-vit-large-patch14")]
    clip_model: String,
}

pub fn run(args: Args) -> Result<()> {
    let info = import_checkpoint(&args.ckpt, &args.task, &args.clip_model, &args.out)?;
    println!("{}", json!({"out": args.out, "info": info}));
    Ok(())
}
