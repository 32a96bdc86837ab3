//! The `memeclip` command line.

mod bench;
mod classify;
mod embed;
mod eval;
mod export;
mod features;
mod import;
mod ocr;
mod report;
mod tokenize;
mod train;

use clap::{Parser, Subcommand};

use crate::error::Result;

#[derive(Parser)]
#[command(
    name = "memeclip",
    version,
    about = "MemeCLIP meme classification on CLIP, with burn"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed images and texts with a CLIP folder (image_embeds, text_pooled, text_embeds)
    Embed(embed::Args),
    /// Print the CLIP token ids of texts, one JSON array per text
    Tokenize(tokenize::Args),
    /// Measure images/s and texts/s of the CLIP towers (random ViT-B/32 weights by default)
    Bench(bench::Args),
    /// Encode a dataset with the frozen CLIP once, into a features file (resumable)
    Features(features::Args),
    /// Train a MemeCLIP head on a features file
    Train(train::Args),
    /// Evaluate a head on a split of a features file
    Eval(eval::Args),
    /// Classify one meme with trained heads or zero-shot class names
    Classify(classify::Args),
    /// Import the official MemeCLIP checkpoint (.ckpt) as a head file
    ImportMemeclip(import::Args),
    /// Write the single-file web bundle: CLIP (quantized), tokenizer and task heads
    ExportWeb(export::Args),
    /// Read the text of meme images (PP-OCRv5 on burn)
    Ocr(ocr::Args),
    /// Compare a bundle's outputs with the f32 model's, and list its size per part
    BundleReport(report::Args),
}

pub fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Embed(args) => embed::run(args),
        Command::Tokenize(args) => tokenize::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Features(args) => features::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Classify(args) => classify::run(args),
        Command::ImportMemeclip(args) => import::run(args),
        Command::ExportWeb(args) => export::run(args),
        Command::BundleReport(args) => report::run(args),
        Command::Ocr(args) => ocr::run(args),
    }
}

/// Prints what an input lacked but could be read without, one line each on stderr.
fn warn(warnings: &[String]) {
    for warning in warnings {
        eprintln!("memeclip: warning: {warning}");
    }
}

/// A features file, from memeclip or another tool, with a warning for each gap filled.
fn load_features(path: &std::path::Path) -> Result<crate::data::features::Features> {
    let (features, warnings) = crate::data::features::Features::load_with_warnings(path)?;
    warn(&warnings);
    Ok(features)
}
