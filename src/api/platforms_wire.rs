//! Platforms on the wire: setting one up, how it is shown (never a secret: only where each is
//! read from), a room's place on each platform, and the audience a platform pushes in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiResult};
use crate::platforms::{Binding, KeyStatus, Kind, LiveStatus, Platform, SecretRef, Settings, OWN};

/// The most platforms one room goes out on.
pub const MAX_PLATFORMS_PER_ROOM: usize = 8;

/// Where a secret is read: `{"env": "COSTREAM_SECRET_<NAME>"}` or `{"file": "<name>"}` (in the
/// service's `platform_secrets_dir`). Its value is never sent to or shown by the API.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRefWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl SecretRefWire {
    fn checked(self, what: &str) -> ApiResult<SecretRef> {
        let r = match (self.env, self.file) {
            (Some(e), None) => SecretRef::Env(e),
            (None, Some(f)) => SecretRef::File(f),
            _ => return Err(ApiError::invalid(format!("{what}: give env or file"))),
        };
        r.check()?;
        Ok(r)
    }
}

impl From<&SecretRef> for SecretRefWire {
    fn from(r: &SecretRef) -> SecretRefWire {
        match r {
            SecretRef::Env(e) => SecretRefWire { env: Some(e.clone()), file: None },
            SecretRef::File(f) => SecretRefWire { env: None, file: Some(f.clone()) },
        }
    }
}

/// A platform to set up. `rtmp`: `server` and a `key` (with `key_expires_at`), or a `webhook`
/// that issues each room's key, signed with `signing`. `youtube`: its OAuth `token`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlatform {
    /// 1 to 64 letters, digits, '-' or '_' (rooms name it in `platforms`).
    pub id: String,
    /// `rtmp` or `youtube`.
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_expires_at: Option<i64>,
    #[serde(default)]
    pub webhook: Option<String>,
    /// Where viewers watch; `{room}` is replaced by the room's id.
    #[serde(default)]
    pub live_address: Option<String>,
    #[serde(default)]
    pub token: Option<SecretRefWire>,
    #[serde(default)]
    pub privacy: Option<String>,
    /// Keys are replaced after this many seconds (1 min to 30 days).
    #[serde(default)]
    pub key_ttl_s: Option<i64>,
    /// The HMAC secret of its audience pushes and of our webhook calls.
    #[serde(default)]
    pub signing: Option<SecretRefWire>,
    /// Seconds between polls of its status and audience (5 to 3600; default 30).
    #[serde(default)]
    pub poll_s: Option<u64>,
}

impl CreatePlatform {
    pub fn checked(self) -> ApiResult<Platform> {
        let c = self;
        let id_ok = !c.id.is_empty()
            && c.id.len() <= 64
            && c.id.chars().all(|x| x.is_ascii_alphanumeric() || x == '-' || x == '_');
        if !id_ok || c.id == OWN {
            return Err(ApiError::invalid("id: 1 to 64 letters, digits, '-' or '_', not \"costream\""));
        }
        let kind = Kind::parse(&c.kind).ok_or_else(|| ApiError::invalid("kind: rtmp or youtube"))?;
        let name = c.name.unwrap_or_else(|| c.id.clone());
        if name.chars().count() > 200 || c.live_address.as_ref().is_some_and(|a| a.len() > 1024) {
            return Err(ApiError::invalid("name: at most 200 characters; live_address: at most 1024"));
        }
        if c.key_ttl_s.is_some_and(|t| !(60..=30 * 24 * 3600).contains(&t))
            || c.poll_s.is_some_and(|p| !(5..=3600).contains(&p))
        {
            return Err(ApiError::invalid("key_ttl_s: 60 to 2592000; poll_s: 5 to 3600"));
        }
        let settings = Settings {
            server: c.server,
            key: c.key,
            key_expires_at: c.key_expires_at,
            webhook: c.webhook,
            live_address: c.live_address,
            token: c.token.map(|t| t.checked("token")).transpose()?,
            privacy: c.privacy,
            key_ttl_s: c.key_ttl_s,
            signing: c.signing.map(|t| t.checked("signing")).transpose()?,
            poll_s: c.poll_s,
        };
        Ok(Platform { id: c.id, kind, name, settings, created_at: crate::store::now_s() })
    }
}

/// A platform as the API shows it: its settings, with where its secrets are read (never them).
#[derive(Default, Serialize, ToSchema)]
pub struct PlatformView {
    pub id: String,
    /// `costream`, `rtmp` or `youtube`.
    pub kind: String,
    pub name: String,
    pub created_at: i64,
    pub server: Option<String>,
    /// Whether a key was pasted in (it is not shown).
    pub key_set: bool,
    pub key_expires_at: Option<i64>,
    /// Its webhook, the path and query left out.
    pub webhook: Option<String>,
    pub live_address: Option<String>,
    pub token: Option<SecretRefWire>,
    pub signing: Option<SecretRefWire>,
    pub privacy: Option<String>,
    pub key_ttl_s: Option<i64>,
    pub poll_s: Option<u64>,
}

impl From<Platform> for PlatformView {
    fn from(p: Platform) -> PlatformView {
        let s = p.settings;
        PlatformView {
            id: p.id,
            kind: p.kind.name().into(),
            name: p.name,
            created_at: p.created_at,
            server: s.server,
            key_set: s.key.is_some(),
            key_expires_at: s.key_expires_at,
            webhook: s.webhook.as_deref().map(crate::sys::redact_url),
            live_address: s.live_address,
            token: s.token.as_ref().map(Into::into),
            signing: s.signing.as_ref().map(Into::into),
            privacy: s.privacy,
            key_ttl_s: s.key_ttl_s,
            poll_s: s.poll_s,
        }
    }
}

impl PlatformView {
    /// This service's own platform.
    pub fn own() -> PlatformView {
        PlatformView { id: OWN.into(), kind: OWN.into(), name: OWN.into(), ..Default::default() }
    }
}

/// A room on one platform: the columns of an anchor's console.
#[derive(Serialize, ToSchema)]
pub struct RoomPlatformView {
    pub platform: String,
    pub kind: String,
    /// Where to push (rtmp(s)://host/app); the key goes after it.
    pub push_server: String,
    /// Masked (`…` and its last 4 characters) except where the key is asked for.
    pub stream_key: String,
    pub live_address: Option<String>,
    /// `live`, `not_started` or `ended`.
    #[schema(value_type = String)]
    pub status: LiveStatus,
    /// `valid`, `expired` or `revoked`.
    #[schema(value_type = String)]
    pub key_status: KeyStatus,
    /// Unix seconds; null: it does not expire.
    pub key_expires_at: Option<i64>,
    /// The push there now: reconnections, dropped packets, its last failure.
    pub reconnects: u64,
    pub dropped: u64,
    pub last_error: Option<String>,
}

/// A key with only its last 4 characters shown.
pub fn mask(key: &str) -> String {
    let n = key.chars().count();
    let tail: String = key.chars().skip(n.saturating_sub(4)).collect();
    if n <= 8 {
        "…".into()
    } else {
        format!("…{tail}")
    }
}

impl RoomPlatformView {
    pub fn new(b: Binding, full_key: bool) -> RoomPlatformView {
        RoomPlatformView {
            stream_key: if full_key { b.key } else { mask(&b.key) },
            platform: b.platform,
            kind: b.kind.into(),
            push_server: b.push_server,
            live_address: b.live_address,
            status: b.status,
            key_status: b.key_status,
            key_expires_at: b.key_expires_at,
            reconnects: b.reconnects,
            dropped: b.dropped,
            last_error: b.last_error,
        }
    }
}

/// A room's `platforms`, checked: (the room's `platform`, the third-party ones to create it on).
pub fn chosen(list: Vec<String>) -> ApiResult<(Option<String>, Vec<String>)> {
    if list.is_empty() || list.len() > MAX_PLATFORMS_PER_ROOM {
        return Err(ApiError::invalid(format!("platforms: 1 to {MAX_PLATFORMS_PER_ROOM}")));
    }
    let mut third = Vec::new();
    for p in &list {
        super::signed::check_id("platforms", p)?;
        if list.iter().filter(|q| *q == p).count() > 1 {
            return Err(ApiError::invalid(format!("platforms: {p} is named twice")));
        }
        if p != OWN {
            third.push(p.clone());
        }
    }
    let primary = if list.iter().any(|p| p == OWN) { OWN.to_string() } else { list[0].clone() };
    Ok((Some(primary), third))
}

/// A key pasted in for a room on a platform (else the platform is asked for a new one).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewPlatformKey {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A room added to a platform.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRoomPlatform {
    pub platform: String,
}

/// What a platform pushes of a room's audience there: a `count` of viewers now, or viewers who
/// `joined` and `left` (ids, at most 10 000 each).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudiencePush {
    pub room: String,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub joined: Vec<String>,
    #[serde(default)]
    pub left: Vec<String>,
}
