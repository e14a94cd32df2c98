//! Room routes: rooms, their stream keys and their push destinations.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::auth::Caller;
use super::rooms_wire::{
    ttl, CreateDestination, CreateRoom, DestinationView, NewRoom, RegenerateKey, RoomView, StreamKeyView,
};
use super::{db, ApiError, ApiResult, AppState, ErrorBody};
use crate::store::Room;

pub(super) fn view(s: &AppState, room: Room) -> RoomView {
    let crate::rooms::LiveSources { live, shown, sources } = s.rooms.sources(&room.id);
    let paused = super::pause_wire::pause_of(s, &room.id);
    let away_since = s.rooms.away_since(&room.id);
    let sources = sources.into_iter().map(Into::into).collect();
    let public = s.rooms.is_public(&room.id);
    RoomView { paused, away_since, source: shown, sources, public, ..RoomView::new(room, live.map(Into::into)) }
}

#[utoipa::path(post, path = "/rooms", request_body = CreateRoom,
    responses((status = 201, body = RoomView), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(super) async fn create_room(
    State(s): State<AppState>,
    body: Result<Json<CreateRoom>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RoomView>)> {
    let Json(b) = body?;
    let NewRoom { name, platform, key_ttl_s, platforms } = b.try_into()?;
    let ttl_s = key_ttl_s.unwrap_or(s.key_ttl_s);
    let max = s.max_rooms;
    let st = s.clone();
    // The platforms are checked first, and a platform that fails undoes the room: a failed
    // creation leaves nothing behind.
    let (room, on) = super::blocking(move || {
        for p in &platforms {
            st.platforms.get(p)?;
        }
        let room = st.store.create_room_within(&name, &platform, ttl_s, max)?;
        let on = super::platforms::bind_all(&st, &crate::platforms::RoomRef { id: room.id.clone(), name }, &platforms)
            .and_then(|()| super::platforms::bindings_for(&st, &room, true));
        match on {
            Ok(on) => Ok((room, on)),
            Err(e) => {
                st.platforms.release_room(&room.id);
                let _ = st.store.delete_room(&room.id);
                Err(e)
            }
        }
    })
    .await?;
    Ok((StatusCode::CREATED, Json(RoomView { platforms: Some(on), ..view(&s, room) })))
}

#[utoipa::path(get, path = "/rooms", responses((status = 200, body = [RoomView])))]
pub(super) async fn list_rooms(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<RoomView>>> {
    let rooms = db(&s, |st| st.rooms()).await?;
    let mine = |r: &Room| caller.may_touch(std::slice::from_ref(&r.id));
    Ok(Json(rooms.into_iter().filter(mine).map(|r| view(&s, r)).collect()))
}

#[utoipa::path(get, path = "/rooms/{id}", params(("id" = String, Path)),
    responses((status = 200, body = RoomView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_room(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<RoomView>> {
    let st = s.clone();
    let (room, on) = super::blocking(move || {
        let room = st.store.room(&id)?;
        let on = super::platforms::bindings_for(&st, &room, false)?;
        Ok((room, on))
    })
    .await?;
    Ok(Json(RoomView { platforms: Some(on), ..view(&s, room) }))
}

#[utoipa::path(delete, path = "/rooms/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_room(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let st = s.clone();
    super::blocking(move || {
        st.store.room(&id)?;
        st.platforms.release_room(&id);
        Ok(st.store.delete_room(&id)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/rooms/{id}/key", params(("id" = String, Path)), request_body(content = RegenerateKey, description = "optional"),
    responses((status = 200, body = StreamKeyView), (status = 404, body = ErrorBody)))]
pub(super) async fn regenerate_key(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<StreamKeyView>> {
    // The body is optional: an empty POST regenerates with the default lifetime.
    let b: RegenerateKey = super::optional_json(body)?;
    let ttl_s = b.key_ttl_s.map(ttl).transpose()?.unwrap_or(s.key_ttl_s);
    Ok(Json(db(&s, move |st| st.regenerate_key(&id, ttl_s)).await?.into()))
}

#[utoipa::path(get, path = "/rooms/{id}/destinations", params(("id" = String, Path)),
    responses((status = 200, body = [DestinationView]), (status = 404, body = ErrorBody)))]
pub(super) async fn list_destinations(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<DestinationView>>> {
    Ok(Json(db(&s, move |st| st.destinations(&id)).await?.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/rooms/{id}/destinations", params(("id" = String, Path)), request_body = CreateDestination,
    responses((status = 201, body = DestinationView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn add_destination(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<CreateDestination>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<DestinationView>)> {
    let Json(b) = body?;
    let url = b.url.trim().to_string();
    s.url_policy.check_output(&url).map_err(ApiError::refused)?;
    Ok((StatusCode::CREATED, Json(db(&s, move |st| st.add_destination(&id, &url)).await?.into())))
}

#[utoipa::path(delete, path = "/rooms/{id}/destinations/{dst}", params(("id" = String, Path), ("dst" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_destination(
    State(s): State<AppState>,
    Path((id, dst)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    db(&s, move |st| st.delete_destination(&id, &dst)).await?;
    Ok(StatusCode::NO_CONTENT)
}
