//! The pages the service serves itself: the console (`/console`) and the viewer page
//! (`/watch/{session}`), with their scripts, styles and the vendored hls.js embedded in the binary
//! (`web/pages`, `web/vendor`), so a release build serves them offline. Every page answer carries
//! a Content-Security-Policy that allows this origin only (and `blob:` media, which Media Source
//! playback needs).

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use include_dir::{include_dir, Dir};
use serde::Serialize;
use utoipa::ToSchema;

use super::signed::check_id;
use super::{ApiError, ApiResult, AppState, ErrorBody, ServiceEvent};

static PAGES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/web/pages");
static VENDOR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/web/vendor");

/// Scripts, styles, media and API calls from this origin only; no inline script, no frames, no
/// plug-ins.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     media-src 'self' blob:; font-src 'self'; connect-src 'self'; worker-src 'none'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ttf") => "font/ttf",
        _ => "application/octet-stream",
    }
}

/// An embedded file, with the page headers every answer here carries.
fn file(dir: &'static Dir<'static>, name: &str) -> ApiResult<Response> {
    let f = dir.get_file(name).ok_or_else(|| ApiError::not_found("no such file"))?;
    Ok(bytes(name, f.contents()))
}

fn bytes(name: &str, body: &'static [u8]) -> Response {
    // The font and the vendored scripts change only with the binary; the pages' own files are
    // checked again at every load.
    let cache = match name.ends_with(".ttf") || VENDOR.get_file(name).is_some() {
        true => "public, max-age=86400",
        false => "no-cache",
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type(name))),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
    ];
    (headers, body).into_response()
}

pub(super) async fn console_page() -> ApiResult<Response> {
    file(&PAGES, "console.html")
}

pub(super) async fn watch_page(Path(id): Path<String>) -> ApiResult<Response> {
    check_id("session", &id)?;
    file(&PAGES, "watch.html")
}

/// `/assets/{file}`: the pages' own files, then the vendored ones.
pub(super) async fn asset(Path(name): Path<String>) -> ApiResult<Response> {
    check_id("file", &name)?;
    if name == "cjk.ttf" {
        // The font the overlays draw CJK with (already in the binary).
        return Ok(bytes(&name, crate::compose::overlay::CJK_FONT));
    }
    if PAGES.get_file(&name).is_some() {
        file(&PAGES, &name)
    } else {
        file(&VENDOR, &name)
    }
}

/// What the viewer page needs to know about a session before a viewer's credential is used: its
/// public playlist when it has one, the channel its viewer tokens and polls belong to, and its
/// open poll. Nothing else about the session is public.
#[derive(Serialize, ToSchema)]
pub struct WatchInfo {
    pub session: String,
    /// A playlist anyone may play (the session is a public room's output); null: a viewer link is
    /// needed.
    pub public_hls: Option<String>,
    /// The masking channel (a masked session: viewers play their own rendition with its tokens).
    pub channel: Option<String>,
    /// The poll open now, if any.
    pub poll: Option<String>,
    /// The platform's gift payment page (`{channel}` and `{token}` to fill in); null: no gifts
    /// from the page.
    pub gift_url: Option<String>,
}

#[utoipa::path(get, path = "/watch/{id}/info", params(("id" = String, Path)),
    responses((status = 200, body = WatchInfo), (status = 404, body = ErrorBody)))]
pub(super) async fn watch_info(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<WatchInfo>> {
    check_id("session", &id)?;
    let rooms = s.sessions.rooms_of(&id).ok_or_else(|| ApiError::not_found("no such session on air"))?;
    let public_hls = rooms
        .iter()
        .find(|r| s.rooms.is_public(r) && s.sessions.output_of_room(r).is_some_and(|(ses, _)| ses == id))
        .map(|r| format!("/rooms/{r}/live/index.m3u8"));
    let channel = s.sessions.renditions(&id).map(|r| r.masking.channel.clone());
    let polls = s.polls.clone();
    let sid = id.clone();
    let open = super::blocking(move || Ok(polls.of_session(&sid)?)).await?;
    let poll = open.into_iter().rev().find(|p| p.closed_at_ms.is_none()).map(|p| p.id);
    Ok(Json(WatchInfo { session: id, public_hls, channel, poll, gift_url: s.gift_url.clone() }))
}

/// `/watch/{id}/events`: what the viewer page shows live, and nothing else of the service: the
/// session's polls (opened, counts, closed), its rooms' pauses and resumes, and its end.
pub(super) async fn watch_events(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>>> {
    check_id("session", &id)?;
    let rooms = s.sessions.rooms_of(&id).ok_or_else(|| ApiError::not_found("no such session on air"))?;
    Ok(super::events::serve(&s, move |e| match e {
        ServiceEvent::PollOpened { poll } | ServiceEvent::PollCounts { poll } | ServiceEvent::PollClosed { poll } => {
            poll.session_id == id
        }
        ServiceEvent::RoomPaused { room_id, .. } | ServiceEvent::RoomResumed { room_id, .. } => rooms.contains(room_id),
        ServiceEvent::SessionStopped { session_id, .. } => *session_id == id,
        _ => false,
    }))
}
