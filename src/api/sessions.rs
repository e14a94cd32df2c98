//! Session routes: start, list, show, change while live, stop.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::auth::Caller;
use super::pause_wire::{pause_of, PausedRoomView};
use super::sessions_wire::{self as wire, ChangeSession, CreateSession, SessionView};
use super::{blocking, ApiError, ApiResult, AppState, ErrorBody};
use crate::session::{SessionSpec, SessionStatus};

/// A session's status for the API (404 when there is no such session).
pub(super) fn view(s: &AppState, id: &str) -> ApiResult<Json<SessionView>> {
    s.sessions.status(id).map(|st| Json(shown(s, st))).ok_or_else(|| ApiError::not_found(format!("no session {id}")))
}

/// A session's status with its paused rooms.
fn shown(s: &AppState, st: SessionStatus) -> SessionView {
    let rooms = s.sessions.rooms_of(&st.id).unwrap_or_default();
    let paused = rooms
        .iter()
        .cloned()
        .filter_map(|room_id| Some(PausedRoomView { pause: pause_of(s, &room_id)?, room_id }))
        .collect();
    let paused_inputs = s.sessions.input_pauses(&st.id).into_iter().map(Into::into).collect();
    let node = s.cluster.as_ref().map(|c| c.node_id().to_string());
    SessionView { paused, paused_inputs, rooms, node, ..st.into() }
}

/// The spec of a new session request, checked against the service. Blocking.
pub(super) fn spec_of(s: &AppState, b: CreateSession) -> ApiResult<SessionSpec> {
    wire::resolve(s, SessionSpec::try_from(b)?)
}

#[utoipa::path(post, path = "/sessions", request_body = CreateSession,
    responses((status = 201, body = SessionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn create_session(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<CreateSession>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    let Json(b) = body?;
    let spec = SessionSpec::try_from(b)?;
    // An anchor composes its own room only.
    caller.may_compose(&spec.inputs)?;
    let app = s.clone();
    let st = blocking(move || Ok(app.sessions.create(wire::resolve(&app, spec)?)?)).await?;
    Ok((StatusCode::CREATED, Json(shown(&s, st))))
}

#[utoipa::path(get, path = "/sessions", responses((status = 200, body = [SessionView])))]
pub(super) async fn list_sessions(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
) -> Json<Vec<serde_json::Value>> {
    let mine = |id: &str| caller.may_touch(&s.sessions.rooms_of(id).unwrap_or_default());
    let here = s.sessions.list().into_iter().filter(|st| mine(&st.id)).map(|st| shown(&s, st));
    let mut all: Vec<serde_json::Value> = here.filter_map(|v| serde_json::to_value(v).ok()).collect();
    // Several nodes: every node's sessions, each node answering for its own.
    all.extend(super::forward::from_others(&s, &headers, "/sessions").await);
    Json(all)
}

#[utoipa::path(get, path = "/sessions/{id}", params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_session(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<SessionView>> {
    view(&s, &id)
}

#[utoipa::path(patch, path = "/sessions/{id}", params(("id" = String, Path)), request_body = ChangeSession,
    responses((status = 200, body = SessionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn change_session(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<ChangeSession>, JsonRejection>,
) -> ApiResult<Json<SessionView>> {
    let Json(b) = body?;
    let layout = b.layout.as_deref().map(|l| wire::layout(Some(l))).transpose()?;
    let inputs = b.inputs.map(wire::inputs).transpose()?;
    if let Some(i) = &inputs {
        // An anchor's session shows only its own room, after the change too.
        caller.may_compose(i)?;
    }
    // Whether the fits match the inputs is the session's to say (it knows its inputs).
    let fits = b.fit.as_deref().map(wire::parse_fits).transpose()?;
    blocking(move || {
        if let Some(i) = &inputs {
            wire::check_inputs(&s, i)?;
        }
        s.sessions.change(&id, layout, fits, inputs)?;
        view(&s, &id)
    })
    .await
}

#[utoipa::path(delete, path = "/sessions/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn stop_session(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let (sessions, polls, i) = (s.sessions.clone(), s.polls.clone(), id.clone());
    // Returns at once; the session finishes its outputs in the background.
    let found = tokio::task::spawn_blocking(move || {
        let found = sessions.stop_in_background(&i);
        polls.close_open(&i, crate::session::polls::CloseReason::SessionStopped);
        found
    })
    .await
    .unwrap_or(false);
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no session {id}")))
    }
}
