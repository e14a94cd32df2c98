//! Sessions and invitations survive a restart: each is written down, as the request that made it,
//! when it starts; its changes (layout, PK bar, an invitation's answer) are written as they happen;
//! a stop, a decline or a failure forgets it. At start the service resumes what is written, under
//! the same ids: a session's HLS playlist goes on where it stopped (after a discontinuity), its
//! pushes reconnect, a pending invitation waits out the rest of its time and an accepted PK is
//! merged again. A resumed request passes the same checks as a new one; one that no longer does
//! (its room was deleted) is dropped, and said so in the log.

use super::pk::{plan_invitation, CreateInvitation};
use super::{session_spec, AppState, ChangeSession, CreateSession};
use crate::session::invite::{InvitationStatus, InviteState};
use crate::store::{Resumable, ResumeKind};

/// A failure to write something down is logged, not returned: the session runs either way, it
/// would only not be resumed.
fn logged(what: &str, id: &str, r: crate::store::StoreResult<()>) {
    if let Err(e) = r {
        tracing::error!(id, error = %e, "cannot write down {what}: it will not survive a restart");
    }
}

pub(super) fn remember_session(s: &AppState, id: &str, req: &CreateSession) {
    let request = serde_json::to_string(req).unwrap_or_default();
    let r = Resumable {
        id: id.into(),
        kind: ResumeKind::Session,
        request,
        session_id: id.into(),
        state: None,
        pk: None,
        deadline: None,
    };
    logged("a session", id, s.store.save_resumable(&r));
}

/// A running session's change, folded into its request.
pub(super) fn remember_change(s: &AppState, id: &str, change: ChangeSession) {
    let Ok(Some(r)) = s.store.resumable(id) else { return };
    let Ok(mut req) = serde_json::from_str::<CreateSession>(&r.request) else { return };
    req.layout = change.layout.or(req.layout);
    req.fit = change.fit.or(req.fit);
    req.inputs = change.inputs.unwrap_or(req.inputs);
    logged(
        "a session's change",
        id,
        s.store.set_resumable_request(id, &serde_json::to_string(&req).unwrap_or_default()),
    );
}

pub(super) fn remember_pk(s: &AppState, session: &str, pk: Option<&crate::compose::PkSettings>) {
    if let Some(pk) = pk {
        logged(
            "the PK bar",
            session,
            s.store.set_resumable_pk(session, &serde_json::to_string(pk).unwrap_or_default()),
        );
    }
}

pub(super) fn remember_invitation(
    s: &AppState,
    st: &InvitationStatus,
    req: &CreateInvitation,
    timeout: std::time::Duration,
) {
    let request = serde_json::to_string(req).unwrap_or_default();
    let deadline = crate::store::now_s() + timeout.as_secs_f64().ceil() as i64;
    let r = Resumable {
        id: st.id.clone(),
        kind: ResumeKind::Invitation,
        request,
        session_id: st.session.clone(),
        state: Some("pending".into()),
        pk: None,
        deadline: Some(deadline),
    };
    logged("an invitation", &st.id, s.store.save_resumable(&r));
}

/// An invitation's new state: answered ones are kept (their session runs), closed ones forgotten.
pub(super) fn invitation_moved(store: &crate::store::Store, st: &InvitationStatus) {
    let r = match st.state {
        InviteState::Pending => return,
        InviteState::Accepted => store.set_resumable_state(&st.id, "accepted"),
        InviteState::Ended => store.set_resumable_state(&st.id, "ended"),
        InviteState::Declined | InviteState::Cancelled | InviteState::Expired => store.forget_resumable(&st.id),
    };
    logged("an invitation's state", &st.id, r);
}

/// A session stopped on request or failed: nothing to resume.
pub(crate) fn forget(s: &AppState, id: &str) {
    logged("a stop", id, s.store.forget_resumable(id));
}

/// The sessions' ids that are to be resumed (their files stay at start).
pub(crate) fn session_ids(s: &AppState) -> Vec<String> {
    s.store.resumables().map(|rs| rs.into_iter().map(|r| r.session_id).collect()).unwrap_or_default()
}

/// Resumes everything written down (blocking: sessions open their inputs).
pub(crate) fn resume_all(s: &AppState) {
    let all = match s.store.resumables() {
        Ok(a) => a,
        Err(e) => return tracing::error!(error = %e, "cannot read the sessions to resume"),
    };
    for r in all {
        match resume(s, &r) {
            Ok(()) => tracing::info!(id = %r.id, session = %r.session_id, "resumed after a restart"),
            Err(why) => {
                tracing::warn!(id = %r.id, error = %why, "could not be resumed; forgotten");
                forget(s, &r.id);
            }
        }
    }
}

fn resume(s: &AppState, r: &Resumable) -> Result<(), String> {
    match r.kind {
        ResumeKind::Session => {
            let req: CreateSession = serde_json::from_str(&r.request).map_err(|e| e.to_string())?;
            let spec = session_spec(s, req).map_err(|e| e.message().to_string())?;
            s.sessions.start_as(Some(&r.id), spec).map_err(|e| e.to_string())?;
        }
        ResumeKind::Invitation => {
            let req: CreateInvitation = serde_json::from_str(&r.request).map_err(|e| e.to_string())?;
            let (spec, [from, to], timeout) = plan_invitation(s, req).map_err(|e| e.message().to_string())?;
            let state = r.state.as_deref().unwrap_or("pending");
            // A pending invitation has only the rest of its time.
            let left = r.deadline.map(|d| d - crate::store::now_s()).unwrap_or(0);
            let timeout = if state == "pending" { std::time::Duration::from_secs(left.max(0) as u64) } else { timeout };
            if state == "pending" && left <= 0 {
                return Err("it expired while the service was down".into());
            }
            s.invitations
                .create_as(Some((&r.id, &r.session_id)), spec, from, to, timeout)
                .map_err(|e| e.to_string())?;
            if state != "pending" {
                s.invitations.accept(&r.id).map_err(|e| e.to_string())?;
            }
            if state == "ended" {
                s.invitations.hang_up(&r.id).map_err(|e| e.to_string())?;
            }
        }
    }
    if let Some(pk) = r.pk.as_deref().and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok()) {
        s.sessions.update_pk(&r.session_id, &pk).map_err(|e| e.to_string())?;
    }
    Ok(())
}
