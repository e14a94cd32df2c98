//! Pause routes: a room shows a slate instead of its anchor, in every output that shows it, until
//! it is resumed. An anchor's token reaches its own room's.

use axum::extract::{Path, State};
use axum::Json;

use super::pause_wire::PauseRequest;
use super::rooms::view;
use super::rooms_wire::RoomView;
use super::{blocking, db, ApiResult, AppState, ErrorBody};
use crate::rooms::PauseAudio;

#[utoipa::path(post, path = "/rooms/{id}/pause", params(("id" = String, Path)), request_body(content = PauseRequest, description = "optional"),
    responses((status = 200, body = RoomView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn pause_room(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<RoomView>> {
    // The body is optional: an empty POST pauses with the defaults.
    let req: PauseRequest = super::optional_json(body)?;
    let audio: PauseAudio = req.try_into()?;
    let rooms = s.rooms.clone();
    let room_id = id.clone();
    blocking(move || Ok(rooms.pause(&room_id, audio)?)).await?;
    let room = db(&s, move |st| st.room(&id)).await?;
    Ok(Json(view(&s, room)))
}

#[utoipa::path(post, path = "/rooms/{id}/resume", params(("id" = String, Path)),
    responses((status = 200, body = RoomView), (status = 404, body = ErrorBody)))]
pub(super) async fn resume_room(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<RoomView>> {
    let room_id = id.clone();
    let room = db(&s, move |st| st.room(&room_id)).await?;
    let rooms = s.rooms.clone();
    blocking(move || Ok(rooms.resume(&id)?)).await?;
    Ok(Json(view(&s, room)))
}
