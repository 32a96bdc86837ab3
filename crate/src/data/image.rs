//! Image decoding (PNG, JPEG, WebP, GIF) and CLIP preprocessing into normalized CHW pixels.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};
use serde::{Deserialize, Serialize};

use super::resample::{Window, resize_rgb8};
use crate::error::{Error, Result};

/// OpenAI CLIP's normalization constants, used when a folder has no preprocessor_config.json.
pub const OPENAI_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const OPENAI_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Guards against decompression bombs: a file whose header asks for more is refused before any
/// pixel buffer is allocated.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_width: u32,
    pub max_height: u32,
    pub max_alloc_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_width: 12_000,
            max_height: 12_000,
            max_alloc_bytes: 512 << 20,
        }
    }
}

/// Decodes the first frame of an image file, upright (EXIF orientation applied), as 8-bit RGB.
/// `name` identifies the input in errors.
pub fn decode_rgb(bytes: &[u8], name: &str, limits: DecodeLimits) -> Result<RgbImage> {
    let fail = |message: String| Error::image(name, message);
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    match reader.format() {
        None => {
            return Err(fail(
                "not a recognized image (expected PNG, JPEG, WebP or GIF)".into(),
            ));
        }
        Some(image::ImageFormat::Jpeg) if !jpeg_has_end(bytes) => {
            return Err(fail(
                "file is truncated (JPEG without its end marker)".into(),
            ));
        }
        Some(_) => {}
    }
    let mut image_limits = Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(image_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| fail(describe(e, limits)))?;
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| fail(describe(e, limits)))?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    // 16-bit, grayscale, palette and alpha images all become 8-bit RGB; alpha is dropped, as
    // PIL's convert("RGB") does.
    Ok(image.into_rgb8())
}

/// The JPEG decoder fills a cut-off scan with grey instead of failing, so look for the end-of-image
/// marker after the last start-of-scan. Neither marker can occur inside entropy-coded data, where
/// every 0xFF byte is followed by 0x00 or a restart marker.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let last_end = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((last_scan, last_end), (Some(scan), Some(end)) if end > scan)
}

fn describe(error: image::ImageError, limits: DecodeLimits) -> String {
    match error {
        image::ImageError::Limits(_) => format!(
            "image is larger than the decoder limits ({}x{} pixels, {} MiB)",
            limits.max_width,
            limits.max_height,
            limits.max_alloc_bytes >> 20
        ),
        image::ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "file is truncated".into()
        }
        other => format!("cannot decode: {other}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PreprocessMode {
    /// Hugging Face `CLIPImageProcessor`: shortest side to the crop size (bicubic), center crop.
    #[default]
    Clip,
    /// The official MemeCLIP code: squash to crop x crop (bicubic), aspect ratio not kept.
    Memeclip,
}

impl std::str::FromStr for PreprocessMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "clip" => Ok(PreprocessMode::Clip),
            "memeclip" => Ok(PreprocessMode::Memeclip),
            other => Err(Error::Invalid(format!(
                "preprocess mode `{other}` is unknown (expected clip or memeclip)"
            ))),
        }
    }
}

/// Everything needed to turn an RGB image into the vision tower's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub mode: PreprocessMode,
    /// Side of the square the model sees.
    pub crop_size: usize,
    /// `clip` mode: the shortest side is resized to this before cropping.
    pub shortest_edge: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Preprocessor {
    pub fn openai(crop_size: usize, mode: PreprocessMode) -> Self {
        Preprocessor {
            mode,
            crop_size,
            shortest_edge: crop_size,
            mean: OPENAI_MEAN,
            std: OPENAI_STD,
        }
    }

    /// Reads a Hugging Face preprocessor_config.json (crop size, shortest edge, mean, std).
    pub fn from_hf_json(json: &str, file: &str, mode: PreprocessMode) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Size {
            Square(usize),
            Shortest { shortest_edge: usize },
            HeightWidth { height: usize, width: usize },
        }
        #[derive(Deserialize)]
        struct Raw {
            crop_size: Option<Size>,
            size: Option<Size>,
            image_mean: Option<[f32; 3]>,
            image_std: Option<[f32; 3]>,
        }
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| Error::config(file, format!("not a valid preprocessor config: {e}")))?;
        let side = |size: Size, field: &str| match size {
            Size::Square(s) | Size::Shortest { shortest_edge: s } => Ok(s),
            Size::HeightWidth { height, width } if height == width => Ok(height),
            Size::HeightWidth { height, width } => Err(Error::config(
                file,
                format!("{field} is {height}x{width}; only square inputs are supported"),
            )),
        };
        let crop_size = match raw.crop_size {
            Some(size) => side(size, "crop_size")?,
            None => return Err(Error::config(file, "crop_size is missing")),
        };
        let shortest_edge = match raw.size {
            Some(size) => side(size, "size")?,
            None => crop_size,
        };
        if crop_size == 0 || shortest_edge < crop_size {
            return Err(Error::config(
                file,
                format!("size {shortest_edge} must be at least crop_size {crop_size} (and not 0)"),
            ));
        }
        Ok(Preprocessor {
            mode,
            crop_size,
            shortest_edge,
            mean: raw.image_mean.unwrap_or(OPENAI_MEAN),
            std: raw.image_std.unwrap_or(OPENAI_STD),
        })
    }

    /// Normalized pixels, `[3, crop, crop]` in row-major (CHW) order.
    pub fn pixels(&self, image: &RgbImage) -> Result<Vec<f32>> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        if w == 0 || h == 0 {
            return Err(Error::Invalid("image has no pixels".into()));
        }
        let crop = self.crop_size;
        let (rw, rh) = match self.mode {
            PreprocessMode::Memeclip => (crop, crop),
            PreprocessMode::Clip => shortest_edge_size(w, h, self.shortest_edge),
        };
        if rw < crop || rh < crop {
            return Err(Error::Invalid(format!(
                "image {w}x{h} resizes to {rw}x{rh}, smaller than the crop {crop}x{crop}"
            )));
        }
        // transformers' center crop: the odd pixel goes to the right and bottom.
        let window = Window {
            left: (rw - crop) / 2,
            top: (rh - crop) / 2,
            width: crop,
            height: crop,
        };
        let rgb = resize_rgb8(image.as_raw(), (w, h), (rw, rh), window);
        let plane = crop * crop;
        let mut out = vec![0.0f32; 3 * plane];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + i] = (px[c] as f32 / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        Ok(out)
    }
}

/// transformers' `get_resize_output_image_size` without a max size: the short side becomes
/// `target`, the long side keeps the aspect ratio, truncated.
fn shortest_edge_size(w: usize, h: usize, target: usize) -> (usize, usize) {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    let new_long = (target as f64 * long as f64 / short as f64) as usize;
    if w <= h {
        (target, new_long)
    } else {
        (new_long, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_edge_matches_transformers_rounding() {
        // int(64 * 97 / 61) = 101; int(224 * 500 / 333) = 336
        assert_eq!(shortest_edge_size(97, 61, 64), (101, 64));
        assert_eq!(shortest_edge_size(333, 500, 224), (224, 336));
        assert_eq!(shortest_edge_size(50, 50, 64), (64, 64));
    }
}
