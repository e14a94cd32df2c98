//! What a child process cost, as the kernel counted it (wait4).

use std::process::{Command, Stdio};
use std::time::Instant;

use costream::error::{invalid, Error, Result};

/// One child process's cost, as the kernel counted it.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub max_rss_mb: f64,
}

/// Runs a command to completion and returns its resource usage (wait4).
pub fn run_measured(cmd: &mut Command) -> Result<Usage> {
    let start = Instant::now();
    let child = cmd.stdin(Stdio::null()).spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall_s = start.elapsed().as_secs_f64();
    if r != pid {
        return Err(Error::Io(std::io::Error::last_os_error()));
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        return Err(invalid("benchmark child", format!("{cmd:?} exited with status {status}")));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Usage { wall_s, cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime), max_rss_mb: ru.ru_maxrss as f64 / 1024.0 })
}
