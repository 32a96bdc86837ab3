//! Meme datasets read into one list of rows: PrideMM (CSV), HarMeme (Harm-C JSONL) and a generic
//! CSV. Bad rows are collected with their line numbers, never silently dropped.

use std::path::{Path, PathBuf};

use super::features::Split;
use crate::error::{Error, Result};
use crate::head::tasks::class_names;

#[derive(Debug, Clone)]
pub struct Row {
    /// Where the row came from, `file:line`, for messages.
    pub origin: String,
    pub name: String,
    pub image: PathBuf,
    pub text: String,
    pub split: Split,
    /// One label per task of the dataset, -1 where the row has none.
    pub labels: Vec<i64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BadRow {
    pub origin: String,
    pub reason: String,
}

#[derive(Debug)]
pub struct Dataset {
    pub kind: String,
    pub tasks: Vec<String>,
    pub class_names: Vec<Vec<String>>,
    pub rows: Vec<Row>,
    pub bad: Vec<BadRow>,
    /// Gaps that do not stop the run (a HarMeme split file that is missing).
    pub warnings: Vec<String>,
}

/// Column choices for a user's own CSV.
#[derive(Debug, Clone)]
pub struct CsvColumns {
    pub image: String,
    pub text: String,
    /// Whether a CSV without the text column is refused; where the texts will be read from the
    /// images (OCR), its absence is a warning and every text starts empty.
    pub text_required: bool,
    pub label: String,
    /// Without one, rows are split 80/10/10 by position (every 10th row val, the next test).
    pub split: Option<String>,
    /// Class names in label-id order; default: the sorted distinct values of the label column.
    pub labels: Option<Vec<String>>,
}

impl Dataset {
    /// Fails, listing the bad rows, unless there are none or `skip_bad` is set.
    pub fn check(&self, skip_bad: bool) -> Result<()> {
        if self.bad.is_empty() || skip_bad {
            return Ok(());
        }
        let shown: Vec<String> = self
            .bad
            .iter()
            .take(5)
            .map(|b| format!("{}: {}", b.origin, b.reason))
            .collect();
        Err(Error::Invalid(format!(
            "{} bad row(s), nothing done (pass --skip-bad to skip them): {}{}",
            self.bad.len(),
            shown.join("; "),
            if self.bad.len() > 5 { "; ..." } else { "" }
        )))
    }
}

fn open_csv(path: &Path) -> Result<csv::Reader<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(csv::ReaderBuilder::new().flexible(false).from_reader(file))
}

fn column(headers: &csv::StringRecord, name: &str, path: &Path) -> Result<usize> {
    headers
        .iter()
        .position(|h| h.trim() == name)
        .ok_or_else(|| {
            Error::config(
                path.display().to_string(),
                format!(
                    "no `{name}` column (columns: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
}

/// A label cell: an integer in `0..classes`, or `NA`/empty for none when `optional`.
fn parse_label(cell: &str, classes: usize, optional: bool) -> std::result::Result<i64, String> {
    let cell = cell.trim();
    if optional && (cell.is_empty() || cell.eq_ignore_ascii_case("na")) {
        return Ok(-1);
    }
    match cell.parse::<f64>() {
        Ok(v) if v.fract() == 0.0 && v >= 0.0 && (v as usize) < classes => Ok(v as i64),
        _ => Err(format!("`{cell}` is not a label in 0..{}", classes - 1)),
    }
}

/// PrideMM: `name,hate,target,stance,humour,split,text`; images under `images`.
pub fn pridemm(csv_path: &Path, images: &Path) -> Result<Dataset> {
    let tasks = ["hate", "target", "stance", "humour"];
    let class_names: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| class_names(t).expect("known task"))
        .collect();
    let mut reader = open_csv(csv_path)?;
    let headers = reader
        .headers()
        .map_err(|e| Error::config(csv_path.display().to_string(), e.to_string()))?
        .clone();
    let col = |n: &str| column(&headers, n, csv_path);
    let (name_c, split_c, text_c) = (col("name")?, col("split")?, col("text")?);
    let task_c: Vec<usize> = tasks.iter().map(|t| col(t)).collect::<Result<_>>()?;
    let mut data = Dataset {
        kind: "pridemm".into(),
        tasks: tasks.map(String::from).to_vec(),
        class_names,
        rows: vec![],
        bad: vec![],
        warnings: vec![],
    };
    for record in reader.records() {
        let origin_of = |line: u64| format!("{}:{line}", csv_path.display());
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                data.bad.push(BadRow {
                    origin: origin_of(line),
                    reason: format!("unreadable CSV row: {e}"),
                });
                continue;
            }
        };
        let origin = origin_of(record.position().map_or(0, |p| p.line()));
        let mut problems = Vec::new();
        let mut labels = Vec::new();
        for (i, &c) in task_c.iter().enumerate() {
            // Target is NA for non-hateful memes.
            match parse_label(&record[c], data.class_names[i].len(), tasks[i] == "target") {
                Ok(l) => labels.push(l),
                Err(e) => problems.push(format!("column `{}`: {e}", tasks[i])),
            }
        }
        let split = Split::parse(&record[split_c]);
        if split.is_none() {
            problems.push(format!(
                "column `split`: `{}` is not train, val or test",
                &record[split_c]
            ));
        }
        let text = match record[text_c].trim() {
            // The official code reads the literal text "None" as "null" (spec §2.3).
            "None" => "null".to_string(),
            t => t.to_string(),
        };
        if text.is_empty() {
            problems.push("column `text` is empty".into());
        }
        push_row(
            &mut data,
            origin,
            record[name_c].trim(),
            images,
            text,
            split,
            labels,
            problems,
        );
    }
    Ok(data)
}

#[allow(clippy::too_many_arguments)]
fn push_row(
    data: &mut Dataset,
    origin: String,
    name: &str,
    images: &Path,
    text: String,
    split: Option<Split>,
    labels: Vec<i64>,
    mut problems: Vec<String>,
) {
    let image = images.join(name);
    if name.is_empty() {
        problems.push("no image name".into());
    } else if !image.is_file() {
        problems.push(format!("image {} does not exist", image.display()));
    }
    match (problems.is_empty(), split) {
        (true, Some(split)) => data.rows.push(Row {
            origin,
            name: name.to_string(),
            image,
            text,
            split,
            labels,
        }),
        _ => data.bad.push(BadRow {
            origin,
            reason: problems.join("; "),
        }),
    }
}

/// HarMeme (Harm-C): `train.jsonl`, `val.jsonl`, `test.jsonl` in `dir` with `id`, `image`,
/// `labels` (first: "not harmful", "somewhat harmful" or "very harmful") and `text`. A missing
/// split file is a warning; a folder with none of them is an error.
pub fn harmeme(dir: &Path, images: &Path) -> Result<Dataset> {
    let mut data = Dataset {
        kind: "harmeme".into(),
        tasks: vec!["harmful".into()],
        class_names: vec![class_names("harmful").expect("known task")],
        rows: vec![],
        bad: vec![],
        warnings: vec![],
    };
    let mut found = 0;
    for (file, split) in [
        ("train.jsonl", Split::Train),
        ("val.jsonl", Split::Val),
        ("test.jsonl", Split::Test),
    ] {
        let path = dir.join(file);
        if path.exists() {
            found += 1;
        } else {
            data.warnings.push(format!(
                "{}: missing, so the dataset has no {} split",
                path.display(),
                split.name()
            ));
            continue;
        }
        let content = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        for (i, line) in content.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let origin = format!("{}:{}", path.display(), i + 1);
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    data.bad.push(BadRow {
                        origin,
                        reason: format!("not a JSON object: {e}"),
                    });
                    continue;
                }
            };
            let mut problems = Vec::new();
            let label = match value["labels"].get(0).and_then(|l| l.as_str()) {
                Some("not harmful") => 0,
                Some("somewhat harmful") | Some("very harmful") => 1,
                other => {
                    problems.push(format!("field `labels`: {other:?} is not a harm level"));
                    -1
                }
            };
            let text = value["text"].as_str().unwrap_or("").trim().to_string();
            if text.is_empty() {
                problems.push("field `text` is empty".into());
            }
            let name = value["image"].as_str().unwrap_or("").to_string();
            push_row(
                &mut data,
                origin,
                &name,
                images,
                text,
                Some(split),
                vec![label],
                problems,
            );
        }
    }
    if found == 0 {
        return Err(Error::Invalid(format!(
            "{}: no HarMeme split file (expected train.jsonl, val.jsonl and/or test.jsonl)",
            dir.display()
        )));
    }
    Ok(data)
}

/// A user's CSV: image path (relative to `images`), text and label columns chosen by name.
pub fn generic_csv(path: &Path, images: &Path, columns: &CsvColumns) -> Result<Dataset> {
    let mut reader = open_csv(path)?;
    let headers = reader
        .headers()
        .map_err(|e| Error::config(path.display().to_string(), e.to_string()))?
        .clone();
    let image_c = column(&headers, &columns.image, path)?;
    let text_c = match column(&headers, &columns.text, path) {
        Ok(c) => Some(c),
        Err(e) if columns.text_required => return Err(e),
        Err(_) => None,
    };
    let label_c = column(&headers, &columns.label, path)?;
    let split_c = columns
        .split
        .as_deref()
        .map(|s| column(&headers, s, path))
        .transpose()?;
    let records: Vec<_> = reader.records().collect();
    let class_names = match &columns.labels {
        Some(names) => names.clone(),
        None => {
            let mut values: Vec<String> = records
                .iter()
                .flatten()
                .map(|r| r[label_c].trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            values.sort();
            values.dedup();
            values
        }
    };
    if class_names.len() < 2 {
        return Err(Error::config(
            path.display().to_string(),
            format!(
                "column `{}` needs at least two classes, found {class_names:?}",
                columns.label
            ),
        ));
    }
    let mut data = Dataset {
        kind: "csv".into(),
        tasks: vec!["label".into()],
        class_names: vec![class_names.clone()],
        rows: vec![],
        bad: vec![],
        warnings: match text_c {
            Some(_) => vec![],
            None => vec![format!(
                "{}: no column `{}`: every text is read from its image",
                path.display(),
                columns.text
            )],
        },
    };
    for (index, record) in records.into_iter().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                data.bad.push(BadRow {
                    origin: format!("{}:{line}", path.display()),
                    reason: format!("unreadable CSV row: {e}"),
                });
                continue;
            }
        };
        let origin = format!(
            "{}:{}",
            path.display(),
            record.position().map_or(0, |p| p.line())
        );
        let mut problems = Vec::new();
        let value = record[label_c].trim();
        let label = match class_names.iter().position(|c| c == value) {
            Some(l) => l as i64,
            None => {
                problems.push(format!(
                    "column `{}`: `{value}` is not one of {class_names:?}",
                    columns.label
                ));
                -1
            }
        };
        let split = match split_c {
            Some(c) => {
                let split = Split::parse(&record[c]);
                if split.is_none() {
                    problems.push(format!("split `{}` is not train, val or test", &record[c]));
                }
                split
            }
            None => Some(match index % 10 {
                8 => Split::Val,
                9 => Split::Test,
                _ => Split::Train,
            }),
        };
        let text = text_c.map_or(String::new(), |c| record[c].trim().to_string());
        push_row(
            &mut data,
            origin,
            record[image_c].trim(),
            images,
            text,
            split,
            vec![label],
            problems,
        );
    }
    Ok(data)
}
