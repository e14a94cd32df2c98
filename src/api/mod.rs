//! HTTP API (axum, JSON) of `costream serve`: routes and wire types only, one module per resource
//! (`rooms`, `sessions`, `invitations`, channels and viewers in `unlock`/`behaviour`, `tokens`,
//! `events`), each with its wire types beside it (`*_wire.rs`) converting once into the core's
//! types. The OpenAPI document is at `/openapi.json`.
//!
//! Every error is JSON with a stable machine-readable `code` and a human `message`; malformed JSON,
//! unknown ids and invalid parameters are 4xx, never a panic.

use std::sync::Arc;

use axum::routing::{delete, get, post};
use axum::Router;
use tokio::sync::broadcast;

mod audience;
mod auth;
mod behaviour;
mod channels_wire;
mod conn;
mod console;
mod cookie;
mod deadline;
mod doc;
mod error;
mod events;
mod forward;
mod health;
mod hls;
mod invitations;
mod invitations_wire;
mod legacy;
mod metrics;
mod moderation;
mod nginx;
mod nodes;
mod pause;
mod pause_wire;
mod pk_wire;
mod platforms;
mod platforms_wire;
mod playlists;
mod polls;
mod polls_wire;
mod replay;
mod rooms;
mod rooms_wire;
mod session_view;
mod sessions;
mod sessions_wire;
mod signed;
mod slates;
mod slates_wire;
pub mod tokens;
mod unlock;
mod watch;
mod web;
mod workers;

pub mod serve;

pub use doc::ApiDoc;
pub use error::{ApiError, ApiResult, ErrorBody, ErrorDetail};
pub use events::ServiceEvent;

use crate::session::invite::Invitations;
use crate::session::Sessions;
use crate::store::{self, Store};

/// The API's state: one allocation shared by every request (a handler's `State` is a reference
/// count, not a copy of each field).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

pub struct AppParts {
    pub store: Arc<Store>,
    /// What is live in each room (publishers, feeds).
    pub rooms: Arc<crate::rooms::Rooms>,
    pub events: broadcast::Sender<ServiceEvent>,
    /// Where this node's events go to the other nodes (None: a node alone).
    relay: Option<Arc<crate::cluster::events::Relay>>,
    pub key_ttl_s: i64,
    /// Rooms the service holds at most.
    pub max_rooms: usize,
    pub sessions: Arc<Sessions>,
    pub invitations: Arc<Invitations>,
    pub polls: Arc<crate::session::polls::Polls>,
    pub audience: Arc<crate::audience::Audience>,
    /// This node's place among several (None: a node alone).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Shared secret of the payment provider's signed callbacks (None: payments are off).
    pub payment_secret: Option<String>,
    /// The platform's gift payment page (`{channel}`, `{token}` filled in by the viewer page).
    pub gift_url: Option<String>,
    /// The console's cookie is `Secure` (TLS in front of the service).
    pub secure_cookie: bool,
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
    /// Where new slates go for moderation (None: they are approved at upload).
    pub moderation: Option<Arc<moderation::Moderation>>,
    /// The platforms rooms go out on.
    pub platforms: Arc<crate::platforms::Platforms>,
    /// The RTMP tier in front of the service and the secret its callbacks carry (None: no tier).
    pub nginx: Option<nginx::Tier>,
}

impl AppState {
    /// The API's state over the service's parts; `events` is the stream `/events` serves, which
    /// the service's own events are sent to, and the relay that sends them to the other nodes.
    pub fn new(
        svc: &crate::service::Service,
        cfg: &crate::config::ServiceConfig,
        secrets: crate::config::Secrets,
        (events, relay): (broadcast::Sender<ServiceEvent>, Option<Arc<crate::cluster::events::Relay>>),
    ) -> AppState {
        AppState(Arc::new(AppParts {
            store: svc.store.clone(),
            rooms: svc.rooms.clone(),
            events,
            relay,
            key_ttl_s: cfg.key_ttl_s,
            max_rooms: cfg.max_rooms,
            sessions: svc.sessions.clone(),
            invitations: svc.invitations.clone(),
            polls: svc.polls.clone(),
            audience: svc.audience.clone(),
            cluster: svc.cluster.clone(),
            payment_secret: secrets.payment.filter(|s| !s.is_empty()),
            gift_url: cfg.gift_url.clone(),
            secure_cookie: cfg.secure_cookie,
            platform_secret: secrets.platform.filter(|s| !s.is_empty()),
            behaviour: Arc::default(),
            url_key: Arc::new(svc.url_key.clone()),
            segment_url_ttl_s: cfg.segment_url_ttl_s.max(1),
            viewer_cache: Arc::default(),
            url_policy: crate::policy::UrlPolicy {
                allow_private_inputs: cfg.allow_private_inputs,
                allow_private_outputs: cfg.allow_private_outputs,
            },
            cors_origins: cfg.cors_origins.clone(),
            resuming: Arc::default(),
            moderation: match (&cfg.moderation_url, &secrets.moderation) {
                (Some(url), Some(secret)) => Some(Arc::new(moderation::Moderation {
                    url: url.clone(),
                    secret: secret.clone(),
                    base: format!("http://{}", cfg.http),
                })),
                _ => None,
            },
            platforms: svc.platforms.clone(),
            nginx: match (&cfg.nginx_ingest_url, secrets.nginx.filter(|s| !s.is_empty())) {
                (Some(url), Some(secret)) => Some(nginx::Tier { url: url.clone(), secret }),
                _ => None,
            },
        }))
    }

    /// The keys a viewer token may be signed with: this service's, and the platform's.
    pub fn viewer_token_keys(&self) -> Vec<&[u8]> {
        std::iter::once(self.url_key.as_slice()).chain(self.platform_secret.as_deref().map(str::as_bytes)).collect()
    }

    /// Sends an event the API itself reports to `/events`, on every node.
    pub fn emit(&self, e: ServiceEvent) {
        if let Some(r) = &self.relay {
            r.publish(&e);
        }
        // Nobody listening is fine.
        let _ = self.events.send(e);
    }
}

/// Runs blocking work (the database, a session's start) on tokio's blocking pool, never on the
/// threads that serve requests.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?
}

/// A request body that may be left out: empty (or only whitespace) is `T`'s default.
pub(crate) fn optional_json<T: Default + serde::de::DeserializeOwned>(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<T> {
    let body = body?;
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        Ok(serde_json::from_slice(&body)?)
    }
}

/// A database call off the request threads.
pub(crate) async fn db<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&Store) -> store::StoreResult<T> + Send + 'static,
) -> ApiResult<T> {
    let store = s.store.clone();
    blocking(move || Ok(f(&store)?)).await
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// The service's routes: the API (CORS only for the configured origins) and the media a player
/// fetches (HLS and signed segments, CORS for any origin), all behind the token check.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health::health))
        .route("/openapi.json", get(health::openapi))
        .route("/metrics", get(metrics::metrics))
        .route("/tokens", get(tokens::list_tokens).post(tokens::create_token))
        .route("/tokens/{id}", delete(tokens::revoke_token))
        .route("/rooms", post(rooms::create_room).get(rooms::list_rooms))
        .route("/rooms/{id}", get(rooms::get_room).delete(rooms::delete_room).patch(slates::set_room_topic))
        .route("/rooms/{id}/slates/suggest", get(slates::suggest_slate))
        .route("/rooms/{id}/key", post(rooms::regenerate_key))
        .route("/rooms/{id}/pause", post(pause::pause_room))
        .route("/rooms/{id}/resume", post(pause::resume_room))
        .route("/rooms/{id}/source", post(pause::show_source))
        .route("/rooms/{id}/slate", axum::routing::put(slates::set_default_slate))
        .route(
            "/slates",
            // The upload's cap is enforced while it streams in (the handler's own count).
            post(slates::create_slate).get(slates::list_slates).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/slates/{id}", get(slates::get_slate).delete(slates::delete_slate))
        .route("/slates/{id}/file", get(moderation::slate_file))
        .route("/slates/{id}/moderation", post(moderation::moderation_answer))
        .route("/rooms/{id}/destinations", get(rooms::list_destinations).post(rooms::add_destination))
        .route("/rooms/{id}/destinations/{dst}", delete(rooms::delete_destination))
        .route("/events", get(events::events))
        .route("/sessions", post(sessions::create_session).get(sessions::list_sessions))
        .route(
            "/sessions/{id}",
            get(sessions::get_session).delete(sessions::stop_session).patch(sessions::change_session),
        )
        .route("/sessions/{id}/pk", axum::routing::patch(invitations::update_pk))
        .route("/sessions/{id}/comments", post(invitations::post_comment))
        .route("/sessions/{id}/inputs/{k}/pause", post(pause::pause_input))
        .route("/sessions/{id}/inputs/{k}/resume", post(pause::resume_input))
        .route("/sessions/{id}/polls", post(polls::create_poll).get(polls::session_polls))
        .route("/polls/{id}", get(polls::get_poll))
        .route("/polls/{id}/votes", post(polls::vote))
        .route("/polls/{id}/close", post(polls::close_poll))
        .route("/rooms/{id}/viewers", post(watch::issue_room_viewer))
        .route("/rooms/{id}/public", axum::routing::put(watch::set_public))
        .route("/rooms/{id}/audience", get(audience::room_audience))
        .route("/rooms/{id}/audience/viewers", get(audience::room_viewers))
        .route("/rooms/{id}/poll", get(polls::get_room_poll).put(polls::put_room_poll).delete(polls::delete_room_poll))
        .route("/sessions/{id}/replay/export", post(replay::export_replay))
        .route("/sessions/{id}/replay.mp4", get(replay::replay_mp4))
        .route("/invitations", post(invitations::create_invitation).get(invitations::list_invitations))
        .route("/invitations/{id}", get(invitations::get_invitation).delete(invitations::cancel_invitation))
        .route("/invitations/{id}/accept", post(invitations::accept_invitation))
        .route("/invitations/{id}/decline", post(invitations::decline_invitation))
        .route("/invitations/{id}/hangup", post(invitations::hang_up))
        .route("/channels/{channel}", get(unlock::get_channel).put(unlock::put_channel))
        .route("/channels/{channel}/viewers", post(unlock::issue_viewer_token))
        .route("/channels/{channel}/viewers/{token}", get(unlock::get_viewer))
        .route("/channels/{channel}/viewers/{token}/events", post(behaviour::viewer_event))
        .route("/payments/callback", post(unlock::payment_callback))
        .route("/ingest/nginx/{event}", post(nginx::callback))
        .route("/nodes", get(nodes::list_nodes))
        .route("/nodes/{id}/drain", post(nodes::drain_node))
        .merge(platform_routes())
        .layer(api_cors(&state.cors_origins));
    Router::new()
        .merge(api)
        .merge(media_routes())
        .merge(page_routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        // Before the token is checked: the node that answers checks it (it knows the session).
        .layer(axum::middleware::from_fn_with_state(state.clone(), forward::to_owner))
        // A body that trickles in (or never comes) is answered 408 at its deadline; the headers
        // have theirs in the server loop.
        .layer(axum::middleware::from_fn(deadline::body_deadline))
        .with_state(state)
}

/// What a player fetches: HLS, signed segments and playlists (CORS for any origin).
fn media_routes() -> Router<AppState> {
    Router::new()
        .route("/sessions/{id}/hls/{file}", get(hls::hls_file))
        .route("/sessions/{id}/views/{view}/hls/{file}", get(hls::view_hls_file))
        .route("/sessions/{id}/replay.m3u8", get(replay::replay_playlist))
        .route("/sessions/{id}/replay/{file}", get(replay::replay_segment))
        .route("/sessions/{id}/viewers/{token}/index.m3u8", get(unlock::viewer_playlist))
        .route("/rooms/{id}/viewers/{token}/index.m3u8", get(watch::room_playlist))
        .route("/rooms/{id}/live/{file}", get(watch::public_file))
        .route("/sessions/{id}/r/{rendition}/{file}", get(unlock::signed_segment))
        .layer(tower_http::cors::CorsLayer::permissive())
}

/// The console and the viewer page (same origin only: no CORS).
fn page_routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(web::console_page))
        .route("/console/signin", post(console::sign_in))
        .route("/console/signout", post(console::sign_out))
        .route("/console/me", get(console::whoami))
        .route("/assets/{file}", get(web::asset))
        .route("/watch/{id}", get(web::watch_page))
        .route("/watch/{id}/info", get(web::watch_info))
        .route("/watch/{id}/events", get(web::watch_events))
}

/// The platforms, and each room's place on them.
fn platform_routes() -> Router<AppState> {
    Router::new()
        .route("/platforms", get(platforms::list_platforms).post(platforms::create_platform))
        .route("/platforms/{id}", get(platforms::get_platform).delete(platforms::delete_platform))
        .route("/platforms/{id}/audience", post(platforms::push_audience))
        .route("/rooms/{id}/platforms", get(platforms::room_platforms).post(platforms::add_room_platform))
        .route("/rooms/{id}/platforms/{p}", delete(platforms::remove_room_platform))
        .route("/rooms/{id}/platforms/{p}/key", get(platforms::reveal_key).post(platforms::regenerate_platform_key))
}

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
