//! Wire types of a session's status: its state, its views, and what is paused in it.

use serde::Serialize;
use utoipa::ToSchema;

use super::pk_wire::PkView;
use crate::session::{SessionState, SessionStatus, ViewStatus};

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStateWire {
    Running,
    /// Told to stop: its outputs are being finished.
    Stopping,
    Stopped,
    Failed,
}

impl From<SessionState> for SessionStateWire {
    fn from(s: SessionState) -> SessionStateWire {
        match s {
            SessionState::Running => SessionStateWire::Running,
            SessionState::Stopping => SessionStateWire::Stopping,
            SessionState::Stopped => SessionStateWire::Stopped,
            SessionState::Failed => SessionStateWire::Failed,
        }
    }
}

/// One output of a multi-output session.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ViewStatusView {
    pub name: String,
    pub hls: String,
    pub outputs: Vec<String>,
}

/// A rendition of a masked session: what it masks, and how many viewers are in its state.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RenditionView {
    pub name: String,
    /// Organs it masks (empty: the open picture).
    pub masked: Vec<super::channels_wire::OrganWire>,
    pub sigma: f32,
    /// Viewers in its state now.
    pub viewers: usize,
    /// Made for its viewers (false: the open picture and level 0, which always run).
    pub on_demand: bool,
    /// Its playlist has a segment (until then its viewers get a more masked one).
    pub ready: bool,
    pub age_s: f64,
}

impl From<crate::session::RenditionStatus> for RenditionView {
    fn from(r: crate::session::RenditionStatus) -> RenditionView {
        RenditionView {
            name: r.name,
            masked: r.mask.as_ref().map(|m| m.organs.iter().copied().map(Into::into).collect()).unwrap_or_default(),
            sigma: r.mask.map_or(0.0, |m| m.sigma),
            viewers: r.viewers,
            on_demand: r.on_demand,
            ready: r.ready,
            age_s: (r.age_s * 10.0).round() / 10.0,
        }
    }
}

/// A session as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub state: SessionStateWire,
    /// Frames composed.
    pub frames: u64,
    /// Ticks skipped because the machine could not compose them in time (the timeline keeps the
    /// wall clock; the frame rate drops).
    pub ticks_skipped: u64,
    /// Whether the session is skipping ticks now (over the last few seconds).
    pub behind: bool,
    /// Path of the HLS playlist on this service.
    pub hls: String,
    pub outputs: Vec<String>,
    /// Recording file on the server, when the session records.
    pub recording: Option<String>,
    pub error: Option<String>,
    /// False while the session waits to be activated (pre-pull: inputs decoded, nothing sent).
    pub active: bool,
    /// A session with several outputs (a PK): each one's name, HLS path and destinations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<ViewStatusView>,
    /// The PK bar's settings, when the session shows one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pk: Option<PkView>,
    /// Milliseconds from activation to the first composed frame and to its first encoded packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation_to_first_frame_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation_to_first_packet_ms: Option<f64>,
    /// The rooms the session shows, in input order (pulled URLs are not listed).
    pub rooms: Vec<String>,
    /// The session's rooms that are paused now (their tiles show a slate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paused: Vec<super::pause_wire::PausedRoomView>,
    /// The session's pulled inputs that are paused now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paused_inputs: Vec<super::pause_wire::PausedInputView>,
    /// A masked session's renditions in use: the open picture, level 0, and those made for the
    /// unlock states viewers are in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<RenditionView>,
    /// Recent time per frame of each stage, in milliseconds (0 before the first frame).
    pub stages_ms: StageTimesView,
    /// The comments and gifts the anchors' monitors show now, oldest first.
    pub comments: Vec<CommentView>,
    /// The node that runs it (several nodes sharing a database).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// A running session's recent stage times per frame (an average over about the last second;
/// `/metrics` has their histograms).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StageTimesView {
    /// Uploading the tick's new pictures.
    pub upload: f64,
    /// The GPU's composite passes.
    pub composite: f64,
    /// Encoding one view's frame.
    pub encode: f64,
    /// How late a tick started against the wall clock.
    pub tick_lateness: f64,
}

impl From<[f64; 4]> for StageTimesView {
    fn from(ms: [f64; 4]) -> StageTimesView {
        let [upload, composite, encode, tick_lateness] = ms.map(|v| (v * 100.0).round() / 100.0);
        StageTimesView { upload, composite, encode, tick_lateness }
    }
}

/// A comment or gift on an anchor's monitor (`POST /sessions/{id}/comments`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CommentView {
    /// `a` or `b`: whose monitor shows it.
    pub anchor: String,
    /// The line as drawn (the user's name first, a gift marked).
    pub text: String,
    /// Seconds since it was posted.
    pub age_s: f64,
}

impl From<crate::compose::Comment> for CommentView {
    fn from(c: crate::compose::Comment) -> CommentView {
        CommentView { anchor: c.anchor, text: c.text, age_s: (c.at.elapsed().as_secs_f64() * 10.0).round() / 10.0 }
    }
}

impl From<ViewStatus> for ViewStatusView {
    fn from(v: ViewStatus) -> ViewStatusView {
        ViewStatusView { name: v.name, hls: v.hls, outputs: v.outputs }
    }
}

impl From<SessionStatus> for SessionView {
    fn from(s: SessionStatus) -> SessionView {
        SessionView {
            id: s.id,
            state: s.state.into(),
            frames: s.frames,
            ticks_skipped: s.ticks_skipped,
            behind: s.behind,
            hls: s.hls,
            outputs: s.outputs,
            recording: s.recording,
            error: s.error,
            active: s.active,
            views: s.views.into_iter().map(Into::into).collect(),
            pk: s.pk.map(Into::into),
            activation_to_first_frame_ms: s.activation_to_first_frame_ms,
            activation_to_first_packet_ms: s.activation_to_first_packet_ms,
            rooms: Vec::new(),
            paused: Vec::new(),
            paused_inputs: Vec::new(),
            renditions: s.renditions.into_iter().map(Into::into).collect(),
            stages_ms: s.stages_ms.into(),
            comments: s.comments.into_iter().map(Into::into).collect(),
            node: None,
        }
    }
}
