//! What viewers earn and pay for: their behaviour points, paid unlocks, and each channel's unlock
//! rules; and the service's own settings.

use rusqlite::{params, OptionalExtension};

use super::{now_s, Store, StoreResult};

/// Viewers' points, paid unlocks and channels' unlock rules.
impl Store {
    /// Adds behaviour points to a viewer of a channel; returns the new total.
    pub fn add_points(&self, channel: &str, token: &str, delta: f64) -> StoreResult<f64> {
        let db = self.db();
        db.execute(
            "INSERT INTO viewer_points (channel, token, points) VALUES (?1, ?2, ?3) ON CONFLICT(channel, token) DO UPDATE SET points = points + ?3",
            params![channel, token, delta],
        )?;
        Ok(db.query_row(
            "SELECT points FROM viewer_points WHERE channel = ?1 AND token = ?2",
            params![channel, token],
            |r| r.get(0),
        )?)
    }

    /// Credits `seconds` of watch time to a viewer unless the total would pass `limit`; returns
    /// whether it was credited (checked and added in one statement: concurrent reports cannot
    /// both slip under the limit).
    pub fn credit_watch(&self, channel: &str, token: &str, seconds: f64, limit: f64) -> StoreResult<bool> {
        let n = self.db().execute(
            "INSERT INTO viewer_watch (channel, token, seconds) SELECT ?1, ?2, ?3 WHERE ?3 <= ?4
             ON CONFLICT(channel, token) DO UPDATE SET seconds = seconds + ?3 WHERE seconds + ?3 <= ?4",
            params![channel, token, seconds, limit],
        )?;
        Ok(n == 1)
    }

    pub fn points(&self, channel: &str, token: &str) -> StoreResult<f64> {
        use rusqlite::OptionalExtension;
        Ok(self
            .db()
            .query_row(
                "SELECT points FROM viewer_points WHERE channel = ?1 AND token = ?2",
                params![channel, token],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0.0))
    }

    /// Records a confirmed payment's unlock; false when that payment was already counted.
    pub fn add_entitlement(&self, payment_id: &str, channel: &str, token: &str, organ: &str) -> StoreResult<bool> {
        let n = self.db().execute(
            "INSERT OR IGNORE INTO entitlements (payment_id, channel, token, organ, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![payment_id, channel, token, organ, now_s()],
        )?;
        Ok(n == 1)
    }

    /// Organs a viewer has paid to unlock on a channel.
    pub fn entitlements(&self, channel: &str, token: &str) -> StoreResult<Vec<String>> {
        let db = self.db();
        let mut st =
            db.prepare("SELECT DISTINCT organ FROM entitlements WHERE channel = ?1 AND token = ?2 ORDER BY organ")?;
        let v = st.query_map(params![channel, token], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// Stores a channel's unlock rules (JSON).
    pub fn set_channel_rules(&self, channel: &str, rules_json: &str) -> StoreResult<()> {
        self.db().execute(
            "INSERT INTO channels (id, rules) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET rules = ?2",
            params![channel, rules_json],
        )?;
        Ok(())
    }

    /// The setting `name`, made by `init` and kept the first time it is asked for.
    pub fn setting_or_init(&self, name: &str, init: impl FnOnce() -> String) -> StoreResult<String> {
        let db = self.db();
        if let Some(v) =
            db.query_row("SELECT value FROM settings WHERE name = ?1", params![name], |r| r.get(0)).optional()?
        {
            return Ok(v);
        }
        let v = init();
        db.execute("INSERT INTO settings (name, value) VALUES (?1, ?2)", params![name, v])?;
        Ok(v)
    }

    pub fn channel_rules(&self, channel: &str) -> StoreResult<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .db()
            .query_row("SELECT rules FROM channels WHERE id = ?1", params![channel], |r| r.get(0))
            .optional()?)
    }
}
