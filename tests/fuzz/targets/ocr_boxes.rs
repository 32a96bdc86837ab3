//! The OCR's post-processing on arbitrary detection maps: thresholds, regions, hulls, the
//! unclip, boxes in reading order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memeclip::ocr::boxes::{BoxParams, reading_order, text_boxes};

fuzz_target!(|data: &[u8]| {
    let [w, h, rest @ ..] = data else {
        return;
    };
    let (w, h) = (*w as usize % 96 + 1, *h as usize % 96 + 1);
    let mut map: Vec<f32> = rest.iter().map(|&b| b as f32 / 255.0).collect();
    map.resize(w * h, 0.0);
    let mut found = text_boxes(&map, w, h, &BoxParams::default());
    for b in &found {
        assert!(b.corners.iter().flatten().all(|v| v.is_finite()), "{b:?}");
    }
    reading_order(&mut found);
});
