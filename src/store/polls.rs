//! Viewer polls and their votes: one open poll per session, one vote per viewer token (kept as its
//! SHA-256; a second vote replaces the first), counted exactly and kept across a restart. A tie
//! goes to the option that first reached the winning count.

use serde::Serialize;

use super::sql::{p, Row, Sql};
use super::{Store, StoreError, StoreResult};

/// A poll as written down, with its counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PollRecord {
    pub id: String,
    pub session_id: String,
    /// The channel whose viewer tokens may vote.
    pub channel: String,
    pub question: String,
    pub options: Vec<String>,
    /// Unix milliseconds.
    pub opened_at_ms: i64,
    pub closes_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    /// `timeout`, `resume`, `request` or `session_stopped`.
    pub closed_by: Option<String>,
    /// Votes per option (each viewer's latest).
    pub counts: Vec<u64>,
    /// Viewers who voted.
    pub voters: u64,
    /// Votes received, a changed vote counted again.
    pub votes: u64,
    /// The option with the most votes (ties: the first to reach that count); none without votes.
    pub leader: Option<usize>,
}

/// What a vote did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteOutcome {
    /// The viewer's first vote in this poll.
    Counted,
    /// It replaced the viewer's earlier vote.
    Replaced,
    /// The poll is closed (or past its end); nothing was counted.
    Closed,
    /// No such option; nothing was counted.
    NoOption,
}

/// Why a poll could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenRefusal {
    /// The session has this poll open already.
    AlreadyOpen(String),
}

const COLUMNS: &str =
    "id, session_id, channel, question, options, opened_at_ms, closes_at_ms, closed_at_ms, closed_by, votes";

impl Store {
    /// Opens a poll unless its session has one open.
    pub fn open_poll(&self, p: &PollRecord) -> StoreResult<Result<PollRecord, OpenRefusal>> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        let open: Option<String> = tx.query_opt(
            "SELECT id FROM polls WHERE session_id = ?1 AND closed_at_ms IS NULL",
            p![&p.session_id],
            |r| r.get(0),
        )?;
        if let Some(id) = open {
            return Ok(Err(OpenRefusal::AlreadyOpen(id)));
        }
        let options = serde_json::to_string(&p.options).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "INSERT INTO polls (id, session_id, channel, question, options, opened_at_ms, closes_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            p![&p.id, &p.session_id, &p.channel, &p.question, options, p.opened_at_ms, p.closes_at_ms],
        )?;
        let rec = read(&mut *tx, &p.id)?.ok_or_else(|| StoreError::NoPoll(p.id.clone()))?;
        tx.commit()?;
        Ok(Ok(rec))
    }

    pub fn poll(&self, id: &str) -> StoreResult<Option<PollRecord>> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        read(&mut *tx, id)
    }

    /// Counts `token_hash`'s vote for `option` at `now_ms`, replacing its earlier one.
    pub fn vote(&self, poll: &str, token_hash: &str, option: usize, now_ms: i64) -> StoreResult<VoteOutcome> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        let row: Option<(String, i64, Option<i64>)> =
            tx.query_opt("SELECT options, closes_at_ms, closed_at_ms FROM polls WHERE id = ?1", p![poll], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        let (options, closes, closed) = row.ok_or_else(|| StoreError::NoPoll(poll.to_string()))?;
        if closed.is_some() || now_ms >= closes {
            return Ok(VoteOutcome::Closed);
        }
        if option >= serde_json::from_str::<Vec<String>>(&options).map_or(0, |o| o.len()) {
            return Ok(VoteOutcome::NoOption);
        }
        let earlier: Option<i64> = tx.query_opt(
            "SELECT option FROM poll_votes WHERE poll_id = ?1 AND token_hash = ?2",
            p![poll, token_hash],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO poll_votes (poll_id, token_hash, option, at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (poll_id, token_hash) DO UPDATE SET option = excluded.option, at_ms = excluded.at_ms",
            p![poll, token_hash, option as i64, now_ms],
        )?;
        // The poll's row is locked from here; one closed meanwhile (by another connection) takes
        // no vote.
        let seq: Option<i64> = tx.query_opt(
            "UPDATE polls SET votes = votes + 1 WHERE id = ?1 AND closed_at_ms IS NULL RETURNING votes",
            p![poll],
            |r| r.get(0),
        )?;
        let Some(seq) = seq else { return Ok(VoteOutcome::Closed) };
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM poll_votes WHERE poll_id = ?1 AND option = ?2",
            p![poll, option as i64],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO poll_reached (poll_id, option, count, seq) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            p![poll, option as i64, count, seq],
        )?;
        tx.commit()?;
        Ok(if earlier.is_some() { VoteOutcome::Replaced } else { VoteOutcome::Counted })
    }

    /// Closes an open poll (its leader becomes its winner); the poll as it is now, or None when
    /// there is no such poll. A closed poll stays as it was.
    pub fn close_poll(&self, id: &str, by: &str, now_ms: i64) -> StoreResult<Option<PollRecord>> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        tx.execute(
            "UPDATE polls SET closed_at_ms = ?2, closed_by = ?3 WHERE id = ?1 AND closed_at_ms IS NULL",
            p![id, now_ms, by],
        )?;
        let rec = read(&mut *tx, id)?;
        tx.commit()?;
        Ok(rec)
    }

    /// Every open poll.
    pub fn open_polls(&self) -> StoreResult<Vec<PollRecord>> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        let ids: Vec<String> =
            tx.query_all("SELECT id FROM polls WHERE closed_at_ms IS NULL ORDER BY opened_at_ms, id", p![], |r| {
                r.get(0)
            })?;
        ids.iter().filter_map(|id| read(&mut *tx, id).transpose()).collect()
    }

    /// A session's polls, newest first (at most 100).
    pub fn polls_of(&self, session: &str) -> StoreResult<Vec<PollRecord>> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        // Polls opened in the same millisecond (one closed, the next opened) have no order of
        // their own: the id decides, so both engines list them alike.
        let ids: Vec<String> = tx.query_all(
            "SELECT id FROM polls WHERE session_id = ?1 ORDER BY opened_at_ms DESC, id DESC LIMIT 100",
            p![session],
            |r| r.get(0),
        )?;
        ids.iter().filter_map(|id| read(&mut *tx, id).transpose()).collect()
    }

    /// The poll a pause of this room opens (JSON, as the session layer wrote it).
    pub fn room_poll(&self, room: &str) -> StoreResult<Option<String>> {
        let v: Option<Option<String>> =
            self.db().query_opt("SELECT poll FROM rooms WHERE id = ?1", p![room], |r| r.get(0))?;
        v.ok_or_else(|| StoreError::NoRoom(room.to_string()))
    }

    pub fn set_room_poll(&self, room: &str, poll: Option<&str>) -> StoreResult<()> {
        let n = self.db().execute("UPDATE rooms SET poll = ?2 WHERE id = ?1", p![room, poll])?;
        if n == 0 {
            return Err(StoreError::NoRoom(room.to_string()));
        }
        Ok(())
    }
}

/// One poll with its counts and leader, read inside a transaction.
fn read(tx: &mut dyn Sql, id: &str) -> StoreResult<Option<PollRecord>> {
    let rec = tx.query_opt(&format!("SELECT {COLUMNS} FROM polls WHERE id = ?1"), p![id], |r: &Row| {
        let options: String = r.get(4)?;
        Ok(PollRecord {
            id: r.get(0)?,
            session_id: r.get(1)?,
            channel: r.get(2)?,
            question: r.get(3)?,
            options: serde_json::from_str(&options).unwrap_or_default(),
            opened_at_ms: r.get(5)?,
            closes_at_ms: r.get(6)?,
            closed_at_ms: r.get(7)?,
            closed_by: r.get(8)?,
            votes: r.get::<i64>(9)? as u64,
            counts: Vec::new(),
            voters: 0,
            leader: None,
        })
    })?;
    let Some(mut rec) = rec else { return Ok(None) };
    rec.counts = vec![0; rec.options.len()];
    let rows =
        tx.query_all("SELECT option, COUNT(*) FROM poll_votes WHERE poll_id = ?1 GROUP BY option", p![id], |r| {
            Ok((r.get::<i64>(0)?, r.get::<i64>(1)?))
        })?;
    for (o, n) in rows {
        if let Some(c) = rec.counts.get_mut(o as usize) {
            *c = n as u64;
        }
    }
    rec.voters = rec.counts.iter().sum();
    rec.leader = leader(tx, id, &rec.counts)?;
    Ok(Some(rec))
}

/// The option with the most votes; among equals, the first to reach that count.
fn leader(tx: &mut dyn Sql, id: &str, counts: &[u64]) -> StoreResult<Option<usize>> {
    let top = counts.iter().copied().max().unwrap_or(0);
    if top == 0 {
        return Ok(None);
    }
    let mut best: Option<(i64, usize)> = None;
    for (o, _) in counts.iter().enumerate().filter(|(_, c)| **c == top) {
        let seq: i64 = tx
            .query_opt(
                "SELECT seq FROM poll_reached WHERE poll_id = ?1 AND option = ?2 AND count = ?3",
                p![id, o as i64, top as i64],
                |r| r.get(0),
            )?
            .unwrap_or(i64::MAX);
        if best.is_none_or(|(s, _)| seq < s) {
            best = Some((seq, o));
        }
    }
    Ok(best.map(|(_, o)| o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(id: &str, session: &str) -> PollRecord {
        PollRecord {
            id: id.into(),
            session_id: session.into(),
            channel: "c".into(),
            question: "next?".into(),
            options: vec!["唱歌".into(), "讲笑话".into(), "发红包".into()],
            opened_at_ms: 1_000,
            closes_at_ms: 61_000,
            closed_at_ms: None,
            closed_by: None,
            counts: vec![],
            voters: 0,
            votes: 0,
            leader: None,
        }
    }

    #[test]
    fn one_vote_per_token_ties_go_to_the_first_and_closed_polls_count_nothing() {
        let s = Store::open_in_memory().unwrap();
        s.open_poll(&poll("p1", "s1")).unwrap().unwrap();
        assert_eq!(s.open_poll(&poll("p2", "s1")).unwrap(), Err(OpenRefusal::AlreadyOpen("p1".into())));
        assert_eq!(s.vote("p1", "a", 1, 2_000).unwrap(), VoteOutcome::Counted);
        assert_eq!(s.vote("p1", "b", 0, 2_000).unwrap(), VoteOutcome::Counted);
        assert_eq!(s.vote("p1", "c", 2, 2_000).unwrap(), VoteOutcome::Counted);
        // "a" changes its mind: 0 has two, and reached two first ... until 2 catches up.
        assert_eq!(s.vote("p1", "a", 0, 2_000).unwrap(), VoteOutcome::Replaced);
        assert_eq!(s.vote("p1", "d", 2, 2_000).unwrap(), VoteOutcome::Counted);
        assert_eq!(s.vote("p1", "e", 9, 2_000).unwrap(), VoteOutcome::NoOption);
        let p = s.poll("p1").unwrap().unwrap();
        assert_eq!((p.counts.clone(), p.voters, p.votes), (vec![2, 0, 2], 4, 5));
        assert_eq!(p.leader, Some(0), "option 0 reached two votes first");
        assert_eq!(s.vote("p1", "f", 1, 61_000).unwrap(), VoteOutcome::Closed, "past its end");
        let closed = s.close_poll("p1", "request", 3_000).unwrap().unwrap();
        assert_eq!((closed.closed_by.as_deref(), closed.leader), (Some("request"), Some(0)));
        assert_eq!(s.vote("p1", "g", 1, 3_000).unwrap(), VoteOutcome::Closed);
        assert_eq!(s.close_poll("p1", "timeout", 4_000).unwrap().unwrap().closed_by.as_deref(), Some("request"));
        assert!(s.open_polls().unwrap().is_empty());
        s.open_poll(&poll("p3", "s1")).unwrap().unwrap();
        assert!(matches!(s.vote("nope", "a", 0, 0), Err(StoreError::NoPoll(_))));
    }
}
