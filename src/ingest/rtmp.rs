//! Embedded RTMP ingest: anchors publish to `rtmp://HOST:PORT/APP/STREAM_KEY` with OBS or ffmpeg.
//!
//! The protocol (handshake, chunking, AMF commands) is rml_rtmp's; this module does the networking
//! on tokio, asks a [`StreamKeys`] check before accepting a publish, and turns the accepted stream's
//! audio/video messages back into an FLV byte stream. That stream feeds FFmpeg's own FLV demuxer
//! through an in-memory pipe ([`FlvReader`]), so the decoder sees exactly what a pull input would,
//! without a detour through files or a second network hop.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Decides whether a publisher may use a stream key.
pub trait StreamKeys: Send + Sync + 'static {
    /// `Ok(())` accepts; `Err(reason)` refuses with that reason (logged and reported as an event).
    fn check(&self, app: &str, key: &str) -> std::result::Result<(), String>;
}

/// What the ingest server reports.
pub enum IngestEvent {
    /// A publisher was accepted: its media arrives through `reader`.
    Published { app: String, key: String, peer: SocketAddr, reader: FlvReader },
    /// A publish was refused (wrong or expired key).
    Refused { app: String, key: String, peer: SocketAddr, reason: String },
    /// The publisher stopped or the connection dropped.
    Ended { app: String, key: String },
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
    pub async fn bind(addr: SocketAddr, keys: Arc<dyn StreamKeys>) -> std::io::Result<(RtmpServer, mpsc::UnboundedReceiver<IngestEvent>)> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (events, rx) = mpsc::unbounded_channel();
        tracing::info!(%addr, "RTMP ingest listening");
        let task = tokio::spawn(async move {
            loop {
                let (sock, peer) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "RTMP accept failed");
                        continue;
                    }
                };
                let (keys, events) = (keys.clone(), events.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve(sock, peer, keys, events).await {
                        tracing::debug!(%peer, error = %e, "RTMP connection closed");
                    }
                });
            }
        });
        Ok((RtmpServer { addr, task }, rx))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Conn {
    publishing: Option<Publishing>,
    close: bool,
}

struct Publishing {
    app: String,
    key: String,
    tx: mpsc::Sender<Bytes>,
}

async fn serve(mut sock: TcpStream, peer: SocketAddr, keys: Arc<dyn StreamKeys>, events: mpsc::UnboundedSender<IngestEvent>) -> Result<(), BoxError> {
    sock.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    // Handshake.
    let mut hs = Handshake::new(PeerType::Server);
    let leftover = loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        match hs.process_bytes(&buf[..n]).map_err(|e| format!("handshake: {e:?}"))? {
            HandshakeProcessResult::InProgress { response_bytes } => sock.write_all(&response_bytes).await?,
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                sock.write_all(&response_bytes).await?;
                break remaining_bytes;
            }
        }
    };
    let (mut session, initial) = ServerSession::new(ServerSessionConfig::new()).map_err(|e| format!("session: {e:?}"))?;
    let mut conn = Conn { publishing: None, close: false };
    let mut pending = initial;
    pending.extend(session.handle_input(&leftover).map_err(|e| format!("input: {e:?}"))?);
    let result = async {
        loop {
            // Results can raise requests whose answers produce more results: work through them all.
            while !pending.is_empty() {
                let mut next = Vec::new();
                for r in pending.drain(..) {
                    match r {
                        ServerSessionResult::OutboundResponse(p) => sock.write_all(&p.bytes).await?,
                        ServerSessionResult::RaisedEvent(ev) => next.extend(handle_event(ev, &mut session, &mut conn, peer, &keys, &events).await?),
                        ServerSessionResult::UnhandleableMessageReceived(_) => {}
                    }
                }
                pending = next;
            }
            if conn.close {
                // A refused publisher has had its answer; nothing more is wanted from it.
                return Ok(());
            }
            let n = sock.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), BoxError>(());
            }
            pending = session.handle_input(&buf[..n]).map_err(|e| format!("input: {e:?}"))?;
        }
    }
    .await;
    if let Some(p) = conn.publishing.take() {
        tracing::info!(app = %p.app, key = %p.key, %peer, "publisher ended");
        let _ = events.send(IngestEvent::Ended { app: p.app, key: p.key });
    }
    result
}

async fn handle_event(
    ev: ServerSessionEvent,
    session: &mut ServerSession,
    conn: &mut Conn,
    peer: SocketAddr,
    keys: &Arc<dyn StreamKeys>,
    events: &mpsc::UnboundedSender<IngestEvent>,
) -> Result<Vec<ServerSessionResult>, BoxError> {
    let err = |e: rml_rtmp::sessions::ServerSessionError| -> BoxError { format!("{e:?}").into() };
    Ok(match ev {
        ServerSessionEvent::ConnectionRequested { request_id, .. } => session.accept_request(request_id).map_err(err)?,
        ServerSessionEvent::PublishStreamRequested { request_id, app_name, stream_key, .. } => match keys.check(&app_name, &stream_key) {
            Ok(()) => {
                let (tx, rx) = mpsc::channel(PIPE_CHUNKS);
                tx.send(flv_header()).await?;
                tracing::info!(app = %app_name, key = %stream_key, %peer, "publisher accepted");
                let _ = events.send(IngestEvent::Published { app: app_name.clone(), key: stream_key.clone(), peer, reader: FlvReader { rx, cur: Bytes::new() } });
                conn.publishing = Some(Publishing { app: app_name, key: stream_key, tx });
                session.accept_request(request_id).map_err(err)?
            }
            Err(reason) => {
                tracing::warn!(app = %app_name, key = %stream_key, %peer, %reason, "publish refused");
                let _ = events.send(IngestEvent::Refused { app: app_name, key: stream_key, peer, reason: reason.clone() });
                conn.close = true;
                session.reject_request(request_id, "NetStream.Publish.BadName", &reason).map_err(err)?
            }
        },
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
                tracing::info!(app = %p.app, key = %p.key, %peer, "publisher finished");
                let _ = events.send(IngestEvent::Ended { app: p.app, key: p.key });
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
