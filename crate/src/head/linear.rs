//! The head's linear layer, with the weight kept in PyTorch's `[out, in]` layout.
//!
//! `y = (W · xᵀ)ᵀ + b` rather than burn's `x · Wᵀ`: on the CPU backend the matrix product packs
//! its left operand, and with `W` stored `[out, in]` both the forward product and the backward
//! one (`Wᵀ · dyᵀ`) read the big matrix in a layout that packs quickly. burn's layout made the
//! backward product of a 1024x1024 layer at batch 16 ten times slower (3.3 ms against 0.3 ms),
//! the largest single cost of training.

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

/// PyTorch's `nn.Linear` default: uniform in ±1/sqrt(fan_in) (burn's Kaiming uniform with
/// gain 1/sqrt(3)).
pub fn pytorch_uniform() -> Initializer {
    Initializer::KaimingUniform {
        gain: 1.0 / 3f64.sqrt(),
        fan_out_only: false,
    }
}

#[derive(Module, Debug)]
pub struct HeadLinear {
    /// `[out, in]`.
    pub weight: Param<Tensor<2>>,
    /// `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
}

impl HeadLinear {
    /// PyTorch's default initialization: weight and bias uniform in ±1/sqrt(in).
    pub fn new(d_in: usize, d_out: usize, bias: bool, device: &Device) -> Self {
        let init = pytorch_uniform();
        HeadLinear {
            weight: init.init_with([d_out, d_in], Some(d_in), Some(d_out), device),
            bias: bias.then(|| init.init_with([d_out], Some(d_in), Some(d_out), device)),
        }
    }

    pub fn from_tensors(weight: Tensor<2>, bias: Option<Tensor<1>>) -> Self {
        HeadLinear {
            weight: Param::from_tensor(weight),
            bias: bias.map(Param::from_tensor),
        }
    }

    /// `(in, out)`.
    pub fn dims(&self) -> (usize, usize) {
        let [d_out, d_in] = self.weight.val().dims();
        (d_in, d_out)
    }

    /// `[B, in]` to `[B, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let y = self.weight.val().matmul(x.transpose()).transpose();
        match &self.bias {
            Some(b) => y + b.val().unsqueeze::<2>(),
            None => y,
        }
    }
}
