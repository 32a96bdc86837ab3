use std::path::PathBuf;

use crate::clip::ClipConfig;
use crate::data::ClipTokenizer;
use crate::error::{Error, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Hugging Face CLIP folder (tokenizer.json; config.json for the context length)
    #[arg(long)]
    clip: PathBuf,
    /// A text file with one text per line, tokenized before the TEXT arguments
    #[arg(long)]
    file: Option<PathBuf>,
    /// Texts to tokenize
    texts: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let config_path = args.clip.join("config.json");
    let max_len = match std::fs::read_to_string(&config_path) {
        Ok(json) => {
            ClipConfig::from_json(&json, &config_path.display().to_string())?
                .text
                .max_positions
        }
        Err(_) => 77,
    };
    let tokenizer_path = args.clip.join("tokenizer.json");
    let json = std::fs::read(&tokenizer_path).map_err(|e| Error::io(&tokenizer_path, e))?;
    let tokenizer =
        ClipTokenizer::from_bytes(&json, &tokenizer_path.display().to_string(), max_len)?;

    let mut texts = Vec::new();
    if let Some(file) = &args.file {
        let content = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        texts.extend(content.lines().map(str::to_owned));
    }
    texts.extend(args.texts);
    if texts.is_empty() {
        return Err(Error::Invalid(
            "no texts given (pass TEXT arguments or --file)".into(),
        ));
    }
    for text in &texts {
        let ids = tokenizer.encode(text)?;
        println!("{}", serde_json::to_string(&ids).expect("ids serialize"));
    }
    Ok(())
}
