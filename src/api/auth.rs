//! Who may call what. Every route needs `Authorization: Bearer <token>` (or the console's signed
//! cookie, see [`super::cookie`]) except the console's and viewer page's files, `/health`, a viewer's
//! own signed playlist and segments, behaviour reports, a poll's routes, the payment callback and
//! the RTMP tier's callbacks (which check their own credentials: a viewer token, an HMAC, a shared
//! secret, or a bearer token as here). An
//! operator token may do everything; an anchor token only what concerns its room: the room itself,
//! and the sessions and invitations it takes part in. Tokens are compared as SHA-256 hashes.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::session::SessionInput;
use crate::store::{token_hash, Role, TokenInfo};

/// The caller, once its token is known (handlers that filter by room read it).
#[derive(Clone, Debug)]
pub struct Caller(pub TokenInfo);

impl Caller {
    pub fn is_operator(&self) -> bool {
        self.0.role == Role::Operator
    }

    /// Whether this caller may act on something the `rooms` take part in.
    pub fn may_touch(&self, rooms: &[String]) -> bool {
        self.is_operator() || self.0.room.as_ref().is_some_and(|r| rooms.contains(r))
    }

    /// A session may show these inputs: an anchor's shows its own room only (no other room, no
    /// URL).
    pub fn may_compose(&self, inputs: &[SessionInput]) -> Result<(), ApiError> {
        let own = |i: &SessionInput| matches!(i, SessionInput::Room(r) if self.may_touch(std::slice::from_ref(r)));
        if self.is_operator() || inputs.iter().all(own) {
            Ok(())
        } else {
            Err(ApiError::forbidden("an anchor token's sessions take only its own room"))
        }
    }
}

/// Routes open without a token: they carry their own credential (a signed URL, a viewer token, an
/// HMAC) and check it themselves.
pub(super) fn exempt(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["health"]
            | ["payments", "callback"]
            | ["sessions", _, "viewers", _, "index.m3u8"]
            | ["rooms", _, "viewers"]
            | ["rooms", _, "viewers", _, "index.m3u8"]
            | ["rooms", _, "live", _]
            | ["sessions", _, "r", _, _]
            | ["channels", _, "viewers", _]
            | ["channels", _, "viewers", _, "events"]
            | ["slates", _, "file"]
            | ["slates", _, "moderation"]
            | ["polls", _]
            | ["polls", _, "votes" | "close"]
            | ["platforms", _, "audience"]
            | ["ingest", "nginx", _]
            | ["console"]
            | ["console", "signin" | "signout"]
            | ["assets" | "watch", _]
            | ["watch", _, "info" | "events"]
    )
}

pub(super) async fn require_token(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    // A browser's CORS preflight carries no token; the CORS layer answers it. (Read from the
    // request in place: a viewer's playlist, fetched by every viewer every segment, costs no copy.)
    let open = exempt(&req.uri().path().trim_matches('/').split('/').collect::<Vec<_>>());
    if req.method() == axum::http::Method::OPTIONS {
        return next.run(req).await;
    }
    if open {
        // A signed-in console reaches the open routes as itself (closing a poll, issuing a viewer).
        if let Some(Ok(c)) = console_caller(&s, req.method().clone(), req.headers()).await {
            req.extensions_mut().insert(c);
        }
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let caller = match req.headers().get(axum::http::header::AUTHORIZATION) {
        None => console_caller(&s, req.method().clone(), req.headers()).await.unwrap_or_else(|| Err(no_token())),
        Some(h) => authenticate(&s, h.to_str().unwrap_or("")).await,
    };
    let caller = match caller {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = authorize(&s, &caller, req.method(), &segments) {
        return e.into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The caller a console cookie stands for (None without one): refused when its signature, its
/// token or, for a change, its CSRF token does not hold.
async fn console_caller(
    s: &AppState,
    method: axum::http::Method,
    headers: &axum::http::HeaderMap,
) -> Option<Result<Caller, ApiError>> {
    let cookie = super::cookie::cookie_in(headers)?;
    let Some(hash) = super::cookie::verify_cookie(&s.url_key, cookie) else {
        return Some(Err(ApiError::unauthorized("unauthorized", "the console's sign-in has expired: sign in again")));
    };
    if !super::cookie::csrf_ok(&s.url_key, &method, headers, cookie) {
        return Some(Err(ApiError::csrf()));
    }
    Some(match super::db(s, move |st| st.token_by_hash(&hash)).await {
        Ok(Some(info)) => Ok(Caller(info)),
        Ok(None) => Err(ApiError::unauthorized("unauthorized", "unknown or revoked token")),
        Err(e) => Err(e),
    })
}

fn no_token() -> ApiError {
    ApiError::unauthorized("unauthorized", "this route needs an Authorization: Bearer token")
}

pub(super) async fn authenticate(s: &AppState, header: &str) -> Result<Caller, ApiError> {
    let Some(token) = header.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(no_token());
    };
    let hash = token_hash(token);
    match super::db(s, move |st| st.token_by_hash(&hash)).await? {
        Some(info) => Ok(Caller(info)),
        None => Err(ApiError::unauthorized("unauthorized", "unknown or revoked token")),
    }
}

/// What an anchor token may reach; everything else is the operator's.
fn authorize(s: &AppState, caller: &Caller, method: &axum::http::Method, segments: &[&str]) -> Result<(), ApiError> {
    if caller.is_operator() {
        return Ok(());
    }
    let deny = || Err(ApiError::forbidden("this token may act on its own room only"));
    let room_ok = |rooms: Option<Vec<String>>| rooms.is_some_and(|r| caller.may_touch(&r));
    let allowed = match segments {
        // Lists are filtered to the caller's room; creating a session or an invitation is checked
        // against its body by the handler. Rooms are made by operators.
        ["rooms"] => method != axum::http::Method::POST,
        // (`/events` is filtered to what concerns its room)
        ["sessions"] | ["invitations"] | ["events"] => true,
        ["rooms", id, ..] => caller.may_touch(&[id.to_string()]),
        // (an invitation's session may not run yet: it starts at the accept)
        ["sessions", id, ..] => room_ok(s.sessions.rooms_of(id).or_else(|| s.invitations.rooms_of_session(id))),
        ["invitations", id, ..] => room_ok(s.invitations.rooms_of(id)),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        deny()
    }
}
