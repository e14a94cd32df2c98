//! One error type for the frame path, so a failing stage says which stage and why.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot open input {url}: {source}")]
    OpenInput { url: String, source: ffmpeg_next::Error },
    #[error("input {url} has no video stream")]
    NoVideo { url: String },
    #[error("decoder for {url}: {source}")]
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
    #[error("cannot open output {url}: {why}")]
    Output { url: String, why: String },
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error("image {path}: {why}")]
    Image { path: String, why: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("pipeline stage {stage} stopped unexpectedly")]
    StageGone { stage: &'static str },
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> Error {
    Error::Invalid { what, why: why.into() }
}
