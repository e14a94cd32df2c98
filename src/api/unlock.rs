//! Unlock endpoints: per-channel rules, viewers' behaviour events and levels, and the payment
//! provider's signed callback. Points, rules and paid unlocks live in SQLite and survive restarts.

use std::collections::HashMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::channels_wire::{OrganWire, RulesWire};
use super::signed::{check_id, url_sig};
use super::{ApiError, ApiResult, AppState, ErrorBody};
use crate::face::Organ;
use crate::session::unlock::{verify_signature, viewer_token, UnlockRules};

/// What per-viewer playlists need, cached: rules per channel, each viewer's masked organs (dropped
/// when the viewer's points or payments change, and after a few seconds anyway), and each
/// rendition's signed playlist (rebuilt when older than a fraction of a segment).
#[derive(Default)]
pub struct ViewerCache {
    rules: std::sync::Mutex<HashMap<String, UnlockRules>>,
    viewers: std::sync::Mutex<HashMap<(String, String), (Option<crate::compose::MaskLevel>, std::time::Instant)>>,
    /// (session, token) → the viewer's rendition, decided at that time.
    routes: std::sync::Mutex<HashMap<(String, String), (String, std::time::Instant)>>,
    /// (session, rendition) → its signed playlist, when it was built, and its newest segment.
    pub(super) playlists: std::sync::Mutex<PlaylistCache>,
    /// (session, token) → what the viewer's last playlist listed.
    pub(super) served: std::sync::Mutex<HashMap<(String, String), super::playlists::Served>>,
    pub(super) segments: std::sync::Mutex<super::watch::SegmentCache>,
    /// Room viewer tokens already verified → (their room, their audience id): a viewer's every
    /// fetch after the first costs a lookup, not an HMAC and a hash. Cleared when it grows past
    /// 200 000 of them (the keys that sign tokens never change while the service runs).
    pub(super) room_viewers: std::sync::Mutex<HashMap<String, (String, String)>>,
}

type PlaylistCache = HashMap<(String, String), (std::time::Instant, bytes::Bytes, Option<u64>)>;

const VIEWER_TTL: std::time::Duration = std::time::Duration::from_secs(5);

use crate::sys::lock;

pub(crate) fn rules(s: &AppState, channel: &str) -> ApiResult<UnlockRules> {
    if let Some(r) = lock(&s.viewer_cache.rules).get(channel) {
        return Ok(r.clone());
    }
    let r = match s.store.channel_rules(channel)? {
        Some(j) => serde_json::from_str(&j).map_err(|e| ApiError::server("database", &e))?,
        None => UnlockRules::default(),
    };
    lock(&s.viewer_cache.rules).insert(channel.to_string(), r.clone());
    Ok(r)
}

pub(super) fn forget_viewer(s: &AppState, channel: &str, token: &str) {
    lock(&s.viewer_cache.viewers).remove(&(channel.to_string(), token.to_string()));
    lock(&s.viewer_cache.routes).retain(|k, _| k.1 != token);
}

/// A viewer's standing on a channel.
#[derive(Serialize, ToSchema)]
pub struct ViewerStatus {
    pub channel: String,
    pub token: String,
    pub points: f64,
    pub level: u32,
    pub top_level: u32,
    /// Organs unlocked by confirmed payments.
    pub paid: Vec<OrganWire>,
    /// What this viewer sees masked now, and how strongly (empty: the open picture).
    pub masked: Vec<OrganWire>,
    pub sigma: f32,
}

/// A viewer's points and paid organs on a channel.
fn standing(s: &AppState, channel: &str, token: &str) -> ApiResult<(f64, Vec<Organ>)> {
    let points = s.store.points(channel, token)?;
    let paid: Vec<Organ> = s
        .store
        .entitlements(channel, token)?
        .iter()
        .filter_map(|o| serde_json::from_value(serde_json::Value::String(o.clone())).ok())
        .collect();
    Ok((points, paid))
}

pub(crate) fn viewer(s: &AppState, channel: &str, token: &str) -> ApiResult<ViewerStatus> {
    let r = rules(s, channel)?;
    let (points, paid) = standing(s, channel, token)?;
    let level = r.level(points);
    let mask = r.mask(level, &paid);
    Ok(ViewerStatus {
        channel: channel.into(),
        token: token.into(),
        points,
        level,
        top_level: r.top_level(),
        paid: paid.into_iter().map(Into::into).collect(),
        masked: mask.as_ref().map(|m| m.organs.iter().copied().map(Into::into).collect()).unwrap_or_default(),
        sigma: mask.map(|m| m.sigma).unwrap_or(0.0),
    })
}

#[utoipa::path(put, path = "/channels/{channel}", params(("channel" = String, Path)), request_body = RulesWire,
    responses((status = 200, body = RulesWire), (status = 400, body = ErrorBody)))]
pub(super) async fn put_channel(
    State(s): State<AppState>,
    Path(channel): Path<String>,
    body: Result<Json<RulesWire>, JsonRejection>,
) -> ApiResult<Json<RulesWire>> {
    check_id("channel", &channel)?;
    let Json(r) = body?;
    let r = UnlockRules::try_from(r)?;
    let j = serde_json::to_string(&r).map_err(|e| ApiError::server("internal", &e))?;
    let ch = channel.clone();
    super::db(&s, move |st| st.set_channel_rules(&ch, &j)).await?;
    lock(&s.viewer_cache.rules).remove(&channel);
    lock(&s.viewer_cache.viewers).retain(|k, _| k.0 != channel);
    lock(&s.viewer_cache.routes).clear();
    Ok(Json(r.into()))
}

#[utoipa::path(get, path = "/channels/{channel}", params(("channel" = String, Path)), responses((status = 200, body = RulesWire)))]
pub(super) async fn get_channel(State(s): State<AppState>, Path(channel): Path<String>) -> ApiResult<Json<RulesWire>> {
    check_id("channel", &channel)?;
    Ok(Json(super::blocking(move || rules(&s, &channel)).await?.into()))
}

/// A new viewer's token for a channel.
#[derive(Serialize, ToSchema)]
pub struct NewViewer {
    pub channel: String,
    /// The viewer's credential: their playlist URL and the viewer page's reports carry it.
    pub token: String,
    /// Unix seconds; the viewer's watch time counts from here.
    pub issued_at: i64,
}

#[utoipa::path(post, path = "/channels/{channel}/viewers", params(("channel" = String, Path)),
    responses((status = 201, body = NewViewer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn issue_viewer_token(
    State(s): State<AppState>,
    Path(channel): Path<String>,
) -> ApiResult<(StatusCode, Json<NewViewer>)> {
    check_id("channel", &channel)?;
    let issued_at = crate::store::now_s();
    let token = viewer_token::issue(&s.url_key, &channel, issued_at);
    Ok((StatusCode::CREATED, Json(NewViewer { channel, token, issued_at })))
}

#[utoipa::path(get, path = "/channels/{channel}/viewers/{token}", params(("channel" = String, Path), ("token" = String, Path)),
    responses((status = 200, body = ViewerStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn get_viewer(
    State(s): State<AppState>,
    Path((channel, token)): Path<(String, String)>,
    console: Option<axum::Extension<super::auth::Caller>>,
    headers: HeaderMap,
) -> ApiResult<Json<ViewerStatus>> {
    check_id("channel", &channel)?;
    check_id("token", &token)?;
    may_read_viewer(&s, console.map(|c| c.0), &headers, &channel, &token).await?;
    Ok(Json(super::blocking(move || viewer(&s, &channel, &token)).await?))
}

/// A viewer's standing is the operator's to read, and the viewer's own (their page shows it, the
/// token in the path being their credential).
async fn may_read_viewer(
    s: &AppState,
    console: Option<super::auth::Caller>,
    headers: &HeaderMap,
    channel: &str,
    token: &str,
) -> ApiResult<()> {
    let caller = match headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(auth) => Some(super::auth::authenticate(s, auth).await?),
        None => console,
    };
    match caller {
        Some(c) if c.is_operator() => Ok(()),
        Some(_) => Err(ApiError::forbidden("channels are the operator's")),
        None if viewer_token::verify(&s.viewer_token_keys(), channel, token).is_some() => Ok(()),
        None => Err(ApiError::unauthorized("unauthorized", "an operator token or the viewer's own token is needed")),
    }
}

/// What the payment provider posts (signed: `X-Signature: sha256=<hex HMAC-SHA256 of the body>`).
#[derive(Deserialize, ToSchema)]
pub struct PaymentCallback {
    pub payment_id: String,
    pub channel: String,
    pub token: String,
    /// The organ this payment unlocks.
    pub organ: OrganWire,
    /// Only `confirmed` counts.
    pub status: String,
    #[serde(default)]
    pub amount: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentResult {
    /// Whether this callback unlocked something now (false: not confirmed, or already counted).
    pub counted: bool,
    pub reason: String,
}

#[utoipa::path(post, path = "/payments/callback", request_body = PaymentCallback,
    responses((status = 200, body = PaymentResult), (status = 202, body = PaymentResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn payment_callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, Json<PaymentResult>)> {
    // A body past its deadline is the JSON 408 every route answers.
    let body = body?;
    let Some(secret) = &s.payment_secret else {
        return Err(ApiError::unavailable("payments_off", "payments are not configured (--payment-secret)"));
    };
    let sig = headers.get("x-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !verify_signature(secret.as_bytes(), &body, sig) {
        tracing::warn!("payment callback with a missing or wrong signature refused");
        return Err(ApiError::unauthorized("bad_signature", "the X-Signature HMAC does not match the body"));
    }
    let p: PaymentCallback = serde_json::from_slice(&body)?;
    check_id("channel", &p.channel)?;
    check_id("token", &p.token)?;
    check_id("payment_id", &p.payment_id)?;
    if p.status != "confirmed" {
        return Ok((
            StatusCode::ACCEPTED,
            Json(PaymentResult { counted: false, reason: format!("status {:?} is not confirmed", p.status) }),
        ));
    }
    let organ = serde_json::to_value(p.organ).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let (id, ch, tok, org) = (p.payment_id.clone(), p.channel.clone(), p.token.clone(), organ.clone());
    let new = super::db(&s, move |st| st.add_entitlement(&id, &ch, &tok, &org)).await?;
    forget_viewer(&s, &p.channel, &p.token);
    tracing::info!(channel = %p.channel, organ = %organ, amount = ?p.amount, new, "payment confirmed");
    Ok((
        StatusCode::OK,
        Json(PaymentResult {
            counted: new,
            reason: if new { "unlocked".into() } else { "payment already counted".into() },
        }),
    ))
}

#[utoipa::path(get, path = "/sessions/{id}/viewers/{token}/index.m3u8", params(("id" = String, Path), ("token" = String, Path)),
    responses((status = 200, description = "The viewer's media playlist: its rendition's segments, signed"), (status = 404, body = ErrorBody)))]
pub(super) async fn viewer_playlist(
    State(s): State<AppState>,
    Path((id, token)): Path<(String, String)>,
) -> ApiResult<axum::response::Response> {
    check_id("token", &token)?;
    // Hot path (every viewer, every segment): two map lookups.
    let rkey = (id, token);
    let route = lock(&s.viewer_cache.routes).get(&rkey).filter(|r| r.1.elapsed() < VIEWER_TTL).map(|r| r.0.clone());
    let (id, token) = rkey;
    let r = match route {
        Some(r) => r,
        None => {
            // A cache miss may read the viewer's points from the database: off the request threads.
            let (st, i, t) = (s.clone(), id.clone(), token.clone());
            let (r, own) = super::blocking(move || route_viewer(&st, &i, &t)).await?;
            // A stand-in (theirs is being made) is asked again next time.
            if own {
                lock(&s.viewer_cache.routes)
                    .insert((id.clone(), token.clone()), (r.clone(), std::time::Instant::now()));
            }
            r
        }
    };
    super::playlists::viewer_playlist(&s, id, token, r).await
}

/// The rendition a viewer of a masked session gets now, and whether it is their state's own
/// (else a more masked one: theirs is being made, or the session's cap is reached).
fn route_viewer(s: &AppState, id: &str, token: &str) -> ApiResult<(String, bool)> {
    let r = s.sessions.renditions(id).ok_or_else(|| ApiError::not_found(format!("no masked session {id}")))?;
    let channel = &r.masking.channel;
    if viewer_token::verify(&s.viewer_token_keys(), channel, token).is_none() {
        return Err(ApiError::forbidden("this viewer token was not issued for this channel"));
    }
    let key = (channel.clone(), token.to_string());
    let cached = lock(&s.viewer_cache.viewers).get(&key).filter(|c| c.1.elapsed() < VIEWER_TTL).map(|c| c.0.clone());
    let mask = match cached {
        Some(m) => m,
        None => {
            let m = viewer_mask(s, channel, token)?;
            lock(&s.viewer_cache.viewers).insert(key, (m.clone(), std::time::Instant::now()));
            m
        }
    };
    r.route(&super::watch::viewer_id(token), mask.as_ref())
        .ok_or_else(|| ApiError::unavailable("no_rendition", "no rendition masks enough for this viewer now"))
}

/// What a viewer must not see on a channel now: their level's organs less those they paid for,
/// at their level's strength (None: nothing).
fn viewer_mask(s: &AppState, channel: &str, token: &str) -> ApiResult<Option<crate::compose::MaskLevel>> {
    let r = rules(s, channel)?;
    let (points, paid) = standing(s, channel, token)?;
    Ok(r.mask(r.level(points), &paid))
}

#[derive(Deserialize)]
pub(super) struct SegmentQuery {
    exp: Option<u64>,
    sig: Option<String>,
}

#[utoipa::path(get, path = "/sessions/{id}/r/{rendition}/{file}", params(("id" = String, Path), ("rendition" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "A segment"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn signed_segment(
    State(s): State<AppState>,
    Path((id, rendition, file)): Path<(String, String, String)>,
    axum::extract::Query(q): axum::extract::Query<SegmentQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let forbidden = ApiError::forbidden;
    check_id("session", &id)?;
    check_id("rendition", &rendition)?;
    if !file.ends_with(".ts") || file.starts_with('.') || file.contains('/') {
        return Err(ApiError::not_found("no such segment"));
    }
    let (Some(exp), Some(sig)) = (q.exp, q.sig) else { return Err(forbidden("unsigned segment URL")) };
    // Compare in constant time (the expected value is recomputed, never looked up).
    let want = url_sig(&s.url_key, &id, &rendition, &file, exp);
    let same = crate::session::unlock::same_text(&want, &sig);
    if !same {
        return Err(forbidden("bad signature"));
    }
    if exp < crate::store::now_s() as u64 {
        return Err(forbidden("expired segment URL"));
    }
    let bytes = super::watch::segment(&s, super::playlists::rendition_dir(&s, &id, &rendition).join(&file)).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "video/mp2t")], bytes).into_response())
}
