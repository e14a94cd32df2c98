//! The frame path's errors: one enum, each variant with a stable code and who is to blame, so a
//! failing stage says which stage and why, and the API answers it the same way everywhere.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    // URLs are shown redacted: a pull URL may carry a key or a token.
    #[error("cannot open input {}: {source}", crate::sys::redact_url(.url))]
    OpenInput { url: String, source: ffmpeg_next::Error },
    #[error("input {} has no video stream", crate::sys::redact_url(.url))]
    NoVideo { url: String },
    #[error("decoder for {}: {source}", crate::sys::redact_url(.url))]
    Decoder { url: String, source: ffmpeg_next::Error },
    #[error("no usable GPU adapter (tried {tried}); install mesa-vulkan-drivers for lavapipe")]
    NoAdapter { tried: String },
    #[error("GPU device request failed: {0}")]
    Device(String),
    #[error("GPU readback failed: {0}")]
    Readback(String),
    #[error("encoder {name} is not available: {why}")]
    EncoderUnavailable { name: String, why: String },
    #[error("encode: {0}")]
    Encode(#[from] ffmpeg_next::Error),
    #[error("cannot open output {}: {why}", crate::sys::redact_url(.url))]
    Output { url: String, why: String },
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
    /// The service's database failed (the cause is logged; a client only learns it is ours).
    #[error("database: {0}")]
    Database(String),
    #[error("image {path}: {why}")]
    Image { path: String, why: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("pipeline stage {stage} stopped unexpectedly")]
    StageGone { stage: &'static str },
    /// A service-wide cap is reached (`code` names it, e.g. `too_many_sessions`).
    #[error("{why}")]
    Limit { code: &'static str, why: String },
    /// The machine is already behind real time: another session would make every one worse.
    #[error("{why}")]
    Overloaded { why: String },
}

/// Who an error is down to, which decides how a client is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// What the caller asked for cannot be done (a 4xx).
    Caller,
    /// A resource of this machine is missing or busy; trying again later may work (a 503).
    Unavailable,
    /// Something broke here (a 5xx).
    Server,
    /// A service-wide cap is reached; the caller may try again once something ends (a 429).
    Limit,
}

impl Error {
    /// The stable, machine-readable code, and who is to blame: the one table of the frame path's
    /// error codes.
    pub fn code(&self) -> (&'static str, Blame) {
        use Blame::*;
        match self {
            Error::OpenInput { .. } => ("input_unavailable", Caller),
            Error::NoVideo { .. } => ("input_no_video", Caller),
            Error::Decoder { .. } => ("input_undecodable", Caller),
            Error::Invalid { .. } => ("invalid_parameter", Caller),
            Error::Image { .. } => ("image_unusable", Caller),
            Error::NoAdapter { .. } => ("gpu_unavailable", Unavailable),
            Error::EncoderUnavailable { .. } => ("encoder_unavailable", Unavailable),
            Error::Device(_) | Error::Readback(_) => ("gpu_failed", Server),
            Error::Encode(_) => ("encoder_failed", Server),
            Error::Output { .. } => ("output_failed", Server),
            Error::Io(_) => ("io_failed", Server),
            Error::Database(_) => ("database", Server),
            Error::StageGone { .. } => ("stage_stopped", Server),
            Error::Overloaded { .. } => ("machine_behind", Unavailable),
            Error::Limit { code, .. } => (code, Limit),
        }
    }
}

impl Error {
    /// What a client is told: the error itself, except for an input that would not open, which is
    /// described by the rule, not by the OS's words (they tell a file that exists from one that
    /// does not).
    pub fn client_message(&self) -> String {
        match self {
            Error::OpenInput { .. } => "an input could not be opened: unreachable, refused, or not a stream".into(),
            Error::NoVideo { .. } => "an input has no video stream".into(),
            Error::Decoder { .. } => "an input's video cannot be decoded".into(),
            e => e.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub fn invalid(what: &'static str, why: impl Into<String>) -> Error {
    Error::Invalid { what, why: why.into() }
}

/// An error with its causes, outermost first ("a: b: c"), for the log.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
