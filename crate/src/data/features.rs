//! The feature cache: one safetensors file holding the frozen CLIP's outputs for a dataset, so
//! training never runs CLIP. Documented layout (any tool may write it):
//! - `image_features` f32 `[N, Di]`: `image_embeds`; `text_features` f32 `[N, Dt]`: `text_pooled`
//! - `split` u8 `[N]`: 0 train, 1 val, 2 test
//! - `label_<task>` i64 `[N]` per task, -1 where a row has no label for it
//! - metadata: `format` = `memeclip-features`, `version` = `1`, `names` (JSON list of row names),
//!   `tasks` (JSON list), `class_names` (JSON object task -> list), `clip_model`, `preprocess`,
//!   and `clip_vision_width` (the vision tower's width, the head's mapped width).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::Dtype;

use crate::clip::SafetensorsWeights;
use crate::clip::weights::{RawTensor, write_raw_safetensors};
use crate::error::{Error, Result};

pub const FORMAT: &str = "memeclip-features";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train = 0,
    Val = 1,
    Test = 2,
}

impl Split {
    pub fn parse(s: &str) -> Option<Split> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" => Some(Split::Train),
            "val" | "valid" | "validation" | "dev" => Some(Split::Val),
            "test" => Some(Split::Test),
            _ => None,
        }
    }

    fn from_code(code: u8) -> Option<Split> {
        [Split::Train, Split::Val, Split::Test]
            .get(code as usize)
            .copied()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub image_dim: usize,
    pub text_dim: usize,
    pub image: Vec<f32>,
    pub text: Vec<f32>,
    pub split: Vec<Split>,
    /// Task name -> one label per row (-1: none).
    pub labels: BTreeMap<String, Vec<i64>>,
    pub class_names: BTreeMap<String, Vec<String>>,
    pub names: Vec<String>,
    pub clip_model: String,
    pub clip_vision_width: usize,
    pub preprocess: String,
}

impl Features {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn image_row(&self, i: usize) -> &[f32] {
        &self.image[i * self.image_dim..(i + 1) * self.image_dim]
    }

    pub fn text_row(&self, i: usize) -> &[f32] {
        &self.text[i * self.text_dim..(i + 1) * self.text_dim]
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let n = self.len();
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut tensors: Vec<RawTensor> = vec![
            (
                "image_features".into(),
                Dtype::F32,
                vec![n, self.image_dim],
                f32_bytes(&self.image),
            ),
            (
                "text_features".into(),
                Dtype::F32,
                vec![n, self.text_dim],
                f32_bytes(&self.text),
            ),
            (
                "split".into(),
                Dtype::U8,
                vec![n],
                self.split.iter().map(|s| *s as u8).collect(),
            ),
        ];
        for (task, labels) in &self.labels {
            let bytes = labels.iter().flat_map(|x| x.to_le_bytes()).collect();
            tensors.push((format!("label_{task}"), Dtype::I64, vec![n], bytes));
        }
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("version".to_string(), "1".to_string()),
            ("names".to_string(), to_json(&self.names)),
            (
                "tasks".to_string(),
                to_json(&self.labels.keys().cloned().collect::<Vec<_>>()),
            ),
            ("class_names".to_string(), to_json(&self.class_names)),
            ("clip_model".to_string(), self.clip_model.clone()),
            (
                "clip_vision_width".to_string(),
                self.clip_vision_width.to_string(),
            ),
            ("preprocess".to_string(), self.preprocess.clone()),
        ]);
        write_raw_safetensors(path, &tensors, metadata)
    }

    /// Reads and checks a features file; every error names the file and the tensor or field.
    pub fn load(path: &Path) -> Result<Self> {
        let file = SafetensorsWeights::open(path)?;
        let name = path.display().to_string();
        let meta = file.metadata();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(Error::config(
                &name,
                format!("not a features file (metadata `format` should be `{FORMAT}`)"),
            ));
        }
        let field = |key: &str| -> Result<&String> {
            meta.get(key)
                .ok_or_else(|| Error::config(&name, format!("metadata `{key}` is missing")))
        };
        let names: Vec<String> = serde_json::from_str(field("names")?)
            .map_err(|e| Error::config(&name, format!("metadata `names`: {e}")))?;
        let n = names.len();
        let matrix = |key: &str| -> Result<(usize, Vec<f32>)> {
            let shape = file
                .shape(key)
                .ok_or_else(|| Error::tensor(&name, key, "missing"))?
                .to_vec();
            if shape.len() != 2 || shape[0] != n {
                return Err(Error::tensor(
                    &name,
                    key,
                    format!("shape is {shape:?}, expected [{n}, D] for {n} rows"),
                ));
            }
            Ok((
                shape[1],
                crate::clip::WeightSource::read(&file, key, &shape)?,
            ))
        };
        let (image_dim, image) = matrix("image_features")?;
        let (text_dim, text) = matrix("text_features")?;
        let raw = |key: &str, dtype: Dtype| -> Result<&[u8]> {
            match file.raw(key) {
                None => Err(Error::tensor(&name, key, "missing")),
                Some((d, shape, bytes)) if d == dtype && shape == [n] => Ok(bytes),
                Some((d, shape, _)) => Err(Error::tensor(
                    &name,
                    key,
                    format!("is {d:?} {shape:?}, expected {dtype:?} [{n}]"),
                )),
            }
        };
        let split = raw("split", Dtype::U8)?
            .iter()
            .enumerate()
            .map(|(i, &code)| {
                Split::from_code(code).ok_or_else(|| {
                    Error::tensor(
                        &name,
                        "split",
                        format!("row {i}: split code {code} is not 0, 1 or 2"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let tasks: Vec<String> = serde_json::from_str(field("tasks")?)
            .map_err(|e| Error::config(&name, format!("metadata `tasks`: {e}")))?;
        let mut labels = BTreeMap::new();
        for task in tasks {
            let bytes = raw(&format!("label_{task}"), Dtype::I64)?;
            let values = bytes
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            labels.insert(task, values);
        }
        let class_names = match meta.get("class_names") {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| Error::config(&name, format!("metadata `class_names`: {e}")))?,
            None => BTreeMap::new(),
        };
        Ok(Features {
            image_dim,
            text_dim,
            image,
            text,
            split,
            labels,
            class_names,
            names,
            clip_model: meta.get("clip_model").cloned().unwrap_or_default(),
            clip_vision_width: meta
                .get("clip_vision_width")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            preprocess: meta.get("preprocess").cloned().unwrap_or_default(),
        })
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("metadata serializes")
}
