use std::process::ExitCode;

fn main() -> ExitCode {
    match memeclip::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("memeclip: {error}");
            ExitCode::FAILURE
        }
    }
}
