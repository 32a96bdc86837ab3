//! The wasm API (wasm-bindgen): a bundle loaded once, memes classified on the user's device.
//! This first part runs on the CPU backend (flex); WebGPU comes with the JS API.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::bundle::Bundle;
use crate::data::{DecodeLimits, decode_rgb};
use crate::head::file::{Head, HeadFile};
use crate::head::{argmax, softmax};
use crate::pipeline::{ClipPipeline, rows};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn js_error(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

#[derive(Serialize)]
struct TaskResult {
    labels: Vec<String>,
    probs: Vec<f32>,
    predicted: String,
}

#[derive(Serialize)]
struct Classification {
    tasks: BTreeMap<String, TaskResult>,
    timings_ms: BTreeMap<&'static str, f64>,
}

#[wasm_bindgen]
pub struct WasmClassifier {
    pipeline: ClipPipeline,
    heads: Vec<HeadFile>,
}

#[wasm_bindgen]
impl WasmClassifier {
    /// Validates and loads a bundle's bytes on the CPU backend.
    #[wasm_bindgen(js_name = loadCpu)]
    pub fn load_cpu(bytes: Vec<u8>) -> Result<WasmClassifier, JsError> {
        let bundle = Bundle::from_bytes(bytes, "bundle").map_err(js_error)?;
        let device = Device::flex();
        let pipeline = bundle.pipeline(&device).map_err(js_error)?;
        let heads = bundle.heads(&device).map_err(js_error)?;
        Ok(WasmClassifier { pipeline, heads })
    }

    /// Per-task probabilities for one meme: the image file's bytes and its text.
    pub fn classify(&self, image: &[u8], text: &str) -> Result<JsValue, JsError> {
        let t0 = now_ms();
        let decoded = decode_rgb(image, "image", DecodeLimits::default()).map_err(js_error)?;
        let pixels = self.pipeline.pixel_batch(&[decoded]).map_err(js_error)?;
        let t1 = now_ms();
        let image_embeds = self.pipeline.clip.encode_images(pixels).map_err(js_error)?;
        let t2 = now_ms();
        let ids = self.pipeline.tokenizer.encode(text).map_err(js_error)?;
        let text_out = self.pipeline.clip.encode_texts(&[ids]).map_err(js_error)?;
        let t3 = now_ms();
        let mut tasks = BTreeMap::new();
        for head in &self.heads {
            let logits = match &head.head {
                Head::MemeClip(h) => h.forward(image_embeds.clone(), text_out.pooled.clone()),
                Head::ZeroShot(h) => h.forward(image_embeds.clone(), text_out.embeds.clone()),
            };
            let logits = rows(logits).map_err(js_error)?.remove(0);
            let names = &head.info.class_names;
            tasks.insert(
                head.info.task.clone(),
                TaskResult {
                    labels: names.clone(),
                    probs: softmax(&logits),
                    predicted: names[argmax(&logits)].clone(),
                },
            );
        }
        let t4 = now_ms();
        let timings_ms = BTreeMap::from([
            ("preprocess", t1 - t0),
            ("image", t2 - t1),
            ("text", t3 - t2),
            ("head", t4 - t3),
        ]);
        // Maps become plain objects, as a JS caller expects.
        Classification { tasks, timings_ms }
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|e| JsError::new(&e.to_string()))
    }
}
