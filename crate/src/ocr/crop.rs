//! Pixels in and out of the OCR networks: the detector's resized input, each text box cut out and
//! straightened, and the recognizer's fixed-height lines. Resampling follows OpenCV's
//! conventions (pixel centers at half-integers), which PaddleOCR was trained with.

use super::boxes::Point;

/// An 8-bit image, channels interleaved (`channels` = 3 here), row-major.
#[derive(Debug, Clone)]
pub struct Pixels {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Pixels {
    pub fn from_rgb(image: &image::RgbImage) -> Self {
        Pixels {
            width: image.width() as usize,
            height: image.height() as usize,
            data: image.as_raw().clone(),
        }
    }

    fn at(&self, x: usize, y: usize, c: usize) -> f32 {
        self.data[(y * self.width + x) * 3 + c] as f32
    }

    /// Bilinear resize (`cv2.resize`, `INTER_LINEAR`).
    pub fn resize(&self, width: usize, height: usize) -> Pixels {
        let (sx, sy) = (
            self.width as f32 / width as f32,
            self.height as f32 / height as f32,
        );
        let taps = |o: usize, scale: f32, n: usize| {
            let s = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            let i = (s.floor() as usize).min(n - 1);
            let j = (i + 1).min(n - 1);
            (i, j, s - i as f32)
        };
        let cols: Vec<_> = (0..width).map(|x| taps(x, sx, self.width)).collect();
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            let (y0, y1, fy) = taps(y, sy, self.height);
            for &(x0, x1, fx) in &cols {
                for c in 0..3 {
                    let top = self.at(x0, y0, c) * (1.0 - fx) + self.at(x1, y0, c) * fx;
                    let bottom = self.at(x0, y1, c) * (1.0 - fx) + self.at(x1, y1, c) * fx;
                    data.push((top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8);
                }
            }
        }
        Pixels {
            width,
            height,
            data,
        }
    }

    /// The quadrilateral `corners` (clockwise from the top left) mapped onto a `width` x
    /// `height` image by a perspective transform, sampled bicubically with the border repeated
    /// (`cv2.warpPerspective`, `INTER_CUBIC`, `BORDER_REPLICATE`).
    pub fn warp(&self, corners: &[Point; 4], width: usize, height: usize) -> Pixels {
        let (w, h) = (width as f32, height as f32);
        let to_source = homography(&[[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]], corners);
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                let [sx, sy] = apply(&to_source, [x as f32, y as f32]);
                for c in 0..3 {
                    data.push(self.bicubic(sx, sy, c));
                }
            }
        }
        Pixels {
            width,
            height,
            data,
        }
    }

    fn bicubic(&self, x: f32, y: f32, c: usize) -> u8 {
        // OpenCV's cubic kernel (a = -0.75).
        fn weights(t: f32) -> [f32; 4] {
            const A: f32 = -0.75;
            let w0 = ((A * (t + 1.0) - 5.0 * A) * (t + 1.0) + 8.0 * A) * (t + 1.0) - 4.0 * A;
            let w1 = ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
            let w2 = ((A + 2.0) * (1.0 - t) - (A + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
            [w0, w1, w2, 1.0 - w0 - w1 - w2]
        }
        let (x0, y0) = (x.floor(), y.floor());
        let (wx, wy) = (weights(x - x0), weights(y - y0));
        let clamp = |v: i64, n: usize| v.clamp(0, n as i64 - 1) as usize;
        let mut sum = 0.0;
        for (j, wy) in wy.iter().enumerate() {
            let sy = clamp(y0 as i64 - 1 + j as i64, self.height);
            for (i, wx) in wx.iter().enumerate() {
                let sx = clamp(x0 as i64 - 1 + i as i64, self.width);
                sum += wx * wy * self.at(sx, sy, c);
            }
        }
        sum.round().clamp(0.0, 255.0) as u8
    }

    /// Rotated a quarter turn counter-clockwise (`np.rot90`): a tall crop read as a line.
    pub fn rotate_ccw(&self) -> Pixels {
        let (w, h) = (self.width, self.height);
        let mut data = Vec::with_capacity(self.data.len());
        for y in 0..w {
            for x in 0..h {
                let (sx, sy) = (w - 1 - y, x);
                data.extend_from_slice(&self.data[(sy * w + sx) * 3..(sy * w + sx) * 3 + 3]);
            }
        }
        Pixels {
            width: h,
            height: w,
            data,
        }
    }

    /// Normalized planar BGR values `(v / 255 - mean) / std` per channel, in B, G, R order:
    /// PaddleOCR's networks were trained on OpenCV's BGR images.
    pub fn bgr_planes(&self, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
        let n = self.width * self.height;
        let mut out = vec![0.0; 3 * n];
        for (i, px) in self.data.chunks_exact(3).enumerate() {
            for plane in 0..3 {
                let v = px[2 - plane] as f32 / 255.0;
                out[plane * n + i] = (v - mean[plane]) / std[plane];
            }
        }
        out
    }
}

type Homography = [f32; 9];

/// The perspective transform that maps each of `from` onto the matching one of `to`.
fn homography(from: &[Point; 4], to: &[Point; 4]) -> Homography {
    // Eight equations in h0..h7 (h8 = 1), solved by Gaussian elimination in f64.
    let mut m = [[0.0f64; 9]; 8];
    for k in 0..4 {
        let ([x, y], [u, v]) = (from[k].map(f64::from), to[k].map(f64::from));
        m[2 * k] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        m[2 * k + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for col in 0..8 {
        let pivot = (col..8)
            .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
            .expect("rows left");
        m.swap(col, pivot);
        let p = m[col][col];
        if p.abs() < 1e-12 {
            // Degenerate corners (a zero-area box): map everything to the first corner.
            return [0.0, 0.0, to[0][0], 0.0, 0.0, to[0][1], 0.0, 0.0, 1.0];
        }
        let pivot_row = m[col];
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / p;
                for (x, &y) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * y;
                }
            }
        }
    }
    let mut h = [1.0f32; 9];
    for (i, row) in m.iter().enumerate() {
        h[i] = (row[8] / row[i]) as f32;
    }
    h
}

fn apply(h: &Homography, [x, y]: Point) -> Point {
    let d = h[6] * x + h[7] * y + h[8];
    [
        (h[0] * x + h[1] * y + h[2]) / d,
        (h[3] * x + h[4] * y + h[5]) / d,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Pixels {
        let data = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 10) as u8, (y * 10) as u8, 7]
            })
            .collect();
        Pixels {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn an_axis_aligned_warp_is_a_crop() {
        let img = gradient(20, 10);
        let crop = img.warp(&[[3.0, 2.0], [13.0, 2.0], [13.0, 7.0], [3.0, 7.0]], 10, 5);
        for y in 0..5 {
            for x in 0..10 {
                let i = (y * 10 + x) * 3;
                assert_eq!(
                    &crop.data[i..i + 3],
                    &[((x + 3) * 10) as u8, ((y + 2) * 10) as u8, 7]
                );
            }
        }
    }

    #[test]
    fn resizing_to_the_same_size_changes_nothing_and_halving_averages() {
        let img = gradient(8, 4);
        assert_eq!(img.resize(8, 4).data, img.data);
        let half = img.resize(4, 2);
        // Output pixel 0 samples at source 0.5: the mean of columns 0 and 1, rows 0 and 1.
        assert_eq!(&half.data[0..3], &[5, 5, 7]);
    }

    #[test]
    fn quarter_turn() {
        let img = gradient(3, 2);
        let r = img.rotate_ccw();
        assert_eq!((r.width, r.height), (2, 3));
        // The top-right pixel comes to the top left.
        assert_eq!(&r.data[0..3], &img.data[6..9]);
    }
}
