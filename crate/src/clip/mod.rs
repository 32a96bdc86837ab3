//! OpenAI CLIP as Hugging Face's `CLIPModel` computes it: a ViT image tower and a causal text tower.

pub mod config;
mod layers;
pub mod random;
pub mod text;
pub mod vision;
pub mod weights;

use burn::tensor::{Device, Tensor};

pub use config::{Activation, ClipConfig};
pub use layers::Linear;
pub use text::TextOutputs;
pub use weights::{Kernels, SafetensorsWeights, WeightLoader, WeightSource};

use crate::error::Result;

pub struct Clip {
    pub config: ClipConfig,
    pub vision: vision::VisionTower,
    pub text: text::TextTower,
    /// CLIP's learned temperature (log scale), for zero-shot logits.
    pub logit_scale: f32,
    device: Device,
}

impl Clip {
    /// Loads both towers from `source` (transformers' key names) onto `device`, with the
    /// transformer blocks' linear layers on `kernels`.
    pub fn load(
        config: &ClipConfig,
        source: &dyn WeightSource,
        eos_token_id: u32,
        device: &Device,
        kernels: Kernels,
    ) -> Result<Self> {
        kernels.check_device(device)?;
        let w = WeightLoader {
            source,
            device,
            kernels,
        };
        Ok(Clip {
            config: config.clone(),
            vision: vision::VisionTower::load(&w, &config.vision, config.projection_dim)?,
            text: text::TextTower::load(&w, &config.text, config.projection_dim, eos_token_id)?,
            logit_scale: source.read("logit_scale", &[])?[0],
            device: device.clone(),
        })
    }

    /// `image_embeds` for normalized pixels `[B, 3, S, S]`.
    pub fn encode_images(&self, pixels: Tensor<4>) -> Result<Tensor<2>> {
        self.vision.forward(pixels)
    }

    /// `text_pooled` and `text_embeds` for tokenized texts.
    pub fn encode_texts(&self, sequences: &[Vec<u32>]) -> Result<TextOutputs> {
        self.text.forward(sequences, &self.device)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}
