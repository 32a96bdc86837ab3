//! Native x86-64 with AVX-512 VNNI (Intel since Ice Lake, AMD since Zen 4): `vpdpwssd` does the
//! multiply-add of `vpmaddwd` and the accumulation of `vpaddd` in one instruction. Like
//! `avx2.rs` otherwise: each file is compiled for its own target features, so the loop is
//! written out in both.

use std::arch::x86_64::*;

use super::{PANEL, Tile};

/// # Safety
/// The CPU must have AVX-512 VNNI and VL; the tile's bounds are checked by
/// `super::add_products`.
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
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
/// As `avx2::rows`, and the CPU must have AVX-512 VNNI and VL.
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
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
                // Codes are at most 32767 and 127 in size: no pair of products overflows.
                *acc = _mm256_dpwssd_epi32(*acc, _mm256_set1_epi32(pair), wv);
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
