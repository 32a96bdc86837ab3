//! The wasm API (wasm-bindgen): a bundle loaded once, memes classified on the user's device, on
//! WebGPU or on the CPU backend (flex). Results are read back asynchronously: a synchronous
//! readback panics on WebGPU.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::bundle::Bundle;
use crate::clip::Kernels;
use crate::head::file::{Head, HeadFile, HeadInfo};
use crate::head::result::{TaskResult, TaskResults};
use crate::head::tasks;
use crate::head::zero_shot::ZeroShotHead;
use crate::ocr::Ocr;
use crate::ocr::crop::Pixels;
use crate::pipeline::ClipPipeline;

mod bytes;
mod input;
mod memory;
pub mod threads;

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
    /// How long the load's warm-up took (0 without one).
    warm_up_ms: f64,
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    // Maps become plain objects, as a JS caller expects.
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

/// A bundle that fails its checks (damaged, truncated, not a bundle) is an error named
/// `BundleError`, so that the JS side can tell it from other failures and drop a cached copy.
fn bundle_error(e: crate::Error) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    error.set_name("BundleError");
    error.into()
}

fn load(
    bytes: js_sys::Uint8Array,
    payload_sha256: Option<String>,
    device: Device,
    backend: &'static str,
) -> Result<WasmClassifier, JsValue> {
    let source = Box::new(bytes::JsBundleBytes(bytes));
    let bundle =
        Bundle::from_source(source, "bundle", payload_sha256.as_deref()).map_err(bundle_error)?;
    let kernels = match backend {
        "cpu" => bundle.cpu_kernels(),
        _ => Kernels::Float,
    };
    let pipeline = bundle.pipeline(&device, kernels).map_err(js_error)?;
    let heads = bundle.heads(&device).map_err(js_error)?;
    let ocr = bundle.ocr(&device, kernels).map_err(js_error)?;
    Ok(WasmClassifier {
        pipeline,
        heads,
        ocr,
        backend,
        warm_up_ms: 0.0,
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
    /// Validates and loads a bundle on the CPU backend. Its bytes stay in JS: each tensor is
    /// copied into wasm memory as it is built. `payload_sha256`: the payload's SHA-256 in hex if
    /// the caller computed it (WebCrypto); otherwise wasm computes it.
    #[wasm_bindgen(js_name = loadCpu)]
    pub fn load_cpu(
        bytes: js_sys::Uint8Array,
        payload_sha256: Option<String>,
    ) -> Result<WasmClassifier, JsValue> {
        load(bytes, payload_sha256, Device::flex(), "cpu")
    }

    /// Validates and loads a bundle's bytes on WebGPU. The caller checks first that
    /// `navigator.gpu.requestAdapter()` gives an adapter: without one wgpu panics. `warm_up`:
    /// run every stage once before returning (see [`Self::warm_up`]).
    #[cfg(feature = "webgpu")]
    #[wasm_bindgen(js_name = loadWebGpu)]
    pub async fn load_webgpu(
        bytes: js_sys::Uint8Array,
        payload_sha256: Option<String>,
        warm_up: bool,
    ) -> Result<WasmClassifier, JsValue> {
        let device = Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| JsError::new(&format!("WebGPU is not usable: {e}")))?;
        let mut classifier = load(bytes, payload_sha256, device, "webgpu")?;
        if warm_up {
            let t = now_ms();
            classifier.warm_up().await?;
            classifier.warm_up_ms = now_ms() - t;
        }
        Ok(classifier)
    }

    /// How long the load's warm-up took, in ms; 0 where there was none.
    #[wasm_bindgen(getter, js_name = warmUpMs)]
    pub fn warm_up_ms(&self) -> f64 {
        self.warm_up_ms
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

    /// `{ text, lines: [{ text, confidence, box: [x0, y0, x1, y1] }] }` read from an image (see
    /// [`input::to_rgb`]).
    #[wasm_bindgen(js_name = readText)]
    pub async fn read_text(&self, image: JsValue) -> Result<JsValue, JsError> {
        let ocr = self
            .ocr
            .as_ref()
            .ok_or_else(|| JsError::new("this bundle has no OCR model (export it with --ocr)"))?;
        let decoded = input::to_rgb(&image, "image").map_err(|e| JsError::new(&e))?;
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

    /// Adds a zero-shot task scored on every later classification: the image embedding against
    /// the bundle's own text tower's embeddings of `prompt` (`{}` marks the label; default
    /// "a photo of a {}.", as native `classify --labels`) for each label. Returns the tasks, as [`Self::tasks`].
    #[wasm_bindgen(js_name = addZeroShotTask)]
    pub fn add_zero_shot_task(
        &mut self,
        name: String,
        labels: Vec<String>,
        prompt: Option<String>,
    ) -> Result<JsValue, JsError> {
        if name.is_empty() || self.heads.iter().any(|h| h.info.task == name) {
            return Err(JsError::new(&format!(
                "a task needs a new, non-empty name: `{name}` is taken or empty"
            )));
        }
        let prompts: Vec<String> = match prompt {
            // As native `classify --labels`: underscores read as spaces.
            None => labels.iter().map(|l| tasks::prompt(l)).collect(),
            Some(template) if template.contains("{}") => {
                labels.iter().map(|l| template.replace("{}", l)).collect()
            }
            Some(template) => {
                return Err(JsError::new(&format!(
                    "prompt `{template}` has no {{}} where the label goes"
                )));
            }
        };
        let head = ZeroShotHead::from_prompts(
            &self.pipeline.clip,
            &self.pipeline.tokenizer,
            &prompts,
            false,
        )
        .map_err(js_error)?;
        self.heads.push(HeadFile {
            info: HeadInfo {
                task: name,
                class_names: labels,
                clip_model: self.pipeline.clip.config.name.clone(),
            },
            head: Head::ZeroShot(Box::new(head)),
        });
        self.tasks()
    }

    /// Removes a task (any kind); an error if there is none of that name.
    #[wasm_bindgen(js_name = removeTask)]
    pub fn remove_task(&mut self, name: String) -> Result<JsValue, JsError> {
        let before = self.heads.len();
        self.heads.retain(|h| h.info.task != name);
        if self.heads.len() == before {
            return Err(JsError::new(&format!("no task named `{name}`")));
        }
        self.tasks()
    }

    /// Per-task probabilities for several memes in one pass of each tower. `images`: file bytes
    /// or `{ rgba, width, height }`; `texts`: a string, or undefined to read the text from the
    /// image where the bundle has OCR. Returns one entry per meme, in order: a classification, or
    /// `{ error }` for a meme that failed (the others are still classified). The stage timings
    /// of the shared passes are the batch's, divided among its memes.
    #[wasm_bindgen(js_name = classifyBatch)]
    pub async fn classify_batch(
        &self,
        images: js_sys::Array,
        texts: js_sys::Array,
    ) -> Result<JsValue, JsError> {
        let mut out: Vec<Result<Classification, String>> = Vec::new();
        let (mut slots, mut memes) = (Vec::new(), Vec::new());
        for (i, image) in images.iter().enumerate() {
            let name = if images.length() == 1 {
                "image".to_string()
            } else {
                format!("image {i}")
            };
            let text = texts.get(i as u32).as_string();
            match self.prepare(&image, text, &name).await {
                Ok(meme) => {
                    slots.push(out.len());
                    memes.push(meme);
                    out.push(Err(String::new()));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        if !memes.is_empty() {
            for (slot, result) in slots.into_iter().zip(self.score(memes).await?) {
                out[slot] = Ok(result);
            }
        }
        let list = js_sys::Array::new();
        for entry in out {
            list.push(&match entry {
                Ok(c) => to_js(&c)?,
                Err(error) => to_js(&serde_json::json!({ "error": error }))?,
            });
        }
        Ok(list.into())
    }
}

/// A meme decoded and with its text, ready for the towers.
struct Meme {
    image: image::RgbImage,
    text: String,
    text_source: &'static str,
    ms: BTreeMap<&'static str, f64>,
}

impl WasmClassifier {
    /// A blank meme through every stage, the OCR's detector and recognizer too, its results
    /// dropped. WebGPU compiles each kernel the first time it runs: without this, a page's
    /// first classification took 5.4 s on SwiftShader where the next took 0.1 s (the tiny test
    /// CLIP), and a user waited on the first meme they dropped instead of during the load.
    #[cfg(feature = "webgpu")]
    async fn warm_up(&self) -> Result<(), JsError> {
        let blank = image::RgbImage::from_pixel(64, 64, image::Rgb([255, 255, 255]));
        if let Some(ocr) = &self.ocr {
            let line = image::RgbImage::from_pixel(320, 48, image::Rgb([255, 255, 255]));
            ocr.detect(&Pixels::from_rgb(&blank))
                .await
                .map_err(js_error)?;
            ocr.recognize(&[Pixels::from_rgb(&line)])
                .await
                .map_err(js_error)?;
        }
        let meme = Meme {
            image: blank,
            text: "warm up".into(),
            text_source: "typed",
            ms: BTreeMap::new(),
        };
        self.score(vec![meme]).await?;
        Ok(())
    }

    /// Decodes a meme and reads its text where none was given.
    async fn prepare(
        &self,
        image: &JsValue,
        text: Option<String>,
        name: &str,
    ) -> Result<Meme, String> {
        let t0 = now_ms();
        let image = input::to_rgb(image, name)?;
        let mut ms = BTreeMap::from([("preprocess", now_ms() - t0)]);
        let (text, text_source) = match (text, &self.ocr) {
            (Some(text), _) => (text, "typed"),
            (None, Some(ocr)) => {
                let t = now_ms();
                let read = ocr
                    .read(&Pixels::from_rgb(&image))
                    .await
                    .map_err(|e| format!("{name}: reading its text: {e}"))?;
                ms.insert("ocr", now_ms() - t);
                (read.text, "ocr")
            }
            (None, None) => (String::new(), "none"),
        };
        Ok(Meme {
            image,
            text,
            text_source,
            ms,
        })
    }

    /// Both towers over all memes at once, then every head.
    async fn score(&self, mut memes: Vec<Meme>) -> Result<Vec<Classification>, JsError> {
        let n = memes.len();
        let t0 = now_ms();
        let images: Vec<image::RgbImage> = memes
            .iter_mut()
            .map(|m| std::mem::take(&mut m.image))
            .collect();
        let pixels = self.pipeline.pixel_batch(&images).map_err(js_error)?;
        let t1 = now_ms();
        let image_embeds = self.pipeline.clip.encode_images(pixels).map_err(js_error)?;
        let t2 = now_ms();
        let ids = memes
            .iter()
            .map(|m| self.pipeline.tokenizer.encode(&m.text))
            .collect::<crate::Result<Vec<_>>>()
            .map_err(js_error)?;
        let text_out = self.pipeline.clip.encode_texts(&ids).map_err(js_error)?;
        let t3 = now_ms();
        let mut tasks = vec![TaskResults::default(); n];
        for head in &self.heads {
            let logits = match &head.head {
                Head::MemeClip(h) => h.forward(image_embeds.clone(), text_out.pooled.clone()),
                Head::ZeroShot(h) => h.forward(image_embeds.clone(), text_out.embeds.clone()),
            };
            let classes = head.info.class_names.len();
            let logits = read_row(logits).await?;
            for (results, row) in tasks.iter_mut().zip(logits.chunks_exact(classes)) {
                results
                    .0
                    .push((head.info.task.clone(), TaskResult::from_logits(head, row)));
            }
        }
        let t4 = now_ms();
        let share = |ms: f64| ms / n as f64;
        Ok(memes
            .into_iter()
            .zip(tasks)
            .map(|(meme, tasks)| {
                let mut timings_ms = meme.ms;
                *timings_ms.entry("preprocess").or_default() += share(t1 - t0);
                timings_ms.insert("image", share(t2 - t1));
                timings_ms.insert("text", share(t3 - t2));
                timings_ms.insert("head", share(t4 - t3));
                Classification {
                    tasks,
                    text: meme.text,
                    text_source: meme.text_source,
                    timings_ms,
                }
            })
            .collect())
    }
}
