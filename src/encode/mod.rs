//! Encode stage: H.264 + AAC, one encode per rendition, packets fanned out to every output.

pub mod audio;
pub mod output;
pub mod video;

pub use audio::{AudioEncoder, Mixer};
pub use output::{Outputs, Track};
pub use video::{EncoderKind, VideoEncoder, VideoSettings};
