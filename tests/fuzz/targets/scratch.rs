//! A file for the loaders that read paths: each input is written to one scratch file per
//! process (in the system's temporary folder) and read back from there.

use std::path::PathBuf;

pub fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("memeclip-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("a scratch file");
    path
}
