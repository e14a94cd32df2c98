//! `costream serve` and `costream config print`: the configuration from defaults, a file,
//! `COSTREAM_*` variables and flags (each later one wins), and the secrets read from files or the
//! environment (never from the command line, which every user of the machine can read).

use std::path::PathBuf;

use clap::Args;

use costream::api::serve::ServeConfig;
use costream::config::{self, ServiceConfig};
use costream::Error;

/// Flags override the file and the environment; each is a key of the configuration (see
/// `costream config print`).
#[derive(Args, Clone, Default)]
pub struct ServeArgs {
    /// A TOML file with any of the configuration's keys (see the README).
    #[arg(long)]
    config: Option<PathBuf>,
    /// HTTP API address [default: 127.0.0.1:8080].
    #[arg(long)]
    http: Option<std::net::SocketAddr>,
    /// RTMP ingest address; anchors publish to rtmp://HOST:PORT/live/STREAM_KEY [default: 0.0.0.0:1935].
    #[arg(long)]
    rtmp: Option<std::net::SocketAddr>,
    /// SQLite database file (created when missing) [default: costream.sqlite], or a PostgreSQL
    /// URL, postgres://USER@HOST/DB (its password in COSTREAM_DB or the config file, never here).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Where HLS, slates and replays are written [default: beside the SQLite file; costream-data
    /// with PostgreSQL].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// This node's name among several sharing one PostgreSQL database.
    #[arg(long)]
    node_id: Option<String>,
    /// This node's API base URL as the other nodes reach it (http://host:port).
    #[arg(long)]
    advertise: Option<String>,
    /// Sessions this node carries in real time [default: max_sessions].
    #[arg(long)]
    node_capacity: Option<usize>,
    /// On SIGTERM or Ctrl-C, hand this node's sessions to the other nodes before stopping.
    #[arg(long)]
    drain: bool,
    /// Default stream key lifetime in seconds [default: 86400].
    #[arg(long)]
    key_ttl: Option<i64>,
    /// Memory budget of each input's frame ring in MiB: as many decoded frames as fit, 1 to 8
    /// (0: a fixed 4 frames) [default: 64].
    #[arg(long)]
    ring_budget_mb: Option<u64>,
    /// A file holding the shared secret of the payment provider's HMAC-SHA256 signed callbacks
    /// (or the COSTREAM_PAYMENT_SECRET environment variable); without one, payment callbacks are
    /// refused.
    #[arg(long)]
    payment_secret_file: Option<PathBuf>,
    /// The platform's page where a viewer pays for a gift, `{channel}` and `{token}` filled in:
    /// the viewer page's gift button opens it [default: none, no gift button].
    #[arg(long)]
    gift_url: Option<String>,
    /// A file holding the platform's shared secret: it signs behaviour reports (HMAC-SHA256 of
    /// "<X-Timestamp>.<body>") and may sign viewer tokens (or COSTREAM_PLATFORM_SECRET).
    #[arg(long)]
    platform_secret_file: Option<PathBuf>,
    /// Life of the signed segment URLs in per-viewer playlists, in seconds [default: 120].
    #[arg(long)]
    segment_url_ttl: Option<u64>,
    /// Sessions running at once (past it, POST /sessions answers 429) [default: 200].
    #[arg(long)]
    max_sessions: Option<usize>,
    /// PK invitations waiting for an answer at once (past it, 429) [default: 100].
    #[arg(long)]
    max_invitations: Option<usize>,
    /// Anchors publishing over RTMP at once (past it, a publish is refused) [default: 64].
    #[arg(long)]
    max_publishers: Option<usize>,
    /// Rooms the service holds (past it, POST /rooms answers 429) [default: 10000].
    #[arg(long)]
    max_rooms: Option<usize>,
    /// Open HTTP connections from one address (past it, a new one is closed at once) [default: 256].
    #[arg(long)]
    max_connections_per_peer: Option<usize>,
    /// Pending PK invitations that keep their session composing, so the accept shows the PK at
    /// once (the others start composing at their accept) [default: 2].
    #[arg(long)]
    warm_invitations: Option<usize>,
    /// Let sessions pull inputs from loopback and private networks (refused by default).
    #[arg(long)]
    allow_private_inputs: bool,
    /// Let sessions push to loopback and private networks (refused by default).
    #[arg(long)]
    allow_private_outputs: bool,
    /// An origin whose web pages may call the API (CORS); repeat for several. None by default.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Seconds a stopped session's HLS files stay before they are removed (recordings stay)
    /// [default: 120].
    #[arg(long)]
    hls_retention: Option<u64>,
    /// Seconds an anchor who stopped sending stays on their last frame before the room's slate
    /// replaces them, until they are back [default: 10].
    #[arg(long)]
    anchor_hold: Option<u64>,
    /// Pauses shorter than this many seconds stay in a recording's replay [default: 3].
    #[arg(long)]
    replay_min_cut: Option<f64>,
    /// Masked renditions one session makes at most, its level-0 one among them [default: 8].
    #[arg(long)]
    max_renditions: Option<usize>,
    /// Seconds a rendition made on demand outlives its last viewer [default: 30].
    #[arg(long)]
    rendition_grace: Option<u64>,
    /// Sources one room's key may publish at once (live/KEY, live/KEY/camera, …) [default: 4].
    #[arg(long)]
    max_sources_per_room: Option<usize>,
    /// The largest slate file an upload may bring, MiB [default: 20].
    #[arg(long)]
    slate_max_mb: Option<u64>,
    /// The longest video or animation slate, seconds [default: 120].
    #[arg(long)]
    slate_max_duration: Option<u64>,
    /// A file of words (one per line) no slate's title, tags or text may contain [default: a
    /// built-in list].
    #[arg(long)]
    slate_blocklist_file: Option<PathBuf>,
    /// Where new slates are sent for moderation: they stay pending until its signed answer
    /// (its secret: --moderation-secret-file or COSTREAM_MODERATION_SECRET) [default: none].
    #[arg(long)]
    moderation_url: Option<String>,
    /// A file holding the moderator's HMAC secret.
    #[arg(long)]
    moderation_secret_file: Option<PathBuf>,
    /// Do not count our own viewers (audience statistics off).
    #[arg(long)]
    no_audience_stats: bool,
    /// Mark the console's cookie Secure (HTTPS only): for a service behind TLS.
    #[arg(long)]
    secure_cookie: bool,
    /// An nginx-rtmp tier anchors publish to (rtmp://host:port): its on_publish asks this
    /// service, which then pulls the stream from it.
    #[arg(long)]
    nginx_ingest_url: Option<String>,
    /// An HTTP origin (nginx with WebDAV) every session's HLS is copied to by PUT, at
    /// {hls_origin}/{session}/index.m3u8.
    #[arg(long)]
    hls_origin: Option<String>,
    /// A file holding the secret the tier's callbacks carry (or COSTREAM_NGINX_SECRET).
    #[arg(long)]
    nginx_secret_file: Option<PathBuf>,
    /// The YouTube Live Streaming API's base URL [default: Google's].
    #[arg(long)]
    youtube_api_url: Option<String>,
    /// The directory a platform's secret named by file is read from (else only
    /// COSTREAM_SECRET_* variables) [default: none].
    #[arg(long)]
    platform_secrets_dir: Option<PathBuf>,
    /// Test knob: extra milliseconds of work per tick in every session, to overload the machine
    /// on purpose.
    #[arg(long, default_value_t = 0, hide = true)]
    test_extra_tick_ms: u32,
    /// Test knob: a file of `name address` lines answered before the system's resolver (a name
    /// whose answer a test changes between a URL's check and its connection).
    #[arg(long, hide = true)]
    test_hosts: Option<PathBuf>,
}

/// Where files go and this node's place among several.
fn node_flags(c: &mut ServiceConfig, a: &ServeArgs) {
    if a.data_dir.is_some() {
        c.data_dir = a.data_dir.clone();
    }
    for (field, flag) in [(&mut c.node_id, &a.node_id), (&mut c.advertise, &a.advertise)] {
        if flag.is_some() {
            *field = flag.clone();
        }
    }
    if a.node_capacity.is_some() {
        c.node_capacity = a.node_capacity;
    }
    if a.hls_origin.is_some() {
        c.hls_origin = a.hls_origin.clone();
    }
}

/// Defaults → file → environment → these flags, validated.
fn effective(a: &ServeArgs) -> Result<ServiceConfig, config::ConfigError> {
    let mut c = config::layered(a.config.as_deref(), std::env::vars())?;
    fn set<T: Clone>(field: &mut T, flag: &Option<T>) {
        if let Some(v) = flag {
            *field = v.clone();
        }
    }
    set(&mut c.http, &a.http);
    set(&mut c.rtmp, &a.rtmp);
    if a.db.as_ref().and_then(|d| d.to_str()).is_some_and(costream::store::has_password) {
        let why = "a password on the command line is seen by every user of the machine: put the URL in COSTREAM_DB or the config file";
        return Err(config::ConfigError::Invalid { key: "db", why: why.into() });
    }
    set(&mut c.db, &a.db);
    node_flags(&mut c, a);
    set(&mut c.key_ttl_s, &a.key_ttl);
    set(&mut c.ring_budget_mb, &a.ring_budget_mb);
    set(&mut c.segment_url_ttl_s, &a.segment_url_ttl);
    set(&mut c.max_sessions, &a.max_sessions);
    set(&mut c.max_invitations, &a.max_invitations);
    set(&mut c.max_publishers, &a.max_publishers);
    set(&mut c.max_rooms, &a.max_rooms);
    set(&mut c.max_connections_per_peer, &a.max_connections_per_peer);
    set(&mut c.warm_invitations, &a.warm_invitations);
    set(&mut c.hls_retention_s, &a.hls_retention);
    set(&mut c.anchor_hold_s, &a.anchor_hold);
    set(&mut c.max_sources_per_room, &a.max_sources_per_room);
    set(&mut c.replay_min_cut_s, &a.replay_min_cut);
    set(&mut c.max_renditions, &a.max_renditions);
    set(&mut c.rendition_grace_s, &a.rendition_grace);
    set(&mut c.slate_max_mb, &a.slate_max_mb);
    set(&mut c.slate_max_duration_s, &a.slate_max_duration);
    if a.slate_blocklist_file.is_some() {
        c.slate_blocklist_file = a.slate_blocklist_file.clone();
    }
    if a.moderation_url.is_some() {
        c.moderation_url = a.moderation_url.clone();
    }
    if a.moderation_secret_file.is_some() {
        c.moderation_secret_file = a.moderation_secret_file.clone();
    }
    if a.payment_secret_file.is_some() {
        c.payment_secret_file = a.payment_secret_file.clone();
    }
    if a.gift_url.is_some() {
        c.gift_url = a.gift_url.clone();
    }
    if a.platform_secret_file.is_some() {
        c.platform_secret_file = a.platform_secret_file.clone();
    }
    set(&mut c.youtube_api_url, &a.youtube_api_url);
    if a.platform_secrets_dir.is_some() {
        c.platform_secrets_dir = a.platform_secrets_dir.clone();
    }
    c.allow_private_inputs |= a.allow_private_inputs;
    c.audience_stats &= !a.no_audience_stats;
    c.secure_cookie |= a.secure_cookie;
    c.drain_on_stop |= a.drain;
    if a.nginx_ingest_url.is_some() {
        c.nginx_ingest_url = a.nginx_ingest_url.clone();
    }
    if a.nginx_secret_file.is_some() {
        c.nginx_secret_file = a.nginx_secret_file.clone();
    }
    c.allow_private_outputs |= a.allow_private_outputs;
    if !a.cors_origins.is_empty() {
        c.cors_origins = a.cors_origins.clone();
    }
    c.validate()?;
    Ok(c)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn config_error(e: config::ConfigError) -> Error {
    costream::error::invalid("configuration", e.to_string())
}

fn runtime_config(service: ServiceConfig) -> Result<ServeConfig, Error> {
    let secrets = service.secrets(&env).map_err(config_error)?;
    // A peer that signs what it sends needs its secret.
    for (key, set, secret, why) in [
        (
            "nginx_ingest_url",
            service.nginx_ingest_url.is_some(),
            &secrets.nginx,
            "needs the RTMP tier's callback secret (nginx_secret_file or COSTREAM_NGINX_SECRET)",
        ),
        (
            "moderation_url",
            service.moderation_url.is_some(),
            &secrets.moderation,
            "needs the moderator's secret (moderation_secret_file or COSTREAM_MODERATION_SECRET)",
        ),
    ] {
        if set && secret.as_deref().is_none_or(str::is_empty) {
            return Err(costream::error::invalid(key, why));
        }
    }
    Ok(ServeConfig { service, secrets })
}

pub fn run(a: ServeArgs) -> Result<(), Error> {
    let cfg = runtime_config(effective(&a).map_err(config_error)?)?;
    costream::compose::set_test_extra_tick_ms(a.test_extra_tick_ms);
    if let Some(p) = a.test_hosts.clone() {
        costream::policy::resolve::set_test_hosts(p);
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(costream::api::serve::run(cfg, costream::api::serve::shutdown_signal()))
}

/// `costream config print`: the configuration `serve` would run with, secrets masked.
pub fn print(a: ServeArgs) -> Result<(), Error> {
    let c = effective(&a).map_err(config_error)?;
    let secrets = c.secrets(&env).map_err(config_error)?;
    print!("{}", c.print(&secrets));
    Ok(())
}
