//! The one owner of what is live in each room: who publishes (the room's sources), the feed their
//! stream is decoded into, once, for every session and invitation that shows the room, and the
//! events around them. The RTMP ingest reaches it only through [`StreamKeys`]; sessions take a
//! room's [`Feed`] from it. Nothing else keeps a map from a room or a key to live state.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ingest::rtmp::{FlvReader, IngestEvent, Refusal, RoomId, StreamKeys, StreamName};
use crate::ingest::{self, Feed, FeedDecoder, InputOptions};
use crate::store::{self, KeyProblem, Store};
use crate::sys::lock;

mod absence;
mod pause;
mod pulled;
pub mod slates;
mod sources;
pub mod suggest;

pub use absence::DEFAULT_HOLD_S;
pub use pause::{PauseAudio, AUTO_SLATE, SYSTEM_SLATE};
pub use slates::{SlateError, SlateRules, Slates};
pub use sources::{SourceError, SourceInfo, DEFAULT_MAX_SOURCES};

/// The only application anchors publish to: `rtmp://HOST/live/STREAM_KEY`.
pub const PUBLISH_APP: &str = "live";

/// Frames a room feed's reader holds before the memory budget sizes it from the first frame.
const DEFAULT_FEED_FRAMES: usize = 4;

/// How long a publisher's stream may take to show what it carries before its decoder gives up.
const DECODER_OPEN_DEADLINE: Duration = Duration::from_secs(15);

/// Where a publisher's media comes from: our RTMP ingest's connection, or an RTMP tier in front
/// of the service (nginx-rtmp) that this node pulls the stream from.
enum Media {
    Flv(FlvReader),
    /// `rtmp://tier/app` and the stream there (its key and source).
    Pull(String, String),
}

/// Who publishes to a live room, and since when (Unix seconds).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LiveInfo {
    pub peer: String,
    pub since: i64,
}

/// A room's sources as a whole: what the room shows, and who publishes.
#[derive(Clone, Debug, Default)]
pub struct LiveSources {
    /// The publisher of the shown source, else of any source (None: nobody publishes).
    pub live: Option<LiveInfo>,
    /// The source the room's tile shows.
    pub shown: String,
    /// Every source being published.
    pub sources: Vec<SourceInfo>,
}

/// What happens to the rooms' publishers.
#[derive(Clone, Debug)]
pub enum RoomEvent {
    PublishAccepted {
        room_id: RoomId,
        source: String,
        peer: String,
    },
    /// `key` is redacted.
    PublishRefused {
        key: String,
        peer: String,
        reason: String,
    },
    PublishEnded {
        room_id: RoomId,
        source: String,
    },
    /// The room's tile shows another of its sources.
    SourceShown {
        room_id: RoomId,
        source: String,
    },
    /// The room shows a slate instead of its anchor (`since`: Unix seconds).
    Paused {
        room_id: RoomId,
        since: i64,
        slate: String,
        audio: String,
    },
    /// The room shows its anchor again, after `paused_s` seconds.
    Resumed {
        room_id: RoomId,
        paused_s: i64,
    },
    /// The anchor stopped sending `hold_s` seconds ago and is not back: the room shows its slate
    /// (since `since`, Unix seconds) until their next frame.
    Away {
        room_id: RoomId,
        since: i64,
        hold_s: u64,
    },
}

pub type RoomEvents = Arc<dyn Fn(RoomEvent) + Send + Sync>;

/// One room's live state.
#[derive(Default)]
struct RoomLive {
    /// Made on first use, by a reader or the first publisher; kept across publishes. It knows
    /// which source is shown.
    feed: Option<Arc<Feed>>,
    /// The sources with a publisher (or one that passed the key check and has not left yet).
    sources: std::collections::BTreeMap<String, SourceLive>,
    /// Counts publishes: a decoder that finishes opening after its publisher left is dropped.
    epoch: u64,
    /// Counts changes of what the shown source is or who publishes it: the hold of a shown source
    /// that stopped is void once it has been replaced.
    shown_epoch: u64,
    /// The room is paused (its feed shows the slate).
    pause: Option<store::Pause>,
    /// When the hold ended with the anchor gone (its feed shows the slate until their next frame).
    away_since: Option<i64>,
    /// Recent comments on sessions that show the room (for choosing its slate).
    comments: std::collections::VecDeque<String>,
}

impl RoomLive {
    /// The room's feed, made on first use, with the waiting card shown until the anchor's first
    /// picture.
    fn feed(&mut self) -> Arc<Feed> {
        self.feed
            .get_or_insert_with(|| {
                let f = Feed::new(DEFAULT_FEED_FRAMES);
                f.set_waiting(absence::waiting_card());
                f
            })
            .clone()
    }
}

/// One source of a room: taken by a publisher from the key check until it leaves.
#[derive(Default)]
struct SourceLive {
    reserved: bool,
    publisher: Option<Publisher>,
}

struct Publisher {
    info: LiveInfo,
    /// The room's publish count when it started.
    epoch: u64,
    decoder: Option<FeedDecoder>,
}

/// Counters of one room's feed for the metrics.
pub struct FeedCounters {
    pub room: RoomId,
    pub frames: u64,
    pub bytes: u64,
    pub dropped: u64,
    pub connected: bool,
    /// Frames each reader's ring holds at most.
    pub ring_frames: usize,
}

pub struct Rooms {
    store: Arc<Store>,
    /// How a publisher's stream is decoded (live, its readers' rings sized by a memory budget).
    decode: InputOptions,
    max_publishers: usize,
    max_sources: usize,
    /// How long an anchor who stopped sending keeps their last frame before the slate.
    hold: Duration,
    /// The slates pauses and absent anchors show (None: the system card only).
    slates: Option<Arc<Slates>>,
    rooms: Mutex<HashMap<RoomId, RoomLive>>,
    events: Option<RoomEvents>,
    /// Rooms whose playback needs no viewer token (kept in the database, read here per request).
    public: Mutex<std::collections::HashSet<String>>,
    /// Streams pulled from the RTMP tier, by the tier's name for them: their room and source
    /// (and the tier's client publishing it).
    pulled: Mutex<HashMap<String, (RoomId, String, String)>>,
}

impl Rooms {
    /// `ring_budget_bytes`: memory for each reader's frames of a room (0: a fixed depth).
    pub fn new(store: Arc<Store>, ring_budget_bytes: u64, max_publishers: usize) -> Rooms {
        let decode = InputOptions { live: true, ring_budget_bytes, ..InputOptions::default() };
        let hold = Duration::from_secs(absence::DEFAULT_HOLD_S);
        let max_sources = DEFAULT_MAX_SOURCES;
        let public = Mutex::new(store.public_rooms().unwrap_or_default().into_iter().collect());
        Rooms {
            store,
            decode,
            max_publishers,
            max_sources,
            hold,
            slates: None,
            rooms: Mutex::default(),
            pulled: Mutex::default(),
            events: None,
            public,
        }
    }

    pub fn with_slates(mut self, slates: Arc<Slates>) -> Rooms {
        self.slates = Some(slates);
        self
    }

    pub fn slates(&self) -> Option<&Arc<Slates>> {
        self.slates.as_ref()
    }

    pub fn with_events(mut self, events: RoomEvents) -> Rooms {
        self.events = Some(events);
        self
    }

    fn emit(&self, e: RoomEvent) {
        if let Some(f) = &self.events {
            f(e);
        }
    }

    /// Marks a room public or not (blocking: written down).
    pub fn set_public(&self, room: &str, public: bool) -> Result<(), store::StoreError> {
        self.store.set_room_public(room, public)?;
        let mut p = lock(&self.public);
        if public {
            p.insert(room.to_string());
        } else {
            p.remove(room);
        }
        Ok(())
    }

    /// Whether a room's playback needs no viewer token.
    pub fn is_public(&self, room: &str) -> bool {
        lock(&self.public).contains(room)
    }

    /// The room's feed: what every session and invitation showing the room reads.
    pub fn feed(&self, room: &str) -> Arc<Feed> {
        let mut m = lock(&self.rooms);
        m.entry(room.to_string()).or_default().feed()
    }

    /// Who publishes to the room now (None: nobody).
    pub fn live(&self, room: &str) -> Option<LiveInfo> {
        self.sources(room).live
    }

    /// Rooms with a publisher.
    pub fn live_count(&self) -> usize {
        self.live_rooms().len()
    }

    /// The rooms with a publisher now.
    pub fn live_rooms(&self) -> Vec<String> {
        let m = lock(&self.rooms);
        m.iter().filter(|(_, r)| r.publishers().next().is_some()).map(|(id, _)| id.to_string()).collect()
    }

    pub fn feed_counters(&self) -> Vec<FeedCounters> {
        let m = lock(&self.rooms);
        let counters = |(room, r): (&RoomId, &RoomLive)| {
            let f = r.feed.as_ref()?;
            Some(FeedCounters {
                room: room.clone(),
                frames: f.state.frames.load(Ordering::Relaxed),
                bytes: f.state.bytes.load(Ordering::Relaxed),
                dropped: f.dropped(),
                connected: r.publishers().any(|(_, p)| p.decoder.is_some()),
                ring_frames: f.ring_frames(),
            })
        };
        m.iter().filter_map(counters).collect()
    }

    /// Handles the ingest's reports, in order, until the ingest stops. Never waits on a decoder:
    /// each publisher's decoder opens on its own task, so a silent publisher holds up nobody.
    pub fn follow_ingest(self: &Arc<Self>, mut events: tokio::sync::mpsc::UnboundedReceiver<IngestEvent>) {
        let rooms = self.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                rooms.on_ingest(ev);
            }
        });
    }

    fn on_ingest(self: &Arc<Self>, ev: IngestEvent) {
        match ev {
            IngestEvent::Published { room, source, peer, reader, .. } => {
                self.published(room, source, peer, Media::Flv(reader))
            }
            IngestEvent::Refused { key, peer, reason, .. } => {
                self.emit(RoomEvent::PublishRefused { key, peer: peer.to_string(), reason: reason.to_string() })
            }
            IngestEvent::Ended { room, source, .. } => self.ended(room, source),
        }
    }

    fn published(self: &Arc<Self>, room: RoomId, source: String, peer: SocketAddr, media: Media) {
        let (feed, epoch) = {
            let mut m = lock(&self.rooms);
            let r = m.entry(room.clone()).or_default();
            let feed = r.feed();
            r.epoch += 1;
            if feed.shown() == source {
                r.shown_epoch += 1;
                r.away_since = None;
            }
            let info = LiveInfo { peer: peer.to_string(), since: store::now_s() };
            let publisher = Publisher { info, epoch: r.epoch, decoder: None };
            r.sources.entry(source.clone()).or_default().publisher = Some(publisher);
            (feed, r.epoch)
        };
        self.emit(RoomEvent::PublishAccepted { room_id: room.clone(), source: source.clone(), peer: peer.to_string() });
        // Decoding starts at once, so the room's latest frames are ready before anyone asks (and
        // every source stays decoded, so a switch to it never waits for a keyframe).
        tokio::spawn(self.clone().open_decoder(room, source, epoch, feed, media));
    }

    /// The publisher of `source` left: its decoder stops here. The feed keeps the shown source's
    /// last frame for its readers until the hold is over.
    fn ended(self: &Arc<Self>, room: RoomId, source: String) {
        let (shown_epoch, publisher) = {
            let mut m = lock(&self.rooms);
            let Some(r) = m.get_mut(&room) else { return };
            let Some(publisher) = r.sources.get_mut(&source).and_then(|s| s.publisher.take()) else { return };
            r.prune(&source);
            let shown = r.feed.as_ref().is_some_and(|f| f.shown() == source);
            (shown.then_some(r.shown_epoch), publisher)
        };
        // Its decoder's thread is joined here, not under the rooms' lock.
        drop(publisher);
        self.emit(RoomEvent::PublishEnded { room_id: room.clone(), source });
        if let Some(epoch) = shown_epoch {
            self.hold_then_slate(room, epoch);
        }
    }

    /// Opens a publisher's decoder into its room's feed, within [`DECODER_OPEN_DEADLINE`]; kept
    /// only while that publisher is still the source's (it may have left meanwhile).
    async fn open_decoder(self: Arc<Self>, room: RoomId, source: String, epoch: u64, feed: Arc<Feed>, media: Media) {
        let (name, mut opts) = (format!("rtmp {room}/{source}"), self.decode.clone());
        let src = source.clone();
        let open = tokio::task::spawn_blocking(move || match media {
            Media::Flv(reader) => ingest::open_reader_into(&name, "flv", reader, &opts, (&feed, &src)),
            Media::Pull(url, stream) => {
                // The RTMP tier is the operator's own (config), on an internal address; it is
                // pulled again after a drop until its publisher is gone.
                (opts.public_only, opts.reconnect) = (false, true);
                opts.rtmp_playpath = Some(ingest::Playpath(stream));
                ingest::open_url_into(&url, &opts, (&feed, &src))
            }
        });
        match tokio::time::timeout(DECODER_OPEN_DEADLINE, open).await {
            Ok(Ok(Ok(decoder))) => {
                let mut m = lock(&self.rooms);
                let publisher = m.get_mut(&room).and_then(|r| r.sources.get_mut(&source)?.publisher.as_mut());
                if let Some(p) = publisher.filter(|p| p.epoch == epoch) {
                    p.decoder = Some(decoder);
                }
            }
            Ok(Ok(Err(e))) => tracing::warn!(room, error = %e, "published stream cannot be decoded"),
            Ok(Err(e)) => tracing::warn!(room, error = %e, "decoder task failed"),
            // The blocked open ends by itself when the publisher's connection closes (its reader
            // sees the end), which the ingest's idle timeout guarantees.
            Err(_) => tracing::warn!(room, "published stream showed no media within the deadline"),
        }
    }
}

impl StreamKeys for Rooms {
    /// A valid key and a source of its room nobody publishes to now, within the caps on
    /// publishers and on sources per room.
    fn check(&self, name: &StreamName) -> Result<RoomId, Refusal> {
        if name.app != PUBLISH_APP {
            return Err(Refusal::UnknownApp(name.app.clone()));
        }
        if !sources::valid_name(&name.source) {
            return Err(Refusal::BadSource);
        }
        let room = match self.store.check_key(&name.key, store::now_s()) {
            Ok(Ok(room)) => room,
            Ok(Err(KeyProblem::Unknown)) => return Err(Refusal::UnknownKey),
            Ok(Err(KeyProblem::Expired)) => return Err(Refusal::KeyExpired),
            Ok(Err(KeyProblem::Revoked)) => return Err(Refusal::KeyReplaced),
            Err(e) => {
                tracing::error!(error = %e, "cannot check a stream key");
                return Err(Refusal::CannotCheck);
            }
        };
        let mut m = lock(&self.rooms);
        if m.values().map(RoomLive::reserved).sum::<usize>() >= self.max_publishers {
            return Err(Refusal::Full(self.max_publishers));
        }
        let r = m.entry(room.clone()).or_default();
        if r.sources.get(&name.source).is_some_and(|s| s.reserved) {
            return Err(Refusal::Busy);
        }
        if !r.sources.contains_key(&name.source) && r.sources.len() >= self.max_sources {
            return Err(Refusal::TooManySources(self.max_sources));
        }
        r.sources.entry(name.source.clone()).or_default().reserved = true;
        Ok(room)
    }

    fn release(&self, room: &RoomId, source: &str) {
        if let Some(r) = lock(&self.rooms).get_mut(room) {
            if let Some(s) = r.sources.get_mut(source) {
                s.reserved = false;
            }
            r.prune(source);
        }
    }
}
