//! 2-d convolutions over NCHW f32 planes on the host, the bias and the activation after them
//! fused: the OCR networks' layers on the CPU device. burn-flex computes a conv, then its bias,
//! then each activation as separate passes over memory (in wasm a quarter of the OCR's time),
//! and on one thread in the browser. Here a dense conv is one matrix product per range of
//! output pixels (im2col where the kernel is wider than 1x1), a depthwise conv a direct loop per
//! plane, and both split over the thread pool where there is one. A quantized bundle's CPU path
//! runs the dense products on 12-bit integers ([`HostConv::quantized`]).

use super::int8::{Int12Matrix, QuantizedRows, RowSource};
use super::{for_each_chunk, map_parts, threads};
use std::ops::Range;

/// Convolutions smaller than this (multiply-adds) run on one thread.
const THREADS_FROM: usize = 1 << 21;
/// The narrowest range of output pixels a thread takes.
const MIN_COLUMNS: usize = 64;
/// The most output pixels one dense product takes: the inputs it gathers and packs (at most
/// this many times the filter's length) stay small enough for the cache, however large the
/// image. Whole, the detector's head conv at 960 x 640 would gather 133 MB.
const BLOCK_COLUMNS: usize = 1024;

/// What follows the conv and its bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Identity,
    Relu,
    /// `x · sigmoid(x)`.
    Swish,
    /// Hard swish, `x · clamp(x/6 + 1/2, 0, 1)`, then `· scale + shift` (PP-LCNetV3's
    /// learnable affine block).
    HardSwish {
        scale: f32,
        shift: f32,
    },
}

impl Activation {
    fn apply(self, values: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Swish => values.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp()),
            Activation::HardSwish { scale, shift } => values.iter_mut().for_each(|v| {
                let gate = (*v * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0);
                *v = *v * gate * scale + shift;
            }),
        }
    }
}

/// A conv's geometry. `groups` is 1 (dense) or the channel count (depthwise).
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub input: usize,
    pub out: usize,
    pub k: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub depthwise: bool,
}

impl Geometry {
    /// Output rows and columns for an input of `h` x `w` (as burn and ONNX compute them).
    pub fn output_size(&self, h: usize, w: usize) -> [usize; 2] {
        let side = |n: usize, i: usize| {
            (n + 2 * self.padding[i]).saturating_sub(self.k[i]) / self.stride[i] + 1
        };
        [side(h, 0), side(w, 1)]
    }

    /// Weights per output channel.
    fn per_filter(&self) -> usize {
        let channels = if self.depthwise { 1 } else { self.input };
        channels * self.k[0] * self.k[1]
    }
}

/// A conv's weights `[out, in / groups, kh, kw]` and bias, row-major.
pub struct HostConv {
    geometry: Geometry,
    weight: Vec<f32>,
    bias: Vec<f32>,
    /// The dense products' filters as 12-bit codes, once [`Self::quantized`].
    quantized: Option<QuantizedRows>,
}

impl HostConv {
    /// `None` if the lengths disagree with the geometry, or a depthwise conv changes the
    /// channel count.
    pub fn new(geometry: Geometry, weight: Vec<f32>, bias: Vec<f32>) -> Option<Self> {
        let fits = weight.len() == geometry.out * geometry.per_filter()
            && bias.len() == geometry.out
            && (!geometry.depthwise || geometry.input == geometry.out);
        fits.then_some(HostConv {
            geometry,
            weight,
            bias,
            quantized: None,
        })
    }

    /// The same conv with its dense products on integers: 12-bit filters (one scale each) and
    /// the input pixels rounded to 12 bits (one scale per pixel), i32 sums. Filters are the
    /// product's rows and pixels its columns, so the NCHW planes go in and come out without a
    /// transpose. In wasm the integer product runs at 2.5x the f32 one's speed; int8 filters
    /// would be as fast but change the text read. A depthwise conv stays f32: it has no
    /// product to speed up.
    pub fn quantized(mut self) -> Self {
        let g = &self.geometry;
        if !g.depthwise {
            self.quantized = Some(QuantizedRows::new::<i16>(
                &self.weight,
                g.out,
                g.per_filter(),
            ));
            // The f32 weights are not used again.
            self.weight = Vec::new();
        }
        self
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// `x` is `[batch, in, h, w]`; returns `[batch, out, oh, ow]`, activated.
    pub fn forward(
        &self,
        x: &[f32],
        batch: usize,
        [h, w]: [usize; 2],
        act: Activation,
    ) -> Vec<f32> {
        let g = &self.geometry;
        assert_eq!(
            x.len(),
            batch * g.input * h * w,
            "input is [batch, in, h, w]"
        );
        let [oh, ow] = g.output_size(h, w);
        let mut y = vec![0.0; batch * g.out * oh * ow];
        if y.is_empty() {
            return y;
        }
        let macs = y.len() * g.per_filter();
        let threads = if macs >= THREADS_FROM { threads() } else { 1 };
        let plane = Plane { h, w, ow };
        if g.depthwise {
            // One output plane per (image, channel): enough planes for any pool.
            for_each_chunk(&mut y, oh * ow, threads, |index, out| {
                let c = index % g.out;
                let input = &x[index * h * w..][..h * w];
                self.depthwise_plane(c, input, &plane, out);
                act.apply(out);
            });
            return y;
        }
        let pixels = oh * ow;
        let parts = threads.min(pixels.div_ceil(MIN_COLUMNS)).max(1);
        for (image, out) in y.chunks_mut(g.out * pixels).enumerate() {
            let input = &x[image * g.input * h * w..][..g.input * h * w];
            if parts == 1 {
                self.dense_columns(input, &plane, 0..pixels, out, pixels);
                act.apply(out);
                continue;
            }
            let per_part = pixels.div_ceil(parts);
            let blocks = map_parts(parts, |t| {
                let columns = (t * per_part).min(pixels)..((t + 1) * per_part).min(pixels);
                let mut block = vec![0.0; g.out * columns.len()];
                if !block.is_empty() {
                    self.dense_columns(input, &plane, columns.clone(), &mut block, columns.len());
                    act.apply(&mut block);
                }
                (columns, block)
            });
            for (columns, block) in blocks {
                let width = columns.len();
                for (row, values) in block.chunks_exact(width.max(1)).enumerate() {
                    out[row * pixels + columns.start..][..width].copy_from_slice(values);
                }
            }
        }
        y
    }

    /// Output pixels `columns` of every output channel of one image, into `out` (rows
    /// `stride` apart): the bias, then one product of the weights with the input's columns.
    fn dense_columns(
        &self,
        x: &[f32],
        plane: &Plane,
        columns: Range<usize>,
        out: &mut [f32],
        stride: usize,
    ) {
        if columns.len() > BLOCK_COLUMNS {
            for start in columns.clone().step_by(BLOCK_COLUMNS) {
                let block = start..(start + BLOCK_COLUMNS).min(columns.end);
                let out = &mut out[start - columns.start..];
                self.dense_columns(x, plane, block, out, stride);
            }
            return;
        }
        let g = &self.geometry;
        let width = columns.len();
        let k = g.per_filter();
        let pointwise = g.k == [1, 1] && g.stride == [1, 1] && g.padding == [0, 0];
        if let Some(filters) = &self.quantized {
            // A 1x1 conv reads its columns in place; a wider one gathers them a row at a
            // time as they are packed, never storing the whole im2col matrix.
            let pixels = if pointwise {
                Int12Matrix::from_columns(&x[columns.start..], k, width, plane.h * plane.w)
            } else {
                let rows = Im2colRows {
                    conv: self,
                    x,
                    plane,
                    columns,
                };
                Int12Matrix::from_rows(&rows, k, width)
            };
            let y = pixels.columns(filters, 0..pixels.panels(), None);
            for ((row, b), sums) in self.bias.iter().enumerate().zip(y.chunks_exact(width)) {
                let dst = &mut out[row * stride..][..width];
                dst.iter_mut().zip(sums).for_each(|(d, v)| *d = v + b);
            }
            return;
        }
        // A 1x1 conv reads its columns in place; a wider one gathers them first.
        let gathered;
        let (rhs, rhs_stride) = if pointwise {
            (&x[columns.start..], plane.h * plane.w)
        } else {
            gathered = self.im2col(x, plane, columns);
            (&gathered[..], width)
        };
        for (row, b) in self.bias.iter().enumerate() {
            out[row * stride..][..width].fill(*b);
        }
        assert!(
            rhs.len() >= (k - 1) * rhs_stride + width,
            "columns inside the input"
        );
        assert!(
            out.len() >= (g.out - 1) * stride + width,
            "rows inside the output"
        );
        // SAFETY: the weight is row-major [out, k]; the right side holds k rows `rhs_stride`
        // apart of `width` values (checked above); `out` holds `g.out` rows `stride` apart of
        // `width` values (checked above) and does not alias the inputs.
        unsafe {
            gemm::gemm(
                g.out,
                width,
                k,
                out.as_mut_ptr(),
                1,
                stride as isize,
                true,
                self.weight.as_ptr(),
                1,
                k as isize,
                rhs.as_ptr(),
                1,
                rhs_stride as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }

    /// `[in · kh · kw, columns]`: for each output pixel, the input values under the kernel
    /// (zero in the padding).
    fn im2col(&self, x: &[f32], p: &Plane, columns: Range<usize>) -> Vec<f32> {
        let width = columns.len();
        let mut out = vec![0.0; self.geometry.per_filter() * width];
        for (i, row) in out.chunks_exact_mut(width).enumerate() {
            self.im2col_row(x, p, columns.clone(), i, row);
        }
        out
    }

    /// Row `i` of [`Self::im2col`] into `row`, which it overwrites.
    fn im2col_row(&self, x: &[f32], p: &Plane, columns: Range<usize>, i: usize, row: &mut [f32]) {
        let g = &self.geometry;
        let taps = g.k[0] * g.k[1];
        let (ky, kx) = (i % taps / g.k[1], i % g.k[1]);
        let channel = &x[i / taps * p.h * p.w..][..p.h * p.w];
        let [sy, sx] = g.stride;
        let [py, px] = g.padding;
        row.fill(0.0);
        // Output row by output row: the columns whose input column `ox·sx + kx - px` is
        // inside the input (the rest stay zero).
        let first_ox = px.saturating_sub(kx).div_ceil(sx);
        let end_ox = (p.w + px).saturating_sub(kx).div_ceil(sx).min(p.ow);
        let mut pixel = columns.start;
        while pixel < columns.end {
            let (oy, ox) = (pixel / p.ow, pixel % p.ow);
            let row_end = (pixel - ox + p.ow).min(columns.end);
            let iy = (oy * sy + ky).wrapping_sub(py);
            let (lo, hi) = (ox.max(first_ox), (ox + row_end - pixel).min(end_ox));
            if iy < p.h && lo < hi {
                let dst = &mut row[pixel - columns.start + lo - ox..][..hi - lo];
                let src = &channel[iy * p.w..][..p.w];
                let start = lo * sx + kx - px;
                if sx == 1 {
                    dst.copy_from_slice(&src[start..start + dst.len()]);
                } else {
                    dst.iter_mut()
                        .zip(src[start..].iter().step_by(sx))
                        .for_each(|(d, s)| *d = *s);
                }
            }
            pixel = row_end;
        }
    }

    /// One channel's output plane: the bias, then each kernel tap's weight times the input
    /// row under it, output row by output row.
    fn depthwise_plane(&self, c: usize, x: &[f32], p: &Plane, out: &mut [f32]) {
        let g = &self.geometry;
        let taps = &self.weight[c * g.k[0] * g.k[1]..][..g.k[0] * g.k[1]];
        out.fill(self.bias[c]);
        let [sy, sx] = g.stride;
        let [py, px] = g.padding;
        for (oy, out_row) in out.chunks_exact_mut(p.ow).enumerate() {
            for ky in 0..g.k[0] {
                let iy = (oy * sy + ky).wrapping_sub(py);
                if iy >= p.h {
                    continue;
                }
                let in_row = &x[iy * p.w..][..p.w];
                for kx in 0..g.k[1] {
                    let tap = taps[ky * g.k[1] + kx];
                    // Output columns whose input column `ox·sx + kx - px` is inside the row.
                    let first = px.saturating_sub(kx).div_ceil(sx);
                    let end = (p.w + px).saturating_sub(kx).div_ceil(sx).min(p.ow);
                    if first >= end {
                        continue;
                    }
                    let start = first * sx + kx - px;
                    if sx == 1 {
                        let dst = &mut out_row[first..end];
                        let src = &in_row[start..start + dst.len()];
                        dst.iter_mut().zip(src).for_each(|(o, i)| *o += tap * i);
                    } else {
                        let src = in_row[start..].iter().step_by(sx);
                        out_row[first..end]
                            .iter_mut()
                            .zip(src)
                            .for_each(|(o, i)| *o += tap * i);
                    }
                }
            }
        }
    }
}

/// The rows of a conv's im2col matrix for a range of output pixels, gathered one at a time.
struct Im2colRows<'a> {
    conv: &'a HostConv,
    x: &'a [f32],
    plane: &'a Plane,
    columns: Range<usize>,
}

impl RowSource for Im2colRows<'_> {
    fn row<'a>(&'a self, i: usize, buf: &'a mut [f32]) -> &'a [f32] {
        let (x, plane, columns) = (self.x, self.plane, self.columns.clone());
        self.conv.im2col_row(x, plane, columns, i, buf);
        buf
    }
}

/// An input plane's size, and the output plane's width.
struct Plane {
    h: usize,
    w: usize,
    ow: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::int8::Code;

    /// A plain f64 convolution, straight from the definition.
    fn reference(
        g: &Geometry,
        w: &[f32],
        b: &[f32],
        x: &[f32],
        batch: usize,
        [h, wd]: [usize; 2],
    ) -> Vec<f64> {
        let [oh, ow] = g.output_size(h, wd);
        let per_group_in = if g.depthwise { 1 } else { g.input };
        let mut y = vec![0.0; batch * g.out * oh * ow];
        for n in 0..batch {
            for o in 0..g.out {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut sum = b[o] as f64;
                        for ci in 0..per_group_in {
                            let channel = if g.depthwise { o } else { ci };
                            for ky in 0..g.k[0] {
                                for kx in 0..g.k[1] {
                                    let iy =
                                        (oy * g.stride[0] + ky) as isize - g.padding[0] as isize;
                                    let ix =
                                        (ox * g.stride[1] + kx) as isize - g.padding[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xv = x[((n * g.input + channel) * h + iy as usize) * wd
                                        + ix as usize];
                                    let wv =
                                        w[((o * per_group_in + ci) * g.k[0] + ky) * g.k[1] + kx];
                                    sum += xv as f64 * wv as f64;
                                }
                            }
                        }
                        y[((n * g.out + o) * oh + oy) * ow + ox] = sum;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 37 + seed * 11) % 101) as f32 - 50.0) / 40.0)
            .collect()
    }

    fn check(g: Geometry, batch: usize, size: [usize; 2]) {
        let w = values(g.out * g.per_filter(), 1);
        let b = values(g.out, 2);
        let x = values(batch * g.input * size[0] * size[1], 3);
        let conv = HostConv::new(g, w.clone(), b.clone()).unwrap();
        let want = reference(&g, &w, &b, &x, batch, size);
        let got = conv.forward(&x, batch, size, Activation::Identity);
        assert_eq!(got.len(), want.len(), "{g:?}");
        for (i, (a, e)) in got.iter().zip(&want).enumerate() {
            assert!(
                (*a as f64 - e).abs() <= 1e-4 * (1.0 + e.abs()),
                "{g:?} at {i}: {a} vs {e}"
            );
        }
    }

    fn dense(input: usize, out: usize, k: [usize; 2], stride: [usize; 2]) -> Geometry {
        Geometry {
            input,
            out,
            k,
            stride,
            padding: [(k[0] - 1) / 2, (k[1] - 1) / 2],
            depthwise: false,
        }
    }

    /// Every shape the OCR networks use, small and large enough to split over threads (the
    /// tests run on rayon's pool), including odd sizes whose last row of columns is partial.
    #[test]
    fn convolutions_match_the_definition() {
        check(dense(3, 16, [3, 3], [2, 2]), 2, [17, 23]);
        check(dense(16, 32, [1, 1], [1, 1]), 1, [9, 13]);
        check(dense(96, 24, [3, 3], [1, 1]), 1, [40, 52]);
        // Split over threads mid-row (41 x 53 and 31 x 34 output pixels).
        check(dense(96, 24, [3, 3], [1, 1]), 1, [41, 53]);
        check(dense(16, 32, [3, 3], [2, 2]), 1, [61, 67]);
        check(dense(480, 60, [1, 3], [1, 1]), 2, [1, 37]);
        check(dense(64, 128, [1, 1], [1, 1]), 3, [24, 61]);
        for (k, stride) in [
            (3, [1, 1]),
            (3, [2, 2]),
            (5, [2, 1]),
            (5, [1, 2]),
            (5, [1, 1]),
        ] {
            let g = Geometry {
                depthwise: true,
                ..dense(48, 48, [k, k], stride)
            };
            check(g, 2, [25, 46]);
            check(g, 1, [3, 4]);
        }
    }

    /// The integer products against the definition with the 12-bit weights they hold: what is
    /// left is the activations' 12-bit rounding, at most half a step of each pixel's largest
    /// input times the filter's summed |weights| (the bound below takes the whole image's
    /// largest input).
    #[test]
    fn quantized_convolutions_match_the_definition_with_their_weights() {
        for (g, batch, size) in [
            (dense(3, 16, [3, 3], [2, 2]), 2, [17, 23]),
            (dense(64, 128, [1, 1], [1, 1]), 3, [24, 61]),
            (dense(96, 24, [3, 3], [1, 1]), 1, [40, 52]),
            (dense(480, 60, [1, 3], [1, 1]), 2, [1, 37]),
        ] {
            let (w, b) = (values(g.out * g.per_filter(), 1), values(g.out, 2));
            let x = values(batch * g.input * size[0] * size[1], 3);
            let conv = HostConv::new(g, w, b.clone()).unwrap().quantized();
            let filters = conv.quantized.as_ref().expect("a dense conv");
            let held = filters.dequantize(g.per_filter());
            let want = reference(&g, &held, &b, &x, batch, size);
            let got = conv.forward(&x, batch, size, Activation::Identity);
            let largest = x.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
            for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                let o = (i / (g.output_size(size[0], size[1]).iter().product::<usize>())) % g.out;
                let filter = &held[o * g.per_filter()..][..g.per_filter()];
                let step = largest / i16::X_MAX as f64;
                let bound = 0.5 * step * filter.iter().map(|v| v.abs() as f64).sum::<f64>();
                assert!(
                    (*a as f64 - e).abs() <= bound + 1e-4,
                    "{g:?} at {i}: {a} vs {e} (bound {bound:.2e})"
                );
            }
            assert_eq!(got.len(), want.len());
        }
    }

    /// The quantized path packs im2col a row at a time; the codes and scales must be those of
    /// the whole matrix packed at once, for any range of output pixels.
    #[test]
    fn im2col_packed_by_rows_is_the_whole_matrix_packed() {
        for (g, size, columns) in [
            (dense(3, 16, [3, 3], [2, 2]), [17, 23], 0..108),
            (dense(5, 8, [3, 3], [1, 1]), [9, 14], 20..101),
            (dense(7, 8, [1, 3], [1, 1]), [1, 37], 3..30),
        ] {
            let x = values(g.input * size[0] * size[1], 3);
            let conv =
                HostConv::new(g, values(g.out * g.per_filter(), 1), values(g.out, 2)).unwrap();
            let [_, ow] = g.output_size(size[0], size[1]);
            let plane = Plane {
                h: size[0],
                w: size[1],
                ow,
            };
            let (k, width) = (g.per_filter(), columns.len());
            let whole = conv.im2col(&x, &plane, columns.clone());
            let want = Int12Matrix::from_columns(&whole, k, width, width);
            let rows = Im2colRows {
                conv: &conv,
                x: &x,
                plane: &plane,
                columns,
            };
            let got = Int12Matrix::from_rows(&rows, k, width);
            let bits = |m: &Int12Matrix| {
                m.dequantize()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&got), bits(&want), "{g:?}");
        }
    }

    #[test]
    fn activations_follow_their_formulas() {
        let x = [-4.0f32, -1.0, 0.0, 0.5, 2.0, 5.0];
        let run = |act: Activation| {
            let mut v = x.to_vec();
            act.apply(&mut v);
            v
        };
        assert_eq!(run(Activation::Relu), [0.0, 0.0, 0.0, 0.5, 2.0, 5.0]);
        let swish = run(Activation::Swish);
        let hard = run(Activation::HardSwish {
            scale: 2.0,
            shift: -1.0,
        });
        for (i, v) in x.iter().enumerate() {
            let v = *v as f64;
            let s = v / (1.0 + (-v).exp());
            assert!((swish[i] as f64 - s).abs() < 1e-6, "swish({v})");
            let h = v * (v + 3.0).clamp(0.0, 6.0) / 6.0 * 2.0 - 1.0;
            assert!((hard[i] as f64 - h).abs() < 1e-6, "hard swish({v})");
        }
    }

    #[test]
    fn shapes_that_disagree_are_refused() {
        let g = dense(4, 2, [3, 3], [1, 1]);
        assert!(HostConv::new(g, vec![0.0; 72], vec![0.0; 2]).is_some());
        assert!(HostConv::new(g, vec![0.0; 71], vec![0.0; 2]).is_none());
        assert!(HostConv::new(g, vec![0.0; 72], vec![0.0; 3]).is_none());
        let depthwise = Geometry {
            depthwise: true,
            ..g
        };
        assert!(HostConv::new(depthwise, vec![0.0; 18], vec![0.0; 2]).is_none());
    }
}
