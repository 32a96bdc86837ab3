//! Shared test helpers: fixture paths and the reference values written by
//! pkg-scripts/make-clip-fixtures.py (transformers, torch and Pillow).
#![allow(dead_code)]

pub mod parity;
pub mod synth;

use std::path::PathBuf;

use memeclip::clip::{SafetensorsWeights, WeightSource};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

pub fn tiny_clip() -> PathBuf {
    fixtures().join("tiny-clip")
}

pub struct Reference {
    pub texts: Vec<String>,
    pub input_ids: Vec<Vec<u32>>,
    pub images: Vec<String>,
    tensors: SafetensorsWeights,
}

impl Reference {
    pub fn load() -> Self {
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join("reference.json")).unwrap(),
        )
        .unwrap();
        let strings = |key: &str| -> Vec<String> {
            json[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let input_ids = json["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ids| {
                ids.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect();
        Reference {
            texts: strings("texts"),
            images: strings("images"),
            input_ids,
            tensors: SafetensorsWeights::open(&fixtures().join("reference.safetensors")).unwrap(),
        }
    }

    /// A reference array as rows of its last dimension's product over the first.
    pub fn rows(&self, key: &str) -> Vec<Vec<f32>> {
        let shape = self
            .tensors
            .shape(key)
            .unwrap_or_else(|| panic!("no {key}"))
            .to_vec();
        let values = self.tensors.read(key, &shape).unwrap();
        let row_len: usize = shape[1..].iter().product();
        values.chunks(row_len).map(<[f32]>::to_vec).collect()
    }

    pub fn shape(&self, key: &str) -> Vec<usize> {
        self.tensors.shape(key).unwrap().to_vec()
    }
}

pub fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "row count");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "row length");
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

pub fn image_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("images").join(name)).unwrap()
}
