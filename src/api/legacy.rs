//! Records written by versions before the session layer kept its own (format 1) hold the API
//! request that made each session or invitation. At start each is converted once, through the
//! same checks as a new request, into the session layer's record (format 2), which is what gets
//! resumed. One that no longer passes (its room was deleted) is forgotten, and said so in the log.

use super::invitations_wire::{self, CreateInvitation, InvitationPlan};
use super::sessions_wire::CreateSession;
use super::AppState;
use crate::session::records::{InvitationRecord, SessionRecord, RECORD_FORMAT};
use crate::store::{Resumable, ResumeKind};

/// Converts every format-1 record (blocking: reads the database).
pub(super) fn upgrade(s: &AppState) {
    let all = match s.store.resumables() {
        Ok(a) => a,
        Err(e) => return tracing::error!(error = %e, "cannot read the records to upgrade"),
    };
    for r in all.into_iter().filter(|r| r.format == 1) {
        let converted = convert(s, &r)
            .and_then(|record| s.store.set_resumable_request(&r.id, &record, RECORD_FORMAT).map_err(|e| e.to_string()));
        match converted {
            Ok(()) => tracing::info!(id = %r.id, "record of an earlier version upgraded"),
            Err(why) => {
                tracing::warn!(id = %r.id, error = %why, "record of an earlier version cannot be upgraded; forgotten");
                if let Err(e) = s.store.forget_resumable(&r.id) {
                    tracing::error!(id = %r.id, error = %e, "cannot forget a record");
                }
            }
        }
    }
}

/// The session layer's record for an API request of format 1.
fn convert(s: &AppState, r: &Resumable) -> Result<String, String> {
    let json = |e: serde_json::Error| e.to_string();
    match r.kind {
        ResumeKind::Session => {
            let req: CreateSession = serde_json::from_str(&r.request).map_err(json)?;
            let spec = super::sessions::spec_of(s, req).map_err(|e| e.message().to_string())?;
            serde_json::to_string(&SessionRecord { spec }).map_err(json)
        }
        ResumeKind::Invitation => {
            let req: CreateInvitation = serde_json::from_str(&r.request).map_err(json)?;
            let plan = InvitationPlan::try_from(req).map_err(|e| e.message().to_string())?;
            let timeout = plan.timeout;
            let (mut spec, [from, to]) = invitations_wire::resolve(s, plan).map_err(|e| e.message().to_string())?;
            spec.pending = true;
            let record = InvitationRecord { spec, from, to, timeout_s: timeout.as_secs_f64() };
            serde_json::to_string(&record).map_err(json)
        }
    }
}
