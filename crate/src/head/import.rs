//! Import of the official MemeCLIP checkpoint (PyTorch Lightning `.ckpt`, released for the hate
//! task): the head's tensors are taken from its `state_dict` by their official names.

use std::path::Path;

use burn::tensor::Device;
use pytorch_reader::{DType, PytorchReader};
use safetensors::Dtype;

use super::file::{HeadInfo, memeclip_from, save_memeclip};
use super::tasks::class_names;
use crate::clip::WeightSource;
use crate::clip::weights::{check_shape, decode_floats};
use crate::error::{Error, Result};

/// The tensors of a PyTorch checkpoint, read lazily by name.
pub struct CheckpointWeights {
    name: String,
    reader: PytorchReader,
}

impl CheckpointWeights {
    /// Opens `path`, looking for the weights under `state_dict` when the file has that key.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        if !path.exists() {
            return Err(Error::MissingFile { path: path.into() });
        }
        let reader = PytorchReader::with_top_level_key(path, "state_dict")
            .or_else(|_| PytorchReader::new(path))
            .map_err(|e| Error::config(&name, format!("not a readable PyTorch checkpoint: {e}")))?;
        Ok(CheckpointWeights { name, reader })
    }
}

impl WeightSource for CheckpointWeights {
    fn source_name(&self) -> &str {
        &self.name
    }

    fn shape_of(&self, key: &str) -> Option<Vec<usize>> {
        self.reader.get(key).map(|t| t.shape().to_vec())
    }

    fn read(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let tensor = self
            .reader
            .get(key)
            .ok_or_else(|| Error::tensor(&self.name, key, "missing"))?;
        check_shape(&self.name, key, tensor.shape(), shape)?;
        let dtype = match tensor.dtype() {
            DType::F32 => Dtype::F32,
            DType::F16 => Dtype::F16,
            DType::BF16 => Dtype::BF16,
            DType::F64 => Dtype::F64,
            other => {
                return Err(Error::tensor(
                    &self.name,
                    key,
                    format!("dtype {other:?} is not a float"),
                ));
            }
        };
        let bytes = tensor
            .read()
            .map_err(|e| Error::tensor(&self.name, key, e.to_string()))?;
        decode_floats(&bytes, dtype)
            .ok_or_else(|| Error::tensor(&self.name, key, format!("cannot decode {dtype:?}")))
    }
}

/// Writes the checkpoint's head as a head file for `task` (class names from the spec).
pub fn import_checkpoint(
    ckpt: &Path,
    task: &str,
    clip_model: &str,
    out: &Path,
) -> Result<HeadInfo> {
    let class_names = class_names(task).ok_or_else(|| {
        Error::Invalid(format!(
            "task `{task}` is unknown (expected hate, target, stance, humour or harmful)"
        ))
    })?;
    let weights = CheckpointWeights::open(ckpt)?;
    // The official configuration: ratio 0.2, scale 30, dropout 0.1 / 0.4 / 0.2.
    let head = memeclip_from(&weights, 0.2, 30.0, [0.1, 0.4, 0.2], &Device::flex())?;
    if head.num_classes() != class_names.len() {
        return Err(Error::tensor(
            weights.source_name(),
            "classifier.weight",
            format!(
                "{} classes, but task `{task}` has {}",
                head.num_classes(),
                class_names.len()
            ),
        ));
    }
    let info = HeadInfo {
        task: task.to_string(),
        class_names,
        clip_model: clip_model.to_string(),
    };
    save_memeclip(out, &head, &info)?;
    Ok(info)
}
