//! A CLIP folder in the Hugging Face layout, loaded as one ready-to-use pipeline:
//! config.json + model.safetensors + tokenizer.json (+ optional preprocessor_config.json).

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use crate::clip::{Clip, ClipConfig, Kernels, SafetensorsWeights};
use crate::data::{ClipTokenizer, PreprocessMode, Preprocessor};
use crate::error::{Error, Result};

pub struct ClipPipeline {
    pub clip: Clip,
    pub tokenizer: ClipTokenizer,
    pub preprocessor: Preprocessor,
}

/// Text features for a batch, one row per text in input order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TextFeatures {
    pub input_ids: Vec<Vec<u32>>,
    pub text_pooled: Vec<Vec<f32>>,
    pub text_embeds: Vec<Vec<f32>>,
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// The files of a Hugging Face CLIP folder, read and checked but not yet on a device.
pub struct ClipFolder {
    pub config: ClipConfig,
    pub tokenizer_json: Vec<u8>,
    pub tokenizer: ClipTokenizer,
    pub preprocessor: Preprocessor,
    pub weights: SafetensorsWeights,
}

impl ClipFolder {
    pub fn open(dir: &Path, mode: PreprocessMode) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "{}: not a folder (expected a Hugging Face CLIP folder)",
                dir.display()
            )));
        }
        let config_path = dir.join("config.json");
        let config = ClipConfig::from_json(
            &read_text(&config_path)?,
            &config_path.display().to_string(),
        )?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer_json =
            std::fs::read(&tokenizer_path).map_err(|e| Error::io(&tokenizer_path, e))?;
        let tokenizer = ClipTokenizer::from_bytes(
            &tokenizer_json,
            &tokenizer_path.display().to_string(),
            config.text.max_positions,
        )?;
        let preprocessor_path = dir.join("preprocessor_config.json");
        let preprocessor = if preprocessor_path.exists() {
            Preprocessor::from_hf_json(
                &read_text(&preprocessor_path)?,
                &preprocessor_path.display().to_string(),
                mode,
            )?
        } else {
            Preprocessor::openai(config.vision.image_size, mode)
        };
        if preprocessor.crop_size != config.vision.image_size {
            return Err(Error::config(
                preprocessor_path.display().to_string(),
                format!(
                    "crop_size {} differs from the vision tower's image_size {}",
                    preprocessor.crop_size, config.vision.image_size
                ),
            ));
        }
        let weights_path = dir.join("model.safetensors");
        if !weights_path.exists() && dir.join("pytorch_model.bin").exists() {
            return Err(Error::Invalid(format!(
                "{}: missing; only safetensors weights are read (pytorch_model.bin is not)",
                weights_path.display()
            )));
        }
        let weights = SafetensorsWeights::open(&weights_path)?;
        Ok(ClipFolder {
            config,
            tokenizer_json,
            tokenizer,
            preprocessor,
            weights,
        })
    }
}

impl ClipPipeline {
    /// The folder's CLIP on the fastest f32 kernels for `device`.
    pub fn from_folder(dir: &Path, mode: PreprocessMode, device: &Device) -> Result<Self> {
        Self::from_folder_on(dir, mode, device, Kernels::float_for(device))
    }

    pub fn from_folder_on(
        dir: &Path,
        mode: PreprocessMode,
        device: &Device,
        kernels: Kernels,
    ) -> Result<Self> {
        let folder = ClipFolder::open(dir, mode)?;
        let clip = Clip::load(
            &folder.config,
            &folder.weights,
            folder.tokenizer.eos_id(),
            device,
            kernels,
        )?;
        Ok(ClipPipeline {
            clip,
            tokenizer: folder.tokenizer,
            preprocessor: folder.preprocessor,
        })
    }

    /// Normalized pixels for a batch of images, `[B, 3, S, S]`.
    pub fn pixel_batch(&self, images: &[RgbImage]) -> Result<Tensor<4>> {
        let s = self.preprocessor.crop_size;
        let mut values = Vec::with_capacity(images.len() * 3 * s * s);
        for image in images {
            values.extend(self.preprocessor.pixels(image)?);
        }
        Ok(Tensor::from_data(
            TensorData::new(values, [images.len(), 3, s, s]),
            self.clip.device(),
        ))
    }

    /// `image_embeds`, one row per image.
    pub fn embed_images(&self, images: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        rows(self.clip.encode_images(self.pixel_batch(images)?)?)
    }

    pub fn embed_texts(&self, texts: &[String]) -> Result<TextFeatures> {
        let input_ids = self.tokenizer.encode_all(texts)?;
        let out = self.clip.encode_texts(&input_ids)?;
        Ok(TextFeatures {
            input_ids,
            text_pooled: rows(out.pooled)?,
            text_embeds: rows(out.embeds)?,
        })
    }
}

/// Reads a `[N, D]` tensor back as N rows.
pub fn rows(tensor: Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [_, d] = tensor.dims();
    let values = tensor
        .try_into_data()
        .map_err(|e| Error::Backend(format!("reading results: {e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| Error::Backend(format!("reading results: {e:?}")))?;
    Ok(values.chunks(d.max(1)).map(<[f32]>::to_vec).collect())
}
