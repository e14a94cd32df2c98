//! The platforms a room is shown on: this service itself (`costream`) and third-party platforms
//! behind one trait ([`PlatformApi`]): create the platform-side room or broadcast (its push server
//! and key), regenerate the key, read its live status and audience. `rtmp` is a generic platform
//! (a server and key given by the operator, or a signed webhook that issues them); `youtube`
//! speaks the YouTube Live Streaming API v3. Secrets are only ever referenced ([`SecretRef`]):
//! read when needed, never stored, returned or logged.

mod audience;
mod clock;
mod registry;
mod rtmp;
mod youtube;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use audience::{PlatformAudience, PlatformCount, MAX_IDS_PER_PUSH};
pub use registry::{
    Binding, KeyStatus, LiveStatus, PlatformEvent, PlatformEvents, Platforms, PlatformsConfig, PlatformsError,
};

use crate::store::RoomPlatform;

/// This service's own platform: always there, never added or deleted.
pub const OWN: &str = "costream";

/// The kinds of third-party platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Rtmp,
    Youtube,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rtmp => "rtmp",
            Kind::Youtube => "youtube",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "rtmp" => Some(Kind::Rtmp),
            "youtube" => Some(Kind::Youtube),
            _ => None,
        }
    }
}

/// Where a secret is read from when it is needed: a `COSTREAM_SECRET_*` variable, or a file
/// (a bare name) in the operator's secrets directory. A request never names another variable or
/// any other file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretRef {
    Env(String),
    File(String),
}

impl SecretRef {
    /// Whether the reference is one a request may make.
    pub fn check(&self) -> Result<(), PlatformError> {
        let bad = |why: &str| Err(PlatformError::Invalid(why.to_string()));
        match self {
            SecretRef::Env(v) => {
                let rest = v.strip_prefix(crate::config::PLATFORM_SECRET_ENV_PREFIX).unwrap_or_default();
                if rest.is_empty() || v.len() > 128 || !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return bad("a secret's env must be a COSTREAM_SECRET_<NAME> variable");
                }
            }
            SecretRef::File(f) => {
                let plain = f.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                if f.is_empty() || f.len() > 128 || f.starts_with('.') || !plain {
                    return bad("a secret's file must be a plain name in the platform secrets directory");
                }
            }
        }
        Ok(())
    }

    /// The secret's value now.
    pub fn read(&self, dir: Option<&Path>) -> Result<String, PlatformError> {
        let value = match self {
            SecretRef::Env(v) => std::env::var(v).ok(),
            SecretRef::File(f) => dir.and_then(|d| std::fs::read_to_string(d.join(f)).ok()),
        };
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| PlatformError::NoSecret(self.to_string()))
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env(v) => write!(f, "env {v}"),
            SecretRef::File(n) => write!(f, "file {n}"),
        }
    }
}

/// A platform's settings (stored as JSON; secrets only by reference).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// rtmp: the push server (rtmp(s)://host/app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// rtmp: a key the operator pasted in (with its expiry, Unix seconds, when it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expires_at: Option<i64>,
    /// rtmp: an http(s) URL that issues a room's key, signed with `signing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// rtmp: where viewers watch (`{room}` is replaced by the room's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_address: Option<String>,
    /// youtube: the OAuth access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// youtube: a broadcast's privacy (`public`, `unlisted`, `private`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<String>,
    /// Rotate keys after this many seconds (a platform whose keys do not expire by themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ttl_s: Option<i64>,
    /// Signs audience pushes from the platform and our webhook calls to it (HMAC-SHA256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<SecretRef>,
    /// How often its status and audience are polled, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_s: Option<u64>,
}

/// A platform as set up by the operator.
#[derive(Clone, Debug, PartialEq)]
pub struct Platform {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    pub settings: Settings,
    pub created_at: i64,
}

/// What a platform answers for a room: where to push and with which key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grant {
    pub push_server: String,
    pub key: String,
    pub live_address: Option<String>,
    pub expires_at: Option<i64>,
    /// The platform's own ids (JSON), kept with the binding.
    pub remote: serde_json::Value,
}

/// The room a platform is asked about.
#[derive(Clone, Debug)]
pub struct RoomRef {
    pub id: String,
    pub name: String,
}

/// Why a platform call failed; `code` is stable.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{0}")]
    Invalid(String),
    #[error("the platform's secret ({0}) is not set")]
    NoSecret(String),
    #[error("the platform answered: {0}")]
    Upstream(String),
    #[error("this platform cannot {0}")]
    Unsupported(&'static str),
    #[error("the show is being pushed to {0}: stop the sessions that show the room first")]
    Live(String),
}

impl PlatformError {
    pub fn code(&self) -> &'static str {
        match self {
            PlatformError::Invalid(_) => "invalid_parameter",
            PlatformError::NoSecret(_) => "platform_secret_missing",
            PlatformError::Upstream(_) => "platform_failed",
            PlatformError::Unsupported(_) => "platform_unsupported",
            PlatformError::Live(_) => "platform_live",
        }
    }
}

/// A third-party platform's side of a room. Calls block (HTTP): run them off the async threads.
pub trait PlatformApi: Send + Sync {
    /// Creates the platform-side room (or broadcast): its push server, key and live address.
    fn create(&self, room: &RoomRef) -> Result<Grant, PlatformError>;
    /// A new key for a room already there; the old one stops working.
    fn regenerate(&self, room: &RoomRef, current: &RoomPlatform) -> Result<Grant, PlatformError>;
    /// The room leaves the platform: what `create` made there is taken down (nothing to do where
    /// the platform only handed out a key).
    fn remove(&self, _current: &RoomPlatform) -> Result<(), PlatformError> {
        Ok(())
    }
    /// Our push reached it: a platform that needs it is told the show is live.
    fn went_live(&self, _current: &RoomPlatform) -> Result<(), PlatformError> {
        Ok(())
    }
    /// The platform's own view of the show, when it has one.
    fn status(&self, _current: &RoomPlatform) -> Result<Option<LiveStatus>, PlatformError> {
        Ok(None)
    }
    /// Viewers watching there now, when it reports them.
    fn viewers(&self, _current: &RoomPlatform) -> Result<Option<u64>, PlatformError> {
        Ok(None)
    }
}

/// What a platform's calls need from the service.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub youtube_api_url: String,
    pub secrets_dir: Option<PathBuf>,
    pub policy: crate::policy::UrlPolicy,
}

/// The implementation of a platform's kind.
pub fn api_of(p: &Platform, cx: &Context) -> Box<dyn PlatformApi> {
    match p.kind {
        Kind::Rtmp => Box::new(rtmp::Generic::new(p.settings.clone(), cx.clone())),
        Kind::Youtube => Box::new(youtube::YouTube::new(p.settings.clone(), cx.clone())),
    }
}

/// Checks a new platform's settings for its kind.
pub fn check(kind: Kind, s: &Settings, policy: &crate::policy::UrlPolicy) -> Result<(), PlatformError> {
    for r in [&s.token, &s.signing].into_iter().flatten() {
        r.check()?;
    }
    match kind {
        Kind::Rtmp => rtmp::check(s, policy),
        Kind::Youtube => youtube::check(s),
    }
}

/// A blocking HTTP agent for platform calls: bounded in time, no redirects followed (a redirect
/// could lead to an internal host).
pub(crate) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(std::time::Duration::from_secs(10)).redirects(0).build()
}

/// A platform's error answer as text, bounded and without what it echoed of our request.
pub(crate) fn upstream(e: ureq::Error) -> PlatformError {
    match e {
        ureq::Error::Status(code, r) => {
            let body: String = r.into_string().unwrap_or_default().chars().take(200).collect();
            PlatformError::Upstream(format!("HTTP {code}: {body}"))
        }
        ureq::Error::Transport(t) => PlatformError::Upstream(format!("not reachable ({})", t.kind())),
    }
}

/// A platform's JSON answer, at most 1 MiB of it.
pub(crate) fn json_of<T: serde::de::DeserializeOwned>(r: ureq::Response) -> Result<T, PlatformError> {
    use std::io::Read;
    let mut text = String::new();
    r.into_reader()
        .take(1 << 20)
        .read_to_string(&mut text)
        .map_err(|e| PlatformError::Upstream(format!("an unreadable answer: {e}")))?;
    serde_json::from_str(&text).map_err(|e| PlatformError::Upstream(format!("an unreadable answer: {e}")))
}
