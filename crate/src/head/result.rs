//! One meme's scores in the single shape that both `memeclip classify --json` and the JS API
//! return: an object keyed by task, in the heads' order,
//! `{"hate": {"kind": "memeclip", "labels": [..], "probs": [..], "predicted": ".."}, ..}`.

use serde::Serialize;

use super::file::HeadFile;
use super::{argmax, softmax};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    /// `memeclip` (a trained head) or `zero-shot`.
    pub kind: &'static str,
    pub labels: Vec<String>,
    pub probs: Vec<f32>,
    pub predicted: String,
}

impl TaskResult {
    pub fn from_logits(head: &HeadFile, logits: &[f32]) -> Self {
        let labels = head.info.class_names.clone();
        TaskResult {
            kind: head.kind(),
            predicted: labels[argmax(logits)].clone(),
            probs: softmax(logits),
            labels,
        }
    }
}

/// Task name -> result, serialized as one object whose keys keep the heads' order.
#[derive(Debug, Clone, Default)]
pub struct TaskResults(pub Vec<(String, TaskResult)>);

impl Serialize for TaskResults {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (task, result) in &self.0 {
            map.serialize_entry(task, result)?;
        }
        map.end()
    }
}

/// Results are keyed by task, so two heads for one task would hide one of them.
pub fn check_unique_tasks(heads: &[HeadFile]) -> Result<()> {
    for (i, head) in heads.iter().enumerate() {
        if heads[..i].iter().any(|h| h.info.task == head.info.task) {
            return Err(Error::Invalid(format!(
                "two heads score the task `{}`; give each task one head",
                head.info.task
            )));
        }
    }
    Ok(())
}
