//! The CPU kernels compiled alone for wasm32 with simd128, so that a test (tests/browser/
//! kernels.test.mjs) can check the SIMD path against the portable one inside the same wasm
//! engine, bit for bit. Build: rustc --edition 2024 --crate-type cdylib
//! --target wasm32-unknown-unknown -C opt-level=2 -C target-feature=+simd128 kernels_check.rs

#[allow(dead_code)]
#[path = "../../crate/src/kernels/activation.rs"]
mod activation;
#[allow(dead_code)]
#[path = "../../crate/src/kernels/int8/mod.rs"]
mod int8;

/// Deterministic values in [-scale, scale), with a NaN at `nan_at` (if below `len`).
fn values(len: usize, seed: u32, scale: f32, nan_at: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    (0..len)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            if i == nan_at {
                return f32::NAN;
            }
            (s as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Outputs that differ in bits (NaN matches NaN).
fn mismatches(a: &[f32], b: &[f32]) -> u32 {
    let same = |x: &f32, y: &f32| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    (a.len() != b.len()) as u32 + a.iter().zip(b).filter(|(x, y)| !same(x, y)).count() as u32
}

/// `[m, k] · [n, k]ᵀ` on the SIMD path and on the portable one; `nan_at` puts a NaN in x.
/// `bits` picks the weights: 8 (int8) or 12 (12-bit codes in i16).
#[unsafe(no_mangle)]
pub extern "C" fn check_int8(
    m: usize,
    n: usize,
    k: usize,
    seed: u32,
    nan_at: usize,
    bits: u32,
) -> u32 {
    match bits {
        8 => check::<i8>(m, n, k, seed, nan_at),
        12 => check::<i16>(m, n, k, seed, nan_at),
        _ => u32::MAX,
    }
}

fn check<C: int8::Code>(m: usize, n: usize, k: usize, seed: u32, nan_at: usize) -> u32 {
    let weights = values(n * k, seed, 0.1, usize::MAX);
    let w = int8::QuantMatrix::<C>::quantize(&weights, n, k).unwrap();
    let x = values(m * k, seed + 1, 4.0, nan_at);
    let bias = values(n, seed + 2, 1.0, usize::MAX);
    mismatches(
        &w.forward(&x, m, Some(&bias)),
        &w.forward_portable(&x, m, Some(&bias)),
    )
}

/// A conv's input pixels (`k` rows of `n`, `n + 3` apart) packed as 12-bit columns on the SIMD
/// path and on the portable one, then multiplied by the same filters; `nan_at` puts a NaN in x.
#[unsafe(no_mangle)]
pub extern "C" fn check_columns(m: usize, n: usize, k: usize, seed: u32, nan_at: usize) -> u32 {
    let filters = int8::QuantizedRows::new::<i16>(&values(m * k, seed, 0.1, usize::MAX), m, k);
    let x = values(k * (n + 3), seed + 1, 4.0, nan_at);
    let simd = int8::Int12Matrix::from_columns(&x, k, n, n + 3);
    let portable = int8::Int12Matrix::from_columns_portable(&x, k, n, n + 3);
    mismatches(
        &simd.columns(&filters, 0..simd.panels(), None),
        &portable.columns(&filters, 0..portable.panels(), None),
    )
}

/// QuickGELU on the SIMD path and on the portable one, over [-scale, scale) plus extremes.
#[unsafe(no_mangle)]
pub extern "C" fn check_quick_gelu(len: usize, seed: u32, scale: f32) -> u32 {
    let mut x = values(len, seed, scale, 3);
    x.extend([f32::MAX, f32::MIN, f32::INFINITY, -60.0, -87.0, 1e-30, 0.0, -0.0]);
    let (mut simd, mut portable) = (x.clone(), x);
    activation::quick_gelu(&mut simd);
    activation::quick_gelu_portable(&mut portable);
    mismatches(&simd, &portable)
}
