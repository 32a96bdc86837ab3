//! The pieces both CLIP towers share: linear layers, LayerNorm and pre-LN transformer blocks.
//! CLIP is frozen here, so layers hold plain tensors loaded once, not trainable parameters.

use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::module::{attention, layer_norm, linear};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor, TensorData};

use super::config::{Activation, TowerConfig};
use super::weights::{Kernels, WeightLoader};
use crate::error::{Error, Result};
use crate::kernels::activation::quick_gelu;
use crate::kernels::attention::attention as host_attention;
use crate::kernels::float::F32Matrix;
use crate::kernels::int8::{Int8Matrix, quantize_weight_rows};
use crate::kernels::norm;

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

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        linear(x, self.weight.clone(), self.bias.clone())
    }

    /// The weight as `[in, out]`; SAI needs the transposed visual projection.
    pub fn weight(&self) -> &Tensor<2> {
        &self.weight
    }
}

/// A linear layer computed as the loader's [`Kernels`] say: the transformer blocks' layers, and
/// on int8 kernels the patch embedding.
pub(super) enum KernelLinear {
    /// Boxed: a burn tensor is over half a kilobyte.
    Float(Box<Linear>),
    /// On memeclip's own kernels over host memory (the CPU device only).
    Host {
        weight: HostWeight,
        bias: Option<Vec<f32>>,
        device: Device,
    },
}

pub(super) enum HostWeight {
    Int8(Int8Matrix),
    F32(F32Matrix),
}

impl HostWeight {
    fn n(&self) -> usize {
        match self {
            HostWeight::Int8(w) => w.n(),
            HostWeight::F32(w) => w.n(),
        }
    }

    /// `x` `[m, in]` to `[m, out]`, then QuickGELU if `with_quick_gelu`.
    fn forward(
        &self,
        x: &[f32],
        m: usize,
        bias: Option<&[f32]>,
        with_quick_gelu: bool,
    ) -> Vec<f32> {
        match self {
            HostWeight::Int8(w) => int8_on_threads(w, x, m, bias, with_quick_gelu),
            HostWeight::F32(w) => w.forward(x, m, bias, with_quick_gelu),
        }
    }

    /// `y += x · W + bias`, `y` `[m, out]`: a residual connection without a pass of its own
    /// on f32 weights, whose product accumulates onto `y` anyway.
    fn add_forward(&self, x: &[f32], m: usize, bias: Option<&[f32]>, y: &mut [f32]) {
        match self {
            HostWeight::Int8(w) => norm::add_in_place(y, &int8_on_threads(w, x, m, bias, false)),
            HostWeight::F32(w) => w.add_product(x, m, bias, y, false),
        }
    }
}

/// Int8 products below this many multiply-adds stay on one thread.
#[cfg(any(feature = "native", feature = "web-threads"))]
const INT8_THREADS_FROM: usize = 1 << 21;

/// The int8 product, then QuickGELU if `with_quick_gelu`; split over the thread pool where
/// the module has one and the product is large enough.
fn int8_on_threads(
    w: &Int8Matrix,
    x: &[f32],
    m: usize,
    bias: Option<&[f32]>,
    with_quick_gelu: bool,
) -> Vec<f32> {
    #[cfg(any(feature = "native", feature = "web-threads"))]
    if let Some(y) = int8_split(w, x, m, bias, with_quick_gelu) {
        return y;
    }
    let mut y = w.forward(x, m, bias);
    if with_quick_gelu {
        quick_gelu(&mut y);
    }
    y
}

/// The int8 product with its output columns split over the thread pool, one range of whole
/// panels per thread; `None` where one thread would do. Columns rather than rows: a meme's
/// product has few rows (50 patches, a few dozen tokens), and each thread then reads only its
/// share of the weights. Each output is computed as on one thread, so the result is the
/// single-threaded one bit for bit. QuickGELU, if asked for, is applied by each thread to its
/// own part.
#[cfg(any(feature = "native", feature = "web-threads"))]
fn int8_split(
    w: &Int8Matrix,
    x: &[f32],
    m: usize,
    bias: Option<&[f32]>,
    with_quick_gelu: bool,
) -> Option<Vec<f32>> {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads().min(w.panels());
    if threads < 2 || m * w.n() * w.k() < INT8_THREADS_FROM {
        return None;
    }
    let rows = w.quantize_input(x, m);
    let per_thread = w.panels().div_ceil(threads);
    let parts: Vec<Vec<f32>> = (0..threads)
        .into_par_iter()
        .map(|t| {
            let first = (t * per_thread).min(w.panels());
            let end = (first + per_thread).min(w.panels());
            let mut part = w.columns(&rows, first..end, bias);
            if with_quick_gelu {
                quick_gelu(&mut part);
            }
            part
        })
        .collect();
    // Each part is [m, its columns]: row by row, the parts side by side.
    // A part with no columns (more threads than panels to share) has no rows to give.
    let mut rows_of: Vec<_> = parts
        .iter()
        .map(|p| p.chunks((p.len() / m).max(1)))
        .collect();
    let mut out = Vec::with_capacity(m * w.n());
    for _ in 0..m {
        for part in &mut rows_of {
            out.extend_from_slice(part.next().unwrap_or_default());
        }
    }
    Some(out)
}

/// The matrix `key` (stored as `shape`, read as rows of `cols` values) as int8 codes and row
/// scales: the source's own codes where it stores int8, else quantized here.
pub(super) fn int8_codes(
    w: &WeightLoader,
    key: &str,
    shape: &[usize],
    cols: usize,
) -> Result<(Vec<i8>, Vec<f32>)> {
    Ok(match w.source.read_int8(key, shape)? {
        Some(parts) => parts,
        None => quantize_weight_rows(&w.source.read(key, shape)?, cols),
    })
}

impl KernelLinear {
    /// Int8 weights `[n, k]` from codes and row scales.
    pub(super) fn int8(
        w: &WeightLoader,
        key: &str,
        (codes, scales): (Vec<i8>, Vec<f32>),
        n: usize,
        k: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<Self> {
        let weight = Int8Matrix::from_codes(&codes, &scales, n, k).ok_or_else(|| {
            Error::tensor(
                w.source.source_name(),
                key,
                "int8 weights do not match their shape",
            )
        })?;
        Ok(KernelLinear::Host {
            weight: HostWeight::Int8(weight),
            bias,
            device: w.device.clone(),
        })
    }

    /// f32 weights `[k, n]` (burn's `[in, out]` layout): burn's product on the float kernels,
    /// else memeclip's f32 kernel on the host.
    pub(super) fn f32(
        w: &WeightLoader,
        weight: Vec<f32>,
        [k, n]: [usize; 2],
        bias: Option<Vec<f32>>,
    ) -> Self {
        match w.kernels {
            Kernels::Float => KernelLinear::Float(Box::new(Linear {
                weight: w.from_values(weight, [k, n]),
                bias: bias.map(|b| w.from_values(b, [n])),
            })),
            Kernels::Fused | Kernels::Int8 => KernelLinear::Host {
                weight: HostWeight::F32(F32Matrix::new(weight, k, n).expect("[in, out] values")),
                bias,
                device: w.device.clone(),
            },
        }
    }

    fn load(w: &WeightLoader, prefix: &str, d_in: usize, d_out: usize) -> Result<Self> {
        Self::load_stacked(w, &[prefix.to_string()], d_in, d_out)
    }

    /// Layers with the same input stacked output after output: q, k and v become one `[d, 3d]`
    /// layer, one matrix product instead of three.
    fn load_stacked(
        w: &WeightLoader,
        prefixes: &[String],
        d_in: usize,
        d_out: usize,
    ) -> Result<Self> {
        let mut bias = Vec::with_capacity(prefixes.len() * d_out);
        for prefix in prefixes {
            bias.extend(w.source.read(&format!("{prefix}.bias"), &[d_out])?);
        }
        let n = prefixes.len() * d_out;
        // burn's [in, out] layout: the layers side by side within each input row.
        let float_weight = || -> Result<Vec<f32>> {
            let mut weight = vec![0.0; d_in * n];
            for (i, prefix) in prefixes.iter().enumerate() {
                let part = w.linear_weight(&format!("{prefix}.weight"), d_in, d_out)?;
                for (row, values) in part.chunks(d_out).enumerate() {
                    weight[row * n + i * d_out..][..d_out].copy_from_slice(values);
                }
            }
            Ok(weight)
        };
        match w.kernels {
            Kernels::Float | Kernels::Fused => {
                Ok(Self::f32(w, float_weight()?, [d_in, n], Some(bias)))
            }
            Kernels::Int8 => {
                // PyTorch's [out, in] layout: the layers' rows one after another.
                let (mut codes, mut scales) = (Vec::with_capacity(n * d_in), Vec::with_capacity(n));
                for prefix in prefixes {
                    let (c, s) = int8_codes(w, &format!("{prefix}.weight"), &[d_out, d_in], d_in)?;
                    codes.extend(c);
                    scales.extend(s);
                }
                let key = format!("{}.weight", prefixes[0]);
                Self::int8(w, &key, (codes, scales), n, d_in, Some(bias))
            }
        }
    }

    pub(super) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_then(x, None)
    }

    /// The layer, then `activation` if one is given.
    fn forward_then(&self, x: Tensor<3>, activation: Option<Activation>) -> Tensor<3> {
        let (weight, bias, device) = match self {
            KernelLinear::Float(linear) => {
                let y = linear.forward(x);
                return match activation {
                    Some(a) => activate(y, a),
                    None => y,
                };
            }
            KernelLinear::Host {
                weight,
                bias,
                device,
            } => (weight, bias, device),
        };
        let [batch, len, _] = x.dims();
        let with_quick_gelu = activation == Some(Activation::QuickGelu);
        let y = weight.forward(
            &host_values(x),
            batch * len,
            bias.as_deref(),
            with_quick_gelu,
        );
        let y = Tensor::from_data(TensorData::new(y, [batch, len, weight.n()]), device);
        match activation {
            Some(Activation::Gelu) => gelu(y),
            _ => y,
        }
    }
}

/// A tensor's values in host memory. The loader allows host kernels on the CPU device only,
/// where reading a tensor cannot fail (and takes the buffer without a copy when nothing else
/// holds it).
fn host_values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data()
        .try_into_vec::<f32>()
        .expect("activations are f32")
}

pub struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    /// gamma and beta in host memory too, for blocks on the host kernels.
    host: [Vec<f32>; 2],
    eps: f64,
}

impl LayerNorm {
    pub fn load(w: &WeightLoader, prefix: &str, d: usize, eps: f64) -> Result<Self> {
        let gamma = w.source.read(&format!("{prefix}.weight"), &[d])?;
        let beta = w.source.read(&format!("{prefix}.bias"), &[d])?;
        Ok(LayerNorm {
            gamma: w.from_values(gamma.clone(), [d]),
            beta: w.from_values(beta.clone(), [d]),
            host: [gamma, beta],
            eps,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.gamma.clone(), Some(self.beta.clone()), self.eps)
    }

    /// The same on host rows `[rows, d]`.
    fn forward_host(&self, x: &[f32]) -> Vec<f32> {
        norm::layer_norm(x, &self.host[0], &self.host[1], self.eps as f32)
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
    qkv: KernelLinear,
    out: KernelLinear,
    ln2: LayerNorm,
    fc1: KernelLinear,
    fc2: KernelLinear,
}

impl Block {
    fn load(w: &WeightLoader, prefix: &str, c: &TowerConfig) -> Result<Self> {
        let (d, m, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        Ok(Block {
            ln1: LayerNorm::load(w, &format!("{prefix}.layer_norm1"), d, eps)?,
            qkv: KernelLinear::load_stacked(
                w,
                &["q_proj", "k_proj", "v_proj"].map(|p| format!("{prefix}.self_attn.{p}")),
                d,
                d,
            )?,
            out: KernelLinear::load(w, &format!("{prefix}.self_attn.out_proj"), d, d)?,
            ln2: LayerNorm::load(w, &format!("{prefix}.layer_norm2"), d, eps)?,
            fc1: KernelLinear::load(w, &format!("{prefix}.mlp.fc1"), d, m)?,
            fc2: KernelLinear::load(w, &format!("{prefix}.mlp.fc2"), m, d)?,
        })
    }

    fn forward(&self, x: Tensor<3>, heads: usize, causal: bool, act: Activation) -> Tensor<3> {
        let attended = self.attention(self.ln1.forward(x.clone()), heads, causal);
        let x = x + attended;
        let hidden = self
            .fc1
            .forward_then(self.ln2.forward(x.clone()), Some(act));
        x + self.fc2.forward(hidden)
    }

    /// The attention sublayer, projections included, on `x` already normalized.
    fn attention(&self, x: Tensor<3>, heads: usize, causal: bool) -> Tensor<3> {
        let [batch, len, d] = x.dims();
        let head_dim = d / heads;
        let qkv = self.qkv.forward(x);
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
        self.out.forward(attended)
    }

    /// The four layers' host weights and biases, where all four run on host kernels.
    fn host_layers(&self) -> Option<[HostLayer<'_>; 4]> {
        fn host(layer: &KernelLinear) -> Option<HostLayer<'_>> {
            match layer {
                KernelLinear::Host { weight, bias, .. } => Some((weight, bias.as_deref())),
                KernelLinear::Float(_) => None,
            }
        }
        Some([
            host(&self.qkv)?,
            host(&self.out)?,
            host(&self.fc1)?,
            host(&self.fc2)?,
        ])
    }

    /// The block on host rows `x` (`[batch · len, d]`), in place, on its layers' host weights
    /// ([`Self::host_layers`]): LayerNorm, the products, attention and both residual adds over
    /// host memory, no tensor in between.
    fn forward_host(
        &self,
        [qkv, out, fc1, fc2]: [HostLayer; 4],
        x: &mut [f32],
        shape: HostShape,
        device: &Device,
    ) {
        let HostShape {
            batch,
            len,
            heads,
            causal,
            activation,
        } = shape;
        let rows = batch * len;
        let normed = self.ln1.forward_host(x);
        let qkv = qkv.0.forward(&normed, rows, qkv.1, false);
        let attended = host_attention(&qkv, batch, len, heads, causal);
        out.0.add_forward(&attended, rows, out.1, x);
        let normed = self.ln2.forward_host(x);
        let quick = activation == Activation::QuickGelu;
        let mut hidden = fc1.0.forward(&normed, rows, fc1.1, quick);
        if activation == Activation::Gelu {
            // The exact GELU, on burn: no CLIP this project ships uses it.
            let width = hidden.len() / rows.max(1);
            let t = Tensor::<2>::from_data(TensorData::new(hidden, [rows, width]), device);
            hidden = host_values(gelu(t));
        }
        fc2.0.add_forward(&hidden, rows, fc2.1, x);
    }
}

/// A layer's host weight and bias.
type HostLayer<'a> = (&'a HostWeight, Option<&'a [f32]>);

/// What a block on the host needs to know besides its rows.
#[derive(Clone, Copy)]
struct HostShape {
    batch: usize,
    len: usize,
    heads: usize,
    causal: bool,
    activation: Activation,
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
        let host: Option<Vec<_>> = self.blocks.iter().map(Block::host_layers).collect();
        if let Some(layers) = host {
            return self.forward_host(x, layers);
        }
        for block in &self.blocks {
            x = block.forward(x, self.heads, self.causal, self.activation);
        }
        x
    }

    /// Every block on host memory: the activations leave the device once and come back once.
    fn forward_host(&self, x: Tensor<3>, layers: Vec<[HostLayer; 4]>) -> Tensor<3> {
        let [batch, len, d] = x.dims();
        let device = x.device();
        let shape = HostShape {
            batch,
            len,
            heads: self.heads,
            causal: self.causal,
            activation: self.activation,
        };
        let mut rows = host_values(x);
        crate::kernels::on_pool(|| {
            for (block, layers) in self.blocks.iter().zip(layers) {
                block.forward_host(layers, &mut rows, shape, &device);
            }
        });
        Tensor::from_data(TensorData::new(rows, [batch, len, d]), &device)
    }
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;

    #[test]
    fn int8_columns_split_over_threads_give_the_single_thread_result() {
        // n = 250: the last panel is cut short; 3 threads over 32 panels: 11, 11 and 10.
        // 6 threads over 9 panels: 2 each, and the last thread gets none.
        for (m, k, n, threads) in [(37, 512, 256, 3), (9, 1000, 250, 3), (30, 1000, 72, 6)] {
            assert!(m * k * n >= INT8_THREADS_FROM, "large enough to be split");
            let weights: Vec<f32> = (0..n * k)
                .map(|i| ((i * 7919 % 211) as f32 - 105.0) / 97.0)
                .collect();
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 104_729 % 173) as f32 - 86.0) / 31.0)
                .collect();
            let bias: Vec<f32> = (0..n).map(|i| i as f32 / 64.0).collect();
            let w = Int8Matrix::quantize(&weights, n, k).unwrap();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            // `int8_split` itself, so that a product left on one thread cannot pass for a split.
            let split = pool
                .install(|| int8_split(&w, &x, m, Some(&bias), false))
                .expect("split");
            let whole = w.forward_portable(&x, m, Some(&bias));
            let activated = pool
                .install(|| int8_split(&w, &x, m, Some(&bias), true))
                .expect("split");
            let mut whole_activated = whole.clone();
            quick_gelu(&mut whole_activated);
            assert!(
                activated
                    .iter()
                    .zip(&whole_activated)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
            assert_eq!(split.len(), m * n);
            assert!(
                split
                    .iter()
                    .zip(&whole)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{m}x{k}x{n} on {threads} threads"
            );
        }
    }
}
