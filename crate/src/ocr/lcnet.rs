//! PP-LCNetV3, the backbone of both OCR networks, in its re-parameterized (inference) form:
//! each "learnable rep layer" is one conv with a folded affine block, then hard swish and another
//! affine block, except after a stride-2 (both directions) depthwise conv, which has no activation.

use burn::tensor::Tensor;

use super::layers::{Activation, After, Conv, ConvShape, Params, SqueezeExcite, affine_hard_swish};
use crate::error::Result;

/// One depthwise-separable block: a `k`x`k` depthwise conv (with `stride`), an optional
/// squeeze-and-excite, and a pointwise conv from `input` to `out` channels.
#[derive(Clone, Copy)]
pub struct BlockSpec {
    pub k: usize,
    pub input: usize,
    pub out: usize,
    pub stride: [usize; 2],
    pub se: bool,
}

pub const fn block(k: usize, input: usize, out: usize, stride: [usize; 2], se: bool) -> BlockSpec {
    BlockSpec {
        k,
        input,
        out,
        stride,
        se,
    }
}

/// A conv with its affine block, and the activation unless the conv halves both sides.
struct RepLayer {
    conv: Conv,
    act: Activation,
}

impl RepLayer {
    fn load(p: &Params, shape: ConvShape) -> Result<Self> {
        let conv = Conv::load(p, shape, After::BiasAffine)?;
        let act = if shape.stride == [2, 2] {
            // The unused activation's affine block is not in the export.
            Activation::Identity
        } else {
            affine_hard_swish(p)?
        };
        Ok(RepLayer { conv, act })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv.forward_then(x, self.act)
    }
}

struct Block {
    depthwise: RepLayer,
    se: Option<SqueezeExcite>,
    pointwise: RepLayer,
}

impl Block {
    fn load(p: &Params, spec: &BlockSpec) -> Result<Self> {
        Ok(Block {
            depthwise: RepLayer::load(p, ConvShape::depthwise(spec.input, spec.k, spec.stride))?,
            se: if spec.se {
                Some(SqueezeExcite::load(p, spec.input, 1.0 / 6.0)?)
            } else {
                None
            },
            pointwise: RepLayer::load(p, ConvShape::pointwise(spec.input, spec.out))?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = self.depthwise.forward(x);
        if let Some(se) = &self.se {
            x = se.forward(x);
        }
        self.pointwise.forward(x)
    }
}

/// The stem (a stride-2 3x3 conv with batch norm, 3 to 16 channels) and the blocks in stages.
pub struct LcNet {
    stem: Conv,
    stages: Vec<Vec<Block>>,
}

impl LcNet {
    pub fn load(p: &Params, stages: &[&[BlockSpec]]) -> Result<Self> {
        let stem = Conv::load(p, ConvShape::new(3, 16, 3, [2, 2]), After::BatchNorm)?;
        let stages = stages
            .iter()
            .map(|specs| specs.iter().map(|s| Block::load(p, s)).collect())
            .collect::<Result<_>>()?;
        Ok(LcNet { stem, stages })
    }

    /// The output of every stage.
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = self.stem.forward(x);
        let mut outputs = Vec::with_capacity(self.stages.len());
        for stage in &self.stages {
            for block in stage {
                x = block.forward(x);
            }
            outputs.push(x.clone());
        }
        outputs
    }
}
