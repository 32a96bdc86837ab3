//! Head files: safetensors with the official MemeCLIP key names in PyTorch layout
//! (`image_map.proj.0.weight`, `img_adapter.fc.0.weight`, `pre_output.1.weight`,
//! `classifier.weight`, ...) plus metadata: kind, task, class names, CLIP model, ratio, scale.
//! Zero-shot heads hold `prompt_embeds` and `logit_scale` instead.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};

use super::zero_shot::ZeroShotHead;
use super::{Adapter, HeadConfig, HeadLinear, MemeClipHead};
use crate::clip::weights::{SafetensorsWeights, WeightSource, write_safetensors};
use crate::error::{Error, Result};

pub const FORMAT: &str = "memeclip-head";
pub const VERSION: &str = "1";

/// What a head file says about itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HeadInfo {
    pub task: String,
    pub class_names: Vec<String>,
    /// The CLIP the head was trained on (its config's name), for a mismatch warning.
    pub clip_model: String,
}

/// Boxed: burn tensors are large values, and the two kinds differ in size.
pub enum Head {
    MemeClip(Box<MemeClipHead>),
    ZeroShot(Box<ZeroShotHead>),
}

pub struct HeadFile {
    pub info: HeadInfo,
    pub head: Head,
}

impl HeadFile {
    pub fn kind(&self) -> &'static str {
        match self.head {
            Head::MemeClip(_) => "memeclip",
            Head::ZeroShot(_) => "zero-shot",
        }
    }
}

/// Tensors named as in the official code, in PyTorch layout.
pub type NamedTensors = Vec<(String, Vec<usize>, Vec<f32>)>;

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap_or_default()
}

fn push_linear(out: &mut NamedTensors, prefix: &str, linear: &HeadLinear) {
    let (d_in, d_out) = linear.dims();
    out.push((
        format!("{prefix}.weight"),
        vec![d_out, d_in],
        values(linear.weight.val()),
    ));
    if let Some(bias) = &linear.bias {
        let bias = bias
            .val()
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap_or_default();
        out.push((format!("{prefix}.bias"), vec![d_out], bias));
    }
}

/// The head's tensors under the official names.
pub fn memeclip_tensors(head: &MemeClipHead) -> NamedTensors {
    let mut out = Vec::new();
    for (name, projection) in [("image_map", &head.image_map), ("text_map", &head.text_map)] {
        for (i, layer) in projection.layers.iter().enumerate() {
            // Linear, Dropout, then ReLU, Linear, Dropout per extra layer: Linear i sits at 3i.
            push_linear(&mut out, &format!("{name}.proj.{}", 3 * i), layer);
        }
    }
    for (name, adapter) in [
        ("img_adapter", &head.img_adapter),
        ("text_adapter", &head.text_adapter),
    ] {
        push_linear(&mut out, &format!("{name}.fc.0"), &adapter.down);
        push_linear(&mut out, &format!("{name}.fc.2"), &adapter.up);
    }
    push_linear(&mut out, "pre_output.1", &head.pre_output);
    let classifier = head.classifier.val();
    let dims = classifier.dims();
    out.push((
        "classifier.weight".into(),
        dims.to_vec(),
        values(classifier),
    ));
    out
}

fn metadata(info: &HeadInfo, kind: &str, extra: &[(&str, String)]) -> HashMap<String, String> {
    let mut m = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("version".to_string(), VERSION.to_string()),
        ("kind".to_string(), kind.to_string()),
        ("task".to_string(), info.task.clone()),
        (
            "class_names".to_string(),
            serde_json::to_string(&info.class_names).expect("strings serialize"),
        ),
        ("clip_model".to_string(), info.clip_model.clone()),
    ]);
    m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    m
}

pub fn save_memeclip(path: &Path, head: &MemeClipHead, info: &HeadInfo) -> Result<()> {
    let config = head.config();
    let extra = [
        ("ratio", config.ratio.to_string()),
        ("scale", config.scale.to_string()),
        (
            "dropout",
            serde_json::to_string(&config.dropout).expect("floats serialize"),
        ),
    ];
    write_tensors(path, &memeclip_tensors(head), info, "memeclip", &extra)
}

pub fn write_tensors(
    path: &Path,
    tensors: &NamedTensors,
    info: &HeadInfo,
    kind: &str,
    extra: &[(&str, String)],
) -> Result<()> {
    if info.class_names.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: a head needs class names",
            path.display()
        )));
    }
    write_safetensors(path, tensors, metadata(info, kind, extra))
}

pub fn save_zero_shot(path: &Path, head: &ZeroShotHead, info: &HeadInfo) -> Result<()> {
    let prompts = head.prompt_embeds.clone();
    let dims = prompts.dims();
    let tensors = vec![
        ("prompt_embeds".to_string(), dims.to_vec(), values(prompts)),
        ("logit_scale".to_string(), vec![1], vec![head.logit_scale]),
    ];
    let extra = [("fuse_text", head.fuse_text.to_string())];
    write_tensors(path, &tensors, info, "zero-shot", &extra)
}

/// Loads a head file onto `device`; every error names the file and what is wrong.
pub fn load(path: &Path, device: &Device) -> Result<HeadFile> {
    let file = SafetensorsWeights::open(path)?;
    let name = path.display().to_string();
    let meta = file.metadata();
    let field = |key: &str| {
        meta.get(key)
            .cloned()
            .ok_or_else(|| Error::config(&name, format!("metadata `{key}` is missing")))
    };
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(Error::config(
            &name,
            format!("not a memeclip head file (metadata `format` should be `{FORMAT}`)"),
        ));
    }
    if field("version")? != VERSION {
        return Err(Error::config(
            &name,
            format!("head format version {} is not supported", field("version")?),
        ));
    }
    let class_names: Vec<String> = serde_json::from_str(&field("class_names")?)
        .map_err(|e| Error::config(&name, format!("metadata `class_names`: {e}")))?;
    let info = HeadInfo {
        task: field("task")?,
        class_names,
        clip_model: meta.get("clip_model").cloned().unwrap_or_default(),
    };
    let parse = |key: &str| -> Result<f64> {
        field(key)?
            .parse()
            .map_err(|_| Error::config(&name, format!("metadata `{key}` is not a number")))
    };
    let head = match field("kind")?.as_str() {
        "memeclip" => {
            let dropout: [f64; 3] = serde_json::from_str(&field("dropout")?)
                .map_err(|e| Error::config(&name, format!("metadata `dropout`: {e}")))?;
            let head = memeclip_from(&file, parse("ratio")?, parse("scale")?, dropout, device)?;
            Head::MemeClip(Box::new(head))
        }
        "zero-shot" => {
            let prompts = file
                .shape("prompt_embeds")
                .map(<[usize]>::to_vec)
                .unwrap_or_default();
            if prompts.len() != 2 {
                return Err(Error::tensor(&name, "prompt_embeds", "missing or not 2-D"));
            }
            let values = file.read("prompt_embeds", &prompts)?;
            Head::ZeroShot(Box::new(ZeroShotHead {
                prompt_embeds: Tensor::from_data(
                    TensorData::new(values, [prompts[0], prompts[1]]),
                    device,
                ),
                logit_scale: file.read("logit_scale", &[1])?[0],
                fuse_text: meta.get("fuse_text").is_some_and(|v| v == "true"),
            }))
        }
        other => {
            return Err(Error::config(
                &name,
                format!("head kind `{other}` is unknown"),
            ));
        }
    };
    let classes = match &head {
        Head::MemeClip(h) => h.num_classes(),
        Head::ZeroShot(h) => h.prompt_embeds.dims()[0],
    };
    if classes != info.class_names.len() {
        return Err(Error::config(
            &name,
            format!(
                "{} class names for a head with {classes} classes",
                info.class_names.len()
            ),
        ));
    }
    Ok(HeadFile { info, head })
}

/// A MemeCLIP head from tensors named as in the official code; widths come from the tensors.
pub fn memeclip_from(
    source: &dyn WeightSource,
    ratio: f64,
    scale: f64,
    dropout: [f64; 3],
    device: &Device,
) -> Result<MemeClipHead> {
    let bad = |field: &str, message: String| {
        Err(Error::config(
            source.source_name(),
            format!("`{field}`: {message}"),
        ))
    };
    if let Some(p) = dropout.iter().find(|p| !(0.0..1.0).contains(*p)) {
        return bad("dropout", format!("{p} is not a probability in [0, 1)"));
    }
    if !(0.0..=1.0).contains(&ratio) {
        return bad(
            "ratio",
            format!("{ratio} is not a residual ratio in [0, 1]"),
        );
    }
    if !(scale.is_finite() && scale > 0.0) {
        return bad("scale", format!("{scale} is not a positive logit scale"));
    }
    let shape_of = |key: &str| -> Result<Vec<usize>> {
        source
            .shape_of(key)
            .ok_or_else(|| Error::tensor(source.source_name(), key, "missing"))
    };
    let first = shape_of("image_map.proj.0.weight")?;
    let text_first = shape_of("text_map.proj.0.weight")?;
    let classifier = shape_of("classifier.weight")?;
    if first.len() != 2 || text_first.len() != 2 || classifier.len() != 2 {
        return Err(Error::tensor(
            source.source_name(),
            "image_map.proj.0.weight",
            "expected 2-D weights",
        ));
    }
    let (map_dim, image_dim, text_dim, classes) =
        (first[0], first[1], text_first[1], classifier[0]);
    let layers = (0..)
        .take_while(|i| {
            source
                .shape_of(&format!("image_map.proj.{}.weight", 3 * i))
                .is_some()
        })
        .count();
    let linear = |key: &str, d_in: usize, d_out: usize, bias: bool| -> Result<HeadLinear> {
        let weight = source.read(&format!("{key}.weight"), &[d_out, d_in])?;
        let bias = if bias {
            let b = source.read(&format!("{key}.bias"), &[d_out])?;
            Some(Tensor::from_data(TensorData::new(b, [d_out]), device))
        } else {
            None
        };
        Ok(HeadLinear::from_tensors(
            Tensor::from_data(TensorData::new(weight, [d_out, d_in]), device),
            bias,
        ))
    };
    let projection = |name: &str, d_in: usize| -> Result<Vec<HeadLinear>> {
        (0..layers)
            .map(|i| {
                linear(
                    &format!("{name}.proj.{}", 3 * i),
                    if i == 0 { d_in } else { map_dim },
                    map_dim,
                    true,
                )
            })
            .collect()
    };
    let adapter = |name: &str| -> Result<Adapter> {
        Ok(Adapter {
            down: linear(&format!("{name}.fc.0"), map_dim, map_dim / 4, false)?,
            up: linear(&format!("{name}.fc.2"), map_dim / 4, map_dim, false)?,
        })
    };
    let config = HeadConfig {
        image_dim,
        text_dim,
        map_dim,
        num_classes: classes,
        num_mapping_layers: layers,
        dropout,
        ratio,
        scale,
    };
    let classifier = source.read("classifier.weight", &[classes, map_dim])?;
    Ok(MemeClipHead::from_parts(
        &config,
        projection("image_map", image_dim)?,
        projection("text_map", text_dim)?,
        adapter("img_adapter")?,
        adapter("text_adapter")?,
        linear("pre_output.1", map_dim, map_dim, true)?,
        Tensor::from_data(TensorData::new(classifier, [classes, map_dim]), device),
    ))
}
