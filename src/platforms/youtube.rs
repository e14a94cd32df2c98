//! `youtube`: the YouTube Live Streaming API v3. A room is a liveStream (its ingestion address
//! and stream name are the push server and key) bound to a liveBroadcast (its watch page is the
//! live address); when our push arrives the broadcast is transitioned to `live`; its lifeCycleStatus
//! is its status and videos.list's concurrentViewers its audience. A new key is a new liveStream
//! bound to the same broadcast (YouTube's keys are not regenerated in place). The OAuth token is
//! read from the platform's secret at each call.

use serde_json::{json, Value};

use super::{agent, upstream, Context, Grant, LiveStatus, PlatformApi, PlatformError, RoomRef, Settings};
use crate::store::RoomPlatform;

pub struct YouTube {
    s: Settings,
    cx: Context,
}

pub fn check(s: &Settings) -> Result<(), PlatformError> {
    if s.token.is_none() {
        return Err(PlatformError::Invalid("token: a youtube platform needs its OAuth token's secret".into()));
    }
    if let Some(p) = s.privacy.as_deref().filter(|p| !["public", "unlisted", "private"].contains(p)) {
        return Err(PlatformError::Invalid(format!("privacy: public, unlisted or private, not {p:?}")));
    }
    Ok(())
}

/// `2026-12-04T12:00:00Z` for Unix seconds (the API's RFC 3339 times).
fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

impl YouTube {
    pub fn new(s: Settings, cx: Context) -> YouTube {
        YouTube { s, cx }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, PlatformError> {
        super::json_of(self.send(method, path, query, body)?)
    }

    /// Deletes a resource (`liveBroadcasts`, `liveStreams`); YouTube answers 204 with no body.
    fn delete(&self, path: &str, id: &str) -> Result<(), PlatformError> {
        self.send("DELETE", path, &[("id", id)], None).map(drop)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<ureq::Response, PlatformError> {
        let token = self.s.token.as_ref().ok_or(PlatformError::Unsupported("call YouTube without a token"))?;
        let token = token.read(self.cx.secrets_dir.as_deref())?;
        let url = format!("{}/{path}", self.cx.youtube_api_url.trim_end_matches('/'));
        let mut req = agent().request(method, &url).set("authorization", &format!("Bearer {token}"));
        for (k, v) in query {
            req = req.query(k, v);
        }
        let resp = match body {
            Some(b) => req.set("content-type", "application/json").send_string(&b.to_string()),
            None => req.call(),
        };
        resp.map_err(upstream)
    }

    /// liveStreams.insert: a new stream, its id and (address, name).
    fn new_stream(&self, room: &RoomRef) -> Result<(String, String, String), PlatformError> {
        let body = json!({
            "snippet": {"title": format!("{} (costream)", room.name)},
            "cdn": {"frameRate": "variable", "ingestionType": "rtmp", "resolution": "variable"},
            "contentDetails": {"isReusable": true},
        });
        let v = self.call("POST", "liveStreams", &[("part", "snippet,cdn,contentDetails,status")], Some(body))?;
        let info = &v["cdn"]["ingestionInfo"];
        let (Some(id), Some(address), Some(name)) =
            (v["id"].as_str(), info["ingestionAddress"].as_str(), info["streamName"].as_str())
        else {
            return Err(PlatformError::Upstream(
                "liveStreams.insert gave no id, ingestionAddress or streamName".into(),
            ));
        };
        self.cx
            .policy
            .check_output(address)
            .map_err(|e| PlatformError::Upstream(format!("its ingestion address: {e}")))?;
        super::rtmp::check_key(name).map_err(|e| PlatformError::Upstream(e.to_string()))?;
        Ok((id.to_string(), address.to_string(), name.to_string()))
    }

    fn bind(&self, broadcast: &str, stream: &str) -> Result<(), PlatformError> {
        let q = [("id", broadcast), ("part", "id,contentDetails"), ("streamId", stream)];
        self.call("POST", "liveBroadcasts/bind", &q, None).map(drop)
    }

    fn grant(&self, broadcast: &str, stream: String, address: String, key: String) -> Grant {
        // YouTube's keys do not expire by themselves: ours are replaced after `key_ttl_s` (24 h
        // unless set), like this service's own.
        let ttl = self.s.key_ttl_s.unwrap_or(crate::store::DEFAULT_KEY_TTL_S);
        let expires_at = Some(crate::store::now_s() + ttl);
        Grant {
            push_server: address,
            key,
            live_address: Some(format!("https://www.youtube.com/watch?v={broadcast}")),
            expires_at,
            remote: json!({"broadcast": broadcast, "stream": stream}),
        }
    }

    fn broadcast_of(current: &RoomPlatform) -> Result<String, PlatformError> {
        let remote: Value = serde_json::from_str(&current.remote).unwrap_or(Value::Null);
        remote["broadcast"].as_str().map(str::to_string).ok_or(PlatformError::Unsupported("find its broadcast"))
    }
}

impl PlatformApi for YouTube {
    fn create(&self, room: &RoomRef) -> Result<Grant, PlatformError> {
        let (stream, address, key) = self.new_stream(room)?;
        let privacy = self.s.privacy.as_deref().unwrap_or("unlisted");
        let body = json!({
            "snippet": {"title": room.name, "scheduledStartTime": rfc3339(crate::store::now_s())},
            "status": {"privacyStatus": privacy, "selfDeclaredMadeForKids": false},
            "contentDetails": {"enableAutoStart": false, "enableAutoStop": true},
        });
        let b = self.call("POST", "liveBroadcasts", &[("part", "snippet,status,contentDetails")], Some(body))?;
        let broadcast =
            b["id"].as_str().ok_or_else(|| PlatformError::Upstream("liveBroadcasts.insert gave no id".into()))?;
        self.bind(broadcast, &stream)?;
        Ok(self.grant(broadcast, stream, address, key))
    }

    fn regenerate(&self, room: &RoomRef, current: &RoomPlatform) -> Result<Grant, PlatformError> {
        let broadcast = Self::broadcast_of(current)?;
        let (stream, address, key) = self.new_stream(room)?;
        self.bind(&broadcast, &stream)?;
        let old: Value = serde_json::from_str(&current.remote).unwrap_or(Value::Null);
        if let Some(old) = old["stream"].as_str() {
            // The old stream is not needed any more; a failure here leaves it unused, no harm.
            let _ = self.delete("liveStreams", old);
        }
        Ok(self.grant(&broadcast, stream, address, key))
    }

    fn remove(&self, current: &RoomPlatform) -> Result<(), PlatformError> {
        let remote: Value = serde_json::from_str(&current.remote).unwrap_or(Value::Null);
        // The broadcast first (viewers' page of it goes), then its stream; both are tried.
        let broadcast = remote["broadcast"].as_str().map(|b| self.delete("liveBroadcasts", b));
        let stream = remote["stream"].as_str().map(|st| self.delete("liveStreams", st));
        broadcast.into_iter().chain(stream).collect()
    }

    fn went_live(&self, current: &RoomPlatform) -> Result<(), PlatformError> {
        let broadcast = Self::broadcast_of(current)?;
        let q = [("broadcastStatus", "live"), ("id", broadcast.as_str()), ("part", "status")];
        self.call("POST", "liveBroadcasts/transition", &q, None).map(drop)
    }

    fn status(&self, current: &RoomPlatform) -> Result<Option<LiveStatus>, PlatformError> {
        let broadcast = Self::broadcast_of(current)?;
        let v = self.call("GET", "liveBroadcasts", &[("part", "status"), ("id", broadcast.as_str())], None)?;
        Ok(v["items"][0]["status"]["lifeCycleStatus"].as_str().map(|s| match s {
            "live" | "liveStarting" => LiveStatus::Live,
            "complete" | "revoked" => LiveStatus::Ended,
            _ => LiveStatus::NotStarted,
        }))
    }

    fn viewers(&self, current: &RoomPlatform) -> Result<Option<u64>, PlatformError> {
        let broadcast = Self::broadcast_of(current)?;
        let v = self.call("GET", "videos", &[("part", "liveStreamingDetails"), ("id", broadcast.as_str())], None)?;
        let n = &v["items"][0]["liveStreamingDetails"]["concurrentViewers"];
        Ok(n.as_str().and_then(|s| s.parse().ok()).or(n.as_u64()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_796_385_600), "2026-12-04T12:00:00Z");
    }
}
