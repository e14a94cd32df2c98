//! PK endpoints: invitations (pre-pull, accept, decline, cancel, timeout, hang-up), run-time PK bar
//! updates and the comments drawn on the anchors' monitor outputs.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    blocking, resume, session_spec, ApiError, ApiResult, AppState, CreateSession, ErrorBody, SessionInputSpec,
};
use crate::session::invite::InvitationStatus;
use crate::session::pk_plan::{pk_spec, PkAnchor};
use crate::session::{SessionInput, SessionStatus};

/// One anchor of a PK: its stream (a room of this service or a URL to pull) and its room's output.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchorSpec {
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// Name on the PK bar (default: the room's name, else "A" / "B").
    #[serde(default)]
    pub name: Option<String>,
    /// rtmp:// destinations of this anchor's room output, besides the room's stored destinations
    /// and costream's HLS.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Loudness of this anchor in both outputs (default 1).
    #[serde(default)]
    pub gain: Option<f32>,
    /// Also produce this anchor's monitor output (comments and gifts are drawn there only).
    #[serde(default)]
    pub monitor: bool,
    /// A second stream of this anchor that brings more audio (app or game sound beside the
    /// microphone): mixed with the anchor, aligned by stream timestamp; its pictures are not shown.
    #[serde(default)]
    pub audio_url: Option<String>,
}

#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// The inviting anchor (side A: left in its own room's output).
    pub from: AnchorSpec,
    /// The invited anchor (side B: left in its room's output).
    pub to: AnchorSpec,
    /// Seconds B has to answer (default 30).
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// side-by-side (default), pip, grid or vstack.
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default)]
    pub fit: Option<String>,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub fps: Option<String>,
    #[serde(default)]
    pub bitrate_kbps: Option<u32>,
    /// PK bar settings (see `PkSettings`); names default to the anchors'.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub pk: Option<serde_json::Value>,
}

/// Push destinations must be RTMP(S) URLs.
pub(super) fn check_outputs(s: &AppState, outputs: &[String]) -> ApiResult<()> {
    if outputs.len() > crate::limits::MAX_OUTPUTS {
        return Err(ApiError::invalid(format!("at most {} outputs", crate::limits::MAX_OUTPUTS)));
    }
    for o in outputs {
        s.url_policy.check_output(o).map_err(|e| ApiError::refused(e))?;
    }
    Ok(())
}

#[utoipa::path(post, path = "/invitations", request_body = CreateInvitation,
    responses((status = 201, body = InvitationStatus), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn create_invitation(
    State(s): State<AppState>,
    Extension(caller): Extension<super::auth::Caller>,
    body: Result<Json<CreateInvitation>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<InvitationStatus>)> {
    let Json(b) = body?;
    // An anchor invites from its own room (or is the one invited).
    let rooms: Vec<String> = [&b.from.room, &b.to.room].into_iter().flatten().cloned().collect();
    if !caller.may_touch(&rooms) {
        return Err(ApiError::forbidden("an anchor token's invitations take its own room"));
    }
    let st = blocking(move || {
        let (spec, [from, to], timeout) = plan_invitation(&s, b.clone())?;
        let st = s.invitations.create(spec, from, to, timeout)?;
        resume::remember_invitation(&s, &st, &b, timeout);
        Ok(st)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(st)))
}

/// The PK session an invitation starts, the anchors' names and the answer's deadline; looks up the
/// anchors' rooms (blocking: the database).
pub(super) fn plan_invitation(
    s: &AppState,
    b: CreateInvitation,
) -> ApiResult<(crate::session::SessionSpec, [String; 2], std::time::Duration)> {
    let timeout = b.timeout_s.unwrap_or(30.0);
    if !(0.1..=3600.0).contains(&timeout) {
        return Err(ApiError::invalid("timeout_s must be 0.1 to 3600"));
    }
    for a in [&b.from, &b.to] {
        check_outputs(s, &a.outputs)?;
        if let Some(u) = &a.audio_url {
            s.url_policy.check_input(u).map_err(|e| ApiError::refused(e))?;
        }
        if a.gain.is_some_and(|g| !(0.0..=4.0).contains(&g)) {
            return Err(ApiError::invalid("gain must be 0 to 4"));
        }
    }
    let input = |a: &AnchorSpec| SessionInputSpec { room: a.room.clone(), url: a.url.clone() };
    let spec = session_spec(
        &s,
        CreateSession {
            inputs: vec![input(&b.from), input(&b.to)],
            layout: b.layout,
            fit: b.fit,
            size: b.size,
            fps: b.fps,
            outputs: vec![],
            bitrate_kbps: b.bitrate_kbps,
            record: false,
            masking: None,
        },
    )?;
    let mut anchors = Vec::new();
    for (side, (a, input)) in [&b.from, &b.to].into_iter().zip(spec.inputs.iter()).enumerate() {
        let mut outputs = a.outputs.clone();
        let mut name = a.name.clone();
        if let SessionInput::Room(r) = input {
            // A room's stored destinations get that room's own output.
            for d in s.store.destinations(r)? {
                if !outputs.contains(&d.url) {
                    outputs.push(d.url);
                }
            }
            name = name.or_else(|| s.store.room(r).ok().map(|room| room.name));
        }
        let name = name.unwrap_or_else(|| ["A", "B"][side].to_string());
        anchors.push(PkAnchor {
            outputs,
            name,
            gain: a.gain.unwrap_or(1.0),
            monitor: a.monitor,
            audio_url: a.audio_url.clone(),
        });
    }
    let names = [anchors[0].name.clone(), anchors[1].name.clone()];
    let anchors: [PkAnchor; 2] = anchors.try_into().map_err(|_| ApiError::invalid("two anchors"))?;
    let spec = pk_spec(spec, anchors, b.pk.as_ref())?;
    Ok((spec, names, std::time::Duration::from_secs_f64(timeout)))
}

#[utoipa::path(get, path = "/invitations", responses((status = 200, body = [InvitationStatus])))]
pub(super) async fn list_invitations(
    State(s): State<AppState>,
    Extension(caller): Extension<super::auth::Caller>,
) -> Json<Vec<InvitationStatus>> {
    Json(
        s.invitations
            .list()
            .into_iter()
            .filter(|i| caller.may_touch(&s.sessions.rooms_of(&i.session).unwrap_or_default()))
            .collect(),
    )
}

#[utoipa::path(get, path = "/invitations/{id}", params(("id" = String, Path)),
    responses((status = 200, body = InvitationStatus), (status = 404, body = ErrorBody)))]
pub(super) async fn get_invitation(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationStatus>> {
    s.invitations.status(&id).map(Json).ok_or_else(|| ApiError::not_found(format!("no invitation {id}")))
}

#[utoipa::path(post, path = "/invitations/{id}/accept", params(("id" = String, Path)),
    responses((status = 200, body = InvitationStatus), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn accept_invitation(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationStatus>> {
    // The answer is written down (off the request threads) by the invitation's event.
    let inv = s.invitations.clone();
    Ok(Json(blocking(move || Ok(inv.accept(&id)?)).await?))
}

#[utoipa::path(post, path = "/invitations/{id}/decline", params(("id" = String, Path)),
    responses((status = 200, body = InvitationStatus), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn decline_invitation(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationStatus>> {
    let inv = s.invitations.clone();
    Ok(Json(blocking(move || Ok(inv.finish(&id, crate::session::invite::InviteState::Declined)?)).await?))
}

#[utoipa::path(delete, path = "/invitations/{id}", params(("id" = String, Path)),
    responses((status = 200, body = InvitationStatus), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn cancel_invitation(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationStatus>> {
    let inv = s.invitations.clone();
    Ok(Json(blocking(move || Ok(inv.finish(&id, crate::session::invite::InviteState::Cancelled)?)).await?))
}

#[utoipa::path(post, path = "/invitations/{id}/hangup", params(("id" = String, Path)),
    responses((status = 200, body = InvitationStatus), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn hang_up(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<InvitationStatus>> {
    let inv = s.invitations.clone();
    Ok(Json(blocking(move || Ok(inv.hang_up(&id)?)).await?))
}

#[utoipa::path(patch, path = "/sessions/{id}/pk", params(("id" = String, Path)), request_body(content = Object, description = "Any fields of PkSettings"),
    responses((status = 200, body = SessionStatus), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn update_pk(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> ApiResult<Json<SessionStatus>> {
    let Json(patch) = body?;
    s.sessions.update_pk(&id, &patch)?;
    let st = s.sessions.status(&id).ok_or_else(|| ApiError::not_found(format!("no session {id}")))?;
    let (s2, pk) = (s.clone(), st.pk.clone());
    blocking(move || Ok(resume::remember_pk(&s2, &id, pk.as_ref()))).await?;
    Ok(Json(st))
}

/// What a comment or gift notification says.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostComment {
    /// Whose monitor shows it: "a" (the inviting anchor) or "b".
    pub anchor: String,
    #[serde(default)]
    pub user: Option<String>,
    pub text: String,
    /// "comment" (default) or "gift".
    #[serde(default)]
    pub kind: Option<String>,
    /// Gift count or value.
    #[serde(default)]
    pub value: Option<u64>,
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
    Ok(StatusCode::NO_CONTENT)
}
