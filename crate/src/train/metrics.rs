//! Classification metrics, computed two ways (spec §2.4):
//! - proper, dataset-level: accuracy, macro-F1 and macro one-vs-rest AUROC on softmax probabilities;
//! - code-faithful, as the official code logs them: per batch of 16, sigmoid-scored AUROC, then a
//!   batch-size-weighted mean (torchmetrics' per-batch corner cases included).

use serde::Serialize;

pub use crate::head::{argmax, softmax};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub auroc: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub count: usize,
    /// Dataset-level metrics.
    pub proper: Metrics,
    /// The official code's per-batch variant.
    pub code_faithful: Metrics,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

pub fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    right as f64 / labels.len().max(1) as f64
}

/// Macro-F1 over the classes that occur among the labels or the predictions (scikit-learn's
/// `f1_score(average="macro")`, and torchmetrics' rule of dropping classes with no TP, FP or FN).
pub fn macro_f1(predicted: &[usize], labels: &[usize], classes: usize) -> f64 {
    let mut scores = Vec::new();
    for c in 0..classes {
        let tp = predicted
            .iter()
            .zip(labels)
            .filter(|&(&p, &l)| p == c && l == c)
            .count();
        let fp = predicted
            .iter()
            .zip(labels)
            .filter(|&(&p, &l)| p == c && l != c)
            .count();
        let fne = predicted
            .iter()
            .zip(labels)
            .filter(|&(&p, &l)| p != c && l == c)
            .count();
        if tp + fp + fne > 0 {
            scores.push(2.0 * tp as f64 / (2 * tp + fp + fne) as f64);
        }
    }
    scores.iter().sum::<f64>() / scores.len().max(1) as f64
}

/// Area under the ROC curve of `scores` for the positives: the Mann-Whitney statistic with ties
/// counted half. `None` without both positives and negatives.
pub fn binary_auroc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks (1-based) over runs of equal scores.
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    let pos = positive.iter().filter(|&&p| p).count();
    let neg = positive.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r)
        .sum();
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
}

/// Macro one-vs-rest AUROC of per-class scores. `undefined` is what a class without positives or
/// negatives counts as (`None`: left out of the mean).
fn macro_auroc(
    scores: &[Vec<f32>],
    labels: &[usize],
    classes: usize,
    undefined: Option<f64>,
) -> f64 {
    let values: Vec<f64> = (0..classes)
        .filter_map(|c| {
            let column: Vec<f32> = scores.iter().map(|row| row[c]).collect();
            let positive: Vec<bool> = labels.iter().map(|&l| l == c).collect();
            binary_auroc(&column, &positive).or(undefined)
        })
        .collect();
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The official code's metrics for one batch: sigmoid scores, and a class that has no positives
/// (or no negatives) in the batch scores 0 AUROC, as torchmetrics does.
fn batch_metrics(logits: &[Vec<f32>], labels: &[usize], classes: usize) -> Metrics {
    let predicted: Vec<usize> = logits.iter().map(|r| argmax(r)).collect();
    let scores: Vec<Vec<f32>> = logits
        .iter()
        .map(|r| r.iter().map(|&v| sigmoid(v)).collect())
        .collect();
    Metrics {
        accuracy: accuracy(&predicted, labels),
        macro_f1: macro_f1(&predicted, labels, classes),
        auroc: macro_auroc(&scores, labels, classes, Some(0.0)),
    }
}

/// Both metric sets and the confusion matrix for logits `[N][classes]` and labels in `0..classes`.
pub fn evaluate(logits: &[Vec<f32>], labels: &[usize], classes: usize, batch: usize) -> Report {
    let predicted: Vec<usize> = logits.iter().map(|r| argmax(r)).collect();
    let probs: Vec<Vec<f32>> = logits.iter().map(|r| softmax(r)).collect();
    let proper = Metrics {
        accuracy: accuracy(&predicted, labels),
        macro_f1: macro_f1(&predicted, labels, classes),
        auroc: macro_auroc(&probs, labels, classes, None),
    };
    let mut sums = [0.0; 3];
    for (l, y) in logits.chunks(batch.max(1)).zip(labels.chunks(batch.max(1))) {
        let m = batch_metrics(l, y, classes);
        let w = y.len() as f64;
        sums[0] += m.accuracy * w;
        sums[1] += m.macro_f1 * w;
        sums[2] += m.auroc * w;
    }
    let n = labels.len().max(1) as f64;
    let mut confusion = vec![vec![0; classes]; classes];
    for (&p, &l) in predicted.iter().zip(labels) {
        confusion[l][p] += 1;
    }
    Report {
        count: labels.len(),
        proper,
        code_faithful: Metrics {
            accuracy: sums[0] / n,
            macro_f1: sums[1] / n,
            auroc: sums[2] / n,
        },
        confusion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_by_hand() {
        // Positives 0.8, 0.4; negatives 0.6, 0.2: pairs won 3 of 4.
        let auc = binary_auroc(&[0.8, 0.6, 0.4, 0.2], &[true, false, true, false]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
        // A tie between a positive and a negative counts half.
        let auc = binary_auroc(&[0.5, 0.5], &[true, false]).unwrap();
        assert!((auc - 0.5).abs() < 1e-12);
        assert!(binary_auroc(&[0.1, 0.2], &[true, true]).is_none());
    }

    #[test]
    fn f1_ignores_absent_classes() {
        // Class 2 never occurs: macro over classes 0 and 1 only (with it, 4/9). Class 0: P=1,
        // R=1/2 -> 2/3; class 1: P=1/2, R=1 -> 2/3.
        let f1 = macro_f1(&[0, 1, 1], &[0, 0, 1], 3);
        assert!((f1 - 2.0 / 3.0).abs() < 1e-12);
    }
}
