//! Playback any player can open: a room's viewer gets a playlist URL whose credential is in its
//! path (a viewer token of the room) and segment URLs signed and expiring, so no header is needed
//! (GStreamer, Safari's native player, a CDN). Issued by an operator, the room's anchor, or the
//! platform's backend signing with its secret.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::playlists::{read_playlist, rendition_dir, signed_playlist, MAIN_RENDITION};
use super::signed::{check_id, platform_signed};
use super::{ApiError, ApiResult, AppState, ErrorBody};
use crate::session::unlock::viewer_token;
use crate::sys::lock;

/// The segments viewers fetched last, in memory: a live stream's viewers all want the newest few,
/// and a listed segment never changes (a session's segment names are never reused: a resumed
/// playlist goes on with its numbering). At most [`SEGMENT_CACHE_BYTES`], the oldest going first.
#[derive(Default)]
pub struct SegmentCache {
    files: HashMap<PathBuf, Bytes>,
    order: VecDeque<PathBuf>,
    bytes: usize,
}

pub const SEGMENT_CACHE_BYTES: usize = 64 << 20;

impl SegmentCache {
    fn put(&mut self, path: PathBuf, b: Bytes) {
        self.bytes += b.len();
        if self.files.insert(path.clone(), b).is_none() {
            self.order.push_back(path);
        }
        while self.bytes > SEGMENT_CACHE_BYTES {
            let Some(old) = self.order.pop_front() else { break };
            self.bytes -= self.files.remove(&old).map_or(0, |b| b.len());
        }
    }
}

/// A listed segment's bytes, from memory when a viewer fetched it already.
pub(super) async fn segment(s: &AppState, path: PathBuf) -> ApiResult<Bytes> {
    if let Some(b) = lock(&s.viewer_cache.segments).files.get(&path) {
        return Ok(b.clone());
    }
    let b = Bytes::from(tokio::fs::read(&path).await.map_err(|_| ApiError::not_found("no such segment"))?);
    lock(&s.viewer_cache.segments).put(path, b.clone());
    Ok(b)
}

/// Verified room viewer tokens kept at most (past it the memory starts again).
const MAX_KNOWN_VIEWERS: usize = 200_000;

/// The audience id of a room's viewer token, verified the first time it is seen.
fn known_viewer(s: &AppState, room: &str, token: &str) -> ApiResult<String> {
    if let Some((r, v)) = lock(&s.viewer_cache.room_viewers).get(token) {
        if r == room {
            return Ok(v.clone());
        }
    }
    if viewer_token::verify(&s.viewer_token_keys(), room, token).is_none() {
        return Err(ApiError::forbidden("this viewer token was not issued for this room"));
    }
    let v = viewer_id(token);
    let mut known = lock(&s.viewer_cache.room_viewers);
    if known.len() >= MAX_KNOWN_VIEWERS {
        known.clear();
    }
    known.insert(token.to_string(), (room.to_string(), v.clone()));
    Ok(v)
}

/// A viewer's id in the audience: the first 16 bytes of their token's SHA-256 (the token itself
/// is a credential and is never listed).
pub(super) fn viewer_id(token: &str) -> String {
    crate::store::token_hash(token)[..32].to_string()
}

/// What a viewer may be issued with: the name the platform knows them by.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewRoomViewer {
    pub name: Option<String>,
}

/// A room's new viewer.
#[derive(Serialize, ToSchema)]
pub struct RoomViewer {
    /// The viewer's token (a viewer token of the channel named like the room).
    pub viewer: String,
    /// The viewer's playlist, on this service; no header needed.
    pub url: String,
    /// Unix seconds.
    pub issued_at: i64,
}

/// An operator, the room's anchor, or the platform's backend (signed) may issue a viewer.
async fn may_issue(s: &AppState, headers: &HeaderMap, body: &[u8], room: &str) -> ApiResult<()> {
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let caller = super::auth::authenticate(s, auth).await?;
        return match caller.may_touch(&[room.to_string()]) {
            true => Ok(()),
            false => Err(ApiError::forbidden("this token may act on its own room only")),
        };
    }
    if headers.contains_key("x-signature") {
        return platform_signed(s, headers, body);
    }
    Err(ApiError::unauthorized("unauthorized", "an API token or the platform's signature is needed"))
}

#[utoipa::path(post, path = "/rooms/{id}/viewers", params(("id" = String, Path)),
    request_body(content = NewRoomViewer, description = "optional; from the platform's backend, what it signed"),
    responses((status = 201, body = RoomViewer), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn issue_room_viewer(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, Json<RoomViewer>)> {
    check_id("room", &id)?;
    let body = body?;
    may_issue(&s, &headers, &body, &id).await?;
    let req: NewRoomViewer = super::optional_json(Ok(body))?;
    if req.name.as_ref().is_some_and(|n| n.chars().count() > 64) {
        return Err(ApiError::invalid("name: at most 64 characters"));
    }
    let room = id.clone();
    super::db(&s, move |st| st.room(&room)).await?;
    let issued_at = crate::store::now_s();
    let viewer = viewer_token::issue(&s.url_key, &id, issued_at);
    if let Some(name) = req.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        s.audience.named(&id, &viewer_id(&viewer), name);
    }
    let url = format!("/rooms/{id}/viewers/{viewer}/index.m3u8");
    Ok((StatusCode::CREATED, Json(RoomViewer { viewer, url, issued_at })))
}

#[utoipa::path(get, path = "/rooms/{id}/viewers/{token}/index.m3u8", params(("id" = String, Path), ("token" = String, Path)),
    responses((status = 200, description = "The room's live playlist, its segments signed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn room_playlist(
    State(s): State<AppState>,
    Path((id, token)): Path<(String, String)>,
) -> ApiResult<Response> {
    check_id("room", &id)?;
    check_id("token", &token)?;
    let viewer = known_viewer(&s, &id, &token)?;
    let (session, view) =
        s.sessions.output_of_room(&id).ok_or_else(|| ApiError::not_found("the room is not on air"))?;
    // Each fetch keeps the viewer counted as watching.
    s.audience.seen(&id, &viewer);
    signed_playlist(&s, session, view.unwrap_or_else(|| MAIN_RENDITION.to_string())).await
}

#[utoipa::path(put, path = "/rooms/{id}/public", params(("id" = String, Path)), request_body = super::rooms_wire::RoomPublic,
    responses((status = 200, body = super::rooms_wire::RoomView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn set_public(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<super::rooms_wire::RoomPublic>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<super::rooms_wire::RoomView>> {
    let Json(b) = body?;
    let st = s.clone();
    let room = super::blocking(move || {
        st.rooms.set_public(&id, b.public)?;
        Ok(st.store.room(&id)?)
    })
    .await?;
    Ok(Json(super::rooms::view(&s, room)))
}

/// A public room's playlist and segments. Segment URLs are plain and name their session and
/// rendition (`/rooms/{id}/live/{session}.{rendition}.{file}`), so a CDN may keep them for good
/// (another session's segment of the same name is another URL); a room that is not public is a
/// 404 here.
#[utoipa::path(get, path = "/rooms/{id}/live/{file}", params(("id" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "index.m3u8, or a segment"), (status = 404, body = ErrorBody)))]
pub(super) async fn public_file(
    State(s): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    check_id("room", &id)?;
    check_id("file", &file)?;
    if !s.rooms.is_public(&id) {
        return Err(ApiError::not_found("no public playback of this room"));
    }
    let (session, view) =
        s.sessions.output_of_room(&id).ok_or_else(|| ApiError::not_found("the room is not on air"))?;
    let rendition = view.unwrap_or_else(|| MAIN_RENDITION.to_string());
    let dir = rendition_dir(&s, &session, &rendition);
    if file == "index.m3u8" {
        let text = read_playlist(&s, &session, &rendition).await?;
        let text: String = text
            .lines()
            .map(|l| match l.starts_with('#') || l.trim().is_empty() {
                true => format!("{l}\n"),
                false => format!("{session}.{rendition}.{l}\n"),
            })
            .collect();
        let headers = [
            (axum::http::header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=1"),
        ];
        return Ok((headers, text).into_response());
    }
    let mut parts = file.splitn(3, '.');
    let (Some(ses), Some(r), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ApiError::not_found("no such segment"));
    };
    // Only the room's own output, as it is now.
    if ses != session || r != rendition || !name.ends_with(".ts") || name.starts_with('.') {
        return Err(ApiError::not_found("no such segment"));
    }
    let bytes = segment(&s, dir.join(name)).await?;
    // A segment never changes: a CDN may keep it.
    let headers = [
        (axum::http::header::CONTENT_TYPE, "video/mp2t"),
        (axum::http::header::CACHE_CONTROL, "public, max-age=86400, immutable"),
    ];
    Ok((headers, bytes).into_response())
}
