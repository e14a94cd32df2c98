//! Types every stage shares and no stage owns: frames and audio chunks, colour matrices, rings and
//! geometry. Imports nothing from the stages.

pub mod colour;
pub mod frame;
pub mod geometry;
pub mod ring;

pub use colour::{Colour, Matrix};
pub use frame::{AudioChunk, Picture, PlaneLayout, VideoFrame, AUDIO_CHANNELS, AUDIO_RATE};
pub use geometry::{Fit, FrameSize, Layout, Placement, Rect, SourceGeom};
pub use ring::{Overflow, Ring};
