//! One output's thread: it writes what comes, reopens a lost network output with backoff, and
//! moves to a new URL (a new stream key) when told, each time from a keyframe.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg_next as ff;

use super::{is_network, Msg, Muxer, OutputEvent, OutputEvents, OutputStats, StreamSetup, Track, MAX_BACKOFF};
use crate::sys::{lock, redact_url};

/// One output as its thread runs it: the muxer while it is open, and when to try a lost network
/// output again.
pub(super) struct Writer {
    url: String,
    setup: StreamSetup,
    live: bool,
    network: bool,
    mux: Option<Muxer>,
    ever_opened: bool,
    /// A (re)opened output starts at a keyframe so players can decode from its first packet.
    need_key: bool,
    backoff: Duration,
    next_try: Instant,
    failed: bool,
    stats: Arc<OutputStats>,
    events: Option<OutputEvents>,
}

impl Writer {
    fn emit(&self, e: OutputEvent) {
        self.stats.record(&e);
        if let Some(f) = &self.events {
            f(e);
        }
    }

    /// Moves to the URL it was told to push to, from a keyframe: the open muxer is finished and
    /// the new one opens on that keyframe (a reconnect).
    fn follow_retarget(&mut self, key: bool) {
        if !key {
            return;
        }
        let Some(url) = lock(&self.stats.next).take() else { return };
        if let Some(mut m) = self.mux.take() {
            let _ = m.ctx.write_trailer();
        }
        tracing::info!(to = %redact_url(&url), "output moves to a new stream key");
        *lock(&self.stats.target) = url.clone();
        (self.url, self.next_try, self.ever_opened) = (url, Instant::now(), true);
    }

    /// Whether the output is open, reopening a lost network output when its backoff has passed.
    fn ensure_open(&mut self) -> bool {
        if self.mux.is_some() {
            return true;
        }
        if !self.network || Instant::now() < self.next_try {
            return false;
        }
        match Muxer::open(&self.url, &self.setup, self.live) {
            Ok(m) => {
                if self.ever_opened {
                    self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                self.emit(OutputEvent::Connected(redact_url(&self.url)));
                (self.ever_opened, self.mux, self.need_key) = (true, Some(m), true);
                self.backoff = Duration::from_millis(500);
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "reconnect failed");
                self.next_try = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                false
            }
        }
    }

    fn write(&mut self, track: Track, packet: ff::Packet, from: ff::Rational) {
        self.follow_retarget(track == Track::Video && packet.is_key());
        if !self.ensure_open() || (self.need_key && !(track == Track::Video && packet.is_key())) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.need_key = false;
        let Some(m) = self.mux.as_mut() else { return };
        match m.write(track, packet, from) {
            Ok(n) => {
                self.stats.packets.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, "output failed");
                self.emit(OutputEvent::Failed(redact_url(&self.url), e.to_string()));
                self.mux = None;
                if self.network {
                    self.next_try = Instant::now() + self.backoff;
                } else {
                    self.failed = true;
                }
            }
        }
    }

    /// Whether the output ended cleanly (its trailer written).
    fn finish(self) -> bool {
        match self.mux {
            Some(mut m) => m.ctx.write_trailer().is_ok() && !self.failed,
            None => false,
        }
    }
}

/// The output thread: write what comes, reconnect network outputs with backoff. Returns whether the
/// output ended cleanly.
pub(super) fn sink_loop(
    url: String,
    setup: StreamSetup,
    first: Option<Muxer>,
    rx: Receiver<Msg>,
    stats: Arc<OutputStats>,
    live: bool,
    events: Option<OutputEvents>,
) -> bool {
    let _span = tracing::info_span!("output", url = %redact_url(&url)).entered();
    let network = is_network(&url);
    let ever_opened = first.is_some();
    let now = Instant::now();
    let mut w = Writer {
        url,
        setup,
        live,
        network,
        mux: first,
        ever_opened,
        need_key: false,
        backoff: Duration::from_millis(500),
        next_try: now,
        failed: false,
        stats,
        events,
    };
    while let Ok(Msg::Packet(track, packet, from)) = rx.recv() {
        w.stats.queued.fetch_sub(1, Ordering::Relaxed);
        w.write(track, packet, from);
    }
    w.finish()
}
