//! Sessions and invitations write themselves down, so a restart resumes them: a session's spec when
//! it starts and again when its layout, fits or inputs change; the PK bar as last changed; an
//! invitation's spec, anchors, deadline and answer. A stop, a decline or a failure forgets them;
//! a shutdown does not. A failure to write is logged, not returned: the session runs either way,
//! it would only not survive a restart.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::SessionSpec;
use crate::compose::PkSettings;
use crate::store::{Resumable, ResumeKind, Store, StoreResult};

/// The record format this version writes (format 1 held the API request).
pub const RECORD_FORMAT: i64 = 2;

/// What a session record holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionRecord {
    pub spec: SessionSpec,
}

/// What an invitation record holds: its PK session's spec, the anchors' names and its time to
/// answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvitationRecord {
    pub spec: SessionSpec,
    pub from: String,
    pub to: String,
    pub timeout_s: f64,
}

/// Where an invitation stands, as its record keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Pending,
    /// Its PK runs: resumed merged.
    Accepted,
    /// Hung up: its rooms' outputs run solo.
    Ended,
    /// Declined, cancelled or expired: nothing to resume.
    Closed,
}

/// Where records go (nowhere: a service without a database, such as the benchmark's).
#[derive(Clone, Default)]
pub struct Records(Option<Arc<Store>>);

fn logged(what: &str, id: &str, r: StoreResult<()>) {
    if let Err(e) = r {
        tracing::error!(id, error = %e, "cannot write down {what}: it will not survive a restart");
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl Records {
    pub fn new(store: Arc<Store>) -> Records {
        Records(Some(store))
    }

    pub fn store(&self) -> Option<&Arc<Store>> {
        self.0.as_ref()
    }

    pub(crate) fn session_started(&self, id: &str, spec: &SessionSpec) {
        let Some(store) = &self.0 else { return };
        let r = Resumable {
            id: id.into(),
            kind: ResumeKind::Session,
            request: json(&SessionRecord { spec: spec.clone() }),
            format: RECORD_FORMAT,
            session_id: id.into(),
            state: None,
            pk: None,
            deadline_ms: None,
        };
        logged("a session", id, store.save_resumable(&r));
    }

    pub(crate) fn session_changed(&self, id: &str, spec: &SessionSpec) {
        let Some(store) = &self.0 else { return };
        let record = json(&SessionRecord { spec: spec.clone() });
        logged("a session's change", id, store.set_resumable_request(id, &record, RECORD_FORMAT));
    }

    pub(crate) fn pk_changed(&self, session: &str, pk: &PkSettings) {
        let Some(store) = &self.0 else { return };
        logged("the PK bar", session, store.set_resumable_pk(session, &json(pk)));
    }

    pub(crate) fn invitation_sent(&self, id: &str, session: &str, record: &InvitationRecord, deadline_ms: i64) {
        let Some(store) = &self.0 else { return };
        let r = Resumable {
            id: id.into(),
            kind: ResumeKind::Invitation,
            request: json(record),
            format: RECORD_FORMAT,
            session_id: session.into(),
            state: Some("pending".into()),
            pk: None,
            deadline_ms: Some(deadline_ms),
        };
        logged("an invitation", id, store.save_resumable(&r));
    }

    /// An invitation's new state: answered ones are kept (their session runs), closed ones
    /// forgotten.
    pub(crate) fn invitation_moved(&self, id: &str, standing: Standing) {
        let Some(store) = &self.0 else { return };
        let r = match standing {
            Standing::Pending => return,
            Standing::Accepted => store.set_resumable_state(id, "accepted"),
            Standing::Ended => store.set_resumable_state(id, "ended"),
            Standing::Closed => store.forget_resumable(id),
        };
        logged("an invitation's state", id, r);
    }

    /// Stopped on request or failed: nothing to resume (an invitation's session takes its
    /// invitation along).
    pub(crate) fn forget(&self, id: &str) {
        let Some(store) = &self.0 else { return };
        logged("a stop", id, store.forget_resumable(id));
    }
}
