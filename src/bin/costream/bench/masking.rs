//! The masking measurements: face tracking per frame, the mask pass per extra level, and the
//! service's CPU with 10 / 1 000 / 10 000 viewers over 6 unlock states, and 10 000 in one.

use std::path::Path;

use serde_json::{json, Value};

use super::{progress, BenchArgs};
use costream::error::Result;

/// Masking figures: face tracking ms/frame, mask pass ms per extra state, (viewers, CPU-s per
/// content-s, failed requests) over 6 unlock states, and 10 000 viewers in one state.
#[derive(Default)]
pub struct MaskingFigures {
    face_ms: Option<f64>,
    mask_ms: Option<f64>,
    viewers: Vec<(usize, f64, u64)>,
    one_state: Option<(usize, f64, u64)>,
}

pub fn measure(args: &BenchArgs, dir: &Path, j: &mut serde_json::Map<String, Value>) -> MaskingFigures {
    let mut m = MaskingFigures::default();
    progress("measuring face tracking per frame");
    m.face_ms = super::viewers::face_track_ms(&dir.join("inputs"))
        .map_err(|e| tracing::warn!(error = %e, "face tracking not measured"))
        .ok();
    progress("measuring the mask pass per extra unlock state");
    m.mask_ms = super::viewers::mask_pass_ms_per_state(dir)
        .map_err(|e| tracing::warn!(error = %e, "mask pass not measured"))
        .ok();
    if !args.no_latency {
        progress("measuring the service with 10, 1000 and 10000 viewers fetching their playlists");
        let window = if args.quick { 4.0 } else { 10.0 };
        use super::viewers::{viewers_cpu, Spread};
        m.viewers = viewers_cpu(dir, &[10, 1000, 10_000], window, Spread::SixStates)
            .map_err(|e| tracing::warn!(error = %e, "viewers not measured"))
            .unwrap_or_default();
        progress("measuring the service with 10000 viewers in one unlock state");
        m.one_state = viewers_cpu(&dir.join("one-state"), &[10_000], window, Spread::OneState)
            .map_err(|e| tracing::warn!(error = %e, "viewers in one state not measured"))
            .ok()
            .and_then(|v| v.first().copied());
    }
    j.insert("face_track_ms_per_frame".into(), m.face_ms.map(|v| json!(v)).unwrap_or(Value::Null));
    j.insert("mask_pass_ms_per_state".into(), m.mask_ms.map(|v| json!(v)).unwrap_or(Value::Null));
    j.insert("viewers_cpu_s_10000_one_state".into(), m.one_state.map(|v| json!(v.1)).unwrap_or(Value::Null));
    for n in [10usize, 1000, 10_000] {
        let v = m.viewers.iter().find(|x| x.0 == n);
        j.insert(format!("viewers_cpu_s_{n}"), v.map(|x| json!(x.1)).unwrap_or(Value::Null));
    }
    m
}

impl MaskingFigures {
    /// The masking figures as text (`md`: as BENCHMARKS.md lines).
    pub fn text(&self, md: bool) -> String {
        let m = self;
        let mut t = String::new();
        let f = |v: Option<f64>| v.map(|x| format!("{x:.1} ms")).unwrap_or_else(|| "n/a".into());
        if md {
            t.push_str(&format!("\nFace tracking (BlazeFace short range every 5th frame + FaceMesh every frame, 1280×720 moving portrait, one thread): **{} per frame** (`face_track_ms_per_frame`). Mask pass (blur of eyes, mouth and nose in a 1280×720 rendition copied from the composed frame), per extra unlock state in use: **{}** (`mask_pass_ms_per_state`).\n", f(m.face_ms), f(m.mask_ms)));
            if !m.viewers.is_empty() {
                t.push_str("\nOne masked 640×360 session, viewers over 6 unlock states (levels 0-3, and a paid eye unlock at levels 0 and 1: 5 masked renditions, level 0's and 4 made on demand, + the open picture), each fetching their personalised playlist once per 2 s segment; the service process's CPU-seconds per content-second:\n\n| viewers | CPU-s per content-s | failed requests |\n|---:|---:|---:|\n");
                for (n, c, failed) in &m.viewers {
                    t.push_str(&format!("| {n} | {c:.2} | {failed} |\n"));
                }
                if let (Some(a), Some(b)) =
                    (m.viewers.iter().find(|x| x.0 == 10), m.viewers.iter().find(|x| x.0 == 10_000))
                {
                    t.push_str(&format!("\n10 000 viewers cost **{:.2}×** the 10-viewer figure (`viewers_cpu_s_10`, `viewers_cpu_s_1000`, `viewers_cpu_s_10000`; target < 1.5×).\n", b.1 / a.1));
                }
                if let (Some(one), Some(six)) = (m.one_state, m.viewers.iter().find(|x| x.0 == 10_000)) {
                    t.push_str(&format!("\nThe same 10 000 viewers all in one state (level 0: one masked rendition): **{:.2}** CPU-s per content-s (`viewers_cpu_s_10000_one_state`); 6 states cost **{:.2}×** that: the cost follows the states in use, not the viewers.\n", one.1, six.1 / one.1));
                }
            }
        } else {
            t.push_str(&format!(
                "face tracking {} per frame; mask pass {} per extra unlock state\n",
                f(m.face_ms),
                f(m.mask_ms)
            ));
            for (n, c, failed) in &m.viewers {
                t.push_str(&format!("{n} viewers over 6 states: {c:.2} CPU-s per content-s ({failed} failed)\n"));
            }
            if let Some((n, c, failed)) = m.one_state {
                t.push_str(&format!("{n} viewers in one state: {c:.2} CPU-s per content-s ({failed} failed)\n"));
            }
        }
        t
    }
}

/// `costream bench --masking-only`.
pub fn run_only(args: &BenchArgs) -> Result<()> {
    let mut j = serde_json::Map::new();
    let m = measure(args, &args.dir, &mut j);
    super::run_part(args, "Masking measurements", j, |md| m.text(md))
}
