use super::*;

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// `x · Wᵀ + b` in f64 with the dequantized weights and unquantized `x`, and for each output
/// the bound on what rounding `x` to its codes can change: half a step times Σ|w|.
fn reference<C: Code>(w: &QuantMatrix<C>, x: &[f32], m: usize, bias: &[f32]) -> Vec<(f64, f64)> {
    let (n, k) = (w.n(), w.k());
    let wd = w.dequantize();
    let mut out = Vec::new();
    for row in x.chunks(k).take(m) {
        let step = row.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64 / C::X_MAX as f64;
        for c in 0..n {
            let wr = &wd[c * k..(c + 1) * k];
            let y: f64 = row.iter().zip(wr).map(|(a, b)| *a as f64 * *b as f64).sum();
            let abs_w: f64 = wr.iter().map(|b| (*b as f64).abs()).sum();
            out.push((y + bias[c] as f64, 0.5 * step * abs_w));
        }
    }
    out
}

#[test]
fn matches_the_float_product_within_the_activation_rounding() {
    within_the_activation_rounding::<i8>();
    within_the_activation_rounding::<i16>();
}

fn within_the_activation_rounding<C: Code>() {
    // Odd k over three chunks, a partial panel (n = 21) and a partial row tile (m = 7).
    for (m, n, k) in [(7, 21, 1101), (4, 8, 2), (1, 3, 1), (50, 64, 768)] {
        let w = QuantMatrix::<C>::quantize(&values(n * k, 1), n, k).unwrap();
        let x: Vec<f32> = values(m * k, 2).iter().map(|v| v * 3.0).collect();
        let bias = values(n, 3);
        let y = w.forward(&x, m, Some(&bias));
        for (i, (got, (want, bound))) in y.iter().zip(reference(&w, &x, m, &bias)).enumerate() {
            let err = (*got as f64 - want).abs();
            // The bound plus f32 rounding of sums about as large as Σ|w|·max|x|.
            assert!(
                err <= bound * 1.01 + 1e-5 * (1.0 + want.abs()),
                "{m}x{n}x{k} [{i}]: {got} vs {want} (bound {bound})"
            );
        }
    }
}

#[test]
fn the_native_simd_kernels_match_the_portable_one_bit_for_bit() {
    simd_matches_portable::<i8>();
    simd_matches_portable::<i16>();
}

fn simd_matches_portable<C: Code>() {
    let mut kernels = vec![Kernel::best()];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            kernels.push(Kernel::Avx2);
        }
        println!("best kernel is VNNI: {}", Kernel::best() == Kernel::Vnni);
    }
    for kernel in kernels {
        // Panel groups of 4 with 1, 2 and 3 left over, row tiles of 6 with 1 to 5 left over,
        // k over one, two and three chunks.
        for (m, n, k) in [
            (7, 21, 1101),
            (50, 64, 768),
            (1, 1, 1),
            (13, 56, 600),
            (6, 16, 512),
            (11, 72, 40),
            (16, 40, 77),
            (3, 8, 257),
            (23, 24, 9),
        ] {
            let w = QuantMatrix::<C>::quantize(&values(n * k, 6), n, k).unwrap();
            let x = values(m * k, 7);
            let bias = values(n, 8);
            let (a, b) = (
                w.forward_on(kernel, &x, m, Some(&bias)),
                w.forward_portable(&x, m, Some(&bias)),
            );
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{m}x{n}x{k}"
            );
        }
        // A NaN in a row's vector part (index 7 of row 1) and in its tail (index 32 of row 3).
        let (m, n, k) = (5, 9, 33);
        let w = QuantMatrix::<C>::quantize(&values(n * k, 9), n, k).unwrap();
        let mut x = values(m * k, 10);
        x[k + 7] = f32::NAN;
        x[3 * k + 32] = f32::NAN;
        let y = w.forward_on(kernel, &x, m, None);
        for (r, row) in y.chunks(n).enumerate() {
            assert_eq!(row.iter().all(|v| v.is_nan()), r == 1 || r == 3, "row {r}");
        }
    }
}

#[test]
fn weights_round_trip_through_the_packing() {
    round_trip::<i8>();
    round_trip::<i16>();
    let (n, k) = (11, 37);
    let w = values(n * k, 4);
    assert!(Int8Matrix::quantize(&w, n, k + 1).is_none());
    assert!(Int8Matrix::from_codes(&[0; 6], &[1.0; 2], 2, 4).is_none());
}

fn round_trip<C: Code>() {
    let (n, k) = (11, 37);
    let w = values(n * k, 4);
    let packed = QuantMatrix::<C>::quantize(&w, n, k).unwrap();
    let back = packed.dequantize();
    for (row, (a, b)) in w.chunks(k).zip(back.chunks(k)).enumerate() {
        let max = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (p, q) in a.iter().zip(b) {
            assert!(
                (p - q).abs() <= max / C::W_MAX * 0.5 * 1.001,
                "row {row}: {p} vs {q}"
            );
        }
    }
}

#[test]
fn integer_inputs_give_exact_integer_sums() {
    // Scale 1 on both sides (row maxima 127 and 32767): every product and sum is an integer
    // below 2^24, so f32 holds the result exactly.
    let (m, n, k) = (5, 9, 40);
    let codes: Vec<i8> = (0..n * k)
        .map(|i| ((i * 37 % 255) as i32 - 127) as i8)
        .collect();
    let mut codes = codes;
    codes.iter_mut().step_by(k).for_each(|c| *c = 127);
    let w = Int8Matrix::from_codes(&codes, &vec![1.0; n], n, k).unwrap();
    let mut x: Vec<f32> = (0..m * k).map(|i| (i * 11 % 41) as f32 - 20.0).collect();
    x.iter_mut().step_by(k).for_each(|v| *v = 32767.0);
    let y = w.forward(&x, m, None);
    for r in 0..m {
        for c in 0..n {
            let want: i64 = (0..k)
                .map(|i| x[r * k + i] as i64 * codes[c * k + i] as i64)
                .sum();
            assert_eq!(y[r * n + c], want as f32, "[{r}, {c}]");
        }
    }
}

#[test]
fn a_row_with_nan_or_infinity_gives_nan_and_a_zero_row_gives_the_bias() {
    let (n, k) = (3, 4);
    let w = Int8Matrix::quantize(&values(n * k, 5), n, k).unwrap();
    let x = [
        1.0,
        f32::NAN,
        0.5,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        f32::INFINITY,
        1.0,
        2.0,
        3.0,
    ];
    let y = w.forward(&x, 3, Some(&[1.0, 2.0, 3.0]));
    assert!(y[..3].iter().all(|v| v.is_nan()));
    assert_eq!(&y[3..6], &[1.0, 2.0, 3.0]);
    assert!(y[6..].iter().all(|v| v.is_nan()));
    assert_eq!(w.forward(&[], 0, None), Vec::<f32>::new());
}

/// Every code at its largest, over more than one chunk of k: the i32 sums come as close to
/// 2³¹ as the codes allow, and must not wrap.
#[test]
fn the_largest_codes_do_not_overflow() {
    largest_codes::<i8>();
    largest_codes::<i16>();
}

fn largest_codes<C: Code>() {
    let (m, n, k) = (3, 8, 1101);
    let codes = vec![C::round(C::W_MAX); n * k];
    let w = QuantMatrix::<C>::from_codes(&codes, &vec![1.0; n], n, k).unwrap();
    let x = vec![C::X_MAX; m * k];
    let want = (C::X_MAX as f64) * (C::W_MAX as f64) * k as f64;
    for kernel in [Kernel::best(), Kernel::Portable] {
        for v in w.forward_on(kernel, &x, m, None) {
            assert!(((v as f64) - want).abs() <= want * 1e-6, "{v} vs {want}");
        }
    }
}

/// Filters as the rows and a conv's input planes as the columns (`k` rows of `n`, strided):
/// the product within the columns' rounding of the f64 one with the filters as quantized, and a
/// column with a NaN or an infinity gives NaN in that column alone.
#[test]
fn packed_columns_match_the_float_product() {
    let (m, n, k, row_stride) = (13, 37, 301, 45);
    let filters = values(m * k, 11);
    let mut x: Vec<f32> = values(k * row_stride, 12).iter().map(|v| v * 5.0).collect();
    x[7 * row_stride + 3] = f32::NAN;
    x[300 * row_stride + 36] = f32::INFINITY;
    let rows = QuantizedRows::new::<i16>(&filters, m, k);
    let held = rows.dequantize(k);
    let columns = Int12Matrix::from_columns(&x, k, n, row_stride);
    assert_eq!((columns.n(), columns.k()), (n, k));
    for kernel in [Kernel::best(), Kernel::Portable] {
        let y = columns.columns_on(kernel, &rows, 0..columns.panels(), None);
        for r in 0..m {
            let filter = &held[r * k..][..k];
            let abs_w: f64 = filter.iter().map(|v| (*v as f64).abs()).sum();
            for j in 0..n {
                let got = y[r * n + j];
                if j == 3 || j == 36 {
                    assert!(got.is_nan(), "[{r}, {j}] {got}");
                    continue;
                }
                let column = (0..k).map(|i| x[i * row_stride + j] as f64);
                let largest = column.clone().fold(0.0f64, |a, v| a.max(v.abs()));
                let want: f64 = column.zip(filter).map(|(a, b)| a * *b as f64).sum();
                let bound = 0.5 * largest / i16::X_MAX as f64 * abs_w;
                assert!(
                    (got as f64 - want).abs() <= bound * 1.01 + 1e-5 * (1.0 + want.abs()),
                    "[{r}, {j}]: {got} vs {want} (bound {bound})"
                );
            }
        }
    }
}
