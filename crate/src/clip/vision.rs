//! The ViT image tower: patches, class token, positions, pre-LN, blocks, post-LN, projection.

use burn::tensor::Tensor;

use super::config::VisionConfig;
use super::layers::{Encoder, KernelLinear, LayerNorm, Linear, int8_codes};
use super::weights::{Kernels, WeightLoader, transpose};
use crate::error::{Error, Result};

pub struct VisionTower {
    config: VisionConfig,
    /// The patch embedding, a stride-p convolution, as the same product over flattened
    /// patches (the weight `[d, 3, p, p]` read as `[d, 3·p·p]`): one matrix product on every
    /// device, where burn's convolution took a fifteenth of a ViT-B/32 batch of 8 on flex and
    /// runs a direct-convolution kernel on wgpu.
    patches: KernelLinear,
    class_embedding: Tensor<1>,
    positions: Tensor<2>,
    pre_norm: LayerNorm,
    encoder: Encoder,
    post_norm: LayerNorm,
    projection: Linear,
}

impl VisionTower {
    pub fn load(w: &WeightLoader, config: &VisionConfig, projection_dim: usize) -> Result<Self> {
        let c = &config.tower;
        let (d, p, eps) = (c.hidden_size, config.patch_size, c.layer_norm_eps);
        let e = "vision_model.embeddings";
        let key = format!("{e}.patch_embedding.weight");
        let patches = match w.kernels {
            Kernels::Float | Kernels::Fused => {
                let torch = w.source.read(&key, &[d, 3, p, p])?;
                KernelLinear::f32(w, transpose(&torch, d, 3 * p * p), [3 * p * p, d], None)
            }
            Kernels::Int8 => {
                let codes = int8_codes(w, &key, &[d, 3, p, p], 3 * p * p)?;
                KernelLinear::int8(w, &key, codes, d, 3 * p * p, None)?
            }
        };
        Ok(VisionTower {
            config: config.clone(),
            patches,
            class_embedding: w.tensor(&format!("{e}.class_embedding"), [d])?,
            positions: w.tensor(
                &format!("{e}.position_embedding.weight"),
                [config.num_patches() + 1, d],
            )?,
            // The misspelling is transformers' own key name.
            pre_norm: LayerNorm::load(w, "vision_model.pre_layrnorm", d, eps)?,
            encoder: Encoder::load(w, "vision_model.encoder", c, false)?,
            post_norm: LayerNorm::load(w, "vision_model.post_layernorm", d, eps)?,
            projection: Linear::load(w, "visual_projection", d, projection_dim, false)?,
        })
    }

    /// `[B, 3, S, S]` normalized pixels (S = the config's image_size) to `image_embeds` `[B, P]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Result<Tensor<2>> {
        let [batch, channels, h, w] = pixels.dims();
        let s = self.config.image_size;
        if channels != 3 || h != s || w != s {
            return Err(Error::Invalid(format!(
                "vision tower expects pixels [B, 3, {s}, {s}], got [{batch}, {channels}, {h}, {w}]"
            )));
        }
        let d = self.config.tower.hidden_size;
        let p = self.config.patch_size;
        // [B, 3, g·p, g·p] to [B, g·g, 3·p·p], each patch's values in (channel, row, column)
        // order, the weight's own order.
        let g = s / p;
        let flat = pixels
            .reshape([batch, 3, g, p, g, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([batch, g * g, 3 * p * p]);
        let patches = self.patches.forward(flat);
        let class = self
            .class_embedding
            .clone()
            .reshape([1, 1, d])
            .expand([batch, 1, d]);
        let tokens = Tensor::cat(vec![class, patches], 1) + self.positions.clone().unsqueeze();
        let hidden = self.encoder.forward(self.pre_norm.forward(tokens));
        let class_out = hidden.narrow(1, 0, 1).reshape([batch, d]);
        Ok(self.projection.forward(self.post_norm.forward(class_out)))
    }

    pub fn projection(&self) -> &Linear {
        &self.projection
    }
}
