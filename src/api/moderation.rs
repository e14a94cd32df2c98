//! Slate moderation: with `moderation_url` set, a new slate stays `pending` and the moderator is
//! told at once (a POST signed like the payment callbacks, `X-Signature: sha256=<HMAC of the
//! body>`, with a signed URL to fetch the file); its signed answer approves the slate or rejects
//! it, which removes its record and file. Neither route takes a token: each checks its own HMAC.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::slates_wire::SlateView;
use super::{blocking, ApiError, ApiResult, AppState, ErrorBody};
use crate::session::unlock::{sign, verify_signature};
use crate::store::Slate;

/// How long a moderator's fetch URL works.
const FETCH_URL_TTL_S: i64 = 3600;

/// Where slates go for moderation, the shared secret, and this service's address for the URLs
/// the moderator calls back.
pub struct Moderation {
    pub url: String,
    pub secret: String,
    pub base: String,
}

/// What the moderator is sent.
#[derive(Serialize, ToSchema)]
pub struct ModerationRequest {
    pub slate: SlateView,
    /// A signed URL the moderator fetches the file from (None for a text card), valid an hour.
    pub fetch_url: Option<String>,
    /// Where the signed answer goes: `{"status": "approved" | "rejected"}`.
    pub callback_url: String,
}

/// A moderator's answer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerationAnswer {
    /// `approved` or `rejected`.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct ModerationResult {
    pub slate: String,
    /// `approved`, or `rejected` (the slate and its file are gone).
    pub status: String,
}

#[derive(Deserialize)]
pub(super) struct Signed {
    exp: i64,
    sig: String,
}

fn fetch_signature(secret: &str, id: &str, exp: i64) -> String {
    sign(secret.as_bytes(), format!("{id}:{exp}").as_bytes())
}

/// Tells the moderator about a new slate, on a thread of its own (a moderator that does not
/// answer delays nobody; the slate stays pending and the failure is logged).
pub(super) fn notify(m: &Arc<Moderation>, slate: &Slate) {
    let exp = crate::store::now_s() + FETCH_URL_TTL_S;
    let id = slate.id.clone();
    let fetch_url = slate.file.as_ref().map(|_| {
        let sig = fetch_signature(&m.secret, &id, exp);
        format!("{}/slates/{id}/file?exp={exp}&sig={}", m.base, sig.trim_start_matches("sha256="))
    });
    let req = ModerationRequest {
        slate: slate.clone().into(),
        fetch_url,
        callback_url: format!("{}/slates/{id}/moderation", m.base),
    };
    let body = serde_json::to_string(&req).unwrap_or_default();
    let m = m.clone();
    std::thread::spawn(move || {
        let sent = ureq::post(&m.url)
            .timeout(std::time::Duration::from_secs(10))
            .set("content-type", "application/json")
            .set("x-signature", &sign(m.secret.as_bytes(), body.as_bytes()))
            .send_string(&body);
        match sent {
            Ok(_) => tracing::info!(slate = %id, "slate sent for moderation"),
            Err(e) => {
                tracing::warn!(slate = %id, url = %crate::sys::redact_url(&m.url), error = %e, "the moderator could not be told; the slate stays pending")
            }
        }
    });
}

fn moderation(s: &AppState) -> ApiResult<&Arc<Moderation>> {
    s.moderation.as_ref().ok_or_else(|| ApiError::unavailable("moderation_off", "slate moderation is not configured"))
}

#[utoipa::path(get, path = "/slates/{id}/file", params(("id" = String, Path), ("exp" = i64, Query), ("sig" = String, Query)),
    responses((status = 200, description = "the slate's file"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn slate_file(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<Signed>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let m = moderation(&s)?;
    let ok = q.as_ref().is_ok_and(|Query(q)| {
        q.exp >= crate::store::now_s()
            && verify_signature(m.secret.as_bytes(), format!("{id}:{}", q.exp).as_bytes(), &format!("sha256={}", q.sig))
    });
    if !ok {
        return Err(ApiError::forbidden("the URL's signature is wrong or has expired"));
    }
    let lib = s.rooms.slates().cloned().ok_or_else(|| ApiError::not_found("this service keeps no slates"))?;
    let path =
        blocking(move || lib.file_of(&id)?.ok_or_else(|| ApiError::not_found("a text card has no file"))).await?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| ApiError::server("io_failed", &e))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

#[utoipa::path(post, path = "/slates/{id}/moderation", params(("id" = String, Path)), request_body = ModerationAnswer,
    responses((status = 200, body = ModerationResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn moderation_answer(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ModerationResult>> {
    let body = body?;
    let m = moderation(&s)?;
    let sig = headers.get("x-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !verify_signature(m.secret.as_bytes(), &body, sig) {
        tracing::warn!("moderation answer with a missing or wrong signature refused");
        return Err(ApiError::unauthorized("bad_signature", "the X-Signature HMAC does not match the body"));
    }
    let a: ModerationAnswer = serde_json::from_slice(&body)?;
    let approved = match a.status.as_str() {
        "approved" => true,
        "rejected" => false,
        _ => return Err(ApiError::invalid("status: \"approved\" or \"rejected\"")),
    };
    let lib = s.rooms.slates().cloned().ok_or_else(|| ApiError::not_found("this service keeps no slates"))?;
    let slate = id.clone();
    blocking(move || Ok(lib.moderate(&slate, approved)?)).await?;
    tracing::info!(slate = %id, status = %a.status, "slate moderated");
    Ok(Json(ModerationResult { slate: id, status: a.status }))
}
