//! `rtmp`: a generic platform. Its push server and key are given by the operator (a key pasted
//! in, with its expiry when it has one), or issued per room by the platform's webhook: a POST of
//! `{"room", "name", "action": "create" | "regenerate"}` signed like every platform request
//! (`X-Timestamp`, `X-Signature: sha256=<HMAC of "<timestamp>.<body>">` under `signing`),
//! answered with `{"key", "server"?, "expires_at"? | "expires_in_s"?, "live_address"?}`.

use serde::Deserialize;

use super::{agent, upstream, Context, Grant, PlatformApi, PlatformError, RoomRef, Settings};
use crate::store::RoomPlatform;

pub struct Generic {
    s: Settings,
    cx: Context,
}

/// What the webhook answers.
#[derive(Deserialize)]
struct Issued {
    key: String,
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    expires_in_s: Option<i64>,
    #[serde(default)]
    live_address: Option<String>,
}

pub fn check(s: &Settings, policy: &crate::policy::UrlPolicy) -> Result<(), PlatformError> {
    let bad = |w: String| PlatformError::Invalid(w);
    let server = s.server.as_deref().ok_or_else(|| bad("server: an rtmp platform needs its push server".into()))?;
    policy.check_output(server).map_err(|e| bad(format!("server: {e}")))?;
    match (&s.key, &s.webhook) {
        (None, None) => return Err(bad("an rtmp platform needs a key or a webhook that issues keys".into())),
        (_, Some(w)) => {
            policy.check_callback(w).map_err(|e| bad(format!("webhook: {e}")))?;
            if s.signing.is_none() {
                return Err(bad("webhook: needs a signing secret to sign its calls".into()));
            }
        }
        (Some(k), None) => check_key(k)?,
    }
    Ok(())
}

/// A stream key as the last part of a push URL: no separators, bounded.
pub fn check_key(k: &str) -> Result<(), PlatformError> {
    let ok = !k.is_empty() && k.len() <= 256 && !k.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/');
    if ok {
        Ok(())
    } else {
        Err(PlatformError::Invalid("key: 1 to 256 characters, no '/' or spaces".into()))
    }
}

impl Generic {
    pub fn new(s: Settings, cx: Context) -> Generic {
        Generic { s, cx }
    }

    fn server(&self) -> String {
        self.s.server.clone().unwrap_or_default()
    }

    fn live_address(&self, room: &RoomRef) -> Option<String> {
        self.s.live_address.as_ref().map(|a| a.replace("{room}", &room.id))
    }

    fn ask(&self, room: &RoomRef, action: &str) -> Result<Grant, PlatformError> {
        let Some(url) = &self.s.webhook else {
            let key = self.s.key.clone().ok_or(PlatformError::Unsupported("issue keys without a webhook"))?;
            let live_address = self.live_address(room);
            let expires_at = self.s.key_expires_at;
            return Ok(Grant { push_server: self.server(), key, live_address, expires_at, ..Default::default() });
        };
        self.cx.policy.check_callback(url).map_err(|e| PlatformError::Invalid(e.to_string()))?;
        let secret = self.s.signing.as_ref().ok_or(PlatformError::Unsupported("sign its webhook"))?;
        let secret = secret.read(self.cx.secrets_dir.as_deref())?;
        let body = serde_json::json!({"room": room.id, "name": room.name, "action": action}).to_string();
        let ts = crate::store::now_s().to_string();
        let sig = crate::session::unlock::sign(secret.as_bytes(), format!("{ts}.{body}").as_bytes());
        let resp = agent()
            .post(url)
            .set("content-type", "application/json")
            .set("x-timestamp", &ts)
            .set("x-signature", &sig)
            .send_string(&body)
            .map_err(upstream)?;
        let issued: Issued = super::json_of(resp)?;
        super::rtmp::check_key(&issued.key).map_err(|e| PlatformError::Upstream(e.to_string()))?;
        let expires_at = issued.expires_at.or(issued.expires_in_s.map(|s| crate::store::now_s() + s));
        Ok(Grant {
            push_server: issued.server.unwrap_or_else(|| self.server()),
            key: issued.key,
            live_address: issued.live_address.or_else(|| self.live_address(room)),
            expires_at,
            remote: serde_json::Value::Null,
        })
    }
}

impl PlatformApi for Generic {
    fn create(&self, room: &RoomRef) -> Result<Grant, PlatformError> {
        self.ask(room, "create")
    }

    fn regenerate(&self, room: &RoomRef, _current: &RoomPlatform) -> Result<Grant, PlatformError> {
        if self.s.webhook.is_none() {
            return Err(PlatformError::Unsupported("regenerate a key without a webhook: paste the new key in"));
        }
        self.ask(room, "regenerate")
    }
}
