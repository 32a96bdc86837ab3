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
        let invalid = |e: String| Error::config(file, format!("not a valid tokenizer.json: {e}"));
        let mut value: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?;
        // Only encoding is needed. The `tokenizers` crate panics on some malformed decoders and
        // precompiled normalizers (found by fuzzing), so the decoder is dropped and a precompiled
        // (SentencePiece) normalizer, which no CLIP uses, is refused before it parses them.
        if let Some(object) = value.as_object_mut() {
            object.insert("decoder".into(), serde_json::Value::Null);
        }
        if mentions_precompiled(value.get("normalizer").unwrap_or(&serde_json::Value::Null)) {
            return Err(invalid(
                "a precompiled (SentencePiece) normalizer, where CLIP's BPE tokenizer was expected"
                    .into(),
            ));
        }
        let mut inner = Tokenizer::from_bytes(value.to_string().as_bytes())
            .map_err(|e| invalid(e.to_string()))?;
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

fn mentions_precompiled(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            map.get("type").and_then(|t| t.as_str()) == Some("Precompiled")
                || map.values().any(mentions_precompiled)
        }
        serde_json::Value::Array(items) => items.iter().any(mentions_precompiled),
        _ => false,
    }
}
