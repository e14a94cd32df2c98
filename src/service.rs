//! The service's parts wired together: the database, the rooms (fed by the RTMP ingest), the
//! sessions and invitations (writing themselves down), one stream of their events, and what runs
//! again after a restart. The HTTP API (`api`) is put on top of it.

use std::sync::Arc;

use crate::compose::JobEvent;
use crate::config::ServiceConfig;
use crate::ingest::rtmp::{IngestLimits, RtmpServer};
use crate::rooms::{RoomEvent, Rooms, Slates};
use crate::session::invite::{InvitationStatus, Invitations};
use crate::session::polls::{PollEvent, Polls};
use crate::session::records::Records;
use crate::session::Sessions;
use crate::store::Store;

/// Everything the service reports, from each of its parts.
#[derive(Clone, Debug)]
pub enum Event {
    Room(RoomEvent),
    /// A session's id and what its job reported.
    Session(String, JobEvent),
    Invitation(InvitationStatus),
    Poll(PollEvent),
    Platform(crate::platforms::PlatformEvent),
}

pub type Events = Arc<dyn Fn(Event) + Send + Sync>;

pub struct Service {
    pub store: Arc<Store>,
    pub rooms: Arc<Rooms>,
    pub sessions: Arc<Sessions>,
    pub invitations: Arc<Invitations>,
    pub polls: Arc<Polls>,
    pub audience: Arc<crate::audience::Audience>,
    pub platforms: Arc<crate::platforms::Platforms>,
    /// This node's place among several (None: a node alone).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// The key of viewers' signed tokens and segment URLs, kept in the database so they survive a
    /// restart.
    pub url_key: Vec<u8>,
    /// The RTMP ingest, listening; dropping the service stops it.
    pub rtmp: RtmpServer,
}

impl Service {
    /// Opens the database, builds the parts, removes what stopped sessions of an earlier run left
    /// and binds the RTMP ingest. Nothing resumes yet (see [`Service::resume`]).
    pub async fn start(cfg: &ServiceConfig, events: Events) -> crate::Result<Service> {
        let db_error = |e: crate::store::StoreError| crate::Error::Database(e.to_string());
        let store = Arc::new(Store::connect(&cfg.db_url()).map_err(db_error)?);
        let ev = events.clone();
        let data = cfg.data_dir();
        let rules = cfg.slate_rules().map_err(|e| crate::error::invalid("slate_blocklist_file", e.to_string()))?;
        let slates = Slates::new(store.clone(), data.join("slates"), rules)?;
        let slates = Arc::new(if cfg.moderation_url.is_some() { slates.moderated() } else { slates });
        let rooms = Arc::new(
            Rooms::new(store.clone(), cfg.ring_budget_bytes(), cfg.max_publishers)
                .with_hold(std::time::Duration::from_secs(cfg.anchor_hold_s))
                .with_max_sources(cfg.max_sources_per_room)
                .with_slates(slates)
                .with_events(Arc::new(move |e: RoomEvent| ev(Event::Room(e)))),
        );
        // The word segmenter's dictionary loads once, here, not in the first "auto" pause.
        std::thread::spawn(|| crate::rooms::suggest::words("预热 warm up"));
        // A pause written down before a restart shows again at once.
        rooms.restore_pauses();
        let ev = events.clone();
        let hls = data.join("hls");
        let sessions = Arc::new(
            Sessions::new(hls, rooms.clone())
                .with_records(Records::new(store.clone()))
                .with_ring_budget(cfg.ring_budget_bytes())
                .with_url_policy(crate::policy::UrlPolicy {
                    allow_private_inputs: cfg.allow_private_inputs,
                    allow_private_outputs: cfg.allow_private_outputs,
                })
                .with_max_sessions(cfg.max_sessions)
                .with_hls_origin(cfg.hls_origin.clone())
                .with_retention(std::time::Duration::from_secs(cfg.hls_retention_s))
                .with_replay_min_cut(cfg.replay_min_cut_s)
                .with_renditions(cfg.max_renditions, std::time::Duration::from_secs(cfg.rendition_grace_s))
                .with_events(Arc::new(move |id: &str, e: JobEvent| ev(Event::Session(id.to_string(), e)))),
        );
        let r = rooms.clone();
        let audience = crate::audience::Audience::start(store.clone(), Box::new(move |room| r.paused(room).is_some()));
        audience.set_counting(cfg.audience_stats);
        let ev = events.clone();
        let polls = Polls::new(store.clone(), sessions.clone(), Some(Arc::new(move |e| ev(Event::Poll(e)))));
        let platforms = platforms(cfg, store.clone(), sessions.clone(), events.clone());
        let on_invitation = Arc::new(move |st: &InvitationStatus| events(Event::Invitation(st.clone())));
        let invitations = Invitations::new(sessions.clone(), Some(on_invitation), cfg.caps());
        let key = store.setting_or_init("url_signing_key", || crate::store::random_hex(32)).map_err(db_error)?;
        let url_key = hex::decode(&key).unwrap_or_else(|_| key.into_bytes());
        // (Not on a node of several: their shared data directory holds the others' sessions, some
        // of them starting and not written down yet.)
        if cfg.node().is_none() {
            sessions.remove_leftovers(&crate::session::resume::session_ids(&store));
        }
        let (rtmp, ingest_events) = RtmpServer::bind_with(cfg.rtmp, rooms.clone(), IngestLimits::default()).await?;
        rooms.follow_ingest(ingest_events);
        // A node of several runs what it owns from its first heartbeat on (not in `resume`).
        let cluster = match cfg.node() {
            Some(me) => Some(crate::cluster::Cluster::start(store.clone(), invitations.clone(), rooms.clone(), me)?),
            None => None,
        };
        Ok(Service { store, rooms, sessions, invitations, polls, audience, platforms, cluster, url_key, rtmp })
    }

    /// Resumes the sessions and invitations written down before a restart (blocking: they open
    /// their inputs), then their open polls.
    pub fn resume(&self) {
        if self.cluster.is_none() {
            crate::session::resume::resume_all(&self.invitations);
        }
        self.polls.restore();
    }
}

/// The platforms, their clock started. This service's own push server is named by its RTMP
/// address (the HTTP one's host when RTMP listens on every interface).
fn platforms(
    cfg: &ServiceConfig,
    store: Arc<Store>,
    sessions: Arc<Sessions>,
    events: Events,
) -> Arc<crate::platforms::Platforms> {
    let host = if cfg.rtmp.ip().is_unspecified() { cfg.http.ip() } else { cfg.rtmp.ip() };
    let host = if host.is_unspecified() { "localhost".to_string() } else { host.to_string() };
    let pc = crate::platforms::PlatformsConfig {
        cx: crate::platforms::Context {
            youtube_api_url: cfg.youtube_api_url.clone(),
            secrets_dir: cfg.platform_secrets_dir.clone(),
            policy: crate::policy::UrlPolicy {
                allow_private_inputs: cfg.allow_private_inputs,
                allow_private_outputs: cfg.allow_private_outputs,
            },
        },
        own_push: format!("rtmp://{host}:{}/{}", cfg.rtmp.port(), crate::rooms::PUBLISH_APP),
    };
    let on_event = Arc::new(move |e| events(Event::Platform(e)));
    let p = crate::platforms::Platforms::new(store, sessions, pc, Some(on_event));
    p.start_clock();
    p
}
