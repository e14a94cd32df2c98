//! Viewers' behaviour reports (likes, comments, shares, gifts, watch time, reading), accepted from
//! three callers only:
//! - the platform's backend, signing `"<X-Timestamp>.<body>"` with HMAC-SHA256 under the platform
//!   secret (`X-Signature: sha256=<hex>`), within five minutes of its timestamp and once only;
//! - the viewer page, on the viewer's own server-issued token (the token in the path is the
//!   credential): never gifts, each kind rate limited, and no more watch time than has passed
//!   since the token was issued;
//! - an operator's bearer token (the service's owner may do anything).
//! Anything else is a 401 and counts nothing.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::signed::{check_id, platform_signed, SIGNATURE_WINDOW_S};
use super::unlock::{forget_viewer, rules, viewer, ViewerStatus};
use super::{ApiError, ApiResult, AppState, ErrorBody};
use crate::session::unlock::{viewer_token, Behaviour};
use crate::sys::lock;

/// Who sent a report.
enum Reporter {
    Operator,
    Platform,
    Viewer { issued_at: i64 },
}

type Limiter = DefaultKeyedRateLimiter<(String, String)>;

/// Rate limits of the viewer page's reports, per viewer and kind, and the platform signatures seen
/// in the replay window.
pub struct BehaviourGuard {
    like: Limiter,
    comment: Limiter,
    share: Limiter,
    watch: Limiter,
    reading: Limiter,
    seen: std::sync::Mutex<HashMap<String, i64>>,
    /// Votes per (poll, viewer token).
    vote: Limiter,
}

/// `burst` reports at once, then one every `every`.
fn limiter(every: Duration, burst: u32) -> Limiter {
    let quota = Quota::with_period(every)
        .expect("a non-zero period")
        .allow_burst(NonZeroU32::new(burst).expect("a non-zero burst"));
    RateLimiter::keyed(quota)
}

impl Default for BehaviourGuard {
    fn default() -> Self {
        BehaviourGuard {
            like: limiter(Duration::from_secs(1), 10),
            comment: limiter(Duration::from_secs(3), 5),
            share: limiter(Duration::from_secs(30), 3),
            watch: limiter(Duration::from_secs(5), 3),
            reading: limiter(Duration::from_secs(2), 5),
            seen: std::sync::Mutex::default(),
            vote: limiter(Duration::from_secs(2), 3),
        }
    }
}

impl BehaviourGuard {
    /// Whether the viewer page may send this report now (gifts come from the platform only).
    fn admit(&self, channel: &str, token: &str, b: &Behaviour) -> ApiResult<()> {
        let l = match b {
            Behaviour::Like => &self.like,
            Behaviour::Comment => &self.comment,
            Behaviour::Share => &self.share,
            Behaviour::Watch { .. } => &self.watch,
            Behaviour::Reading { .. } => &self.reading,
            Behaviour::Gift { .. } => return Err(ApiError::forbidden("gifts are reported by the platform, signed")),
        };
        // Forget idle viewers now and then, so the limiter's memory stays bounded.
        if l.len() > 50_000 {
            l.retain_recent();
        }
        l.check_key(&(channel.to_string(), token.to_string()))
            .map_err(|_| ApiError::too_many("rate_limited", "too many reports of this kind; slow down"))
    }

    /// Whether this viewer may vote in this poll now (a few changes of mind, then one every 2 s).
    pub(super) fn admit_vote(&self, poll: &str, token: &str) -> ApiResult<()> {
        if self.vote.len() > 50_000 {
            self.vote.retain_recent();
        }
        self.vote
            .check_key(&(poll.to_string(), token.to_string()))
            .map_err(|_| ApiError::too_many("rate_limited", "too many votes from this viewer; slow down"))
    }

    /// Remembers a platform signature; false when it was already used (a replay).
    pub(super) fn first_use(&self, signature: &str, now: i64) -> bool {
        let mut seen = lock(&self.seen);
        seen.retain(|_, until| *until >= now);
        seen.insert(signature.to_string(), now + 2 * SIGNATURE_WINDOW_S).is_none()
    }
}

/// Works out who sent the report, or refuses it.
async fn reporter(s: &AppState, headers: &HeaderMap, body: &[u8], channel: &str, token: &str) -> ApiResult<Reporter> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    if let Some(auth) = header("authorization") {
        let caller = super::auth::authenticate(s, auth).await?;
        return if caller.is_operator() {
            Ok(Reporter::Operator)
        } else {
            Err(ApiError::forbidden("channels are the operator's"))
        };
    }
    if headers.contains_key("x-signature") {
        platform_signed(s, headers, body)?;
        return Ok(Reporter::Platform);
    }
    match viewer_token::verify(&s.viewer_token_keys(), channel, token) {
        Some(issued_at) => Ok(Reporter::Viewer { issued_at }),
        None => Err(ApiError::unauthorized(
            "unauthorized",
            "a behaviour report needs a viewer token issued by this service, a platform signature or an operator token",
        )),
    }
}

#[utoipa::path(post, path = "/channels/{channel}/viewers/{token}/events", params(("channel" = String, Path), ("token" = String, Path)), request_body = super::channels_wire::BehaviourWire,
    responses((status = 200, body = ViewerStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(super) async fn viewer_event(
    State(s): State<AppState>,
    Path((channel, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<ViewerStatus>> {
    check_id("channel", &channel)?;
    check_id("token", &token)?;
    let body = body?;
    let who = reporter(&s, &headers, &body, &channel, &token).await?;
    // Payments are not behaviour: they count only through the signed callback.
    let b: super::channels_wire::BehaviourWire = serde_json::from_slice(&body)?;
    let b = Behaviour::try_from(b)?;
    if let Reporter::Viewer { .. } = who {
        s.behaviour.admit(&channel, &token, &b)?;
    }
    let status = super::blocking(move || {
        if let (Reporter::Viewer { issued_at }, Behaviour::Watch { seconds }) = (&who, &b) {
            // A little slack for the viewer's clock; never more than the time since the token.
            let limit = (crate::store::now_s() - issued_at + 2).max(0) as f64;
            if !s.store.credit_watch(&channel, &token, *seconds, limit)? {
                return Err(ApiError::invalid("seconds: more watch time than has passed since this viewer joined"));
            }
        }
        let p = rules(&s, &channel)?.points(&b);
        s.store.add_points(&channel, &token, p)?;
        forget_viewer(&s, &channel, &token);
        viewer(&s, &channel, &token)
    })
    .await?;
    Ok(Json(status))
}
