//! Running sessions and live invitations, written down so a restart resumes them.

use super::sql::p;
use super::{now_s, Store, StoreResult};

/// A session or invitation to resume.
#[derive(Clone, Debug, PartialEq)]
pub struct Resumable {
    pub id: String,
    pub kind: ResumeKind,
    /// What it runs (JSON): the session layer's record, or, in format 1 (written by earlier
    /// versions), the API request that made it.
    pub request: String,
    /// 2: the session layer's record; 1: an API request, upgraded once at start.
    pub format: i64,
    pub session_id: String,
    /// An invitation's state (pending, accepted, ended).
    pub state: Option<String>,
    pub pk: Option<String>,
    /// Unix milliseconds: when a pending invitation expires.
    pub deadline_ms: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeKind {
    Session,
    Invitation,
}

impl ResumeKind {
    fn as_str(self) -> &'static str {
        match self {
            ResumeKind::Session => "session",
            ResumeKind::Invitation => "invitation",
        }
    }
}

impl Store {
    pub fn save_resumable(&self, r: &Resumable) -> StoreResult<()> {
        // Every column is replaced, as a new record would be written (the old seconds `deadline`
        // emptied, `created_at` renewed).
        // Written as this node's, under the epoch it runs the record at; a record another node has
        // taken since is left as it is (see nodes.rs).
        let (owner, epoch) = (self.fence.node(), self.fence.epoch(&r.session_id));
        let n = self.db().execute(
            "INSERT INTO resumable (id, kind, request, session_id, state, pk, deadline_ms, created_at, format, owner, epoch) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, request = excluded.request, \
             session_id = excluded.session_id, state = excluded.state, pk = excluded.pk, deadline = NULL, \
             deadline_ms = excluded.deadline_ms, created_at = excluded.created_at, format = excluded.format \
             WHERE COALESCE(resumable.owner, '') = COALESCE(excluded.owner, '') AND resumable.epoch = excluded.epoch",
            p![&r.id, r.kind.as_str(), &r.request, &r.session_id, &r.state, &r.pk, r.deadline_ms, now_s(), r.format, owner, epoch],
        )?;
        self.fence.written(&r.id, n);
        Ok(())
    }

    /// Everything to resume, oldest first (an invitation's session before later changes).
    pub fn resumables(&self) -> StoreResult<Vec<Resumable>> {
        self.db().query_all(
            "SELECT id, kind, request, session_id, state, pk, deadline_ms, format FROM resumable ORDER BY created_at, id",
            p![],
            |r| {
                let kind: String = r.get(1)?;
                Ok(Resumable {
                    id: r.get(0)?,
                    kind: if kind == "invitation" { ResumeKind::Invitation } else { ResumeKind::Session },
                    request: r.get(2)?,
                    session_id: r.get(3)?,
                    state: r.get(4)?,
                    pk: r.get(5)?,
                    deadline_ms: r.get(6)?,
                    format: r.get(7)?,
                })
            },
        )
    }

    pub fn set_resumable_state(&self, id: &str, state: &str) -> StoreResult<()> {
        self.fenced(id, "UPDATE resumable SET state = ?4 WHERE id = ?1 AND", Some(state))
    }

    /// The PK bar's settings of a session, as last changed.
    pub fn set_resumable_pk(&self, session_id: &str, pk: &str) -> StoreResult<()> {
        self.fenced(session_id, "UPDATE resumable SET pk = ?4 WHERE session_id = ?1 AND", Some(pk))
    }

    /// A record as changed since (a session's layout, fits or inputs), or upgraded to `format`.
    pub fn set_resumable_request(&self, id: &str, request: &str, format: i64) -> StoreResult<()> {
        let sql = format!("UPDATE resumable SET request = ?4, format = {format} WHERE id = ?1 AND");
        self.fenced(id, &sql, Some(request))
    }

    /// Forgets `id` (a session or an invitation) and whatever runs as that session.
    pub fn forget_resumable(&self, id: &str) -> StoreResult<()> {
        self.fenced(id, "DELETE FROM resumable WHERE (id = ?1 OR session_id = ?1) AND", None)
    }

    /// Runs `sql` (its WHERE ending in AND; `?1` the id, `?4` the value) only on rows this node
    /// runs, at the epoch it runs them: a node that lost a record changes nothing of it.
    fn fenced(&self, id: &str, sql: &str, value: Option<&str>) -> StoreResult<()> {
        let (owner, epoch) = (self.fence.node(), self.fence.epoch(id));
        let sql = format!("{sql} COALESCE(owner, '') = COALESCE(CAST(?2 AS TEXT), '') AND epoch = ?3");
        let mut params = p![id, owner, epoch].to_vec();
        params.extend(value.map(Into::into));
        let n = self.db().execute(&sql, &params)?;
        self.fence.written(id, n);
        Ok(())
    }

    pub fn resumable(&self, id: &str) -> StoreResult<Option<Resumable>> {
        Ok(self.resumables()?.into_iter().find(|r| r.id == id))
    }
}
