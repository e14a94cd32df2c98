//! The API's one error mapping: every failure a handler meets becomes an [`ApiError`] here, with a
//! stable code and the status its blame calls for — 4xx for what the caller asked, 503 for "try
//! again later", 5xx for what broke here (logged with its cause chain; the client gets the code).

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::compose::slate_file::SlateFileError;
use crate::error::{chain, Blame};
use crate::platforms::{PlatformError, PlatformsError};
use crate::rooms::{SlateError, SourceError};
use crate::session::invite::InviteError;
use crate::session::polls::PollError;
use crate::session::SessionError;
use crate::store::StoreError;

/// The JSON body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable. Caller's faults: `bad_json`, `invalid_parameter`, `not_found`,
    /// `forbidden`, `csrf` (403), `conflict`, `bad_signature`, `input_unavailable`, `input_no_video`,
    /// `input_undecodable`, and a refused slate upload's `slate_too_large` (413), `slate_format`
    /// (415), `slate_empty`, `slate_unreadable`, `slate_dimensions`, `slate_too_long`,
    /// `slate_truncated`, `slate_undecodable`, `slate_blocked` (422), a source switch's `source_not_live`, a replay's `not_recorded`,
    /// a poll's `poll_open` and `poll_closed`, an input pause's `input_is_room` (409), a vote's
    /// `bad_viewer_token` and an RTMP tier callback's `bad_secret` (401), a platform's `platform_in_use`, `platform_unsupported` and `platform_live` (409).
    /// A platform that failed us: `platform_failed` (502), `platform_secret_missing` (503). Try again later (503): `gpu_unavailable`, `encoder_unavailable`,
    /// `payments_off`, `moderation_off`, `nginx_off`. A service-wide cap (429): `too_many_sessions`, `too_many_invitations`, `too_many_rooms`.
    /// Server faults (500): `gpu_failed`, `encoder_failed`, `output_failed`,
    /// `io_failed`, `stage_stopped`, `database`, `internal`.
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }
    pub fn bad_json(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_json", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn too_many(code: &'static str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
    }
    /// A change made with the console's cookie but without its CSRF token.
    pub fn csrf() -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "csrf", "a change from the console needs its X-CSRF-Token")
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    /// A URL the service will not open (see [`crate::policy`]): an invalid parameter whose
    /// message names the rule.
    pub fn refused(e: crate::policy::Refused) -> ApiError {
        Self::invalid(e.to_string())
    }
    /// The node that runs what was asked for did not answer.
    pub fn bad_gateway(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_GATEWAY, "node_unreachable", message)
    }
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
    /// A fault of this server: logged with its causes; the client learns the code, not the details.
    pub fn server(code: &'static str, e: &dyn std::error::Error) -> ApiError {
        tracing::error!(code, error = %chain(e), "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, code, format!("server error ({code})"))
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn code(&self) -> &'static str {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: ErrorDetail { code: self.code, message: self.message } })).into_response()
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> ApiError {
        match e.code() {
            (code, Blame::Caller) => Self::new(StatusCode::BAD_REQUEST, code, e.client_message()),
            (code, Blame::Unavailable) => {
                tracing::warn!(code, error = %chain(&e), "request refused: resource unavailable");
                Self::unavailable(code, format!("try again later ({code})"))
            }
            (code, Blame::Server) => Self::server(code, &e),
            (code, Blame::Limit) => Self::new(StatusCode::TOO_MANY_REQUESTS, code, e.client_message()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NoRoom(_)
            | StoreError::NoDestination(_)
            | StoreError::NoToken(_)
            | StoreError::NoSlate(_)
            | StoreError::NoPoll(_)
            | StoreError::NoPlatform(_) => ApiError::not_found(e.to_string()),
            StoreError::PlatformExists(_) => ApiError::conflict(e.to_string()),
            StoreError::PlatformInUse(..) => ApiError::new(StatusCode::CONFLICT, "platform_in_use", e.to_string()),
            StoreError::TooManyRooms(_) => ApiError::too_many("too_many_rooms", e.to_string()),
            StoreError::Db(_)
            | StoreError::Pg(_)
            | StoreError::Column(_)
            | StoreError::Migration(_)
            | StoreError::Task(_) => ApiError::server("database", &e),
        }
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> ApiError {
        let status = match &e {
            PlatformError::Invalid(_) => StatusCode::BAD_REQUEST,
            PlatformError::NoSecret(_) => StatusCode::SERVICE_UNAVAILABLE,
            PlatformError::Upstream(_) => StatusCode::BAD_GATEWAY,
            PlatformError::Unsupported(_) | PlatformError::Live(_) => StatusCode::CONFLICT,
        };
        if status.is_server_error() {
            tracing::warn!(code = e.code(), error = %e, "a platform call failed");
        }
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<PlatformsError> for ApiError {
    fn from(e: PlatformsError) -> ApiError {
        match e {
            PlatformsError::Store(e) => e.into(),
            PlatformsError::Platform(e) => e.into(),
        }
    }
}

impl From<SlateError> for ApiError {
    fn from(e: SlateError) -> ApiError {
        let (status, code) = match &e {
            SlateError::Store(_) | SlateError::Io(_) => return Self::from_slate_fault(e),
            SlateError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "slate_too_large"),
            SlateError::File(SlateFileError::Format(_)) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "slate_format"),
            SlateError::File(f) => (StatusCode::UNPROCESSABLE_ENTITY, f.code()),
            SlateError::Blocked(_) => (StatusCode::UNPROCESSABLE_ENTITY, "slate_blocked"),
            SlateError::NotApproved(..) => (StatusCode::CONFLICT, "conflict"),
            SlateError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_parameter"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl ApiError {
    /// A slate's database or disk failure.
    fn from_slate_fault(e: SlateError) -> ApiError {
        match e {
            SlateError::Store(e) => e.into(),
            e => ApiError::server("io_failed", &e),
        }
    }
}

impl From<SourceError> for ApiError {
    fn from(e: SourceError) -> ApiError {
        match e {
            SourceError::Store(e) => e.into(),
            SourceError::BadName => ApiError::invalid(e.to_string()),
            SourceError::NotLive(_) => ApiError::new(StatusCode::CONFLICT, "source_not_live", e.to_string()),
        }
    }
}

impl From<crate::session::replay::ReplayError> for ApiError {
    fn from(e: crate::session::replay::ReplayError) -> ApiError {
        use crate::session::replay::ReplayError;
        match e {
            ReplayError::NotRecorded(_) => ApiError::new(StatusCode::CONFLICT, "not_recorded", e.to_string()),
            ReplayError::Busy => ApiError::conflict(e.to_string()),
            ReplayError::Failed(_) | ReplayError::Io(_) => ApiError::server("io_failed", &e),
        }
    }
}

impl From<PollError> for ApiError {
    fn from(e: PollError) -> ApiError {
        match e {
            PollError::NotFound(_) | PollError::NoSession(_) => ApiError::not_found(e.to_string()),
            PollError::AlreadyOpen(_) => ApiError::new(StatusCode::CONFLICT, "poll_open", e.to_string()),
            PollError::Closed(_) => ApiError::new(StatusCode::CONFLICT, "poll_closed", e.to_string()),
            PollError::NoOption(_) | PollError::Invalid(_) => ApiError::invalid(e.to_string()),
            PollError::Store(e) => e.into(),
        }
    }
}

impl From<InviteError> for ApiError {
    fn from(e: InviteError) -> ApiError {
        match e {
            InviteError::NotFound(_) => ApiError::not_found(e.to_string()),
            InviteError::Conflict { .. } => ApiError::conflict(e.to_string()),
            InviteError::Start(e) => e.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> ApiError {
        match e {
            SessionError::NotFound(_) | SessionError::NoInput(_) => ApiError::not_found(e.to_string()),
            SessionError::InputIsRoom { .. } => ApiError::new(StatusCode::CONFLICT, "input_is_room", e.to_string()),
            SessionError::Store(e) => e.into(),
            SessionError::Fits { .. } | SessionError::EmptyAudioUrl | SessionError::Pk(_) => {
                ApiError::invalid(e.to_string())
            }
            SessionError::Start(e) => e.into(),
        }
    }
}

/// A body that did not arrive in time (the body deadline), if that is what `e` is down to.
pub(super) fn body_timeout(e: &(dyn std::error::Error + 'static)) -> Option<ApiError> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<super::deadline::BodyDeadline>().is_some() {
            return Some(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body did not arrive in time",
            ));
        }
        cause = c.source();
    }
    None
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        body_timeout(&e).unwrap_or_else(|| ApiError::bad_json(json_message(&e)))
    }
}

/// What a client needs from a refused JSON body: the field and the rule, without the framework's
/// preamble, the parser's position or the names of our Rust types.
fn json_message(e: &JsonRejection) -> String {
    match e {
        JsonRejection::MissingJsonContentType(_) => "the body must be JSON (Content-Type: application/json)".into(),
        JsonRejection::JsonSyntaxError(_) => format!("the body is not valid JSON: {}", plain(&e.body_text())),
        _ => plain(&e.body_text()),
    }
}

fn plain(text: &str) -> String {
    let mut t = text;
    for preamble in
        ["Failed to deserialize the JSON body into the target type: ", "Failed to parse the request body as JSON: "]
    {
        t = t.strip_prefix(preamble).unwrap_or(t);
    }
    // serde_json ends its messages with " at line L column C".
    let t = match t.rfind(" at line ") {
        Some(i) if t[i..].contains(" column ") => &t[..i],
        _ => t,
    };
    if let Some(i) = t.find("data did not match any variant of untagged enum") {
        let subject = if i == 0 { "the body " } else { &t[..i] };
        return format!("{subject}matches none of the accepted forms");
    }
    let mut out = t.to_string();
    // "expected internally tagged enum BehaviourWire" and the like name our types.
    for kind in [
        "expected internally tagged enum ",
        "expected adjacently tagged enum ",
        "expected enum ",
        "expected tuple struct ",
    ] {
        if let Some(i) = out.find(kind) {
            out.replace_range(i.., "expected one of the accepted forms");
        }
    }
    for (rust, wire) in [
        ("u8", "a whole number"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("u128", "a whole number"),
        ("i128", "a whole number"),
        ("u16", "a whole number"),
        ("u32", "a whole number"),
        ("u64", "a whole number"),
        ("i64", "a whole number"),
        ("usize", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
    ] {
        out = out.replace(&format!("expected {rust}"), &format!("expected {wire}"));
    }
    if let Some(i) = out.find("expected struct ") {
        out.replace_range(i.., "expected an object");
    }
    out
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(e: axum::extract::rejection::BytesRejection) -> ApiError {
        body_timeout(&e).unwrap_or_else(|| ApiError::new(e.status(), "bad_body", e.body_text()))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> ApiError {
        ApiError::bad_json(plain(&e.to_string()))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::server("internal", &e)
    }
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn json_messages_name_the_field_and_rule_not_the_parser() {
        assert_eq!(
            plain("Failed to deserialize the JSON body into the target type: inputs[0].fit: unknown variant `x`, expected `fill` or `contain` at line 1 column 30"),
            "inputs[0].fit: unknown variant `x`, expected `fill` or `contain`"
        );
        assert_eq!(
            plain("Failed to deserialize the JSON body into the target type: inputs[1]: data did not match any variant of untagged enum InputWire at line 1 column 9"),
            "inputs[1]: matches none of the accepted forms"
        );
        assert_eq!(
            plain("fps: invalid type: string \"x\", expected f64 at line 1 column 12"),
            "fps: invalid type: string \"x\", expected a number"
        );
        assert_eq!(
            plain("invalid type: integer `1`, expected struct CreateRoom at line 1 column 1"),
            "invalid type: integer `1`, expected an object"
        );
    }
}
