//! A masked session's renditions, made on demand. A viewer's unlock state is the organs still
//! masked for them and how strongly (their level's, less what they paid for); viewers in one state
//! share one rendition. The open picture and the level-0 one (what the session's outputs carry)
//! always run; any other state gets a rendition when its first viewer asks, started at the next
//! keyframe, and loses it a grace period after its last viewer left. Past the session's cap, or
//! while a new rendition has no segment yet, a viewer gets the least masked rendition that masks
//! everything theirs does, at least as strongly: never a less masked one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::Masking;
use crate::compose::{JobEvent, LiveState, MaskLevel, MaskStyle, RenditionWant};
use crate::face::Organ;
use crate::sys::lock;

/// A viewer whose player has not fetched their playlist for this long has left (players fetch
/// a live playlist every segment, 2 s).
const VIEWER_GONE: Duration = Duration::from_secs(10);
/// The names of the renditions that always run.
pub const OPEN: &str = "open";
pub const BASE: &str = "l0";

/// An unlock state: the organs masked (sorted), the blur in thousandths, stickers or blur.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State(Vec<Organ>, u32, bool);

impl State {
    fn of(m: &MaskLevel) -> State {
        let mut organs = m.organs.clone();
        organs.sort();
        organs.dedup();
        State(organs, (m.sigma * 1000.0).round() as u32, m.style == MaskStyle::Sticker)
    }

    /// Whether a rendition in state `self` hides everything state `o` does, at least as strongly.
    fn covers(&self, o: &State) -> bool {
        self.2 == o.2 && o.0.iter().all(|x| self.0.contains(x)) && self.1 >= o.1
    }

    /// A name that says what it masks (`eyes-mouth-90`: blur 9.0), never another state's.
    fn name(&self) -> String {
        let organs: Vec<String> = self.0.iter().map(|o| o.name().to_string()).collect();
        let style = if self.2 { "-sticker" } else { "" };
        format!("{}-{}{style}", organs.join("-"), (self.1 + 50) / 100)
    }
}

/// A rendition made on demand, in a pooled view (`slot`).
struct Made {
    state: State,
    name: String,
    mask: MaskLevel,
    slot: usize,
    since: Instant,
    /// When its last viewer left (None: it has viewers).
    empty_since: Option<Instant>,
}

/// One rendition as the API lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct RenditionStatus {
    pub name: String,
    /// None: the open picture.
    pub mask: Option<MaskLevel>,
    /// Viewers in its state now.
    pub viewers: usize,
    /// Made on demand (false: the open picture and level 0, which always run).
    pub on_demand: bool,
    /// Its playlist has a segment.
    pub ready: bool,
    pub age_s: f64,
}

pub struct Renditions {
    pub masking: Masking,
    /// The session's HLS directory.
    dir: PathBuf,
    base: MaskLevel,
    base_state: State,
    /// Pooled views (renditions on demand at most).
    slots: usize,
    grace: Duration,
    live: Arc<Mutex<LiveState>>,
    events: Box<dyn Fn(JobEvent) + Send + Sync>,
    inner: Mutex<Inner>,
    /// States refused a rendition of their own because the cap was reached, so far.
    pub cap_reached: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Inner {
    made: Vec<Made>,
    /// Each viewer's state (None: the open picture) and when they last fetched their playlist.
    viewers: HashMap<String, (Option<State>, Instant)>,
    /// States refused a rendition at the cap, reported once each until a place frees.
    capped: Vec<State>,
    /// Renditions made so far per state: a state made again gets a new name (and directory), so
    /// nothing of its retired rendition, still finishing, mixes with the new one.
    made_before: HashMap<State, u32>,
}

impl Inner {
    /// Viewers per state (None: the open picture).
    fn counts(&self) -> HashMap<Option<State>, usize> {
        let mut counts = HashMap::new();
        for (s, _) in self.viewers.values() {
            *counts.entry(s.clone()).or_default() += 1;
        }
        counts
    }
}

impl Renditions {
    pub(super) fn new(
        masking: Masking,
        dir: PathBuf,
        slots: usize,
        grace: Duration,
        live: Arc<Mutex<LiveState>>,
        events: Box<dyn Fn(JobEvent) + Send + Sync>,
    ) -> Option<Renditions> {
        let base = masking.rules.mask(0, &[])?;
        lock(&live).renditions = vec![None; slots];
        let (base_state, inner, cap_reached) = (State::of(&base), Mutex::default(), Default::default());
        Some(Renditions { masking, dir, base, base_state, slots, grace, live, events, inner, cap_reached })
    }

    /// Sweeps every second while the session exists: viewers who left, renditions nobody needs.
    pub(super) fn keep_swept(self: &Arc<Self>, reaper: Arc<super::reaper::Reaper>) {
        fn again(r: Weak<Renditions>, reaper: Arc<super::reaper::Reaper>) {
            let next = reaper.clone();
            reaper.at(Instant::now() + Duration::from_secs(1), move || {
                if let Some(me) = r.upgrade() {
                    me.sweep(Instant::now());
                    again(r, next);
                }
            });
        }
        again(Arc::downgrade(self), reaper);
    }

    /// Whether a rendition's playlist lists a segment (its file exists, empty, from the moment its
    /// output opens).
    fn ready(&self, name: &str) -> bool {
        std::fs::read_to_string(self.dir.join("views").join(name).join("index.m3u8"))
            .is_ok_and(|t| t.contains("#EXTINF"))
    }

    /// The rendition viewer `viewer` gets now, given what they must not see (None: nothing), and
    /// whether it is their state's own; the viewer is counted in their state, whose rendition is
    /// made if it is missing and there is room. None: no rendition masks enough (the cap is
    /// reached and the rules changed since the session started).
    pub fn route(&self, viewer: &str, mask: Option<&MaskLevel>) -> Option<(String, bool)> {
        let now = Instant::now();
        let state = mask.map(State::of);
        let mut inner = lock(&self.inner);
        inner.viewers.insert(viewer.to_string(), (state.clone(), now));
        let Some(state) = state else {
            return Some((if self.masking.open_allowed { OPEN } else { BASE }.to_string(), true));
        };
        let base = &self.base_state;
        if state == *base {
            return Some((BASE.to_string(), true));
        }
        match inner.made.iter().find(|m| m.state == state) {
            Some(m) if self.ready(&m.name) => return Some((m.name.clone(), true)),
            Some(_) => {}
            None => self.make(&mut inner, &state, mask.cloned()?),
        }
        // Until its own has a segment, or past the cap: the least masked that covers it.
        let mut fits: Vec<(usize, u32, String)> = inner
            .made
            .iter()
            .filter(|m| m.state.covers(&state) && self.ready(&m.name))
            .map(|m| (m.state.0.len(), m.state.1, m.name.clone()))
            .collect();
        if base.covers(&state) {
            fits.push((base.0.len(), base.1, BASE.to_string()));
        }
        fits.into_iter().min().map(|f| (f.2, false))
    }

    /// Gives `state` a pooled view, or reports the cap.
    fn make(&self, inner: &mut Inner, state: &State, mask: MaskLevel) {
        let Some(slot) = (0..self.slots).find(|s| inner.made.iter().all(|m| m.slot != *s)) else {
            if !inner.capped.contains(state) {
                inner.capped.push(state.clone());
                self.cap_reached.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(cap = self.slots + 1, state = %state.name(), "rendition cap reached: viewers get a more masked one");
                (self.events)(self.event("capped", &state.name(), &mask));
            }
            return;
        };
        let times = inner.made_before.entry(state.clone()).or_default();
        *times += 1;
        let name = if *times == 1 { state.name() } else { format!("{}-{times}", state.name()) };
        let playlist = self.dir.join("views").join(&name).join("index.m3u8").to_string_lossy().to_string();
        let want = RenditionWant { name: name.clone(), mask: mask.clone(), playlist };
        lock(&self.live).renditions[slot] = Some(want);
        (self.events)(self.event("created", &name, &mask));
        let made = Made { state: state.clone(), name, mask, slot, since: Instant::now(), empty_since: None };
        inner.made.push(made);
    }

    fn event(&self, what: &'static str, name: &str, mask: &MaskLevel) -> JobEvent {
        JobEvent::Rendition { what, rendition: name.to_string(), masked: mask.organs.clone(), sigma: mask.sigma }
    }

    /// Forgets viewers who left, and retires renditions empty for the grace period.
    pub fn sweep(&self, now: Instant) {
        let mut inner = lock(&self.inner);
        inner.viewers.retain(|_, (_, seen)| now.duration_since(*seen) < VIEWER_GONE);
        let counts = inner.counts();
        let grace = self.grace;
        let mut gone = Vec::new();
        inner.made.retain_mut(|m| {
            if counts.contains_key(&Some(m.state.clone())) {
                m.empty_since = None;
                return true;
            }
            let since = *m.empty_since.get_or_insert(now);
            let keep = now.duration_since(since) < grace;
            if !keep {
                gone.push((m.slot, m.name.clone(), m.mask.clone()));
            }
            keep
        });
        if !gone.is_empty() {
            inner.capped.clear();
        }
        drop(inner);
        for (slot, name, mask) in gone {
            lock(&self.live).renditions[slot] = None;
            tracing::info!(rendition = %name, "rendition retired: no viewer since the grace period");
            (self.events)(self.event("retired", &name, &mask));
        }
    }

    /// Every rendition running or being made, with its viewers.
    pub fn list(&self) -> Vec<RenditionStatus> {
        let inner = lock(&self.inner);
        let counts = inner.counts();
        let count = |s: Option<&State>| counts.get(&s.cloned()).copied().unwrap_or(0);
        let fixed = |name: &str, mask: Option<MaskLevel>, viewers: usize| RenditionStatus {
            name: name.to_string(),
            mask,
            viewers,
            on_demand: false,
            ready: true,
            age_s: 0.0,
        };
        let mut out =
            vec![fixed(OPEN, None, count(None)), fixed(BASE, Some(self.base.clone()), count(Some(&self.base_state)))];
        out.extend(inner.made.iter().map(|m| RenditionStatus {
            name: m.name.clone(),
            mask: Some(m.mask.clone()),
            viewers: count(Some(&m.state)),
            on_demand: true,
            ready: self.ready(&m.name),
            age_s: m.since.elapsed().as_secs_f64(),
        }));
        out
    }
}

impl super::Sessions {
    /// Every masked session's renditions.
    pub fn all_renditions(&self) -> Vec<(String, Arc<Renditions>)> {
        let m = self.running();
        m.iter().filter_map(|(id, r)| Some((id.clone(), r.renditions.clone()?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renditions(dir: &std::path::Path, slots: usize) -> (Renditions, Arc<Mutex<LiveState>>, Arc<Mutex<Vec<String>>>) {
        let masking =
            Masking { channel: "c".into(), rules: Default::default(), tracker: Default::default(), open_allowed: true };
        let live = Arc::new(Mutex::new(LiveState::default()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let events = Box::new(move |e: JobEvent| {
            if let JobEvent::Rendition { what, rendition, .. } = e {
                lock(&s).push(format!("{what} {rendition}"));
            }
        });
        let r = Renditions::new(masking, dir.to_path_buf(), slots, Duration::ZERO, live.clone(), events).unwrap();
        (r, live, seen)
    }

    #[test]
    fn a_state_gets_its_rendition_once_it_has_a_segment_and_never_a_less_masked_one() {
        let dir = std::env::temp_dir().join(format!("costream-rend-{}", std::process::id()));
        let (r, live, seen) = renditions(&dir, 1);
        let rules = r.masking.rules.clone();
        assert_eq!(r.route("a", rules.mask(0, &[]).as_ref()), Some((BASE.into(), true)));
        assert_eq!(r.route("top", None), Some((OPEN.into(), true)));
        // Level 2 (eyes at 8.0): made on demand; level 0's until its playlist has a segment.
        let l2 = rules.mask(2, &[]);
        assert_eq!(r.route("b", l2.as_ref()), Some((BASE.into(), false)));
        let want = lock(&live).renditions[0].clone().expect("a pooled view is asked for");
        assert_eq!((want.name.as_str(), want.mask.organs.clone()), ("eyes-80", vec![Organ::Eyes]));
        std::fs::create_dir_all(dir.join("views/eyes-80")).unwrap();
        // The output opened (its playlist empty): not yet; a segment listed: ready.
        std::fs::write(dir.join("views/eyes-80/index.m3u8"), "").unwrap();
        assert_eq!(r.route("b", l2.as_ref()), Some((BASE.into(), false)));
        std::fs::write(dir.join("views/eyes-80/index.m3u8"), "#EXTM3U\n#EXTINF:1.0,\nindex_00003.ts\n").unwrap();
        assert_eq!(r.route("b", l2.as_ref()), Some(("eyes-80".into(), true)));
        // No place left for level 1 (eyes and mouth): not eyes-80, which shows the mouth.
        assert_eq!(r.route("c", rules.mask(1, &[]).as_ref()), Some((BASE.into(), false)));
        // A level-0 viewer who paid for the mouth fits eyes-80 neither (blur 8 < 10).
        assert_eq!(r.route("d", rules.mask(0, &[Organ::Mouth]).as_ref()), Some((BASE.into(), false)));
        assert_eq!(r.cap_reached.load(std::sync::atomic::Ordering::Relaxed), 2);
        // Everyone leaves: past the grace the pooled view is given back; made again, a new name.
        r.sweep(Instant::now() + VIEWER_GONE + Duration::from_secs(1));
        r.sweep(Instant::now() + VIEWER_GONE + Duration::from_secs(2));
        assert!(lock(&live).renditions[0].is_none());
        r.route("b", l2.as_ref());
        assert_eq!(lock(&live).renditions[0].as_ref().map(|w| w.name.clone()), Some("eyes-80-2".into()));
        let seen = lock(&seen).clone();
        assert_eq!(seen[0], "created eyes-80");
        assert!(
            seen.contains(&"retired eyes-80".to_string()) && seen.contains(&"created eyes-80-2".to_string()),
            "{seen:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
