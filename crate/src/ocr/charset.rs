//! Which characters the recognizer may output.
//!
//! PP-OCRv5's CTC head scores about 18,400 classes, nearly all of them CJK. Memes in Latin
//! script use about a thousand; scoring only those makes the head's matrix product, its softmax
//! and the read-back 18 times smaller (about a quarter of a line's recognition time natively).
//! Dropping a class only removes a column of the last linear layer, so the logits of the kept
//! classes are unchanged and a line reads the same unless its best class was a dropped one.

use super::ctc::Dictionary;
use super::onnx::OnnxWeights;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "native", derive(clap::ValueEnum))]
pub enum Charset {
    /// Latin letters with their accents, digits, punctuation, currency and common symbols
    #[default]
    Latin,
    /// Every character of the model's dictionary (Chinese, Japanese, ...)
    Full,
}

impl Charset {
    /// Whether a dictionary entry stays.
    pub fn keeps(self, entry: &str) -> bool {
        let mut chars = entry.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return self == Charset::Full;
        };
        match self {
            Charset::Full => true,
            // Basic Latin to Latin Extended-B, Latin Extended Additional, and General
            // Punctuation up to Miscellaneous Symbols (dashes, quotes, ellipsis, currency,
            // arrows, maths, boxes, stars, hearts).
            Charset::Latin => {
                (c as u32) < 0x250
                    || ('\u{1E00}'..='\u{1EFF}').contains(&c)
                    || ('\u{2000}'..='\u{26FF}').contains(&c)
            }
        }
    }
}

/// Prunes a recognizer (its ONNX weights and its dictionary file's text; `file` names the
/// dictionary in errors) to `charset`: returns the dictionary's new text and drops the other
/// classes from every parameter whose last axis runs over the classes (the head's weight and
/// bias).
pub fn prune(
    rec: &mut OnnxWeights,
    dictionary: &str,
    file: &str,
    charset: Charset,
) -> Result<String> {
    if charset == Charset::Full {
        return Ok(dictionary.to_string());
    }
    let dict = Dictionary::parse(dictionary, file)?;
    let entries = dict.entries();
    let classes = dict.len();
    // The blank (0), the kept entries (1..), the space (last).
    let mut keep = vec![0];
    keep.extend(
        (0..entries.len())
            .filter(|&i| charset.keeps(&entries[i]))
            .map(|i| i + 1),
    );
    keep.push(classes - 1);
    let pruned = rec.select_last_axis(classes, &keep);
    if pruned != 2 {
        return Err(Error::config(
            rec.file(),
            format!(
                "{pruned} parameters end in an axis of {classes} (the dictionary's classes) \
                 where the recognizer's head has 2 (weight and bias): the dictionary does not \
                 fit this recognizer"
            ),
        ));
    }
    let mut text = String::new();
    for &class in &keep[1..keep.len() - 1] {
        text.push_str(&entries[class - 1]);
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::Charset;

    #[test]
    fn latin_keeps_latin_punctuation_and_symbols_only() {
        for kept in [
            "a", "Z", "7", "é", "ß", "ł", "ț", "ẞ", "—", "’", "…", "€", "■", "♥",
        ] {
            assert!(Charset::Latin.keeps(kept), "{kept}");
        }
        for dropped in ["中", "の", "한", "Я", "α", "ab", ""] {
            assert!(!Charset::Latin.keeps(dropped), "{dropped}");
        }
        assert!(Charset::Full.keeps("中") && Charset::Full.keeps(""));
    }
}
