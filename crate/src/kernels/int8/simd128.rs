//! wasm simd128: `i32x4.dot_i16x8_s` for the products (int8 weights widened to i16 as they are
//! loaded), and the activations' quantization four lanes at a time.

use core::arch::wasm32::*;

use super::{Code, PANEL, Tile};

pub fn max_abs(row: &[f32]) -> f32 {
    let mut max = f32x4_splat(0.0);
    let mut nan = f32x4_splat(0.0);
    let mut chunks = row.chunks_exact(4);
    for c in &mut chunks {
        // SAFETY: a chunk is 4 floats.
        let v = unsafe { v128_load(c.as_ptr() as *const v128) };
        max = f32x4_pmax(max, f32x4_abs(v));
        nan = v128_or(nan, f32x4_ne(v, v));
    }
    let lanes = [
        f32x4_extract_lane::<0>(max),
        f32x4_extract_lane::<1>(max),
        f32x4_extract_lane::<2>(max),
        f32x4_extract_lane::<3>(max),
    ];
    let tail = super::max_abs_portable(chunks.remainder());
    // `f32::max` drops a NaN: look for one first.
    if v128_any_true(nan) || tail.is_nan() {
        return f32::NAN;
    }
    lanes.iter().fold(tail, |m, v| m.max(*v))
}

pub fn scale_and_round(row: &[f32], inv: f32, dst: &mut [i16]) {
    let scale = f32x4_splat(inv);
    let mut chunks = row.chunks_exact(8);
    let mut out = dst.chunks_exact_mut(8);
    for (c, d) in (&mut chunks).zip(&mut out) {
        // SAFETY: a chunk is 8 floats, its destination 8 codes.
        unsafe {
            let lo = v128_load(c.as_ptr() as *const v128);
            let hi = v128_load(c.as_ptr().add(4) as *const v128);
            let lo = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(lo, scale)));
            let hi = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(hi, scale)));
            v128_store(d.as_mut_ptr() as *mut v128, i16x8_narrow_i32x4(lo, hi));
        }
    }
    let done = row.len() - chunks.remainder().len();
    super::scale_and_round_portable(chunks.remainder(), inv, &mut dst[done..]);
}

pub fn add_products<C: Code>(tile: &Tile<C>, out: &mut [f32], stride: usize) {
    let (x, w, out) = (tile.x.as_ptr(), tile.weights.as_ptr(), out.as_mut_ptr());
    let (pairs, x_stride) = (tile.pairs, tile.x_stride);
    // SAFETY: `super::add_products` checked that every row and pair read or written here
    // lies inside the slices.
    unsafe {
        match tile.rows {
            4 => rows::<4, C>(x, x_stride, w, pairs, out, stride),
            3 => rows::<3, C>(x, x_stride, w, pairs, out, stride),
            2 => rows::<2, C>(x, x_stride, w, pairs, out, stride),
            _ => rows::<1, C>(x, x_stride, w, pairs, out, stride),
        }
    }
}

/// The 16 weight codes of pair `p` as two vectors of eight i16.
///
/// # Safety
/// `w` holds at least `(p + 1) * 2 * PANEL` codes.
#[inline(always)]
unsafe fn pair_weights<C: Code>(w: *const C, p: usize) -> (v128, v128) {
    unsafe {
        let at = w.add(p * 2 * PANEL) as *const v128;
        if C::WIDE {
            (v128_load(at), v128_load(at.add(1)))
        } else {
            let both = v128_load(at);
            (i16x8_extend_low_i8x16(both), i16x8_extend_high_i8x16(both))
        }
    }
}

/// # Safety
/// `x` holds `R` rows `x_stride` apart of at least `2 * pairs` codes, `w` holds
/// `pairs * 2 * PANEL` codes, `out` holds `R` rows `stride` apart of `PANEL` floats.
#[inline(always)]
unsafe fn rows<const R: usize, C: Code>(
    x: *const i16,
    x_stride: usize,
    w: *const C,
    pairs: usize,
    out: *mut f32,
    stride: usize,
) {
    let mut acc = [[i32x4_splat(0); 2]; R];
    for p in 0..pairs {
        unsafe {
            let (w0, w1) = pair_weights(w, p);
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = v128_load32_splat(x.add(r * x_stride + 2 * p) as *const u32);
                acc[0] = i32x4_add(acc[0], i32x4_dot_i16x8(a, w0));
                acc[1] = i32x4_add(acc[1], i32x4_dot_i16x8(a, w1));
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        unsafe {
            let o = out.add(r * stride) as *mut v128;
            let lo = f32x4_add(v128_load(o), f32x4_convert_i32x4(acc[0]));
            let hi = f32x4_add(v128_load(o.add(1)), f32x4_convert_i32x4(acc[1]));
            v128_store(o, lo);
            v128_store(o.add(1), hi);
        }
    }
}

/// `Code::pack_panel` for 12-bit codes: both rows scaled and rounded four lanes at a time, each
/// even code in the low half of an i32 lane and the odd one in the high half, which is the
/// packed order of i16 pairs.
pub fn pack_panel(even: &[f32], odd: &[f32], inv: &[f32], dst: &mut [i16]) {
    assert!(even.len() >= PANEL && odd.len() >= PANEL && inv.len() >= PANEL);
    assert!(dst.len() >= 2 * PANEL);
    let low = i32x4_splat(0xffff);
    for half in 0..2 {
        // SAFETY: the slices hold 8 floats and 16 codes (checked above).
        unsafe {
            let load = |v: &[f32]| v128_load(v.as_ptr().add(4 * half) as *const v128);
            let scale = load(inv);
            let round = |v: v128| i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v, scale)));
            let (e, o) = (round(load(even)), round(load(odd)));
            let pairs = v128_or(v128_and(e, low), i32x4_shl(o, 16));
            v128_store(dst.as_mut_ptr().add(8 * half) as *mut v128, pairs);
        }
    }
}
