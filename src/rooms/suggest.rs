//! "auto": the slate that fits what a room is about. The room's words come from its title, its
//! tags and the recent comments on its sessions; each approved slate's from its title and tags.
//! Chinese and English are cut into words by jieba (search mode, so 王者荣耀 also yields 王者 and
//! 荣耀), slates are ranked by BM25 against the room's words, and the best above a threshold
//! wins; else the room's default, else the system card. The ranking is shown with its scores and
//! matched words, so an operator sees why a slate was picked.

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;

use super::Rooms;
use crate::store::{Slate, StoreError};
use crate::sys::lock;

/// Comments of a room kept for its words.
pub(super) const RECENT_COMMENTS: usize = 50;

/// A slate scores at least this to be picked.
pub const PICK_THRESHOLD: f64 = 0.3;

/// BM25's usual constants.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Words that say nothing about a room.
const STOP_WORDS: &[&str] = &[
    "的", "了", "是", "在", "和", "我", "你", "他", "她", "也", "就", "都", "吗", "吧", "啊", "呢", "这", "那", "有",
    "一个", "the", "a", "an", "and", "or", "of", "to", "in", "on", "is", "it", "for", "with", "at", "this", "that",
];

/// One slate's place in the ranking.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Ranked {
    pub slate: String,
    pub title: String,
    pub score: f64,
    /// The room's words the slate shares.
    pub matched: Vec<String>,
}

/// The ranking for a room, and what "auto" shows.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Suggestion {
    /// The room's words with their counts, most frequent first.
    pub words: Vec<(String, usize)>,
    pub ranking: Vec<Ranked>,
    /// The slate "auto" shows: the best above the threshold, else the room's default, else
    /// `system`.
    pub pick: String,
    /// `match`, `default` or `system`.
    pub because: &'static str,
}

fn jieba() -> &'static jieba_rs::Jieba {
    static J: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    J.get_or_init(jieba_rs::Jieba::new)
}

/// The words of `text`: jieba's search-mode cut, lower-cased, without punctuation, stop words
/// and single Latin letters.
pub fn words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    jieba()
        .cut_for_search(&lower, true)
        .into_iter()
        .map(|t| t.word.trim().to_string())
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .filter(|w| !(w.chars().count() == 1 && w.is_ascii()))
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// BM25 of each slate (its title and tags) against the room's words, best first.
pub fn rank(room_words: &[String], slates: &[Slate]) -> Vec<Ranked> {
    let docs: Vec<Vec<String>> = slates.iter().map(|s| words(&format!("{} {}", s.title, s.tags.join(" ")))).collect();
    let n = docs.len() as f64;
    let avgdl = (docs.iter().map(Vec::len).sum::<usize>() as f64 / n.max(1.0)).max(1.0);
    let mut query: HashMap<&str, usize> = HashMap::new();
    for w in room_words {
        *query.entry(w.as_str()).or_default() += 1;
    }
    let mut ranked: Vec<Ranked> = slates
        .iter()
        .zip(&docs)
        .map(|(s, doc)| {
            let (mut score, mut matched) = (0.0, Vec::new());
            for (term, qtf) in &query {
                let tf = doc.iter().filter(|w| w == term).count() as f64;
                if tf == 0.0 {
                    continue;
                }
                let df = docs.iter().filter(|d| d.iter().any(|w| w == term)).count() as f64;
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                let norm = tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * doc.len() as f64 / avgdl));
                // A word the room repeats (its comments) weighs more, but not linearly.
                score += idf * norm * (1.0 + (*qtf as f64).ln());
                matched.push(term.to_string());
            }
            matched.sort();
            Ranked { slate: s.id.clone(), title: s.title.clone(), score, matched }
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.slate.cmp(&b.slate)));
    ranked
}

impl Rooms {
    /// Remembers a comment posted to a session that shows `room` (its words help pick a slate).
    pub fn note_comment(&self, room: &str, text: &str) {
        let mut m = lock(&self.rooms);
        let r = m.entry(room.to_string()).or_default();
        let c: &mut VecDeque<String> = &mut r.comments;
        if c.len() >= RECENT_COMMENTS {
            c.pop_front();
        }
        c.push_back(text.to_string());
    }

    /// The slate ranking for `room` and what "auto" shows (blocking: it reads the store).
    pub fn suggest(&self, room: &str) -> Result<Suggestion, StoreError> {
        let r = self.store.room(room)?;
        let comments: Vec<String> =
            lock(&self.rooms).get(room).map(|l| l.comments.iter().cloned().collect()).unwrap_or_default();
        let text = format!("{} {} {}", r.title.unwrap_or_default(), r.tags.join(" "), comments.join(" "));
        let room_words = words(&text);
        let approved: Vec<Slate> = self.store.slates()?.into_iter().filter(|s| s.status == "approved").collect();
        let ranking = rank(&room_words, &approved);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for w in room_words {
            *counts.entry(w).or_default() += 1;
        }
        let mut words: Vec<(String, usize)> = counts.into_iter().collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let (pick, because) = match ranking.first().filter(|b| b.score >= PICK_THRESHOLD) {
            Some(best) => (best.slate.clone(), "match"),
            None => match r.default_slate {
                Some(d) => (d, "default"),
                None => (super::SYSTEM_SLATE.to_string(), "system"),
            },
        };
        Ok(Suggestion { words, ranking, pick, because })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slate(id: &str, title: &str, tags: &[&str]) -> Slate {
        Slate::text_card(id, title, tags.iter().map(|t| t.to_string()).collect(), "x")
    }

    #[test]
    fn chinese_and_english_are_cut_into_words() {
        let w = words("王者荣耀 游戏直播, Let's play the GAME!");
        for want in ["王者", "荣耀", "游戏", "直播", "play", "game"] {
            assert!(w.iter().any(|x| x == want), "{want} in {w:?}");
        }
        assert!(!w.iter().any(|x| x == "the" || x == ","), "{w:?}");
    }

    #[test]
    fn the_slate_sharing_the_rooms_words_ranks_first() {
        let slates = [
            slate("s_game", "游戏时间", &["游戏", "game"]),
            slate("s_food", "美食 break", &["美食", "cooking"]),
            slate("s_chat", "聊会天", &["chat"]),
        ];
        let game = rank(&words("王者荣耀 游戏 直播 game"), &slates);
        assert_eq!(game[0].slate, "s_game", "{game:?}");
        assert!(game[0].score >= PICK_THRESHOLD && game[1].score == 0.0, "{game:?}");
        let food = rank(&words("今晚做红烧肉 美食 cooking"), &slates);
        assert_eq!(food[0].slate, "s_food", "{food:?}");
        let none = rank(&words("数学课"), &slates);
        assert!(none.iter().all(|r| r.score == 0.0), "{none:?}");
    }
}
