//! costream: a GPU compositor for live co-streams and PK battles.
//!
//! The frame path is laid out as modules in pipeline order: [`ingest`] (open, demux, decode into
//! rings) → [`gpu`] (upload, composite, blur, colour convert, readback) → [`encode`] (H.264/AAC,
//! muxers). [`render`] wires them together for one job; [`bench`] measures it against FFmpeg.

pub mod api;
pub mod compose;
pub mod encode;
pub mod error;
pub mod face;
pub mod gpu;
pub mod ingest;
pub mod limits;
pub mod media;
pub mod outputs;
pub mod policy;
pub mod session;
pub mod store;
pub mod sys;
pub mod testsrc;

pub use error::{Error, Result};
