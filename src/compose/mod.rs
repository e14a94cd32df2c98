//! Compose stage: the output clock, the input slots, the views and their overlays, and the live
//! changes of a running job, between ingest (decoded frames) and the GPU, and from the GPU's
//! finished pictures to the encoders and outputs.
//!
//! [`run`] is a job from start to end; [`Job`] is the same in steps, for callers that drive it.

mod clock;
mod config;
mod encode_thread;
mod encoder;
mod job;
mod job_inputs;
mod live;
mod masks;
pub mod overlay;
mod pool;
mod report;
pub mod slate;
pub mod slate_file;
pub mod slate_loop;
mod slot;
mod source;
mod view;

pub use config::{parse_size, Fps, RenderConfig};
pub use job::{Job, Tick};
pub use live::{
    set_test_extra_tick_ms, EventSink, JobCounters, JobEvent, LayoutChange, LiveHooks, LiveState, OutputCounter,
    RenditionWant, Stage, StageSink, Wake,
};
pub use overlay::{
    poll_geometry, Comment, Element, Overlays, PkBar, PkChange, PkError, PkSettings, PollBoard, PollGeometry,
    TextAlign, TextRenderer, TextStyle, Winner, COMMENT_LINES, COMMENT_TTL, POLL_BAR, POLL_RESULT_TTL, POLL_WINNER,
};
pub use report::{median, RenderReport, StageMedians};
pub use source::Source;
pub use view::{FaceSettings, MaskLevel, MaskStyle, ViewSpec};

/// Runs a job to completion: open, tick until done, finish.
pub fn run(cfg: &RenderConfig) -> crate::Result<RenderReport> {
    let _span = tracing::info_span!("render").entered();
    let mut job = Job::open(cfg)?;
    while job.tick()? == Tick::Continue {}
    job.finish()
}
