//! A real PostgreSQL server for the tests and the benchmark: Debian's `postgresql`, run as its own
//! user (the server refuses root) in a temporary directory on a free loopback port, with
//! durability off (a test's data need not survive a crash of the machine).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use super::{free_port, wait_until};

/// The server; it stops (and its directory goes) when this is dropped, or when the process that
/// started it ends, whichever comes first: its shell waits on our end of a pipe.
pub struct Postgres {
    pub port: u16,
    pub dir: PathBuf,
    shell: Child,
    alive: Option<ChildStdin>,
}

fn bin_dir() -> io::Result<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| io::Error::new(e.kind(), format!("PostgreSQL: {e}: install postgresql")))?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no PostgreSQL server: install postgresql"))
}

/// As root the server runs as the `postgres` user; as anyone else, as that user.
fn as_server_user(cmd: &mut Command) -> io::Result<()> {
    use std::os::unix::process::CommandExt;
    let me = Command::new("id").arg("-u").output()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return Ok(());
    }
    let id = |flag: &str| -> io::Result<u32> {
        let o = Command::new("id").args([flag, "postgres"]).output()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().map_err(|_| io::Error::other("no postgres user"))
    };
    cmd.gid(id("-g")?).uid(id("-u")?);
    Ok(())
}

pub fn start_postgres(dir: &Path) -> io::Result<Postgres> {
    let bin = bin_dir()?;
    std::fs::create_dir_all(dir)?;
    let dir = std::fs::canonicalize(dir)?;
    let _ = Command::new("chown").arg("postgres").arg(&dir).status();
    let data = dir.join("data");
    let mut init = Command::new(bin.join("initdb"));
    init.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
    as_server_user(&mut init)?;
    let out = init.stdout(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("initdb: {}", String::from_utf8_lossy(&out.stderr))));
    }
    let port = free_port()?;
    let server = format!(
        "{} -D {} -k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=400",
        bin.join("postgres").display(),
        data.display(),
        dir.display()
    );
    // Fast shutdown when our end of stdin closes (this value dropped, or our process gone).
    let script = format!(
        "{server} >{log} 2>&1 & pid=$!; cat >/dev/null; kill -INT $pid; wait $pid; rm -rf {d}",
        log = dir.join("log").display(),
        d = dir.display()
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &script]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    as_server_user(&mut sh)?;
    let mut child = sh.spawn()?;
    let alive = child.stdin.take().ok_or_else(|| io::Error::other("no stdin"))?;
    let pg = Postgres { port, dir: dir.clone(), shell: child, alive: Some(alive) };
    if !wait_until(Duration::from_secs(30), || pg.psql("postgres", "SELECT 1").is_ok()) {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        return Err(io::Error::new(io::ErrorKind::TimedOut, format!("PostgreSQL did not start: {log}")));
    }
    Ok(pg)
}

impl Postgres {
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database (`name`: lower-case letters, digits and `_`); one that exists is kept.
    pub fn create_db(&self, name: &str) -> io::Result<String> {
        match self.psql("postgres", &format!("CREATE DATABASE {name}")) {
            Err(e) if !e.to_string().contains("already exists") => Err(e),
            _ => Ok(self.url(name)),
        }
    }

    /// Runs `sql` in `db` with psql; its rows, one per line, columns separated by `|`.
    pub fn psql(&self, db: &str, sql: &str) -> io::Result<String> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .arg(self.url(db))
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        drop(self.alive.take());
        if !wait_until(Duration::from_secs(20), || self.shell.try_wait().is_ok_and(|s| s.is_some())) {
            let _ = self.shell.kill();
        }
        let _ = self.shell.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
