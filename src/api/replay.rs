//! A recorded session's replay without its pauses: an HLS VOD a player opens like the live
//! playlist, and an MP4 export that runs in the background (progress on `/events`).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::events::ServiceEvent;
use super::{blocking, ApiError, ApiResult, AppState, ErrorBody};

/// An id or file name as a request may give it: no path, no hidden file.
fn safe(v: &str) -> bool {
    !v.is_empty() && !v.starts_with('.') && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn checked(s: &AppState, id: &str) -> ApiResult<()> {
    if !safe(id) || !s.sessions.hls_dir(id).is_dir() {
        return Err(ApiError::not_found(format!("session {id} not found")));
    }
    if s.sessions.renditions(id).is_some() {
        return Err(ApiError::forbidden("a masked session has no replay: its viewers each see their own"));
    }
    Ok(())
}

#[utoipa::path(get, path = "/sessions/{id}/replay.m3u8", params(("id" = String, Path)),
    responses((status = 200, description = "HLS VOD playlist of the recording, pauses left out"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn replay_playlist(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    checked(&s, &id)?;
    let sessions = s.sessions.clone();
    let text = blocking(move || {
        let path = sessions.replay_playlist(&id)?;
        Ok(std::fs::read_to_string(path).map_err(|e| ApiError::server("io_failed", &e))?)
    })
    .await?;
    // Its segments are served under replay/.
    let text: String = text
        .lines()
        .map(|l| if l.starts_with('#') || l.is_empty() { format!("{l}\n") } else { format!("replay/{l}\n") })
        .collect();
    Ok(([(header::CONTENT_TYPE, "application/vnd.apple.mpegurl"), (header::CACHE_CONTROL, "no-cache")], text)
        .into_response())
}

#[utoipa::path(get, path = "/sessions/{id}/replay/{file}", params(("id" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "a segment of the replay"), (status = 404, body = ErrorBody)))]
pub(super) async fn replay_segment(
    State(s): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    checked(&s, &id)?;
    if !safe(&file) || !file.ends_with(".ts") {
        return Err(ApiError::not_found("no such replay file"));
    }
    let path = s.sessions.hls_dir(&id).join("replay").join(file);
    let bytes = tokio::fs::read(path).await.map_err(|_| ApiError::not_found("no such replay file"))?;
    Ok(([(header::CONTENT_TYPE, "video/mp2t")], bytes).into_response())
}

/// An export of a replay, as it stands.
#[derive(Serialize, ToSchema)]
pub struct ExportView {
    pub session_id: String,
    /// `running`, `done` or `failed`.
    pub state: &'static str,
    /// Where the MP4 is fetched once done.
    pub url: String,
}

#[utoipa::path(post, path = "/sessions/{id}/replay/export", params(("id" = String, Path)),
    responses((status = 202, body = ExportView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn export_replay(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<ExportView>)> {
    checked(&s, &id)?;
    let sessions = s.sessions.clone();
    let pieces = {
        let (sessions, id) = (sessions.clone(), id.clone());
        blocking(move || Ok(sessions.replay_pieces(&id)?)).await?
    };
    drop(pieces);
    if !sessions.begin_export(&id) {
        return Err(crate::session::replay::ReplayError::Busy.into());
    }
    let (st, sid) = (s.clone(), id.clone());
    tokio::task::spawn_blocking(move || {
        let send = |state: &'static str, progress: f64, duration_s: Option<f64>, error: Option<String>| {
            let session_id = sid.clone();
            st.emit(ServiceEvent::ReplayExport { session_id, state: state.into(), progress, duration_s, error });
        };
        let mut last = -1.0;
        let result = sessions.export_replay(&sid, |p| {
            // A tenth at a time is plenty for a progress bar.
            if p - last >= 0.1 {
                last = p;
                send("running", (p * 100.0).round() / 100.0, None, None);
            }
        });
        match result {
            Ok(w) => send("done", 1.0, Some(w.duration_s), None),
            Err(e) => {
                tracing::error!(session = %sid, error = %e, "replay export failed");
                send("failed", last.max(0.0), None, Some(e.to_string()))
            }
        }
    });
    let url = format!("/sessions/{id}/replay.mp4");
    Ok((StatusCode::ACCEPTED, Json(ExportView { session_id: id, state: "running", url })))
}

#[utoipa::path(get, path = "/sessions/{id}/replay.mp4", params(("id" = String, Path)),
    responses((status = 200, description = "the exported replay (byte ranges served, for seeking)"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn replay_mp4(
    State(s): State<AppState>,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    checked(&s, &id)?;
    if s.sessions.exporting(&id) {
        return Err(crate::session::replay::ReplayError::Busy.into());
    }
    let path = s.sessions.hls_dir(&id).join("replay.mp4");
    if !path.is_file() {
        return Err(ApiError::not_found("no exported replay: POST /sessions/{id}/replay/export first"));
    }
    use tower::ServiceExt;
    let served = tower_http::services::ServeFile::new(path).oneshot(req).await;
    match served {
        Ok(r) => Ok(r.into_response()),
        Err(e) => Err(ApiError::server("io_failed", &e)),
    }
}
