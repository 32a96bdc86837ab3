//! Deterministic random weights for any CLIP config: real shapes without a download, for
//! benchmarks and bundle-size reports. Not a model: its outputs mean nothing.

use super::weights::WeightSource;
use crate::error::Result;

pub struct RandomWeights {
    pub seed: u64,
}

impl WeightSource for RandomWeights {
    fn source_name(&self) -> &str {
        "random weights"
    }

    fn shape_of(&self, _key: &str) -> Option<Vec<usize>> {
        None
    }

    fn read(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let count: usize = shape.iter().product();
        let is_norm_scale = key.contains("norm") && key.ends_with(".weight");
        if is_norm_scale {
            return Ok(vec![1.0; count]);
        }
        // splitmix64 seeded by the key: every tensor differs, every run is the same.
        let mut state = key.bytes().fold(self.seed ^ 0x9e37_79b9_7f4a_7c15, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        // Uniform in [-0.04, 0.04): about the spread of trained CLIP weights.
        Ok((0..count)
            .map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.08)
            .collect())
    }
}
