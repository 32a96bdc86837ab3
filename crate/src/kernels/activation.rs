//! CLIP's QuickGELU, `x · sigmoid(1.702 x)`, and attention's softmax, in place over host
//! memory. The libm `expf` that a float tensor's sigmoid calls is scalar and took a sixth of the
//! CPU path's time in wasm; this one does four values an instruction.
//!
//! Like the `int8` module, this file uses `std` alone, and its simd128 path is checked bit for bit against
//! the portable one.

/// `exp(x)` for `x ≤ 0` is computed as `2ⁿ · e^r` with `n = round(x / ln 2)`, `|r| ≤ ln 2 / 2`,
/// and Cephes' degree-6 polynomial for `e^r` (about 1 ulp); below `EXP_MIN` it is 0, where `2ⁿ`
/// would leave the normal f32 range.
const EXP_MIN: f32 = -87.3;
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n · LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    0.166_666_65,
    0.5,
];
const SLOPE: f32 = 1.702;

/// Replaces every value `x` with `x · sigmoid(1.702 x)`.
pub fn quick_gelu(values: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let values = simd128::quick_gelu(values);
    #[cfg(target_arch = "x86_64")]
    let values = if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { avx2::quick_gelu(values) }
    } else {
        values
    };
    quick_gelu_portable(values);
}

/// Replaces a row of scores with their softmax. The exponentials are vectorized like
/// QuickGELU's (the same values as the portable ones, bit for bit); the sum is a plain
/// left-to-right one, so a row's result does not depend on the CPU.
pub fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in row.iter_mut() {
        *v -= max;
    }
    exp_nonpositive_in_place(row);
    let inverse = 1.0 / row.iter().sum::<f32>();
    for v in row.iter_mut() {
        *v *= inverse;
    }
}

/// `exp(v)` for every value, each `v ≤ 0`.
fn exp_nonpositive_in_place(values: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let values = simd128::exp_in_place(values);
    #[cfg(target_arch = "x86_64")]
    let values = if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { avx2::exp_in_place(values) }
    } else {
        values
    };
    for v in values {
        *v = exp_nonpositive(*v);
    }
}

/// The portable version, whatever the target: the reference for tests.
pub fn quick_gelu_portable(values: &mut [f32]) {
    for v in values {
        // sigmoid(t) from e = exp(-|t|) ≤ 1, which cannot overflow.
        let t = *v * SLOPE;
        let e = exp_nonpositive(-t.abs());
        let numerator = if t < 0.0 { e } else { 1.0 };
        *v *= numerator / (1.0 + e);
    }
}

fn exp_nonpositive(x: f32) -> f32 {
    if x < EXP_MIN {
        return 0.0;
    }
    let n = (x * LOG2_E).round_ties_even();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = P.iter().fold(0.0, |acc, c| acc * r + c);
    let e = p * (r * r) + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;

    use super::{EXP_MIN, LN2_HI, LN2_LO, LOG2_E, P, SLOPE};

    /// Does whole groups of four and returns the rest.
    pub fn quick_gelu(values: &mut [f32]) -> &mut [f32] {
        let mut chunks = values.chunks_exact_mut(4);
        for c in &mut chunks {
            // SAFETY: a chunk is 4 floats.
            unsafe {
                let p = c.as_mut_ptr() as *mut v128;
                let x = v128_load(p);
                let t = f32x4_mul(x, f32x4_splat(SLOPE));
                let e = exp_nonpositive(f32x4_neg(f32x4_abs(t)));
                let one = f32x4_splat(1.0);
                let numerator = v128_bitselect(e, one, f32x4_lt(t, f32x4_splat(0.0)));
                let sigmoid = f32x4_div(numerator, f32x4_add(one, e));
                v128_store(p, f32x4_mul(x, sigmoid));
            }
        }
        chunks.into_remainder()
    }

    /// `exp` of whole groups of four values `≤ 0`; returns the rest.
    pub fn exp_in_place(values: &mut [f32]) -> &mut [f32] {
        let mut chunks = values.chunks_exact_mut(4);
        for c in &mut chunks {
            // SAFETY: a chunk is 4 floats.
            unsafe {
                let p = c.as_mut_ptr() as *mut v128;
                v128_store(p, exp_nonpositive(v128_load(p)));
            }
        }
        chunks.into_remainder()
    }

    /// The same operations as the portable `exp_nonpositive`, four lanes at a time.
    fn exp_nonpositive(x: v128) -> v128 {
        let underflow = f32x4_lt(x, f32x4_splat(EXP_MIN));
        let x = f32x4_max(x, f32x4_splat(EXP_MIN));
        let n = f32x4_nearest(f32x4_mul(x, f32x4_splat(LOG2_E)));
        let r = f32x4_sub(
            f32x4_sub(x, f32x4_mul(n, f32x4_splat(LN2_HI))),
            f32x4_mul(n, f32x4_splat(LN2_LO)),
        );
        let mut p = f32x4_splat(0.0);
        for c in P {
            p = f32x4_add(f32x4_mul(p, r), f32x4_splat(c));
        }
        let e = f32x4_add(
            f32x4_add(f32x4_mul(p, f32x4_mul(r, r)), r),
            f32x4_splat(1.0),
        );
        let scale = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
        v128_andnot(f32x4_mul(e, scale), underflow)
    }
}

/// The simd128 path's operations eight lanes at a time, without fused multiply-adds, so that
/// the results are the portable ones bit for bit.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::*;

    use super::{EXP_MIN, LN2_HI, LN2_LO, LOG2_E, P, SLOPE};

    /// Does whole groups of eight and returns the rest.
    #[target_feature(enable = "avx2")]
    pub unsafe fn quick_gelu(values: &mut [f32]) -> &mut [f32] {
        let mut chunks = values.chunks_exact_mut(8);
        for c in &mut chunks {
            // SAFETY: a chunk is 8 floats; unaligned loads and stores.
            unsafe {
                let p = c.as_mut_ptr();
                let x = _mm256_loadu_ps(p);
                let t = _mm256_mul_ps(x, _mm256_set1_ps(SLOPE));
                let abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0), t);
                let e = exp_nonpositive(_mm256_xor_ps(abs, _mm256_set1_ps(-0.0)));
                let one = _mm256_set1_ps(1.0);
                let negative = _mm256_cmp_ps::<_CMP_LT_OQ>(t, _mm256_setzero_ps());
                let numerator = _mm256_blendv_ps(one, e, negative);
                let sigmoid = _mm256_div_ps(numerator, _mm256_add_ps(one, e));
                _mm256_storeu_ps(p, _mm256_mul_ps(x, sigmoid));
            }
        }
        chunks.into_remainder()
    }

    /// `exp` of whole groups of eight values `≤ 0`; returns the rest.
    #[target_feature(enable = "avx2")]
    pub unsafe fn exp_in_place(values: &mut [f32]) -> &mut [f32] {
        let mut chunks = values.chunks_exact_mut(8);
        for c in &mut chunks {
            // SAFETY: a chunk is 8 floats; unaligned loads and stores.
            unsafe {
                let p = c.as_mut_ptr();
                _mm256_storeu_ps(p, exp_nonpositive(_mm256_loadu_ps(p)));
            }
        }
        chunks.into_remainder()
    }

    #[target_feature(enable = "avx2")]
    fn exp_nonpositive(x: __m256) -> __m256 {
        let underflow = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(EXP_MIN));
        // maxps returns its second operand when either is NaN: NaN stays NaN.
        let x = _mm256_max_ps(_mm256_set1_ps(EXP_MIN), x);
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(LOG2_E)),
        );
        let r = _mm256_sub_ps(
            _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(LN2_HI))),
            _mm256_mul_ps(n, _mm256_set1_ps(LN2_LO)),
        );
        let mut p = _mm256_setzero_ps();
        for c in P {
            p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(c));
        }
        let e = _mm256_add_ps(
            _mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r),
            _mm256_set1_ps(1.0),
        );
        let exponent = _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127));
        let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(exponent));
        _mm256_andnot_ps(underflow, _mm256_mul_ps(e, scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_gelu_matches_the_formula_in_f64() {
        let xs: Vec<f32> = (-4000..=4000)
            .map(|i| i as f32 * 0.025)
            .chain([
                -200.0,
                -90.0,
                60.0,
                200.0,
                f32::MAX,
                f32::MIN,
                1e-30,
                -1e-30,
            ])
            .collect();
        let mut ys = xs.clone();
        quick_gelu(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            // The argument rounded to f32 as a float tensor's sigmoid also rounds it; its own
            // rounding (up to 72 · 2⁻²⁴ near the clamp) is not the exp's error.
            let t = (x * SLOPE) as f64;
            let want = *x as f64 / (1.0 + (-t).exp());
            let err = (*y as f64 - want).abs();
            assert!(
                // Below about -51 exp is flushed to 0 where the true |y| is under 1e-36.
                err <= 4.0 * f32::EPSILON as f64 * want.abs() + 1e-36,
                "quick_gelu({x}) = {y}, want {want}"
            );
        }
        let mut nan = [f32::NAN, 0.0];
        quick_gelu(&mut nan);
        assert!(nan[0].is_nan());
        assert_eq!(nan[1], 0.0);
    }

    #[test]
    fn softmax_matches_the_formula_in_f64() {
        for len in [1, 7, 8, 50, 77] {
            let row: Vec<f32> = (0..len)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.9)
                .collect();
            let mut got = row.clone();
            softmax(&mut got);
            let max = row.iter().copied().fold(f32::MIN, f32::max) as f64;
            let total: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
            for (v, g) in row.iter().zip(&got) {
                let want = (*v as f64 - max).exp() / total;
                assert!(
                    (*g as f64 - want).abs() <= 1e-6 * want + 1e-9,
                    "{g} vs {want}"
                );
            }
        }
        // The vector and scalar exponentials agree bit for bit, so a row's result does not
        // depend on where its vectors end.
        let row: Vec<f32> = (0..77).map(|i| -(i as f32) * 0.37).collect();
        let mut all = row.clone();
        exp_nonpositive_in_place(&mut all);
        assert!(
            row.iter()
                .zip(&all)
                .all(|(v, e)| exp_nonpositive(*v).to_bits() == e.to_bits())
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_path_matches_the_portable_one_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            println!("no AVX2 on this CPU: nothing to compare");
            return;
        }
        let xs: Vec<f32> = (-40_000..40_000)
            .map(|i| i as f32 * 0.0031)
            .chain([-200.0, -90.0, -51.3, f32::MAX, f32::MIN, 1e-30, -1e-30, 0.0])
            .chain([f32::NAN, f32::INFINITY, f32::NEG_INFINITY])
            .collect();
        let mut fast = xs.clone();
        // SAFETY: the CPU has AVX2. The returned tail (under 8 values) is left as it was.
        let tail = unsafe { avx2::quick_gelu(&mut fast) }.len();
        assert!(tail < 8);
        quick_gelu_portable(&mut fast[xs.len() - tail..]);
        let mut portable = xs.clone();
        quick_gelu_portable(&mut portable);
        for ((x, a), b) in xs.iter().zip(&fast).zip(&portable) {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "quick_gelu({x}): {a} vs portable {b}"
            );
        }
    }
}
