//! A job's inputs each tick: changes to the input list while live, pulling the newest frames,
//! uploading them, and the pending PK's warm-up frame.

use std::sync::Arc;
use std::time::Instant;

use super::job::{Job, LiveView};
use super::live::{JobEvent, LayoutChange, Stage};
use super::slot::Slot;
use super::view::shown_inputs;
use crate::error::Result;
use crate::media::geometry as layout;
use crate::sys::lock;

impl Job<'_> {
    /// A live change takes effect on this tick; the encode and outputs go on untouched. True when
    /// the input list changed (the mixers need new tracks).
    pub(super) fn apply_change(&mut self, change: LayoutChange) -> bool {
        let fit_of = |f: &[layout::Fit], i: usize| if f.len() == 1 { Some(f[0]) } else { f.get(i).copied() };
        let inputs_changed = change.inputs.is_some();
        if let Some(sources) = &change.inputs {
            let mut old: Vec<Option<Slot>> = self.slots.drain(..).map(Some).collect();
            for (i, src) in sources.iter().enumerate() {
                let key = src.key();
                let kept = old.iter_mut().find(|o| o.as_ref().is_some_and(|o| o.key == key)).and_then(Option::take);
                let fit = change.fits.as_ref().map(|f| fit_of(f, i).unwrap_or_default());
                match kept {
                    Some(mut s) => {
                        s.fit = fit.unwrap_or(s.fit);
                        // Slot numbers in the compositor may have moved: upload again.
                        s.uploaded = 0;
                        self.slots.push(s);
                    }
                    None => match self.opener.open(i, src, fit.unwrap_or_default()) {
                        Ok(s) => self.slots.push(s),
                        Err(e) => tracing::error!(error = %e, "input could not be added"),
                    },
                }
            }
            // Inputs left in `old` are closed when it drops here.
            tracing::info!(inputs = self.slots.len(), "inputs changed");
        }
        self.layout = change.layout.unwrap_or(self.layout);
        if let (Some(f), false) = (&change.fits, inputs_changed) {
            for (i, s) in self.slots.iter_mut().enumerate() {
                s.fit = fit_of(f, i).unwrap_or(s.fit);
            }
        }
        tracing::info!("layout changed");
        inputs_changed
    }

    /// Pending (a PK invitation waiting for its answer): the decoders keep the rings filled with the
    /// latest frames (the oldest are dropped) and audio that will never be played is discarded.
    /// The first frame's work is done once ([`Self::warm_up`]) and overlay text kept rasterised,
    /// so the first frame after the accept has only the pictures themselves to draw.
    pub(super) fn pre_pull(&mut self, live: &LiveView) -> Result<()> {
        if self.warmed {
            self.scenes(live, |_| None)?;
        } else {
            self.warmed = self.warm_up(live)?;
        }
        for s in &self.slots {
            s.discard_audio();
        }
        self.was_active = false;
        self.clock.idle(self.cfg.hooks.as_ref().map(|h| &*h.wake));
        self.clock.restart();
        Ok(())
    }

    pub(super) fn pull_live(&mut self) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            let sink = self.cfg.hooks.as_ref().map(|h| &h.events);
            if let (Some(ev), Some(sink)) = (s.pull_live(i, &mut self.pulled), sink) {
                sink(ev);
            }
        }
    }

    /// Uploads each slot's newest picture of this tick (live: an older one of the same tick if that
    /// fails — a damaged picture must not cost the tick; the frame on screen stays when all fail).
    pub(super) fn upload(&mut self) -> Result<()> {
        let t0 = Instant::now();
        let mut uploaded_any = false;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if let Some(slate) = &s.slate {
                // Paused: the slate in this input's tile, with no faces to mask.
                s.faces.clear();
                s.showing_pause = s.paused;
                if s.current.as_ref().is_none_or(|c| !Arc::ptr_eq(c, slate)) {
                    self.comp.upload(i, &slate.picture())?;
                    s.uploaded = slate.seq;
                    s.current = Some(slate.clone());
                    uploaded_any = true;
                    report_change(self.cfg.hooks.as_ref(), i, s);
                }
                continue;
            }
            while let Some((f, faces)) = s.fresh.pop() {
                match self.comp.upload(i, &f.picture()) {
                    Ok(()) => {
                        s.uploaded = f.seq;
                        s.current = Some(f);
                        s.showing_pause = false;
                        s.faces = faces;
                        uploaded_any = true;
                        s.fresh.clear();
                        report_change(self.cfg.hooks.as_ref(), i, s);
                    }
                    Err(e) => {
                        tracing::warn!(input = i, error = %e, "frame could not be uploaded; trying an older one");
                        if let Some(l) = self.cfg.hooks.as_ref().map(|h| &h.state) {
                            lock(l).upload_retries += 1;
                        }
                    }
                }
            }
            if let Some(f) = &s.current {
                if f.seq != s.uploaded || self.comp.needs_upload(i) {
                    self.comp.upload(i, &f.picture())?;
                    s.uploaded = f.seq;
                    uploaded_any = true;
                }
            }
        }
        // A slot that first appeared or changed size above rebuilt the plane buffer, dropping the
        // slots uploaded before it: upload those again so this frame already shows them.
        for (i, s) in self.slots.iter_mut().enumerate() {
            if let (Some(f), true) = (&s.current, self.comp.needs_upload(i)) {
                self.comp.upload(i, &f.picture())?;
                s.uploaded = f.seq;
            }
        }
        if uploaded_any {
            let ms = t0.elapsed().as_secs_f32() * 1e3;
            self.upload_ms.push(ms);
            if let Some(g) = self.cfg.hooks.as_ref().map(|h| &h.stages) {
                g(Stage::Upload, ms as f64);
            }
        }
        Ok(())
    }

    /// The first merged frame's work, done while pending: the oldest pictures in the rings are
    /// uploaded and every view composed with them, read back and never sent. Buffers, mappings and
    /// the software rasteriser's kernels (compiled on first use) are ready before the accept, not
    /// after. False until every shown input has a picture.
    pub(super) fn warm_up(&mut self, live: &LiveView) -> Result<bool> {
        let mut geoms = vec![None; self.slots.len()];
        for _ in 0..2 {
            // A first upload can rebuild the plane buffer and drop the slots before it: twice.
            for (i, s) in self.slots.iter().enumerate() {
                let comp = &mut self.comp;
                if let Ok(Some(r)) = s
                    .input
                    .video()
                    .peek_with(Some(std::time::Duration::ZERO), |f| comp.upload(i, &f.picture()).map(|()| f.geom))
                {
                    geoms[i] = Some(r?);
                }
            }
        }
        let shown = self.views.iter().flat_map(|v| shown_inputs(v, self.slots.len(), self.solo, &self.cfg.audio_of));
        if shown.into_iter().any(|i| geoms[i].is_none()) {
            return Ok(false);
        }
        let scenes = self.scenes(live, |i| geoms[i])?;
        self.comp.render_views(&scenes, 0, &mut |_| Ok(()))?;
        self.comp.flush(&mut |_| Ok(()))?;
        // The slots show nothing yet: the first tick uploads its own pictures.
        for s in &mut self.slots {
            s.uploaded = u64::MAX;
        }
        Ok(true)
    }
}

impl Job<'_> {
    /// When every input starts or stops showing its room's pause slate, this frame is a keyframe
    /// (so a replay cuts there without re-encoding) and the edge is reported in output time.
    pub(super) fn note_pause(&mut self) {
        // What the frame shows, not what was asked: a resume whose anchor has no new picture yet
        // still shows the slate (a replay's cut must not keep it).
        let all = !self.slots.is_empty() && self.slots.iter().all(|s| s.showing_pause);
        if all == self.all_paused {
            return;
        }
        self.all_paused = all;
        let n = self.clock.n;
        self.sink.force_key(n);
        if let Some(h) = &self.cfg.hooks {
            (h.events)(JobEvent::PauseEdge { paused: all, at_s: n as f64 / self.cfg.fps.as_f64() });
        }
    }
}

/// The first picture after a change of what slot `i`'s room shows is on its way out: reported
/// with the time since the change was asked for.
fn report_change(hooks: Option<&super::live::LiveHooks>, i: usize, s: &mut Slot) {
    if let (Some(c), Some(h)) = (s.change.take(), hooks) {
        let ms = c.at.elapsed().as_secs_f64() * 1e3;
        (h.events)(JobEvent::Shown { input: i, shows: c.shows.as_str(), after_ms: ms });
    }
}
