//! HarMeme and generic CSV datasets: labels, splits and bad rows with their line numbers.

mod common;

use memeclip::data::datasets::{CsvColumns, generic_csv, harmeme};
use memeclip::data::features::Split;

fn image(dir: &std::path::Path, name: &str) {
    image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]))
        .save(dir.join(name))
        .unwrap();
}

#[test]
fn harmeme_reads_three_splits_and_binary_harm() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    for name in ["a.png", "b.png", "c.png", "d.png"] {
        image(&images, name);
    }
    let line = |id: &str, img: &str, labels: &str, text: &str| {
        format!(r#"{{"id": "{id}", "image": "{img}", "labels": {labels}, "text": "{text}"}}"#)
    };
    std::fs::write(
        dir.path().join("train.jsonl"),
        [
            line("1", "a.png", r#"["not harmful"]"#, "fine"),
            line(
                "2",
                "b.png",
                r#"["somewhat harmful", "individual"]"#,
                "mean",
            ),
            line("3", "c.png", r#"["very harmful", "society"]"#, "cruel"),
        ]
        .join("\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("val.jsonl"),
        line("4", "d.png", r#"["unsure"]"#, "odd")
            + "\n"
            + &line("5", "zzz.png", r#"["not harmful"]"#, "x"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("test.jsonl"),
        line("6", "a.png", r#"["not harmful"]"#, ""),
    )
    .unwrap();
    let data = harmeme(dir.path(), &images).unwrap();
    assert_eq!(data.tasks, ["harmful"]);
    let labels: Vec<i64> = data.rows.iter().map(|r| r.labels[0]).collect();
    assert_eq!(labels, [0, 1, 1]);
    assert!(data.rows.iter().all(|r| r.split == Split::Train));
    let bad: Vec<String> = data
        .bad
        .iter()
        .map(|b| format!("{} {}", b.origin, b.reason))
        .collect();
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(
        bad[0].contains("val.jsonl:1") && bad[0].contains("\"unsure\""),
        "{bad:?}"
    );
    assert!(
        bad[1].contains("val.jsonl:2") && bad[1].contains("zzz.png does not exist"),
        "{bad:?}"
    );
    assert!(
        bad[2].contains("test.jsonl:1") && bad[2].contains("`text` is empty"),
        "{bad:?}"
    );
    let err = data.check(false).unwrap_err().to_string();
    assert!(err.starts_with("3 bad row(s), nothing done"), "{err}");
    assert!(data.check(true).is_ok());
}

#[test]
fn harmeme_with_some_split_files_loads_those_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    image(dir.path(), "a.png");
    let err = harmeme(dir.path(), dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("no HarMeme split file") && err.contains("train.jsonl"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("test.jsonl"),
        r#"{"id": "1", "image": "a.png", "labels": ["very harmful"], "text": "cruel"}"#,
    )
    .unwrap();
    let data = harmeme(dir.path(), dir.path()).unwrap();
    assert_eq!(data.rows.len(), 1);
    assert_eq!(data.rows[0].split, Split::Test);
    assert_eq!(data.rows[0].labels, [1]);
    assert_eq!(data.warnings.len(), 2, "{:?}", data.warnings);
    assert!(
        data.warnings[0].contains("train.jsonl") && data.warnings[0].contains("no train split")
    );
    assert!(data.warnings[1].contains("val.jsonl") && data.warnings[1].contains("no val split"));
}

#[test]
fn generic_csv_maps_named_labels_and_splits() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["x.png", "y.png", "z.png"] {
        image(dir.path(), name);
    }
    let csv = dir.path().join("mine.csv");
    std::fs::write(
        &csv,
        "file,caption,verdict,part\nx.png,hello,ok,train\ny.png,,bad,test\nz.png,hi,ugly,val\nx.png,hey,ok,nope\n",
    )
    .unwrap();
    let columns = CsvColumns {
        image: "file".into(),
        text: "caption".into(),
        text_required: true,
        label: "verdict".into(),
        split: Some("part".into()),
        labels: Some(vec!["ok".into(), "bad".into()]),
    };
    let data = generic_csv(&csv, dir.path(), &columns).unwrap();
    assert_eq!(
        data.class_names,
        [vec!["ok".to_string(), "bad".to_string()]]
    );
    let rows: Vec<(String, i64, Split)> = data
        .rows
        .iter()
        .map(|r| (r.name.clone(), r.labels[0], r.split))
        .collect();
    // An empty text is allowed in a user's CSV.
    assert_eq!(
        rows,
        [
            ("x.png".into(), 0, Split::Train),
            ("y.png".into(), 1, Split::Test)
        ]
    );
    assert_eq!(data.bad.len(), 2);
    assert!(data.bad[0].origin.ends_with("mine.csv:4") && data.bad[0].reason.contains("`ugly`"));
    assert!(data.bad[1].origin.ends_with("mine.csv:5") && data.bad[1].reason.contains("`nope`"));

    // Without --labels the classes are the sorted distinct values; without a split column the
    // rows are split by position.
    let columns = CsvColumns {
        split: None,
        labels: None,
        ..columns
    };
    let data = generic_csv(&csv, dir.path(), &columns).unwrap();
    assert_eq!(data.class_names[0], ["bad", "ok", "ugly"]);
    assert!(data.rows.iter().all(|r| r.split == Split::Train));
    let err = generic_csv(
        &csv,
        dir.path(),
        &CsvColumns {
            label: "nothere".into(),
            ..columns
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no `nothere` column"), "{err}");
}
