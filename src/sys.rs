//! Process and thread helpers every stage uses.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, taking the data of a poisoned one: a panicking thread is reported where it
/// panicked; the state it leaves is still the best we have and must not take the process down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Gives the allocator's free memory back to the system (a session that ended leaves its frames'
/// memory free in the heap; the service keeps running for days).
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Lowers the calling thread's scheduling priority (Linux nice values are per thread; threads it
/// creates afterwards inherit it).
pub fn lower_thread_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, nice) != 0 {
            tracing::debug!("could not lower thread priority");
        }
    }
}

/// A stream key or token as logs and events may show it: its first characters only.
pub fn redact_key(key: &str) -> String {
    let shown: String = key.chars().take(6).collect();
    if key.chars().count() <= 6 {
        "…".to_string()
    } else {
        format!("{shown}…")
    }
}

/// A URL as logs, events, errors and metrics may show it: push URLs end in a platform's secret key,
/// so the last path segment and any query are dropped, and so is a user and password.
pub fn redact_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.rsplit('/').next().unwrap_or(url).to_string();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = authority.rsplit_once('@').map_or(authority.to_string(), |(_, host)| format!("…@{host}"));
    match path.map(|p| p.rsplit_once('/')) {
        None => format!("{scheme}://{authority}"),
        Some(None) => format!("{scheme}://{authority}/…"),
        Some(Some((head, _))) => format!("{scheme}://{authority}/{head}/…"),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_lose_their_last_segment_query_and_password() {
        assert_eq!(redact_url("rtmp://push.example/app/sk_secret"), "rtmp://push.example/app/…");
        assert_eq!(redact_url("rtmp://push.example/sk_secret"), "rtmp://push.example/…");
        assert_eq!(redact_url("https://u:pw@cdn.example/live/index.m3u8?token=t"), "https://…@cdn.example/live/…");
        assert_eq!(redact_url("srt://host:9000?streamid=secret"), "srt://host:9000");
        assert_eq!(redact_url("/data/clip.mp4"), "clip.mp4");
        let e = crate::Error::NoVideo { url: "rtmp://a:pw@h/live/sk_secret".into() };
        assert!(!e.to_string().contains("secret") && !e.to_string().contains("pw"), "{e}");
    }
}

/// A node's right to run its sessions, for the frame loops to check at every tick: a node whose
/// lease was not renewed in time stops composing before another node may take its sessions over
/// (a node that comes back from a pause or a partition pushes nothing twice). Off on one node.
pub mod fence {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::Instant;

    static ON: AtomicBool = AtomicBool::new(false);
    /// Microseconds after [`origin`] until which the lease holds.
    static UNTIL_US: AtomicU64 = AtomicU64::new(0);

    fn origin() -> Instant {
        static O: OnceLock<Instant> = OnceLock::new();
        *O.get_or_init(Instant::now)
    }

    /// The lease holds until `until` (renewed).
    pub fn hold_until(until: Instant) {
        UNTIL_US.store(until.saturating_duration_since(origin()).as_micros() as u64, Ordering::Relaxed);
        ON.store(true, Ordering::Relaxed);
    }

    /// Whether this node may run its sessions now.
    pub fn holds() -> bool {
        !ON.load(Ordering::Relaxed) || (origin().elapsed().as_micros() as u64) < UNTIL_US.load(Ordering::Relaxed)
    }
}
