//! Slates: their records (the files themselves live beside the database, in slates/), and each
//! room's default slate.

use serde::Serialize;

use super::sql::{p, Row};
use super::{now_s, Store, StoreError, StoreResult};

/// A stored slate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slate {
    pub id: String,
    /// `text`, `image`, `animation` or `video`.
    pub kind: String,
    pub title: String,
    pub tags: Vec<String>,
    /// A text card's words.
    pub text: Option<String>,
    /// The file's name in the slates directory (not for text cards).
    #[serde(skip)]
    pub file: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_s: Option<f64>,
    pub has_audio: bool,
    pub bytes: u64,
    /// `approved`, `pending` (waiting for moderation) or `rejected`.
    pub status: String,
    pub created_at: i64,
}

impl Slate {
    /// A text card slate, approved (no file, no picture size).
    pub fn text_card(id: &str, title: &str, tags: Vec<String>, text: &str) -> Slate {
        Slate {
            id: id.into(),
            kind: "text".into(),
            title: title.into(),
            tags,
            text: Some(text.into()),
            file: None,
            width: None,
            height: None,
            duration_s: None,
            has_audio: false,
            bytes: 0,
            status: "approved".into(),
            created_at: 0,
        }
    }
}

const COLUMNS: &str =
    "id, kind, title, tags, text, file, width, height, duration_s, has_audio, bytes, status, created_at";

fn slate(r: &Row) -> StoreResult<Slate> {
    let tags: String = r.get(3)?;
    Ok(Slate {
        id: r.get(0)?,
        kind: r.get(1)?,
        title: r.get(2)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        text: r.get(4)?,
        file: r.get(5)?,
        width: r.get(6)?,
        height: r.get(7)?,
        duration_s: r.get(8)?,
        has_audio: r.get(9)?,
        bytes: r.get::<i64>(10)? as u64,
        status: r.get(11)?,
        created_at: r.get(12)?,
    })
}

impl Store {
    /// Writes a new slate's record (`created_at` is now).
    pub fn add_slate(&self, s: &Slate) -> StoreResult<Slate> {
        let tags = serde_json::to_string(&s.tags).unwrap_or_else(|_| "[]".into());
        let now = now_s();
        self.db().execute(
            &format!("INSERT INTO slates ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
            p![
                &s.id,
                &s.kind,
                &s.title,
                tags,
                &s.text,
                &s.file,
                s.width,
                s.height,
                s.duration_s,
                s.has_audio,
                s.bytes as i64,
                &s.status,
                now
            ],
        )?;
        Ok(Slate { created_at: now, ..s.clone() })
    }

    pub fn slate(&self, id: &str) -> StoreResult<Slate> {
        let s = self.db().query_opt(&format!("SELECT {COLUMNS} FROM slates WHERE id = ?1"), p![id], slate)?;
        s.ok_or_else(|| StoreError::NoSlate(id.to_string()))
    }

    /// Every slate, oldest first.
    pub fn slates(&self) -> StoreResult<Vec<Slate>> {
        self.db().query_all(&format!("SELECT {COLUMNS} FROM slates ORDER BY created_at, id"), p![], slate)
    }

    /// Removes the record; the removed one (its file is the caller's to remove).
    pub fn delete_slate(&self, id: &str) -> StoreResult<Slate> {
        let s = self.slate(id)?;
        self.db().execute("DELETE FROM slates WHERE id = ?1", p![id])?;
        Ok(s)
    }

    /// A moderator's answer on a slate (`approved` or `rejected`).
    pub fn set_slate_status(&self, id: &str, status: &str) -> StoreResult<Slate> {
        let n = self.db().execute("UPDATE slates SET status = ?2 WHERE id = ?1", p![id, status])?;
        if n == 0 {
            return Err(StoreError::NoSlate(id.to_string()));
        }
        self.slate(id)
    }

    /// Sets (or with None clears) the room's default slate.
    pub fn set_default_slate(&self, room: &str, slate: Option<&str>) -> StoreResult<()> {
        if let Some(id) = slate {
            self.slate(id)?;
        }
        let n = self.db().execute("UPDATE rooms SET default_slate = ?2 WHERE id = ?1", p![room, slate])?;
        if n == 0 {
            return Err(StoreError::NoRoom(room.to_string()));
        }
        Ok(())
    }

    pub fn default_slate(&self, room: &str) -> StoreResult<Option<String>> {
        let v: Option<Option<String>> =
            self.db().query_opt("SELECT default_slate FROM rooms WHERE id = ?1", p![room], |r| r.get(0))?;
        v.ok_or_else(|| StoreError::NoRoom(room.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slate_is_kept_listed_set_as_default_and_deleted() {
        let st = Store::open(std::path::Path::new(":memory:")).unwrap();
        let room = st.create_room_within("A", "costream", 60, 10).unwrap();
        let s = Slate::text_card("slate_1", "back soon", vec!["游戏".into(), "game".into()], "brb");
        let added = st.add_slate(&s).unwrap();
        assert_eq!(st.slate("slate_1").unwrap(), added);
        assert_eq!(st.slates().unwrap(), vec![added]);
        st.set_default_slate(&room.id, Some("slate_1")).unwrap();
        assert_eq!(st.default_slate(&room.id).unwrap().as_deref(), Some("slate_1"));
        assert!(matches!(st.set_default_slate(&room.id, Some("nope")), Err(StoreError::NoSlate(_))));
        st.delete_slate("slate_1").unwrap();
        assert_eq!(st.default_slate(&room.id).unwrap(), None, "a deleted slate is nobody's default");
        assert!(matches!(st.slate("slate_1"), Err(StoreError::NoSlate(_))));
    }
}
