//! Kills and full disks: `memeclip features` and `memeclip train` killed (SIGKILL) at several
//! points leave either no output or a complete one, never a readable half; `features` resumes
//! from its finished chunks to the same file an uninterrupted run writes; a write that fails
//! (here: past a file-size limit) is a clear error that keeps the old file.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use memeclip::data::features::Features;

fn memeclip() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memeclip"))
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A CSV dataset of `rows` memes (the fixture images over and over, each with its own text)
/// in `dir`: three chunks of features work.
fn dataset(dir: &Path, rows: usize) -> PathBuf {
    let images = ["photo.png", "portrait.jpg", "meme.webp", "gray.png"];
    for name in images {
        std::fs::copy(common::fixtures().join("images").join(name), dir.join(name)).unwrap();
    }
    let mut csv = String::from("image,label,text\n");
    for i in 0..rows {
        let label = ["funny", "mean"][(i * 7 / 3) % 2];
        csv.push_str(&format!(
            "{},{label},meme number {i}\n",
            images[i % images.len()]
        ));
    }
    let path = dir.join("memes.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn features_command(dir: &Path, csv: &Path, out: &Path) -> Command {
    let mut c = memeclip();
    c.args(["features", "--clip"])
        .arg(common::tiny_clip())
        .args(["--dataset", "csv", "--annotations"])
        .arg(csv)
        .arg("--images")
        .arg(dir)
        .arg("--out")
        .arg(out);
    c
}

/// Starts `command`, kills it after `after`, and says whether it had already finished.
fn kill_after(command: &mut Command, after: Duration) -> bool {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
    finished
}

fn same_features(a: &Features, b: &Features) {
    assert_eq!(a.names, b.names);
    assert_eq!(a.image, b.image);
    assert_eq!(a.text, b.text);
    assert_eq!(a.split, b.split);
    assert_eq!(a.labels, b.labels);
}

#[test]
fn features_killed_anywhere_resume_to_the_same_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let csv = dataset(dir, 700);
    let reference_path = dir.join("reference.safetensors");
    let started = Instant::now();
    ok(features_command(dir, &csv, &reference_path)
        .output()
        .unwrap());
    let took = started.elapsed();
    let reference = Features::load(&reference_path).unwrap();
    println!("uninterrupted: {took:?}, {} rows", reference.len());

    let out = dir.join("killed.safetensors");
    let work = out.with_extension("partial.d");
    let mut report = Vec::new();
    // Kill points spread over a whole run, from start-up to the final write.
    for step in 1..=8u32 {
        let after = took * step / 8;
        let finished = kill_after(&mut features_command(dir, &csv, &out), after);
        let chunks: Vec<PathBuf> = std::fs::read_dir(&work)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        let chunk_files: Vec<&PathBuf> = chunks
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        // Every chunk that exists is whole; the output is absent or whole.
        for chunk in &chunk_files {
            Features::load(chunk).unwrap_or_else(|e| panic!("{}: {e}", chunk.display()));
        }
        let output = out.exists();
        if output {
            same_features(&Features::load(&out).unwrap(), &reference);
        }
        report.push(format!(
            "{after:?}: {} chunks{}{}",
            chunk_files.len(),
            if output { ", output written" } else { "" },
            if finished { ", had finished" } else { "" }
        ));
        // The next run resumes from what this one left.
    }
    println!("kill points: {}", report.join("; "));
    ok(features_command(dir, &csv, &out).output().unwrap());
    same_features(&Features::load(&out).unwrap(), &reference);
    assert!(!work.exists(), "the work folder is removed at the end");
}

fn train_command(features: &Path, run: &Path, epochs: usize) -> Command {
    let mut c = memeclip();
    c.args(["train", "--features"])
        .arg(features)
        .args([
            "--task",
            "label",
            "--map-dim",
            "64",
            "--labels",
            "funny,mean",
        ])
        .args(["--epochs", &epochs.to_string(), "--out"])
        .arg(run);
    c
}

/// What a run folder holds, each file checked whole: the head's tensors, the JSON files.
fn check_run(run: &Path) -> Vec<&'static str> {
    let mut present = Vec::new();
    let head = run.join("head.safetensors");
    if head.exists() {
        let bytes = std::fs::read(&head).unwrap();
        safetensors::SafeTensors::deserialize(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", head.display()));
        present.push("head");
    }
    for (name, label) in [("metrics.json", "metrics"), ("report.json", "report")] {
        let path = run.join(name);
        if path.exists() {
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            present.push(label);
        }
    }
    present
}

#[test]
fn train_killed_anywhere_leaves_whole_files_and_a_rerun_gives_the_same_head() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let csv = dataset(dir, 300);
    let features = dir.join("features.safetensors");
    ok(features_command(dir, &csv, &features).output().unwrap());
    let epochs = 40;
    let reference = dir.join("reference-run");
    let started = Instant::now();
    ok(train_command(&features, &reference, epochs)
        .output()
        .unwrap());
    let took = started.elapsed();
    assert_eq!(check_run(&reference), ["head", "metrics", "report"]);
    println!("uninterrupted: {took:?}");

    let run = dir.join("run");
    let mut report = Vec::new();
    // Most points near the end, where the files are written.
    for percent in [25u32, 50, 75, 90, 95, 100, 105, 110] {
        let after = took * percent / 100;
        let finished = kill_after(&mut train_command(&features, &run, epochs), after);
        let present = check_run(&run);
        report.push(format!(
            "{after:?}: {present:?}{}",
            if finished { ", had finished" } else { "" }
        ));
    }
    println!("kill points: {}", report.join("; "));
    // Training keeps no state between runs: a rerun starts over and, seeded, gives the same head.
    ok(train_command(&features, &run, epochs).output().unwrap());
    let (a, b) = (
        std::fs::read(run.join("head.safetensors")).unwrap(),
        std::fs::read(reference.join("head.safetensors")).unwrap(),
    );
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&a).unwrap(),
        safetensors::SafeTensors::deserialize(&b).unwrap(),
    );
    let mut names = a.names();
    names.sort();
    assert!(!names.is_empty());
    for name in names {
        assert!(
            a.tensor(name).unwrap().data() == b.tensor(name).unwrap().data(),
            "{name} differs between two seeded runs"
        );
    }
}

/// `command` with its file size limited to `bytes` (as `ulimit -f` does).
fn with_file_limit(command: &mut Command, bytes: u64) -> Output {
    // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.output().unwrap()
}

#[test]
fn a_write_that_fails_is_a_clear_error_and_keeps_the_old_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bundle = dir.join("model.memeclip");
    std::fs::write(&bundle, b"the previous bundle").unwrap();
    let mut export = memeclip();
    export
        .args(["export-web", "--clip"])
        .arg(common::tiny_clip())
        .args(["--quant", "int8", "--out"])
        .arg(&bundle);
    let out = with_file_limit(&mut export, 64 << 10);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("model.memeclip") && err.contains("File too large"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(std::fs::read(&bundle).unwrap(), b"the previous bundle");

    let csv = dataset(dir, 40);
    let features = dir.join("f.safetensors");
    let out = with_file_limit(&mut features_command(dir, &csv, &features), 4 << 10);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("File too large"),
        "{err}"
    );
    assert!(!features.exists());
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
