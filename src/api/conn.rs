//! What one HTTP connection may hold: a slot among its peer address's connections, and time
//! between requests. A connection that sends no request (or no next request on keep-alive)
//! within the deadline is closed, so silent sockets cannot pile up; a request in progress,
//! its response body included (an event stream, a segment to a slow player), keeps it open.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body_util::BodyExt;

/// Open connections per peer address.
pub struct Peers {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; its peer's count goes down when it is dropped.
pub struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    pub fn new(max: usize) -> Arc<Peers> {
        Arc::new(Peers { max, open: Mutex::default() })
    }

    /// A slot for a new connection from `ip`, or `None` when that address holds its most.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let mut open = crate::sys::lock(&self.open);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(PeerSlot { peers: self.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = crate::sys::lock(&self.peers.open);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Whether a connection has a request in progress, and since when it has had none.
pub struct Activity {
    epoch: Instant,
    busy: AtomicUsize,
    idle_since_ms: AtomicU64,
    /// Told when a request ends (the connection may be idle from then on).
    ended: tokio::sync::Notify,
}

/// A request in progress on a connection (held until its response body is done).
pub struct Busy(Arc<Activity>);

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            epoch: Instant::now(),
            busy: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            ended: tokio::sync::Notify::new(),
        })
    }

    pub fn enter(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// How long the connection has had no request in progress; `None` while it has one.
    pub fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        Some(self.epoch.elapsed().saturating_sub(since))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.epoch.elapsed().as_millis() as u64;
        self.0.idle_since_ms.store(now, Ordering::SeqCst);
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.ended.notify_one();
    }
}

/// `resp` with `busy` held until its body has been sent (or dropped).
pub fn holding(resp: axum::response::Response, busy: Busy) -> axum::response::Response {
    resp.map(|b| {
        Body::new(b.map_frame(move |f| {
            let _in_progress = &busy;
            f
        }))
    })
}

/// How long a connection told to close may still take to finish the response it is sending (a
/// segment to a slow player) before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// Runs `conn` until it ends. When it has had no request in progress for `idle`, or `stop` says
/// the server is stopping, it is told to close: a response in progress (its bytes still in the
/// buffers included) is finished first, for at most [`CLOSE_GRACE`].
pub async fn watch<C>(
    conn: C,
    activity: Arc<Activity>,
    idle: Duration,
    peer: std::net::SocketAddr,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    C: hyper_util::server::graceful::GracefulConnection,
    C::Error: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    let mut closing: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let wait = match (closing, activity.idle_for()) {
            (Some(by), _) if now >= by => return,
            (Some(by), _) => Some(by - now),
            (None, Some(d)) if d >= idle => {
                tracing::debug!(%peer, "HTTP connection closing: no request within {idle:?}");
                conn.as_mut().graceful_shutdown();
                closing = Some(now + CLOSE_GRACE);
                continue;
            }
            (None, Some(d)) => Some(idle - d),
            // While a request is in progress nothing is due until it ends.
            (None, None) => None,
        };
        tokio::select! {
            _ = activity.ended.notified(), if wait.is_none() => {}
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended");
                }
                return;
            }
            _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
            _ = stop.changed(), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_holds_at_most_its_share_and_gets_slots_back() {
        let peers = Peers::new(2);
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let a = peers.admit(ip).unwrap();
        let _b = peers.admit(ip).unwrap();
        assert!(peers.admit(ip).is_none());
        assert!(peers.admit("127.0.0.3".parse().unwrap()).is_some(), "another address has its own share");
        drop(a);
        assert!(peers.admit(ip).is_some());
    }

    #[test]
    fn busy_while_a_request_is_in_progress_idle_after() {
        let a = Activity::new();
        assert!(a.idle_for().is_some());
        let b = a.enter();
        assert!(a.idle_for().is_none());
        drop(b);
        assert!(a.idle_for().unwrap() < Duration::from_secs(1));
    }
}
