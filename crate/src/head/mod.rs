//! The MemeCLIP head (shared/spec/memeclip.md §1.3): per-modality projections, residual adapters,
//! L2-normalized element-wise fusion, a pre-output block and a cosine classifier.

pub mod file;
#[cfg(feature = "native")]
pub mod import;
pub mod linear;
pub mod result;
pub mod sai;
pub mod tasks;
pub mod zero_shot;

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

pub use linear::HeadLinear;

/// Shapes and constants of a head. Widths come from the CLIP config (new heads) or from the
/// tensors of a head file (loaded heads).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeadConfig {
    /// Width of `image_embeds` (the CLIP projection dim).
    pub image_dim: usize,
    /// Width of `text_pooled` (the text tower's hidden size).
    pub text_dim: usize,
    /// The mapped width: the vision tower's hidden size (D_CLIP), which SAI needs.
    pub map_dim: usize,
    pub num_classes: usize,
    pub num_mapping_layers: usize,
    /// Dropout after the projections, before and after the pre-output linear layer.
    pub dropout: [f64; 3],
    /// Weight of the adapter branch in the residual mix.
    pub ratio: f64,
    /// Cosine classifier scale.
    pub scale: f64,
}

impl HeadConfig {
    /// The official configuration for given widths.
    pub fn memeclip(image_dim: usize, text_dim: usize, map_dim: usize, num_classes: usize) -> Self {
        HeadConfig {
            image_dim,
            text_dim,
            map_dim,
            num_classes,
            num_mapping_layers: 1,
            dropout: [0.1, 0.4, 0.2],
            ratio: 0.2,
            scale: 30.0,
        }
    }

    /// A randomly initialized head (PyTorch's default uniform bounds; burn's Linear default
    /// gives the same). The classifier is random too until SAI overwrites it.
    pub fn init(&self, device: &Device) -> MemeClipHead {
        let d = self.map_dim;
        // `[classes, d]` drawn like a Linear weight with fan-in d.
        let classifier = linear::pytorch_uniform().init_with(
            [self.num_classes, d],
            Some(d),
            Some(self.num_classes),
            device,
        );
        MemeClipHead {
            image_map: Projection::new(
                self.image_dim,
                d,
                self.num_mapping_layers,
                self.dropout[0],
                device,
            ),
            text_map: Projection::new(
                self.text_dim,
                d,
                self.num_mapping_layers,
                self.dropout[0],
                device,
            ),
            img_adapter: Adapter::new(d, device),
            text_adapter: Adapter::new(d, device),
            pre_output: HeadLinear::new(d, d, true, device),
            classifier,
            drop_before_pre: DropoutConfig::new(self.dropout[1]).init(),
            drop_after_pre: DropoutConfig::new(self.dropout[2]).init(),
            ratio: self.ratio,
            scale: self.scale,
        }
    }
}

/// Linear (with bias), then dropout; extra layers add ReLU -> Linear -> dropout.
#[derive(Module, Debug)]
pub struct Projection {
    pub layers: Vec<HeadLinear>,
    dropout: Dropout,
}

impl Projection {
    fn new(d_in: usize, d_out: usize, layers: usize, p: f64, device: &Device) -> Self {
        let layers = (0..layers.max(1))
            .map(|i| HeadLinear::new(if i == 0 { d_in } else { d_out }, d_out, true, device))
            .collect();
        Projection {
            layers,
            dropout: DropoutConfig::new(p).init(),
        }
    }

    pub fn from_layers(layers: Vec<HeadLinear>, p: f64) -> Self {
        Projection {
            layers,
            dropout: DropoutConfig::new(p).init(),
        }
    }

    fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                x = relu(x);
            }
            x = self.dropout.forward(layer.forward(x));
        }
        x
    }
}

/// Bottleneck `d -> d/4 -> d`, no biases, ReLU after both layers.
#[derive(Module, Debug)]
pub struct Adapter {
    pub down: HeadLinear,
    pub up: HeadLinear,
}

impl Adapter {
    fn new(d: usize, device: &Device) -> Self {
        Adapter {
            down: HeadLinear::new(d, d / 4, false, device),
            up: HeadLinear::new(d / 4, d, false, device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        relu(self.up.forward(relu(self.down.forward(x))))
    }
}

#[derive(Module, Debug)]
pub struct MemeClipHead {
    pub image_map: Projection,
    pub text_map: Projection,
    pub img_adapter: Adapter,
    pub text_adapter: Adapter,
    pub pre_output: HeadLinear,
    /// `[classes, map_dim]`, PyTorch's layout.
    pub classifier: Param<Tensor<2>>,
    drop_before_pre: Dropout,
    drop_after_pre: Dropout,
    #[module(skip)]
    pub ratio: f64,
    #[module(skip)]
    pub scale: f64,
}

impl MemeClipHead {
    /// Logits `[B, classes]` for `image_embeds` `[B, Di]` and `text_pooled` `[B, Dt]`. Dropout
    /// acts only on an autodiff device.
    pub fn forward(&self, image: Tensor<2>, text: Tensor<2>) -> Tensor<2> {
        let mix = |p: Tensor<2>, adapter: &Adapter| {
            adapter.forward(p.clone()) * self.ratio + p * (1.0 - self.ratio)
        };
        let image = mix(self.image_map.forward(image), &self.img_adapter);
        let text = mix(self.text_map.forward(text), &self.text_adapter);
        // The spec's fusion divides by the plain norm, with no epsilon.
        let fused = divide_by_norm(image, 0.0) * divide_by_norm(text, 0.0);
        let hidden = self.drop_after_pre.forward(relu(
            self.pre_output.forward(self.drop_before_pre.forward(fused)),
        ));
        let weights = divide_by_norm(self.classifier.val(), 1e-12);
        divide_by_norm(hidden, 1e-12).matmul(weights.transpose()) * self.scale
    }

    pub fn num_classes(&self) -> usize {
        self.classifier.val().dims()[0]
    }

    pub fn config(&self) -> HeadConfig {
        let (image_dim, map_dim) = self.image_map.layers[0].dims();
        let (text_dim, _) = self.text_map.layers[0].dims();
        HeadConfig {
            image_dim,
            text_dim,
            map_dim,
            num_classes: self.num_classes(),
            num_mapping_layers: self.image_map.layers.len(),
            dropout: [
                self.image_map.dropout.prob,
                self.drop_before_pre.prob,
                self.drop_after_pre.prob,
            ],
            ratio: self.ratio,
            scale: self.scale,
        }
    }

    /// Builds a head from its parts (used by the file loader).
    pub fn from_parts(
        config: &HeadConfig,
        image_map: Vec<HeadLinear>,
        text_map: Vec<HeadLinear>,
        img_adapter: Adapter,
        text_adapter: Adapter,
        pre_output: HeadLinear,
        classifier: Tensor<2>,
    ) -> Self {
        MemeClipHead {
            image_map: Projection::from_layers(image_map, config.dropout[0]),
            text_map: Projection::from_layers(text_map, config.dropout[0]),
            img_adapter,
            text_adapter,
            pre_output,
            classifier: Param::from_tensor(classifier),
            drop_before_pre: DropoutConfig::new(config.dropout[1]).init(),
            drop_after_pre: DropoutConfig::new(config.dropout[2]).init(),
            ratio: config.ratio,
            scale: config.scale,
        }
    }
}

/// Each row divided by `max(norm, eps)` (`F.normalize`); `eps = 0` is the plain division.
pub fn divide_by_norm(x: Tensor<2>, eps: f64) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt();
    let norm = if eps > 0.0 { norm.clamp_min(eps) } else { norm };
    x / norm
}

/// Index of the largest logit (the first on ties).
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Class probabilities from logits.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|v| v / sum).collect()
}
