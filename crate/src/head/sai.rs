//! Semantic-Aware Initialization (spec §1.4): classifier rows from the CLIP text embeddings of
//! "a photo of a {class}." mapped through the transposed visual projection.

use burn::tensor::Tensor;

use super::divide_by_norm;
use super::tasks::prompt;
use crate::clip::Clip;
use crate::data::ClipTokenizer;
use crate::error::Result;

/// `[classes, vision hidden size]`, each row of unit norm.
pub fn sai_weights(
    clip: &Clip,
    tokenizer: &ClipTokenizer,
    class_names: &[String],
) -> Result<Tensor<2>> {
    let prompts: Vec<String> = class_names.iter().map(|c| prompt(c)).collect();
    let embeds = clip.encode_texts(&tokenizer.encode_all(&prompts)?)?.embeds;
    // The projection is stored `[vision hidden, projection]`, so its transpose maps back.
    let projection = clip.vision.projection().weight().clone().transpose();
    Ok(divide_by_norm(
        divide_by_norm(embeds, 0.0).matmul(projection),
        0.0,
    ))
}
