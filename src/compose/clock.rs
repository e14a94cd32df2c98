//! The output clock: tick n is at n/fps on every input's own timeline. Live, the wall clock drives
//! the ticks; offline, the inputs do (each tick waits for the frames it shows).

use std::time::{Duration, Instant};

use super::live::Wake;

pub(crate) struct Clock {
    /// Wall time of tick 0 (live: moved on while nothing has arrived or the job is pending).
    start: Instant,
    frame_s: f64,
    /// Ticks composed so far.
    pub n: u64,
}

impl Clock {
    pub fn new(fps: f64) -> Clock {
        Clock { start: Instant::now(), frame_s: 1.0 / fps, n: 0 }
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

    /// Live: waits until the next tick is due; a late tick is rendered at once. Returns how late
    /// the tick starts (ms), or None when a change woke the loop early (the change is picked up
    /// before this tick is drawn).
    pub fn wait_due(&self, wake: Option<&Wake>) -> Option<f64> {
        let due = self.start + Duration::from_secs_f64(self.now());
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            sleep(wake, wait);
        }
        let now = Instant::now();
        (now >= due).then(|| now.duration_since(due).as_secs_f64() * 1e3)
    }
}

fn sleep(wake: Option<&Wake>, d: Duration) {
    match wake {
        Some(w) => w.wait(d),
        None => std::thread::sleep(d),
    }
}
