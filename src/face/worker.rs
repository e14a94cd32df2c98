//! Face tracking beside the output loop: the loop hands each input's newest frame over and takes
//! back frames whose faces are known, so an output tick never waits for the models, and no frame is
//! ever shown before its faces are known (a masked rendition never shows a face unmasked).

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::{FaceModels, FaceTrack, Tracker, TrackerConfig, YuvSource};
use crate::media::VideoFrame;

/// A frame with the faces found in it and how long that took.
pub struct Analysed {
    pub frame: Arc<VideoFrame>,
    pub faces: Vec<FaceTrack>,
    pub ms: f32,
}

type Pending = Arc<(Mutex<(Option<(Arc<VideoFrame>, f64)>, bool)>, Condvar)>;

/// One input's tracker on its own thread.
pub struct FaceWorker {
    pending: Pending,
    results: mpsc::Receiver<Analysed>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaceWorker {
    pub fn start(models: Arc<FaceModels>, cfg: TrackerConfig, name: &str) -> std::io::Result<FaceWorker> {
        let pending: Pending = Arc::default();
        let (tx, results) = mpsc::channel();
        let p = pending.clone();
        let thread = std::thread::Builder::new().name(format!("faces {name}")).spawn(move || {
            let _span = tracing::info_span!("faces").entered();
            let mut tracker = Tracker::new(models, cfg);
            loop {
                let (frame, t) = {
                    let (lock, cv) = &*p;
                    let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
                    loop {
                        if g.1 {
                            return;
                        }
                        if let Some(x) = g.0.take() {
                            break x;
                        }
                        g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
                    }
                };
                let t0 = Instant::now();
                let pic = frame.picture();
                let faces = match tracker.update(&YuvSource { pic: &pic }, t) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::error!(error = %e, "face tracking failed; frame dropped");
                        continue;
                    }
                };
                drop(pic);
                if tx.send(Analysed { frame, faces, ms: t0.elapsed().as_secs_f32() * 1e3 }).is_err() {
                    return;
                }
            }
        })?;
        Ok(FaceWorker { pending, results, thread: Some(thread) })
    }

    /// Offers the newest frame (stream time `t` seconds); one not yet started is replaced.
    pub fn offer(&self, frame: Arc<VideoFrame>, t: f64) {
        let (lock, cv) = &*self.pending;
        lock.lock().unwrap_or_else(|e| e.into_inner()).0 = Some((frame, t));
        cv.notify_one();
    }

    /// Frames analysed since the last call, oldest first.
    pub fn take(&self) -> Vec<Analysed> {
        self.results.try_iter().collect()
    }

    /// Waits for the next analysed frame (offline jobs, where every frame is analysed).
    pub fn wait(&self) -> Option<Analysed> {
        self.results.recv().ok()
    }
}

impl Drop for FaceWorker {
    fn drop(&mut self) {
        let (lock, cv) = &*self.pending;
        lock.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
