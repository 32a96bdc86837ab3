//! The bundle reader: magic, version, header JSON, tensor table and payload, then everything a
//! load builds from a bundle that passed (the CLIP pipeline, the heads, the OCR).
#![no_main]

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use memeclip::bundle::Bundle;

fuzz_target!(|data: &[u8]| {
    // The hash covers the payload only: a mutated header with an intact payload gets through.
    let Ok(bundle) = Bundle::from_bytes(data.to_vec(), "fuzz") else {
        return;
    };
    let device = Device::flex();
    let _ = bundle.pipeline(&device, bundle.cpu_kernels());
    let _ = bundle.heads(&device);
    let _ = bundle.ocr(&device, bundle.cpu_kernels());
});
