//! Pause and source routes: a room shows a slate instead of its anchor, in every output that
//! shows it, until it is resumed; or another of its sources. An anchor's token reaches its own
//! room's.

use axum::extract::{Path, State};
use axum::Json;

use super::pause_wire::{PauseChoice, PauseRequest};
use super::rooms::view;
use super::rooms_wire::{RoomView, ShowSource};
use super::{blocking, ApiResult, AppState, ErrorBody};

#[utoipa::path(post, path = "/rooms/{id}/pause", params(("id" = String, Path)), request_body(content = PauseRequest, description = "optional"),
    responses((status = 200, body = RoomView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn pause_room(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<RoomView>> {
    // The body is optional: an empty POST pauses with the defaults.
    let req: PauseRequest = super::optional_json(body)?;
    let PauseChoice { slate, audio } = req.try_into()?;
    let (rooms, store, polls) = (s.rooms.clone(), s.store.clone(), s.polls.clone());
    let room = blocking(move || {
        rooms.pause(&id, &slate, audio)?;
        // The room's configured poll opens in every session that shows it.
        polls.room_paused(&id);
        Ok(store.room(&id)?)
    })
    .await?;
    Ok(Json(view(&s, room)))
}

#[utoipa::path(post, path = "/rooms/{id}/resume", params(("id" = String, Path)),
    responses((status = 200, body = RoomView), (status = 404, body = ErrorBody)))]
pub(super) async fn resume_room(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<RoomView>> {
    let (rooms, store, polls) = (s.rooms.clone(), s.store.clone(), s.polls.clone());
    let room = blocking(move || {
        // An unknown room is a 404 before anything else.
        let room = store.room(&id)?;
        rooms.resume(&id)?;
        polls.room_resumed(&id);
        Ok(room)
    })
    .await?;
    Ok(Json(view(&s, room)))
}

#[utoipa::path(post, path = "/rooms/{id}/source", params(("id" = String, Path)), request_body = ShowSource,
    responses((status = 200, body = RoomView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(super) async fn show_source(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<ShowSource>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<RoomView>> {
    let Json(ShowSource { name }) = body?;
    let (rooms, store) = (s.rooms.clone(), s.store.clone());
    let room = blocking(move || {
        rooms.show_source(&id, &name)?;
        Ok(store.room(&id)?)
    })
    .await?;
    Ok(Json(view(&s, room)))
}

#[utoipa::path(post, path = "/sessions/{id}/inputs/{k}/pause", params(("id" = String, Path), ("k" = usize, Path)),
    request_body(content = PauseRequest, description = "optional"),
    responses((status = 200, body = super::sessions_wire::SessionView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn pause_input(
    State(s): State<AppState>,
    Path((id, k)): Path<(String, String)>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<super::sessions_wire::SessionView>> {
    let k = input_index(&k)?;
    let req: PauseRequest = super::optional_json(body)?;
    let PauseChoice { slate, audio } = req.try_into()?;
    blocking(move || {
        s.sessions.pause_input(&id, k, &slate, audio)?;
        super::sessions::view(&s, &id)
    })
    .await
}

#[utoipa::path(post, path = "/sessions/{id}/inputs/{k}/resume", params(("id" = String, Path), ("k" = usize, Path)),
    responses((status = 200, body = super::sessions_wire::SessionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn resume_input(
    State(s): State<AppState>,
    Path((id, k)): Path<(String, String)>,
) -> ApiResult<Json<super::sessions_wire::SessionView>> {
    let k = input_index(&k)?;
    blocking(move || {
        s.sessions.resume_input(&id, k)?;
        super::sessions::view(&s, &id)
    })
    .await
}

/// An input's index in a path.
fn input_index(k: &str) -> ApiResult<usize> {
    k.parse().map_err(|_| super::ApiError::invalid("k: an input's index in the session's inputs (0, 1, …)"))
}
