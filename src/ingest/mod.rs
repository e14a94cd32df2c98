//! Ingest stage: open inputs (files, rtmp://, HLS, anything FFmpeg reads) and decode them on their own
//! threads into bounded rings that the GPU thread reads.

pub mod decode;
pub mod rtmp;

pub use decode::{open, open_reader, open_reader_into, Feed, Input, InputInfo, InputOptions, InputState};
