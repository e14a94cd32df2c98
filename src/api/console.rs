//! The console's sign-in, sign-out and `/console/me`: an operator or anchor token, given once,
//! becomes the session cookie of [`super::cookie`]; the page reads its CSRF token from here.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::cookie::{cookie_in, cookie_value, csrf_of, COOKIE, COOKIE_LIFE_S};
use super::{ApiError, ApiResult, AppState, ErrorBody};
use crate::store::{now_s, token_hash};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// An operator or anchor API token.
    pub token: String,
}

/// Who is signed in, and the CSRF token their page sends with every change.
#[derive(Serialize, ToSchema)]
pub struct ConsoleMe {
    /// `operator` or `anchor`.
    pub role: &'static str,
    /// An anchor's room.
    pub room: Option<String>,
    pub csrf: String,
}

fn me(key: &[u8], caller: &Caller, cookie: &str) -> ConsoleMe {
    let role = if caller.is_operator() { "operator" } else { "anchor" };
    ConsoleMe { role, room: caller.0.room.clone(), csrf: csrf_of(key, cookie) }
}

fn set_cookie(s: &AppState, value: &str, max_age: i64) -> (header::HeaderName, HeaderValue) {
    let secure = if s.secure_cookie { "; Secure" } else { "" };
    let v = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    (header::SET_COOKIE, HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("")))
}

/// A sign-in from another site's page is refused (a browser names the page's origin).
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(o) => host.is_some_and(|h| o.split_once("://").is_some_and(|(_, rest)| rest == h)),
    }
}

#[utoipa::path(post, path = "/console/signin", request_body = SignIn,
    responses((status = 200, body = ConsoleMe), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn sign_in(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    if !same_origin(&headers) {
        return Err(ApiError::forbidden("sign in from this service's own console page"));
    }
    let Json(b) = body?;
    let caller = super::auth::authenticate(&s, &format!("Bearer {}", b.token.trim())).await?;
    let value = cookie_value(&s.url_key, &token_hash(b.token.trim()), now_s() + COOKIE_LIFE_S);
    let body = Json(me(&s.url_key, &caller, &value));
    Ok(([set_cookie(&s, &value, COOKIE_LIFE_S)], body).into_response())
}

#[utoipa::path(post, path = "/console/signout", responses((status = 204, description = "The cookie is cleared")))]
pub(super) async fn sign_out(State(s): State<AppState>) -> Response {
    ([set_cookie(&s, "", 0)], axum::http::StatusCode::NO_CONTENT).into_response()
}

#[utoipa::path(get, path = "/console/me",
    responses((status = 200, body = ConsoleMe), (status = 401, body = ErrorBody)))]
pub(super) async fn whoami(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult<Json<ConsoleMe>> {
    let cookie =
        cookie_in(&headers).ok_or_else(|| ApiError::unauthorized("unauthorized", "sign in to the console first"))?;
    Ok(Json(me(&s.url_key, &caller, cookie)))
}
