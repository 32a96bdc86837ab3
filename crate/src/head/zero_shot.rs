//! Plain CLIP zero-shot classification, for users without training data: the image embedding
//! (optionally fused with the meme text's embedding) against "a photo of a {class}." prompts.

use burn::tensor::Tensor;

use super::divide_by_norm;
use super::tasks::prompt;
use crate::clip::Clip;
use crate::data::ClipTokenizer;
use crate::error::{Error, Result};

pub struct ZeroShotHead {
    /// L2-normalized `text_embeds` of the class prompts, `[classes, projection_dim]`.
    pub prompt_embeds: Tensor<2>,
    /// CLIP's learned temperature, as stored (the logits use its exponential).
    pub logit_scale: f32,
    /// Average the normalized image and meme-text embeddings before scoring.
    pub fuse_text: bool,
}

impl ZeroShotHead {
    /// A head over "a photo of a {class}." prompts.
    pub fn from_class_names(
        clip: &Clip,
        tokenizer: &ClipTokenizer,
        class_names: &[String],
        fuse_text: bool,
    ) -> Result<Self> {
        let prompts: Vec<String> = class_names.iter().map(|c| prompt(c)).collect();
        Self::from_prompts(clip, tokenizer, &prompts, fuse_text)
    }

    /// A head with one class per prompt.
    pub fn from_prompts(
        clip: &Clip,
        tokenizer: &ClipTokenizer,
        prompts: &[String],
        fuse_text: bool,
    ) -> Result<Self> {
        if prompts.len() < 2 {
            return Err(Error::Invalid(format!(
                "zero-shot needs at least two classes, got {prompts:?}"
            )));
        }
        let ids = tokenizer.encode_all(prompts)?;
        let embeds = clip.encode_texts(&ids)?.embeds;
        Ok(ZeroShotHead {
            prompt_embeds: divide_by_norm(embeds, 1e-12),
            logit_scale: clip.logit_scale,
            fuse_text,
        })
    }

    /// Logits `[B, classes]` from `image_embeds` and the meme texts' `text_embeds`.
    pub fn forward(&self, image_embeds: Tensor<2>, text_embeds: Tensor<2>) -> Tensor<2> {
        let mut query = divide_by_norm(image_embeds, 1e-12);
        if self.fuse_text {
            query = divide_by_norm(query + divide_by_norm(text_embeds, 1e-12), 1e-12);
        }
        query.matmul(self.prompt_embeds.clone().transpose()) * (self.logit_scale as f64).exp()
    }
}
