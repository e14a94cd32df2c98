//! Starting a session: its views and renditions, the job's configuration, and the job's thread,
//! which answers once the job has opened (inputs, GPU, encoders, outputs) — so a session that
//! cannot run is refused with the reason instead of being reported as failed later.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use super::{Masking, Renditions, Running, SessionSpec, SessionState, SessionStatus, Sessions, ViewStatus};
use crate::compose::{self, Job, JobEvent, LiveHooks, LiveState, Overlays, RenderConfig, Tick, ViewSpec};
use crate::encode::{EncoderKind, VideoSettings};
use crate::gpu::GpuOptions;
use crate::outputs::origin;
use crate::sys::{lock, redact_url};

/// A session's views, each with its HLS playlist first among its outputs, and what the API shows
/// of them.
struct Views {
    specs: Vec<ViewSpec>,
    status: Vec<ViewStatus>,
}

impl Sessions {
    /// Starts a session and writes it down (a restart resumes it); it runs until stopped.
    /// Returns once its job has opened, or with the reason it could not.
    pub fn create(&self, spec: SessionSpec) -> crate::Result<SessionStatus> {
        let st = self.start_as(None, spec.clone())?;
        self.records.session_started(&st.id, &spec);
        Ok(st)
    }

    /// Starts a session that is not written down (the benchmark's, or an invitation's PK session,
    /// which its invitation's record holds).
    pub fn start(&self, spec: SessionSpec) -> crate::Result<SessionStatus> {
        self.start_as(None, spec)
    }

    /// [`Sessions::start`] under a given id (a session resumed after a restart keeps its id, its
    /// HLS folder and its playlist, which goes on where it stopped).
    pub fn start_as(&self, id: Option<&str>, spec: SessionSpec) -> crate::Result<SessionStatus> {
        let _slot = self.reserve()?;
        let id = id.map(str::to_string).unwrap_or_else(super::new_session_id);
        if self.running().contains_key(&id) {
            return Err(crate::error::invalid("session", format!("{id} is running already")));
        }
        let dir = self.hls_dir(&id);
        std::fs::create_dir_all(&dir)?;
        let started = self.start_in(&id, &dir, spec);
        if started.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        started
    }

    /// Holds a place under the cap while a session opens (opening takes a while: concurrent starts
    /// must not all pass the check).
    fn reserve(&self) -> crate::Result<Reservation<'_>> {
        let starting = self.starting.fetch_add(1, Ordering::SeqCst);
        let slot = Reservation(&self.starting);
        if self.running_count() + starting >= self.max_sessions {
            return Err(crate::Error::Limit {
                code: "too_many_sessions",
                why: format!(
                    "{} sessions are running or starting, the most this service runs at once",
                    self.max_sessions
                ),
            });
        }
        if let Some(id) = self.any_behind() {
            return Err(crate::Error::Overloaded {
                why: format!(
                    "this machine is behind real time (session {id} is skipping frames); try again once it catches up"
                ),
            });
        }
        Ok(slot)
    }

    fn start_in(&self, id: &str, dir: &Path, spec: SessionSpec) -> crate::Result<SessionStatus> {
        let mut outputs = vec![dir.join("index.m3u8").to_string_lossy().to_string()];
        let recording = spec.record.then(|| recording_path(dir).to_string_lossy().to_string());
        outputs.extend(recording.iter().cloned());
        outputs.extend(spec.outputs.iter().cloned());
        let views = views_of(&spec, id, dir, self.rendition_cap.0)?;
        let now = std::time::Instant::now();
        // A session that starts at once is "activated" now: its start-to-first-frame time is
        // reported like an accepted invitation's (a cold start, pulls included).
        let live = LiveState {
            active: !spec.pending,
            activated: (!spec.pending).then_some(now),
            pk: spec.pk.clone().map(|p| compose::PkBar::new(p, now)),
            ..LiveState::default()
        };
        let counters: Arc<compose::JobCounters> = Arc::default();
        let hooks = LiveHooks {
            stop: Arc::default(),
            counters: counters.clone(),
            events: self.job_events(id, recording.clone()),
            stages: self.stage_sink(id, counters),
            output_stats: Arc::default(),
            state: Arc::new(Mutex::new(live)),
            wake: Arc::default(),
        };
        let holds = super::input_pause::holds_for(&spec.inputs, &Default::default());
        // A masked session's pictures go to viewers through their own signed playlists only;
        // anchors' monitors are theirs.
        let open = spec.masking.is_none();
        let public = origin::Public {
            root: open,
            views: views
                .specs
                .iter()
                .filter(|v| open && !v.pooled && v.monitor.is_none())
                .map(|v| v.name.clone())
                .collect(),
        };
        let cfg = self.job_config(&spec, outputs, views.specs, &hooks, &holds);
        let state = Arc::new(Mutex::new((SessionState::Running, None)));
        let thread = self.spawn(id, cfg, state.clone())?;
        // A pause of one of its rooms should not wait for its slate's decode.
        let (rooms, shown) = (self.rooms.clone(), super::rooms_in(&spec.inputs));
        std::thread::spawn(move || shown.iter().for_each(|r| rooms.preload_slates(r)));
        tracing::info!(id, inputs = spec.inputs.len(), "session started");
        self.emit(id, JobEvent::Started);
        let renditions = spec.masking.clone().and_then(|m| self.renditions_of(id, m, dir, &hooks));
        let origin = self.origin_copy(id, dir, &state, public);
        let running = Running {
            size: spec.size,
            hooks,
            inputs: spec.inputs.len(),
            rooms: super::rooms_in(&spec.inputs),
            state,
            thread: Some(thread),
            outputs: spec.outputs.iter().map(|u| redact_url(u)).collect(),
            recording,
            views: views.status,
            renditions,
            holds,
            spec,
            origin,
        };
        let pauses = running.spec.input_pauses.clone();
        self.running().insert(id.to_string(), running);
        // A restart's paused inputs show their slates again (from their first start).
        self.restore_input_pauses(id, &pauses);
        self.status(id).ok_or(crate::Error::StageGone { stage: "session" })
    }

    /// The copy of the session's public HLS on the origin, until its job ends.
    fn origin_copy(
        &self,
        id: &str,
        dir: &Path,
        state: &Arc<Mutex<(SessionState, Option<String>)>>,
        public: origin::Public,
    ) -> Option<origin::Mirror> {
        let base = format!("{}/{id}/", self.origin.as_ref()?);
        if !public.root && public.views.is_empty() {
            return None;
        }
        let st = state.clone();
        let ended = Box::new(move || lock(&st).0 != SessionState::Running);
        origin::Mirror::start(dir.to_path_buf(), base, public, ended)
            .inspect_err(|e| tracing::error!(id, error = %e, "could not start the HLS origin copy"))
            .ok()
    }

    fn job_config(
        &self,
        spec: &SessionSpec,
        outputs: Vec<String>,
        views: Vec<ViewSpec>,
        hooks: &LiveHooks,
        holds: &super::input_pause::Holds,
    ) -> RenderConfig {
        let gop = (spec.fps.as_f64() * 2.0).round().max(1.0) as u32;
        RenderConfig {
            inputs: spec.inputs.iter().map(|i| self.source(i, holds)).collect(),
            layout: spec.layout,
            fits: spec.fits.clone(),
            size: spec.size,
            fps: spec.fps,
            outputs,
            public_outputs_only: !self.url_policy.allow_private_outputs,
            overlays: Overlays::default(),
            video: VideoSettings {
                encoder: EncoderKind::X264,
                width: spec.size.0,
                height: spec.size.1,
                fps: (spec.fps.num, spec.fps.den),
                bitrate_kbps: spec.bitrate_kbps,
                preset: "veryfast".into(),
                gop,
                threads: 0,
            },
            audio_kbps: 128,
            gpu: GpuOptions { gpu_timing: true, ..GpuOptions::default() },
            input: self.input.clone(),
            max_seconds: None,
            background_nice: 4,
            realtime: true,
            views,
            audio_of: spec.audio_of.clone(),
            faces: spec.masking.as_ref().map(|m| compose::FaceSettings { tracker: m.tracker.clone(), inputs: vec![] }),
            hooks: Some(hooks.clone()),
        }
    }

    /// Where the job's events go: the service's stream, tagged with this session.
    /// Where the job's events go: the service's events, and a recording's pause log.
    fn job_events(&self, id: &str, recording: Option<String>) -> compose::EventSink {
        let (f, sid) = (self.events.clone(), id.to_string());
        Arc::new(move |e: JobEvent| {
            if let Some(r) = &recording {
                super::replay::log_event(Path::new(r), &e);
            }
            if let Some(f) = &f {
                f(&sid, e);
            }
        })
    }

    /// Where the job's stage times go: this session's histograms, and its recent averages.
    fn stage_sink(&self, id: &str, counters: Arc<compose::JobCounters>) -> compose::StageSink {
        let (stages, id) = (self.stages.clone(), id.to_string());
        Arc::new(move |stage: compose::Stage, ms: f64| {
            counters.note_stage(stage, ms);
            stages
                .get_or_create(&vec![
                    ("session".to_string(), id.clone()),
                    ("stage".to_string(), stage.name().to_string()),
                ])
                .observe(ms);
        })
    }

    /// The job's thread: opens the job, tells the caller whether that worked, then ticks until
    /// stopped and records how it ended.
    fn spawn(
        &self,
        id: &str,
        cfg: RenderConfig,
        state: Arc<Mutex<(SessionState, Option<String>)>>,
    ) -> crate::Result<std::thread::JoinHandle<()>> {
        let (opened_tx, opened_rx) = mpsc::sync_channel::<crate::Result<()>>(1);
        let sid = id.to_string();
        let (events, records) = (self.events.clone(), self.records.clone());
        let thread = std::thread::Builder::new().name(format!("session {id}")).spawn(move || {
            let _span = tracing::info_span!("session", id = %sid).entered();
            let mut job = match Job::open(&cfg) {
                Ok(job) => {
                    let _ = opened_tx.send(Ok(()));
                    job
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            // A panic in the job ends this session as failed, with the reason; the service goes on.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                while job.tick()? == Tick::Continue {}
                job.finish()
            }));
            let done = match r {
                Ok(Ok(_)) => (SessionState::Stopped, None),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "session failed");
                    (SessionState::Failed, Some(e.to_string()))
                }
                Err(p) => {
                    let why = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown".into());
                    tracing::error!(panic = %why, "session thread panicked");
                    (SessionState::Failed, Some(format!("internal error: the session's thread panicked ({why})")))
                }
            };
            *lock(&state) = done.clone();
            if done.0 == SessionState::Failed {
                // A failed session is not resumed at the next start.
                records.forget(&sid);
            }
            if let Some(f) = &events {
                f(&sid, JobEvent::Stopped { error: done.1 });
            }
        })?;
        match opened_rx.recv() {
            Ok(Ok(())) => Ok(thread),
            Ok(Err(e)) => {
                let _ = thread.join();
                tracing::warn!(id, error = %e, "session refused: its job could not open");
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(crate::Error::StageGone { stage: "session" })
            }
        }
    }
}

/// Where a session records: `recording.ts`, or after a restart the next `recording-N.ts` (what was
/// recorded before stays).
fn recording_path(dir: &Path) -> std::path::PathBuf {
    let first = dir.join("recording.ts");
    if !first.exists() {
        return first;
    }
    (2..).map(|n| dir.join(format!("recording-{n}.ts"))).find(|p| !p.exists()).unwrap_or(first)
}

/// The session's views: as given (a PK's), or for a masked session one composition ("open"), its
/// level-0 rendition (the session's push destinations get it) and `max_renditions - 1` pooled
/// views for the renditions made on demand.
fn views_of(spec: &SessionSpec, id: &str, dir: &Path, max_renditions: usize) -> crate::Result<Views> {
    let mut specs = spec.views.clone();
    if let Some(m) = &spec.masking {
        specs = masked_views(spec, m, max_renditions);
    }
    let mut status = Vec::new();
    for v in specs.iter_mut().filter(|v| !v.pooled) {
        let safe = !v.name.is_empty() && v.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !safe {
            return Err(crate::error::invalid("view", format!("{:?}: letters, digits, - and _ only", v.name)));
        }
        let vdir = dir.join("views").join(&v.name);
        std::fs::create_dir_all(&vdir)?;
        status.push(ViewStatus {
            name: v.name.clone(),
            hls: format!("/sessions/{id}/views/{}/hls/index.m3u8", v.name),
            outputs: v.outputs.iter().map(|u| redact_url(u)).collect(),
        });
        v.outputs.insert(0, vdir.join("index.m3u8").to_string_lossy().to_string());
    }
    Ok(Views { specs, status })
}

fn masked_views(spec: &SessionSpec, m: &Masking, max_renditions: usize) -> Vec<ViewSpec> {
    let mut specs = vec![ViewSpec { name: super::renditions::OPEN.into(), ..ViewSpec::default() }];
    if let Some(mask) = m.rules.mask(0, &[]) {
        specs.push(ViewSpec {
            name: super::renditions::BASE.into(),
            outputs: spec.outputs.clone(),
            copy_of: Some(0),
            mask: Some(mask),
            ..ViewSpec::default()
        });
        specs.extend((1..max_renditions).map(|k| ViewSpec {
            name: format!("pool{k}"),
            copy_of: Some(0),
            pooled: true,
            ..ViewSpec::default()
        }));
    }
    specs
}

impl Sessions {
    /// A masked session's renditions, swept every second while it exists.
    fn renditions_of(&self, id: &str, m: Masking, dir: &Path, hooks: &LiveHooks) -> Option<std::sync::Arc<Renditions>> {
        let (max, grace) = self.rendition_cap;
        let events = self.events.clone();
        let sid = id.to_string();
        let emit = Box::new(move |e: JobEvent| {
            if let Some(f) = &events {
                f(&sid, e);
            }
        });
        let r = std::sync::Arc::new(Renditions::new(m, dir.to_path_buf(), max - 1, grace, hooks.state.clone(), emit)?);
        r.keep_swept(self.reaper.clone());
        Some(r)
    }
}

/// A place under the session cap, given back when dropped (the session is then counted as
/// running, or it failed to open).
struct Reservation<'a>(&'a AtomicUsize);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
