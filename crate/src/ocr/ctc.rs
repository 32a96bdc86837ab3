//! The recognizer's classes and greedy CTC decoding.

use crate::error::{Error, Result};

/// The recognizer's output classes: 0 is the CTC blank, then the dictionary's characters one per
/// line, then a space.
pub struct Dictionary {
    chars: Vec<String>,
}

impl Dictionary {
    /// Parses the dictionary file's text (`file` names it in errors).
    pub fn parse(text: &str, file: &str) -> Result<Self> {
        let mut chars = vec![String::new()];
        for line in text.split('\n') {
            chars.push(line.strip_suffix('\r').unwrap_or(line).to_string());
        }
        // The file ends with a newline: the empty string after it is not a character.
        if chars.last().is_some_and(|c| c.is_empty()) && chars.len() > 1 {
            chars.pop();
        }
        if chars.len() < 2 {
            return Err(Error::config(file, "the character dictionary is empty"));
        }
        chars.push(" ".to_string());
        Ok(Dictionary { chars })
    }

    /// Classes including the blank and the space.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.len() <= 1
    }

    pub fn char(&self, class: usize) -> &str {
        &self.chars[class]
    }

    /// The dictionary file's entries: every class but the blank and the space.
    pub fn entries(&self) -> &[String] {
        &self.chars[1..self.chars.len() - 1]
    }
}

/// A decoded line: its text and the mean probability of the characters kept (0 for none).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    pub confidence: f32,
}

/// Greedy CTC over each step's most likely class and its probability: repeats merged, blanks
/// dropped.
pub fn decode(best: &[(usize, f32)], dict: &Dictionary) -> Decoded {
    let mut text = String::new();
    let (mut sum, mut kept) = (0.0f32, 0usize);
    let mut previous = usize::MAX;
    for &(class, p) in best {
        if class != 0 && class != previous {
            text.push_str(dict.char(class));
            sum += p;
            kept += 1;
        }
        previous = class;
    }
    Decoded {
        text,
        confidence: if kept == 0 { 0.0 } else { sum / kept as f32 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_repeats_and_drops_blanks() {
        let dict = Dictionary::parse("a\nb\n", "dict.txt").unwrap();
        assert_eq!(dict.len(), 4); // blank, a, b, space
        // Steps: a, a, blank, a, space, b, b.
        let steps = [
            (1, 0.9),
            (1, 0.7),
            (0, 0.8),
            (1, 0.6),
            (3, 0.5),
            (2, 0.4),
            (2, 0.9),
        ];
        let out = decode(&steps, &dict);
        assert_eq!(out.text, "aa b");
        // Kept: the first a (0.9), the a after the blank (0.6), the space (0.5), the first b (0.4).
        assert!((out.confidence - (0.9 + 0.6 + 0.5 + 0.4) / 4.0).abs() < 1e-6);
        assert_eq!(
            decode(&[(0, 0.9)], &dict),
            Decoded {
                text: String::new(),
                confidence: 0.0
            }
        );
    }
}
