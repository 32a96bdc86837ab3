//! Backend choice, made once at the program's edge; the model code only sees a `Device`.

use burn::tensor::Device;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "native", derive(clap::ValueEnum))]
pub enum Backend {
    /// burn's pure-Rust CPU backend (SIMD, multi-threaded).
    Flex,
    /// burn's wgpu backend: Vulkan, Metal, DX12 or WebGPU.
    Wgpu,
    /// NVIDIA GPUs (build with the `cuda` feature).
    #[cfg(feature = "cuda")]
    Cuda,
}

impl Backend {
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu => wgpu_device(),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(0)),
        }
    }
}

/// The wgpu runtime can be initialized once per process; later calls reuse it.
#[cfg(all(feature = "wgpu", not(target_family = "wasm")))]
fn wgpu_device() -> Result<Device> {
    use std::sync::OnceLock;
    static DEVICE: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            Device::wgpu_options()
                .init()
                .map_err(|e| format!("no usable wgpu adapter ({e}); try --backend flex"))
        })
        .clone()
        .map_err(Error::Backend)
}

#[cfg(all(not(feature = "wgpu"), not(target_family = "wasm")))]
fn wgpu_device() -> Result<Device> {
    Err(Error::Backend(
        "this build of memeclip has no wgpu backend (build with --features wgpu)".into(),
    ))
}

#[cfg(target_family = "wasm")]
fn wgpu_device() -> Result<Device> {
    Err(Error::Backend(
        "in the browser, WebGPU is initialized asynchronously by the web API".into(),
    ))
}
