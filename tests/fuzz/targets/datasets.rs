//! The dataset loaders: PrideMM's CSV, a HarMeme split file, a user's CSV. Images are not read
//! at load time, so none are needed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memeclip::data::datasets::{self, CsvColumns};

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let csv = scratch::file("memes.csv", data);
    let images = csv.parent().expect("a folder").to_path_buf();
    let _ = datasets::pridemm(&csv, &images);
    let columns = CsvColumns {
        image: "image".into(),
        text: "text".into(),
        text_required: true,
        label: "label".into(),
        split: Some("split".into()),
        labels: None,
    };
    let _ = datasets::generic_csv(&csv, &images, &columns);
    let jsonl = scratch::file("train.jsonl", data);
    let _ = datasets::harmeme(jsonl.parent().expect("a folder"), &images);
});
