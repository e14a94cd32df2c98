//! Any node answers the API: a request for a session or invitation another node runs is sent on
//! to that node (which checks its token as it would its own), and a new session goes to the node
//! with the most room. A request sent on is marked, so it is answered where it lands.

use std::io::Read;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// Marks a request another node sent on.
const FORWARDED: &str = "x-costream-forwarded";
/// A request body sent on at most (the API's own limit: JSON).
const MAX_REQUEST: usize = 2 << 20;
/// An answer sent back at most (a session's HLS segment fits).
const MAX_ANSWER: usize = 64 << 20;
/// Rooms of a new session that decide where it goes, at most.
const PLACED_BY: usize = 4;
/// How long the other nodes have to list theirs.
const LIST_TIMEOUT: Duration = Duration::from_millis(1500);
/// Request headers sent on: who asks, and what it sends and wants.
const SENT_ON: [&str; 5] = ["authorization", "cookie", "content-type", "accept", "origin"];

pub(super) async fn to_owner(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if s.cluster.is_none() || req.headers().contains_key(FORWARDED) || !may_be_answered(&req) {
        return next.run(req).await;
    }
    let (req, rooms) = match rooms_asked(req).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match owner_of(&s, req.method(), req.uri().path(), rooms).await {
        Some(base) => send_on(req, base).await.unwrap_or_else(IntoResponse::into_response),
        None => next.run(req).await,
    }
}

/// Only a request that could be answered is sent on (the node that answers checks it): one with
/// credentials, or one of a player's own signed URLs. Others are refused here, at no cost to the
/// database or the other nodes.
fn may_be_answered(req: &Request) -> bool {
    let h = req.headers();
    let credentials = h.contains_key("authorization") || h.contains_key("cookie");
    let segments: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    credentials || super::auth::exempt(&segments)
}

/// The rooms a new session or invitation shows (read from its body, which is kept for whoever
/// answers): it is placed where they are published.
async fn rooms_asked(req: Request) -> Result<(Request, Vec<String>), ApiError> {
    if req.method() != Method::POST || !matches!(req.uri().path(), "/sessions" | "/invitations") {
        return Ok((req, Vec::new()));
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST).await.map_err(|e| ApiError::invalid(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let inputs = v["inputs"].as_array().into_iter().flatten().map(|i| &i["room"]);
    let anchors = [&v["from"]["room"], &v["to"]["room"]];
    let mut rooms: Vec<String> = Vec::new();
    // (The first few decide: the request is not checked yet, and each costs a query.)
    for r in inputs.chain(anchors).filter_map(|r| r.as_str()).take(PLACED_BY) {
        if !rooms.iter().any(|x| x == r) {
            rooms.push(r.to_string());
        }
    }
    Ok((Request::from_parts(parts, axum::body::Body::from(body)), rooms))
}

/// The base URL of the node that is to answer, when it is another one.
async fn owner_of(s: &AppState, method: &Method, path: &str, rooms: Vec<String>) -> Option<String> {
    let mut seg = path.trim_start_matches('/').split('/');
    let (first, id) = (seg.next()?, seg.next().filter(|id| !id.is_empty()));
    let s = s.clone();
    match (first, id) {
        ("sessions" | "invitations", None) if method == Method::POST => {
            let c = s.cluster.clone()?;
            tokio::task::spawn_blocking(move || c.place_for(&rooms)).await.ok()?.map(|n| n.advertise)
        }
        // A poll is its session's: votes change the picture there.
        ("polls", Some(id)) => {
            let id = id.to_string();
            let runner = tokio::task::spawn_blocking(move || {
                let session = s.store.poll(&id).ok()??.session_id;
                if runs_here(&s, &session) {
                    return None;
                }
                s.store.runner_of(&session).ok()?
            });
            runner.await.ok()?.map(|(_, advertise)| advertise)
        }
        // (A stream of events is not sent on: its answer never ends.)
        ("sessions" | "invitations" | "watch", Some(id)) if !path.ends_with("/events") => {
            if runs_here(&s, id) {
                return None;
            }
            let id = id.to_string();
            let runner = tokio::task::spawn_blocking(move || s.store.runner_of(&id)).await.ok()?;
            runner.ok()?.map(|(_, advertise)| advertise)
        }
        _ => None,
    }
}

/// Whether this node runs session or invitation `id` (asked of every request for one: an entry
/// lookup, not its whole status).
fn runs_here(s: &AppState, id: &str) -> bool {
    s.sessions.rooms_of(id).is_some() || s.invitations.rooms_of(id).is_some()
}

/// The caller's headers that go on with a request sent to another node.
fn sent_on(headers: &HeaderMap) -> Vec<(String, String)> {
    SENT_ON.iter().filter_map(|h| Some((h.to_string(), headers.get(*h)?.to_str().ok()?.to_string()))).collect()
}

/// `r` marked as sent on by a node, with the caller's headers.
fn marked(mut r: ureq::Request, headers: &[(String, String)]) -> ureq::Request {
    r = r.set(FORWARDED, "1");
    for (k, v) in headers {
        r = r.set(k, v);
    }
    r
}

/// Every other live node's answer to `GET path` (a JSON array each), asked with the caller's
/// credentials and marked so each answers for itself; a node that does not answer in time is
/// left out. Nothing when this node is alone or the request came from another node.
pub(super) async fn from_others(s: &AppState, headers: &HeaderMap, path: &str) -> Vec<serde_json::Value> {
    let Some(me) = s.cluster.as_ref().map(|c| c.node_id().to_string()) else { return Vec::new() };
    if headers.contains_key(FORWARDED) {
        return Vec::new();
    }
    let (sent, store, path) = (sent_on(headers), s.store.clone(), path.to_string());
    let asked = tokio::task::spawn_blocking(move || {
        let nodes = store.nodes().unwrap_or_default();
        let agent = ureq::AgentBuilder::new().timeout(LIST_TIMEOUT).build();
        let ask = |base: &str| -> Option<Vec<serde_json::Value>> {
            let mut body = Vec::new();
            marked(agent.get(&format!("{base}{path}")), &sent)
                .call()
                .ok()?
                .into_reader()
                .take(MAX_ANSWER as u64)
                .read_to_end(&mut body)
                .ok()?;
            serde_json::from_slice(&body).ok()
        };
        // All at once: a node that hangs costs the timeout once.
        std::thread::scope(|sc| {
            let others = nodes.iter().filter(|n| n.live && n.id != me);
            let asks: Vec<_> = others.map(|n| sc.spawn(|| ask(&n.advertise))).collect();
            asks.into_iter().filter_map(|h| h.join().ok().flatten()).flatten().collect::<Vec<_>>()
        })
    });
    asked.await.unwrap_or_default()
}

async fn send_on(req: Request, base: String) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST).await.map_err(|e| ApiError::invalid(e.to_string()))?;
    let url = format!("{base}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let headers = sent_on(&parts.headers);
    let method = parts.method.to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let agent =
            ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(2)).timeout(Duration::from_secs(30)).build();
        let r = marked(agent.request(&method, &url), &headers);
        let sent = if body.is_empty() { r.call() } else { r.send_bytes(&body) };
        match sent {
            // (Read here, off the event loop.)
            Ok(a) | Err(ureq::Error::Status(_, a)) => Ok(response_of(a)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|e| ApiError::bad_gateway(e.to_string()))?
    .map_err(|e| ApiError::bad_gateway(format!("the node running it did not answer: {e}")))?;
    Ok(answer)
}

/// The other node's answer as ours: its status, headers (but those of the connection) and body.
fn response_of(a: ureq::Response) -> Response {
    let status = StatusCode::from_u16(a.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers: Vec<(String, String)> = a
        .headers_names()
        .into_iter()
        .filter(|n| !matches!(n.as_str(), "connection" | "transfer-encoding" | "content-length" | "keep-alive"))
        .filter_map(|n| Some((n.clone(), a.header(&n)?.to_string())))
        .collect();
    let mut body = Vec::new();
    if let Err(e) = a.into_reader().take(MAX_ANSWER as u64).read_to_end(&mut body) {
        return ApiError::bad_gateway(format!("the node running it broke off its answer: {e}")).into_response();
    }
    let mut resp = (status, body).into_response();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
