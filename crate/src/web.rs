//! The wasm API (wasm-bindgen): a bundle loaded once, memes classified on the user's device, on
//! WebGPU or on the CPU backend (flex). Results are read back asynchronously: a synchronous
//! readback panics on WebGPU.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::bundle::Bundle;
use crate::clip::Kernels;
use crate::data::{DecodeLimits, decode_rgb};
use crate::head::file::{Head, HeadFile};
use crate::head::result::{TaskResult, TaskResults};
use crate::ocr::Ocr;
use crate::ocr::crop::Pixels;
use crate::pipeline::ClipPipeline;

unsafe extern "C" {
    /// The linker's function that runs static constructors (burn's and cubecl's `inventory`
    /// registrations).
    fn __wasm_call_ctors();
}

#[wasm_bindgen(start)]
fn start() {
    // Calling the constructors once here also stops the linker from wrapping every export in a
    // call to them: without this, each call into the module (every JS value passed in or out)
    // ran all of them again, about 20 ms per classification.
    // SAFETY: runs once, when the module starts, before any other Rust code.
    unsafe { __wasm_call_ctors() };
    console_error_panic_hook::set_once();
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn js_error(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

#[derive(Serialize)]
struct Classification {
    tasks: TaskResults,
    /// The text classified, and where it came from: `typed`, `ocr` (read from the image) or
    /// `none` (no text given and a bundle without OCR).
    text: String,
    text_source: &'static str,
    timings_ms: BTreeMap<&'static str, f64>,
}

#[wasm_bindgen]
pub struct WasmClassifier {
    pipeline: ClipPipeline,
    heads: Vec<HeadFile>,
    ocr: Option<Ocr>,
    backend: &'static str,
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    // Maps become plain objects, as a JS caller expects.
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

fn load(
    bytes: Vec<u8>,
    payload_sha256: Option<String>,
    device: Device,
    backend: &'static str,
) -> Result<WasmClassifier, JsError> {
    let bundle = match payload_sha256 {
        Some(digest) => Bundle::from_bytes_hashed(bytes, "bundle", &digest),
        None => Bundle::from_bytes(bytes, "bundle"),
    }
    .map_err(js_error)?;
    let kernels = match backend {
        "cpu" => bundle.cpu_kernels(),
        _ => Kernels::Float,
    };
    let pipeline = bundle.pipeline(&device, kernels).map_err(js_error)?;
    let heads = bundle.heads(&device).map_err(js_error)?;
    let ocr = bundle.ocr(&device).map_err(js_error)?;
    Ok(WasmClassifier {
        pipeline,
        heads,
        ocr,
        backend,
    })
}

async fn read_row(tensor: burn::tensor::Tensor<2>) -> Result<Vec<f32>, JsError> {
    let data = tensor
        .into_data_async()
        .await
        .map_err(|e| JsError::new(&format!("reading results: {e:?}")))?;
    data.try_into_vec::<f32>()
        .map_err(|e| JsError::new(&format!("reading results: {e:?}")))
}

#[wasm_bindgen]
impl WasmClassifier {
    /// Validates and loads a bundle's bytes on the CPU backend. `payload_sha256`: the payload's
    /// SHA-256 in hex if the caller computed it (WebCrypto); otherwise wasm computes it.
    #[wasm_bindgen(js_name = loadCpu)]
    pub fn load_cpu(
        bytes: Vec<u8>,
        payload_sha256: Option<String>,
    ) -> Result<WasmClassifier, JsError> {
        load(bytes, payload_sha256, Device::flex(), "cpu")
    }

    /// Validates and loads a bundle's bytes on WebGPU. The caller checks first that
    /// `navigator.gpu.requestAdapter()` gives an adapter: without one wgpu panics.
    #[wasm_bindgen(js_name = loadWebGpu)]
    pub async fn load_webgpu(
        bytes: Vec<u8>,
        payload_sha256: Option<String>,
    ) -> Result<WasmClassifier, JsError> {
        let device = Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| JsError::new(&format!("WebGPU is not usable: {e}")))?;
        load(bytes, payload_sha256, device, "webgpu")
    }

    /// `[{ name, kind, labels }]` per task, in the bundle's order.
    #[wasm_bindgen(getter)]
    pub fn tasks(&self) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Task<'a> {
            name: &'a str,
            kind: &'a str,
            labels: &'a [String],
        }
        let tasks: Vec<Task> = self
            .heads
            .iter()
            .map(|h| Task {
                name: &h.info.task,
                kind: h.kind(),
                labels: &h.info.class_names,
            })
            .collect();
        to_js(&tasks)
    }

    /// Whether the bundle reads a meme's text itself (it holds an OCR model).
    #[wasm_bindgen(getter, js_name = hasOcr)]
    pub fn has_ocr(&self) -> bool {
        self.ocr.is_some()
    }

    /// `{ text, lines: [{ text, confidence, box: [x0, y0, x1, y1] }] }` read from an image file.
    #[wasm_bindgen(js_name = readText)]
    pub async fn read_text(&self, image: Vec<u8>) -> Result<JsValue, JsError> {
        let ocr = self
            .ocr
            .as_ref()
            .ok_or_else(|| JsError::new("this bundle has no OCR model (export it with --ocr)"))?;
        let decoded = decode_rgb(&image, "image", DecodeLimits::default()).map_err(js_error)?;
        let read = ocr
            .read(&Pixels::from_rgb(&decoded))
            .await
            .map_err(js_error)?;
        to_js(&read)
    }

    /// `webgpu` or `cpu`: what actually runs.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.to_string()
    }

    /// Per-task probabilities for one meme: the image file's bytes and its text; without a
    /// text, the text is read from the image where the bundle has OCR.
    pub async fn classify(&self, image: Vec<u8>, text: Option<String>) -> Result<JsValue, JsError> {
        let t0 = now_ms();
        let decoded = decode_rgb(&image, "image", DecodeLimits::default()).map_err(js_error)?;
        let t_decoded = now_ms();
        let (text, text_source) = match (text, &self.ocr) {
            (Some(text), _) => (text, "typed"),
            (None, Some(ocr)) => {
                let read = ocr
                    .read(&Pixels::from_rgb(&decoded))
                    .await
                    .map_err(js_error)?;
                (read.text, "ocr")
            }
            (None, None) => (String::new(), "none"),
        };
        let t_ocr = now_ms();
        let pixels = self.pipeline.pixel_batch(&[decoded]).map_err(js_error)?;
        let t1 = now_ms();
        let image_embeds = self.pipeline.clip.encode_images(pixels).map_err(js_error)?;
        let t2 = now_ms();
        let ids = self.pipeline.tokenizer.encode(&text).map_err(js_error)?;
        let text_out = self.pipeline.clip.encode_texts(&[ids]).map_err(js_error)?;
        let t3 = now_ms();
        let mut tasks = TaskResults::default();
        for head in &self.heads {
            let logits = match &head.head {
                Head::MemeClip(h) => h.forward(image_embeds.clone(), text_out.pooled.clone()),
                Head::ZeroShot(h) => h.forward(image_embeds.clone(), text_out.embeds.clone()),
            };
            let logits = read_row(logits).await?;
            tasks.0.push((
                head.info.task.clone(),
                TaskResult::from_logits(head, &logits),
            ));
        }
        let t4 = now_ms();
        let mut timings_ms = BTreeMap::from([
            ("preprocess", (t_decoded - t0) + (t1 - t_ocr)),
            ("image", t2 - t1),
            ("text", t3 - t2),
            ("head", t4 - t3),
        ]);
        if text_source == "ocr" {
            timings_ms.insert("ocr", t_ocr - t_decoded);
        }
        to_js(&Classification {
            tasks,
            text,
            text_source,
            timings_ms,
        })
    }
}
