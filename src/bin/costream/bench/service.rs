//! The service as the bench parts that need it run it: `costream serve` as a child process on free
//! loopback ports with its own database and an operator token, and a small client for its API.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::super::kit::{free_port, wait_until, Proc};
use costream::error::{invalid, Result};

/// A running `costream serve`.
pub struct Service {
    pub proc: Proc,
    pub api: Api,
    pub rtmp_port: u16,
}

impl Service {
    /// Starts the service with a fresh database at `db`, its log going to `log` (or nowhere).
    pub fn start(db: &Path, extra: &[&str], log: Option<&Path>) -> Result<Service> {
        let _ = std::fs::remove_file(db);
        let dir = db.parent().unwrap_or(Path::new("."));
        Self::start_db(&db.to_string_lossy(), dir, extra, log)
    }

    /// Starts the service on database `db` (a SQLite file or a postgres:// URL) writing its files
    /// under `data`; `{http}` in `extra` is its API's address.
    pub fn start_db(db: &str, data: &Path, extra: &[&str], log: Option<&Path>) -> Result<Service> {
        let (hp, rp) = (free_port()?, free_port()?);
        let store = costream::store::Store::connect(db).map_err(|e| invalid("bench db", e.to_string()))?;
        let (token, _) = store
            .create_token(costream::store::Role::Operator, None)
            .map_err(|e| invalid("bench db", e.to_string()))?;
        drop(store);
        let stderr = match log {
            Some(p) => Stdio::from(std::fs::File::create(p)?),
            None => Stdio::null(),
        };
        let child = Command::new(std::env::current_exe()?)
            .args(["serve", "--http", &format!("127.0.0.1:{hp}"), "--rtmp", &format!("127.0.0.1:{rp}"), "--db", db])
            .arg("--data-dir")
            .arg(data)
            .args(extra.iter().map(|a| a.replace("{http}", &format!("http://127.0.0.1:{hp}"))))
            .env("RUST_LOG", if log.is_some() { "info" } else { "warn" })
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        let api = Api {
            base: format!("http://127.0.0.1:{hp}"),
            bearer: format!("Bearer {token}"),
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build(),
        };
        let svc = Service { proc: Proc(child), api, rtmp_port: rp };
        if !wait_until(Duration::from_secs(20), || svc.api.get("/health").0 == 200) {
            return Err(invalid("bench", "the service did not start"));
        }
        Ok(svc)
    }

    pub fn pid(&self) -> u32 {
        self.proc.0.id()
    }
}

/// FFmpeg publishing `clip` over and over in real time to `rtmp://127.0.0.1:PORT/live/NAME`.
pub fn publish_loop(clip: &Path, port: u16, name: &str) -> Result<Proc> {
    Ok(Proc(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{port}/live/{name}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    ))
}

/// The service's API with the operator token; statuses come back, transport errors are status 0.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub bearer: String,
    pub agent: ureq::Agent,
}

impl Api {
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("authorization", &self.bearer)
            .set("content-type", "application/json");
        let r = match body {
            Some(b) => req.send_string(b),
            None => req.call(),
        };
        match r {
            Ok(r) | Err(ureq::Error::Status(_, r)) => {
                let st = r.status();
                (st, r.into_string().ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    /// A GET without the token (what a viewer's player sends), its status and body size.
    pub fn fetch_public(&self, path: &str) -> (u16, usize) {
        match self.agent.get(&format!("{}{path}", self.base)).call() {
            Ok(r) => (r.status(), r.into_string().map(|s| s.len()).unwrap_or(0)),
            Err(ureq::Error::Status(c, _)) => (c, 0),
            Err(_) => (0, 0),
        }
    }

    /// A GET with the token, its status and body size (segments are binary).
    pub fn fetch(&self, path: &str) -> (u16, usize) {
        match self.agent.get(&format!("{}{path}", self.base)).set("authorization", &self.bearer).call() {
            Ok(r) => {
                let st = r.status();
                let mut n = Vec::new();
                let _ = std::io::Read::read_to_end(&mut r.into_reader(), &mut n);
                (st, n.len())
            }
            Err(ureq::Error::Status(c, _)) => (c, 0),
            Err(_) => (0, 0),
        }
    }
}
