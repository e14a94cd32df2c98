//! Faces followed through a video: detection every few frames, landmarks every frame from the
//! previous frame's landmarks, One-Euro smoothing so masks do not jitter, and a hold time so a
//! brief miss keeps the last mask (fail closed).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Detection, FaceError, FaceModels, Range, RgbSource, Roi};

/// How faces are followed; all of it can be set per session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// `short` for an anchor's close-up camera, `full` where faces are small.
    pub range: Range,
    /// Run the detector every this many frames (and whenever a face was lost); in between, each face
    /// follows its own landmarks.
    pub detect_every: u32,
    /// How long a lost face keeps its last mask, in seconds.
    pub hold_s: f64,
    pub max_faces: usize,
    /// One-Euro filter: cutoff at rest (Hz) and how fast it opens with speed (per pixel/s).
    pub min_cutoff: f32,
    pub beta: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig { range: Range::Short, detect_every: 5, hold_s: 0.5, max_faces: 2, min_cutoff: 1.0, beta: 0.02 }
    }
}

/// A face at one frame.
#[derive(Clone, Debug)]
pub struct FaceTrack {
    pub id: u64,
    /// The 468 landmarks (x, y in frame pixels), smoothed.
    pub landmarks: Vec<[f32; 2]>,
    /// Not found in this frame: these are the last landmarks, kept for the hold time.
    pub held: bool,
}

/// One-Euro filter of one value (Casiez et al. 2012): little smoothing when it moves fast, much when
/// it is still, so masks neither lag nor jitter.
#[derive(Clone, Copy, Debug, Default)]
struct OneEuro {
    x: Option<f32>,
    dx: f32,
    t: f64,
}

impl OneEuro {
    fn alpha(cutoff: f32, dt: f32) -> f32 {
        let tau = 1.0 / (2.0 * std::f32::consts::PI * cutoff);
        1.0 / (1.0 + tau / dt)
    }

    fn filter(&mut self, v: f32, t: f64, min_cutoff: f32, beta: f32) -> f32 {
        let Some(prev) = self.x else {
            self.x = Some(v);
            self.t = t;
            return v;
        };
        let dt = ((t - self.t) as f32).max(1e-3);
        self.t = t;
        let a_d = Self::alpha(1.0, dt);
        self.dx = a_d * (v - prev) / dt + (1.0 - a_d) * self.dx;
        let a = Self::alpha(min_cutoff + beta * self.dx.abs(), dt);
        let x = a * v + (1.0 - a) * prev;
        self.x = Some(x);
        x
    }
}

struct Track {
    id: u64,
    roi: Roi,
    filters: Vec<[OneEuro; 2]>,
    landmarks: Vec<[f32; 2]>,
    last_seen: f64,
    seen: bool,
}

fn bbox(pts: &[[f32; 2]]) -> [f32; 4] {
    pts.iter().fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, p| {
        [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
    })
}

/// Follows the faces of one video input.
pub struct Tracker {
    cfg: TrackerConfig,
    models: Arc<FaceModels>,
    tracks: Vec<Track>,
    frame: u64,
    next_id: u64,
    detect_next: bool,
}

impl Tracker {
    pub fn new(models: Arc<FaceModels>, cfg: TrackerConfig) -> Tracker {
        Tracker { cfg, models, tracks: Vec::new(), frame: 0, next_id: 1, detect_next: true }
    }

    /// The faces in a frame taken at `t` seconds.
    pub fn update(&mut self, src: &dyn RgbSource, t: f64) -> Result<Vec<FaceTrack>, FaceError> {
        let every = self.cfg.detect_every.max(1) as u64;
        if self.detect_next || self.frame % every == 0 {
            let dets: Vec<Detection> = self.models.detect(src)?.into_iter().take(self.cfg.max_faces.max(1)).collect();
            for d in &dets {
                let roi = Roi::from_detection(d);
                // A detection of a face already followed re-centres it; any other starts a track.
                let known = self.tracks.iter().position(|tr| super::iou(&bbox(&tr.landmarks), &d.bbox) > 0.3);
                match known {
                    Some(i) => self.tracks[i].roi = roi,
                    None if self.tracks.len() < self.cfg.max_faces.max(1) => {
                        self.tracks.push(Track {
                            id: self.next_id,
                            roi,
                            filters: Vec::new(),
                            landmarks: Vec::new(),
                            last_seen: t,
                            seen: false,
                        });
                        self.next_id += 1;
                    }
                    None => {}
                }
            }
            self.detect_next = false;
        }
        self.frame += 1;
        for tr in &mut self.tracks {
            match self.models.landmarks(src, &tr.roi)? {
                Some(raw) => {
                    let raw2: Vec<[f32; 2]> = raw.iter().map(|p| [p[0], p[1]]).collect();
                    tr.roi = Roi::from_landmarks(&raw2);
                    tr.filters.resize(raw2.len(), [OneEuro::default(); 2]);
                    let (mc, beta) = (self.cfg.min_cutoff, self.cfg.beta);
                    tr.landmarks = raw2
                        .iter()
                        .zip(tr.filters.iter_mut())
                        .map(|(p, f)| [f[0].filter(p[0], t, mc, beta), f[1].filter(p[1], t, mc, beta)])
                        .collect();
                    tr.last_seen = t;
                    tr.seen = true;
                }
                None => {
                    tr.seen = false;
                    // Look for it properly on the next frame.
                    self.detect_next = true;
                }
            }
        }
        let hold = self.cfg.hold_s;
        self.tracks.retain(|tr| !tr.landmarks.is_empty() && (tr.seen || t - tr.last_seen <= hold));
        // Two tracks that converged on one face: keep the older.
        let mut i = 0;
        while i < self.tracks.len() {
            let dup =
                (0..i).any(|j| super::iou(&bbox(&self.tracks[j].landmarks), &bbox(&self.tracks[i].landmarks)) > 0.5);
            if dup {
                self.tracks.remove(i);
            } else {
                i += 1;
            }
        }
        Ok(self
            .tracks
            .iter()
            .map(|tr| FaceTrack { id: tr.id, landmarks: tr.landmarks.clone(), held: !tr.seen })
            .collect())
    }
}
