//! `costream serve`: the long-running service — HTTP API and embedded RTMP ingest on one tokio
//! runtime, rooms and keys in SQLite.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{AppState, LiveInfo, ServiceEvent};
use crate::ingest::rtmp::{IngestEvent, IngestLimits, RtmpServer, StreamKeys};
use crate::ingest::{self, Input};
use crate::session::{self, Feeds, SessionEvent, Sessions};
use crate::store::{self, Store};

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub http: SocketAddr,
    pub rtmp: SocketAddr,
    pub db: PathBuf,
    pub key_ttl_s: i64,
    /// Memory budget of each pulled input's frame ring (0: a fixed depth).
    pub ring_budget_bytes: u64,
    /// Shared secret of the payment provider's HMAC-signed callbacks (None: payments are off).
    pub payment_secret: Option<String>,
    /// Life of the signed segment URLs in per-viewer playlists, in seconds.
    pub segment_url_ttl_s: u64,
    /// Sessions, pending invitations and publishers at once.
    pub caps: crate::limits::Caps,
    /// Which input and output URLs requests may name.
    pub url_policy: crate::policy::UrlPolicy,
    /// Origins whose web pages may call the API.
    pub cors_origins: Vec<String>,
    /// Seconds a stopped session's HLS files stay (a recording stays).
    pub hls_retention_s: u64,
    /// Test knob: extra ms of work per tick in every session (0 in service).
    pub extra_tick_ms: u32,
    /// Shared secret of the platform (signed behaviour reports, platform-issued viewer tokens).
    pub platform_secret: Option<String>,
}

/// Publishing is allowed to `live/<current key of a room>` while the key is valid.
struct RoomKeys(Arc<Store>);

impl StreamKeys for RoomKeys {
    fn check(&self, app: &str, key: &str) -> std::result::Result<(), String> {
        if app != "live" {
            return Err(format!("unknown application {app:?}; publish to live/STREAM_KEY"));
        }
        match self.0.check_key(key, store::now_s()) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(problem)) => Err(problem.to_string()),
            Err(e) => Err(format!("cannot check the key: {e}")),
        }
    }
}

/// Decoded inputs of the rooms that are publishing now (sessions take their frames from here).
pub type LiveInputs = Arc<Mutex<HashMap<String, Input>>>;

/// Called once the service listens: its state and the HTTP and RTMP addresses.
pub type OnReady = Box<dyn FnOnce(&AppState, SocketAddr, SocketAddr) + Send>;

/// Runs until `shutdown` resolves.
pub async fn run(
    cfg: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> crate::Result<()> {
    run_with(cfg, shutdown, None).await
}

/// [`run`], calling `ready` once both listeners are up (the demo uses it to start its anchors).
pub async fn run_with(
    cfg: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: Option<OnReady>,
) -> crate::Result<()> {
    log_panics();
    let store =
        Arc::new(Store::open(&cfg.db).map_err(|e| crate::Error::Invalid { what: "database", why: e.to_string() })?);
    let feeds: Feeds = Arc::default();
    let hls = cfg.db.parent().map(|p| p.to_path_buf()).unwrap_or_default().join("hls");
    // Session events go to the same stream as ingest events; the sender exists before the state.
    let (events_tx, _) = tokio::sync::broadcast::channel(256);
    let tx = events_tx.clone();
    let db = store.clone();
    let sessions = Arc::new(
        Sessions::new(hls, feeds.clone())
            .with_ring_budget(cfg.ring_budget_bytes)
            .with_max_sessions(cfg.caps.max_sessions)
            .with_retention(std::time::Duration::from_secs(cfg.hls_retention_s))
            .with_extra_tick_ms(cfg.extra_tick_ms)
            .with_events(Arc::new(move |e| {
                let _ = tx.send(match e {
                    SessionEvent::Started(id) => ServiceEvent::SessionStarted { session_id: id },
                    SessionEvent::Stopped(id, error) => {
                        if error.is_some() {
                            // A failed session is not resumed at the next start.
                            let _ = db.forget_resumable(&id);
                        }
                        ServiceEvent::SessionStopped { session_id: id, error }
                    }
                    SessionEvent::InputLost(id, input) => ServiceEvent::InputLost { session_id: id, input },
                    SessionEvent::InputBack(id, input) => ServiceEvent::InputBack { session_id: id, input },
                    SessionEvent::OutputConnected(id, output) => {
                        ServiceEvent::OutputConnected { session_id: id, output }
                    }
                    SessionEvent::OutputFailed(id, output, reason) => {
                        ServiceEvent::OutputFailed { session_id: id, output, reason }
                    }
                    SessionEvent::FallingBehind(id, percent) => {
                        ServiceEvent::SessionBehind { session_id: id, percent_skipped: percent }
                    }
                    SessionEvent::CaughtUp(id) => ServiceEvent::SessionCaughtUp { session_id: id },
                });
            })),
    );
    let mut state = AppState::new(store.clone(), cfg.key_ttl_s, sessions.clone(), events_tx, cfg.caps);
    state.payment_secret = cfg.payment_secret.clone().filter(|s| !s.is_empty());
    state.platform_secret = cfg.platform_secret.clone().filter(|s| !s.is_empty());
    state.segment_url_ttl_s = cfg.segment_url_ttl_s.max(1);
    state.url_policy = cfg.url_policy;
    // The key of viewers' signed segment URLs lives in the database: their URLs survive a restart.
    let key = store
        .setting_or_init("url_signing_key", || crate::store::random_hex(32))
        .map_err(|e| crate::Error::Invalid { what: "database", why: e.to_string() })?;
    state.url_key = Arc::new(hex::decode(&key).unwrap_or_else(|_| key.into_bytes()));
    state.cors_origins = cfg.cors_origins.clone();
    sessions.remove_leftovers(&super::resume::session_ids(&state));
    let (rtmp, mut ingest_events) = RtmpServer::bind_with(
        cfg.rtmp,
        Arc::new(RoomKeys(store.clone())),
        IngestLimits { max_publishers: cfg.caps.max_publishers, ..IngestLimits::default() },
    )
    .await?;
    let inputs: LiveInputs = Arc::default();
    let st = state.clone();
    let inp = inputs.clone();
    let fd = feeds.clone();
    tokio::spawn(async move {
        // Which room each publishing key belongs to (the key may be regenerated while it is live).
        let mut rooms_by_key = HashMap::new();
        while let Some(ev) = ingest_events.recv().await {
            on_ingest(&st, &inp, &fd, &mut rooms_by_key, ev).await;
        }
    });
    let listener = tokio::net::TcpListener::bind(cfg.http).await?;
    let http = listener.local_addr()?;
    tracing::info!(%http, rtmp = %rtmp.addr, db = %cfg.db.display(), "costream serving");
    if let Some(f) = ready {
        f(&state, http, rtmp.addr);
    }
    // What ran before a restart starts again, while the API already answers.
    let st = state.clone();
    st.resuming.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::task::spawn_blocking(move || {
        super::resume::resume_all(&st);
        st.resuming.store(false, std::sync::atomic::Ordering::Relaxed);
    });
    serve_http(listener, super::router(state), shutdown).await;
    // Finish every session's current HLS segment and RTMP streams before leaving.
    let _ = tokio::task::spawn_blocking(move || sessions.stop_all()).await;
    drop(rtmp);
    Ok(())
}

/// A panic anywhere in the service (caught where it happens: a session fails, a connection
/// closes) is one line in the service's log, not a backtrace on stderr.
fn log_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let why = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            tracing::error!(panic = %why, at = %at, thread = std::thread::current().name().unwrap_or("?"), "panicked");
        }));
    });
}

/// How long a publisher's stream may take to show what it carries before its decoder gives up.
const DECODER_OPEN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// Ingest events, handled in order but never waiting on a decoder: each publisher's decoder opens
/// on its own task, so a silent publisher holds up nobody else.
async fn on_ingest(
    st: &AppState,
    inputs: &LiveInputs,
    feeds: &Feeds,
    rooms_by_key: &mut HashMap<String, String>,
    ev: IngestEvent,
) {
    match ev {
        IngestEvent::Published { key, peer, reader, .. } => {
            let Ok(Ok(room)) = st.store.check_key(&key, store::now_s()) else { return };
            rooms_by_key.insert(key, room.clone());
            if let Ok(mut l) = st.live.lock() {
                l.insert(room.clone(), LiveInfo { peer: peer.to_string(), since: store::now_s() });
            }
            st.emit(ServiceEvent::PublishAccepted { room_id: room.clone(), peer: peer.to_string() });
            // Decoding starts at once, so the room's latest frames are ready before anyone asks.
            tokio::spawn(open_decoder(st.clone(), inputs.clone(), feeds.clone(), room, reader));
        }
        IngestEvent::Refused { key, peer, reason, .. } => {
            st.emit(ServiceEvent::PublishRefused { key, peer: peer.to_string(), reason })
        }
        IngestEvent::Ended { key, .. } => {
            let Some(room) = rooms_by_key.remove(&key) else { return };
            if let Ok(mut l) = st.live.lock() {
                l.remove(&room);
            }
            if let Ok(mut m) = inputs.lock() {
                m.remove(&room);
            }
            st.emit(ServiceEvent::PublishEnded { room_id: room });
        }
    }
}

/// Opens a publisher's decoder into its room's feed, within [`DECODER_OPEN_DEADLINE`]; the input
/// is kept only while the room is still live (its publisher may have left meanwhile).
async fn open_decoder(
    st: AppState,
    inputs: LiveInputs,
    feeds: Feeds,
    room: String,
    reader: crate::ingest::rtmp::FlvReader,
) {
    let name = format!("rtmp {room}");
    let feed = session::feed(&feeds, &room);
    let opts = st.sessions.feed_input_options();
    let open = tokio::task::spawn_blocking(move || ingest::open_reader_into(&name, "flv", reader, &opts, &feed));
    match tokio::time::timeout(DECODER_OPEN_DEADLINE, open).await {
        Ok(Ok(Ok(input))) => {
            let live = st.live.lock().map(|l| l.contains_key(&room)).unwrap_or(false);
            if let (true, Ok(mut m)) = (live, inputs.lock()) {
                m.insert(room, input);
            }
        }
        Ok(Ok(Err(e))) => tracing::warn!(room, error = %e, "published stream cannot be decoded"),
        Ok(Err(e)) => tracing::warn!(room, error = %e, "decoder task failed"),
        // The blocked open ends by itself when the publisher's connection closes (its reader sees
        // the end), which the ingest's idle timeout guarantees.
        Err(_) => tracing::warn!(room, "published stream showed no media within the deadline"),
    }
}

/// A client must send a request's headers within this long (a connection that trickles them, or
/// says nothing, is closed).
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP server loop: axum's router on hyper, with a header read timeout, until `shutdown`;
/// then open connections get a few seconds to finish.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        let conn = graceful.watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => tracing::warn!("HTTP connections still open at shutdown"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
