//! What a finished job reports: frames, seconds, per-stage medians, failed outputs, input stalls.

use serde::{Deserialize, Serialize};

/// Median time of each stage, in milliseconds (None when the stage was not measured).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StageMedians {
    pub decode: Option<f64>,
    pub upload: Option<f64>,
    pub composite: Option<f64>,
    pub blur: Option<f64>,
    pub convert: Option<f64>,
    pub readback: Option<f64>,
    pub encode: Option<f64>,
    /// Face tracking per analysed frame (its own thread per input).
    #[serde(default)]
    pub faces: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RenderReport {
    pub device: String,
    pub encoder: String,
    pub frames: u64,
    pub content_seconds: f64,
    pub wall_seconds: f64,
    pub stages_ms: StageMedians,
    pub failed_outputs: Vec<String>,
    /// Per input, how many times it stalled (live) — each stall was logged when it began and ended.
    #[serde(default)]
    pub input_stalls: Vec<u32>,
}

pub fn median(v: &mut [f32]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2] as f64)
}

/// Per-frame times gathered by the readback callback (decode and upload are gathered by the loop).
#[derive(Default)]
pub(crate) struct Timings {
    pub composite: Vec<f32>,
    pub blur: Vec<f32>,
    pub readback: Vec<f32>,
}
