//! Publishers that reach the service through an RTMP tier in front of it (nginx-rtmp calling
//! `on_publish` and `on_publish_done`): the tier asks whether a key may publish, refused exactly as
//! our own ingest would refuse it, and this node then pulls the stream from the tier into the
//! room's feed as if it had been published here. The tier's end of the stream ends it here.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{Media, RoomEvent, Rooms};
use crate::ingest::rtmp::{Refusal, RoomId, StreamKeys, StreamName};
use crate::sys::{lock, redact_key};

impl Rooms {
    /// The tier at `tier` (`rtmp://host:port`) announces a publish of `app`/`name` by its client
    /// `client` from `peer`: refused (and reported) as our ingest would, else pulled from the tier.
    pub fn publish_pulled(
        self: &Arc<Self>,
        tier: &str,
        (app, name, client): (&str, &str, &str),
        peer: SocketAddr,
    ) -> Result<RoomId, Refusal> {
        let stream = StreamName::parse(app, name);
        let (key, source) = (redact_key(&stream.key), stream.source.clone());
        let room = match self.check(&stream) {
            Ok(room) => room,
            Err(reason) => {
                tracing::warn!(app, %key, %source, %peer, %reason, "publish through the RTMP tier refused");
                let (peer, why) = (peer.to_string(), reason.to_string());
                self.emit(RoomEvent::PublishRefused { key, peer, reason: why });
                return Err(reason);
            }
        };
        tracing::info!(app, %key, %source, %peer, "publisher accepted through the RTMP tier");
        lock(&self.pulled).insert(pulled_name(app, name), (room.clone(), source.clone(), client.to_string()));
        // The stream is played under the names nginx has for it; the key stays out of the URL
        // (see `InputOptions::rtmp_playpath`).
        let url = format!("{}/{}", tier.trim_end_matches('/'), app.trim_matches('/'));
        self.published(room.clone(), source, peer, Media::Pull(url, name.to_string()));
        Ok(room)
    }

    /// The tier says its client `client` stopped publishing `app`/`name`: the pull stops, as when
    /// a publisher of our own ingest leaves (the last frame holds, then the slate). nginx says so
    /// for a publisher it refused too: only the client being pulled ends the pull.
    pub fn unpublish_pulled(self: &Arc<Self>, (app, name, client): (&str, &str, &str)) -> bool {
        let name = pulled_name(app, name);
        let (room, source) = {
            let mut pulled = lock(&self.pulled);
            let pulled_client = pulled.get(&name).map(|p| p.2.as_str());
            if pulled_client != Some(client) {
                tracing::info!(app, client, ?pulled_client, "the RTMP tier ended a publisher this node does not pull");
                return false;
            }
            let Some((room, source, _)) = pulled.remove(&name) else { return false };
            (room, source)
        };
        tracing::info!(app, %room, %source, client, "publisher ended through the RTMP tier");
        self.release(&room, &source);
        self.ended(room, source);
        true
    }
}

/// How the tier names a stream (the key is in it: kept in memory only, never logged).
fn pulled_name(app: &str, name: &str) -> String {
    format!("{}/{}", app.trim_matches('/'), name.trim_matches('/'))
}
