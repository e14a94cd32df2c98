//! Stopping sessions: on request (their outputs finished in the background, their files removed
//! after the retention, their record forgotten), or all at shutdown (records kept, to resume).

use std::sync::atomic::Ordering;

use super::{lock, Sessions};

impl Sessions {
    /// Stops a session for good: the current HLS segment and the RTMP streams are finished
    /// properly, and its stream ends on the HLS origin too.
    pub fn stop(&self, id: &str) -> bool {
        self.end_on_origin(id);
        self.halt(id)
    }

    /// Stops a session that goes on elsewhere or later (its stream on the origin does not end).
    fn halt(&self, id: &str) -> bool {
        match self.signal_stop(id) {
            None => false,
            Some(handle) => {
                if let Some(t) = handle {
                    let _ = t.join();
                    // Its frames, encoder and GPU buffers are free in the heap now: given back.
                    crate::sys::release_memory();
                }
                true
            }
        }
    }

    /// Stops a session without waiting: its outputs are finished by a thread of their own, and it
    /// no longer counts against the cap.
    pub fn stop_in_background(&self, id: &str) -> bool {
        // Stopped on request: not resumed after a restart (blocking: the record goes).
        if self.running().contains_key(id) {
            self.records.forget(id);
        }
        self.end_on_origin(id);
        match self.signal_stop(id) {
            None => false,
            Some(handle) => {
                if let Some(t) = handle {
                    let (dir, keep, grace) = (
                        self.hls_dir(id),
                        self.running().get(id).is_some_and(|r| r.recording.is_some()),
                        self.retention,
                    );
                    let (all, sid, stages) = (self.running.clone(), id.to_string(), self.stages.clone());
                    let reaper = self.reaper.clone();
                    let spawned = std::thread::Builder::new().name(format!("stop {id}")).spawn(move || {
                        let _ = t.join();
                        crate::sys::release_memory();
                        // Its files go once players have had time for the end of the stream, and
                        // so does its entry (the list does not grow with every session ever run).
                        reaper.at(std::time::Instant::now() + grace, move || {
                            if !keep {
                                let _ = std::fs::remove_dir_all(&dir);
                            }
                            lock(&all).remove(&sid);
                            // Its histograms leave /metrics with it.
                            for stage in crate::compose::Stage::ALL {
                                stages.remove(&vec![
                                    ("session".to_string(), sid.clone()),
                                    ("stage".to_string(), stage.name().to_string()),
                                ]);
                            }
                        });
                    });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "no thread to finish a session in the background");
                    }
                }
                true
            }
        }
    }

    /// Tells a session to stop; its thread (None when already stopping), or None: no such session.
    fn signal_stop(&self, id: &str) -> Option<Option<std::thread::JoinHandle<()>>> {
        let mut m = self.running();
        let r = m.get_mut(id)?;
        r.hooks.stop.store(true, Ordering::Relaxed);
        Some(r.thread.take())
    }

    /// Stops a session that another node runs from now on: its record stays (it is theirs), and
    /// so do its files (they go on in them, on shared storage); it leaves this node's list.
    pub fn hand_off(&self, id: &str) {
        self.halt(id);
        self.running().remove(id);
    }

    /// The session's last playlist, which ends its stream, goes to the origin too.
    fn end_on_origin(&self, id: &str) {
        if let Some(m) = self.running().get(id).and_then(|r| r.origin.as_ref()) {
            m.finish();
        }
    }

    /// Stops every session (service shutdown).
    pub fn stop_all(&self) {
        let ids: Vec<String> = self.running().keys().cloned().collect();
        for id in ids {
            // (resumed at the next start: its stream does not end on the origin)
            self.halt(&id);
        }
    }
}
