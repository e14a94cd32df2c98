//! The output clock: tick n is at n/fps on every input's own timeline. Live, the wall clock drives
//! the ticks and is never left behind: a tick that comes more than a frame late skips the ticks it
//! missed, so the next frame carries the wall time (frame rate degrades, the timeline does not).
//! Offline, the inputs drive it (each tick waits for the frames it shows).

use std::time::{Duration, Instant};

use super::live::Wake;

pub(crate) struct Clock {
    /// Wall time of tick 0 (live: moved on while nothing has arrived or the job is pending).
    start: Instant,
    frame_s: f64,
    /// Index of the next tick (ticks composed plus ticks skipped).
    pub n: u64,
    /// Ticks composed so far.
    pub composed: u64,
    /// Live ticks skipped because the loop was late.
    pub skipped: u64,
}

/// When a live tick starts against the wall clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Due {
    /// How late the tick starts (ms), after any skip.
    pub late_ms: f64,
    /// Ticks skipped to get here.
    pub skipped: u64,
}

impl Clock {
    pub fn new(fps: f64) -> Clock {
        Clock { start: Instant::now(), frame_s: 1.0 / fps, n: 0, composed: 0, skipped: 0 }
    }

    /// Media time of the next tick, in seconds.
    pub fn now(&self) -> f64 {
        self.n as f64 * self.frame_s
    }

    /// Seconds of wall time since tick 0.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Live, nothing has arrived yet: the output starts with the first picture, so the clock starts
    /// later too (its timestamps stay 0-based and in step with the audio).
    pub fn delay_start(&mut self) {
        self.start += Duration::from_secs_f64(self.frame_s);
    }

    /// The job is pending (pre-pull): the clock starts on activation.
    pub fn restart(&mut self) {
        self.start = Instant::now();
    }

    /// Sleeps one frame interval, or less when woken by a change.
    pub fn idle(&self, wake: Option<&Wake>) {
        sleep(wake, Duration::from_secs_f64(self.frame_s));
    }

    /// Live: waits until the next tick is due. A tick more than a frame late moves on to the tick
    /// that is due now (the ones in between are skipped). Returns None when a change woke the loop
    /// early (the change is picked up before this tick is drawn).
    pub fn wait_due(&mut self, wake: Option<&Wake>) -> Option<Due> {
        let due = self.start + Duration::from_secs_f64(self.now());
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            sleep(wake, wait);
        }
        let now = Instant::now();
        if now < due {
            return None;
        }
        let behind = (now.duration_since(self.start).as_secs_f64() / self.frame_s).floor() as u64;
        let skipped = behind.saturating_sub(self.n);
        self.n += skipped;
        self.skipped += skipped;
        let due = self.start + Duration::from_secs_f64(self.now());
        Some(Due { late_ms: now.saturating_duration_since(due).as_secs_f64() * 1e3, skipped })
    }

    /// A tick was composed: the next one is due a frame later.
    pub fn advance(&mut self) {
        self.n += 1;
        self.composed += 1;
    }
}

/// Whether a live job is behind: judged over windows of a few seconds of timeline, so one slow
/// tick is not news but a machine that keeps skipping is.
pub(crate) struct Lag {
    window: u64,
    start: u64,
    skipped: u64,
    behind: bool,
}

/// Skipping more than this share of a window's ticks makes a job behind; it is caught up again
/// once a window skips less than a tenth of that.
const BEHIND_PERCENT: u64 = 5;
const WINDOW_S: f64 = 5.0;

impl Lag {
    pub fn new(fps: f64) -> Lag {
        Lag { window: (fps * WINDOW_S).ceil().max(1.0) as u64, start: 0, skipped: 0, behind: false }
    }

    /// Notes a tick at index `n` that skipped `skipped` ticks. At the end of a window, returns the
    /// new state when it changed: Some(Some(percent)) behind, Some(None) caught up.
    pub fn note(&mut self, n: u64, skipped: u64) -> Option<Option<u32>> {
        self.skipped += skipped;
        if n < self.start + self.window {
            return None;
        }
        let percent = self.skipped * 100 / (n - self.start).max(1);
        let pct10 = self.skipped * 1000 / (n - self.start).max(1);
        (self.start, self.skipped) = (n, 0);
        if !self.behind && percent >= BEHIND_PERCENT {
            self.behind = true;
            return Some(Some(percent as u32));
        }
        if self.behind && pct10 < BEHIND_PERCENT {
            self.behind = false;
            return Some(None);
        }
        None
    }
}

fn sleep(wake: Option<&Wake>, d: Duration) {
    match wake {
        Some(w) => w.wait(d),
        None => std::thread::sleep(d),
    }
}

/// Which frames are keyframes: every `gop` composed frames, and any frame asked for (a pause's
/// edge), after which the count starts again — as the encoders count, so the frame a rendition
/// starts at is a keyframe in every view.
pub(crate) struct KeyGrid {
    gop: u64,
    since: Option<u64>,
}

impl KeyGrid {
    pub fn new(gop: u32) -> KeyGrid {
        KeyGrid { gop: gop.max(1) as u64, since: None }
    }

    /// Whether the next composed frame is a keyframe (`forced`: it was asked to be).
    pub fn next(&mut self, forced: bool) -> bool {
        let key = forced || self.since.is_none_or(|s| s >= self.gop);
        self.since = Some(if key { 1 } else { self.since.unwrap_or(0) + 1 });
        key
    }
}

/// The number of the next segment a live HLS playlist's muxer starts: one past the last it lists
/// (FFmpeg's `append_list` goes on from there), 0 before the first.
fn next_segment(playlist: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(playlist).unwrap_or_default();
    let last = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim().rsplit_once('_')?.1.strip_suffix(".ts")?.parse::<u64>().ok())
        .max();
    last.map_or(0, |n| n + 1)
}

/// The number of the first view's first segment: 0, or one past the last its playlist lists (a
/// resumed session's FFmpeg goes on from there). Every later keyframe starts the next one, which
/// is how renditions started later are numbered like it, whatever its encoder's lag.
pub(crate) fn first_segment(playlist: Option<&str>) -> u64 {
    playlist.map_or(0, |p| next_segment(std::path::Path::new(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_segment_is_one_past_the_last_listed() {
        let d = std::env::temp_dir().join(format!("costream-segments-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("index.m3u8");
        let first = || first_segment(Some(p.to_str().unwrap()));
        assert_eq!(first(), 0);
        std::fs::write(&p, "").unwrap();
        assert_eq!(first(), 0, "an output just opened");
        std::fs::write(
            &p,
            "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.0,\nindex_00007.ts\n#EXTINF:2.0,\nindex_00008.ts\n",
        )
        .unwrap();
        assert_eq!(first(), 9);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn keyframes_every_gop_and_again_after_a_forced_one() {
        let mut g = KeyGrid::new(3);
        let keys: Vec<bool> = [false, false, false, false, true, false, false, false].map(|f| g.next(f)).to_vec();
        assert_eq!(keys, [true, false, false, true, true, false, false, true]);
    }

    #[test]
    fn a_late_tick_skips_to_the_wall_clock() {
        let mut c = Clock::new(100.0);
        c.start -= Duration::from_millis(55);
        let d = c.wait_due(None).unwrap();
        assert_eq!((d.skipped, c.n), (5, 5), "ticks 0..4 were due 50 ms ago and are skipped");
        assert!(d.late_ms < 10.0, "tick 5 starts within its frame: {d:?}");
        c.advance();
        assert_eq!((c.n, c.composed, c.skipped), (6, 1, 5));
        let d = c.wait_due(None).unwrap();
        assert_eq!(d.skipped, 0, "an on-time tick skips nothing");
        assert!((c.now() - 0.06).abs() < 1e-9);
    }

    #[test]
    fn behind_only_after_a_window_of_skips_and_caught_up_after_a_clean_one() {
        let mut l = Lag::new(10.0);
        assert_eq!(l.note(1, 1), None, "one skip is not a verdict");
        let mut state = None;
        for n in (3..=60).step_by(2) {
            state = state.or(l.note(n, 1).filter(Option::is_some));
        }
        assert_eq!(state, Some(Some(50)), "every other tick skipped");
        let mut back = None;
        for n in 61..=200 {
            back = back.or(l.note(n, 0));
        }
        assert_eq!(back, Some(None));
    }
}
