//! Viewer polls of a session: opened by the API or by a pause (the room's configured poll), voted
//! on with the viewer tokens the service issues (the API checks the token; votes are kept by its
//! hash), shown live on the paused anchor's slate and their monitor, and closed by their timeout,
//! the room's resume or a request; the leader then wins. Everything is written down, so a restart
//! keeps the votes and the open polls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::reaper::Reaper;
use super::Sessions;
use crate::compose::PollBoard;
use crate::store::{OpenRefusal, PollRecord, Store, StoreError, VoteOutcome};
use crate::sys::lock;

/// Bounds of a poll.
pub const MAX_QUESTION_CHARS: usize = 100;
pub const MAX_OPTION_CHARS: usize = 40;
pub const OPTIONS: std::ops::RangeInclusive<usize> = 2..=6;
pub const DURATION_S: std::ops::RangeInclusive<u64> = 5..=3600;
/// `/events` hears a poll's counts at most this often (the last change always).
const COUNTS_EVERY: Duration = Duration::from_millis(250);

/// A poll to open: what `POST /sessions/{id}/polls` asks, and what a room keeps for its pauses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewPoll {
    pub question: String,
    pub options: Vec<String>,
    pub duration_s: u64,
    /// Whose viewer tokens may vote; default: the session's masking channel, else the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl NewPoll {
    /// Refuses what is out of bounds (trimmed text, distinct options).
    pub fn checked(mut self) -> Result<NewPoll, PollError> {
        let bad = |m: String| Err(PollError::Invalid(m));
        self.question = self.question.trim().to_string();
        self.options = self.options.iter().map(|o| o.trim().to_string()).collect();
        if self.question.is_empty() || self.question.chars().count() > MAX_QUESTION_CHARS {
            return bad(format!("question: 1 to {MAX_QUESTION_CHARS} characters"));
        }
        if !OPTIONS.contains(&self.options.len()) {
            return bad(format!("options: {} to {} of them", OPTIONS.start(), OPTIONS.end()));
        }
        if self.options.iter().any(|o| o.is_empty() || o.chars().count() > MAX_OPTION_CHARS) {
            return bad(format!("options: 1 to {MAX_OPTION_CHARS} characters each"));
        }
        if (1..self.options.len()).any(|i| self.options[..i].contains(&self.options[i])) {
            return bad("options: each once".into());
        }
        if !DURATION_S.contains(&self.duration_s) {
            return bad(format!("duration_s: {} to {}", DURATION_S.start(), DURATION_S.end()));
        }
        if let Some(c) = &self.channel {
            let ok = (1..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if !ok {
                return bad("channel: 1 to 64 of A-Z a-z 0-9 _ - .".into());
            }
        }
        Ok(self)
    }
}

/// Why a poll operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("no poll {0}")]
    NotFound(String),
    #[error("no running session {0}")]
    NoSession(String),
    #[error("the session has poll {0} open; close it first")]
    AlreadyOpen(String),
    #[error("poll {0} is closed")]
    Closed(String),
    #[error("no such option in poll {0}")]
    NoOption(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PollError {
    fn from(e: StoreError) -> PollError {
        match e {
            StoreError::NoPoll(id) => PollError::NotFound(id),
            e => PollError::Store(e),
        }
    }
}

/// Why a poll closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Timeout,
    Resume,
    Request,
    SessionStopped,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Timeout => "timeout",
            CloseReason::Resume => "resume",
            CloseReason::Request => "request",
            CloseReason::SessionStopped => "session_stopped",
        }
    }
}

/// What polls report.
#[derive(Clone, Debug)]
pub enum PollEvent {
    Opened(PollRecord),
    Counts(PollRecord),
    Closed(PollRecord),
}

pub type PollEvents = Arc<dyn Fn(PollEvent) + Send + Sync>;

pub struct Polls {
    store: Arc<Store>,
    sessions: Arc<Sessions>,
    events: Option<PollEvents>,
    /// Closes polls at their end, and sends counts held back by the rate of `/events`.
    timer: Reaper,
    /// Per poll: when its counts were last sent, and whether newer ones wait.
    sent: Mutex<HashMap<String, (Instant, bool)>>,
    me: Weak<Polls>,
}

impl Polls {
    pub fn new(store: Arc<Store>, sessions: Arc<Sessions>, events: Option<PollEvents>) -> Arc<Polls> {
        Arc::new_cyclic(|me| Polls {
            store,
            sessions,
            events,
            timer: Reaper::default(),
            sent: Mutex::default(),
            me: me.clone(),
        })
    }

    /// Opens a poll on a running session (one open at a time). Blocking.
    pub fn open(&self, session: &str, p: NewPoll, room: Option<&str>) -> Result<PollRecord, PollError> {
        let p = p.checked()?;
        let rooms = self.sessions.rooms_of(session).ok_or_else(|| PollError::NoSession(session.into()))?;
        let masking = self.sessions.renditions(session).map(|r| r.masking.channel.clone());
        let channel = p.channel.clone().or(masking).or(room.map(str::to_string)).or_else(|| rooms.first().cloned());
        let now = crate::store::now_ms();
        let rec = PollRecord {
            id: format!("poll_{}", crate::store::random_hex(6)),
            session_id: session.to_string(),
            channel: channel.unwrap_or_else(|| session.to_string()),
            question: p.question,
            options: p.options,
            opened_at_ms: now,
            closes_at_ms: now + p.duration_s as i64 * 1000,
            closed_at_ms: None,
            closed_by: None,
            counts: vec![],
            voters: 0,
            votes: 0,
            leader: None,
        };
        let rec = self.store.open_poll(&rec)?.map_err(|OpenRefusal::AlreadyOpen(id)| PollError::AlreadyOpen(id))?;
        self.shown(&rec);
        self.close_at(&rec);
        self.emit(PollEvent::Opened(rec.clone()));
        Ok(rec)
    }

    pub fn get(&self, id: &str) -> Result<PollRecord, PollError> {
        self.store.poll(id)?.ok_or_else(|| PollError::NotFound(id.into()))
    }

    /// A session's polls, newest first.
    pub fn of_session(&self, session: &str) -> Result<Vec<PollRecord>, PollError> {
        Ok(self.store.polls_of(session)?)
    }

    /// Counts a viewer's vote (the API has checked their token). Blocking.
    pub fn vote(&self, id: &str, token_hash: &str, option: usize) -> Result<PollRecord, PollError> {
        match self.store.vote(id, token_hash, option, crate::store::now_ms())? {
            VoteOutcome::Closed => return Err(PollError::Closed(id.into())),
            VoteOutcome::NoOption => return Err(PollError::NoOption(id.into())),
            VoteOutcome::Counted | VoteOutcome::Replaced => {}
        }
        let rec = self.get(id)?;
        self.shown(&rec);
        self.counts_changed(&rec);
        Ok(rec)
    }

    /// Closes a poll (a closed one stays as it was). Blocking.
    pub fn close(&self, id: &str, why: CloseReason) -> Result<PollRecord, PollError> {
        let was_open = self.get(id)?.closed_at_ms.is_none();
        let rec = self
            .store
            .close_poll(id, why.as_str(), crate::store::now_ms())?
            .ok_or_else(|| PollError::NotFound(id.into()))?;
        if was_open {
            lock(&self.sent).remove(id);
            self.shown(&rec);
            self.emit(PollEvent::Closed(rec.clone()));
        }
        Ok(rec)
    }

    /// A room was paused: each running session showing it without an open poll opens the room's
    /// configured poll, if it has one. Blocking.
    pub fn room_paused(&self, room: &str) {
        let Ok(Some(json)) = self.store.room_poll(room) else { return };
        let Ok(p) = serde_json::from_str::<NewPoll>(&json) else { return };
        for s in self.sessions.showing(room) {
            match self.open(&s, p.clone(), Some(room)) {
                Ok(_) | Err(PollError::AlreadyOpen(_)) => {}
                Err(e) => tracing::warn!(session = %s, error = %e, "the room's poll did not open"),
            }
        }
    }

    /// A room was resumed: the open polls of the sessions showing it close. Blocking.
    pub fn room_resumed(&self, room: &str) {
        for s in self.sessions.showing(room) {
            self.close_open(&s, CloseReason::Resume);
        }
    }

    /// Closes a session's open poll, if any. Blocking.
    pub fn close_open(&self, session: &str, why: CloseReason) {
        let open = self.store.open_polls().unwrap_or_default();
        for p in open.iter().filter(|p| p.session_id == session) {
            if let Err(e) = self.close(&p.id, why) {
                tracing::warn!(poll = %p.id, error = %e, "a poll did not close");
            }
        }
    }

    /// After a restart (sessions resumed): open polls show again and close at their end (at once
    /// when it passed meanwhile). Blocking.
    pub fn restore(&self) {
        for p in self.store.open_polls().unwrap_or_default() {
            self.shown(&p);
            self.close_at(&p);
        }
    }

    /// The poll as its session's pictures show it.
    fn shown(&self, p: &PollRecord) {
        let closed_ago = p.closed_at_ms.map(|c| Duration::from_millis((crate::store::now_ms() - c).max(0) as u64));
        let board = PollBoard {
            question: p.question.clone(),
            options: p.options.clone(),
            counts: p.counts.clone(),
            winner: p.leader,
            closed_at: closed_ago.map(|d| Instant::now().checked_sub(d).unwrap_or_else(Instant::now)),
        };
        self.sessions.show_poll(&p.session_id, board);
    }

    fn close_at(&self, p: &PollRecord) {
        let left = Duration::from_millis((p.closes_at_ms - crate::store::now_ms()).max(0) as u64);
        let (me, id) = (self.me.clone(), p.id.clone());
        self.timer.at(Instant::now() + left, move || {
            if let Some(polls) = me.upgrade() {
                if let Err(e) = polls.close(&id, CloseReason::Timeout) {
                    tracing::warn!(poll = %id, error = %e, "a poll did not close at its end");
                }
            }
        });
    }

    /// Sends the counts now, or once `COUNTS_EVERY` has passed since the last.
    fn counts_changed(&self, p: &PollRecord) {
        let now = Instant::now();
        let mut sent = lock(&self.sent);
        let e = sent.entry(p.id.clone()).or_insert((now - COUNTS_EVERY, false));
        if now.duration_since(e.0) >= COUNTS_EVERY {
            *e = (now, false);
            drop(sent);
            self.emit(PollEvent::Counts(p.clone()));
        } else if !e.1 {
            e.1 = true;
            let (me, id, when) = (self.me.clone(), p.id.clone(), e.0 + COUNTS_EVERY);
            drop(sent);
            self.timer.at(when, move || {
                let Some(polls) = me.upgrade() else { return };
                let waiting = lock(&polls.sent).get_mut(&id).map(|e| std::mem::replace(e, (Instant::now(), false)).1);
                if let (Some(true), Ok(p)) = (waiting, polls.get(&id)) {
                    if p.closed_at_ms.is_none() {
                        polls.emit(PollEvent::Counts(p));
                    }
                }
            });
        }
    }

    fn emit(&self, e: PollEvent) {
        if let Some(f) = &self.events {
            f(e);
        }
    }
}
