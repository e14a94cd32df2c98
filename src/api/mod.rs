//! HTTP API (axum, JSON) of `costream serve`, with its OpenAPI document at `/openapi.json`.
//!
//! Every error is JSON with a stable machine-readable `code` and a human `message`; malformed JSON,
//! unknown ids and invalid parameters are 4xx, never a panic. State changes (publishers accepted,
//! refused, ended) go out on `/events` as server-sent events.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::{OpenApi, ToSchema};

mod auth;
mod behaviour;
mod error;
mod metrics;
mod pk;
mod resume;
pub mod tokens;
mod unlock;

pub use error::{ApiError, ApiResult, ErrorBody, ErrorDetail};

use crate::compose::{self, Fps};
use crate::media::geometry::{Fit, Layout};
use crate::session::invite::{InvitationStatus, Invitations, InviteState};
use crate::session::{SessionInput, SessionSpec, SessionState, SessionStatus, Sessions};
use crate::store::{self, Destination, Room, Store, StreamKey};

/// A state change, as sent on `/events`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceEvent {
    PublishAccepted {
        room_id: String,
        peer: String,
    },
    PublishRefused {
        key: String,
        peer: String,
        reason: String,
    },
    PublishEnded {
        room_id: String,
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
    /// A PK invitation was sent, accepted, declined, cancelled, expired or hung up.
    Invitation {
        invitation_id: String,
        session_id: String,
        state: InviteState,
    },
}

/// Live state of a room's ingest, kept in memory.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct LiveInfo {
    pub peer: String,
    /// Unix seconds.
    pub since: i64,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub live: Arc<Mutex<HashMap<String, LiveInfo>>>,
    pub events: broadcast::Sender<ServiceEvent>,
    pub key_ttl_s: i64,
    pub sessions: Arc<Sessions>,
    pub invitations: Arc<Invitations>,
    /// Shared secret of the payment provider's signed callbacks (None: payments are off).
    pub payment_secret: Option<String>,
    /// Shared secret of the platform: it signs behaviour reports and may sign viewer tokens.
    pub platform_secret: Option<String>,
    /// Rate limits of the viewer page's behaviour reports, and platform signatures seen.
    pub behaviour: Arc<behaviour::BehaviourGuard>,
    /// Key of the signed segment URLs of per-viewer playlists (random per process) and their life.
    pub url_key: Arc<Vec<u8>>,
    pub segment_url_ttl_s: u64,
    /// Per-viewer playlists are requested by every viewer every segment: what they need is cached.
    pub viewer_cache: Arc<unlock::ViewerCache>,
    /// Which input and output URLs requests may name.
    pub url_policy: crate::policy::UrlPolicy,
    /// Origins whose web pages may call the API (CORS); media is open to any origin.
    pub cors_origins: Vec<String>,
    /// True while the sessions of before a restart are being resumed (`/health` says so).
    pub resuming: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// The state of the service; `events` is the one stream every part reports on (ingest,
    /// sessions, invitations), so the sender comes from the caller that wired the others to it.
    pub fn new(
        store: Arc<Store>,
        key_ttl_s: i64,
        sessions: Arc<Sessions>,
        events: broadcast::Sender<ServiceEvent>,
        caps: crate::limits::Caps,
    ) -> AppState {
        let (tx, db) = (events.clone(), store.clone());
        let invitations = Invitations::new(
            sessions.clone(),
            Some(Arc::new(move |st: &InvitationStatus| {
                resume::invitation_moved(&db, st);
                let _ = tx.send(ServiceEvent::Invitation {
                    invitation_id: st.id.clone(),
                    session_id: st.session.clone(),
                    state: st.state,
                });
            })),
            caps.max_invitations,
        );
        AppState {
            store,
            live: Arc::default(),
            events,
            key_ttl_s,
            sessions,
            invitations,
            payment_secret: None,
            platform_secret: None,
            behaviour: Arc::default(),
            url_key: Arc::new((0..32).map(|_| rand::random::<u8>()).collect()),
            segment_url_ttl_s: 120,
            viewer_cache: Arc::default(),
            url_policy: Default::default(),
            cors_origins: Vec::new(),
            resuming: Arc::default(),
        }
    }

    /// The keys a viewer token may be signed with: this service's, and the platform's.
    pub fn viewer_token_keys(&self) -> Vec<&[u8]> {
        std::iter::once(self.url_key.as_slice()).chain(self.platform_secret.as_deref().map(str::as_bytes)).collect()
    }

    pub fn emit(&self, e: ServiceEvent) {
        // Nobody listening is fine.
        let _ = self.events.send(e);
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    pub name: String,
    /// "costream" (default) or a third-party platform's name.
    #[serde(default)]
    pub platform: Option<String>,
    /// Stream key lifetime in seconds (default 24 h).
    #[serde(default)]
    pub key_ttl_s: Option<i64>,
}

/// A room with its current stream key and status.
#[derive(Serialize, ToSchema)]
pub struct RoomView {
    #[serde(flatten)]
    #[schema(inline)]
    pub room: Room,
    /// `live`, `not_started` or `key_expired`.
    pub status: &'static str,
    /// Where the anchor publishes, relative to this service's RTMP address.
    pub publish_path: Option<String>,
    pub live: Option<LiveInfo>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDestination {
    /// rtmp:// or rtmps:// push URL of a platform, including its key.
    pub url: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RegenerateKey {
    #[serde(default)]
    pub key_ttl_s: Option<i64>,
}

/// Runs blocking work (the database, a session's start) on tokio's blocking pool, never on the
/// threads that serve requests.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?
}

/// A database call off the request threads.
pub(crate) async fn db<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&Store) -> store::StoreResult<T> + Send + 'static,
) -> ApiResult<T> {
    let store = s.store.clone();
    blocking(move || Ok(f(&store)?)).await
}

fn view(s: &AppState, room: Room) -> RoomView {
    let live = s.live.lock().ok().and_then(|l| l.get(&room.id).cloned());
    let status = if live.is_some() {
        "live"
    } else if room.key.as_ref().is_none_or(|k| k.expires_at <= store::now_s()) {
        "key_expired"
    } else {
        "not_started"
    };
    let publish_path = room.key.as_ref().map(|k| format!("/live/{}", k.key));
    RoomView { room, status, publish_path, live }
}

fn ttl(v: Option<i64>, default: i64) -> ApiResult<i64> {
    match v {
        None => Ok(default),
        Some(t) if (1..=30 * 24 * 3600).contains(&t) => Ok(t),
        Some(t) => Err(ApiError::invalid(format!("key_ttl_s {t} must be between 1 and 2592000"))),
    }
}

#[utoipa::path(get, path = "/health", responses((status = 200, description = "The service is up"), (status = 503, description = "Still resuming what ran before a restart")))]
async fn health(State(s): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    if s.resuming.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "resuming" })));
    }
    (StatusCode::OK, Json(serde_json::json!({ "status": "ok" })))
}

#[utoipa::path(post, path = "/rooms", request_body = CreateRoom,
    responses((status = 201, body = RoomView), (status = 400, body = ErrorBody)))]
async fn create_room(
    State(s): State<AppState>,
    body: Result<Json<CreateRoom>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RoomView>)> {
    let Json(b) = body?;
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name must be 1 to 200 characters"));
    }
    let platform = b.platform.as_deref().unwrap_or("costream").trim().to_string();
    if platform.is_empty() || platform.len() > 64 {
        return Err(ApiError::invalid("platform must be 1 to 64 characters"));
    }
    let (name, ttl_s) = (name.to_string(), ttl(b.key_ttl_s, s.key_ttl_s)?);
    let room = db(&s, move |st| st.create_room(&name, &platform, ttl_s)).await?;
    Ok((StatusCode::CREATED, Json(view(&s, room))))
}

#[utoipa::path(get, path = "/rooms", responses((status = 200, body = [RoomView])))]
async fn list_rooms(
    State(s): State<AppState>,
    Extension(caller): Extension<auth::Caller>,
) -> ApiResult<Json<Vec<RoomView>>> {
    let rooms = db(&s, |st| st.rooms()).await?;
    Ok(Json(rooms.into_iter().filter(|r| caller.may_touch(std::slice::from_ref(&r.id))).map(|r| view(&s, r)).collect()))
}

#[utoipa::path(get, path = "/rooms/{id}", params(("id" = String, Path)),
    responses((status = 200, body = RoomView), (status = 404, body = ErrorBody)))]
async fn get_room(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<RoomView>> {
    let room = db(&s, move |st| st.room(&id)).await?;
    Ok(Json(view(&s, room)))
}

#[utoipa::path(delete, path = "/rooms/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_room(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    db(&s, move |st| st.delete_room(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/rooms/{id}/key", params(("id" = String, Path)), request_body(content = RegenerateKey, description = "optional"),
    responses((status = 200, body = StreamKey), (status = 404, body = ErrorBody)))]
async fn regenerate_key(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<StreamKey>> {
    // The body is optional: an empty POST regenerates with the default lifetime.
    let b: RegenerateKey = if body.iter().all(u8::is_ascii_whitespace) {
        RegenerateKey::default()
    } else {
        serde_json::from_slice(&body)?
    };
    let ttl_s = ttl(b.key_ttl_s, s.key_ttl_s)?;
    Ok(Json(db(&s, move |st| st.regenerate_key(&id, ttl_s)).await?))
}

#[utoipa::path(get, path = "/rooms/{id}/destinations", params(("id" = String, Path)),
    responses((status = 200, body = [Destination]), (status = 404, body = ErrorBody)))]
async fn list_destinations(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Vec<Destination>>> {
    Ok(Json(db(&s, move |st| st.destinations(&id)).await?))
}

#[utoipa::path(post, path = "/rooms/{id}/destinations", params(("id" = String, Path)), request_body = CreateDestination,
    responses((status = 201, body = Destination), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_destination(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<CreateDestination>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Destination>)> {
    let Json(b) = body?;
    let url = b.url.trim();
    s.url_policy.check_output(url).map_err(|e| ApiError::refused(e))?;
    let url = url.to_string();
    Ok((StatusCode::CREATED, Json(db(&s, move |st| st.add_destination(&id, &url)).await?)))
}

#[utoipa::path(delete, path = "/rooms/{id}/destinations/{dst}", params(("id" = String, Path), ("dst" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_destination(
    State(s): State<AppState>,
    Path((id, dst)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    db(&s, move |st| st.delete_destination(&id, &dst)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/events", responses((status = 200, description = "server-sent events, one JSON ServiceEvent each")))]
async fn events(State(s): State<AppState>) -> Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>> {
    let mut rx = s.events.subscribe();
    let stream = async_stream(move |tx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let ev = Event::default().json_data(&e).unwrap_or_else(|_| Event::default());
                    if tx.send(Ok(ev)).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
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

/// One input of a session: a room of this service (its RTMP publish) or any URL FFmpeg reads.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInputSpec {
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub inputs: Vec<SessionInputSpec>,
    /// side-by-side (default), pip, grid or vstack.
    #[serde(default)]
    pub layout: Option<String>,
    /// fill (default) or fit; one value or comma-separated per input.
    #[serde(default)]
    pub fit: Option<String>,
    /// WIDTHxHEIGHT, default 1280x720.
    #[serde(default)]
    pub size: Option<String>,
    /// Frame rate, default 30.
    #[serde(default)]
    pub fps: Option<String>,
    /// rtmp:// destinations the one encode is pushed to, besides costream's own HLS and the
    /// destinations stored with the session's rooms.
    #[serde(default)]
    pub outputs: Vec<String>,
    #[serde(default)]
    pub bitrate_kbps: Option<u32>,
    /// Also record to a file on the server (see the session's `recording`).
    #[serde(default)]
    pub record: bool,
    /// Per-viewer face masking: renditions per unlock level of the channel, served only through
    /// `/sessions/{id}/viewers/{token}/index.m3u8`.
    #[serde(default)]
    pub masking: Option<MaskingRequest>,
}

#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskingRequest {
    /// The channel whose unlock rules and viewers apply (see `/channels/{channel}`).
    pub channel: String,
    #[serde(default)]
    pub tracker: Option<crate::face::TrackerConfig>,
    /// Viewers at the top level get the unmasked picture (default true).
    #[serde(default)]
    pub open_allowed: Option<bool>,
}

fn session_inputs(s: &AppState, specs: Vec<SessionInputSpec>) -> ApiResult<Vec<SessionInput>> {
    if specs.is_empty() || specs.len() > crate::gpu::MAX_TILES {
        return Err(ApiError::invalid(format!("a session has 1 to {} inputs", crate::gpu::MAX_TILES)));
    }
    let mut inputs = Vec::new();
    for i in specs {
        inputs.push(match (i.room, i.url) {
            (Some(room), None) => {
                s.store.room(&room)?;
                SessionInput::Room(room)
            }
            (None, Some(url)) => {
                s.url_policy.check_input(&url).map_err(|e| ApiError::refused(e))?;
                SessionInput::Url(url)
            }
            _ => return Err(ApiError::invalid("each input names exactly one of room or url")),
        });
    }
    Ok(inputs)
}

pub(crate) fn session_spec(s: &AppState, b: CreateSession) -> ApiResult<SessionSpec> {
    let inputs = session_inputs(s, b.inputs)?;
    let bad = |e: crate::Error| ApiError::invalid(e.to_string());
    let layout: Layout = b.layout.as_deref().unwrap_or("side-by-side").parse().map_err(bad)?;
    let fits = b
        .fit
        .as_deref()
        .unwrap_or("fill")
        .split(',')
        .map(|f| f.trim().parse::<Fit>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    if !(fits.len() == 1 || fits.len() == inputs.len()) {
        return Err(ApiError::invalid("fit: one value, or one per input"));
    }
    let size = compose::parse_size(b.size.as_deref().unwrap_or("1280x720")).map_err(bad)?;
    if size.0 % 4 != 0 || size.1 % 2 != 0 {
        return Err(ApiError::invalid("size: width must be a multiple of 4 and height even"));
    }
    let fps: Fps = b.fps.as_deref().unwrap_or("30").parse().map_err(bad)?;
    pk::check_outputs(s, &b.outputs)?;
    let bitrate_kbps = b.bitrate_kbps.unwrap_or(2500);
    if !(100..=50_000).contains(&bitrate_kbps) {
        return Err(ApiError::invalid("bitrate_kbps must be 100 to 50000"));
    }
    // The rooms' own destinations (their third-party platforms) get the same encode.
    let mut outputs = b.outputs;
    for i in &inputs {
        if let SessionInput::Room(r) = i {
            for d in s.store.destinations(r)? {
                if !outputs.contains(&d.url) {
                    outputs.push(d.url);
                }
            }
        }
    }
    let masking = match b.masking {
        Some(m) => {
            let rules = unlock::rules(s, &m.channel)?;
            Some(crate::session::Masking {
                channel: m.channel,
                rules,
                tracker: m.tracker.unwrap_or_default(),
                open_allowed: m.open_allowed.unwrap_or(true),
            })
        }
        None => None,
    };
    Ok(SessionSpec {
        inputs,
        layout,
        fits,
        size,
        fps,
        outputs,
        bitrate_kbps,
        record: b.record,
        views: vec![],
        pending: false,
        pk: None,
        audio_of: vec![],
        masking,
    })
}

#[utoipa::path(post, path = "/sessions", request_body = CreateSession,
    responses((status = 201, body = SessionStatus), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_session(
    State(s): State<AppState>,
    Extension(caller): Extension<auth::Caller>,
    body: Result<Json<CreateSession>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<SessionStatus>)> {
    let Json(b) = body?;
    // An anchor composes its own room only.
    if !caller.is_operator()
        && !b
            .inputs
            .iter()
            .all(|i| i.url.is_none() && i.room.as_ref().is_some_and(|r| caller.may_touch(std::slice::from_ref(r))))
    {
        return Err(ApiError::forbidden("an anchor token's sessions take only its own room"));
    }
    let st = blocking(move || {
        let st = s.sessions.start(session_spec(&s, b.clone())?)?;
        resume::remember_session(&s, &st.id, &b);
        Ok(st)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(st)))
}

#[utoipa::path(get, path = "/sessions", responses((status = 200, body = [SessionStatus])))]
async fn list_sessions(
    State(s): State<AppState>,
    Extension(caller): Extension<auth::Caller>,
) -> Json<Vec<SessionStatus>> {
    Json(
        s.sessions
            .list()
            .into_iter()
            .filter(|st| caller.may_touch(&s.sessions.rooms_of(&st.id).unwrap_or_default()))
            .collect(),
    )
}

#[utoipa::path(get, path = "/sessions/{id}", params(("id" = String, Path)),
    responses((status = 200, body = SessionStatus), (status = 404, body = ErrorBody)))]
async fn get_session(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<SessionStatus>> {
    s.sessions.status(&id).map(Json).ok_or_else(|| ApiError::not_found(format!("no session {id}")))
}

/// A change to a running session.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSession {
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default)]
    pub fit: Option<String>,
    /// A new input list: kept inputs go on without a gap, new ones join, missing ones leave.
    #[serde(default)]
    pub inputs: Option<Vec<SessionInputSpec>>,
}

#[utoipa::path(patch, path = "/sessions/{id}", params(("id" = String, Path)), request_body = ChangeSession,
    responses((status = 200, body = SessionStatus), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn change_session(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<ChangeSession>, JsonRejection>,
) -> ApiResult<Json<SessionStatus>> {
    let Json(b) = body?;
    let bad = |e: crate::Error| ApiError::invalid(e.to_string());
    let layout = b.layout.as_deref().map(str::parse::<Layout>).transpose().map_err(bad)?;
    let fits = b
        .fit
        .as_deref()
        .map(|f| f.split(',').map(|x| x.trim().parse::<Fit>()).collect::<Result<Vec<_>, _>>())
        .transpose()
        .map_err(bad)?;
    let inputs = b.inputs.clone().map(|i| session_inputs(&s, i)).transpose()?;
    s.sessions.change(&id, layout, fits, inputs)?;
    let (st, i) = (s.clone(), id.clone());
    blocking(move || Ok(resume::remember_change(&st, &i, b))).await?;
    s.sessions.status(&id).map(Json).ok_or_else(|| ApiError::not_found(format!("no session {id}")))
}

#[utoipa::path(delete, path = "/sessions/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn stop_session(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let sessions = s.sessions.clone();
    let i = id.clone();
    // Returns at once; the session finishes its outputs in the background.
    let st = s.clone();
    let found = tokio::task::spawn_blocking(move || {
        resume::forget(&st, &i);
        sessions.stop_in_background(&i)
    })
    .await
    .unwrap_or(false);
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no session {id}")))
    }
}

#[utoipa::path(get, path = "/sessions/{id}/hls/{file}", params(("id" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "HLS playlist or segment"), (status = 404, body = ErrorBody)))]
async fn hls_file(State(s): State<AppState>, Path((id, file)): Path<(String, String)>) -> Response {
    serve_hls(&s, &id, None, &file).await
}

#[utoipa::path(get, path = "/sessions/{id}/views/{view}/hls/{file}", params(("id" = String, Path), ("view" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "HLS playlist or segment of one output of a PK session"), (status = 404, body = ErrorBody)))]
async fn view_hls_file(State(s): State<AppState>, Path((id, view, file)): Path<(String, String, String)>) -> Response {
    serve_hls(&s, &id, Some(&view), &file).await
}

async fn serve_hls(s: &AppState, id: &str, view: Option<&str>, file: &str) -> Response {
    let safe = |v: &str| {
        !v.is_empty()
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            && !v.starts_with('.')
    };
    if !safe(id) || !safe(file) || !view.is_none_or(safe) || s.sessions.status(id).is_none() {
        return ApiError::not_found("no such HLS file").into_response();
    }
    if view.is_some() && s.sessions.masking(id).is_some() {
        // Masked renditions only through signed per-viewer playlists.
        return ApiError::forbidden("renditions of a masked session are served through per-viewer playlists")
            .into_response();
    }

    let kind = if file.ends_with(".m3u8") {
        "application/vnd.apple.mpegurl"
    } else if file.ends_with(".ts") {
        "video/mp2t"
    } else {
        return ApiError::not_found("no such HLS file").into_response();
    };
    let dir = match view {
        Some(v) => s.sessions.hls_dir(id).join("views").join(v),
        None => s.sessions.hls_dir(id),
    };
    match tokio::fs::read(dir.join(file)).await {
        Ok(bytes) => {
            ([(axum::http::header::CONTENT_TYPE, kind), (axum::http::header::CACHE_CONTROL, "no-cache")], bytes)
                .into_response()
        }
        Err(_) => ApiError::not_found("no such HLS file").into_response(),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "costream", description = "GPU compositor service for live co-streams and PK battles"),
    paths(
        health,
        create_room,
        list_rooms,
        get_room,
        delete_room,
        regenerate_key,
        list_destinations,
        add_destination,
        delete_destination,
        events,
        create_session,
        list_sessions,
        get_session,
        change_session,
        stop_session,
        hls_file,
        view_hls_file,
        metrics::metrics,
        pk::create_invitation,
        pk::list_invitations,
        pk::get_invitation,
        pk::accept_invitation,
        pk::decline_invitation,
        pk::cancel_invitation,
        pk::hang_up,
        pk::update_pk,
        pk::post_comment,
        unlock::put_channel,
        unlock::get_channel,
        unlock::issue_viewer_token,
        behaviour::viewer_event,
        unlock::get_viewer,
        unlock::payment_callback,
        unlock::viewer_playlist,
        unlock::signed_segment,
        tokens::list_tokens,
        tokens::create_token,
        tokens::revoke_token
    ),
    components(schemas(
        CreateRoom,
        RoomView,
        Room,
        StreamKey,
        Destination,
        CreateDestination,
        RegenerateKey,
        ErrorBody,
        ErrorDetail,
        LiveInfo,
        ServiceEvent,
        CreateSession,
        MaskingRequest,
        crate::face::TrackerConfig,
        crate::face::Range,
        SessionInputSpec,
        SessionStatus,
        SessionState,
        ChangeSession,
        crate::session::ViewStatus,
        pk::AnchorSpec,
        pk::CreateInvitation,
        pk::PostComment,
        InvitationStatus,
        InviteState,
        crate::compose::PkSettings,
        crate::compose::Winner,
        crate::compose::TextAlign,
        crate::session::unlock::UnlockRules,
        crate::session::unlock::Behaviour,
        crate::face::Organ,
        unlock::ViewerStatus,
        unlock::NewViewer,
        unlock::PaymentCallback,
        unlock::PaymentResult,
        tokens::CreateToken,
        tokens::NewToken,
        tokens::TokenView
    ))
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// The service's routes: the API (CORS only for the configured origins) and the media a player
/// fetches (HLS and signed segments, CORS for any origin), all behind the token check.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics::metrics))
        .route("/tokens", get(tokens::list_tokens).post(tokens::create_token))
        .route("/tokens/{id}", delete(tokens::revoke_token))
        .route("/rooms", post(create_room).get(list_rooms))
        .route("/rooms/{id}", get(get_room).delete(delete_room))
        .route("/rooms/{id}/key", post(regenerate_key))
        .route("/rooms/{id}/destinations", get(list_destinations).post(add_destination))
        .route("/rooms/{id}/destinations/{dst}", delete(delete_destination))
        .route("/events", get(events))
        .route("/sessions", post(create_session).get(list_sessions))
        .route("/sessions/{id}", get(get_session).delete(stop_session).patch(change_session))
        .route("/sessions/{id}/pk", axum::routing::patch(pk::update_pk))
        .route("/sessions/{id}/comments", post(pk::post_comment))
        .route("/invitations", post(pk::create_invitation).get(pk::list_invitations))
        .route("/invitations/{id}", get(pk::get_invitation).delete(pk::cancel_invitation))
        .route("/invitations/{id}/accept", post(pk::accept_invitation))
        .route("/invitations/{id}/decline", post(pk::decline_invitation))
        .route("/invitations/{id}/hangup", post(pk::hang_up))
        .route("/channels/{channel}", get(unlock::get_channel).put(unlock::put_channel))
        .route("/channels/{channel}/viewers", post(unlock::issue_viewer_token))
        .route("/channels/{channel}/viewers/{token}", get(unlock::get_viewer))
        .route("/channels/{channel}/viewers/{token}/events", post(behaviour::viewer_event))
        .route("/payments/callback", post(unlock::payment_callback))
        .layer(api_cors(&state.cors_origins));
    let media = Router::new()
        .route("/sessions/{id}/hls/{file}", get(hls_file))
        .route("/sessions/{id}/views/{view}/hls/{file}", get(view_hls_file))
        .route("/sessions/{id}/viewers/{token}/index.m3u8", get(unlock::viewer_playlist))
        .route("/sessions/{id}/r/{rendition}/{file}", get(unlock::signed_segment))
        .layer(tower_http::cors::CorsLayer::permissive());
    Router::new()
        .merge(api)
        .merge(media)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        // A body that trickles in (or never comes) is answered 408 at this deadline; the headers
        // have theirs in the server loop.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
        .with_state(state)
}

/// How long a request's body may take to arrive.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// CORS for the API: only the configured origins may call it from a browser (none by default).
fn api_cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    let list: Vec<axum::http::HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::list(list))
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::PATCH,
            axum::http::Method::PUT,
            axum::http::Method::DELETE,
        ])
        .allow_headers([axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE])
}
pub mod demo;
pub mod serve;
