//! Rooms on the wire: what clients send to create a room, regenerate its key or add a
//! destination, converted once into checked values, and a room as the API shows it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiResult};
use crate::store::{self, Destination, Room, StreamKey};

/// The platform of a room that is this service's own.
pub const OWN_PLATFORM: &str = "costream";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// 1 to 200 characters, any script.
    pub name: String,
    /// "costream" (default) or a third-party platform's name.
    #[serde(default)]
    pub platform: Option<String>,
    /// Stream key lifetime in seconds (1 s to 30 days; default 24 h).
    #[serde(default)]
    pub key_ttl_s: Option<i64>,
    /// The platforms the show goes out on (`GET /platforms`): "costream" (this service's own
    /// viewers) and third-party platforms set up here, each created for the room now. Default:
    /// ["costream"].
    #[serde(default)]
    pub platforms: Option<Vec<String>>,
}

/// A room to create, checked.
#[derive(Debug, PartialEq)]
pub struct NewRoom {
    pub name: String,
    pub platform: String,
    pub key_ttl_s: Option<i64>,
    /// Third-party platforms to create it on.
    pub platforms: Vec<String>,
}

impl TryFrom<CreateRoom> for NewRoom {
    type Error = ApiError;
    fn try_from(b: CreateRoom) -> ApiResult<NewRoom> {
        let CreateRoom { name, platform, key_ttl_s, platforms } = b;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid("name must be 1 to 200 characters"));
        }
        let (platform, platforms) = match (platform, platforms) {
            (Some(_), Some(_)) => return Err(ApiError::invalid("give platforms, or the older platform, not both")),
            (p, None) => (p, Vec::new()),
            (None, Some(list)) => super::platforms_wire::chosen(list)?,
        };
        let platform = platform.as_deref().unwrap_or(OWN_PLATFORM).trim().to_string();
        if platform.is_empty() || platform.len() > 64 {
            return Err(ApiError::invalid("platform must be 1 to 64 characters"));
        }
        key_ttl_s.map(ttl).transpose()?;
        Ok(NewRoom { name: name.to_string(), platform, key_ttl_s, platforms })
    }
}

/// A stream key lifetime within bounds.
pub fn ttl(t: i64) -> ApiResult<i64> {
    if (1..=30 * 24 * 3600).contains(&t) {
        Ok(t)
    } else {
        Err(ApiError::invalid(format!("key_ttl_s {t} must be between 1 and 2592000")))
    }
}

/// What a room is about today (each part left as it is when absent).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomTopic {
    /// 1 to 200 characters.
    #[serde(default)]
    pub title: Option<String>,
    /// At most 20, each 1 to 40 characters.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

impl RoomTopic {
    /// Trimmed and within bounds.
    pub fn checked(self) -> ApiResult<(Option<String>, Option<Vec<String>>)> {
        let title = self.title.map(|t| t.trim().to_string());
        if title.as_ref().is_some_and(|t| t.is_empty() || t.chars().count() > 200) {
            return Err(ApiError::invalid("title must be 1 to 200 characters"));
        }
        let tags: Option<Vec<String>> = self.tags.map(|v| v.iter().map(|t| t.trim().to_string()).collect());
        if tags.as_ref().is_some_and(|v| v.len() > 20 || v.iter().any(|t| t.is_empty() || t.chars().count() > 40)) {
            return Err(ApiError::invalid("tags: at most 20, each 1 to 40 characters"));
        }
        Ok((title, tags))
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RegenerateKey {
    #[serde(default)]
    pub key_ttl_s: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDestination {
    /// rtmp:// or rtmps:// push URL of a platform, including its key.
    pub url: String,
}

/// A stream key and its life (Unix seconds).
#[derive(Serialize, ToSchema)]
pub struct StreamKeyView {
    pub key: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl From<StreamKey> for StreamKeyView {
    fn from(k: StreamKey) -> StreamKeyView {
        StreamKeyView { key: k.key, issued_at: k.issued_at, expires_at: k.expires_at }
    }
}

/// Who publishes to a live room.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct LiveInfo {
    pub peer: String,
    /// Unix seconds.
    pub since: i64,
}

impl From<crate::rooms::LiveInfo> for LiveInfo {
    fn from(l: crate::rooms::LiveInfo) -> LiveInfo {
        LiveInfo { peer: l.peer, since: l.since }
    }
}

/// A source of a room being published: `main` (the bare key) or another name
/// (`live/KEY/camera`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub name: String,
    pub peer: String,
    /// Unix seconds.
    pub since: i64,
}

impl From<crate::rooms::SourceInfo> for SourceView {
    fn from(s: crate::rooms::SourceInfo) -> SourceView {
        SourceView { name: s.name, peer: s.peer, since: s.since }
    }
}

/// Which of its sources a room shows.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowSource {
    /// A source being published: `main` or a name such as `camera`.
    pub name: String,
}

/// A room with its current stream key and status.
#[derive(Serialize, ToSchema)]
pub struct RoomView {
    pub id: String,
    pub name: String,
    /// "costream" for this service itself, or a third-party platform's name.
    pub platform: String,
    pub created_at: i64,
    pub key: Option<StreamKeyView>,
    /// `live`, `not_started` or `key_expired`.
    pub status: &'static str,
    /// Where the anchor publishes, relative to this service's RTMP address.
    pub publish_path: Option<String>,
    pub live: Option<LiveInfo>,
    /// The source the room's tile shows (`POST /rooms/{id}/source`); `main` unless switched.
    pub source: String,
    /// The sources being published.
    pub sources: Vec<SourceView>,
    /// While the room is paused: since when, and what it shows.
    pub paused: Option<super::pause_wire::PauseView>,
    /// Since when (Unix seconds) the room shows its slate because its anchor stopped sending for
    /// longer than the hold (`anchor_hold_s`); null while the anchor is there.
    pub away_since: Option<i64>,
    /// The slate `auto` pauses show when none matches the room (`PUT /rooms/{id}/slate`); null:
    /// the system card.
    pub default_slate: Option<String>,
    /// What the room is about today (`PATCH /rooms/{id}`): "auto" slates are chosen by it.
    pub title: Option<String>,
    pub tags: Vec<String>,
    /// Playback at `/rooms/{id}/live/index.m3u8` needs no viewer token (`PUT /rooms/{id}/public`).
    pub public: bool,
    /// The room on each of its platforms (in the answers about this one room): push server, key
    /// (in full only in the creating answer; `GET /rooms/{id}/platforms/{p}/key` shows it),
    /// live address and statuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Vec<super::platforms_wire::RoomPlatformView>>,
}

/// Whether a room's playback is public.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomPublic {
    pub public: bool,
}

impl RoomView {
    pub fn new(room: Room, live: Option<LiveInfo>) -> RoomView {
        let status = if live.is_some() {
            "live"
        } else if room.key.as_ref().is_none_or(|k| k.expires_at <= store::now_s()) {
            "key_expired"
        } else {
            "not_started"
        };
        let publish_path = room.key.as_ref().map(|k| format!("/{}/{}", crate::rooms::PUBLISH_APP, k.key));
        let Room { id, name, platform, created_at, key, default_slate, title, tags } = room;
        RoomView {
            id,
            name,
            platform,
            created_at,
            key: key.map(Into::into),
            status,
            publish_path,
            live,
            source: crate::ingest::rtmp::MAIN_SOURCE.to_string(),
            sources: Vec::new(),
            paused: None,
            away_since: None,
            default_slate,
            title,
            tags,
            public: false,
            platforms: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DestinationView {
    pub id: String,
    pub room_id: String,
    pub url: String,
    pub created_at: i64,
}

impl From<Destination> for DestinationView {
    fn from(d: Destination) -> DestinationView {
        DestinationView { id: d.id, room_id: d.room_id, url: d.url, created_at: d.created_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(json: &str) -> ApiResult<NewRoom> {
        NewRoom::try_from(serde_json::from_str::<CreateRoom>(json).expect("parses"))
    }

    #[test]
    fn a_room_request_converts_trimmed_with_its_defaults() {
        let r = new(r#"{"name":"  主播 A "}"#).unwrap();
        assert_eq!(
            r,
            NewRoom { name: "主播 A".into(), platform: OWN_PLATFORM.into(), key_ttl_s: None, platforms: vec![] }
        );
        assert_eq!(new(r#"{"name":"A","key_ttl_s":60}"#).unwrap().key_ttl_s, Some(60));
    }

    #[test]
    fn bad_rooms_are_refused() {
        for bad in [r#"{"name":" "}"#, r#"{"name":"A","platform":""}"#, r#"{"name":"A","key_ttl_s":0}"#] {
            assert_eq!(new(bad).unwrap_err().status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
        assert!(serde_json::from_str::<CreateRoom>(r#"{"name":"A","colour":1}"#).is_err());
    }

    #[test]
    fn a_room_shows_where_to_publish() {
        let key = StreamKey { key: "sk_1".into(), issued_at: 0, expires_at: i64::MAX };
        let room = Room {
            id: "room_1".into(),
            name: "A".into(),
            platform: "costream".into(),
            created_at: 0,
            key: Some(key),
            default_slate: None,
            title: None,
            tags: vec![],
        };
        let v = RoomView::new(room, None);
        assert_eq!((v.status, v.publish_path.as_deref()), ("not_started", Some("/live/sk_1")));
    }
}
