//! `costream serve`: the long-running service — HTTP API and embedded RTMP ingest on one tokio
//! runtime, rooms and keys in SQLite.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use super::events::ServiceEvent;
use super::AppState;
use crate::cluster::events::Relay;
use crate::cluster::Cluster;
use crate::service::{Event, Service};

/// What `costream serve` runs with: its configuration and its secrets.
#[derive(Clone, Debug, Default)]
pub struct ServeConfig {
    pub service: crate::config::ServiceConfig,
    pub secrets: crate::config::Secrets,
}

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
    let (cfg, secrets) = (cfg.service, cfg.secrets);
    // Every part's events go to the one stream `/events` serves.
    let (events_tx, _) = tokio::sync::broadcast::channel(256);
    let node: Arc<OnceLock<(Arc<Relay>, Arc<Cluster>)>> = Arc::default();
    let (tx, n) = (events_tx.clone(), node.clone());
    let on_event = move |e: Event| {
        let e: ServiceEvent = e.into();
        if let Some((relay, cluster)) = n.get() {
            relay.publish(&e);
            if let ServiceEvent::PublishAccepted { room_id, .. } | ServiceEvent::PublishEnded { room_id, .. } = &e {
                cluster.room_changed(room_id);
            }
        }
        drop(tx.send(e));
    };
    let svc = Service::start(&cfg, Arc::new(on_event)).await?;
    if let Some(c) = &svc.cluster {
        let _ = node.set((Arc::new(others_events(&svc, c.node_id(), events_tx.clone())?), c.clone()));
        // Publishers that came in before the line above (an encoder reconnecting at once).
        svc.rooms.live_rooms().iter().for_each(|r| c.room_changed(r));
    }
    let relay = node.get().map(|(r, _)| r.clone());
    let state = AppState::new(&svc, &cfg, secrets, (events_tx, relay));
    let listener = tokio::net::TcpListener::bind(cfg.http).await?;
    let http = listener.local_addr()?;
    tracing::info!(%http, rtmp = %svc.rtmp.addr, db = %crate::store::describe(&cfg.db_url()), "costream serving");
    if let Some(f) = ready {
        f(&state, http, svc.rtmp.addr);
    }
    // What ran before a restart starts again, while the API already answers.
    let (st, svc) = (state.clone(), Arc::new(svc));
    st.resuming.store(true, std::sync::atomic::Ordering::Relaxed);
    let resumed = svc.clone();
    tokio::task::spawn_blocking(move || {
        // Records written by an earlier version hold API requests: converted once, then resumed
        // by the session layer like the rest.
        super::legacy::upgrade(&st);
        resumed.resume();
        st.resuming.store(false, std::sync::atomic::Ordering::Relaxed);
    });
    serve_http(listener, super::router(state), cfg.max_connections_per_peer, shutdown).await?;
    if let Some(c) = svc.cluster.clone().filter(|_| cfg.drain_on_stop) {
        // The other nodes take this node's sessions over before it goes.
        let _ = tokio::task::spawn_blocking(move || c.drain_and_wait(std::time::Duration::from_secs(30))).await;
    }
    // Finish every session's current HLS segment and RTMP streams before leaving.
    let sessions = svc.sessions.clone();
    let _ = tokio::task::spawn_blocking(move || sessions.stop_all()).await;
    Ok(())
}

/// A node of several: its events go to the others too, and theirs come to its `/events`.
fn others_events(svc: &Service, node: &str, tx: tokio::sync::broadcast::Sender<ServiceEvent>) -> crate::Result<Relay> {
    let deliver = move |v: serde_json::Value| match serde_json::from_value::<ServiceEvent>(v) {
        Ok(e) => drop(tx.send(e)),
        Err(e) => tracing::debug!(error = %e, "another node's event is not one this version knows"),
    };
    Ok(Relay::start(svc.store.clone(), node, Arc::new(deliver))?)
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

/// A client must send a request's headers within this long, and its next request on a kept-alive
/// connection (a connection that trickles them, or says nothing, is closed).
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP server loop: axum's router on hyper until `shutdown`, each connection within its
/// peer's share and closed when it idles; then open connections get a few seconds to finish.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    max_per_peer: usize,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    // Told to every connection at shutdown: each finishes its response in progress and closes.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // Each connection holds a sender: once all are gone, the receiver says so.
    let (open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let peers = super::conn::Peers::new(max_per_peer);
    let workers = super::workers::Workers::start()?;
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
        let Some(slot) = peers.admit(peer.ip()) else {
            tracing::debug!(%peer, "HTTP connection refused: its address holds {max_per_peer} already");
            continue;
        };
        let activity = super::conn::Activity::new();
        let service = connection_service(app.clone(), activity.clone());
        let (stopping, open) = (stopping.clone(), open.clone());
        workers.hand(stream, move |stream| async move {
            // HTTP/1.1 only: nothing here needs HTTP/2, whose streams per connection would
            // multiply what one address may hold.
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            super::conn::watch(conn, activity, HEADER_READ_TIMEOUT, peer, stopping).await;
            drop((slot, open));
        });
    }
    let _ = stop.send(true);
    drop(open);
    if tokio::time::timeout(std::time::Duration::from_secs(5), all_closed.recv()).await.is_err() {
        tracing::warn!("HTTP connections still open at shutdown");
    }
    Ok(())
}

/// `app` for one connection: each request marks the connection busy until its response is sent.
fn connection_service(
    app: axum::Router,
    activity: std::sync::Arc<super::conn::Activity>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl std::future::Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send + 'static,
> {
    use tower::ServiceExt;
    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let busy = activity.enter();
        let app = app.clone();
        async move {
            let resp = app.oneshot(req.map(axum::body::Body::new)).await?;
            Ok(super::conn::holding(resp, busy))
        }
    })
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
