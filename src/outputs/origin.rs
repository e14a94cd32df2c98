//! A session's HLS copied to an HTTP origin (nginx with WebDAV, a CDN's origin) by PUT, so that
//! viewers and caches read it there while the nodes keep composing: each public rendition's
//! segments as each is finished (once FFmpeg lists it), then its playlist, then, a playlist's
//! length later, a DELETE of the segments it no longer lists. The origin sees the same names
//! whichever node runs the session, so a session moved to another node goes on there after a
//! discontinuity.
//!
//! Nothing is sent once this node lost its lease (the session's new node writes those names now)
//! or the copy was dropped; a playlist that ends the stream is sent only for a session stopped
//! for good ([`Mirror::finish`]), not for one handed over, failed or stopped to be resumed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::sys::redact_url;

/// How often a session's folder is looked at (a fraction of a segment).
const POLL: Duration = Duration::from_millis(200);
/// Segments that left a playlist kept on the origin, per rendition (players still fetching them).
const KEEP_DROPPED: usize = 6;
const TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of the last pass (the stream's end) before giving up on an unreachable origin.
const LAST_TRIES: usize = 5;

/// What a session's job says to its copy.
#[derive(Default)]
struct Flags {
    /// Stop now (dropped).
    quit: AtomicBool,
    /// The session is stopped for good: its last playlist goes too.
    finish: AtomicBool,
}

impl Flags {
    fn may_send(&self) -> bool {
        !self.quit.load(Ordering::Relaxed) && crate::sys::fence::holds()
    }
}

/// What is copied: the session's own playlist, and which views.
pub struct Public {
    pub root: bool,
    pub views: Vec<String>,
}

/// The copy of one session's HLS; stops when dropped.
pub struct Mirror {
    flags: Arc<Flags>,
}

impl Mirror {
    /// Copies `dir` (the session's HLS folder, its views under `views/`) to `base` (the session's
    /// URL on the origin, ending in `/`) until dropped or `ended` says the session's job ended.
    pub fn start(
        dir: PathBuf,
        base: String,
        public: Public,
        ended: Box<dyn Fn() -> bool + Send>,
    ) -> std::io::Result<Mirror> {
        let flags = Arc::new(Flags::default());
        let f = flags.clone();
        std::thread::Builder::new().name("hls origin".into()).spawn(move || {
            let mut up = Uploader::new(dir, base, public, f.clone());
            while f.may_send() {
                if ended() {
                    let last = f.finish.load(Ordering::Relaxed);
                    for _ in 0..LAST_TRIES {
                        if !last || up.pass(true) {
                            return;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    return;
                }
                up.pass(false);
                std::thread::sleep(POLL);
            }
        })?;
        Ok(Mirror { flags })
    }

    /// The session is stopped for good: its last playlist, which ends the stream, is sent too.
    pub fn finish(&self) {
        self.flags.finish.store(true, Ordering::Relaxed);
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.flags.quit.store(true, Ordering::Relaxed);
    }
}

/// One rendition's state on the origin.
#[derive(Default)]
struct Rendition {
    /// The playlist as last sent.
    playlist: String,
    uploaded: HashSet<String>,
    /// Segments no longer listed, oldest first, still on the origin.
    dropped: VecDeque<String>,
}

struct Uploader {
    dir: PathBuf,
    base: String,
    public: Public,
    flags: Arc<Flags>,
    agent: ureq::Agent,
    renditions: HashMap<String, Rendition>,
    /// Whether the last pass failed (logged once per failing spell).
    failing: bool,
}

impl Uploader {
    fn new(dir: PathBuf, base: String, public: Public, flags: Arc<Flags>) -> Uploader {
        let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
        Uploader { dir, base, public, flags, agent, renditions: HashMap::new(), failing: false }
    }

    /// Sends what changed in every public rendition's folder (`last`: the stream's end too);
    /// whether every request went through.
    fn pass(&mut self, last: bool) -> bool {
        let mut folders: Vec<(String, PathBuf)> = Vec::new();
        if self.public.root {
            folders.push((String::new(), self.dir.clone()));
        }
        for v in &self.public.views {
            folders.push((format!("views/{v}/"), self.dir.join("views").join(v)));
        }
        let ok = folders.iter().all(|(prefix, dir)| self.rendition(prefix, dir, last));
        if ok == self.failing {
            self.failing = !ok;
            match ok {
                true => tracing::info!(origin = %redact_url(&self.base), "HLS origin reached again"),
                false => tracing::warn!(origin = %redact_url(&self.base), "HLS origin unreachable; retrying"),
            }
        }
        ok
    }

    /// One rendition: new segments, then the playlist, then segments dropped long enough ago.
    /// False when a request failed (the rest waits for the next pass).
    fn rendition(&mut self, prefix: &str, dir: &Path, last: bool) -> bool {
        let Ok(text) = std::fs::read_to_string(dir.join("index.m3u8")) else { return true };
        let r = self.renditions.entry(prefix.to_string()).or_default();
        // (An ended playlist is the last pass's alone.)
        let ends = text.contains("#EXT-X-ENDLIST");
        if !text.starts_with("#EXTM3U") || text == r.playlist || (ends && !last) {
            return true;
        }
        let listed: Vec<String> = text.lines().filter(|l| is_segment(l)).map(str::to_string).collect();
        let new: Vec<String> = listed.iter().filter(|s| !r.uploaded.contains(*s)).cloned().collect();
        for seg in new {
            let Ok(body) = std::fs::read(dir.join(&seg)) else { continue };
            let url = format!("{}{prefix}{seg}", self.base);
            if !self.flags.may_send() || !put(&self.agent, &url, "video/mp2t", &body) {
                return false;
            }
            r.uploaded.insert(seg);
        }
        let url = format!("{}{prefix}index.m3u8", self.base);
        if !self.flags.may_send() || !put(&self.agent, &url, "application/vnd.apple.mpegurl", text.as_bytes()) {
            return false;
        }
        r.playlist = text;
        let gone: Vec<String> = r.uploaded.iter().filter(|s| !listed.contains(s)).cloned().collect();
        for s in gone {
            r.uploaded.remove(&s);
            r.dropped.push_back(s);
        }
        while r.dropped.len() > KEEP_DROPPED {
            let s = r.dropped.pop_front().unwrap_or_default();
            // (a segment the origin lost already is no failure)
            let _ = self.agent.delete(&format!("{}{prefix}{s}", self.base)).call();
        }
        true
    }
}

fn is_segment(line: &str) -> bool {
    !line.starts_with('#') && line.ends_with(".ts") && !line.contains('/')
}

fn put(agent: &ureq::Agent, url: &str, kind: &str, body: &[u8]) -> bool {
    agent.put(url).set("content-type", kind).send_bytes(body).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_segment_names_are_copied() {
        assert!(super::is_segment("index_00042.ts"));
        assert!(!super::is_segment("#EXTINF:2.0,"));
        assert!(!super::is_segment("../index_00042.ts"));
        assert!(!super::is_segment("index.m3u8"));
    }
}
