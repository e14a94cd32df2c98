//! PK routes: invitations (pre-pull, accept, decline, cancel, timeout, hang-up), run-time PK bar
//! updates and the comments drawn on the anchors' monitor outputs.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::auth::Caller;
use super::events::ServiceEvent;
use super::invitations_wire::{self as wire, CreateInvitation, InvitationPlan, InvitationView, PostComment};
use super::sessions_wire::SessionView;
use super::{blocking, ApiError, ApiResult, AppState, ErrorBody};
use crate::session::invite::InvitationStatus;

fn shown(st: InvitationStatus) -> Json<InvitationView> {
    Json(st.into())
}

/// Only the invited room's anchor (or an operator) accepts or declines: the inviter cannot answer
/// for the room it invited.
fn may_answer(s: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    match s.invitations.invited_room(id) {
        None => Err(ApiError::not_found(format!("no invitation {id}"))),
        Some(_) if caller.is_operator() => Ok(()),
        Some(Some(room)) if caller.may_touch(std::slice::from_ref(&room)) => Ok(()),
        Some(_) => Err(ApiError::forbidden("only the invited room's anchor answers this invitation")),
    }
}

#[utoipa::path(post, path = "/invitations", request_body = CreateInvitation,
    responses((status = 201, body = InvitationView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn create_invitation(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<CreateInvitation>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    let Json(b) = body?;
    // An anchor invites from its own room (or is the one invited).
    // An anchor invites from its own room, and invites a room (whose anchor answers).
    let own = |r: &Option<String>| r.as_ref().is_some_and(|r| caller.may_touch(std::slice::from_ref(r)));
    if !caller.is_operator() && !(own(&b.from.room) && b.from.url.is_none() && b.to.room.is_some()) {
        return Err(ApiError::forbidden("an anchor token invites from its own room, and invites a room"));
    }
    let plan = InvitationPlan::try_from(b)?;
    let timeout = plan.timeout;
    let st = blocking(move || {
        let (spec, [from, to]) = wire::resolve(&s, plan)?;
        Ok(s.invitations.create(spec, from, to, timeout)?)
    })
    .await?;
    Ok((StatusCode::CREATED, shown(st)))
}

#[utoipa::path(get, path = "/invitations", responses((status = 200, body = [InvitationView])))]
pub(super) async fn list_invitations(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<Vec<InvitationView>> {
    Json(
        s.invitations
            .list()
            .into_iter()
            .filter(|i| caller.may_touch(&s.invitations.rooms_of(&i.id).unwrap_or_default()))
            .map(Into::into)
            .collect(),
    )
}

#[utoipa::path(get, path = "/invitations/{id}", params(("id" = String, Path)),
    responses((status = 200, body = InvitationView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_invitation(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationView>> {
    s.invitations.status(&id).map(shown).ok_or_else(|| ApiError::not_found(format!("no invitation {id}")))
}

#[utoipa::path(post, path = "/invitations/{id}/accept", params(("id" = String, Path)),
    responses((status = 200, body = InvitationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn accept_invitation(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationView>> {
    may_answer(&s, &caller, &id)?;
    let inv = s.invitations.clone();
    Ok(shown(blocking(move || Ok(inv.accept(&id)?)).await?))
}

#[utoipa::path(post, path = "/invitations/{id}/decline", params(("id" = String, Path)),
    responses((status = 200, body = InvitationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn decline_invitation(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationView>> {
    may_answer(&s, &caller, &id)?;
    let inv = s.invitations.clone();
    Ok(shown(blocking(move || Ok(inv.finish(&id, crate::session::invite::InviteState::Declined)?)).await?))
}

#[utoipa::path(delete, path = "/invitations/{id}", params(("id" = String, Path)),
    responses((status = 200, body = InvitationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn cancel_invitation(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationView>> {
    let inv = s.invitations.clone();
    Ok(shown(blocking(move || Ok(inv.finish(&id, crate::session::invite::InviteState::Cancelled)?)).await?))
}

#[utoipa::path(post, path = "/invitations/{id}/hangup", params(("id" = String, Path)),
    responses((status = 200, body = InvitationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn hang_up(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<InvitationView>> {
    let inv = s.invitations.clone();
    Ok(shown(blocking(move || Ok(inv.hang_up(&id)?)).await?))
}

#[utoipa::path(patch, path = "/sessions/{id}/pk", params(("id" = String, Path)), request_body = super::pk_wire::PkPatch,
    responses((status = 200, body = SessionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn update_pk(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<super::pk_wire::PkPatch>, JsonRejection>,
) -> ApiResult<Json<SessionView>> {
    let Json(patch) = body?;
    let patch = crate::compose::PkChange::try_from(patch)?;
    blocking(move || {
        s.sessions.update_pk(&id, &patch)?;
        super::sessions::view(&s, &id)
    })
    .await
}

#[utoipa::path(post, path = "/sessions/{id}/comments", params(("id" = String, Path)), request_body = PostComment,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn post_comment(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<PostComment>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let Json(c) = body?;
    if !["a", "b"].contains(&c.anchor.as_str()) {
        return Err(ApiError::invalid("anchor must be \"a\" or \"b\""));
    }
    let text = c.text.trim();
    if text.is_empty() || text.chars().count() > 200 || c.user.as_deref().is_some_and(|u| u.chars().count() > 40) {
        return Err(ApiError::invalid("text: 1 to 200 characters; user: at most 40"));
    }
    let who = c.user.as_deref().map(|u| format!("{u}: ")).unwrap_or_default();
    let line = match c.kind.as_deref().unwrap_or("comment") {
        "comment" => format!("{who}{text}"),
        "gift" => format!("[礼物 gift] {who}{text}{}", c.value.map(|v| format!(" ×{v}")).unwrap_or_default()),
        k => return Err(ApiError::invalid(format!("kind {k:?}: comment or gift"))),
    };
    s.sessions.comment(&id, &c.anchor, &line).ok_or_else(|| ApiError::not_found(format!("no session {id}")))?;
    s.emit(ServiceEvent::SessionComment { session_id: id.clone(), anchor: c.anchor.clone(), text: line });
    // What viewers talk about helps pick the anchor's room's slate.
    let side = usize::from(c.anchor == "b");
    if let (Some(room), "comment") =
        (s.sessions.rooms_of(&id).and_then(|r| r.get(side).cloned()), c.kind.as_deref().unwrap_or("comment"))
    {
        s.rooms.note_comment(&room, text);
    }
    Ok(StatusCode::NO_CONTENT)
}
