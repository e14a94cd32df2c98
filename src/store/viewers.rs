//! What viewers earn and pay for: their behaviour points, paid unlocks, and each channel's unlock
//! rules; and the service's own settings.

use super::sql::p;
use super::{now_s, Store, StoreResult};

/// Viewers' points, paid unlocks and channels' unlock rules.
impl Store {
    /// Adds behaviour points to a viewer of a channel; returns the new total.
    pub fn add_points(&self, channel: &str, token: &str, delta: f64) -> StoreResult<f64> {
        let mut db = self.db();
        db.execute(
            "INSERT INTO viewer_points (channel, token, points) VALUES (?1, ?2, ?3)
             ON CONFLICT(channel, token) DO UPDATE SET points = viewer_points.points + ?3",
            p![channel, token, delta],
        )?;
        db.query_row("SELECT points FROM viewer_points WHERE channel = ?1 AND token = ?2", p![channel, token], |r| {
            r.get(0)
        })
    }

    /// Credits `seconds` of watch time to a viewer unless the total would pass `limit`; returns
    /// whether it was credited (checked and added in one statement: concurrent reports cannot
    /// both slip under the limit).
    pub fn credit_watch(&self, channel: &str, token: &str, seconds: f64, limit: f64) -> StoreResult<bool> {
        let n = self.db().execute(
            "INSERT INTO viewer_watch (channel, token, seconds)
             SELECT CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS DOUBLE PRECISION)
             WHERE CAST(?3 AS DOUBLE PRECISION) <= CAST(?4 AS DOUBLE PRECISION)
             ON CONFLICT(channel, token) DO UPDATE SET seconds = viewer_watch.seconds + ?3
             WHERE viewer_watch.seconds + ?3 <= ?4",
            p![channel, token, seconds, limit],
        )?;
        Ok(n == 1)
    }

    pub fn points(&self, channel: &str, token: &str) -> StoreResult<f64> {
        Ok(self
            .db()
            .query_opt("SELECT points FROM viewer_points WHERE channel = ?1 AND token = ?2", p![channel, token], |r| {
                r.get(0)
            })?
            .unwrap_or(0.0))
    }

    /// Records a confirmed payment's unlock; false when that payment was already counted.
    pub fn add_entitlement(&self, payment_id: &str, channel: &str, token: &str, organ: &str) -> StoreResult<bool> {
        let n = self.db().execute(
            "INSERT INTO entitlements (payment_id, channel, token, organ, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
            p![payment_id, channel, token, organ, now_s()],
        )?;
        Ok(n == 1)
    }

    /// Organs a viewer has paid to unlock on a channel.
    pub fn entitlements(&self, channel: &str, token: &str) -> StoreResult<Vec<String>> {
        self.db().query_all(
            "SELECT DISTINCT organ FROM entitlements WHERE channel = ?1 AND token = ?2 ORDER BY organ",
            p![channel, token],
            |r| r.get(0),
        )
    }

    /// Stores a channel's unlock rules (JSON).
    pub fn set_channel_rules(&self, channel: &str, rules_json: &str) -> StoreResult<()> {
        self.db().execute(
            "INSERT INTO channels (id, rules) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET rules = ?2",
            p![channel, rules_json],
        )?;
        Ok(())
    }

    /// The setting `name`, made by `init` and kept the first time it is asked for.
    pub fn setting_or_init(&self, name: &str, init: impl FnOnce() -> String) -> StoreResult<String> {
        let mut db = self.db();
        let get = "SELECT value FROM settings WHERE name = ?1";
        if let Some(v) = db.query_opt(get, p![name], |r| r.get::<String>(0))? {
            return Ok(v);
        }
        // Nodes sharing a database may make it at once: the first one written is kept by all.
        db.execute("INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING", p![name, init()])?;
        db.query_row(get, p![name], |r| r.get(0))
    }

    pub fn channel_rules(&self, channel: &str) -> StoreResult<Option<String>> {
        self.db().query_opt("SELECT rules FROM channels WHERE id = ?1", p![channel], |r| r.get(0))
    }
}
