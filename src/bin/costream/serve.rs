//! `costream serve`: the service's flags, and its secrets read from files or the environment
//! (never from the command line, which every user of the machine can read).

use std::path::PathBuf;

use clap::Args;

use costream::api::serve::ServeConfig;
use costream::Error;

#[derive(Args)]
pub struct ServeArgs {
    /// HTTP API address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: std::net::SocketAddr,
    /// RTMP ingest address; anchors publish to rtmp://HOST:PORT/live/STREAM_KEY.
    #[arg(long, default_value = "0.0.0.0:1935")]
    rtmp: std::net::SocketAddr,
    /// SQLite database file (created when missing).
    #[arg(long, default_value = "costream.sqlite")]
    db: PathBuf,
    /// Default stream key lifetime in seconds.
    #[arg(long, default_value_t = costream::store::DEFAULT_KEY_TTL_S)]
    key_ttl: i64,
    /// Memory budget of each pulled input's frame ring in MiB: as many decoded frames as fit,
    /// 1 to 8 (0: a fixed 4 frames).
    #[arg(long, default_value_t = 64)]
    ring_budget_mb: u64,
    /// A file holding the shared secret of the payment provider's HMAC-SHA256 signed callbacks
    /// (or the COSTREAM_PAYMENT_SECRET environment variable; never the command line, which
    /// every user of the machine can read); without one, payment callbacks are refused.
    #[arg(long)]
    payment_secret_file: Option<PathBuf>,
    /// A file holding the platform's shared secret: it signs behaviour reports (HMAC-SHA256 of
    /// "<X-Timestamp>.<body>") and may sign viewer tokens (or COSTREAM_PLATFORM_SECRET).
    #[arg(long)]
    platform_secret_file: Option<PathBuf>,
    /// Life of the signed segment URLs in per-viewer playlists, in seconds.
    #[arg(long, default_value_t = 120)]
    segment_url_ttl: u64,
    /// Sessions running at once (past it, POST /sessions answers 429).
    #[arg(long, default_value_t = costream::limits::Caps::default().max_sessions)]
    max_sessions: usize,
    /// PK invitations waiting for an answer at once (past it, 429).
    #[arg(long, default_value_t = costream::limits::Caps::default().max_invitations)]
    max_invitations: usize,
    /// Anchors publishing over RTMP at once (past it, a publish is refused).
    #[arg(long, default_value_t = costream::limits::Caps::default().max_publishers)]
    max_publishers: usize,
    /// Let sessions pull inputs from loopback and private networks (refused by default).
    #[arg(long)]
    allow_private_inputs: bool,
    /// Let sessions push to loopback and private networks (refused by default).
    #[arg(long)]
    allow_private_outputs: bool,
    /// An origin whose web pages may call the API (CORS); repeat for several. None by default.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Seconds a stopped session's HLS files stay before they are removed (recordings stay).
    #[arg(long, default_value_t = 120)]
    hls_retention: u64,
    /// Test knob: extra milliseconds of work per tick in every session, to overload the machine
    /// on purpose.
    #[arg(long, default_value_t = 0, hide = true)]
    test_extra_tick_ms: u32,
}

/// A secret from its file, else from the environment variable `env`.
fn secret(file: Option<PathBuf>, flag: &str, env: &str) -> Result<Option<String>, Error> {
    match file {
        Some(p) => Ok(Some(
            std::fs::read_to_string(&p)
                .map_err(|e| costream::error::invalid("secret file", format!("--{flag} {}: {e}", p.display())))?
                .trim()
                .to_string(),
        )),
        None => Ok(std::env::var(env).ok()),
    }
}

fn config(a: ServeArgs) -> Result<ServeConfig, Error> {
    Ok(ServeConfig {
        http: a.http,
        rtmp: a.rtmp,
        db: a.db,
        key_ttl_s: a.key_ttl,
        ring_budget_bytes: a.ring_budget_mb << 20,
        payment_secret: secret(a.payment_secret_file, "payment-secret-file", "COSTREAM_PAYMENT_SECRET")?,
        segment_url_ttl_s: a.segment_url_ttl,
        caps: costream::limits::Caps {
            max_sessions: a.max_sessions,
            max_invitations: a.max_invitations,
            max_publishers: a.max_publishers,
        },
        url_policy: costream::policy::UrlPolicy {
            allow_private_inputs: a.allow_private_inputs,
            allow_private_outputs: a.allow_private_outputs,
        },
        cors_origins: a.cors_origins,
        hls_retention_s: a.hls_retention,
        extra_tick_ms: a.test_extra_tick_ms,
        platform_secret: secret(a.platform_secret_file, "platform-secret-file", "COSTREAM_PLATFORM_SECRET")?,
    })
}

pub fn run(a: ServeArgs) -> Result<(), Error> {
    let cfg = config(a)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(costream::api::serve::run(cfg, costream::api::serve::shutdown_signal()))
}
