//! Viewers' signed playlists: a rendition's live playlist with every segment URL signed and
//! expiring, built at most every [`PLAYLIST_TTL`] however many viewers ask; and, for a viewer whose
//! rendition changes (a level change, a stand-in replaced by their own), a playlist that keeps the
//! segments already listed to them from the rendition they had. Players (hls.js) refuse a playlist
//! whose segment n changed its URL between two loads; every rendition shares the segments'
//! numbering, names and timestamps, so the switch is at the next segment with no discontinuity.

use std::path::PathBuf;
use std::time::Instant;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};

use super::signed::url_sig;
use super::{ApiError, ApiResult, AppState};
use crate::sys::lock;

/// How long a built viewer playlist is served before it is built again (a fraction of a segment).
const PLAYLIST_TTL: std::time::Duration = std::time::Duration::from_millis(250);

/// The rendition name of a session's one output (its files are in the session's directory).
pub(super) const MAIN_RENDITION: &str = "-";

/// Where a rendition's files are: a view's directory, or the session's own.
pub(super) fn rendition_dir(s: &AppState, session: &str, rendition: &str) -> PathBuf {
    let dir = s.sessions.hls_dir(session);
    if rendition == MAIN_RENDITION {
        dir
    } else {
        dir.join("views").join(rendition)
    }
}

/// A viewer's last playlist: its rendition, the newest segment it listed, and the renditions of
/// segments listed before switches (segments numbered below `.1` come from `.0`).
pub struct Served {
    rendition: String,
    last: Option<u64>,
    earlier: Vec<(String, u64)>,
}

/// Viewers remembered at most (past it the memory starts again: a viewer then gets a plain
/// playlist, which is right unless they switch in that very second).
const MAX_SERVED: usize = 200_000;

/// The number of a segment file (`index_00042.ts` → 42).
fn segment_number(name: &str) -> Option<u64> {
    name.rsplit_once('_')?.1.split('.').next()?.parse().ok()
}

fn respond(body: Bytes) -> Response {
    let headers = [
        (axum::http::header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
        (axum::http::header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, body).into_response()
}

/// How long a playlist request waits for a running session's first segment. Players take a 404
/// on their first playlist as fatal (hls.js, Safari's native player, GStreamer's hlsdemux), and a
/// viewer's link is often opened the moment a session starts.
const FIRST_SEGMENT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A rendition's playlist file as FFmpeg wrote it last, waited for while the session runs and has
/// none yet.
pub(super) async fn read_playlist(s: &AppState, id: &str, r: &str) -> ApiResult<String> {
    let path = rendition_dir(s, id, r).join("index.m3u8");
    let until = Instant::now() + FIRST_SEGMENT_WAIT;
    loop {
        // (a playlist being rewritten may be read empty)
        if let Some(t) = tokio::fs::read_to_string(&path).await.ok().filter(|t| t.starts_with("#EXTM3U")) {
            return Ok(t);
        }
        if Instant::now() >= until || s.sessions.rooms_of(id).is_none() {
            return Err(ApiError::not_found("no segments yet"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The playlist with each segment's URL signed for the rendition `pick` gives its number.
fn signed_body<'a>(s: &AppState, id: &str, text: &str, pick: impl Fn(Option<u64>) -> &'a str) -> Bytes {
    let exp = crate::store::now_s() as u64 + s.segment_url_ttl_s;
    let body: String = text
        .lines()
        .map(|l| {
            if l.starts_with('#') || l.trim().is_empty() {
                l.to_string()
            } else {
                let r = pick(segment_number(l));
                format!("/sessions/{id}/r/{r}/{l}?exp={exp}&sig={}", url_sig(&s.url_key, id, r, l, exp))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    Bytes::from(body)
}

fn segments(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(segment_number)
}

/// A rendition's signed playlist, the same for all its viewers.
pub(super) async fn signed_playlist(s: &AppState, id: String, r: String) -> ApiResult<Response> {
    Ok(respond(shared_playlist(s, id, r).await?.0))
}

/// A rendition's signed playlist and its newest segment, rebuilt at most every [`PLAYLIST_TTL`].
async fn shared_playlist(s: &AppState, id: String, r: String) -> ApiResult<(Bytes, Option<u64>)> {
    let key = (id, r);
    if let Some((at, body, last)) = lock(&s.viewer_cache.playlists).get(&key) {
        if at.elapsed() < PLAYLIST_TTL {
            return Ok((body.clone(), *last));
        }
    }
    let (id, r) = key;
    let text = read_playlist(s, &id, &r).await?;
    let body = signed_body(s, &id, &text, |_| r.as_str());
    let last = segments(&text).max();
    lock(&s.viewer_cache.playlists).insert((id, r), (Instant::now(), body.clone(), last));
    Ok((body, last))
}

/// Viewer `token`'s playlist of rendition `r` of session `id`, the segments listed to them before
/// a switch staying those of the rendition they came from.
pub(super) async fn viewer_playlist(s: &AppState, id: String, token: String, r: String) -> ApiResult<Response> {
    let key = (id, token);
    let mut earlier = Vec::new();
    if let Some(p) = lock(&s.viewer_cache.served).get(&key) {
        earlier.clone_from(&p.earlier);
        if let (true, Some(last)) = (p.rendition != r, p.last) {
            earlier.push((p.rendition.clone(), last + 1));
        }
    }
    let (body, last) = if earlier.is_empty() {
        shared_playlist(s, key.0.clone(), r.clone()).await?
    } else {
        let text = read_playlist(s, &key.0, &r).await?;
        // Switches older than the playlist's window are forgotten.
        let first = segments(&text).min().unwrap_or(0);
        earlier.retain(|e| e.1 > first);
        let pick =
            |n: Option<u64>| n.and_then(|n| earlier.iter().find(|e| n < e.1)).map_or(r.as_str(), |e| e.0.as_str());
        (signed_body(s, &key.0, &text, pick), segments(&text).max())
    };
    let mut served = lock(&s.viewer_cache.served);
    if served.len() >= MAX_SERVED {
        served.clear();
    }
    served.insert(key, Served { rendition: r, last, earlier });
    Ok(respond(body))
}
