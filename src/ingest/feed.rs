//! A room's feed: one decoder's pictures and sound, fanned out to every reader's own rings.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::options::InputState;
use super::stream_name::MAIN_SOURCE;
use crate::media::{AudioChunk, Overflow, Ring, VideoFrame};

/// A room's picture and sound across publishes, decoded once and read by everyone who shows it:
/// each reader (a session, a pending invitation) has rings of its own that the decoder fills, so
/// readers never take frames from each other. The feed outlives each publisher's decoder and keeps
/// the newest frame, so a reader keeps the last picture while the anchor is away, a new reader
/// starts from it, and everyone resumes when the anchor publishes again.
///
/// A room may have several sources (a camera, a game screen), each decoded all the time into the
/// one feed: readers get the shown source's pictures and sound only, and a switch hands them that
/// source's newest picture at once, so it never waits for a keyframe.
pub struct Feed {
    pub state: Arc<InputState>,
    inner: std::sync::Mutex<FeedInner>,
    dropped: std::sync::atomic::AtomicU64,
}

struct FeedInner {
    readers: Vec<(std::sync::Weak<Ring<Arc<VideoFrame>>>, std::sync::Weak<Ring<AudioChunk>>)>,
    /// Frames each reader's video ring holds (set from the first frame by the memory budget).
    depth: usize,
    /// Each source's newest picture.
    lasts: HashMap<String, Arc<VideoFrame>>,
    /// The source readers get.
    shown: String,
    /// The latest change of what readers see (for the time it takes to reach the output).
    change: Change,
    /// The room is paused: readers show this picture instead of the anchor's (who keeps publishing).
    slate: Option<Arc<VideoFrame>>,
    /// Shown while no picture of the anchor has arrived yet (a session that starts before its
    /// anchor, or after a restart before they are back): outputs never wait for an anchor.
    waiting: Option<Arc<VideoFrame>>,
    /// Shown once the anchor has been gone longer than the room's hold; their next frame ends it.
    away: Option<Arc<VideoFrame>>,
    /// What readers hear while the slate is shown.
    sound: SlateSound,
    /// Counts slate changes: a looping slate's player replaces the picture only while its slate
    /// is still the one set.
    slate_gen: u64,
}

/// What a feed's readers hear while it shows a pause's slate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlateSound {
    /// The anchor, who keeps talking.
    #[default]
    Anchor,
    /// Silence, on the anchor's timeline.
    Silence,
    /// The slate's own sound (a video slate's), sent by its player.
    Slate,
}

/// What readers were last switched to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shows {
    /// Another of the room's sources.
    Source,
    /// A pause's slate.
    Slate,
    /// The anchor again, after a pause.
    Live,
}

impl Shows {
    pub fn as_str(self) -> &'static str {
        match self {
            Shows::Source => "source",
            Shows::Slate => "slate",
            Shows::Live => "live",
        }
    }
}

/// A change of what a feed's readers see: its count, when it was asked for, and what it shows.
#[derive(Clone, Copy, Debug)]
pub struct Change {
    pub count: u64,
    pub at: Instant,
    pub shows: Shows,
}

impl FeedInner {
    /// The shown source's newest picture.
    fn last(&self) -> Option<&Arc<VideoFrame>> {
        self.lasts.get(&self.shown)
    }

    /// Whether slate `generation` is the one shown.
    fn shows(&self, generation: u64) -> bool {
        self.slate_gen == generation && self.slate.is_some()
    }

    fn changed(&mut self, shows: Shows) {
        self.change = Change { count: self.change.count + 1, at: Instant::now(), shows };
    }

    fn readers(&self) -> impl Iterator<Item = Arc<Ring<Arc<VideoFrame>>>> + '_ {
        self.readers.iter().filter_map(|(v, _)| v.upgrade())
    }
}

/// One reader's rings of a [`Feed`]; dropping it unsubscribes.
pub struct FeedReader {
    pub video: Arc<Ring<Arc<VideoFrame>>>,
    pub audio: Arc<Ring<AudioChunk>>,
    pub feed: Arc<Feed>,
}

impl Feed {
    pub fn new(ring_frames: usize) -> Arc<Feed> {
        let inner = FeedInner {
            readers: Vec::new(),
            depth: ring_frames.max(1),
            lasts: HashMap::new(),
            shown: MAIN_SOURCE.to_string(),
            change: Change { count: 0, at: Instant::now(), shows: Shows::Live },
            slate: None,
            waiting: None,
            away: None,
            sound: SlateSound::Anchor,
            slate_gen: 0,
        };
        Arc::new(Feed { state: Arc::default(), inner: std::sync::Mutex::new(inner), dropped: Default::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FeedInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new reader, starting from the newest frame decoded so far.
    pub fn subscribe(self: &Arc<Self>) -> FeedReader {
        let mut g = self.lock();
        let video = Arc::new(Ring::new(g.depth, Overflow::DropOldest));
        let audio = Arc::new(Ring::new(512, Overflow::DropOldest));
        if let Some(f) = g.last() {
            video.push(f.clone());
        }
        g.readers.push((Arc::downgrade(&video), Arc::downgrade(&audio)));
        FeedReader { video, audio, feed: self.clone() }
    }

    /// Frames dropped because a reader fell behind, over all readers.
    pub fn dropped(&self) -> u64 {
        let g = self.lock();
        self.dropped.load(Ordering::Relaxed) + g.readers().map(|v| v.dropped()).sum::<u64>()
    }

    /// Pauses (`Some`: the picture every reader shows from its next frame on, and what they hear
    /// meanwhile) or resumes (`None`) the feed.
    /// Returns the slate's generation (for [`Feed::update_slate`]).
    pub fn set_slate(&self, slate: Option<(Arc<VideoFrame>, SlateSound)>) -> u64 {
        let mut g = self.lock();
        g.sound = slate.as_ref().map_or(SlateSound::Anchor, |s| s.1);
        g.changed(if slate.is_some() { Shows::Slate } else { Shows::Live });
        g.slate = slate.map(|s| s.0);
        g.slate_gen += 1;
        g.slate_gen
    }

    /// Readers get `source` from now on, starting from its newest picture (if it has one: else the
    /// waiting card). The away slate goes: whether the new source is there is the room's to say.
    pub fn show(&self, source: &str) {
        let mut g = self.lock();
        if g.shown == source {
            return;
        }
        g.shown = source.to_string();
        g.away = None;
        g.changed(Shows::Source);
        if let Some(f) = g.last().cloned() {
            for v in g.readers() {
                v.push(f.clone());
            }
        }
    }

    /// The source readers get.
    pub fn shown(&self) -> String {
        self.lock().shown.clone()
    }

    /// Whether `source` has sent a picture.
    pub fn has_picture(&self, source: &str) -> bool {
        self.lock().lasts.contains_key(source)
    }

    /// The latest change of what readers see.
    pub fn change(&self) -> Change {
        self.lock().change
    }

    /// The next picture of a moving slate, if slate `generation` is still the one shown.
    pub fn update_slate(&self, generation: u64, picture: Arc<VideoFrame>) {
        let mut g = self.lock();
        if g.shows(generation) {
            g.slate = Some(picture);
        }
    }

    /// A piece of the slate's own sound, if slate `generation` is still the one shown with it.
    pub fn push_slate_sound(&self, generation: u64, mut c: AudioChunk) {
        let g = self.lock();
        c.mark = generation;
        if g.shows(generation) && g.sound == SlateSound::Slate {
            for a in g.readers.iter().filter_map(|(_, a)| a.upgrade()) {
                a.push(c.clone());
            }
        }
    }

    /// Whether slate `generation` is still the one shown.
    pub fn shows_slate(&self, generation: u64) -> bool {
        let g = self.lock();
        g.shows(generation)
    }

    /// Sound of a pulled input passed through its pause's hold (a feed with no pictures): heard,
    /// silenced or replaced by the slate's as the pause says.
    pub fn relay_audio(&self, c: AudioChunk) {
        self.push_audio(MAIN_SOURCE, c);
    }

    /// What readers show before the anchor's first picture.
    pub fn set_waiting(&self, card: Arc<VideoFrame>) {
        self.lock().waiting = Some(card);
    }

    /// The anchor has been gone for the room's hold: readers show `card` until their next frame.
    /// False (and nothing changes) when there was never a picture (the waiting card is shown).
    pub fn set_away(&self, card: Arc<VideoFrame>) -> bool {
        let mut g = self.lock();
        if g.last().is_none() {
            return false;
        }
        g.away = Some(card);
        true
    }

    /// Whether the away slate is shown (the anchor has not sent a frame since the hold ended).
    pub fn is_away(&self) -> bool {
        self.lock().away.is_some()
    }

    /// The picture readers show instead of the anchor's: the pause slate while paused; else the
    /// waiting card before the anchor's first picture, or the away slate after the hold.
    /// And whether it is a pause's (read together, so a frame and its pause state agree).
    pub fn shown_instead(&self) -> (Option<Arc<VideoFrame>>, bool) {
        let g = self.lock();
        let absent = if g.last().is_none() { &g.waiting } else { &g.away };
        (g.slate.as_ref().or(absent.as_ref()).cloned(), g.slate.is_some())
    }

    /// Size of the newest picture decoded (the anchor's), if any.
    pub fn picture_size(&self) -> Option<(u32, u32)> {
        self.lock().last().map(|f| (f.geom.width, f.geom.height))
    }

    /// Frames each reader's ring holds at most.
    pub fn ring_frames(&self) -> usize {
        self.lock().depth
    }

    fn set_depth(&self, depth: usize) {
        let mut g = self.lock();
        g.depth = depth.max(1);
        for v in g.readers() {
            v.set_capacity(depth);
        }
    }

    fn push_video(&self, source: &str, f: Arc<VideoFrame>) {
        let mut g = self.lock();
        g.lasts.insert(source.to_string(), f.clone());
        if g.shown != source {
            return;
        }
        g.readers.retain(|(v, _)| v.strong_count() > 0);
        for v in g.readers() {
            v.push(f.clone());
        }
        // The anchor is back: this frame is shown (unless paused).
        g.away = None;
    }

    fn push_audio(&self, source: &str, mut c: AudioChunk) {
        let g = self.lock();
        c.mark = g.slate_gen;
        if g.shown != source {
            return;
        }
        match (g.slate.is_some(), g.sound) {
            (true, SlateSound::Silence) => c.samples.fill(0.0),
            // The slate's player sends the sound instead.
            (true, SlateSound::Slate) => return,
            _ => {}
        }
        for a in g.readers.iter().filter_map(|(_, a)| a.upgrade()) {
            a.push(c.clone());
        }
    }
}

/// Where a decoder's pictures and sound go: rings of its own, or a room's feed.
#[derive(Clone)]
pub(super) enum Sink {
    Own {
        video: Arc<Ring<Arc<VideoFrame>>>,
        audio: Option<Arc<Ring<AudioChunk>>>,
    },
    /// A room's feed, as one of its sources.
    Feed(Arc<Feed>, Arc<str>),
}

impl Sink {
    /// False when the consumer closed the ring (stop decoding).
    pub(super) fn video(&self, f: VideoFrame) -> bool {
        match self {
            Sink::Own { video, .. } => video.push(Arc::new(f)),
            Sink::Feed(feed, source) => {
                feed.push_video(source, Arc::new(f));
                true
            }
        }
    }

    pub(super) fn audio(&self, c: AudioChunk) -> bool {
        match self {
            Sink::Own { audio: Some(a), .. } => a.push(c),
            Sink::Own { audio: None, .. } => true,
            Sink::Feed(feed, source) => {
                feed.push_audio(source, c);
                true
            }
        }
    }

    pub(super) fn set_depth(&self, depth: usize) {
        match self {
            Sink::Own { video, .. } => video.set_capacity(depth),
            Sink::Feed(feed, _) => feed.set_depth(depth),
        }
    }

    /// The decoder is done: its own rings close (a feed's stay for the next publisher).
    pub(super) fn close(&self) {
        if let Sink::Own { video, audio } = self {
            video.close();
            if let Some(a) = audio {
                a.close();
            }
        }
    }

    pub(super) fn close_audio(&self) {
        if let Sink::Own { audio: Some(a), .. } = self {
            a.close();
        }
    }
}
