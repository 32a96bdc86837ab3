//! Native x86-64: `vpmaddwd` on 256 bits covers a whole panel (8 columns) per pair of inputs.

use std::arch::x86_64::*;

use super::{PANEL, Tile};

/// # Safety
/// The CPU must have AVX2; the tile's bounds are checked by `super::add_products`.
#[target_feature(enable = "avx2")]
pub unsafe fn add_products(tile: &Tile, out: &mut [f32], stride: usize) {
    let (x, w, out) = (tile.x.as_ptr(), tile.weights.as_ptr(), out.as_mut_ptr());
    let (pairs, x_stride) = (tile.pairs, tile.x_stride);
    unsafe {
        match tile.rows {
            4 => rows::<4>(x, x_stride, w, pairs, out, stride),
            3 => rows::<3>(x, x_stride, w, pairs, out, stride),
            2 => rows::<2>(x, x_stride, w, pairs, out, stride),
            _ => rows::<1>(x, x_stride, w, pairs, out, stride),
        }
    }
}

/// # Safety
/// As `simd128::rows`, and the CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn rows<const R: usize>(
    x: *const i16,
    x_stride: usize,
    w: *const i8,
    pairs: usize,
    out: *mut f32,
    stride: usize,
) {
    let mut acc = [_mm256_setzero_si256(); R];
    for p in 0..pairs {
        unsafe {
            let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(p * 2 * PANEL) as *const __m128i));
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = (x.add(r * x_stride + 2 * p) as *const i32).read_unaligned();
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(_mm256_set1_epi32(pair), wv));
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        unsafe {
            let o = out.add(r * stride);
            _mm256_storeu_ps(
                o,
                _mm256_add_ps(_mm256_loadu_ps(o), _mm256_cvtepi32_ps(*acc)),
            );
        }
    }
}
