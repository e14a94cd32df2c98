//! Co-stream / PK invitations: anchor A invites anchor B; both streams are pulled and decoded into
//! their frame rings at once (pre-pull), so that when B accepts the merged outputs start from the
//! frames of that moment instead of waiting for a connection and a keyframe. A decline, a
//! cancellation or the timeout stops the pulls and frees the rings; a hang-up ends the merge and
//! each room's output carries on with its own anchor alone, without a gap (same encoder, same
//! outputs).
//!
//! A pending session holds an encoder, the GPU's buffers and their threads, so only the first
//! few pending invitations (`warm`) keep one; the others are written down and start theirs at the
//! accept (a room's pictures are decoded once by the room registry either way), and take a
//! warm place when one frees up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::records::{InvitationRecord, Standing};
use super::{SessionSpec, Sessions};

/// Where an invitation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteState {
    /// Sent; both streams are being pulled, nothing is output yet.
    Pending,
    /// Accepted: the merged outputs are live.
    Accepted,
    Declined,
    Cancelled,
    Expired,
    /// The merge ended (hang-up); each room's output goes on solo until its session is stopped.
    Ended,
}

impl InviteState {
    /// What its record keeps of it.
    fn standing(self) -> Standing {
        match self {
            InviteState::Pending => Standing::Pending,
            InviteState::Accepted => Standing::Accepted,
            InviteState::Ended => Standing::Ended,
            InviteState::Declined | InviteState::Cancelled | InviteState::Expired => Standing::Closed,
        }
    }
}

/// An invitation as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct InvitationStatus {
    pub id: String,
    pub state: InviteState,
    /// The session that pulls both anchors and, once accepted, produces the merged outputs.
    pub session: String,
    pub from: String,
    pub to: String,
    /// Pending, and its session composes already (the accept shows the PK at once); false while
    /// pending: its session starts at the accept, or when a warm place frees up.
    pub prepared: bool,
    /// Seconds left to answer (pending only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_s: Option<f64>,
}

/// Why an invitation cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("no invitation {0}")]
    NotFound(String),
    #[error("invitation {id} is {state:?}")]
    Conflict { id: String, state: InviteState },
    #[error(transparent)]
    Start(#[from] crate::Error),
}

/// Invitation events for the service's event stream: (invitation, session, new state).
pub type InviteEvents = Arc<dyn Fn(&InvitationStatus) + Send + Sync>;

/// A warm place held while an invitation's session opens; given back when it is in the map.
struct Opening<'a>(&'a AtomicUsize);

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Invitation {
    session: String,
    /// The rooms it shows (who may see and answer it).
    rooms: Vec<String>,
    /// Not started yet (a cold invitation): its session starts at the accept, or when a warm
    /// place frees up. Always a pending spec (every writer keeps it so).
    cold: Option<SessionSpec>,
    /// Its session is starting ahead of the answer (it holds a warm place until that is done,
    /// whatever the answer meanwhile).
    warming: bool,
    from: String,
    to: String,
    /// The invited anchor's room (None: a pulled URL); only that room answers.
    to_room: Option<String>,
    state: InviteState,
    deadline: Instant,
}

pub struct Invitations {
    sessions: Arc<Sessions>,
    /// Pending invitations at once, at most.
    max_pending: usize,
    /// Pending invitations whose session composes ahead of the answer, at most.
    warm: usize,
    /// Warm places taken by invitations being created (their session is opening).
    opening: AtomicUsize,
    map: Mutex<HashMap<String, Invitation>>,
    events: Option<InviteEvents>,
}

impl Invitations {
    /// At most `caps.max_invitations` pending, of which `caps.warm_invitations` keep a composing
    /// session (the rest start theirs at the accept).
    pub fn new(sessions: Arc<Sessions>, events: Option<InviteEvents>, caps: crate::limits::Caps) -> Arc<Invitations> {
        let (max_pending, warm) = (caps.max_invitations, caps.warm_invitations);
        Arc::new(Invitations { sessions, max_pending, warm, opening: 0.into(), map: Mutex::default(), events })
    }

    fn warm_pending(m: &HashMap<String, Invitation>) -> usize {
        m.values().filter(|i| i.warming || (i.state == InviteState::Pending && i.cold.is_none())).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Invitation>> {
        crate::sys::lock(&self.map)
    }

    /// Sends an invitation: starts the PK session pending (pulling and decoding both anchors) and
    /// arms the timeout. `spec` must be pending; `from`/`to` are the anchors' display names.
    pub fn create(
        self: &Arc<Self>,
        spec: SessionSpec,
        from: String,
        to: String,
        timeout: Duration,
    ) -> Result<InvitationStatus, InviteError> {
        self.create_as(None, spec, from, to, timeout)
    }

    /// [`Invitations::create`] under given invitation and session ids (resumed after a restart).
    pub fn create_as(
        self: &Arc<Self>,
        ids: Option<(&str, &str)>,
        mut spec: SessionSpec,
        from: String,
        to: String,
        timeout: Duration,
    ) -> Result<InvitationStatus, InviteError> {
        // The time runs from the request, not from when the session below has started (seconds,
        // on a busy machine: a resumed invitation would gain them).
        let deadline = Instant::now() + timeout;
        let deadline_ms = crate::store::now_ms() + timeout.as_millis() as i64;
        spec.pending = true;
        let to_room = match spec.inputs.get(1) {
            Some(super::SessionInput::Room(r)) => Some(r.clone()),
            _ => None,
        };
        // A warm place is taken under the lock, so creates at the same moment cannot all get one.
        let (pending, warm_place) = {
            let m = self.lock();
            let taken = Self::warm_pending(&m) + self.opening.load(Ordering::SeqCst);
            let warm_place = taken < self.warm;
            if warm_place {
                self.opening.fetch_add(1, Ordering::SeqCst);
            }
            (m.values().filter(|i| i.state == InviteState::Pending).count(), warm_place)
        };
        let _place = warm_place.then(|| Opening(&self.opening));
        if pending >= self.max_pending {
            return Err(crate::Error::Limit {
                code: "too_many_invitations",
                why: format!("{pending} invitations are waiting for an answer, the most this service holds"),
            }
            .into());
        }
        let rooms = super::rooms_in(&spec.inputs);
        let (session, cold) = if warm_place {
            (self.sessions.start_as(ids.map(|i| i.1), spec.clone())?.id, None)
        } else {
            let session = ids.map(|i| i.1.to_string()).unwrap_or_else(super::new_session_id);
            (session, Some(spec.clone()))
        };
        let id = ids
            .map(|i| i.0.to_string())
            .unwrap_or_else(|| format!("inv_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff));
        if ids.is_none() {
            // A new invitation is written down; a resumed one already is, with its first deadline.
            let record =
                InvitationRecord { spec, from: from.clone(), to: to.clone(), timeout_s: timeout.as_secs_f64() };
            self.sessions.records().invitation_sent(&id, &session, &record, deadline_ms);
        }
        let started =
            if cold.is_some() { "written down; its session starts at the accept" } else { "pulling both anchors" };
        let inv = Invitation {
            session,
            rooms,
            cold,
            warming: false,
            from,
            to,
            to_room,
            state: InviteState::Pending,
            deadline,
        };
        self.lock().insert(id.clone(), inv);
        let (me, iid) = (Arc::downgrade(self), id.clone());
        self.sessions.reaper().at(deadline, move || {
            if let Some(me) = me.upgrade() {
                // Only a still-pending invitation expires; anything else already moved on.
                let _ = me.finish(&iid, InviteState::Expired);
            }
        });
        tracing::info!(invitation = %id, "invitation sent; {started}");
        let st = self.status(&id).ok_or_else(|| InviteError::NotFound(id.clone()))?;
        self.emit(&st);
        Ok(st)
    }

    fn emit(&self, st: &InvitationStatus) {
        if let Some(f) = &self.events {
            f(st);
        }
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// The invited anchor's room (None: no such invitation; Some(None): the invited anchor is a
    /// pulled URL, whom only an operator answers for).
    pub fn invited_room(&self, id: &str) -> Option<Option<String>> {
        self.lock().get(id).map(|i| i.to_room.clone())
    }

    /// The rooms of the invitation whose session is `session` (its session may start only at
    /// the accept).
    pub fn rooms_of_session(&self, session: &str) -> Option<Vec<String>> {
        self.lock().values().find(|i| i.session == session).map(|i| i.rooms.clone())
    }

    /// Forgets the invitations of a session another node runs now (their record went with it, and
    /// requests for them are forwarded there).
    pub fn forget_session(&self, session: &str) {
        self.lock().retain(|_, i| i.session != session);
    }

    /// The rooms an invitation shows (None: no such invitation).
    pub fn rooms_of(&self, id: &str) -> Option<Vec<String>> {
        self.lock().get(id).map(|i| i.rooms.clone())
    }

    pub fn status(&self, id: &str) -> Option<InvitationStatus> {
        let m = self.lock();
        let i = m.get(id)?;
        Some(InvitationStatus {
            id: id.to_string(),
            state: i.state,
            session: i.session.clone(),
            from: i.from.clone(),
            to: i.to.clone(),
            prepared: i.state == InviteState::Pending && i.cold.is_none() && !i.warming,
            expires_in_s: (i.state == InviteState::Pending)
                .then(|| i.deadline.saturating_duration_since(Instant::now()).as_secs_f64()),
        })
    }

    pub fn list(&self) -> Vec<InvitationStatus> {
        let ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.iter().filter_map(|id| self.status(id)).collect()
    }

    /// Moves `id` from `from` to `to`, or says why not; returns the session.
    fn transition(&self, id: &str, from: InviteState, to: InviteState) -> Result<String, InviteError> {
        let mut m = self.lock();
        let i = m.get_mut(id).ok_or_else(|| InviteError::NotFound(id.to_string()))?;
        if i.state != from {
            return Err(InviteError::Conflict { id: id.to_string(), state: i.state });
        }
        i.state = to;
        Ok(i.session.clone())
    }

    /// B accepts: the merged outputs start now, from the frames in the rings (a cold invitation's
    /// session starts now, active).
    pub fn accept(self: &Arc<Self>, id: &str) -> Result<InvitationStatus, InviteError> {
        // A cold one is accepted under the lock before its session opens (a second answer
        // meanwhile is a conflict), and goes back to pending if the session cannot open.
        if let Some((session, spec)) = self.accept_cold(id)? {
            let active = SessionSpec { pending: false, ..spec.clone() };
            if let Err(e) = self.sessions.start_as(Some(&session), active) {
                self.back_to_pending(id, spec);
                return Err(e.into());
            }
        } else {
            let session = self.transition(id, InviteState::Pending, InviteState::Accepted)?;
            self.sessions.activate(&session);
            self.warm_next();
        }
        tracing::info!(invitation = %id, "invitation accepted; merged outputs start");
        self.announce(id)
    }

    /// Declined, cancelled or expired: the pulls stop and the buffered frames are freed.
    pub fn finish(self: &Arc<Self>, id: &str, how: InviteState) -> Result<InvitationStatus, InviteError> {
        let session = self.transition(id, InviteState::Pending, how)?;
        let was_warm = self.lock().get_mut(id).is_some_and(|i| i.cold.take().is_none());
        if was_warm {
            self.sessions.stop(&session);
            self.warm_next();
        }
        tracing::info!(invitation = %id, state = ?how, "invitation closed; pulls stopped");
        self.announce(id)
    }

    /// A pending cold invitation, accepted and its session and spec taken (None: it is warm and
    /// still pending).
    fn accept_cold(&self, id: &str) -> Result<Option<(String, SessionSpec)>, InviteError> {
        let mut m = self.lock();
        let i = m.get_mut(id).ok_or_else(|| InviteError::NotFound(id.to_string()))?;
        if i.state != InviteState::Pending {
            return Err(InviteError::Conflict { id: id.to_string(), state: i.state });
        }
        let Some(spec) = i.cold.take() else { return Ok(None) };
        i.state = InviteState::Accepted;
        Ok(Some((i.session.clone(), spec)))
    }

    /// Its session could not open at the accept: pending and cold again, with the (pending) spec
    /// taken at the accept (expired, if its time ran out meanwhile).
    fn back_to_pending(&self, id: &str, spec: SessionSpec) {
        if let Some(i) = self.lock().get_mut(id) {
            i.state = if i.deadline <= Instant::now() { InviteState::Expired } else { InviteState::Pending };
            i.cold = Some(spec);
        }
    }

    /// A warm place freed up: the oldest cold pending invitation starts composing (in the
    /// background: the answer that freed the place does not wait for it).
    fn warm_next(self: &Arc<Self>) {
        let next = {
            let mut m = self.lock();
            if Self::warm_pending(&m) >= self.warm {
                return;
            }
            let oldest = m
                .iter_mut()
                .filter(|(_, i)| i.state == InviteState::Pending && i.cold.is_some())
                .min_by_key(|(_, i)| i.deadline);
            let Some((id, i)) = oldest else { return };
            // Taken now, so it counts as warm and no other answer picks it too.
            i.warming = true;
            (id.clone(), i.session.clone(), i.cold.take())
        };
        let (id, session, Some(spec)) = next else { return };
        let (me, iid) = (self.clone(), id.clone());
        let spawned =
            std::thread::Builder::new().name("warm invitation".into()).spawn(move || me.warm(&iid, &session, spec));
        if spawned.is_err() {
            if let Some(i) = self.lock().get_mut(&id) {
                i.warming = false;
            }
        }
    }

    fn warm(self: &Arc<Self>, id: &str, session: &str, spec: SessionSpec) {
        let started = self.sessions.start_as(Some(session), spec.clone());
        let state = {
            let mut m = self.lock();
            let i = m.get_mut(id);
            let state = i.as_ref().map(|i| i.state);
            if let Some(i) = i {
                i.warming = false;
                if started.is_err() && i.state == InviteState::Pending {
                    i.cold = Some(spec.clone());
                }
            }
            state
        };
        if let Err(e) = started {
            if state == Some(InviteState::Accepted) {
                // Accepted while it opened: the accept's answer stands, so it opens once more, live.
                let active = SessionSpec { pending: false, ..spec };
                if let Err(e) = self.sessions.start_as(Some(session), active) {
                    tracing::error!(invitation = %id, error = %e, "accepted invitation's session could not start");
                }
            } else {
                tracing::warn!(invitation = %id, error = %e, "invitation could not compose ahead; it will at the accept");
            }
            return;
        }
        // Answered while it started: follow the answer.
        match state {
            Some(InviteState::Pending) => {}
            Some(InviteState::Accepted) => {
                self.sessions.activate(session);
            }
            _ => {
                self.sessions.stop(session);
                self.warm_next();
            }
        }
    }

    /// Ends an accepted PK: each room's output goes on with its own anchor only.
    pub fn hang_up(&self, id: &str) -> Result<InvitationStatus, InviteError> {
        let session = self.transition(id, InviteState::Accepted, InviteState::Ended)?;
        self.sessions.with_live(&session, |l| {
            l.solo = true;
            l.pk = None;
        });
        tracing::info!(invitation = %id, "PK ended; rooms back to solo");
        self.announce(id)
    }

    fn announce(&self, id: &str) -> Result<InvitationStatus, InviteError> {
        let st = self.status(id).ok_or_else(|| InviteError::NotFound(id.to_string()))?;
        self.sessions.records().invitation_moved(id, st.state.standing());
        self.emit(&st);
        Ok(st)
    }
}
