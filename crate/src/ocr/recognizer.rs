//! The PP-OCRv5 mobile line recognizer: PP-LCNetV3 (scale 0.95) with strides that keep the
//! line's width, the SVTR neck (convs around two global-attention blocks over the columns) and a
//! CTC head over the dictionary.

use burn::tensor::activation::softmax;
use burn::tensor::module::{attention, avg_pool2d};
use burn::tensor::ops::{AttentionModuleOptions, AvgPoolOptions};
use burn::tensor::{Device, Tensor};

use super::layers::{ConvNormSwish, LayerNorm, Linear, Params};
use super::lcnet::{BlockSpec, LcNet, block};
use crate::clip::Kernels;
use crate::clip::weights::WeightSource;
use crate::error::Result;

const S1: [usize; 2] = [1, 1];
/// Halves the height only: a text line keeps its columns.
const S_H: [usize; 2] = [2, 1];
const S_W: [usize; 2] = [1, 2];

const STAGES: [&[BlockSpec]; 5] = [
    &[block(3, 16, 32, S1, false)],
    &[block(3, 32, 64, S1, false), block(3, 64, 64, S1, false)],
    &[block(3, 64, 128, S_H, false), block(3, 128, 128, S1, false)],
    &[
        block(3, 128, 240, S_W, false),
        block(5, 240, 240, S1, false),
        block(5, 240, 240, S1, false),
        block(5, 240, 240, S1, false),
        block(5, 240, 240, S1, false),
    ],
    &[
        block(5, 240, 480, S_H, true),
        block(5, 480, 480, S1, true),
        block(5, 480, 480, S_H, false),
        block(5, 480, 480, S1, false),
    ],
];

/// The height every line is resized to.
pub const HEIGHT: usize = 48;
/// Input columns per output step.
pub const COLUMNS_PER_STEP: usize = 8;

const FEATURES: usize = 480;
const WIDTH: usize = 120;
const HEADS: usize = 8;
const DEPTH: usize = 2;

/// Pre-norm transformer block with global attention and a swish MLP.
struct SvtrBlock {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl SvtrBlock {
    fn load(p: &Params) -> Result<Self> {
        Ok(SvtrBlock {
            norm1: LayerNorm::load(p, WIDTH, 1e-5)?,
            qkv: Linear::load(p, WIDTH, 3 * WIDTH)?,
            proj: Linear::load(p, WIDTH, WIDTH)?,
            norm2: LayerNorm::load(p, WIDTH, 1e-5)?,
            fc1: Linear::load(p, WIDTH, 2 * WIDTH)?,
            fc2: Linear::load(p, 2 * WIDTH, WIDTH)?,
        })
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, steps, _] = x.dims();
        let head = WIDTH / HEADS;
        let qkv = self
            .qkv
            .forward(self.norm1.forward(x.clone()))
            .reshape([batch, steps, 3, HEADS, head]);
        // [batch, heads, steps, head] for each of q, k, v.
        let part = |i: usize| {
            qkv.clone()
                .narrow(2, i, 1)
                .reshape([batch, steps, HEADS, head])
                .swap_dims(1, 2)
        };
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: false,
        };
        let attended = attention(part(0), part(1), part(2), None, None, options)
            .swap_dims(1, 2)
            .reshape([batch, steps, WIDTH]);
        let x = x + self.proj.forward(attended);
        let hidden = self.fc1.forward(self.norm2.forward(x.clone()));
        let hidden = hidden.clone() * burn::tensor::activation::sigmoid(hidden);
        x + self.fc2.forward(hidden)
    }
}

pub struct Recognizer {
    backbone: LcNet,
    reduce: ConvNormSwish,
    widen: ConvNormSwish,
    blocks: Vec<SvtrBlock>,
    norm: LayerNorm,
    restore: ConvNormSwish,
    merge: ConvNormSwish,
    out: ConvNormSwish,
    classes: Linear,
    /// Output classes: the CTC blank, the dictionary, the space.
    pub num_classes: usize,
}

impl Recognizer {
    /// Loads the recognizer's parameters (keys `rec.NNN`) from `source`; its output layer
    /// has `num_classes` entries.
    pub fn load(
        source: &dyn WeightSource,
        num_classes: usize,
        device: &Device,
        kernels: Kernels,
    ) -> Result<Self> {
        let p = Params::new(source, "rec", device, kernels);
        let recognizer = Recognizer {
            backbone: LcNet::load(&p, &STAGES)?,
            reduce: ConvNormSwish::load(&p, FEATURES, FEATURES / 8, [1, 3])?,
            widen: ConvNormSwish::load(&p, FEATURES / 8, WIDTH, [1, 1])?,
            blocks: (0..DEPTH)
                .map(|_| SvtrBlock::load(&p))
                .collect::<Result<_>>()?,
            norm: LayerNorm::load(&p, WIDTH, 1e-6)?,
            restore: ConvNormSwish::load(&p, WIDTH, FEATURES, [1, 1])?,
            merge: ConvNormSwish::load(&p, 2 * FEATURES, FEATURES / 8, [1, 3])?,
            out: ConvNormSwish::load(&p, FEATURES / 8, WIDTH, [1, 1])?,
            classes: Linear::load(&p, WIDTH, num_classes)?,
            num_classes,
        };
        p.finish()?;
        Ok(recognizer)
    }

    /// Class logits `[batch, steps, classes]` of normalized BGR lines `[batch, 3, 48, w]`,
    /// one step per 8 columns.
    pub fn logits(&self, x: Tensor<4>) -> Tensor<3> {
        let features = self.backbone.forward(x).pop().expect("five stages");
        let [batch, _, rows, _] = features.dims();
        // The remaining rows (3 for a 48-pixel line) averaged, and pairs of columns.
        let pool = AvgPoolOptions {
            kernel_size: [rows, 2],
            stride: [rows, 2],
            padding: [(0, 0), (0, 0)],
            count_include_pad: false,
            ceil_mode: false,
        };
        let shortcut = avg_pool2d(features, pool);
        let steps = shortcut.dims()[3];
        let z = self.widen.forward(self.reduce.forward(shortcut.clone()));
        let mut seq = z.reshape([batch, WIDTH, steps]).swap_dims(1, 2);
        for block in &self.blocks {
            seq = block.forward(seq);
        }
        let z = self
            .norm
            .forward(seq)
            .swap_dims(1, 2)
            .reshape([batch, WIDTH, 1, steps]);
        let z = self.restore.forward(z);
        let z = self
            .out
            .forward(self.merge.forward(Tensor::cat(vec![shortcut, z], 1)));
        let seq = z.reshape([batch, WIDTH, steps]).swap_dims(1, 2);
        self.classes.forward(seq)
    }

    /// Class probabilities (the softmax of [`Self::logits`]).
    pub fn probabilities(&self, x: Tensor<4>) -> Tensor<3> {
        softmax(self.logits(x), 2)
    }
}
