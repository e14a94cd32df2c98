//! Wire types of viewer polls.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::session::polls::NewPoll;
use crate::store::PollRecord;

/// Default length of a poll.
pub const DEFAULT_POLL_S: u64 = 60;

/// A poll to open (`POST /sessions/{id}/polls`), or the one a room's pauses open
/// (`PUT /rooms/{id}/poll`): a question, 2 to 6 distinct options, 5 to 3600 seconds (60 by
/// default), and whose viewer tokens may vote (default: the session's masking channel, else the
/// room's id).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePoll {
    pub question: String,
    pub options: Vec<String>,
    #[serde(default)]
    pub duration_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl From<CreatePoll> for NewPoll {
    fn from(c: CreatePoll) -> NewPoll {
        NewPoll {
            question: c.question,
            options: c.options,
            duration_s: c.duration_s.unwrap_or(DEFAULT_POLL_S),
            channel: c.channel,
        }
    }
}

impl From<NewPoll> for CreatePoll {
    fn from(p: NewPoll) -> CreatePoll {
        CreatePoll { question: p.question, options: p.options, duration_s: Some(p.duration_s), channel: p.channel }
    }
}

/// A viewer's vote: an option's index (from 0) or its text. The viewer's token goes in
/// `Authorization: Bearer <viewer token>`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    pub option: OptionChoice,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OptionChoice {
    Index(usize),
    Text(String),
}

impl OptionChoice {
    /// The option's index in `options`, if there is such an option.
    pub fn index(&self, options: &[String]) -> Option<usize> {
        match self {
            OptionChoice::Index(i) => (*i < options.len()).then_some(*i),
            OptionChoice::Text(t) => options.iter().position(|o| o == t.trim()),
        }
    }
}

/// A poll with its live counts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PollView {
    pub id: String,
    pub session_id: String,
    /// Whose viewer tokens may vote.
    pub channel: String,
    pub question: String,
    pub options: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    /// Votes per option (each viewer's latest vote).
    pub counts: Vec<u64>,
    /// Viewers who voted; `votes` also counts each changed vote.
    pub voters: u64,
    pub votes: u64,
    /// The option ahead now (ties: the first to reach the count); null without votes.
    pub leader: Option<usize>,
    /// Once closed: the option that won (null if nobody voted).
    pub winner: Option<usize>,
    /// Unix milliseconds.
    pub opened_at_ms: i64,
    pub closes_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    /// `timeout`, `resume`, `request` or `session_stopped`.
    pub closed_by: Option<String>,
}

impl From<PollRecord> for PollView {
    fn from(p: PollRecord) -> PollView {
        let closed = p.closed_at_ms.is_some();
        PollView {
            id: p.id,
            session_id: p.session_id,
            channel: p.channel,
            question: p.question,
            options: p.options,
            state: if closed { "closed" } else { "open" }.into(),
            counts: p.counts,
            voters: p.voters,
            votes: p.votes,
            leader: p.leader,
            winner: p.leader.filter(|_| closed),
            opened_at_ms: p.opened_at_ms,
            closes_at_ms: p.closes_at_ms,
            closed_at_ms: p.closed_at_ms,
            closed_by: p.closed_by,
        }
    }
}
