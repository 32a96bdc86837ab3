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
}

/// A decoded line: its text and the mean probability of the characters kept (0 for none).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    pub confidence: f32,
}

/// Greedy CTC: the most likely class per step, repeats merged, blanks dropped. `probs` holds
/// `steps` rows of `dict.len()` probabilities.
pub fn decode(probs: &[f32], steps: usize, dict: &Dictionary) -> Decoded {
    let classes = dict.len();
    let mut text = String::new();
    let (mut sum, mut kept) = (0.0f32, 0usize);
    let mut previous = usize::MAX;
    for row in probs.chunks_exact(classes).take(steps) {
        let (best, p) = row
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |(bi, bp), (i, &p)| {
                if p > bp { (i, p) } else { (bi, bp) }
            });
        if best != 0 && best != previous {
            text.push_str(dict.char(best));
            sum += p;
            kept += 1;
        }
        previous = best;
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
        let one_hot = |c: usize, p: f32| {
            let mut row = vec![(1.0 - p) / 3.0; 4];
            row[c] = p;
            row
        };
        let steps = [
            (1, 0.9),
            (1, 0.7),
            (0, 0.8),
            (1, 0.6),
            (3, 0.5),
            (2, 0.4),
            (2, 0.9),
        ];
        let probs: Vec<f32> = steps.iter().flat_map(|&(c, p)| one_hot(c, p)).collect();
        let out = decode(&probs, steps.len(), &dict);
        assert_eq!(out.text, "aa b");
        // Kept: the first a (0.9), the a after the blank (0.6), the space (0.5), the first b (0.4).
        assert!((out.confidence - (0.9 + 0.6 + 0.5 + 0.4) / 4.0).abs() < 1e-6);
        assert_eq!(decode(&one_hot(0, 0.9), 1, &dict).confidence, 0.0);
    }
}
