//! The PP-OCRv5 mobile text detector: PP-LCNetV3 (scale 0.75), an FPN whose every branch has a
//! residual squeeze-and-excite ("RSE-FPN"), and the DB head's probability map.

use burn::tensor::Tensor;
use burn::tensor::activation::{relu, sigmoid};

use super::layers::{
    Activation, After, Conv, ConvShape, ConvTranspose, Params, SqueezeExcite, upsample,
};
use super::lcnet::{BlockSpec, LcNet, block};
use crate::clip::Kernels;
use crate::clip::weights::WeightSource;
use crate::error::Result;
use burn::tensor::Device;

const S1: [usize; 2] = [1, 1];
const S2: [usize; 2] = [2, 2];

/// The backbone's stages at scale 0.75 (the channel counts of PaddleOCR's detection table).
const STAGES: [&[BlockSpec]; 5] = [
    &[block(3, 16, 32, S1, false)],
    &[block(3, 32, 48, S2, false), block(3, 48, 48, S1, false)],
    &[block(3, 48, 96, S2, false), block(3, 96, 96, S1, false)],
    &[
        block(3, 96, 192, S2, false),
        block(5, 192, 192, S1, false),
        block(5, 192, 192, S1, false),
        block(5, 192, 192, S1, false),
        block(5, 192, 192, S1, false),
    ],
    &[
        block(5, 192, 384, S2, true),
        block(5, 384, 384, S1, true),
        block(5, 384, 384, S1, false),
        block(5, 384, 384, S1, false),
    ],
];

/// The backbone's output convs on stages 1-4 (strides 4, 8, 16, 32): input and output widths.
const TAPS: [(usize, usize); 4] = [(48, 12), (96, 18), (192, 42), (384, 360)];

const NECK: usize = 96;

/// The input's sides must be multiples of this (five stride-2 stages).
pub const STRIDE: usize = 32;

/// A conv and a squeeze-and-excite whose gated output is added back to it.
struct ResidualSe {
    conv: Conv,
    se: SqueezeExcite,
}

impl ResidualSe {
    fn load(p: &Params, input: usize, out: usize, k: usize) -> Result<Self> {
        Ok(ResidualSe {
            conv: Conv::load(p, ConvShape::new(input, out, k, S1), After::Nothing)?,
            se: SqueezeExcite::load(p, out, 0.2)?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        x.clone() + self.se.forward(x)
    }
}

pub struct Detector {
    backbone: LcNet,
    taps: Vec<Conv>,
    /// Lateral branches, deepest first.
    lateral: Vec<ResidualSe>,
    /// Output branches, deepest first.
    output: Vec<ResidualSe>,
    head_conv: Conv,
    head_up: ConvTranspose,
    head_out: ConvTranspose,
}

impl Detector {
    /// Loads the detector's parameters (keys `det.NNN`) from `source`.
    pub fn load(source: &dyn WeightSource, device: &Device, kernels: Kernels) -> Result<Self> {
        let p = Params::new(source, "det", device, kernels);
        let backbone = LcNet::load(&p, &STAGES)?;
        let taps = TAPS
            .iter()
            .map(|&(i, o)| Conv::load(&p, ConvShape::pointwise(i, o), After::Bias))
            .collect::<Result<_>>()?;
        let lateral = TAPS
            .iter()
            .rev()
            .map(|&(_, c)| ResidualSe::load(&p, c, NECK, 1))
            .collect::<Result<_>>()?;
        let output = (0..TAPS.len())
            .map(|_| ResidualSe::load(&p, NECK, NECK / 4, 3))
            .collect::<Result<_>>()?;
        let quarter = NECK / 4;
        let detector = Detector {
            backbone,
            taps,
            lateral,
            output,
            head_conv: Conv::load(&p, ConvShape::new(NECK, quarter, 3, S1), After::BatchNorm)?,
            head_up: ConvTranspose::load(&p, quarter, quarter, true)?,
            head_out: ConvTranspose::load(&p, quarter, 1, false)?,
        };
        p.finish()?;
        Ok(detector)
    }

    /// The text probability map `[batch, 1, h, w]` of normalized BGR images `[batch, 3, h, w]`
    /// (`h` and `w` multiples of [`STRIDE`]).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let stages = self.backbone.forward(x);
        let taps: Vec<Tensor<4>> = self
            .taps
            .iter()
            .zip(&stages[1..])
            .map(|(conv, x)| conv.forward(x.clone()))
            .collect();
        // Top-down: each level adds the upsampled deeper one (deepest first from here on).
        let mut merged: Vec<Tensor<4>> = Vec::with_capacity(taps.len());
        for (branch, tap) in self.lateral.iter().zip(taps.into_iter().rev()) {
            let lateral = branch.forward(tap);
            let level = match merged.last() {
                Some(deeper) => lateral + upsample(deeper.clone(), 2),
                None => lateral,
            };
            merged.push(level);
        }
        let levels = merged.len();
        let fused: Vec<Tensor<4>> = self
            .output
            .iter()
            .zip(merged)
            .enumerate()
            .map(|(i, (branch, level))| {
                let y = branch.forward(level);
                let factor = 1 << (levels - 1 - i);
                if factor > 1 { upsample(y, factor) } else { y }
            })
            .collect();
        let x = self
            .head_conv
            .forward_then(Tensor::cat(fused, 1), Activation::Relu);
        let x = relu(self.head_up.forward(x));
        sigmoid(self.head_out.forward(x))
    }
}
