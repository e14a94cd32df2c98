//! `/platforms`: the platforms a room can go out on (an operator's), a room's place on each
//! (its anchor's too): push server, key, live address and statuses, new keys, and the audience a
//! platform pushes in (signed with that platform's secret, no token).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::platforms_wire::{
    AddRoomPlatform, AudiencePush, CreatePlatform, NewPlatformKey, PlatformView, RoomPlatformView,
};
use super::signed::check_id;
use super::{blocking, ApiError, ApiResult, AppState, ErrorBody};
use crate::platforms::{RoomRef, OWN};
use crate::store::Room;

#[utoipa::path(get, path = "/platforms", responses((status = 200, body = [PlatformView])))]
pub(super) async fn list_platforms(State(s): State<AppState>) -> ApiResult<Json<Vec<PlatformView>>> {
    let p = s.platforms.clone();
    let list = blocking(move || Ok(p.list()?)).await?;
    Ok(Json(std::iter::once(PlatformView::own()).chain(list.into_iter().map(Into::into)).collect()))
}

#[utoipa::path(post, path = "/platforms", request_body = CreatePlatform,
    responses((status = 201, body = PlatformView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn create_platform(
    State(s): State<AppState>,
    body: Result<Json<CreatePlatform>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<PlatformView>)> {
    let Json(b) = body?;
    let p = b.checked()?;
    let (pl, added) = (s.platforms.clone(), p.clone());
    blocking(move || Ok(pl.add(&added)?)).await?;
    tracing::info!(platform = %p.id, kind = p.kind.name(), "platform set up");
    Ok((StatusCode::CREATED, Json(p.into())))
}

#[utoipa::path(get, path = "/platforms/{id}", params(("id" = String, Path)),
    responses((status = 200, body = PlatformView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_platform(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<PlatformView>> {
    if id == OWN {
        return Ok(Json(PlatformView::own()));
    }
    let pl = s.platforms.clone();
    Ok(Json(blocking(move || Ok(pl.get(&id)?)).await?.into()))
}

#[utoipa::path(delete, path = "/platforms/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn delete_platform(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    if id == OWN {
        return Err(ApiError::conflict("costream is this service itself"));
    }
    let pl = s.platforms.clone();
    blocking(move || Ok(pl.delete(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A room on each of its platforms (`full_key`: the keys unmasked). Blocking.
pub(super) fn bindings_of(s: &AppState, room: &str, full_key: bool) -> ApiResult<Vec<RoomPlatformView>> {
    bindings_for(s, &s.store.room(room)?, full_key)
}

/// [`bindings_of`] a room already read. Blocking.
pub(super) fn bindings_for(s: &AppState, room: &Room, full_key: bool) -> ApiResult<Vec<RoomPlatformView>> {
    let own = (room.platform == OWN).then(|| {
        let address = if s.rooms.is_public(&room.id) { "live/index.m3u8" } else { "viewers" };
        (s.rooms.live(&room.id).is_some(), format!("/rooms/{}/{address}", room.id))
    });
    let list = s.platforms.bindings(room, own)?;
    Ok(list.into_iter().map(|b| RoomPlatformView::new(b, full_key)).collect())
}

fn one(s: &AppState, room: &str, platform: &str) -> ApiResult<RoomPlatformView> {
    bindings_of(s, room, true)?
        .into_iter()
        .find(|b| b.platform == platform)
        .ok_or_else(|| ApiError::not_found(format!("room {room} is not on platform {platform}")))
}

/// Creates a room on third-party platforms (checked to exist by the caller, before the room was
/// made); the first failure is answered. Blocking (HTTP).
pub(super) fn bind_all(s: &AppState, room: &RoomRef, platforms: &[String]) -> ApiResult<()> {
    for p in platforms {
        s.platforms.bind(room, p)?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/rooms/{id}/platforms", params(("id" = String, Path)),
    responses((status = 200, body = [RoomPlatformView]), (status = 404, body = ErrorBody)))]
pub(super) async fn room_platforms(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<RoomPlatformView>>> {
    Ok(Json(blocking(move || bindings_of(&s, &id, false)).await?))
}

#[utoipa::path(post, path = "/rooms/{id}/platforms", params(("id" = String, Path)), request_body = AddRoomPlatform,
    responses((status = 201, body = RoomPlatformView), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(super) async fn add_room_platform(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<AddRoomPlatform>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RoomPlatformView>)> {
    let Json(b) = body?;
    check_id("platform", &b.platform)?;
    let view = blocking(move || {
        let room = s.store.room(&id)?;
        if b.platform == OWN || s.platforms.binding(&id, &b.platform).is_ok() {
            return Err(ApiError::conflict(format!("room {id} is on {} already", b.platform)));
        }
        s.platforms.bind(&RoomRef { id: room.id, name: room.name }, &b.platform)?;
        one(&s, &id, &b.platform)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(delete, path = "/rooms/{id}/platforms/{p}", params(("id" = String, Path), ("p" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn remove_room_platform(
    State(s): State<AppState>,
    Path((id, p)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    if p == OWN {
        return Err(ApiError::conflict("a room is always on this service"));
    }
    let pl = s.platforms.clone();
    blocking(move || Ok(pl.unbind(&id, &p)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/rooms/{id}/platforms/{p}/key", params(("id" = String, Path), ("p" = String, Path)),
    responses((status = 200, body = RoomPlatformView), (status = 404, body = ErrorBody)))]
pub(super) async fn reveal_key(
    State(s): State<AppState>,
    Path((id, p)): Path<(String, String)>,
) -> ApiResult<Json<RoomPlatformView>> {
    Ok(Json(blocking(move || one(&s, &id, &p)).await?))
}

#[utoipa::path(post, path = "/rooms/{id}/platforms/{p}/key", params(("id" = String, Path), ("p" = String, Path)),
    request_body(content = NewPlatformKey, description = "optional: a key pasted in"),
    responses((status = 200, body = RoomPlatformView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(super) async fn regenerate_platform_key(
    State(s): State<AppState>,
    Path((id, p)): Path<(String, String)>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<RoomPlatformView>> {
    let b: NewPlatformKey = super::optional_json(body)?;
    if p == OWN {
        return Err(ApiError::conflict("costream's own key is POST /rooms/{id}/key"));
    }
    let view = blocking(move || {
        let room = s.store.room(&id)?;
        let pasted = b.key.map(|k| (k, b.expires_at));
        s.platforms.regenerate(&RoomRef { id: room.id, name: room.name }, &p, pasted)?;
        one(&s, &id, &p)
    })
    .await?;
    Ok(Json(view))
}

#[utoipa::path(post, path = "/platforms/{id}/audience", params(("id" = String, Path)), request_body = AudiencePush,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn push_audience(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    check_id("platform", &id)?;
    let pl = s.platforms.clone();
    let unknown = || ApiError::unauthorized("bad_signature", "no such platform, or it has no signing secret");
    let platform = blocking(move || Ok(pl.get(&id).ok())).await?.ok_or_else(unknown)?;
    let dir = s.platforms.context().secrets_dir.clone();
    let secret = platform.settings.signing.as_ref().and_then(|r| r.read(dir.as_deref()).ok()).ok_or_else(unknown)?;
    super::signed::signed_with(&s, &secret, &headers, &body)?;
    let push: AudiencePush = serde_json::from_slice(&body)?;
    let most = crate::platforms::MAX_IDS_PER_PUSH;
    let ids = push.joined.iter().chain(&push.left);
    if push.joined.len() > most || push.left.len() > most || ids.clone().any(|v| v.is_empty() || v.len() > 128) {
        return Err(ApiError::invalid(format!("joined, left: at most {most} ids of 1 to 128 bytes")));
    }
    blocking(move || {
        s.platforms.binding(&push.room, &platform.id)?;
        let a = &s.platforms.audience;
        if let Some(n) = push.count {
            a.count(&push.room, &platform.id, n);
        }
        if !push.joined.is_empty() || !push.left.is_empty() {
            a.joins(&push.room, &platform.id, &push.joined, &push.left)?;
        }
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
