//! Changes to a running session: layout, fits and inputs, the PK bar, comments, activation.

use super::{lock, rooms_in, SessionError, SessionInput, Sessions};
use crate::compose::{self, LayoutChange, LiveState};
use crate::media::geometry::{Fit, Layout};

impl Sessions {
    /// Changes a running session's layout, fits and/or inputs, without interrupting its outputs;
    /// refused when the fits do not match the inputs. Blocking: the change is written down.
    pub fn change(
        &self,
        id: &str,
        layout: Option<Layout>,
        fits: Option<Vec<Fit>>,
        inputs: Option<Vec<SessionInput>>,
    ) -> Result<(), SessionError> {
        let mut m = self.running();
        let r = m.get_mut(id).ok_or_else(|| SessionError::NotFound(id.into()))?;
        let count = inputs.as_ref().map_or(r.inputs, Vec::len);
        if let Some(f) = &fits {
            if !(f.len() == 1 || f.len() == count) {
                return Err(SessionError::Fits { inputs: count });
            }
        }
        if let Some(i) = &inputs {
            r.holds = super::input_pause::holds_for(i, &r.holds);
            r.spec.input_pauses = super::input_pause::moved_pauses(&r.spec.inputs, i, &r.spec.input_pauses);
        }
        let sources = inputs.as_ref().map(|i| i.iter().map(|x| self.source(x, &r.holds)).collect());
        r.inputs = count;
        lock(&r.hooks.state).change = Some(LayoutChange { layout, fits: fits.clone(), inputs: sources });
        r.hooks.wake.notify();
        r.spec.layout = layout.unwrap_or(r.spec.layout);
        r.spec.fits = fits.unwrap_or_else(|| r.spec.fits.clone());
        if let Some(i) = inputs {
            r.rooms = rooms_in(&i);
            r.spec.inputs = i;
        }
        let spec = r.spec.clone();
        drop(m);
        self.records.session_changed(id, &spec);
        Ok(())
    }

    /// Runs `f` on a session's live state and wakes its loop (None: no such session).
    pub fn with_live<R>(&self, id: &str, f: impl FnOnce(&mut LiveState) -> R) -> Option<R> {
        let m = self.running();
        let r = m.get(id)?;
        let out = f(&mut lock(&r.hooks.state));
        r.hooks.wake.notify();
        Some(out)
    }

    /// Shows a poll in a running session's pictures from its next tick (without waking it: a
    /// vote is not worth an early frame).
    pub fn show_poll(&self, id: &str, board: compose::PollBoard) {
        if let Some(r) = self.running().get(id) {
            lock(&r.hooks.state).poll = Some(board);
        }
    }

    /// Starts a pending session's output now, from the latest frames in its rings.
    pub fn activate(&self, id: &str) -> Option<()> {
        self.with_live(id, |l| {
            if !l.active {
                l.activated = Some(std::time::Instant::now());
                l.first_frame = None;
                l.first_packet = None;
                l.active = true;
            }
        })
    }

    /// Applies a partial PK bar update (a session without a bar gets one); an invalid one changes
    /// nothing.
    pub fn update_pk(&self, id: &str, patch: &crate::compose::PkChange) -> Result<(), SessionError> {
        let size = self.running().get(id).map(|r| r.size).ok_or_else(|| SessionError::NotFound(id.into()))?;
        let r = self.with_live(id, |l| {
            let now = std::time::Instant::now();
            // A session without a bar gets one only when the update is valid.
            let mut bar = l.pk.clone().unwrap_or_else(|| crate::compose::PkBar::new(Default::default(), now));
            bar.update(patch, now, size)?;
            let settings = bar.settings.clone();
            l.pk = Some(bar);
            Ok::<_, crate::compose::PkError>(settings)
        });
        let settings = r.ok_or_else(|| SessionError::NotFound(id.into()))??;
        // Blocking: the bar as it is now is written down with the session.
        self.records.pk_changed(id, &settings);
        Ok(())
    }

    /// Adds a comment or gift line to `anchor`'s monitor output.
    pub fn comment(&self, id: &str, anchor: &str, text: &str) -> Option<()> {
        self.with_live(id, |l| {
            let now = std::time::Instant::now();
            l.comments.retain(|c| now.saturating_duration_since(c.at) < compose::COMMENT_TTL);
            l.comments.push(compose::Comment { anchor: anchor.to_string(), text: text.to_string(), at: now });
            // Only the newest lines are ever shown.
            let excess = l.comments.len().saturating_sub(64);
            l.comments.drain(..excess);
        })
    }
}
