//! The subset of a Hugging Face `CLIPModel` config.json that the towers need.
//! Defaults are those of transformers' `CLIPTextConfig` / `CLIPVisionConfig`, so a config that omits
//! a field means what it means to transformers.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    QuickGelu,
    Gelu,
}

impl Activation {
    fn parse(name: &str, file: &str, field: &str) -> Result<Self> {
        match name {
            "quick_gelu" => Ok(Activation::QuickGelu),
            "gelu" => Ok(Activation::Gelu),
            other => Err(Error::config(
                file,
                format!(
                    "{field}: activation `{other}` is not supported (expected quick_gelu or gelu)"
                ),
            )),
        }
    }
}

/// Shape of one transformer tower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TowerConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub activation: Activation,
    pub layer_norm_eps: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    pub tower: TowerConfig,
    pub vocab_size: usize,
    pub max_positions: usize,
    /// The config's own end-of-text id; legacy OpenAI configs say 2, so the tokenizer's id wins.
    pub eos_token_id: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisionConfig {
    pub tower: TowerConfig,
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
}

impl VisionConfig {
    pub fn num_patches(&self) -> usize {
        (self.image_size / self.patch_size).pow(2)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    pub text: TextConfig,
    pub vision: VisionConfig,
    pub projection_dim: usize,
    /// A short name for reports, e.g. the `_name_or_path` of the config.
    pub name: String,
}

#[derive(Deserialize)]
struct RawClip {
    model_type: Option<String>,
    text_config: Option<RawText>,
    vision_config: Option<RawVision>,
    /// Older transformers wrote the tower configs under these names (sometimes as null).
    text_config_dict: Option<RawText>,
    vision_config_dict: Option<RawVision>,
    projection_dim: Option<usize>,
    #[serde(rename = "_name_or_path")]
    name_or_path: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawText {
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    max_position_embeddings: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
    eos_token_id: Option<u32>,
    projection_dim: Option<usize>,
}

#[derive(Deserialize, Default)]
struct RawVision {
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    image_size: Option<usize>,
    patch_size: Option<usize>,
    num_channels: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
}

impl ClipConfig {
    /// Parses config.json text; `file` names it in errors.
    pub fn from_json(json: &str, file: &str) -> Result<Self> {
        let raw: RawClip = serde_json::from_str(json)
            .map_err(|e| Error::config(file, format!("not a valid CLIP config: {e}")))?;
        if let Some(kind) = raw.model_type.as_deref()
            && kind != "clip"
        {
            return Err(Error::config(
                file,
                format!("model_type is `{kind}`, expected `clip` (a Hugging Face CLIPModel)"),
            ));
        }
        let t = raw.text_config.or(raw.text_config_dict).unwrap_or_default();
        let v = raw
            .vision_config
            .or(raw.vision_config_dict)
            .unwrap_or_default();
        let text = TextConfig {
            tower: TowerConfig {
                hidden_size: t.hidden_size.unwrap_or(512),
                intermediate_size: t.intermediate_size.unwrap_or(2048),
                num_layers: t.num_hidden_layers.unwrap_or(12),
                num_heads: t.num_attention_heads.unwrap_or(8),
                activation: Activation::parse(
                    t.hidden_act.as_deref().unwrap_or("quick_gelu"),
                    file,
                    "text_config.hidden_act",
                )?,
                layer_norm_eps: t.layer_norm_eps.unwrap_or(1e-5),
            },
            vocab_size: t.vocab_size.unwrap_or(49408),
            max_positions: t.max_position_embeddings.unwrap_or(77),
            eos_token_id: t.eos_token_id,
        };
        let vision = VisionConfig {
            tower: TowerConfig {
                hidden_size: v.hidden_size.unwrap_or(768),
                intermediate_size: v.intermediate_size.unwrap_or(3072),
                num_layers: v.num_hidden_layers.unwrap_or(12),
                num_heads: v.num_attention_heads.unwrap_or(12),
                activation: Activation::parse(
                    v.hidden_act.as_deref().unwrap_or("quick_gelu"),
                    file,
                    "vision_config.hidden_act",
                )?,
                layer_norm_eps: v.layer_norm_eps.unwrap_or(1e-5),
            },
            image_size: v.image_size.unwrap_or(224),
            patch_size: v.patch_size.unwrap_or(32),
            num_channels: v.num_channels.unwrap_or(3),
        };
        let config = ClipConfig {
            text,
            vision,
            projection_dim: raw.projection_dim.or(t.projection_dim).unwrap_or(512),
            name: raw.name_or_path.unwrap_or_default(),
        };
        config.validate(file)?;
        Ok(config)
    }

    fn validate(&self, file: &str) -> Result<()> {
        for (field, tower) in [
            ("text_config", &self.text.tower),
            ("vision_config", &self.vision.tower),
        ] {
            if tower.num_heads == 0 || !tower.hidden_size.is_multiple_of(tower.num_heads) {
                return Err(Error::config(
                    file,
                    format!(
                        "{field}: hidden_size {} is not divisible by num_attention_heads {}",
                        tower.hidden_size, tower.num_heads
                    ),
                ));
            }
        }
        let v = &self.vision;
        if v.patch_size == 0 || !v.image_size.is_multiple_of(v.patch_size) {
            return Err(Error::config(
                file,
                format!(
                    "vision_config: image_size {} is not a multiple of patch_size {}",
                    v.image_size, v.patch_size
                ),
            ));
        }
        if v.num_channels != 3 {
            return Err(Error::config(
                file,
                format!(
                    "vision_config.num_channels is {}, only RGB (3) is supported",
                    v.num_channels
                ),
            ));
        }
        if self.text.max_positions < 3 {
            return Err(Error::config(
                file,
                "text_config.max_position_embeddings must leave room for start, text and end tokens",
            ));
        }
        Ok(())
    }
}

impl ClipConfig {
    /// The shapes of OpenAI's ViT-B/32 (`openai/clip-vit-base-patch32`).
    pub fn vit_b32() -> Self {
        Self::openai("vit-b-32-shaped", (768, 12, 12, 32), (512, 8, 12), 512)
    }

    /// The shapes of OpenAI's ViT-L/14 at 224 px (`openai/clip-vit-large-patch14`).
    pub fn vit_l14() -> Self {
        Self::openai("vit-l-14-shaped", (1024, 24, 16, 14), (768, 12, 12), 768)
    }

    fn openai(
        name: &str,
        (v_width, v_layers, v_heads, patch): (usize, usize, usize, usize),
        (t_width, t_heads, t_layers): (usize, usize, usize),
        projection_dim: usize,
    ) -> Self {
        let tower = |width: usize, layers: usize, heads: usize| TowerConfig {
            hidden_size: width,
            intermediate_size: 4 * width,
            num_layers: layers,
            num_heads: heads,
            activation: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        };
        ClipConfig {
            text: TextConfig {
                tower: tower(t_width, t_layers, t_heads),
                vocab_size: 49408,
                max_positions: 77,
                eos_token_id: Some(49407),
            },
            vision: VisionConfig {
                tower: tower(v_width, v_layers, v_heads),
                image_size: 224,
                patch_size: patch,
                num_channels: 3,
            },
            projection_dim,
            name: name.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of `openai/clip-vit-large-patch14`'s config.json that matter, as published
    /// (a legacy file: `eos_token_id` 2, `projection_dim` repeated in the towers).
    const L14: &str = r#"{
        "_name_or_path": "openai/clip-vit-large-patch14",
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 768,
        "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
            "num_hidden_layers": 12, "max_position_embeddings": 77, "vocab_size": 49408,
            "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "eos_token_id": 2,
            "projection_dim": 768},
        "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
            "num_hidden_layers": 24, "image_size": 224, "patch_size": 14, "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-05, "projection_dim": 768}
    }"#;

    #[test]
    fn published_l14_config_gives_l14_shapes() {
        let config = ClipConfig::from_json(L14, "config.json").unwrap();
        let mut expected = ClipConfig::vit_l14();
        expected.name = "openai/clip-vit-large-patch14".into();
        expected.text.eos_token_id = Some(2);
        assert_eq!(config, expected);
        assert_eq!(config.vision.num_patches(), 256);
    }

    #[test]
    fn legacy_config_dict_keys_are_read() {
        let json = r#"{"text_config": null, "text_config_dict": {"hidden_size": 64, "num_attention_heads": 4},
                       "vision_config_dict": {"patch_size": 16}, "vision_config": null}"#;
        let config = ClipConfig::from_json(json, "config.json").unwrap();
        assert_eq!(config.text.tower.hidden_size, 64);
        assert_eq!(config.vision.patch_size, 16);
    }

    #[test]
    fn missing_fields_take_transformers_defaults() {
        // An empty CLIPConfig is ViT-B/32 in transformers.
        let config = ClipConfig::from_json(r#"{"model_type": "clip"}"#, "config.json").unwrap();
        let b32 = ClipConfig::vit_b32();
        assert_eq!(
            (config.vision.clone(), config.projection_dim),
            (b32.vision, 512)
        );
        assert_eq!(config.text.tower, b32.text.tower);
        // ViT-B/16 differs only in the patch size.
        let b16 = ClipConfig::from_json(r#"{"vision_config": {"patch_size": 16}}"#, "config.json")
            .unwrap();
        assert_eq!(b16.vision.num_patches(), 196);
    }

    #[test]
    fn inconsistent_shapes_are_named() {
        let err = ClipConfig::from_json(
            r#"{"vision_config": {"hidden_size": 100, "num_attention_heads": 12}}"#,
            "x/config.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("x/config.json: vision_config: hidden_size 100"),
            "{err}"
        );
        let err = ClipConfig::from_json("{not json", "x/config.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid CLIP config"), "{err}");
    }
}
