//! Renditions made on demand. A job's pooled views stay idle — nothing drawn, read back or
//! encoded — until the live state gives one a rendition (a name, a mask, a playlist). It starts at
//! the next keyframe, which every view shares, with an encode of its own whose HLS segments are
//! numbered like the views that ran all along; it stops when the live state takes it away.

use std::path::Path;

use super::encoder::Start;
use super::job::Job;
use super::live::RenditionWant;
use crate::sys::lock;

impl Job<'_> {
    /// At a keyframe `n`: pooled views start or stop as the live state now wants.
    pub(super) fn switch_renditions(&mut self, n: u64) {
        let Some(hooks) = self.cfg.hooks.as_ref() else { return };
        let wants = lock(&hooks.state).renditions.clone();
        let pooled: Vec<usize> = (0..self.views.len()).filter(|&v| self.views[v].pooled).collect();
        for (k, v) in pooled.into_iter().enumerate() {
            let want = wants.get(k).cloned().flatten();
            let running = self.views[v].mask.as_ref().map(|_| self.views[v].name.clone());
            if want.as_ref().map(|w| &w.name) == running.as_ref() {
                continue;
            }
            if let Some(name) = running {
                self.sink.set_view(v, None);
                self.encoders.close_view(self.cfg, v, &name);
                self.views[v].mask = None;
                tracing::info!(rendition = %name, "rendition stopped");
            }
            if let Some(w) = want {
                self.start_rendition(v, w, n);
            }
        }
    }

    /// Starts pooled view `v` as rendition `w` at keyframe `n`. A rendition that cannot open stays
    /// idle (its viewers keep a more masked one): the session goes on.
    fn start_rendition(&mut self, v: usize, w: RenditionWant, n: u64) {
        // Numbered like the first view's playlist, whose next segment starts at this keyframe.
        let hls_segment = self.views[0].outputs.iter().any(|u| u.ends_with(".m3u8")).then_some(self.segment);
        let start = Start { frame: n, hls_segment };
        let _ = std::fs::remove_dir_all(Path::new(&w.playlist).parent().unwrap_or(Path::new("")));
        self.views[v].name = w.name.clone();
        self.views[v].outputs = vec![w.playlist.clone()];
        let tracks = self.tracks().of(v);
        match self.encoders.open_view(self.cfg, v, &w.name, &[w.playlist.clone()], tracks, start) {
            Ok(tx) => {
                self.sink.set_view(v, Some(tx));
                self.views[v].mask = Some(w.mask);
                tracing::info!(rendition = %w.name, frame = n, segment = ?hls_segment, "rendition started");
            }
            Err(e) => tracing::warn!(rendition = %w.name, error = %e, "a rendition could not start"),
        }
    }
}
