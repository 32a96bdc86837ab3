use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
    // Past a file-size limit (`ulimit -f`), a write then fails with "File too large", named with
    // its file like any other write error, instead of a signal killing the process unexplained.
    // SAFETY: setting a signal to be ignored, before any other thread exists.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    match memeclip::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("memeclip: {error}");
            ExitCode::FAILURE
        }
    }
}

/// glibc hands freed blocks of a few megabytes back to the kernel, so every training step
/// faulted its weight-sized tensors in again page by page: a quarter of the time of
/// `memeclip bench --train`. Keep them in the heap instead (32 MiB is glibc's largest threshold).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator tuning; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}
