//! A recorded session's replay without its pauses. While a session records, every span in which
//! all its inputs show their rooms' pause slates is written down beside the recording, in the
//! recording's time (`recording.pauses`: one line per edge). The replay joins the session's
//! recordings (one per start: a restart adds `recording-2.ts`) with those spans cut out, as an HLS
//! VOD or an exported MP4, without re-encoding. Spans shorter than the minimum are kept.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Sessions;
use crate::compose::JobEvent;
use crate::encode::audio::LIVE_DELAY_S;
use crate::outputs::replay::{self, Piece, Written};
use crate::sys::lock;

/// Why a replay cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("session {0} has no recording (start it with \"record\": true)")]
    NotRecorded(String),
    #[error("an export of this session's replay is already running")]
    Busy,
    #[error("the replay could not be written: {0}")]
    Failed(#[from] ffmpeg_next::Error),
    #[error("the replay could not be written: {0}")]
    Io(#[from] std::io::Error),
}

/// The replays' settings and what is being built.
pub(super) struct Replays {
    min_cut_s: f64,
    /// Playlists are built one at a time (two requests must not write the same files).
    building: Mutex<()>,
    /// Sessions whose MP4 export is running.
    exporting: Mutex<HashSet<String>>,
}

impl Default for Replays {
    fn default() -> Self {
        let min_cut_s = crate::config::DEFAULT_REPLAY_MIN_CUT_S;
        Replays { min_cut_s, building: Mutex::default(), exporting: Mutex::default() }
    }
}

/// Where a recording's pause edges are written down.
fn log_of(recording: &Path) -> PathBuf {
    recording.with_extension("pauses")
}

/// Writes down a pause's edges in `recording`'s time: when the session's picture was paused or
/// resumed, and when a room's sound changed with it.
pub(super) fn log_event(recording: &Path, e: &JobEvent) {
    let line = match e {
        JobEvent::PauseEdge { paused: true, at_s } => format!("pause {at_s:.6}\n"),
        JobEvent::PauseEdge { paused: false, at_s } => format!("resume {at_s:.6}\n"),
        JobEvent::SoundEdge { at_s } => format!("sound {at_s:.6}\n"),
        _ => return,
    };
    let r = std::fs::OpenOptions::new().create(true).append(true).open(log_of(recording));
    if let Err(e) = r.and_then(|mut f| f.write_all(line.as_bytes())) {
        tracing::error!(error = %e, "a pause of a recording could not be written down; its replay keeps it");
    }
}

/// A sound edge belongs to the picture edge it follows within this (or comes just before).
const SOUND_AFTER_S: (f64, f64) = (-0.1, 1.0);

/// A log line: its kind and time.
fn edge(line: &str) -> Option<(&str, f64)> {
    let mut w = line.split_whitespace();
    Some((w.next()?, w.next()?.parse::<f64>().ok()?))
}

/// When the sound changed with the picture at `at`: the first sound edge close after it, else
/// the mix's usual delay.
fn sound_of(sounds: &[f64], at: f64) -> f64 {
    let near = |s: &&f64| **s >= at + SOUND_AFTER_S.0 && **s <= at + SOUND_AFTER_S.1;
    sounds.iter().find(near).copied().unwrap_or(at + LIVE_DELAY_S)
}

/// A recording's pause spans at least `min_s` long, for its picture and for its sound; one
/// still open runs to `end_s`.
fn cuts_of(log: &str, min_s: f64, end_s: f64) -> Vec<((f64, f64), (f64, f64))> {
    let sounds: Vec<f64> = log.lines().filter_map(edge).filter(|e| e.0 == "sound").map(|e| e.1).collect();
    let (mut cuts, mut open) = (Vec::new(), None);
    for e in log.lines().filter_map(edge) {
        match e {
            ("pause", a) => open = open.or(Some(a)),
            ("resume", b) => cuts.extend(open.take().map(|a| (a, b))),
            _ => {}
        }
    }
    cuts.extend(open.map(|a| (a, end_s.max(a))));
    cuts.retain(|(a, b)| b - a >= min_s);
    let sound = |(a, b): (f64, f64)| {
        let sa = sound_of(&sounds, a);
        let sb = if b >= end_s { end_s.max(sa) } else { sound_of(&sounds, b).max(sa) };
        ((a, b), (sa, sb))
    };
    cuts.into_iter().map(sound).collect()
}

impl Sessions {
    /// Pauses shorter than `s` seconds stay in replays.
    pub fn with_replay_min_cut(mut self, s: f64) -> Sessions {
        self.replays.min_cut_s = s.max(0.0);
        self
    }

    /// The session's recordings, in the order they were made.
    fn recordings(&self, id: &str) -> Vec<PathBuf> {
        let dir = self.hls_dir(id);
        let first = dir.join("recording.ts");
        let next = (2..).map(|n| dir.join(format!("recording-{n}.ts"))).take_while(|p| p.exists());
        std::iter::once(first).filter(|p| p.exists()).chain(next).collect()
    }

    /// The recordings and the spans the replay leaves out of each (seconds of each recording).
    pub fn replay_pieces(&self, id: &str) -> Result<Vec<Piece>, ReplayError> {
        let recordings = self.recordings(id);
        if recordings.is_empty() {
            return Err(ReplayError::NotRecorded(id.to_string()));
        }
        let piece = |path: PathBuf| {
            let log = std::fs::read_to_string(log_of(&path)).unwrap_or_default();
            let end = replay::duration(&path).unwrap_or(0.0);
            let (cuts, sound_cuts) = cuts_of(&log, self.replays.min_cut_s, end).into_iter().unzip();
            Piece { cuts, sound_cuts, path }
        };
        Ok(recordings.into_iter().map(piece).collect())
    }

    /// The replay's HLS VOD playlist (`replay/index.m3u8` in the session's directory), built
    /// again when a recording or its pauses changed since.
    pub fn replay_playlist(&self, id: &str) -> Result<PathBuf, ReplayError> {
        let _one = lock(&self.replays.building);
        let pieces = self.replay_pieces(id)?;
        let dir = self.hls_dir(id);
        let playlist = dir.join("replay").join("index.m3u8");
        let changed = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let built = changed(&playlist);
        let inputs = pieces.iter().flat_map(|p| [changed(&p.path), changed(&log_of(&p.path))]).flatten();
        if built.is_some_and(|b| inputs.into_iter().all(|t| t <= b)) {
            return Ok(playlist);
        }
        // Built aside, then put in place: a player never reads half a playlist.
        let fresh = dir.join("replay.new");
        let _ = std::fs::remove_dir_all(&fresh);
        std::fs::create_dir_all(&fresh)?;
        replay::write(&pieces, &fresh.join("index.m3u8"), |_| {})?;
        let _ = std::fs::remove_dir_all(dir.join("replay"));
        std::fs::rename(&fresh, dir.join("replay"))?;
        Ok(playlist)
    }

    /// Marks the session's export as running; false when one already is.
    pub fn begin_export(&self, id: &str) -> bool {
        lock(&self.replays.exporting).insert(id.to_string())
    }

    /// Writes the replay as `replay.mp4` in the session's directory (blocking; `progress` hears
    /// the share done). The export must have been begun ([`Sessions::begin_export`]).
    pub fn export_replay(&self, id: &str, progress: impl FnMut(f64)) -> Result<Written, ReplayError> {
        let result = (|| {
            let pieces = self.replay_pieces(id)?;
            let dir = self.hls_dir(id);
            let part = dir.join("replay.part.mp4");
            let w = replay::write(&pieces, &part, progress)?;
            std::fs::rename(&part, dir.join("replay.mp4"))?;
            Ok(w)
        })();
        lock(&self.replays.exporting).remove(id);
        result
    }

    /// Whether the session's export is running.
    pub fn exporting(&self, id: &str) -> bool {
        lock(&self.replays.exporting).contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::cuts_of;

    #[test]
    fn pauses_become_cuts_when_long_enough() {
        let log = "pause 10.0\nsound 10.1\nsound 20.2\nresume 20.0\npause 25.0\nsound 25.1\nresume 26.5\nsound 26.6\npause 40.0\n";
        let pictures = |min| cuts_of(log, min, 50.0).into_iter().map(|c| c.0).collect::<Vec<_>>();
        assert_eq!(pictures(3.0), vec![(10.0, 20.0), (40.0, 50.0)]);
        assert_eq!(pictures(1.0), vec![(10.0, 20.0), (25.0, 26.5), (40.0, 50.0)]);
        assert_eq!(cuts_of(log, 3.0, 50.0)[0].1, (10.1, 20.2), "the sound's own edges");
        assert_eq!(cuts_of("pause x\nresume 3\n", 0.0, 9.0), vec![], "an unreadable line is skipped");
    }
}
