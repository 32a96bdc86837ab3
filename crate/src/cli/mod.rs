//! The `memeclip` command line.

mod bench;
mod embed;
mod tokenize;

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
}

pub fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Embed(args) => embed::run(args),
        Command::Tokenize(args) => tokenize::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
