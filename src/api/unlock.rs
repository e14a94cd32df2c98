//! Unlock endpoints: per-channel rules, viewers' behaviour events and levels, and the payment
//! provider's signed callback. Points, rules and paid unlocks live in SQLite and survive restarts.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiResult, AppState, ErrorBody};
use crate::face::Organ;
use crate::session::unlock::{verify_signature, Behaviour, UnlockRules};

fn check_id(what: &str, v: &str) -> ApiResult<()> {
    let ok = !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("{what}: 1 to 128 letters, digits, '.', '-' or '_'")))
    }
}

pub(crate) fn rules(s: &AppState, channel: &str) -> ApiResult<UnlockRules> {
    match s.store.channel_rules(channel)? {
        Some(j) => serde_json::from_str(&j).map_err(|e| ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, code: "internal", message: format!("stored rules: {e}") }),
        None => Ok(UnlockRules::default()),
    }
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
    pub paid: Vec<Organ>,
    /// What this viewer sees masked now, and how strongly (empty: the open picture).
    pub masked: Vec<Organ>,
    pub sigma: f32,
}

pub(crate) fn viewer(s: &AppState, channel: &str, token: &str) -> ApiResult<ViewerStatus> {
    let r = rules(s, channel)?;
    let points = s.store.points(channel, token)?;
    let paid: Vec<Organ> = s.store.entitlements(channel, token)?.iter().filter_map(|o| serde_json::from_value(serde_json::Value::String(o.clone())).ok()).collect();
    let level = r.level(points);
    let mask = r.mask(level, &paid);
    Ok(ViewerStatus {
        channel: channel.into(),
        token: token.into(),
        points,
        level,
        top_level: r.top_level(),
        paid,
        masked: mask.as_ref().map(|m| m.organs.clone()).unwrap_or_default(),
        sigma: mask.map(|m| m.sigma).unwrap_or(0.0),
    })
}

#[utoipa::path(put, path = "/channels/{channel}", params(("channel" = String, Path)), request_body = UnlockRules,
    responses((status = 200, body = UnlockRules), (status = 400, body = ErrorBody)))]
pub(super) async fn put_channel(State(s): State<AppState>, Path(channel): Path<String>, body: Result<Json<UnlockRules>, JsonRejection>) -> ApiResult<Json<UnlockRules>> {
    check_id("channel", &channel)?;
    let Json(r) = body?;
    r.validate().map_err(ApiError::invalid)?;
    let j = serde_json::to_string(&r).map_err(|e| ApiError::invalid(e.to_string()))?;
    s.store.set_channel_rules(&channel, &j)?;
    Ok(Json(r))
}

#[utoipa::path(get, path = "/channels/{channel}", params(("channel" = String, Path)), responses((status = 200, body = UnlockRules)))]
pub(super) async fn get_channel(State(s): State<AppState>, Path(channel): Path<String>) -> ApiResult<Json<UnlockRules>> {
    check_id("channel", &channel)?;
    Ok(Json(rules(&s, &channel)?))
}

#[utoipa::path(post, path = "/channels/{channel}/viewers/{token}/events", params(("channel" = String, Path), ("token" = String, Path)), request_body = Behaviour,
    responses((status = 200, body = ViewerStatus), (status = 400, body = ErrorBody)))]
pub(super) async fn viewer_event(State(s): State<AppState>, Path((channel, token)): Path<(String, String)>, body: Result<Json<Behaviour>, JsonRejection>) -> ApiResult<Json<ViewerStatus>> {
    check_id("channel", &channel)?;
    check_id("token", &token)?;
    // Payments are not behaviour: they count only through the signed callback.
    let Json(b) = body?;
    let p = rules(&s, &channel)?.points(&b);
    s.store.add_points(&channel, &token, p)?;
    Ok(Json(viewer(&s, &channel, &token)?))
}

#[utoipa::path(get, path = "/channels/{channel}/viewers/{token}", params(("channel" = String, Path), ("token" = String, Path)),
    responses((status = 200, body = ViewerStatus), (status = 400, body = ErrorBody)))]
pub(super) async fn get_viewer(State(s): State<AppState>, Path((channel, token)): Path<(String, String)>) -> ApiResult<Json<ViewerStatus>> {
    check_id("channel", &channel)?;
    check_id("token", &token)?;
    Ok(Json(viewer(&s, &channel, &token)?))
}

/// What the payment provider posts (signed: `X-Signature: sha256=<hex HMAC-SHA256 of the body>`).
#[derive(Deserialize, ToSchema)]
pub struct PaymentCallback {
    pub payment_id: String,
    pub channel: String,
    pub token: String,
    /// The organ this payment unlocks.
    pub organ: Organ,
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
pub(super) async fn payment_callback(State(s): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> ApiResult<(StatusCode, Json<PaymentResult>)> {
    let Some(secret) = &s.payment_secret else {
        return Err(ApiError { status: StatusCode::SERVICE_UNAVAILABLE, code: "payments_off", message: "payments are not configured (--payment-secret)".into() });
    };
    let sig = headers.get("x-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !verify_signature(secret.as_bytes(), &body, sig) {
        tracing::warn!("payment callback with a missing or wrong signature refused");
        return Err(ApiError { status: StatusCode::UNAUTHORIZED, code: "bad_signature", message: "the X-Signature HMAC does not match the body".into() });
    }
    let p: PaymentCallback = serde_json::from_slice(&body).map_err(|e| ApiError { status: StatusCode::BAD_REQUEST, code: "bad_json", message: e.to_string() })?;
    check_id("channel", &p.channel)?;
    check_id("token", &p.token)?;
    check_id("payment_id", &p.payment_id)?;
    if p.status != "confirmed" {
        return Ok((StatusCode::ACCEPTED, Json(PaymentResult { counted: false, reason: format!("status {:?} is not confirmed", p.status) })));
    }
    let organ = serde_json::to_value(p.organ).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let new = s.store.add_entitlement(&p.payment_id, &p.channel, &p.token, &organ)?;
    tracing::info!(channel = %p.channel, organ = %organ, amount = ?p.amount, new, "payment confirmed");
    Ok((StatusCode::OK, Json(PaymentResult { counted: new, reason: if new { "unlocked".into() } else { "payment already counted".into() } })))
}
