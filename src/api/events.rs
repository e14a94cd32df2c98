//! `/events`: every state change of the service as server-sent events, one JSON object each.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use super::invitations_wire::InviteStateWire;
use super::AppState;
use crate::compose::JobEvent;
use crate::outputs::OutputEvent;
use crate::platforms::PlatformEvent;
use crate::rooms::RoomEvent;
use crate::session::invite::InvitationStatus;
use crate::session::polls::PollEvent;

/// A state change, as sent on `/events` (and between nodes).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceEvent {
    /// A room's source (`main`, or a name such as `camera`) is being published.
    PublishAccepted {
        room_id: String,
        source: String,
        peer: String,
    },
    PublishRefused {
        key: String,
        peer: String,
        reason: String,
    },
    PublishEnded {
        room_id: String,
        source: String,
    },
    /// A room's tile shows another of its sources, in every output that shows the room.
    RoomSource {
        room_id: String,
        source: String,
    },
    /// A room shows a slate instead of its anchor, in every output that shows it (`since`: Unix
    /// seconds; `audio`: `keep` or `mute`).
    RoomPaused {
        room_id: String,
        since: i64,
        slate: String,
        audio: String,
    },
    /// A room shows its anchor again.
    RoomResumed {
        room_id: String,
        paused_s: i64,
    },
    /// A room's anchor stopped sending `hold_s` seconds ago and is not back: every output that
    /// shows the room shows its slate (since `since`, Unix seconds) until their next frame.
    RoomAway {
        room_id: String,
        since: i64,
        hold_s: u64,
    },
    SessionStarted {
        session_id: String,
    },
    SessionStopped {
        session_id: String,
        error: Option<String>,
    },
    /// An input of a session stopped delivering pictures; its tile holds the last frame.
    InputLost {
        session_id: String,
        input: usize,
    },
    InputBack {
        session_id: String,
        input: usize,
    },
    /// A pulled input of a session shows a slate (`POST /sessions/{id}/inputs/{k}/pause`) in
    /// every output of the session, or its own pictures again.
    InputPaused {
        session_id: String,
        input: usize,
        slate: String,
        audio: String,
    },
    InputResumed {
        session_id: String,
        input: usize,
    },
    /// Every input of a session shows its room's pause slate from output time `at_s` (seconds
    /// since the session started; a recording's replay leaves this out), or no longer does.
    SessionPaused {
        session_id: String,
        at_s: f64,
    },
    SessionResumed {
        session_id: String,
        at_s: f64,
    },
    /// A room's sound after its pause or resume is heard from output time `at_s` (a live mix
    /// places sound a little behind its picture; a replay cuts the sound there).
    SessionSoundEdge {
        session_id: String,
        at_s: f64,
    },
    /// An export of a session's replay: `running` (with `progress`, 0 to 1), then `done` (with
    /// the replay's `duration_s`) or `failed` (with the `error`).
    ReplayExport {
        session_id: String,
        state: String,
        progress: f64,
        duration_s: Option<f64>,
        error: Option<String>,
    },
    /// The first frame of a session showing a change of an input's room (`shows`: `slate` for a
    /// pause, `live` for a resume, `source` for another source) was composed `after_ms`
    /// milliseconds after the change was asked for.
    InputShown {
        session_id: String,
        input: usize,
        shows: String,
        after_ms: f64,
    },
    OutputConnected {
        session_id: String,
        output: String,
    },
    OutputFailed {
        session_id: String,
        output: String,
        reason: String,
    },
    /// A session has been skipping ticks for a few seconds: the machine cannot compose all its
    /// frames. Its timeline keeps the wall clock; its frame rate drops.
    SessionBehind {
        session_id: String,
        percent_skipped: u32,
    },
    /// It composes every tick again.
    SessionCaughtUp {
        session_id: String,
    },
    /// A masked session made a rendition for an unlock state its first viewer is in
    /// (`rendition_created`), retired one whose last viewer left a grace period ago
    /// (`rendition_retired`), or had no place left for a state (`rendition_cap_reached`: its
    /// viewers get a more masked rendition).
    RenditionCreated {
        session_id: String,
        rendition: String,
        masked: Vec<super::channels_wire::OrganWire>,
        sigma: f32,
    },
    RenditionRetired {
        session_id: String,
        rendition: String,
    },
    RenditionCapReached {
        session_id: String,
        rendition: String,
        masked: Vec<super::channels_wire::OrganWire>,
        sigma: f32,
    },
    /// A viewer poll opened on a session (`poll_opened`), its counts changed (`poll_counts`, at
    /// most four times a second, the last change always), or it closed (`poll_closed`, with its
    /// `winner` and why: `timeout`, `resume`, `request` or `session_stopped`).
    PollOpened {
        poll: super::polls_wire::PollView,
    },
    PollCounts {
        poll: super::polls_wire::PollView,
    },
    PollClosed {
        poll: super::polls_wire::PollView,
    },
    /// A room's key on a platform was replaced (ahead of its expiry, or on request): the pushes
    /// there move to it; `expires_at` in Unix seconds.
    PlatformKeyRegenerated {
        room_id: String,
        platform: String,
        expires_at: Option<i64>,
    },
    /// A room's key on a platform expired without a new one.
    PlatformKeyExpired {
        room_id: String,
        platform: String,
    },
    /// Our push to a platform started (`live`) or stopped (`ended`).
    PlatformStatus {
        room_id: String,
        platform: String,
        status: String,
    },
    /// A comment or gift was posted for an anchor's monitor (`anchor`: `a` or `b`; `text` as
    /// drawn).
    SessionComment {
        session_id: String,
        anchor: String,
        text: String,
    },
    /// A PK invitation was sent, accepted, declined, cancelled, expired or hung up.
    Invitation {
        invitation_id: String,
        session_id: String,
        state: InviteStateWire,
    },
}

impl From<RoomEvent> for ServiceEvent {
    fn from(e: RoomEvent) -> ServiceEvent {
        match e {
            RoomEvent::PublishAccepted { room_id, source, peer } => {
                ServiceEvent::PublishAccepted { room_id, source, peer }
            }
            RoomEvent::PublishRefused { key, peer, reason } => ServiceEvent::PublishRefused { key, peer, reason },
            RoomEvent::PublishEnded { room_id, source } => ServiceEvent::PublishEnded { room_id, source },
            RoomEvent::SourceShown { room_id, source } => ServiceEvent::RoomSource { room_id, source },
            RoomEvent::Paused { room_id, since, slate, audio } => {
                ServiceEvent::RoomPaused { room_id, since, slate, audio }
            }
            RoomEvent::Resumed { room_id, paused_s } => ServiceEvent::RoomResumed { room_id, paused_s },
            RoomEvent::Away { room_id, since, hold_s } => ServiceEvent::RoomAway { room_id, since, hold_s },
        }
    }
}

/// What a session's job reports, tagged with the session.
impl From<(&str, JobEvent)> for ServiceEvent {
    fn from((id, e): (&str, JobEvent)) -> ServiceEvent {
        let session_id = id.to_string();
        match e {
            JobEvent::Started => ServiceEvent::SessionStarted { session_id },
            JobEvent::Stopped { error } => ServiceEvent::SessionStopped { session_id, error },
            JobEvent::InputLost(input) => ServiceEvent::InputLost { session_id, input },
            JobEvent::InputBack(input) => ServiceEvent::InputBack { session_id, input },
            JobEvent::InputPaused { input, slate, audio } => {
                ServiceEvent::InputPaused { session_id, input, slate, audio }
            }
            JobEvent::InputResumed { input } => ServiceEvent::InputResumed { session_id, input },
            JobEvent::PauseEdge { paused: true, at_s } => ServiceEvent::SessionPaused { session_id, at_s },
            JobEvent::PauseEdge { paused: false, at_s } => ServiceEvent::SessionResumed { session_id, at_s },
            JobEvent::SoundEdge { at_s } => ServiceEvent::SessionSoundEdge { session_id, at_s },
            JobEvent::Shown { input, shows, after_ms } => {
                let after_ms = (after_ms * 10.0).round() / 10.0;
                ServiceEvent::InputShown { session_id, input, shows: shows.to_string(), after_ms }
            }
            JobEvent::Output(OutputEvent::Connected(output)) => ServiceEvent::OutputConnected { session_id, output },
            JobEvent::Output(OutputEvent::Failed(output, reason)) => {
                ServiceEvent::OutputFailed { session_id, output, reason }
            }
            JobEvent::FallingBehind { percent } => ServiceEvent::SessionBehind { session_id, percent_skipped: percent },
            JobEvent::CaughtUp => ServiceEvent::SessionCaughtUp { session_id },
            JobEvent::Rendition { what, rendition, masked, sigma } => {
                let masked = masked.into_iter().map(Into::into).collect();
                match what {
                    "created" => ServiceEvent::RenditionCreated { session_id, rendition, masked, sigma },
                    "retired" => ServiceEvent::RenditionRetired { session_id, rendition },
                    _ => ServiceEvent::RenditionCapReached { session_id, rendition, masked, sigma },
                }
            }
        }
    }
}

impl From<crate::service::Event> for ServiceEvent {
    fn from(e: crate::service::Event) -> ServiceEvent {
        match e {
            crate::service::Event::Room(e) => e.into(),
            crate::service::Event::Session(id, e) => (id.as_str(), e).into(),
            crate::service::Event::Invitation(st) => (&st).into(),
            crate::service::Event::Poll(e) => e.into(),
            crate::service::Event::Platform(e) => e.into(),
        }
    }
}

impl From<PlatformEvent> for ServiceEvent {
    fn from(e: PlatformEvent) -> ServiceEvent {
        match e {
            PlatformEvent::KeyRegenerated { room_id, platform, expires_at } => {
                ServiceEvent::PlatformKeyRegenerated { room_id, platform, expires_at }
            }
            PlatformEvent::KeyExpired { room_id, platform } => ServiceEvent::PlatformKeyExpired { room_id, platform },
            PlatformEvent::Status { room_id, platform, status } => {
                let status = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string));
                ServiceEvent::PlatformStatus { room_id, platform, status: status.unwrap_or_default() }
            }
        }
    }
}

impl From<PollEvent> for ServiceEvent {
    fn from(e: PollEvent) -> ServiceEvent {
        match e {
            PollEvent::Opened(p) => ServiceEvent::PollOpened { poll: p.into() },
            PollEvent::Counts(p) => ServiceEvent::PollCounts { poll: p.into() },
            PollEvent::Closed(p) => ServiceEvent::PollClosed { poll: p.into() },
        }
    }
}

impl From<&InvitationStatus> for ServiceEvent {
    fn from(st: &InvitationStatus) -> ServiceEvent {
        ServiceEvent::Invitation {
            invitation_id: st.id.clone(),
            session_id: st.session.clone(),
            state: st.state.into(),
        }
    }
}

#[utoipa::path(get, path = "/events", responses((status = 200, description = "server-sent events, one JSON ServiceEvent each")))]
pub(super) async fn events(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<super::auth::Caller>,
) -> Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>> {
    let st = s.clone();
    // An anchor's stream carries what concerns its own room, as its API calls do.
    serve(&s, move |e| caller.is_operator() || concerns(&st, e, |rooms| caller.may_touch(rooms)))
}

/// The events `keep` lets through, as server-sent events.
pub(super) fn serve(
    s: &AppState,
    keep: impl Fn(&ServiceEvent) -> bool + Send + 'static,
) -> Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>> {
    let mut rx = s.events.subscribe();
    let stream = async_stream(move |tx| async move {
        loop {
            match rx.recv().await {
                Ok(e) if keep(&e) => {
                    let ev = Event::default().json_data(&e).unwrap_or_else(|_| Event::default());
                    if tx.send(Ok(ev)).await.is_err() {
                        break;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Whether an event is about a room, a session or a poll whose rooms `touch` accepts (an event
/// naming none of them, such as a refused publish, concerns the operator only).
pub(super) fn concerns(s: &AppState, e: &ServiceEvent, touch: impl Fn(&[String]) -> bool) -> bool {
    let Ok(v) = serde_json::to_value(e) else { return false };
    let session = v["session_id"].as_str().or(v["poll"]["session_id"].as_str());
    if let Some(room) = v["room_id"].as_str() {
        return touch(&[room.to_string()]);
    }
    session
        .and_then(|id| s.sessions.rooms_of(id).or_else(|| s.invitations.rooms_of_session(id)))
        .is_some_and(|rooms| touch(&rooms))
}

/// A stream fed by a spawned task (keeps us off an extra stream-macro dependency).
fn async_stream<F, Fut>(f: F) -> impl futures_core::Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    ReceiverStream(rx)
}

struct ReceiverStream(tokio::sync::mpsc::Receiver<Result<Event, Infallible>>);

impl futures_core::Stream for ReceiverStream {
    type Item = Result<Event, Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
