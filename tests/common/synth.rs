//! A synthetic meme dataset in the PrideMM layout with a planted, learnable signal: hateful memes
//! are reddish with hostile words, the others bluish with friendly words; other tasks cycle.

use std::path::{Path, PathBuf};

pub struct Synthetic {
    pub csv: PathBuf,
    pub images: PathBuf,
    pub rows: usize,
}

/// Split of row `i`: 14 of 20 train, 3 val, 3 test.
fn split(i: usize) -> &'static str {
    match i % 20 {
        0..=13 => "train",
        14..=16 => "val",
        _ => "test",
    }
}

pub fn make(dir: &Path, rows: usize) -> Synthetic {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let mut csv = String::from("name,hate,target,stance,humour,split,text\n");
    let mut state = 12345u64;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 56) as u8
    };
    for i in 0..rows {
        let hate = (i / 3) % 2; // not aligned with the split pattern
        let image = image::RgbImage::from_fn(32, 32, |x, y| {
            let base = if hate == 1 {
                [200, 40, 60]
            } else {
                [40, 80, 200]
            };
            let wobble = ((x * 7 + y * 3) % 40) as u8;
            image::Rgb([
                base[0] / 2 + noise() / 2 + wobble,
                base[1] / 2 + noise() / 2,
                base[2] / 2 + noise() / 2,
            ])
        });
        let name = format!("meme_{i:04}.png");
        image.save(images.join(&name)).unwrap();
        let text = if hate == 1 {
            format!("they are awful vile hateful people {i}")
        } else {
            format!("what a lovely kind proud day {i}")
        };
        let target = if hate == 1 {
            (i % 3 + 1).to_string()
        } else {
            "NA".into()
        };
        csv.push_str(&format!(
            "{name},{hate},{target},{},{},{},\"{text}\"\n",
            i % 3,
            (i / 2) % 2,
            split(i)
        ));
    }
    let path = dir.join("pridemm.csv");
    std::fs::write(&path, csv).unwrap();
    Synthetic {
        csv: path,
        images,
        rows,
    }
}
