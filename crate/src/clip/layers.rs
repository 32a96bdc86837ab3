//! The pieces both CLIP towers share: linear layers, LayerNorm and pre-LN transformer blocks.
//! CLIP is frozen here, so layers hold plain tensors loaded once, not trainable parameters.

use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::module::{attention, layer_norm, linear};
use burn::tensor::ops::AttentionModuleOptions;

use super::config::{Activation, TowerConfig};
use super::weights::WeightLoader;
use crate::error::Result;

pub struct Linear {
    /// `[in, out]`, burn's layout.
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
}

impl Linear {
    pub fn load(
        w: &WeightLoader,
        prefix: &str,
        d_in: usize,
        d_out: usize,
        with_bias: bool,
    ) -> Result<Self> {
        let weight = w.linear_weight(&format!("{prefix}.weight"), d_in, d_out)?;
        let bias = if with_bias {
            Some(w.tensor(&format!("{prefix}.bias"), [d_out])?)
        } else {
            None
        };
        Ok(Linear {
            weight: w.from_values(weight, [d_in, d_out]),
            bias,
        })
    }

    /// q, k and v projections side by side as one `[d, 3d]` layer: one matmul instead of three.
    fn load_qkv(w: &WeightLoader, prefix: &str, d: usize) -> Result<Self> {
        let mut weight = vec![0.0; d * 3 * d];
        let mut bias = Vec::with_capacity(3 * d);
        for (i, name) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
            let part = w.linear_weight(&format!("{prefix}.{name}.weight"), d, d)?;
            for row in 0..d {
                weight[row * 3 * d + i * d..row * 3 * d + (i + 1) * d]
                    .copy_from_slice(&part[row * d..(row + 1) * d]);
            }
            bias.extend(w.source.read(&format!("{prefix}.{name}.bias"), &[d])?);
        }
        Ok(Linear {
            weight: w.from_values(weight, [d, 3 * d]),
            bias: Some(w.from_values(bias, [3 * d])),
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        linear(x, self.weight.clone(), self.bias.clone())
    }

    /// The weight as `[in, out]`; SAI needs the transposed visual projection.
    pub fn weight(&self) -> &Tensor<2> {
        &self.weight
    }
}

pub struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
}

impl LayerNorm {
    pub fn load(w: &WeightLoader, prefix: &str, d: usize, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            gamma: w.tensor(&format!("{prefix}.weight"), [d])?,
            beta: w.tensor(&format!("{prefix}.bias"), [d])?,
            eps,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.gamma.clone(), Some(self.beta.clone()), self.eps)
    }
}

fn activate<const D: usize>(x: Tensor<D>, activation: Activation) -> Tensor<D> {
    match activation {
        Activation::QuickGelu => x.clone() * sigmoid(x * 1.702),
        Activation::Gelu => gelu(x),
    }
}

/// One pre-LN block: `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
struct Block {
    ln1: LayerNorm,
    qkv: Linear,
    out: Linear,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl Block {
    fn load(w: &WeightLoader, prefix: &str, c: &TowerConfig) -> Result<Self> {
        let (d, m, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        Ok(Block {
            ln1: LayerNorm::load(w, &format!("{prefix}.layer_norm1"), d, eps)?,
            qkv: Linear::load_qkv(w, &format!("{prefix}.self_attn"), d)?,
            out: Linear::load(w, &format!("{prefix}.self_attn.out_proj"), d, d, true)?,
            ln2: LayerNorm::load(w, &format!("{prefix}.layer_norm2"), d, eps)?,
            fc1: Linear::load(w, &format!("{prefix}.mlp.fc1"), d, m, true)?,
            fc2: Linear::load(w, &format!("{prefix}.mlp.fc2"), m, d, true)?,
        })
    }

    fn forward(&self, x: Tensor<3>, heads: usize, causal: bool, act: Activation) -> Tensor<3> {
        let [batch, len, d] = x.dims();
        let head_dim = d / heads;
        let qkv = self.qkv.forward(self.ln1.forward(x.clone()));
        let split = |i: usize| {
            qkv.clone()
                .narrow(2, i * d, d)
                .reshape([batch, len, heads, head_dim])
                .swap_dims(1, 2)
        };
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: causal,
        };
        let attended = attention(split(0), split(1), split(2), None, None, options)
            .swap_dims(1, 2)
            .reshape([batch, len, d]);
        let x = x + self.out.forward(attended);
        let hidden = activate(self.fc1.forward(self.ln2.forward(x.clone())), act);
        x + self.fc2.forward(hidden)
    }
}

/// A stack of blocks as in `CLIPEncoder`.
pub struct Encoder {
    blocks: Vec<Block>,
    heads: usize,
    activation: Activation,
    causal: bool,
}

impl Encoder {
    pub fn load(w: &WeightLoader, prefix: &str, c: &TowerConfig, causal: bool) -> Result<Self> {
        let blocks = (0..c.num_layers)
            .map(|i| Block::load(w, &format!("{prefix}.layers.{i}"), c))
            .collect::<Result<_>>()?;
        Ok(Encoder {
            blocks,
            heads: c.num_heads,
            activation: c.activation,
            causal,
        })
    }

    pub fn forward(&self, mut x: Tensor<3>) -> Tensor<3> {
        for block in &self.blocks {
            x = block.forward(x, self.heads, self.causal, self.activation);
        }
        x
    }
}
