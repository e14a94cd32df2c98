//! The service's configuration, as operators expect it: defaults → a TOML file (`--config`) →
//! `COSTREAM_*` environment variables → command-line flags, validated once at start with an error
//! that names the key. Secrets are never values here: only files that hold them, or the
//! environment (`COSTREAM_PAYMENT_SECRET`, `COSTREAM_PLATFORM_SECRET`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::limits::Caps;

mod node;
mod secrets;
pub use node::NodeConfig;
pub use secrets::Secrets;

pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
pub const DEFAULT_RTMP: &str = "0.0.0.0:1935";
pub const DEFAULT_DB: &str = "costream.sqlite";
/// Default lifetime of a stream key (24 h).
pub use crate::store::DEFAULT_KEY_TTL_S;
/// Memory of each input's frame ring, MiB.
pub const DEFAULT_RING_BUDGET_MB: u64 = 64;
/// Life of the signed segment URLs of per-viewer playlists, seconds.
pub const DEFAULT_SEGMENT_URL_TTL_S: u64 = 120;
/// How long a stopped session's HLS files stay, seconds.
pub const DEFAULT_HLS_RETENTION_S: u64 = 120;
/// Open HTTP connections per peer address: room for a player's parallel fetches and a CDN's
/// origin pulls, not for a peer holding the service's descriptors.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 256;

/// Pauses shorter than this stay in a recording's replay, seconds.
pub const DEFAULT_REPLAY_MIN_CUT_S: f64 = 3.0;
/// Masked renditions a session makes at most (its level-0 one among them).
pub const DEFAULT_MAX_RENDITIONS: usize = 8;
/// Seconds a rendition made on demand outlives its last viewer.
pub const DEFAULT_RENDITION_GRACE_S: u64 = 30;

/// The environment variables that hold secrets (never part of the configuration's values).
pub const PAYMENT_SECRET_ENV: &str = "COSTREAM_PAYMENT_SECRET";
pub const PLATFORM_SECRET_ENV: &str = "COSTREAM_PLATFORM_SECRET";
/// The slate moderator's shared secret, when no file holds it.
/// Google's YouTube Data API v3.
pub const DEFAULT_YOUTUBE_API: &str = "https://www.googleapis.com/youtube/v3";
/// Variables a platform's secret may be read from begin with this (they are not configuration keys).
pub const PLATFORM_SECRET_ENV_PREFIX: &str = "COSTREAM_SECRET_";
pub const MODERATION_SECRET_ENV: &str = "COSTREAM_MODERATION_SECRET";
/// The RTMP tier's shared secret (its `on_publish` callbacks carry it), when no file holds it.
pub const NGINX_SECRET_ENV: &str = "COSTREAM_NGINX_SECRET";
/// Other `COSTREAM_*` variables that are not configuration keys.
const NOT_KEYS: &[&str] =
    &[PAYMENT_SECRET_ENV, PLATFORM_SECRET_ENV, MODERATION_SECRET_ENV, NGINX_SECRET_ENV, "COSTREAM_DEBUG_LATENCY"];

/// Everything `costream serve` can be configured with. Each key is also `COSTREAM_<KEY>` in the
/// environment and `--<key>` (with dashes) on the command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// HTTP API address.
    pub http: SocketAddr,
    /// RTMP ingest address; anchors publish to rtmp://HOST:PORT/live/STREAM_KEY.
    pub rtmp: SocketAddr,
    /// SQLite database file (created when missing; HLS files go beside it), or a PostgreSQL
    /// URL (`postgres://…`, shared by several nodes; its password only in the file or COSTREAM_DB).
    pub db: PathBuf,
    /// Where HLS, slates and replays are written [default: beside a SQLite file; `costream-data`
    /// with PostgreSQL].
    pub data_dir: Option<PathBuf>,
    /// This node's name among several sharing one PostgreSQL database (none: a node alone).
    pub node_id: Option<String>,
    /// This node's API base URL as the other nodes reach it (http://host:port).
    pub advertise: Option<String>,
    /// Sessions this node carries in real time [default: max_sessions].
    pub node_capacity: Option<usize>,
    /// On SIGTERM or Ctrl-C, a node of several hands its sessions to the others before stopping.
    pub drain_on_stop: bool,
    /// Default stream key lifetime, seconds (1 s to 30 days).
    pub key_ttl_s: i64,
    /// Memory budget of each input's frame ring, MiB (0: a fixed 4 frames).
    pub ring_budget_mb: u64,
    /// Life of the signed segment URLs in per-viewer playlists, seconds.
    pub segment_url_ttl_s: u64,
    pub max_sessions: usize,
    /// PK invitations waiting for an answer at once.
    pub max_invitations: usize,
    /// Anchors publishing over RTMP at once.
    pub max_publishers: usize,
    /// Rooms the service holds.
    pub max_rooms: usize,
    /// Sources one room's key may publish at once (`live/KEY`, `live/KEY/camera`, …).
    pub max_sources_per_room: usize,
    /// Pauses shorter than this stay in a recording's replay, seconds.
    pub replay_min_cut_s: f64,
    /// Masked renditions one session makes at most (its level-0 one among them).
    pub max_renditions: usize,
    /// How long a rendition made on demand outlives its last viewer, seconds.
    pub rendition_grace_s: u64,
    /// Open HTTP connections from one peer address.
    pub max_connections_per_peer: usize,
    /// Pending PK invitations that pre-compose (the rest start composing at their accept).
    pub warm_invitations: usize,
    /// Let sessions pull inputs from loopback and private networks.
    pub allow_private_inputs: bool,
    /// Let sessions push to loopback and private networks.
    pub allow_private_outputs: bool,
    /// Origins whose web pages may call the API (CORS).
    pub cors_origins: Vec<String>,
    /// Seconds a stopped session's HLS files stay (recordings stay).
    pub hls_retention_s: u64,
    /// Seconds an anchor who stopped sending is shown on their last frame before the room's
    /// slate replaces it (until they are back).
    pub anchor_hold_s: u64,
    /// The largest slate file an upload may bring, MiB.
    pub slate_max_mb: u64,
    /// The longest video or animation slate, seconds.
    pub slate_max_duration_s: u64,
    /// A file of words (one per line) no slate's title, tags or text may contain; else a
    /// built-in list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slate_blocklist_file: Option<PathBuf>,
    /// Where new slates are sent for moderation (http or https); they stay `pending` until its
    /// signed answer. None: slates are approved at upload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation_url: Option<String>,
    /// A file holding the moderator's HMAC secret (else COSTREAM_MODERATION_SECRET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation_secret_file: Option<PathBuf>,
    /// A file holding the payment provider's HMAC secret (else COSTREAM_PAYMENT_SECRET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_secret_file: Option<PathBuf>,
    /// The platform's page where a viewer pays for a gift (http or https), `{channel}` and `{token}`
    /// filled in: the viewer page's gift button opens it, and the payment reaches us signed.
    /// None: the viewer page has no gift button.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gift_url: Option<String>,
    /// A file holding the platform's shared secret (else COSTREAM_PLATFORM_SECRET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_secret_file: Option<PathBuf>,
    /// Count our own viewers from their playlist fetches (`GET /rooms/{id}/audience`).
    pub audience_stats: bool,
    /// Mark the console's cookie `Secure` (browsers then send it over HTTPS only): set it when
    /// TLS is in front of the service.
    pub secure_cookie: bool,
    /// An RTMP tier (nginx-rtmp) anchors may publish to instead of this service: its `on_publish`
    /// asks `/ingest/nginx/on_publish` whether a key may publish, and this node then pulls the
    /// stream from here (`rtmp://host:port`). None: no tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx_ingest_url: Option<String>,
    /// An HTTP origin (nginx with WebDAV) every session's HLS is copied to by PUT, at
    /// `{hls_origin}/{session}/index.m3u8`, for viewers and caches. None: no origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hls_origin: Option<String>,
    /// A file holding the secret the tier's callbacks carry (else COSTREAM_NGINX_SECRET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx_secret_file: Option<PathBuf>,
    /// The YouTube Live Streaming API's base URL (a test or a proxy may stand in for Google's).
    pub youtube_api_url: String,
    /// Where a platform's secret named by file (`{"file": "name"}`) is read from; without it,
    /// platforms read their secrets from `COSTREAM_SECRET_*` variables only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_secrets_dir: Option<PathBuf>,
}

/// Every key, in the order `config print` shows them.
pub const KEYS: &[&str] = &[
    "http",
    "rtmp",
    "db",
    "data_dir",
    "node_id",
    "advertise",
    "node_capacity",
    "drain_on_stop",
    "key_ttl_s",
    "ring_budget_mb",
    "segment_url_ttl_s",
    "max_sessions",
    "max_invitations",
    "max_publishers",
    "max_rooms",
    "max_sources_per_room",
    "replay_min_cut_s",
    "max_renditions",
    "rendition_grace_s",
    "max_connections_per_peer",
    "warm_invitations",
    "allow_private_inputs",
    "allow_private_outputs",
    "cors_origins",
    "hls_retention_s",
    "anchor_hold_s",
    "slate_max_mb",
    "slate_max_duration_s",
    "slate_blocklist_file",
    "moderation_url",
    "moderation_secret_file",
    "payment_secret_file",
    "gift_url",
    "platform_secret_file",
    "audience_stats",
    "secure_cookie",
    "nginx_ingest_url",
    "hls_origin",
    "nginx_secret_file",
    "youtube_api_url",
    "platform_secrets_dir",
];

impl Default for ServiceConfig {
    fn default() -> Self {
        let caps = Caps::default();
        ServiceConfig {
            http: DEFAULT_HTTP.parse().expect("a valid default address"),
            rtmp: DEFAULT_RTMP.parse().expect("a valid default address"),
            db: PathBuf::from(DEFAULT_DB),
            data_dir: None,
            node_id: None,
            advertise: None,
            node_capacity: None,
            drain_on_stop: false,
            key_ttl_s: DEFAULT_KEY_TTL_S,
            ring_budget_mb: DEFAULT_RING_BUDGET_MB,
            segment_url_ttl_s: DEFAULT_SEGMENT_URL_TTL_S,
            max_sessions: caps.max_sessions,
            max_invitations: caps.max_invitations,
            max_publishers: caps.max_publishers,
            max_rooms: caps.max_rooms,
            max_sources_per_room: crate::rooms::DEFAULT_MAX_SOURCES,
            replay_min_cut_s: DEFAULT_REPLAY_MIN_CUT_S,
            max_renditions: DEFAULT_MAX_RENDITIONS,
            rendition_grace_s: DEFAULT_RENDITION_GRACE_S,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            warm_invitations: caps.warm_invitations,
            allow_private_inputs: false,
            allow_private_outputs: false,
            cors_origins: Vec::new(),
            hls_retention_s: DEFAULT_HLS_RETENTION_S,
            anchor_hold_s: crate::rooms::DEFAULT_HOLD_S,
            slate_max_mb: crate::rooms::slates::DEFAULT_MAX_MB,
            slate_max_duration_s: crate::rooms::slates::DEFAULT_MAX_DURATION_S as u64,
            slate_blocklist_file: None,
            moderation_url: None,
            moderation_secret_file: None,
            payment_secret_file: None,
            gift_url: None,
            platform_secret_file: None,
            audience_stats: true,
            secure_cookie: false,
            nginx_ingest_url: None,
            hls_origin: None,
            nginx_secret_file: None,
            youtube_api_url: DEFAULT_YOUTUBE_API.into(),
            platform_secrets_dir: None,
        }
    }
}

/// Why the configuration cannot be used; each names the key (and where it came from).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {why}")]
    File { path: PathBuf, why: String },
    #[error("{var}: no such configuration key (known: {})", KEYS.join(", "))]
    UnknownEnv { var: String },
    #[error("{var}: {why}")]
    Env { var: String, why: String },
    #[error("{key}: {why}")]
    Invalid { key: &'static str, why: String },
    #[error("{key} {path}: {why}")]
    Secret { key: &'static str, path: PathBuf, why: String },
}

/// The layers below the flags: defaults, then `file`, then the `COSTREAM_*` variables of `env`.
pub fn layered(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<ServiceConfig, ConfigError> {
    let mut table = match file {
        Some(path) => read_file(path)?,
        None => toml::Table::new(),
    };
    for (var, value) in env {
        let Some(key) = var.strip_prefix("COSTREAM_") else { continue };
        if NOT_KEYS.contains(&var.as_str()) || var.starts_with(PLATFORM_SECRET_ENV_PREFIX) {
            continue;
        }
        let key = key.to_ascii_lowercase();
        if !KEYS.contains(&key.as_str()) {
            return Err(ConfigError::UnknownEnv { var });
        }
        // Each variable on its own first, so a bad value names its variable.
        let value = env_value(&key, &value);
        let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
        ServiceConfig::deserialize(alone).map_err(|e| ConfigError::Env { var, why: e.message().into() })?;
        table.insert(key, value);
    }
    ServiceConfig::deserialize(table)
        .map_err(|e| ConfigError::Env { var: "COSTREAM_*".into(), why: e.message().into() })
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::File { path: path.to_path_buf(), why: e.to_string() })?;
    // Parsed into the typed config first, so an unknown or mistyped key is named with its line.
    toml::from_str::<ServiceConfig>(&text)
        .map_err(|e| ConfigError::File { path: path.to_path_buf(), why: e.to_string() })?;
    toml::from_str(&text).map_err(|e| ConfigError::File { path: path.to_path_buf(), why: e.to_string() })
}

/// An environment value as TOML: a number or boolean when it reads as one, a comma-separated
/// list for list keys, else a string.
fn env_value(key: &str, value: &str) -> toml::Value {
    if key == "cors_origins" {
        let list = value.split(',').map(str::trim).filter(|s| !s.is_empty());
        return toml::Value::Array(list.map(|s| toml::Value::String(s.into())).collect());
    }
    if let Ok(b) = value.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(n) = value.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    toml::Value::String(value.into())
}

impl ServiceConfig {
    /// The database as `Store::connect` takes it.
    pub fn db_url(&self) -> String {
        self.db.to_string_lossy().into_owned()
    }

    /// Where files are written: `data_dir`, else beside a SQLite file.
    pub fn data_dir(&self) -> PathBuf {
        match &self.data_dir {
            Some(d) => d.clone(),
            None if crate::store::is_postgres(&self.db_url()) => PathBuf::from("costream-data"),
            None => self.db.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }

    /// Checks every bound once; the first key out of bounds is named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, why: &str| Err(ConfigError::Invalid { key, why: why.into() });
        if !(1..=30 * 24 * 3600).contains(&self.key_ttl_s) {
            return bad("key_ttl_s", "must be 1 to 2592000 seconds");
        }
        if self.ring_budget_mb > 4096 {
            return bad("ring_budget_mb", "must be at most 4096");
        }
        if !(1..=24 * 3600).contains(&self.segment_url_ttl_s) {
            return bad("segment_url_ttl_s", "must be 1 to 86400 seconds");
        }
        for (key, v) in [
            ("max_sessions", self.max_sessions),
            ("max_invitations", self.max_invitations),
            ("max_publishers", self.max_publishers),
            ("max_rooms", self.max_rooms),
            ("max_connections_per_peer", self.max_connections_per_peer),
        ] {
            if !(1..=100_000).contains(&v) {
                return bad(key, "must be 1 to 100000");
            }
        }
        if self.warm_invitations > self.max_invitations {
            return bad("warm_invitations", "must be at most max_invitations");
        }
        for (key, v, most) in [
            ("slate_max_mb", self.slate_max_mb, 1024),
            ("slate_max_duration_s", self.slate_max_duration_s, 3600),
            ("anchor_hold_s", self.anchor_hold_s, 3600),
            ("max_sources_per_room", self.max_sources_per_room as u64, 16),
            ("max_renditions", self.max_renditions as u64, 16),
            ("rendition_grace_s", self.rendition_grace_s, 3600),
        ] {
            if !(1..=most).contains(&v) {
                return Err(ConfigError::Invalid { key, why: format!("must be 1 to {most}") });
            }
        }
        for (key, url) in [("moderation_url", &self.moderation_url), ("gift_url", &self.gift_url)] {
            if let Some(u) = url.as_deref().filter(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
                return Err(ConfigError::Invalid { key, why: format!("{u:?} is not an http(s) URL") });
            }
        }
        if let Some(u) = self.nginx_ingest_url.as_deref().filter(|u| !u.starts_with("rtmp://")) {
            return Err(ConfigError::Invalid { key: "nginx_ingest_url", why: format!("{u:?} is not an rtmp:// URL") });
        }
        if !(0.0..=3600.0).contains(&self.replay_min_cut_s) {
            return bad("replay_min_cut_s", "must be 0 to 3600 seconds");
        }
        if self.hls_retention_s > 7 * 24 * 3600 {
            return bad("hls_retention_s", "must be at most 604800 seconds");
        }
        if let Some(o) = self.cors_origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://"))) {
            return Err(ConfigError::Invalid { key: "cors_origins", why: format!("{o:?} is not an http(s) origin") });
        }
        if !(self.youtube_api_url.starts_with("http://") || self.youtube_api_url.starts_with("https://")) {
            return bad("youtube_api_url", "must be an http(s) URL");
        }
        if self.db.as_os_str().is_empty() {
            return bad("db", "must name a file");
        }
        self.validate_node()
    }

    /// What slate uploads must keep to (the blocklist read from its file, if one is set).
    pub fn slate_rules(&self) -> Result<crate::rooms::SlateRules, ConfigError> {
        let mut rules = crate::rooms::SlateRules {
            max_bytes: self.slate_max_mb << 20,
            max_duration_s: self.slate_max_duration_s as f64,
            ..Default::default()
        };
        if let Some(path) = &self.slate_blocklist_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::File { path: path.clone(), why: e.to_string() })?;
            rules.blocklist = crate::rooms::slates::blocklist_from(&text);
        }
        Ok(rules)
    }

    /// Each input's frame ring budget in bytes.
    pub fn ring_budget_bytes(&self) -> u64 {
        self.ring_budget_mb << 20
    }

    pub fn caps(&self) -> Caps {
        Caps {
            max_sessions: self.max_sessions,
            max_invitations: self.max_invitations,
            max_publishers: self.max_publishers,
            max_rooms: self.max_rooms,
            warm_invitations: self.warm_invitations,
        }
    }
}

#[cfg(test)]
mod tests;
