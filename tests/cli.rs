//! The `memeclip` binary end to end: JSON output against the reference, failures as one line.

mod common;

use std::process::Command;

use common::{Reference, fixtures, max_abs_diff, tiny_clip};

fn memeclip(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_memeclip"))
        .args(args)
        .output()
        .unwrap()
}

fn floats(value: &serde_json::Value) -> Vec<Vec<f32>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

#[test]
fn embed_prints_json_matching_the_reference() {
    let reference = Reference::load();
    let clip = tiny_clip();
    let images = fixtures().join("images");
    let out = memeclip(&[
        "embed",
        "--clip",
        clip.to_str().unwrap(),
        "--image",
        images.join("photo.png").to_str().unwrap(),
        "--image",
        images.join("meme.webp").to_str().unwrap(),
        "--text",
        &reference.texts[0],
        "--text",
        &reference.texts[9],
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<Vec<u32>> = serde_json::from_value(json["input_ids"].clone()).unwrap();
    assert_eq!(
        ids,
        vec![
            reference.input_ids[0].clone(),
            reference.input_ids[9].clone()
        ]
    );
    let pooled = reference.rows("tiny.text_pooled");
    assert!(
        max_abs_diff(
            &floats(&json["text_pooled"]),
            &[pooled[0].clone(), pooled[9].clone()]
        ) < 1e-4
    );
    let embeds = reference.rows("tiny.text_embeds");
    assert!(
        max_abs_diff(
            &floats(&json["text_embeds"]),
            &[embeds[0].clone(), embeds[9].clone()]
        ) < 1e-4
    );
    let image_embeds = floats(&json["image_embeds"]);
    assert_eq!(image_embeds.len(), 2);
    assert_eq!(image_embeds[0].len(), 24);
}

#[test]
fn tokenize_prints_one_array_per_line_in_order() {
    let reference = Reference::load();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("texts.txt");
    std::fs::write(
        &file,
        format!("{}\n{}\n", reference.texts[4], reference.texts[5]),
    )
    .unwrap();
    let clip = tiny_clip();
    let out = memeclip(&[
        "tokenize",
        "--clip",
        clip.to_str().unwrap(),
        "--file",
        file.to_str().unwrap(),
        &reference.texts[0],
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Vec<u32>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            reference.input_ids[4].clone(),
            reference.input_ids[5].clone(),
            reference.input_ids[0].clone()
        ]
    );
}

#[test]
fn failures_exit_non_zero_with_one_line() {
    let clip = tiny_clip();
    let out = memeclip(&[
        "embed",
        "--clip",
        clip.to_str().unwrap(),
        "--image",
        "/nonexistent/meme.png",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("memeclip: /nonexistent/meme.png: no such file"),
        "{stderr}"
    );

    let out = memeclip(&["embed", "--clip", "/nonexistent", "--text", "hi"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("not a folder")
    );
}

#[test]
fn bench_reports_every_case_as_json() {
    let clip = tiny_clip();
    let out = memeclip(&[
        "bench",
        "--clip",
        clip.to_str().unwrap(),
        "--iters",
        "1",
        "--batch",
        "1,2",
        "--text-len",
        "5,77",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    // Per batch size: the vision tower and one case per text length.
    assert_eq!(results.len(), 2 * 3);
    for r in results {
        assert!(r["median_ms"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["items_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert_eq!(results[5]["tokens"], 77);
    assert_eq!(results[5]["batch"], 2);
}
