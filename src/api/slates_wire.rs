//! Wire types of the slate library and a room's default slate.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::rooms::suggest::{Suggestion, PICK_THRESHOLD};
use crate::store::Slate;

/// A text card slate (`POST /slates` with a JSON body). Files come as multipart/form-data
/// instead: `file`, `title` and `tags` (comma-separated, or the field repeated).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTextSlate {
    pub title: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The card's words (the bundled fonts draw Latin and CJK).
    pub text: String,
}

/// A slate's upload form (multipart/form-data), for the OpenAPI document.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SlateUpload {
    /// PNG, JPEG, GIF, APNG, MP4 or WebM; at most `slate_max_mb` MiB.
    #[schema(format = Binary, value_type = String)]
    pub file: Vec<u8>,
    pub title: String,
    /// Comma-separated.
    pub tags: Option<String>,
}

/// A slate of the library.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlateView {
    pub id: String,
    /// `text`, `image`, `animation` or `video`.
    pub kind: String,
    pub title: String,
    pub tags: Vec<String>,
    pub text: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_s: Option<f64>,
    pub has_audio: bool,
    pub bytes: u64,
    /// `approved`; `pending` or `rejected` under moderation.
    pub status: String,
    pub created_at: i64,
}

impl From<Slate> for SlateView {
    fn from(s: Slate) -> SlateView {
        let Slate {
            id, kind, title, tags, text, width, height, duration_s, has_audio, bytes, status, created_at, ..
        } = s;
        SlateView { id, kind, title, tags, text, width, height, duration_s, has_audio, bytes, status, created_at }
    }
}

/// A room's default slate (null: none, the system card stands in).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultSlate {
    pub slate: Option<String>,
}

/// Splits a form's tags: comma-separated (either comma), several fields allowed.
pub(super) fn tags_of(field: &str) -> impl Iterator<Item = String> + '_ {
    field.split([',', '，']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string)
}

/// Why "auto" shows what it shows for a room.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionView {
    /// The room's words (title, tags, recent comments), most frequent first.
    pub words: Vec<WordCount>,
    /// Approved slates by BM25 score against those words, best first.
    pub ranking: Vec<RankedSlate>,
    /// What "auto" shows: the best slate scoring at least `threshold`, else the room's default,
    /// else `system`.
    pub pick: String,
    /// `match`, `default` or `system`.
    pub because: String,
    pub threshold: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WordCount {
    pub word: String,
    pub count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankedSlate {
    pub slate: String,
    pub title: String,
    pub score: f64,
    /// The room's words the slate shares.
    pub matched: Vec<String>,
}

impl From<Suggestion> for SuggestionView {
    fn from(s: Suggestion) -> SuggestionView {
        SuggestionView {
            words: s.words.into_iter().map(|(word, count)| WordCount { word, count }).collect(),
            ranking: s
                .ranking
                .into_iter()
                .map(|r| RankedSlate { slate: r.slate, title: r.title, score: r.score, matched: r.matched })
                .collect(),
            pick: s.pick,
            because: s.because.to_string(),
            threshold: PICK_THRESHOLD,
        }
    }
}
