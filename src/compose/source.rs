//! Where an input's pictures come from: a URL FFmpeg opens (a live one with its pause), or a
//! room's feed from the ingest.

use std::sync::Arc;

use crate::ingest::Feed;

/// Where an input's pictures come from.
#[derive(Clone)]
pub enum Source {
    /// Anything FFmpeg opens.
    Url(String),
    /// A URL a live session pulls, with what it shows and plays while paused: `hold` is a feed
    /// that carries only the pause (its slate, its loop, what is heard), and the input's sound
    /// passes through it.
    Pulled { url: String, hold: Arc<Feed> },
    /// A room's feed from the RTMP ingest (survives the anchor leaving and returning).
    Feed { name: String, feed: Arc<Feed> },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Url(u) | Source::Pulled { url: u, .. } => write!(f, "{u}"),
            Source::Feed { name, .. } => write!(f, "feed {name}"),
        }
    }
}

impl Source {
    /// Identity of the source across a change of a job's inputs (a kept input keeps its decoder).
    pub(crate) fn key(&self) -> String {
        match self {
            Source::Url(u) | Source::Pulled { url: u, .. } => format!("url:{u}"),
            Source::Feed { name, .. } => format!("feed:{name}"),
        }
    }
}

impl From<&str> for Source {
    fn from(u: &str) -> Source {
        Source::Url(u.to_string())
    }
}
