//! One error type for the library: every message names the file, field or tensor at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no such file")]
    MissingFile { path: PathBuf },
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    #[error("{file}: tensor `{tensor}`: {message}")]
    Tensor {
        file: String,
        tensor: String,
        message: String,
    },
    #[error("{file}: not a valid safetensors file: {message}")]
    Safetensors { file: String, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("image {source_name}: {message}")]
    Image {
        source_name: String,
        message: String,
    },
    #[error("backend: {0}")]
    Backend(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::MissingFile { path }
        } else {
            Error::Io { path, source }
        }
    }

    pub fn config(file: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            file: file.into(),
            message: message.into(),
        }
    }

    pub fn tensor(
        file: impl Into<String>,
        tensor: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Tensor {
            file: file.into(),
            tensor: tensor.into(),
            message: message.into(),
        }
    }

    pub fn image(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Image {
            source_name: source_name.into(),
            message: message.into(),
        }
    }
}
