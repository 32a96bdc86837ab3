//! CLIP's byte-level BPE through the `tokenizers` crate and the model's own tokenizer.json.

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

pub const START_OF_TEXT: &str = "<|startoftext|>";
pub const END_OF_TEXT: &str = "<|endoftext|>";

pub struct ClipTokenizer {
    inner: Tokenizer,
    eos_id: u32,
}

impl ClipTokenizer {
    /// Parses tokenizer.json; `max_len` counts the start and end tokens (77 for CLIP). Longer
    /// texts keep the start token, the first `max_len - 2` text tokens and the end token.
    pub fn from_bytes(json: &[u8], file: &str, max_len: usize) -> Result<Self> {
        let mut inner = Tokenizer::from_bytes(json)
            .map_err(|e| Error::config(file, format!("not a valid tokenizer.json: {e}")))?;
        let id_of = |token: &str| {
            inner.token_to_id(token).ok_or_else(|| {
                Error::config(file, format!("the vocabulary has no `{token}` token"))
            })
        };
        id_of(START_OF_TEXT)?;
        let eos_id = id_of(END_OF_TEXT)?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                direction: TruncationDirection::Right,
                stride: 0,
            }))
            .map_err(|e| Error::config(file, format!("cannot set truncation: {e}")))?;
        inner.with_padding(None);
        Ok(ClipTokenizer { inner, eos_id })
    }

    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    /// Token ids with the start and end tokens, no padding.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn encode_all(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|t| self.encode(t)).collect()
    }
}
