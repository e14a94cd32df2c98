//! After a restart, what was written down runs again under the same ids: a session's HLS playlist
//! goes on where it stopped (after a discontinuity), its pushes reconnect, a pending invitation
//! waits out the rest of its time and an accepted PK is merged again. A record that can no longer
//! run (its room was deleted, its invitation expired meanwhile) is forgotten, and said so in the
//! log.

use std::sync::Arc;
use std::time::Duration;

use super::invite::{Invitations, InviteError};
use super::records::{InvitationRecord, SessionRecord, RECORD_FORMAT};
use super::{SessionInput, SessionSpec};
use crate::compose::PkSettings;
use crate::store::{Resumable, ResumeKind, Store, StoreError};

/// Why a record was not resumed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("its record cannot be read: {0}")]
    Record(#[from] serde_json::Error),
    #[error("its record has format {0}, which this version does not read")]
    Format(i64),
    #[error("room {0} no longer exists")]
    RoomGone(String),
    #[error("it expired while the service was down")]
    Expired,
    #[error(transparent)]
    Start(#[from] crate::Error),
    #[error(transparent)]
    Invitation(#[from] InviteError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ids of the sessions that are to be resumed (their files stay at start).
pub fn session_ids(store: &Store) -> Vec<String> {
    store.resumables().map(|rs| rs.into_iter().map(|r| r.session_id).collect()).unwrap_or_default()
}

/// Resumes everything written down (blocking: sessions open their inputs).
pub fn resume_all(invitations: &Arc<Invitations>) {
    let records = invitations.sessions().records().clone();
    let Some(store) = records.store() else { return };
    let all = match store.resumables() {
        Ok(a) => a,
        Err(e) => return tracing::error!(error = %e, "cannot read the sessions to resume"),
    };
    for r in all {
        match resume(invitations, store, &r) {
            Ok(()) => tracing::info!(id = %r.id, session = %r.session_id, "resumed after a restart"),
            Err(why) => {
                tracing::warn!(id = %r.id, error = %why, "could not be resumed; forgotten");
                records.forget(&r.id);
            }
        }
    }
}

/// Runs one record again under its ids (blocking).
pub fn resume(invitations: &Arc<Invitations>, store: &Store, r: &Resumable) -> Result<(), ResumeError> {
    if r.format != RECORD_FORMAT {
        return Err(ResumeError::Format(r.format));
    }
    let pk: Option<PkSettings> = r.pk.as_deref().map(serde_json::from_str).transpose()?;
    match r.kind {
        ResumeKind::Session => {
            let SessionRecord { mut spec } = serde_json::from_str(&r.request)?;
            rooms_exist(store, &spec)?;
            spec.pk = pk.or(spec.pk);
            invitations.sessions().start_as(Some(&r.id), spec)?;
        }
        ResumeKind::Invitation => {
            let InvitationRecord { mut spec, from, to, timeout_s } = serde_json::from_str(&r.request)?;
            rooms_exist(store, &spec)?;
            spec.pk = pk.or(spec.pk);
            let state = r.state.as_deref().unwrap_or("pending");
            // A pending invitation has only the rest of its time.
            let left_ms = r.deadline_ms.map(|d| d - crate::store::now_ms()).unwrap_or(0);
            let timeout = match state {
                "pending" if left_ms <= 0 => return Err(ResumeError::Expired),
                "pending" => Duration::from_millis(left_ms as u64),
                _ => Duration::from_secs_f64(timeout_s.max(0.1)),
            };
            invitations.create_as(Some((&r.id, &r.session_id)), spec, from, to, timeout)?;
            if state != "pending" {
                invitations.accept(&r.id)?;
            }
            if state == "ended" {
                invitations.hang_up(&r.id)?;
            }
        }
    }
    Ok(())
}

/// A session resumes only while every room it shows still exists.
fn rooms_exist(store: &Store, spec: &SessionSpec) -> Result<(), ResumeError> {
    for i in &spec.inputs {
        if let SessionInput::Room(room) = i {
            match store.room(room) {
                Ok(_) => {}
                Err(StoreError::NoRoom(_)) => return Err(ResumeError::RoomGone(room.clone())),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
