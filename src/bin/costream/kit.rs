//! The kit the benchmark and the integration tests share (tests/common includes this file): free
//! loopback ports, child processes that die with their owner, a real nginx-rtmp peer, and waiting
//! on a condition instead of a sleep. Standard library only, so both can build it as it is.

// Each side uses its own part of the kit.
#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "kit_pg.rs"]
pub mod pg;
#[allow(unused_imports)]
pub use pg::{start_postgres, Postgres};

/// A TCP port that was free a moment ago on loopback.
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A child process, killed and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `f` every 50 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A real RTMP server (nginx with libnginx-mod-rtmp) on a free loopback port; with `record`, what
/// it receives is recorded under `rec`.
pub struct Nginx {
    /// Stops the server when the `Nginx` is dropped.
    pub proc: Proc,
    pub port: u16,
    pub rec: PathBuf,
}

pub fn start_nginx(dir: &Path, record: bool) -> io::Result<Nginx> {
    start_nginx_at(dir, free_port()?, record, "")
}

/// nginx-rtmp on `port`, its `live` application with `app_extra` directives too (e.g. the
/// `on_publish` callbacks of an RTMP tier).
pub fn start_nginx_at(dir: &Path, port: u16, record: bool, app_extra: &str) -> io::Result<Nginx> {
    std::fs::create_dir_all(dir)?;
    // nginx resolves relative paths against its prefix: give it absolute ones.
    let dir = &std::fs::canonicalize(dir)?;
    let rec = dir.join("rec");
    let recording = if record {
        std::fs::create_dir_all(&rec)?;
        format!(" record all; record_path {}; record_unique off;", rec.display())
    } else {
        String::new()
    };
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\nrtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on;{recording}{app_extra} }} }} }}\n",
            d = dir.display()
        ),
    )?;
    let proc = run_nginx(&conf, dir, port, &dir.join("error.log"), "nginx-rtmp (install nginx and libnginx-mod-rtmp)")?;
    Ok(Nginx { proc, port, rec })
}

/// nginx with configuration `conf` (paths relative to `prefix`), once it accepts connections on
/// `port`; stopped when the `Proc` is dropped. `what` names it, and its error `log` is quoted, in
/// an error.
pub fn run_nginx(conf: &Path, prefix: &Path, port: u16, log: &Path, what: &str) -> io::Result<Proc> {
    let child = Command::new("nginx")
        .arg("-c")
        .arg(conf)
        .arg("-p")
        .arg(prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))?;
    let proc = Proc(child);
    if !wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what} did not start: {log}")));
    }
    Ok(proc)
}

/// An HLS origin: nginx taking PUT and DELETE (WebDAV) under `/hls/` and serving everything under
/// `root` (a page written there plays the origin's streams from the same origin).
pub struct Origin {
    /// Stops the server when the `Origin` is dropped.
    pub proc: Proc,
    pub port: u16,
    pub root: PathBuf,
}

pub fn start_origin(dir: &Path) -> io::Result<Origin> {
    std::fs::create_dir_all(dir.join("root").join("hls"))?;
    std::fs::create_dir_all(dir.join("tmp"))?;
    let dir = &std::fs::canonicalize(dir)?;
    let port = free_port()?;
    let temps: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|t| format!("{t}_temp_path {}/tmp/{t}; ", dir.display()))
        .collect();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 256; }}\n\
             http {{ access_log off; {temps}\n\
             types {{ text/html html; application/javascript js; application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}\n\
             server {{ listen 127.0.0.1:{port}; root {d}/root; client_max_body_size 64m;\n\
             location /hls/ {{ dav_methods PUT DELETE; create_full_put_path on; add_header Cache-Control no-cache; }} }} }}\n",
            d = dir.display()
        ),
    )?;
    let proc = run_nginx(&conf, dir, port, &dir.join("error.log"), "the nginx origin (install nginx)")?;
    Ok(Origin { proc, port, root: dir.join("root") })
}
