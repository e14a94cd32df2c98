//! costream: a GPU compositor for live co-streams and PK battles.
//!
//! The frame path is laid out as modules in pipeline order: [`ingest`] (open, demux, decode into
//! rings) → [`compose`] (a job: the output clock, slots, views, overlays) → [`gpu`] (upload,
//! composite, blur, colour convert, readback) → [`encode`] and [`outputs`] (H.264/AAC, muxers).
//! On top: [`rooms`] (what is live in each room), [`session`] (live jobs and PK invitations that
//! write themselves down), [`audience`] (our viewers, counted from their fetches), [`service`] (the parts wired together) and [`api`] (HTTP routes and
//! wire types); [`media`], [`face`], [`store`] and [`config`] beside them.

pub mod api;
pub mod audience;
pub mod cluster;
pub mod compose;
pub mod config;
pub mod encode;
pub mod error;
pub mod face;
pub mod gpu;
pub mod ingest;
pub mod limits;
pub mod media;
pub mod outputs;
pub mod platforms;
pub mod policy;
pub mod rooms;
pub mod service;
pub mod session;
pub mod store;
pub mod sys;
pub mod testsrc;

pub use error::{Error, Result};
