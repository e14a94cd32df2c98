//! Embedded RTMP ingest: anchors publish to `rtmp://HOST:PORT/APP/STREAM_KEY` with OBS or ffmpeg.
//!
//! The protocol (handshake, chunking, AMF commands) is rml_rtmp's; this module does the networking
//! on tokio, asks a [`StreamKeys`] check before accepting a publish, and turns the accepted stream's
//! audio/video messages back into an FLV byte stream. That stream feeds FFmpeg's own FLV demuxer
//! through an in-memory pipe ([`FlvReader`]), so the decoder sees exactly what a pull input would,
//! without a detour through files or a second network hop.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

pub use super::stream_name::{StreamName, MAIN_SOURCE};
use crate::sys::{lock, redact_key};

/// What one connection may cost: how long its handshake and its silences may last, and how many
/// connections the server holds at once.
#[derive(Clone, Copy, Debug)]
pub struct IngestLimits {
    pub handshake_timeout: Duration,
    /// A connection that sends nothing (before or while publishing) for this long is closed.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Refused publishes per peer address per minute before the burst is named in the log (one
    /// line and one event per peer and minute are all a burst gets).
    pub max_refusals_per_minute: u32,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_refusals_per_minute: 20,
        }
    }
}

/// A room's id, as the owner of the rooms names it.
pub type RoomId = String;

/// Decides whether a publisher may use a stream key; the ingest knows rooms only through this.
pub trait StreamKeys: Send + Sync + 'static {
    /// The room whose source (`name.source`) the publish feeds, or why not. Blocking (it may ask a
    /// database): the ingest calls it off its async threads. `Ok` takes that source of the room for
    /// this publisher until [`StreamKeys::release`], so a second publisher on it is refused here.
    fn check(&self, name: &StreamName) -> Result<RoomId, Refusal>;
    /// The publisher admitted for `source` of `room` is gone (called once per `Ok` of `check`).
    fn release(&self, _room: &RoomId, _source: &str) {}
}

/// Why a publish was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown application {0:?}; publish to live/STREAM_KEY")]
    UnknownApp(String),
    #[error("unknown stream key")]
    UnknownKey,
    #[error("stream key expired")]
    KeyExpired,
    #[error("stream key was regenerated")]
    KeyReplaced,
    #[error("this stream key is already publishing")]
    Busy,
    #[error("a source's name is 1 to 32 of a-z, 0-9, _ and -")]
    BadSource,
    #[error("a room has at most {0} sources")]
    TooManySources(usize),
    #[error("the service takes at most {0} publishers at once")]
    Full(usize),
    /// The check itself failed (the database); the cause is in the service's log.
    #[error("cannot check the key now")]
    CannotCheck,
}

/// What the ingest server reports.
pub enum IngestEvent {
    /// A publisher was accepted for `source` of `room`: its media arrives through `reader`.
    Published { room: RoomId, source: String, key: String, peer: SocketAddr, reader: FlvReader },
    /// A publish was refused (wrong, expired or busy key); `key` is redacted. Reported once per
    /// peer and minute.
    Refused { app: String, key: String, peer: SocketAddr, reason: Refusal },
    /// The publisher of `source` of `room` stopped or the connection dropped.
    Ended { room: RoomId, source: String, key: String },
}

/// FLV chunks queued per publisher before the socket read waits for the decoder (backpressure).
const PIPE_CHUNKS: usize = 1024;

/// The read side of a publisher's FLV stream; `Read` for FFmpeg's custom I/O. EOF when the
/// publisher is gone.
pub struct FlvReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl std::io::Read for FlvReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// FLV file header (audio + video flags) followed by the first PreviousTagSize (0).
fn flv_header() -> Bytes {
    Bytes::from_static(&[b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0])
}

/// One FLV tag (8 audio, 9 video) carrying an RTMP message payload, which already is FLV tag data.
pub fn flv_tag(kind: u8, timestamp_ms: u32, data: &[u8]) -> Bytes {
    let n = data.len();
    let mut t = Vec::with_capacity(11 + n + 4);
    t.push(kind);
    t.extend_from_slice(&(n as u32).to_be_bytes()[1..]);
    t.extend_from_slice(&(timestamp_ms & 0x00ff_ffff).to_be_bytes()[1..]);
    t.push((timestamp_ms >> 24) as u8);
    t.extend_from_slice(&[0, 0, 0]);
    t.extend_from_slice(data);
    t.extend_from_slice(&((11 + n) as u32).to_be_bytes());
    Bytes::from(t)
}

/// A running ingest server.
pub struct RtmpServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RtmpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RtmpServer {
    /// Listens on `addr` (port 0 picks a free one) and reports publishers on the returned channel.
    pub async fn bind(
        addr: SocketAddr,
        keys: Arc<dyn StreamKeys>,
    ) -> std::io::Result<(RtmpServer, mpsc::UnboundedReceiver<IngestEvent>)> {
        Self::bind_with(addr, keys, IngestLimits::default()).await
    }

    pub async fn bind_with(
        addr: SocketAddr,
        keys: Arc<dyn StreamKeys>,
        limits: IngestLimits,
    ) -> std::io::Result<(RtmpServer, mpsc::UnboundedReceiver<IngestEvent>)> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (events, rx) = mpsc::unbounded_channel();
        tracing::info!(%addr, "RTMP ingest listening");
        let shared = Arc::new(Shared { keys, events, limits, refusals: Mutex::default() });
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let task = tokio::spawn(async move {
            loop {
                let (sock, peer) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "RTMP accept failed");
                        continue;
                    }
                };
                // Over the connection limit: closed unheard. A peer that keeps guessing keys is
                // still heard: a publisher with a valid key may share its address (a NAT, a
                // studio), and the keys' randomness, not a lockout, is what stops guessing.
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "RTMP connection refused: at the connection limit");
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(sock, peer, &shared).await {
                        tracing::debug!(%peer, error = %e, "RTMP connection closed");
                    }
                    drop(slot);
                });
            }
        });
        Ok((RtmpServer { addr, task }, rx))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every connection of one server shares.
struct Shared {
    keys: Arc<dyn StreamKeys>,
    events: mpsc::UnboundedSender<IngestEvent>,
    limits: IngestLimits,
    /// Per peer address: the minute window's start and its refused publishes.
    refusals: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

const REFUSAL_WINDOW: Duration = Duration::from_secs(60);

impl Shared {
    /// Counts a refused publish; true when it is the first of its window (the one that is logged).
    fn refused(&self, ip: IpAddr) -> bool {
        let mut r = lock(&self.refusals);
        let now = Instant::now();
        r.retain(|_, (t, _)| now.duration_since(*t) < REFUSAL_WINDOW);
        let e = r.entry(ip).or_insert((now, 0));
        e.1 += 1;
        if e.1 == self.limits.max_refusals_per_minute {
            tracing::warn!(%ip, refusals = e.1, "RTMP peer throttled: too many refused publishes this minute; the rest of them are not logged (a valid key still gets in)");
        }
        e.1 == 1
    }
}

struct Conn {
    publishing: Option<Publishing>,
    close: bool,
}

struct Publishing {
    name: StreamName,
    room: RoomId,
    tx: mpsc::Sender<Bytes>,
    shared: Arc<Shared>,
}

impl Publishing {
    fn ended(&self) -> IngestEvent {
        IngestEvent::Ended { room: self.room.clone(), source: self.name.source.clone(), key: self.name.key.clone() }
    }
}

impl Drop for Publishing {
    /// The room's source is free again once its publisher is gone, however the connection ended.
    fn drop(&mut self) {
        self.shared.keys.release(&self.room, &self.name.source);
    }
}

/// Reads from the socket, or fails when the peer stays silent past `limit`.
async fn read_within(sock: &mut TcpStream, buf: &mut [u8], limit: Duration, what: &str) -> Result<usize, BoxError> {
    match tokio::time::timeout(limit, sock.read(buf)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(format!("{what}: nothing received for {limit:?}").into()),
    }
}

async fn serve(mut sock: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) -> Result<(), BoxError> {
    sock.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let limits = shared.limits;
    // Handshake, within its deadline as a whole.
    let leftover = match tokio::time::timeout(limits.handshake_timeout, handshake(&mut sock, &mut buf)).await {
        Ok(r) => match r? {
            Some(rest) => rest,
            None => return Ok(()),
        },
        Err(_) => return Err(format!("handshake not done within {:?}", limits.handshake_timeout).into()),
    };
    let (mut session, initial) =
        ServerSession::new(ServerSessionConfig::new()).map_err(|e| format!("session: {e:?}"))?;
    let mut conn = Conn { publishing: None, close: false };
    let mut pending = initial;
    pending.extend(parse(&mut session, &leftover, peer)?);
    let result = async {
        loop {
            // Results can raise requests whose answers produce more results: work through them all.
            while !pending.is_empty() {
                let mut next = Vec::new();
                for r in pending.drain(..) {
                    match r {
                        ServerSessionResult::OutboundResponse(p) => sock.write_all(&p.bytes).await?,
                        ServerSessionResult::RaisedEvent(ev) => {
                            next.extend(handle_event(ev, &mut session, &mut conn, peer, shared).await?)
                        }
                        ServerSessionResult::UnhandleableMessageReceived(_) => {}
                    }
                }
                pending = next;
            }
            if conn.close {
                // A refused publisher has had its answer; nothing more is wanted from it.
                return Ok(());
            }
            let n = read_within(&mut sock, &mut buf, limits.idle_timeout, "RTMP connection").await?;
            if n == 0 {
                return Ok::<(), BoxError>(());
            }
            pending = parse(&mut session, &buf[..n], peer)?;
        }
    }
    .await;
    if let Some(p) = conn.publishing.take() {
        tracing::info!(app = %p.name.app, key = %redact_key(&p.name.key), source = %p.name.source, %peer, "publisher ended");
        let _ = shared.events.send(p.ended());
    }
    result
}

/// Feeds the peer's bytes to the RTMP session. A chunk stream that contradicts itself can make
/// the parser panic (rml_rtmp 0.8 underflows on a continuation chunk longer than its message and
/// reserves a huge buffer — found by the property test's long run): that is the peer's error, and
/// ends its connection like any other, with its publish closed properly.
fn parse(session: &mut ServerSession, bytes: &[u8], peer: SocketAddr) -> Result<Vec<ServerSessionResult>, BoxError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.handle_input(bytes))) {
        Ok(r) => Ok(r.map_err(|e| format!("input: {e:?}"))?),
        Err(_) => {
            tracing::warn!(%peer, "RTMP peer sent a malformed chunk stream; connection closed");
            Err("input: malformed chunk stream".into())
        }
    }
}

/// The RTMP handshake; the bytes that followed it, or None when the peer left.
async fn handshake(sock: &mut TcpStream, buf: &mut [u8]) -> Result<Option<Vec<u8>>, BoxError> {
    let mut hs = Handshake::new(PeerType::Server);
    loop {
        let n = sock.read(buf).await?;
        if n == 0 {
            return Ok(None);
        }
        match hs.process_bytes(&buf[..n]).map_err(|e| format!("handshake: {e:?}"))? {
            HandshakeProcessResult::InProgress { response_bytes } => sock.write_all(&response_bytes).await?,
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                sock.write_all(&response_bytes).await?;
                return Ok(Some(remaining_bytes));
            }
        }
    }
}

/// Whether a publish may start, asked off the async threads (the check may read a database).
async fn admit(shared: &Shared, name: &StreamName) -> Result<RoomId, Refusal> {
    let (keys, name) = (shared.keys.clone(), name.clone());
    tokio::task::spawn_blocking(move || keys.check(&name)).await.unwrap_or(Err(Refusal::CannotCheck))
}

async fn handle_event(
    ev: ServerSessionEvent,
    session: &mut ServerSession,
    conn: &mut Conn,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Result<Vec<ServerSessionResult>, BoxError> {
    let err = |e: rml_rtmp::sessions::ServerSessionError| -> BoxError { format!("{e:?}").into() };
    Ok(match ev {
        ServerSessionEvent::ConnectionRequested { request_id, .. } => {
            session.accept_request(request_id).map_err(err)?
        }
        ServerSessionEvent::PublishStreamRequested { request_id, app_name, stream_key, .. } => {
            // Parsed first: with ffmpeg's split the application itself carries the key.
            let name = StreamName::parse(&app_name, &stream_key);
            let (app, key, source) = (name.app.clone(), redact_key(&name.key), name.source.clone());
            match admit(shared, &name).await {
                Ok(room) => {
                    let (tx, rx) = mpsc::channel(PIPE_CHUNKS);
                    // Taken by admit: released when the Publishing drops.
                    let publishing = Publishing { name, room: room.clone(), tx, shared: shared.clone() };
                    publishing.tx.send(flv_header()).await?;
                    tracing::info!(%app, %key, %source, %peer, "publisher accepted");
                    let _ = shared.events.send(IngestEvent::Published {
                        room,
                        source,
                        key: publishing.name.key.clone(),
                        peer,
                        reader: FlvReader { rx, cur: Bytes::new() },
                    });
                    conn.publishing = Some(publishing);
                    session.accept_request(request_id).map_err(err)?
                }
                Err(reason) => {
                    // One log line and one event per peer and minute, however often it tries.
                    if shared.refused(peer.ip()) {
                        tracing::warn!(%app, %key, %source, %peer, %reason, "publish refused");
                        let _ = shared.events.send(IngestEvent::Refused { app, key, peer, reason: reason.clone() });
                    }
                    conn.close = true;
                    session.reject_request(request_id, "NetStream.Publish.BadName", &reason.to_string()).map_err(err)?
                }
            }
        }
        ServerSessionEvent::VideoDataReceived { data, timestamp, .. } => {
            forward(&mut conn.publishing, 9, timestamp.value, &data).await;
            Vec::new()
        }
        ServerSessionEvent::AudioDataReceived { data, timestamp, .. } => {
            forward(&mut conn.publishing, 8, timestamp.value, &data).await;
            Vec::new()
        }
        ServerSessionEvent::PublishStreamFinished { .. } => {
            if let Some(p) = conn.publishing.take() {
                tracing::info!(app = %p.name.app, key = %redact_key(&p.name.key), source = %p.name.source, %peer, "publisher finished");
                let _ = shared.events.send(p.ended());
            }
            Vec::new()
        }
        _ => Vec::new(),
    })
}

async fn forward(publishing: &mut Option<Publishing>, kind: u8, ts: u32, data: &Bytes) {
    if let Some(p) = publishing {
        // A decoder that went away is not an error of the publisher: keep reading, drop the media.
        let _ = p.tx.send(flv_tag(kind, ts, data)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flv_tag_layout() {
        let t = flv_tag(9, 0x0123_4567, &[1, 2, 3]);
        assert_eq!(&t[..], &[9, 0, 0, 3, 0x23, 0x45, 0x67, 0x01, 0, 0, 0, 1, 2, 3, 0, 0, 0, 14]);
    }
}
