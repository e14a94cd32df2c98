//! The slate library: text cards and validated files (image, animation, video loop) that a paused
//! room shows. A file is checked whole before it is kept (FFmpeg reads and decodes it; bounds on
//! size, picture and length; a blocklist over its words), so a pause never meets a broken one;
//! one that fails anyway falls back to the room's default slate, then the system card.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compose::slate;
use crate::compose::slate_file::{self, SlateFileError};
use crate::media::VideoFrame;
use crate::store::{self, Slate, Store, StoreError};

/// Bounds of an upload.
pub const DEFAULT_MAX_MB: u64 = 20;
pub const DEFAULT_MAX_DURATION_S: f64 = 120.0;
const MAX_TITLE: usize = 200;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 40;
const MAX_TEXT: usize = 100;

/// Words no slate's title or tags may contain when no blocklist file is configured.
const DEFAULT_BLOCKLIST: &str = include_str!("slate_blocklist.txt");

/// What an upload must keep to.
#[derive(Clone, Debug)]
pub struct SlateRules {
    pub max_bytes: u64,
    pub max_duration_s: f64,
    /// Lower-case words; a title or tag that contains one is refused.
    pub blocklist: Vec<String>,
}

impl Default for SlateRules {
    fn default() -> Self {
        SlateRules {
            max_bytes: DEFAULT_MAX_MB << 20,
            max_duration_s: DEFAULT_MAX_DURATION_S,
            blocklist: blocklist_from(DEFAULT_BLOCKLIST),
        }
    }
}

/// A blocklist file: one word or phrase per line; `#` starts a comment.
pub fn blocklist_from(text: &str) -> Vec<String> {
    text.lines().map(|l| l.split('#').next().unwrap_or("").trim().to_lowercase()).filter(|l| !l.is_empty()).collect()
}

/// Why a slate was not added or cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum SlateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    File(#[from] SlateFileError),
    #[error("the file is larger than the {0} bytes allowed")]
    TooLarge(u64),
    #[error("the {0} contains a blocked word")]
    Blocked(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("slate {0} is {1}, not approved")]
    NotApproved(String, String),
    #[error("the slate's file could not be stored: {0}")]
    Io(#[from] std::io::Error),
}

/// What a slate shows: its first picture, and the file that plays on from it in a loop (an
/// animation or video).
#[derive(Clone)]
pub struct SlatePicture {
    pub first: Arc<VideoFrame>,
    pub looped: Option<PathBuf>,
    /// It plays a sound of its own (a video slate's).
    pub sound: bool,
}

pub struct Slates {
    store: Arc<Store>,
    dir: PathBuf,
    rules: SlateRules,
    /// New slates wait for a moderator's answer (`pending`) instead of being approved at once.
    moderated: bool,
    /// Pictures already drawn or decoded, by slate and size: a pause never waits for a decode
    /// its session's start already did.
    drawn: std::sync::Mutex<std::collections::HashMap<(String, (u32, u32)), SlatePicture>>,
}

/// Pictures kept at most (a few per room that pauses; the cache starts over past it).
const DRAWN_MAX: usize = 32;

impl Slates {
    /// The library over `dir` (made if missing; uploads cut off by a crash are removed).
    pub fn new(store: Arc<Store>, dir: PathBuf, rules: SlateRules) -> std::io::Result<Slates> {
        std::fs::create_dir_all(&dir)?;
        for e in std::fs::read_dir(&dir)?.flatten() {
            if e.file_name().to_string_lossy().starts_with(".upload-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Slates { store, dir, rules, moderated: false, drawn: Default::default() })
    }

    /// New slates stay `pending` until a moderator approves them.
    pub fn moderated(mut self) -> Slates {
        self.moderated = true;
        self
    }

    /// The status a new slate gets.
    fn first_status(&self) -> String {
        if self.moderated { "pending" } else { "approved" }.into()
    }

    /// Where a file slate's file is (None: a text card).
    pub fn file_of(&self, id: &str) -> Result<Option<PathBuf>, SlateError> {
        Ok(self.store.slate(id)?.file.map(|f| self.dir.join(f)))
    }

    /// A moderator's answer: an approved slate can be shown; a rejected one is removed, its
    /// record and its file (blocking).
    pub fn moderate(&self, id: &str, approved: bool) -> Result<Option<Slate>, SlateError> {
        if approved {
            Ok(Some(self.store.set_slate_status(id, "approved")?))
        } else {
            self.remove(id)?;
            Ok(None)
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.rules.max_bytes
    }

    /// Where an upload is written while it arrives (in the slates directory, so keeping it is a
    /// rename).
    pub fn upload_path(&self) -> PathBuf {
        self.dir.join(format!(".upload-{}", store::random_hex(8)))
    }

    /// A title and tags within bounds and free of blocked words.
    pub fn check_words(&self, title: &str, tags: &[String]) -> Result<(), SlateError> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return Err(SlateError::Invalid(format!("title: 1 to {MAX_TITLE} characters")));
        }
        if tags.len() > MAX_TAGS || tags.iter().any(|t| t.trim().is_empty() || t.chars().count() > MAX_TAG) {
            return Err(SlateError::Invalid(format!("tags: at most {MAX_TAGS}, each 1 to {MAX_TAG} characters")));
        }
        let blocked = |s: &str| {
            let s = s.to_lowercase();
            self.rules.blocklist.iter().any(|w| s.contains(w.as_str()))
        };
        if blocked(title) {
            return Err(SlateError::Blocked("title"));
        }
        if tags.iter().any(|t| blocked(t)) {
            return Err(SlateError::Blocked("tags"));
        }
        Ok(())
    }

    /// Keeps the uploaded file at `upload` as a slate once it passes every check (blocking: it
    /// is decoded). On any failure the file is removed and no record is written.
    pub fn add_file(&self, upload: &Path, title: &str, tags: Vec<String>) -> Result<Slate, SlateError> {
        let kept = self.try_add_file(upload, title, tags);
        if kept.is_err() {
            let _ = std::fs::remove_file(upload);
        }
        kept
    }

    fn try_add_file(&self, upload: &Path, title: &str, tags: Vec<String>) -> Result<Slate, SlateError> {
        self.check_words(title, &tags)?;
        let bytes = std::fs::metadata(upload)?.len();
        if bytes > self.rules.max_bytes {
            return Err(SlateError::TooLarge(self.rules.max_bytes));
        }
        let (p, _) = slate_file::probe(upload, self.rules.max_duration_s)?;
        let id = format!("slate_{}", store::random_hex(6));
        let file = format!("{id}.{}", p.kind.extension(&p.format));
        let path = self.dir.join(&file);
        std::fs::rename(upload, &path)?;
        let s = Slate {
            id,
            kind: p.kind.as_str().into(),
            title: title.trim().into(),
            tags: tags.into_iter().map(|t| t.trim().to_string()).collect(),
            text: None,
            file: Some(file),
            width: Some(p.width),
            height: Some(p.height),
            duration_s: p.duration_s,
            has_audio: p.has_audio,
            bytes,
            status: self.first_status(),
            created_at: 0,
        };
        self.store
            .add_slate(&s)
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&path);
            })
            .map_err(Into::into)
    }

    /// A text card slate (blocking).
    pub fn add_text(&self, title: &str, tags: Vec<String>, text: &str) -> Result<Slate, SlateError> {
        self.check_words(title, &tags)?;
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_TEXT {
            return Err(SlateError::Invalid(format!("text: 1 to {MAX_TEXT} characters")));
        }
        if self.check_words(text, &[]).is_err() {
            return Err(SlateError::Blocked("text"));
        }
        let tags = tags.into_iter().map(|t| t.trim().to_string()).collect();
        let s = Slate {
            status: self.first_status(),
            ..Slate::text_card(&format!("slate_{}", store::random_hex(6)), title.trim(), tags, text)
        };
        Ok(self.store.add_slate(&s)?)
    }

    /// Removes the slate's record and file (blocking).
    pub fn remove(&self, id: &str) -> Result<Slate, SlateError> {
        let s = self.store.delete_slate(id)?;
        crate::sys::lock(&self.drawn).retain(|k, _| k.0 != id);
        if let Some(f) = &s.file {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        Ok(s)
    }

    /// What slate `id` shows in a tile the anchor filled at `size` (blocking: a file is decoded):
    /// its first picture, and for an animation or video the file to loop. Only an approved slate
    /// is shown.
    pub fn picture(&self, id: &str, size: (u32, u32)) -> Result<SlatePicture, SlateError> {
        let s = self.store.slate(id)?;
        if s.status != "approved" {
            return Err(SlateError::NotApproved(s.id, s.status));
        }
        // A file that went missing is noticed (and stood in for) however often it was shown.
        let key = (id.to_string(), size);
        let there = s.file.as_ref().is_none_or(|f| self.dir.join(f).exists());
        if let Some(p) = crate::sys::lock(&self.drawn).get(&key).filter(|_| there) {
            return Ok(p.clone());
        }
        let p = self.draw(&s, size)?;
        let mut drawn = crate::sys::lock(&self.drawn);
        if drawn.len() >= DRAWN_MAX {
            drawn.clear();
        }
        drawn.insert(key, p.clone());
        Ok(p)
    }

    fn draw(&self, s: &Slate, size: (u32, u32)) -> Result<SlatePicture, SlateError> {
        match (&s.text, &s.file) {
            (Some(text), _) => Ok(SlatePicture { first: slate::text_card(text, size), looped: None, sound: false }),
            (None, Some(f)) => {
                let path = self.dir.join(f);
                let first = slate_file::still(&path)?;
                let looped = (s.kind != "image").then_some(path);
                Ok(SlatePicture { first, sound: s.has_audio && looped.is_some(), looped })
            }
            (None, None) => Err(SlateError::Invalid(format!("slate {} has nothing to show", s.id))),
        }
    }
}
