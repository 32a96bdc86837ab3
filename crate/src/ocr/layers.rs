//! The layers both OCR networks are made of, loaded from parameters read in order.
//!
//! Batch norms and PP-LCNetV3's learnable affine blocks (a scalar `a·x + b` after a conv) are
//! folded into the conv before them at load time, so each conv runs as one op with its bias.

use std::cell::Cell;

use burn::tensor::activation::{hard_sigmoid, hard_swish, relu, sigmoid};
use burn::tensor::module::{conv_transpose2d, conv2d, layer_norm, linear};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor, TensorData};

use crate::clip::Kernels;
use crate::clip::weights::WeightSource;
use crate::error::{Error, Result};
pub use crate::kernels::conv::Activation;
use crate::kernels::conv::{Geometry, HostConv};

/// Batch-norm epsilon of every PP-OCR batch norm.
const BN_EPS: f32 = 1e-5;

/// Reads a network's parameters in the order the network uses them (see [`super::onnx`]).
pub struct Params<'a> {
    source: &'a dyn WeightSource,
    net: &'static str,
    next: Cell<usize>,
    pub device: Device,
    /// On the CPU device, [`Kernels::Int8`] runs the dense convs on integer products (12-bit
    /// weights: int8 ones change the text read); any other choice on f32 host kernels.
    kernels: Kernels,
}

impl<'a> Params<'a> {
    pub fn new(
        source: &'a dyn WeightSource,
        net: &'static str,
        device: &Device,
        kernels: Kernels,
    ) -> Self {
        Params {
            source,
            net,
            next: Cell::new(0),
            device: device.clone(),
            kernels,
        }
    }

    pub fn key(net: &str, index: usize) -> String {
        format!("{net}.{index:03}")
    }

    /// The next parameter, which must have `shape`.
    pub fn take(&self, shape: &[usize]) -> Result<Vec<f32>> {
        let index = self.next.get();
        self.next.set(index + 1);
        self.source.read(&Self::key(self.net, index), shape)
    }

    /// The next parameter, a single number.
    fn scalar(&self) -> Result<f32> {
        Ok(self.take(&[1])?[0])
    }

    /// An error unless every parameter of the source has been read.
    pub fn finish(&self) -> Result<()> {
        let read = self.next.get();
        match self.source.shape_of(&Self::key(self.net, read)) {
            None => Ok(()),
            Some(_) => Err(Error::config(
                self.source.source_name(),
                format!(
                    "the {} network reads {read} parameters but the file has more: \
                     not the PP-OCRv5 mobile model memeclip implements",
                    self.net
                ),
            )),
        }
    }

    pub fn tensor<const D: usize>(&self, values: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), &self.device)
    }
}

/// A batch norm's scale and shift per channel: `y = x·scale + shift`.
fn batch_norm(p: &Params, channels: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    // ONNX order: scale (gamma), bias (beta), running mean, running variance.
    let gamma = p.take(&[channels])?;
    let beta = p.take(&[channels])?;
    let mean = p.take(&[channels])?;
    let var = p.take(&[channels])?;
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + BN_EPS).sqrt())
        .collect();
    let shift = beta
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    Ok((scale, shift))
}

/// What follows a conv in the graph, folded into it at load time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Nothing: the conv has no bias.
    Nothing,
    /// The conv's own bias.
    Bias,
    /// A batch norm (the conv has no bias).
    BatchNorm,
    /// The conv's bias, then a learnable affine block.
    BiasAffine,
}

/// A 2-d convolution with its bias, and any batch norm or affine block after it folded in.
/// On the CPU device it runs on memeclip's host kernels with its activation fused
/// ([`crate::kernels::conv`]); elsewhere on the device's own conv.
pub enum Conv {
    Device(Box<DeviceConv>),
    Host { conv: Box<HostConv>, device: Device },
}

/// A conv on the device's own kernels (boxed: a device's tensors are large to move around).
pub struct DeviceConv {
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
}

/// A conv's shape: `out` filters of `k` (rows x columns) over `input / groups` channels.
#[derive(Clone, Copy)]
pub struct ConvShape {
    pub input: usize,
    pub out: usize,
    pub k: [usize; 2],
    pub stride: [usize; 2],
    pub groups: usize,
}

impl ConvShape {
    pub fn new(input: usize, out: usize, k: usize, stride: [usize; 2]) -> Self {
        ConvShape {
            input,
            out,
            k: [k, k],
            stride,
            groups: 1,
        }
    }

    pub fn depthwise(channels: usize, k: usize, stride: [usize; 2]) -> Self {
        ConvShape {
            groups: channels,
            ..Self::new(channels, channels, k, stride)
        }
    }

    pub fn pointwise(input: usize, out: usize) -> Self {
        Self::new(input, out, 1, [1, 1])
    }
}

impl Conv {
    pub fn load(p: &Params, s: ConvShape, after: After) -> Result<Self> {
        let per_filter = s.input / s.groups * s.k[0] * s.k[1];
        let mut weight = p.take(&[s.out, s.input / s.groups, s.k[0], s.k[1]])?;
        let (scale, bias) = match after {
            After::Nothing => (vec![1.0; s.out], vec![0.0; s.out]),
            After::BatchNorm => batch_norm(p, s.out)?,
            After::Bias => (vec![1.0; s.out], p.take(&[s.out])?),
            After::BiasAffine => {
                let bias = p.take(&[s.out])?;
                let (a, b) = (p.scalar()?, p.scalar()?);
                (vec![a; s.out], bias.iter().map(|x| x * a + b).collect())
            }
        };
        for (filter, s) in weight.chunks_mut(per_filter).zip(&scale) {
            filter.iter_mut().for_each(|w| *w *= s);
        }
        let padding = [(s.k[0] - 1) / 2, (s.k[1] - 1) / 2];
        let depthwise = s.groups == s.input && s.input == s.out && s.groups > 1;
        if p.device == Device::flex() && (s.groups == 1 || depthwise) {
            let geometry = Geometry {
                input: s.input,
                out: s.out,
                k: s.k,
                stride: s.stride,
                padding,
                depthwise,
            };
            let mut conv = HostConv::new(geometry, weight, bias).expect("the shapes read above");
            if p.kernels == Kernels::Int8 {
                conv = conv.quantized();
            }
            return Ok(Conv::Host {
                conv: Box::new(conv),
                device: p.device.clone(),
            });
        }
        Ok(Conv::Device(Box::new(DeviceConv {
            weight: p.tensor(weight, [s.out, s.input / s.groups, s.k[0], s.k[1]]),
            bias: p.tensor(bias, [s.out]),
            options: ConvOptions::new(s.stride, padding, [1, 1], s.groups),
        })))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_then(x, Activation::Identity)
    }

    /// The conv, then `act`.
    pub fn forward_then(&self, x: Tensor<4>, act: Activation) -> Tensor<4> {
        match self {
            Conv::Device(c) => {
                let y = conv2d(x, c.weight.clone(), Some(c.bias.clone()), c.options.clone());
                activate(y, act)
            }
            Conv::Host { conv, device } => {
                let [batch, _, h, w] = x.dims();
                // Host kernels are chosen for the CPU device only, where reading a tensor
                // cannot fail (and takes its buffer without a copy when nothing else holds it).
                let x = x
                    .into_data()
                    .try_into_vec::<f32>()
                    .expect("activations are f32");
                let y = conv.forward(&x, batch, [h, w], act);
                let [oh, ow] = conv.geometry().output_size(h, w);
                let shape = [batch, conv.geometry().out, oh, ow];
                Tensor::from_data(TensorData::new(y, shape), device)
            }
        }
    }
}

/// `act` as burn operations, for the device's own conv.
fn activate(y: Tensor<4>, act: Activation) -> Tensor<4> {
    match act {
        Activation::Identity => y,
        Activation::Relu => relu(y),
        Activation::Swish => y.clone() * sigmoid(y),
        Activation::HardSwish { scale, shift } => hard_swish(y).mul_scalar(scale).add_scalar(shift),
    }
}

/// A stride-2, 2x2 transposed conv (the DB head's upsampling) with its bias and an optional
/// batch norm after it folded in.
pub struct ConvTranspose {
    weight: Tensor<4>,
    bias: Tensor<1>,
}

impl ConvTranspose {
    pub fn load(p: &Params, input: usize, out: usize, with_norm: bool) -> Result<Self> {
        let mut weight = p.take(&[input, out, 2, 2])?;
        let mut bias = p.take(&[out])?;
        if with_norm {
            let (scale, shift) = batch_norm(p, out)?;
            // The weight is `[in, out, 2, 2]`: output channel `o` is every (in, o) block.
            for (i, w) in weight.iter_mut().enumerate() {
                *w *= scale[(i / 4) % out];
            }
            for ((b, s), t) in bias.iter_mut().zip(&scale).zip(&shift) {
                *b = *b * s + t;
            }
        }
        Ok(ConvTranspose {
            weight: p.tensor(weight, [input, out, 2, 2]),
            bias: p.tensor(bias, [out]),
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let options = ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1);
        conv_transpose2d(x, self.weight.clone(), Some(self.bias.clone()), options)
    }
}

/// PP-LCNetV3's activation: hard swish, then a learnable affine block.
pub fn affine_hard_swish(p: &Params) -> Result<Activation> {
    Ok(Activation::HardSwish {
        scale: p.scalar()?,
        shift: p.scalar()?,
    })
}

/// Squeeze-and-excitation: global average, a 4x bottleneck with ReLU, a hard-sigmoid gate per
/// channel. PP-LCNetV3 multiplies by the gate; the detector's neck adds the gated input back.
pub struct SqueezeExcite {
    reduce: Conv,
    expand: Conv,
    /// Paddle's `nn.Hardsigmoid` has slope 1/6, `F.hardsigmoid` 0.2.
    slope: f64,
}

impl SqueezeExcite {
    pub fn load(p: &Params, channels: usize, slope: f64) -> Result<Self> {
        Ok(SqueezeExcite {
            reduce: Conv::load(p, ConvShape::pointwise(channels, channels / 4), After::Bias)?,
            expand: Conv::load(p, ConvShape::pointwise(channels / 4, channels), After::Bias)?,
            slope,
        })
    }

    /// The gated input, `x · gate(x)`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pooled = x.clone().mean_dim(3).mean_dim(2);
        let gate = self
            .expand
            .forward(self.reduce.forward_then(pooled, Activation::Relu));
        x * hard_sigmoid(gate, self.slope, 0.5)
    }
}

/// A conv followed by a batch norm and swish (the recognizer's neck).
pub struct ConvNormSwish(Conv);

impl ConvNormSwish {
    pub fn load(p: &Params, input: usize, out: usize, k: [usize; 2]) -> Result<Self> {
        let shape = ConvShape {
            input,
            out,
            k,
            stride: [1, 1],
            groups: 1,
        };
        Ok(ConvNormSwish(Conv::load(p, shape, After::BatchNorm)?))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.0.forward_then(x, Activation::Swish)
    }
}

/// A Paddle linear layer: the weight is stored `[in, out]`, burn's own layout.
pub struct Linear {
    weight: Tensor<2>,
    bias: Tensor<1>,
}

impl Linear {
    pub fn load(p: &Params, input: usize, out: usize) -> Result<Self> {
        Ok(Linear {
            weight: p.tensor(p.take(&[input, out])?, [input, out]),
            bias: p.tensor(p.take(&[out])?, [out]),
        })
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        linear(x, self.weight.clone(), Some(self.bias.clone()))
    }
}

pub struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
}

impl LayerNorm {
    pub fn load(p: &Params, width: usize, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            gamma: p.tensor(p.take(&[width])?, [width]),
            beta: p.tensor(p.take(&[width])?, [width]),
            eps,
        })
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        layer_norm(x, self.gamma.clone(), Some(self.beta.clone()), self.eps)
    }
}

/// Repeats every pixel `factor` times in both directions (ONNX `Resize`, nearest, asymmetric,
/// floor, at an integer scale), exactly and on any backend.
pub fn upsample(x: Tensor<4>, factor: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, factor, w, factor])
        .reshape([b, c, h * factor, w * factor])
}
