//! Viewer polls. Opening one is a session route (its anchors or an operator); a poll's own routes
//! check their caller themselves: a vote needs a viewer token issued for the poll's channel
//! (`Authorization: Bearer <viewer token>`, one vote per token, rate limited); reading a poll
//! takes such a token or an API token that may touch the poll's session; closing one the latter.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};

use super::auth::Caller;
use super::polls_wire::{CreatePoll, PollView, Vote};
use super::{blocking, ApiError, ApiResult, AppState, ErrorBody};
use crate::session::polls::{CloseReason, NewPoll};
use crate::session::unlock::viewer_token;
use crate::store::PollRecord;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// Who is asking about a poll.
enum Asker {
    /// An API token that may act on the poll's session.
    Staff,
    /// A viewer token of the poll's channel.
    Viewer(String),
}

/// What a poll's request carries: a bearer token, or a signed-in console's cookie.
enum By {
    Token(String),
    Console(Caller),
}

/// The bearer token of a request, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let h = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    h.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty())
}

/// The bearer token of a poll's request (401 without one, before anything is looked up).
fn token(headers: &HeaderMap) -> ApiResult<String> {
    bearer(headers)
        .map(str::to_string)
        .ok_or_else(|| ApiError::unauthorized("unauthorized", "a viewer token or an API token is needed"))
}

/// Works out who asks about `poll` with `token`, or refuses them (401 without a valid
/// credential, 403 for an API token of a room that is not in the poll's session).
async fn asker(s: &AppState, token: &str, poll: &PollRecord) -> ApiResult<Asker> {
    if token.starts_with("v1.") {
        return match viewer_token::verify(&s.viewer_token_keys(), &poll.channel, token) {
            Some(_) => Ok(Asker::Viewer(token.to_string())),
            None => Err(ApiError::unauthorized(
                "bad_viewer_token",
                "this viewer token was not issued for this poll's channel",
            )),
        };
    }
    let caller = super::auth::authenticate(s, &format!("Bearer {token}")).await?;
    staff(s, &caller, poll)
}

/// An operator, or an anchor of the poll's session.
fn staff(s: &AppState, caller: &Caller, poll: &PollRecord) -> ApiResult<Asker> {
    let rooms = s.sessions.rooms_of(&poll.session_id).or_else(|| s.invitations.rooms_of_session(&poll.session_id));
    if caller.is_operator() || rooms.is_some_and(|r| caller.may_touch(&r)) {
        Ok(Asker::Staff)
    } else {
        Err(ApiError::forbidden("this token may act on its own room's polls only"))
    }
}

/// The poll a request names and who asks about it (the token is asked for before the poll is
/// looked up: no credential, a 401 whatever the id).
async fn asked(
    s: &AppState,
    headers: &HeaderMap,
    console: Option<Extension<Caller>>,
    id: String,
) -> ApiResult<(PollRecord, Asker)> {
    // A signed-in console (its cookie, no header) asks as its token's caller.
    let by = match console.filter(|_| bearer(headers).is_none()) {
        Some(Extension(c)) => By::Console(c),
        None => By::Token(token(headers)?),
    };
    super::signed::check_id("poll", &id)?;
    let polls = s.polls.clone();
    let p = blocking(move || Ok(polls.get(&id)?)).await?;
    let who = match by {
        By::Token(t) => asker(s, &t, &p).await?,
        By::Console(c) => staff(s, &c, &p)?,
    };
    Ok((p, who))
}

#[utoipa::path(post, path = "/sessions/{id}/polls", params(("id" = String, Path)), request_body = CreatePoll,
    responses((status = 201, body = PollView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn create_poll(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody<CreatePoll>,
) -> ApiResult<(StatusCode, Json<PollView>)> {
    let Json(b) = body?;
    let polls = s.polls.clone();
    let p = blocking(move || Ok(polls.open(&id, b.into(), None)?)).await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

#[utoipa::path(get, path = "/sessions/{id}/polls", params(("id" = String, Path)),
    responses((status = 200, body = [PollView])))]
pub(super) async fn session_polls(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Vec<PollView>>> {
    let polls = s.polls.clone();
    let v = blocking(move || Ok(polls.of_session(&id)?)).await?;
    Ok(Json(v.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/polls/{id}", params(("id" = String, Path)),
    responses((status = 200, body = PollView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_poll(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    console: Option<Extension<Caller>>,
) -> ApiResult<Json<PollView>> {
    let (p, _) = asked(&s, &headers, console, id).await?;
    Ok(Json(p.into()))
}

#[utoipa::path(post, path = "/polls/{id}/votes", params(("id" = String, Path)), request_body = Vote,
    responses((status = 200, body = PollView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(super) async fn vote(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    console: Option<Extension<Caller>>,
    body: JsonBody<Vote>,
) -> ApiResult<Json<PollView>> {
    let (p, Asker::Viewer(token)) = asked(&s, &headers, console, id).await? else {
        return Err(ApiError::forbidden("votes are cast with a viewer token"));
    };
    let Json(v) = body?;
    let option = v
        .option
        .index(&p.options)
        .ok_or_else(|| ApiError::invalid("option: an index or the text of one of the poll's options"))?;
    s.behaviour.admit_vote(&p.id, &token)?;
    let polls = s.polls.clone();
    let hash = crate::store::token_hash(&token);
    let p = blocking(move || Ok(polls.vote(&p.id, &hash, option)?)).await?;
    Ok(Json(p.into()))
}

#[utoipa::path(post, path = "/polls/{id}/close", params(("id" = String, Path)),
    responses((status = 200, body = PollView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn close_poll(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    console: Option<Extension<Caller>>,
) -> ApiResult<Json<PollView>> {
    let (p, Asker::Staff) = asked(&s, &headers, console, id).await? else {
        return Err(ApiError::forbidden("a poll is closed by its session's anchors or an operator"));
    };
    let polls = s.polls.clone();
    let p = blocking(move || Ok(polls.close(&p.id, CloseReason::Request)?)).await?;
    Ok(Json(p.into()))
}

#[utoipa::path(put, path = "/rooms/{id}/poll", params(("id" = String, Path)), request_body = CreatePoll,
    responses((status = 200, body = CreatePoll), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn put_room_poll(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody<CreatePoll>,
) -> ApiResult<Json<CreatePoll>> {
    let Json(b) = body?;
    let p = NewPoll::from(b).checked()?;
    let json = serde_json::to_string(&p).map_err(|e| ApiError::server("internal", &e))?;
    super::db(&s, move |st| st.set_room_poll(&id, Some(&json))).await?;
    Ok(Json(p.into()))
}

#[utoipa::path(get, path = "/rooms/{id}/poll", params(("id" = String, Path)),
    responses((status = 200, body = CreatePoll), (status = 404, body = ErrorBody)))]
pub(super) async fn get_room_poll(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<CreatePoll>> {
    let json = super::db(&s, move |st| st.room_poll(&id)).await?;
    let p: Option<NewPoll> = json.and_then(|j| serde_json::from_str(&j).ok());
    p.map(|p| Json(p.into())).ok_or_else(|| ApiError::not_found("this room's pauses open no poll"))
}

#[utoipa::path(delete, path = "/rooms/{id}/poll", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_room_poll(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    super::db(&s, move |st| st.set_room_poll(&id, None)).await?;
    Ok(StatusCode::NO_CONTENT)
}
