//! Face finding on the CPU: BlazeFace detection and FaceMesh landmarks (MediaPipe's models converted
//! to ONNX, run with tract), tracked from frame to frame and smoothed, then turned into organ
//! polygons for the mask pass.
//!
//! The models are embedded (assets/models, provenance in its NOTICE.md). Detection is the expensive
//! part and the least stable one, so it runs every few frames; in between, each face's next region is
//! derived from its own landmarks, as MediaPipe does for video.

pub mod organs;
pub mod track;
pub mod worker;

use std::sync::Arc;

use tract_onnx::prelude::*;

pub use organs::Organ;
pub use track::{FaceTrack, Tracker, TrackerConfig};
pub use worker::{Analysed, FaceWorker};

const SHORT_RANGE: &[u8] = include_bytes!("../../assets/models/face_detection_short_range.onnx");
const FULL_RANGE: &[u8] = include_bytes!("../../assets/models/face_detection_full_range.onnx");
const MESH: &[u8] = include_bytes!("../../assets/models/face_landmark.onnx");

/// FaceMesh's crop side in pixels.
const MESH_SIZE: usize = 192;
/// Landmarks per face.
pub const LANDMARKS: usize = 468;

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("face model: {0}")]
    Model(String),
}

impl From<TractError> for FaceError {
    fn from(e: TractError) -> FaceError {
        FaceError::Model(format!("{e:#}"))
    }
}

/// Which detector: short range for an anchor's own close-up camera (faces at least about a quarter
/// of the frame high), full range where faces are small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Range {
    #[default]
    Short,
    Full,
}

/// Anything a face can be found in: RGB (0..1) sampled bilinearly at a pixel position (pixel centres
/// at +0.5), out-of-frame positions clamped.
pub trait RgbSource {
    fn size(&self) -> (u32, u32);
    fn rgb(&self, x: f32, y: f32) -> [f32; 3];
}

impl RgbSource for image::RgbImage {
    fn size(&self) -> (u32, u32) {
        self.dimensions()
    }
    fn rgb(&self, x: f32, y: f32) -> [f32; 3] {
        let (w, h) = self.dimensions();
        let fx = (x - 0.5).clamp(0.0, w as f32 - 1.0);
        let fy = (y - 0.5).clamp(0.0, h as f32 - 1.0);
        let (x0, y0) = (fx.floor() as u32, fy.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let p = |x: u32, y: u32, c: usize| self.get_pixel(x, y)[c] as f32 / 255.0;
        std::array::from_fn(|c| {
            let top = p(x0, y0, c) * (1.0 - ax) + p(x1, y0, c) * ax;
            let bot = p(x0, y1, c) * (1.0 - ax) + p(x1, y1, c) * ax;
            top * (1.0 - ay) + bot * ay
        })
    }
}

/// A decoded YUV picture seen as RGB (the decoder's planes, converted per sample, nearest sample:
/// the models see the frame at a fraction of its resolution anyway).
pub struct YuvSource<'a> {
    pub pic: &'a crate::media::Picture<'a>,
}

impl RgbSource for YuvSource<'_> {
    fn size(&self) -> (u32, u32) {
        (self.pic.width, self.pic.height)
    }
    fn rgb(&self, x: f32, y: f32) -> [f32; 3] {
        use crate::media::PlaneLayout;
        let p = self.pic;
        let (xi, yi) = ((x.max(0.0) as u32).min(p.width - 1) as usize, (y.max(0.0) as u32).min(p.height - 1) as usize);
        let luma = p.planes[0].get(yi * p.strides[0] + xi).copied().unwrap_or(16);
        let (u, v) = match p.layout {
            PlaneLayout::Planar { sx, sy } => {
                let (cx, cy) = (xi / sx as usize, yi / sy as usize);
                (
                    p.planes[1].get(cy * p.strides[1] + cx).copied().unwrap_or(128),
                    p.planes[2].get(cy * p.strides[2] + cx).copied().unwrap_or(128),
                )
            }
            PlaneLayout::Nv12 => {
                let o = (yi / 2) * p.strides[1] + (xi / 2) * 2;
                (p.planes[1].get(o).copied().unwrap_or(128), p.planes[1].get(o + 1).copied().unwrap_or(128))
            }
        };
        crate::media::colour::yuv_to_rgb(p.matrix, p.full_range, [luma, u, v])
    }
}

/// A detected face in frame pixels.
#[derive(Clone, Copy, Debug)]
pub struct Detection {
    /// x0, y0, x1, y1.
    pub bbox: [f32; 4],
    pub score: f32,
    /// Right eye, left eye (the subject's), nose tip, mouth centre, right ear, left ear.
    pub keypoints: [[f32; 2]; 6],
}

/// A square, rotated region of the frame that FaceMesh looks at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roi {
    pub centre: [f32; 2],
    pub side: f32,
    /// Radians; the crop's x axis in the frame is (cos, sin).
    pub rotation: f32,
}

impl Roi {
    /// Frame position of crop coordinates (u, v) in 0..1.
    fn to_frame(&self, u: f32, v: f32) -> [f32; 2] {
        let (s, c) = self.rotation.sin_cos();
        let (dx, dy) = ((u - 0.5) * self.side, (v - 0.5) * self.side);
        [self.centre[0] + c * dx - s * dy, self.centre[1] + s * dx + c * dy]
    }

    /// MediaPipe's region for a detection: 1.5 × the box, turned so the eyes are level.
    pub fn from_detection(d: &Detection) -> Roi {
        let [x0, y0, x1, y1] = d.bbox;
        let (r, l) = (d.keypoints[0], d.keypoints[1]);
        Roi {
            centre: [(x0 + x1) / 2.0, (y0 + y1) / 2.0],
            side: (x1 - x0).max(y1 - y0) * 1.5,
            rotation: (l[1] - r[1]).atan2(l[0] - r[0]),
        }
    }

    /// The next frame's region from this frame's landmarks (eye corners 33 and 263 set the angle).
    pub fn from_landmarks(pts: &[[f32; 2]]) -> Roi {
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for p in pts {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let (r, l) = (pts[33], pts[263]);
        Roi {
            centre: [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0],
            side: (hi[0] - lo[0]).max(hi[1] - lo[1]) * 1.5,
            rotation: (l[1] - r[1]).atan2(l[0] - r[0]),
        }
    }
}

type Plan = Arc<TypedRunnableModel>;

fn load(bytes: &[u8], size: usize) -> Result<Plan, FaceError> {
    let plan = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))?
        .with_input_fact(0, f32::fact([1, size, size, 3]).into())?
        .into_optimized()?
        .into_runnable()?;
    Ok(plan)
}

fn run(plan: &Plan, size: usize, input: Vec<f32>) -> Result<Vec<Vec<f32>>, FaceError> {
    let t = Tensor::from_shape(&[1, size, size, 3], &input)?;
    let out = plan.run(tvec!(t.into()))?;
    out.iter().map(|t| Ok(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec())).collect()
}

/// The detector and the landmark model, loaded once (about 0.1–0.3 s) and shared by the trackers.
pub struct FaceModels {
    detector: Plan,
    detector_size: usize,
    anchors: Vec<[f32; 2]>,
    mesh: Plan,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

impl FaceModels {
    pub fn load(range: Range) -> Result<FaceModels, FaceError> {
        let (bytes, size) = match range {
            Range::Short => (SHORT_RANGE, 128),
            Range::Full => (FULL_RANGE, 192),
        };
        // SSD anchors: short range has 16×16 cells × 2 at stride 8 and 8×8 × 6 at stride 16; full
        // range 48×48 × 1 at stride 4. Centred in their cells, repeated per cell.
        let layers: &[(usize, usize)] = match range {
            Range::Short => &[(16, 2), (8, 6)],
            Range::Full => &[(48, 1)],
        };
        let mut anchors = Vec::new();
        for &(fm, per) in layers {
            for y in 0..fm {
                for x in 0..fm {
                    for _ in 0..per {
                        anchors.push([(x as f32 + 0.5) / fm as f32, (y as f32 + 0.5) / fm as f32]);
                    }
                }
            }
        }
        Ok(FaceModels { detector: load(bytes, size)?, detector_size: size, anchors, mesh: load(MESH, MESH_SIZE)? })
    }

    /// Faces in the whole frame, best first.
    pub fn detect(&self, src: &dyn RgbSource) -> Result<Vec<Detection>, FaceError> {
        let s = self.detector_size;
        let (w, h) = src.size();
        let side = w.max(h) as f32;
        let (ox, oy) = ((side - w as f32) / 2.0, (side - h as f32) / 2.0);
        // Letterboxed into a square, values in -1..1, padding -1.
        let mut input = vec![-1.0f32; s * s * 3];
        for j in 0..s {
            for i in 0..s {
                let x = (i as f32 + 0.5) / s as f32 * side - ox;
                let y = (j as f32 + 0.5) / s as f32 * side - oy;
                if x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32 {
                    let c = src.rgb(x, y);
                    let o = (j * s + i) * 3;
                    for k in 0..3 {
                        input[o + k] = c[k] * 2.0 - 1.0;
                    }
                }
            }
        }
        let out = run(&self.detector, s, input)?;
        let n = self.anchors.len();
        let (Some(regs), Some(scores)) = (out.iter().find(|o| o.len() == n * 16), out.iter().find(|o| o.len() == n))
        else {
            return Err(FaceError::Model(format!(
                "unexpected detector outputs {:?}",
                out.iter().map(Vec::len).collect::<Vec<_>>()
            )));
        };
        let sf = s as f32;
        let mut cands = Vec::new();
        for (a, anchor) in self.anchors.iter().enumerate() {
            let score = sigmoid(scores[a]);
            if score < 0.5 {
                continue;
            }
            let r = &regs[a * 16..a * 16 + 16];
            let (cx, cy, bw, bh) = (r[0] / sf + anchor[0], r[1] / sf + anchor[1], r[2] / sf, r[3] / sf);
            let px = |v: f32, off: f32| v * side - off;
            let keypoints =
                std::array::from_fn(|k| [px(r[4 + 2 * k] / sf + anchor[0], ox), px(r[5 + 2 * k] / sf + anchor[1], oy)]);
            cands.push(Detection {
                bbox: [px(cx - bw / 2.0, ox), px(cy - bh / 2.0, oy), px(cx + bw / 2.0, ox), px(cy + bh / 2.0, oy)],
                score,
                keypoints,
            });
        }
        Ok(weighted_nms(cands))
    }

    /// FaceMesh on a region: the 468 landmarks in frame pixels (x, y; z in pixels too), or None when
    /// the model says there is no face there.
    pub fn landmarks(&self, src: &dyn RgbSource, roi: &Roi) -> Result<Option<Vec<[f32; 3]>>, FaceError> {
        let s = MESH_SIZE;
        let (w, h) = src.size();
        let mut input = vec![0.0f32; s * s * 3];
        for j in 0..s {
            for i in 0..s {
                let [x, y] = roi.to_frame((i as f32 + 0.5) / s as f32, (j as f32 + 0.5) / s as f32);
                if x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32 {
                    let c = src.rgb(x, y);
                    input[(j * s + i) * 3..(j * s + i) * 3 + 3].copy_from_slice(&c);
                }
            }
        }
        let out = run(&self.mesh, s, input)?;
        let Some(pts) = out.iter().find(|o| o.len() == LANDMARKS * 3) else {
            return Err(FaceError::Model("unexpected landmark outputs".into()));
        };
        let presence = out.iter().find(|o| o.len() == 1).map(|o| sigmoid(o[0])).unwrap_or(1.0);
        if presence < 0.5 {
            return Ok(None);
        }
        let scale = roi.side / s as f32;
        Ok(Some(
            pts.chunks_exact(3)
                .map(|p| {
                    let [x, y] = roi.to_frame(p[0] / s as f32, p[1] / s as f32);
                    [x, y, p[2] * scale]
                })
                .collect(),
        ))
    }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// BlazeFace's weighted non-maximum suppression: each cluster (IoU > 0.3 with its best box) becomes
/// the score-weighted mean of its members.
fn weighted_nms(mut c: Vec<Detection>) -> Vec<Detection> {
    c.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(best) = c.first().copied() {
        let (members, rest): (Vec<Detection>, Vec<Detection>) =
            c.into_iter().partition(|d| iou(&d.bbox, &best.bbox) > 0.3);
        let total: f32 = members.iter().map(|d| d.score).sum();
        let mut merged = Detection { bbox: [0.0; 4], score: best.score, keypoints: [[0.0; 2]; 6] };
        for d in &members {
            let wgt = d.score / total;
            for k in 0..4 {
                merged.bbox[k] += d.bbox[k] * wgt;
            }
            for (m, p) in merged.keypoints.iter_mut().zip(&d.keypoints) {
                m[0] += p[0] * wgt;
                m[1] += p[1] * wgt;
            }
        }
        out.push(merged);
        c = rest;
    }
    out
}
