//! HLS playlists and segments of sessions and their views, as costream serves them.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, ErrorBody};

#[utoipa::path(get, path = "/sessions/{id}/hls/{file}", params(("id" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "HLS playlist or segment"), (status = 404, body = ErrorBody)))]
pub(super) async fn hls_file(State(s): State<AppState>, Path((id, file)): Path<(String, String)>) -> Response {
    serve_hls(&s, &id, None, &file).await
}

#[utoipa::path(get, path = "/sessions/{id}/views/{view}/hls/{file}", params(("id" = String, Path), ("view" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "HLS playlist or segment of one output of a PK session"), (status = 404, body = ErrorBody)))]
pub(super) async fn view_hls_file(
    State(s): State<AppState>,
    Path((id, view, file)): Path<(String, String, String)>,
) -> Response {
    serve_hls(&s, &id, Some(&view), &file).await
}

async fn serve_hls(s: &AppState, id: &str, view: Option<&str>, file: &str) -> Response {
    let safe = |v: &str| {
        !v.is_empty()
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            && !v.starts_with('.')
    };
    if !safe(id) || !safe(file) || !view.is_none_or(safe) || s.sessions.status(id).is_none() {
        return ApiError::not_found("no such HLS file").into_response();
    }
    if view.is_some() && s.sessions.renditions(id).is_some() {
        // Masked renditions only through signed per-viewer playlists.
        return ApiError::forbidden("renditions of a masked session are served through per-viewer playlists")
            .into_response();
    }

    let kind = if file.ends_with(".m3u8") {
        "application/vnd.apple.mpegurl"
    } else if file.ends_with(".ts") {
        "video/mp2t"
    } else {
        return ApiError::not_found("no such HLS file").into_response();
    };
    let dir = match view {
        Some(v) => s.sessions.hls_dir(id).join("views").join(v),
        None => s.sessions.hls_dir(id),
    };
    match tokio::fs::read(dir.join(file)).await {
        Ok(bytes) => {
            ([(axum::http::header::CONTENT_TYPE, kind), (axum::http::header::CACHE_CONTROL, "no-cache")], bytes)
                .into_response()
        }
        Err(_) => ApiError::not_found("no such HLS file").into_response(),
    }
}
