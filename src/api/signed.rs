//! Credentials that come with a request rather than a bearer token: ids in paths checked for
//! shape, signed segment URLs, and requests signed by the platform's backend.

use axum::http::HeaderMap;

use super::{ApiError, ApiResult, AppState};
use crate::session::unlock::verify_signature;

/// How far a platform request's timestamp may be from our clock, and how long its signature is
/// remembered to refuse a replay.
pub(super) const SIGNATURE_WINDOW_S: i64 = 300;

/// An id in a path: letters, digits, '.', '-' and '_' only, 1 to 128 of them.
pub(super) fn check_id(what: &str, v: &str) -> ApiResult<()> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("{what}: 1 to 128 letters, digits, '.', '-' or '_'")))
    }
}

/// The signature of a segment URL: rendition, file and expiry under the service's URL key.
pub(super) fn url_sig(key: &[u8], session: &str, rendition: &str, file: &str, exp: u64) -> String {
    crate::session::unlock::sign(key, format!("{session}/{rendition}/{file}/{exp}").as_bytes())
        .trim_start_matches("sha256=")[..32]
        .to_string()
}

/// Checks a request signed by the platform's backend: `X-Signature: sha256=<hex HMAC-SHA256 of
/// "<X-Timestamp>.<body>">` under the platform secret, within five minutes, and once only.
pub(super) fn platform_signed(s: &AppState, headers: &HeaderMap, body: &[u8]) -> ApiResult<()> {
    let Some(secret) = &s.platform_secret else {
        return Err(ApiError::unauthorized("bad_signature", "no platform secret is configured here"));
    };
    signed_with(s, secret, headers, body)
}

/// [`platform_signed`] under a given secret (a third-party platform's own).
pub(super) fn signed_with(s: &AppState, secret: &str, headers: &HeaderMap, body: &[u8]) -> ApiResult<()> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let sig = header("x-signature").ok_or_else(|| ApiError::unauthorized("bad_signature", "X-Signature is missing"))?;
    let ts: i64 = header("x-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ApiError::unauthorized("bad_signature", "X-Timestamp (unix seconds) is missing"))?;
    let now = crate::store::now_s();
    let signed = [ts.to_string().as_bytes(), b".", body].concat();
    if !verify_signature(secret.as_bytes(), &signed, sig) {
        return Err(ApiError::unauthorized(
            "bad_signature",
            "the X-Signature HMAC does not match the timestamp and body",
        ));
    }
    if (now - ts).abs() > SIGNATURE_WINDOW_S {
        return Err(ApiError::unauthorized("stale_signature", "X-Timestamp is more than 5 minutes from now"));
    }
    if !s.behaviour.first_use(sig, now) {
        return Err(ApiError::conflict("this signed request was already used"));
    }
    Ok(())
}
