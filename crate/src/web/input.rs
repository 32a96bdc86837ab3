//! The images the JS side hands over: an encoded file's bytes, or pixels already decoded by the
//! browser (`ImageData`, a canvas, an `ImageBitmap`) as `{ rgba, width, height }`.

use image::RgbImage;
use wasm_bindgen::{JsCast, JsValue};

use crate::data::{DecodeLimits, decode_rgb};

/// One image as 8-bit RGB, or a message naming what is wrong with it.
pub fn to_rgb(value: &JsValue, name: &str) -> Result<RgbImage, String> {
    if let Some(bytes) = value.dyn_ref::<js_sys::Uint8Array>() {
        return decode_rgb(&bytes.to_vec(), name, DecodeLimits::default())
            .map_err(|e| e.to_string());
    }
    let field = |key: &str| js_sys::Reflect::get(value, &JsValue::from_str(key)).ok();
    let (Some(rgba), Some(width), Some(height)) = (field("rgba"), field("width"), field("height"))
    else {
        return Err(format!(
            "{name}: expected an image file's bytes or {{ rgba, width, height }}"
        ));
    };
    let (Some(width), Some(height)) = (width.as_f64(), height.as_f64()) else {
        return Err(format!("{name}: width and height must be numbers"));
    };
    let limits = DecodeLimits::default();
    let fits = |v: f64, max: u32| v >= 1.0 && v <= max as f64 && v.fract() == 0.0;
    if !fits(width, limits.max_width) || !fits(height, limits.max_height) {
        return Err(format!(
            "{name}: {width} x {height} pixels, expected whole sizes from 1 to {} x {}",
            limits.max_width, limits.max_height
        ));
    }
    let (width, height) = (width as u32, height as u32);
    let rgba = if let Some(a) = rgba.dyn_ref::<js_sys::Uint8ClampedArray>() {
        a.to_vec()
    } else if let Some(a) = rgba.dyn_ref::<js_sys::Uint8Array>() {
        a.to_vec()
    } else {
        return Err(format!(
            "{name}: rgba must be a Uint8ClampedArray or Uint8Array"
        ));
    };
    let want = width as usize * height as usize * 4;
    if rgba.len() != want {
        return Err(format!(
            "{name}: {width} x {height} RGBA pixels need {want} bytes, got {}",
            rgba.len()
        ));
    }
    // Alpha is dropped, as the file decoder drops it.
    let rgb = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    Ok(RgbImage::from_raw(width, height, rgb).expect("the size was checked"))
}
