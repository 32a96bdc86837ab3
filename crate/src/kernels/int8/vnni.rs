//! Native x86-64 with AVX-512 (BW, VNNI): `vpdpwssd` on 512 bits, two panels (16 columns) per
//! register, up to four panels and six rows per call. The multiply-add takes about five cycles
//! and the next one on the same accumulator waits for it, so the 4 accumulators of the AVX2
//! tile kept it a fifth busy; 12 independent ones keep it fed. The integer sums are exact, so
//! the result is the portable kernel's bit for bit.

use std::arch::x86_64::*;

use super::avx2::panel_weights;
use super::{Code, PANEL, Tile};

/// Panels one call covers: two 512-bit accumulators per row.
pub const PANELS: usize = 4;
/// Rows one call covers: 6 rows × 2 accumulators, 2 weight registers and a broadcast.
pub const ROWS: usize = 6;

/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI; the tile's bounds are checked by
/// `super::add_products`.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn add_products<C: Code>(tile: &Tile<C>, out: &mut [f32], stride: usize) {
    let a = Args {
        x: tile.x.as_ptr(),
        x_stride: tile.x_stride,
        w: tile.weights.as_ptr(),
        panel_stride: tile.panel_stride,
        pairs: tile.pairs,
        out: out.as_mut_ptr(),
        stride,
    };
    // Two panels per register; an odd last panel takes a 256-bit register of its own.
    let (wide, odd) = (tile.panels / 2, tile.panels % 2);
    unsafe {
        match wide {
            2 => panel_pairs::<2, C>(tile.rows, &a),
            1 => panel_pairs::<1, C>(tile.rows, &a),
            _ => {}
        }
        if odd == 1 {
            let a = Args {
                w: a.w.add(2 * wide * a.panel_stride),
                out: a.out.add(2 * wide * PANEL),
                ..a
            };
            match tile.rows {
                6 => one_panel::<6, C>(&a),
                5 => one_panel::<5, C>(&a),
                4 => one_panel::<4, C>(&a),
                3 => one_panel::<3, C>(&a),
                2 => one_panel::<2, C>(&a),
                _ => one_panel::<1, C>(&a),
            }
        }
    }
}

/// `rows` rows (1 to 6) against `2 W` panels.
///
/// # Safety
/// As [`rows`].
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn panel_pairs<const W: usize, C: Code>(rows: usize, a: &Args<C>) {
    unsafe {
        match rows {
            6 => self::rows::<6, W, C>(a),
            5 => self::rows::<5, W, C>(a),
            4 => self::rows::<4, W, C>(a),
            3 => self::rows::<3, W, C>(a),
            2 => self::rows::<2, W, C>(a),
            _ => self::rows::<1, W, C>(a),
        }
    }
}

struct Args<C> {
    x: *const i16,
    x_stride: usize,
    w: *const C,
    panel_stride: usize,
    pairs: usize,
    out: *mut f32,
    stride: usize,
}

/// `R` rows against `2 W` panels.
///
/// # Safety
/// `x` holds `R` rows of `2 pairs` codes at `x_stride`; `w` holds `2 W` panels of
/// `pairs * 2 * PANEL` codes at `panel_stride`; `out` holds `R` rows of `2 W · PANEL` floats at
/// `stride`. The CPU has the features named.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn rows<const R: usize, const W: usize, C: Code>(a: &Args<C>) {
    let mut acc = [[_mm512_setzero_si512(); W]; R];
    for p in 0..a.pairs {
        unsafe {
            let mut wv = [_mm512_setzero_si512(); W];
            for (j, wv) in wv.iter_mut().enumerate() {
                let lo = a.w.add(2 * j * a.panel_stride);
                *wv = two_panels(lo, lo.add(a.panel_stride), p);
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = (a.x.add(r * a.x_stride + 2 * p) as *const i32).read_unaligned();
                let pair = _mm512_set1_epi32(pair);
                for (acc, wv) in acc.iter_mut().zip(&wv) {
                    // X_MAX · W_MAX · 2 < 2³¹: no pair of products overflows.
                    *acc = _mm512_dpwssd_epi32(*acc, pair, *wv);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (j, acc) in acc.iter().enumerate() {
            unsafe {
                let o = a.out.add(r * a.stride + 2 * j * PANEL);
                _mm512_storeu_ps(
                    o,
                    _mm512_add_ps(_mm512_loadu_ps(o), _mm512_cvtepi32_ps(*acc)),
                );
            }
        }
    }
}

/// `R` rows against one panel, 256 bits wide.
///
/// # Safety
/// As [`rows`] with one panel.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn one_panel<const R: usize, C: Code>(a: &Args<C>) {
    let mut acc = [_mm256_setzero_si256(); R];
    for p in 0..a.pairs {
        unsafe {
            let wv = panel_weights(a.w, p);
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = (a.x.add(r * a.x_stride + 2 * p) as *const i32).read_unaligned();
                *acc = _mm256_dpwssd_epi32(*acc, _mm256_set1_epi32(pair), wv);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        unsafe {
            let o = a.out.add(r * a.stride);
            _mm256_storeu_ps(
                o,
                _mm256_add_ps(_mm256_loadu_ps(o), _mm256_cvtepi32_ps(*acc)),
            );
        }
    }
}

/// Pair `p` of two panels' weights as 32 i16, the first panel's in the low half.
///
/// # Safety
/// `lo` and `hi` each hold at least `(p + 1) * 2 * PANEL` codes; the CPU has AVX-512 BW.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
#[inline]
unsafe fn two_panels<C: Code>(lo: *const C, hi: *const C, p: usize) -> __m512i {
    unsafe {
        let (lo, hi) = (lo.add(p * 2 * PANEL), hi.add(p * 2 * PANEL));
        if C::WIDE {
            let low = _mm512_castsi256_si512(_mm256_loadu_si256(lo as *const __m256i));
            _mm512_inserti64x4::<1>(low, _mm256_loadu_si256(hi as *const __m256i))
        } else {
            let both = _mm256_inserti128_si256::<1>(
                _mm256_castsi128_si256(_mm_loadu_si128(lo as *const __m128i)),
                _mm_loadu_si128(hi as *const __m128i),
            );
            _mm512_cvtepi8_epi16(both)
        }
    }
}
