//! The feature cache: one safetensors file holding the frozen CLIP's outputs for a dataset, so
//! training never runs CLIP. Documented layout (any tool may write it):
//! - `image_features` f32 `[N, Di]`: `image_embeds`; `text_features` f32 `[N, Dt]`: `text_pooled`
//! - `split` u8 `[N]`: 0 train, 1 val, 2 test
//! - `label_<task>` i64 `[N]` per task, -1 where a row has no label for it
//! - metadata: `format` = `memeclip-features`, `version` = `1`, `names` (JSON list of row names),
//!   `tasks` (JSON list), `class_names` (JSON object task -> list), `clip_model`, `preprocess`,
//!   and `clip_vision_width` (the vision tower's width, the head's mapped width).
//!
//! Only the tensors are required: a file from another tool may leave out any metadata (see
//! [`Features::load_with_warnings`]) and use other integer types for `split` and the labels.

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

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
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
    /// Files written by this crate load without warnings; see [`Features::load_with_warnings`].
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with_warnings(path).map(|(features, _)| features)
    }

    /// Like [`Features::load`], also for files written by other tools: where only the tensors
    /// are there, `format` may be missing, the tasks are the `label_*` tensors, row names default
    /// to the row numbers, and `split` and labels may use any integer type. Each such gap comes
    /// back as a warning.
    pub fn load_with_warnings(path: &Path) -> Result<(Self, Vec<String>)> {
        let file = SafetensorsWeights::open(path)?;
        let name = path.display().to_string();
        let meta = file.metadata();
        let mut warnings = Vec::new();
        match meta.get("format").map(String::as_str) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(Error::config(
                    &name,
                    format!("metadata `format` is `{other}`, expected `{FORMAT}`"),
                ));
            }
            None => warnings.push(format!(
                "{name}: no metadata `format`; reading it as {FORMAT} by its tensors"
            )),
        }
        if let Some(version) = meta.get("version").filter(|v| v.as_str() != "1") {
            return Err(Error::config(
                &name,
                format!("metadata `version` is `{version}`; this memeclip reads version 1"),
            ));
        }
        let image_shape = file
            .shape("image_features")
            .ok_or_else(|| Error::tensor(&name, "image_features", "missing"))?;
        let n = image_shape.first().copied().unwrap_or(0);
        let names: Vec<String> = match meta.get("names") {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| Error::config(&name, format!("metadata `names`: {e}")))?,
            None => {
                warnings.push(format!(
                    "{name}: no metadata `names`; rows are named by their index"
                ));
                (0..n).map(|i| i.to_string()).collect()
            }
        };
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
        let integers = |key: &str| -> Result<Vec<i64>> {
            let (dtype, shape, bytes) = file
                .raw(key)
                .ok_or_else(|| Error::tensor(&name, key, "missing"))?;
            if shape != [n] {
                return Err(Error::tensor(
                    &name,
                    key,
                    format!("shape is {shape:?}, expected [{n}] for {n} rows"),
                ));
            }
            decode_integers(bytes, dtype).ok_or_else(|| {
                Error::tensor(
                    &name,
                    key,
                    format!(
                        "is {dtype:?}, expected an integer type (U8 for split, I64 for labels)"
                    ),
                )
            })
        };
        let split = integers("split")?
            .iter()
            .enumerate()
            .map(|(i, &code)| {
                u8::try_from(code)
                    .ok()
                    .and_then(Split::from_code)
                    .ok_or_else(|| {
                        Error::tensor(
                            &name,
                            "split",
                            format!("row {i}: split code {code} is not 0, 1 or 2"),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut tasks: Vec<String> = match meta.get("tasks") {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| Error::config(&name, format!("metadata `tasks`: {e}")))?,
            None => Vec::new(),
        };
        let mut label_keys: Vec<&str> = file
            .keys()
            .filter_map(|k| k.strip_prefix("label_"))
            .filter(|task| !task.is_empty())
            .collect();
        label_keys.sort_unstable();
        let unlisted: Vec<String> = label_keys
            .iter()
            .filter(|task| !tasks.iter().any(|t| t == *task))
            .map(|task| task.to_string())
            .collect();
        if !unlisted.is_empty() {
            if meta.contains_key("tasks") {
                warnings.push(format!(
                    "{name}: tensors label_{} are not in metadata `tasks`; read them as tasks",
                    unlisted.join(", label_")
                ));
            }
            tasks.extend(unlisted);
        }
        if tasks.is_empty() {
            warnings.push(format!(
                "{name}: no `label_<task>` tensor: the rows have no labels"
            ));
        }
        let mut labels = BTreeMap::new();
        for task in tasks {
            let key = format!("label_{task}");
            let values = integers(&key)?;
            if let Some((row, bad)) = values.iter().enumerate().find(|(_, l)| **l < -1) {
                return Err(Error::tensor(
                    &name,
                    &key,
                    format!("row {row}: label {bad} (labels are class ids, -1 for none)"),
                ));
            }
            labels.insert(task, values);
        }
        let class_names = match meta.get("class_names") {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| Error::config(&name, format!("metadata `class_names`: {e}")))?,
            None => BTreeMap::new(),
        };
        let clip_vision_width = match meta.get("clip_vision_width") {
            Some(v) => v.trim().parse().map_err(|_| {
                Error::config(
                    &name,
                    format!("metadata `clip_vision_width` is `{v}`, expected a whole number"),
                )
            })?,
            None => 0,
        };
        let features = Features {
            image_dim,
            text_dim,
            image,
            text,
            split,
            labels,
            class_names,
            names,
            clip_model: meta.get("clip_model").cloned().unwrap_or_default(),
            clip_vision_width,
            preprocess: meta.get("preprocess").cloned().unwrap_or_default(),
        };
        Ok((features, warnings))
    }
}

/// Little-endian integers of any safetensors integer type, widened to i64 (`None` for other
/// types; u64 values above i64::MAX saturate, and are then refused as out of range).
fn decode_integers(bytes: &[u8], dtype: Dtype) -> Option<Vec<i64>> {
    fn each<const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> i64) -> Vec<i64> {
        bytes
            .chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunk of N bytes")))
            .collect()
    }
    Some(match dtype {
        Dtype::U8 => bytes.iter().map(|&b| i64::from(b)).collect(),
        Dtype::I8 => bytes.iter().map(|&b| i64::from(b as i8)).collect(),
        Dtype::I16 => each(bytes, |b| i64::from(i16::from_le_bytes(b))),
        Dtype::U16 => each(bytes, |b| i64::from(u16::from_le_bytes(b))),
        Dtype::I32 => each(bytes, |b| i64::from(i32::from_le_bytes(b))),
        Dtype::U32 => each(bytes, |b| i64::from(u32::from_le_bytes(b))),
        Dtype::I64 => each(bytes, i64::from_le_bytes),
        Dtype::U64 => each(bytes, |b| {
            i64::try_from(u64::from_le_bytes(b)).unwrap_or(i64::MAX)
        }),
        _ => return None,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("metadata serializes")
}
