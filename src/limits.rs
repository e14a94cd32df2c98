//! Every size and count a request can set, bounded in one place. A request past a bound is
//! refused with a 400 (or a 429 for the service-wide caps) and changes nothing.

/// Output frame size of a session (4K UHD).
pub const MAX_SIZE: (u32, u32) = (3840, 2160);
/// Output frame rate of a session.
pub const MAX_FPS: f64 = 60.0;
/// Push destinations of one session (besides its own HLS).
pub const MAX_OUTPUTS: usize = 8;
/// Characters of a URL.
pub const MAX_URL_LEN: usize = 2048;
/// Text size of an overlay, pixels.
pub const MAX_TEXT_SIZE: f32 = 256.0;
/// A PK round's countdown, seconds.
pub const MAX_COUNTDOWN_S: u32 = 24 * 3600;
/// Animation of the PK bar, milliseconds.
pub const MAX_ANIMATE_MS: u32 = 60_000;

/// One behaviour report: a gift's value, seconds watched, reading progress (percent).
pub const MAX_GIFT_VALUE: f64 = 100_000.0;
pub const MAX_WATCH_SECONDS: f64 = 3600.0;
pub const MAX_READING_PERCENT: f64 = 100.0;

/// Service-wide caps, set by `costream serve` flags; past them a request gets 429.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub max_sessions: usize,
    pub max_invitations: usize,
    pub max_publishers: usize,
    pub max_rooms: usize,
    /// Pending invitations that keep a composing session ready (each holds an encoder and the
    /// GPU's buffers); the others start theirs at the accept.
    pub warm_invitations: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps { max_sessions: 200, max_invitations: 100, max_publishers: 64, max_rooms: 10_000, warm_invitations: 2 }
    }
}

/// Whether a rectangle (x, y, w, h) lies inside a `w`×`h` frame.
pub fn inside_frame(r: [f32; 4], size: (u32, u32)) -> bool {
    r.iter().all(|v| v.is_finite())
        && r[0] >= 0.0
        && r[1] >= 0.0
        && r[2] > 0.0
        && r[3] > 0.0
        && r[0] + r[2] <= size.0 as f32
        && r[1] + r[3] <= size.1 as f32
}
