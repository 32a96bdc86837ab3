//! The web bundle: one file with the CLIP config, preprocessing, tokenizer, quantized CLIP
//! weights and every task head, checked by a SHA-256 of its payload.
//!
//! An OCR model ([`crate::ocr`]) may ride along: its parameters as tensors under `ocr/`, its
//! dictionary in the header; a bundle without one still classifies, with typed text only.
//!
//! Layout: `MEMECLIP` (8 bytes), format version (u32 LE), header length (u64 LE), the JSON
//! [`Header`], then the payload: every tensor's encoded bytes at the offsets the header gives.
//! A bundle is validated whole (magic, version, lengths, hash, every tensor's shape and size)
//! before any tensor is built, so it is never half-loaded.

pub mod bytes;
pub mod quant;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clip::weights::check_shape;
use crate::clip::{Clip, ClipConfig, Kernels, WeightSource};
use crate::data::{ClipTokenizer, Preprocessor};
use crate::error::{Error, Result};
use crate::head::file::{Head, HeadFile, HeadInfo, NamedTensors, memeclip_from, memeclip_tensors};
use crate::head::zero_shot::ZeroShotHead;
use crate::ocr::Ocr;
use crate::ocr::ctc::Dictionary;
use crate::pipeline::ClipPipeline;
use bytes::BundleBytes;
use quant::{Quant, decode, encode, encoded_len};

pub const MAGIC: &[u8; 8] = b"MEMECLIP";
const OCR_PREFIX: &str = "ocr/";
pub const VERSION: u32 = 1;
const PREAMBLE: usize = 8 + 4 + 8;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TensorEntry {
    pub name: String,
    /// PyTorch layout.
    pub shape: Vec<usize>,
    pub encoding: Quant,
    pub offset: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskEntry {
    pub name: String,
    /// `memeclip` (a trained head) or `zero-shot` (prompt embeddings).
    pub kind: String,
    pub class_names: Vec<String>,
    pub clip_model: String,
    /// ratio, scale and dropout of a trained head; fuse_text of a zero-shot one.
    pub settings: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub clip: ClipConfig,
    pub preprocess: Preprocessor,
    /// The model's tokenizer.json, verbatim.
    pub tokenizer: String,
    /// The quantization asked for; each tensor's own encoding is in `tensors`.
    pub quant: Quant,
    pub tasks: Vec<TaskEntry>,
    /// The OCR model's dictionary, where the bundle holds one (its weights are `ocr/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocr: Option<OcrEntry>,
    pub tensors: Vec<TensorEntry>,
    pub payload_len: usize,
    pub payload_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OcrEntry {
    /// The recognizer's `dict.txt`, verbatim.
    pub dictionary: String,
}

/// How a tensor is stored: OCR weights f16 (f32 in an f32 bundle); heads, biases, LayerNorms, position and class embeddings stay f32;
/// matrices (linear weights, the token embedding, the patch convolution) take `quant`.
fn encoding_for(name: &str, shape: &[usize], quant: Quant) -> Quant {
    if name.starts_with(OCR_PREFIX) {
        // Measured (tests/ocr.rs): with int8 OCR weights a line's text changes; f16 reads the
        // same text as f32 at half its size.
        return if quant == Quant::F32 {
            Quant::F32
        } else {
            Quant::F16
        };
    }
    let matrix =
        shape.len() >= 2 && !name.contains("position_embedding") && !name.starts_with("heads/");
    if matrix { quant } else { Quant::F32 }
}

fn rows_cols(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (1, *n),
        [rows, rest @ ..] => (*rows, rest.iter().product()),
    }
}

/// Reads every tensor a model load asks for, so export sees exactly what loading needs.
struct Recorder<'a> {
    inner: &'a dyn WeightSource,
    seen: RefCell<NamedTensors>,
}

impl WeightSource for Recorder<'_> {
    fn source_name(&self) -> &str {
        self.inner.source_name()
    }
    fn shape_of(&self, key: &str) -> Option<Vec<usize>> {
        self.inner.shape_of(key)
    }
    fn read(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let values = self.inner.read(key, shape)?;
        self.seen
            .borrow_mut()
            .push((key.to_string(), shape.to_vec(), values.clone()));
        Ok(values)
    }
}

/// What goes into a bundle besides the CLIP weights.
pub struct BundleInputs<'a> {
    pub config: &'a ClipConfig,
    pub weights: &'a dyn WeightSource,
    pub tokenizer_json: String,
    pub preprocess: Preprocessor,
    pub heads: Vec<HeadFile>,
    /// An OCR model's detector and recognizer weights and dictionary text.
    pub ocr: Option<(&'a dyn WeightSource, &'a dyn WeightSource, String)>,
}

/// Writes a bundle; the heads are stored unquantized whatever `quant` is.
pub fn write_bundle(inputs: &BundleInputs, quant: Quant) -> Result<Vec<u8>> {
    let tokenizer = ClipTokenizer::from_bytes(
        inputs.tokenizer_json.as_bytes(),
        "tokenizer.json",
        inputs.config.text.max_positions,
    )?;
    let recorder = Recorder {
        inner: inputs.weights,
        seen: RefCell::new(Vec::new()),
    };
    // Loading the model on the CPU records every tensor it needs, under transformers' names.
    Clip::load(
        inputs.config,
        &recorder,
        tokenizer.eos_id(),
        &Device::flex(),
        Kernels::Float,
    )?;
    let mut tensors = recorder.seen.into_inner();
    let ocr = match &inputs.ocr {
        None => None,
        Some((det, rec, dictionary)) => {
            tensors.extend(ocr_tensors(*det, *rec, dictionary)?);
            Some(OcrEntry {
                dictionary: dictionary.clone(),
            })
        }
    };
    let mut tasks = Vec::new();
    for head_file in &inputs.heads {
        let task = &head_file.info.task;
        let prefix = format!("heads/{task}/");
        let mut settings = BTreeMap::new();
        let named = match &head_file.head {
            Head::MemeClip(head) => {
                let config = head.config();
                settings.insert("ratio".into(), config.ratio.to_string());
                settings.insert("scale".into(), config.scale.to_string());
                settings.insert(
                    "dropout".into(),
                    serde_json::to_string(&config.dropout).expect("floats serialize"),
                );
                memeclip_tensors(head)
            }
            Head::ZeroShot(head) => {
                settings.insert("fuse_text".into(), head.fuse_text.to_string());
                let [c, p] = head.prompt_embeds.dims();
                let values = head
                    .prompt_embeds
                    .clone()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec()
                    .unwrap_or_default();
                vec![
                    ("prompt_embeds".to_string(), vec![c, p], values),
                    ("logit_scale".to_string(), vec![], vec![head.logit_scale]),
                ]
            }
        };
        if tasks.iter().any(|t: &TaskEntry| &t.name == task) {
            return Err(Error::Invalid(format!(
                "two heads for task `{task}`: a bundle holds one per task"
            )));
        }
        tasks.push(TaskEntry {
            name: task.clone(),
            kind: head_file.kind().to_string(),
            class_names: head_file.info.class_names.clone(),
            clip_model: head_file.info.clip_model.clone(),
            settings,
        });
        tensors.extend(
            named
                .into_iter()
                .map(|(k, s, v)| (format!("{prefix}{k}"), s, v)),
        );
    }

    let mut payload = Vec::new();
    let mut entries = Vec::with_capacity(tensors.len());
    for (name, shape, values) in &tensors {
        let encoding = encoding_for(name, shape, quant);
        let (rows, cols) = rows_cols(shape);
        let bytes = encode(values, rows, cols, encoding);
        entries.push(TensorEntry {
            name: name.clone(),
            shape: shape.clone(),
            encoding,
            offset: payload.len(),
            len: bytes.len(),
        });
        payload.extend(bytes);
    }
    let header = Header {
        clip: inputs.config.clone(),
        preprocess: inputs.preprocess.clone(),
        tokenizer: inputs.tokenizer_json.clone(),
        quant,
        tasks,
        ocr,
        tensors: entries,
        payload_len: payload.len(),
        payload_sha256: hex(&Sha256::digest(&payload)),
    };
    let header = serde_json::to_vec(&header).expect("header serializes");
    let mut out = Vec::with_capacity(PREAMBLE + header.len() + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend(VERSION.to_le_bytes());
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header);
    out.extend(payload);
    Ok(out)
}

/// The OCR parameters a load reads, under `ocr/`.
fn ocr_tensors(
    det: &dyn WeightSource,
    rec: &dyn WeightSource,
    dictionary: &str,
) -> Result<NamedTensors> {
    let dict = Dictionary::parse(dictionary, "dict.txt")?;
    let (det, rec) = (
        Recorder {
            inner: det,
            seen: RefCell::new(Vec::new()),
        },
        Recorder {
            inner: rec,
            seen: RefCell::new(Vec::new()),
        },
    );
    Ocr::load(&det, &rec, dict, &Device::flex(), Kernels::Fused)?;
    let mut tensors = det.seen.into_inner();
    tensors.extend(rec.seen.into_inner());
    Ok(tensors
        .into_iter()
        .map(|(k, s, v)| (format!("{OCR_PREFIX}{k}"), s, v))
        .collect())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of everything from `start`, read a few megabytes at a time.
fn payload_digest(bytes: &dyn BundleBytes, start: usize) -> String {
    const STEP: usize = 4 << 20;
    let mut hasher = Sha256::new();
    let mut at = start;
    while at < bytes.len() {
        let len = STEP.min(bytes.len() - at);
        hasher.update(&*bytes.range(at, len));
        at += len;
    }
    hex(&hasher.finalize())
}

/// A validated bundle.
pub struct Bundle {
    name: String,
    pub header: Header,
    bytes: Box<dyn BundleBytes>,
    payload_start: usize,
    index: BTreeMap<String, usize>,
}

impl Bundle {
    /// Checks everything before any tensor is built; `name` identifies the bundle in errors.
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self> {
        Self::check(Box::new(bytes), name, None)
    }

    /// Reads and checks the bundle file at `path` (named by its path in errors).
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(bytes, &path.display().to_string())
    }

    /// As [`Self::from_bytes`], for bytes kept elsewhere, with the payload's SHA-256 (lowercase
    /// hex) where the caller computed it: the browser's WebCrypto hashes 150 MB in a fraction of
    /// the seconds wasm takes.
    pub fn from_source(
        bytes: Box<dyn BundleBytes>,
        name: &str,
        payload_sha256: Option<&str>,
    ) -> Result<Self> {
        Self::check(bytes, name, payload_sha256)
    }

    fn check(
        bytes: Box<dyn BundleBytes>,
        name: &str,
        payload_sha256: Option<&str>,
    ) -> Result<Self> {
        let fail = |message: String| Error::config(name, message);
        let preamble = bytes.range(0, PREAMBLE.min(bytes.len()));
        if preamble.len() < PREAMBLE || &preamble[..8] != MAGIC {
            return Err(fail("not a memeclip bundle (wrong magic bytes)".into()));
        }
        let version = u32::from_le_bytes(preamble[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(fail(format!(
                "bundle format version {version} is not supported (expected {VERSION})"
            )));
        }
        let header_len = u64::from_le_bytes(preamble[12..20].try_into().expect("8 bytes")) as usize;
        let payload_start = PREAMBLE
            .checked_add(header_len)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| {
                fail(format!(
                    "truncated: the header needs {header_len} bytes, the file has {}",
                    bytes.len() - PREAMBLE
                ))
            })?;
        let header: Header = serde_json::from_slice(&bytes.range(PREAMBLE, header_len))
            .map_err(|e| fail(format!("header is not valid: {e}")))?;
        let payload_len = bytes.len() - payload_start;
        if payload_len != header.payload_len {
            return Err(fail(format!(
                "truncated or padded: the payload has {payload_len} bytes, the header says {}",
                header.payload_len
            )));
        }
        let digest = match payload_sha256 {
            Some(given) => given.to_ascii_lowercase(),
            None => payload_digest(&*bytes, payload_start),
        };
        if digest != header.payload_sha256 {
            return Err(fail(format!(
                "SHA-256 mismatch: the payload hashes to {digest}, the header says {} (corrupted download?)",
                header.payload_sha256
            )));
        }
        let mut index = BTreeMap::new();
        for (i, t) in header.tensors.iter().enumerate() {
            let (rows, cols) = rows_cols(&t.shape);
            let expected = encoded_len(rows, cols, t.encoding);
            if t.len != expected
                || t.offset
                    .checked_add(t.len)
                    .is_none_or(|end| end > payload_len)
            {
                return Err(Error::tensor(
                    name,
                    &t.name,
                    format!(
                        "{:?} {:?} needs {expected} bytes; the entry has {} at offset {}",
                        t.encoding, t.shape, t.len, t.offset
                    ),
                ));
            }
            index.insert(t.name.clone(), i);
        }
        Ok(Bundle {
            name: name.to_string(),
            header,
            bytes,
            payload_start,
            index,
        })
    }

    pub fn tokenizer(&self) -> Result<ClipTokenizer> {
        ClipTokenizer::from_bytes(
            self.header.tokenizer.as_bytes(),
            &self.name,
            self.header.clip.text.max_positions,
        )
    }

    /// The CLIP, tokenizer and preprocessing the bundle holds, on `device` and `kernels`.
    pub fn pipeline(&self, device: &Device, kernels: Kernels) -> Result<ClipPipeline> {
        let tokenizer = self.tokenizer()?;
        let clip = Clip::load(&self.header.clip, self, tokenizer.eos_id(), device, kernels)?;
        Ok(ClipPipeline {
            clip,
            tokenizer,
            preprocessor: self.header.preprocess.clone(),
        })
    }

    /// The fastest kernels on the CPU backend: int8 for a bundle whose weights are int8 or
    /// coarser already, fused f32 for f16 and f32 bundles (their precision is the point of them).
    pub fn cpu_kernels(&self) -> Kernels {
        match self.header.quant {
            Quant::Int8 | Quant::Int4 => Kernels::Int8,
            Quant::F16 | Quant::F32 => Kernels::Fused,
        }
    }

    /// The kernels a bundle runs on by default on `device`: [`Self::cpu_kernels`] on the CPU
    /// backend (what the browser's CPU path computes), the device's own products elsewhere.
    pub fn default_kernels(&self, device: &Device) -> Kernels {
        if *device == Device::flex() {
            self.cpu_kernels()
        } else {
            Kernels::Float
        }
    }

    /// Whether the bundle can read a meme's text itself.
    pub fn has_ocr(&self) -> bool {
        self.header.ocr.is_some()
    }

    /// The bundle's OCR model on `device` with `kernels` (see [`Ocr::load`]), where it holds
    /// one.
    pub fn ocr(&self, device: &Device, kernels: Kernels) -> Result<Option<Ocr>> {
        let Some(entry) = &self.header.ocr else {
            return Ok(None);
        };
        let dict = Dictionary::parse(&entry.dictionary, &format!("{}: dictionary", self.name))?;
        let source = Prefixed {
            bundle: self,
            prefix: OCR_PREFIX.to_string(),
        };
        Ocr::load(&source, &source, dict, device, kernels).map(Some)
    }

    /// Every task head, in the bundle's order.
    pub fn heads(&self, device: &Device) -> Result<Vec<HeadFile>> {
        let mut out = Vec::new();
        for task in &self.header.tasks {
            let source = Prefixed {
                bundle: self,
                prefix: format!("heads/{}/", task.name),
            };
            let setting = |key: &str| -> Result<&String> {
                task.settings.get(key).ok_or_else(|| {
                    Error::config(
                        &self.name,
                        format!("task `{}`: setting `{key}` is missing", task.name),
                    )
                })
            };
            let number = |key: &str| -> Result<f64> {
                setting(key)?.parse().map_err(|_| {
                    Error::config(
                        &self.name,
                        format!("task `{}`: `{key}` is not a number", task.name),
                    )
                })
            };
            let head = match task.kind.as_str() {
                "memeclip" => {
                    let dropout: [f64; 3] =
                        serde_json::from_str(setting("dropout")?).map_err(|e| {
                            Error::config(&self.name, format!("task `{}`: dropout: {e}", task.name))
                        })?;
                    Head::MemeClip(Box::new(memeclip_from(
                        &source,
                        number("ratio")?,
                        number("scale")?,
                        dropout,
                        device,
                    )?))
                }
                "zero-shot" => {
                    let shape = source.shape_of("prompt_embeds").unwrap_or_default();
                    let [c, p] = shape[..] else {
                        return Err(Error::tensor(
                            &self.name,
                            format!("heads/{}/prompt_embeds", task.name),
                            "missing or not 2-D",
                        ));
                    };
                    let values = source.read("prompt_embeds", &[c, p])?;
                    Head::ZeroShot(Box::new(ZeroShotHead {
                        prompt_embeds: Tensor::from_data(TensorData::new(values, [c, p]), device),
                        logit_scale: source.read("logit_scale", &[])?[0],
                        fuse_text: setting("fuse_text").is_ok_and(|v| v == "true"),
                    }))
                }
                other => {
                    return Err(Error::config(
                        &self.name,
                        format!("task `{}`: head kind `{other}` is unknown", task.name),
                    ));
                }
            };
            out.push(HeadFile {
                info: HeadInfo {
                    task: task.name.clone(),
                    class_names: task.class_names.clone(),
                    clip_model: task.clip_model.clone(),
                },
                head,
            });
        }
        Ok(out)
    }

    /// Bytes per part: header, CLIP vision, CLIP text, heads, OCR.
    pub fn part_sizes(&self) -> BTreeMap<String, usize> {
        let mut sizes = BTreeMap::from([("header".to_string(), self.payload_start)]);
        for t in &self.header.tensors {
            let part = if t.name.starts_with("heads/") {
                "heads"
            } else if t.name.starts_with(OCR_PREFIX) {
                "ocr"
            } else if t.name.starts_with("vision_model") || t.name.starts_with("visual_projection")
            {
                "vision"
            } else {
                "text"
            };
            *sizes.entry(part.to_string()).or_default() += t.len;
        }
        sizes
    }
}

impl WeightSource for Bundle {
    fn source_name(&self) -> &str {
        &self.name
    }

    fn shape_of(&self, key: &str) -> Option<Vec<usize>> {
        self.index
            .get(key)
            .map(|&i| self.header.tensors[i].shape.clone())
    }

    fn read(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (entry, bytes) = self.entry(key, shape)?;
        let (rows, cols) = rows_cols(shape);
        decode(&bytes, rows, cols, entry.encoding)
            .ok_or_else(|| Error::tensor(&self.name, key, "encoded size does not match its shape"))
    }

    fn read_int8(&self, key: &str, shape: &[usize]) -> Result<Option<(Vec<i8>, Vec<f32>)>> {
        let (entry, bytes) = self.entry(key, shape)?;
        if entry.encoding != Quant::Int8 {
            return Ok(None);
        }
        let (rows, cols) = rows_cols(shape);
        quant::int8_parts(&bytes, rows, cols)
            .map(Some)
            .ok_or_else(|| Error::tensor(&self.name, key, "encoded size does not match its shape"))
    }
}

impl Bundle {
    /// A tensor's header entry and encoded bytes; an error unless its shape is `shape`.
    fn entry(&self, key: &str, shape: &[usize]) -> Result<(&TensorEntry, Cow<'_, [u8]>)> {
        let entry = self
            .index
            .get(key)
            .map(|&i| &self.header.tensors[i])
            .ok_or_else(|| Error::tensor(&self.name, key, "missing"))?;
        check_shape(&self.name, key, &entry.shape, shape)?;
        let start = self.payload_start + entry.offset;
        Ok((entry, self.bytes.range(start, entry.len)))
    }
}

/// A head's tensors inside a bundle, under their own names.
struct Prefixed<'a> {
    bundle: &'a Bundle,
    prefix: String,
}

impl WeightSource for Prefixed<'_> {
    fn source_name(&self) -> &str {
        self.bundle.source_name()
    }
    fn shape_of(&self, key: &str) -> Option<Vec<usize>> {
        self.bundle.shape_of(&format!("{}{key}", self.prefix))
    }
    fn read(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        self.bundle.read(&format!("{}{key}", self.prefix), shape)
    }
}
