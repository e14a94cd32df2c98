//! Unlock levels: viewers' behaviour (likes, comments, shares, gifts, watch time, reading progress)
//! earns points through a configurable rule table; points give a level; the level decides which face
//! organs stay masked and how strongly. A payment counts only when the payment provider confirms it
//! with an HMAC-signed callback, and then unlocks the organ it paid for.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::compose::MaskLevel;
use crate::face::Organ;

/// A viewer's behaviour, as the platform reports it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Behaviour {
    Like,
    Comment,
    Share,
    /// A gift worth `value` (the platform's unit).
    Gift {
        value: f64,
    },
    /// Seconds watched since the last report.
    Watch {
        seconds: f64,
    },
    /// Reading progress gained, in percent.
    Reading {
        percent: f64,
    },
}

/// Points per behaviour, level thresholds and what each level shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnlockRules {
    pub like: f64,
    pub comment: f64,
    pub share: f64,
    pub gift_per_value: f64,
    pub watch_per_minute: f64,
    pub reading_per_percent: f64,
    /// Points needed for levels 1, 2, …; the last level shows the face unmasked.
    pub levels: Vec<f64>,
    /// Organs masked at level 0.
    pub locked: Vec<Organ>,
    /// The order in which levels unlock organs (level L unlocks the first L of these).
    pub unlock_order: Vec<Organ>,
    /// Blur strength at level 0; it drops by `sigma_drop` (a fraction) per level.
    pub sigma: f32,
    pub sigma_drop: f32,
    pub feather: f32,
    /// Blur (weaker per level) or a sticker over each locked organ.
    pub style: crate::compose::MaskStyle,
}

impl Default for UnlockRules {
    fn default() -> Self {
        UnlockRules {
            like: 1.0,
            comment: 2.0,
            share: 5.0,
            gift_per_value: 1.0,
            watch_per_minute: 1.0,
            reading_per_percent: 0.2,
            levels: vec![10.0, 30.0, 60.0],
            locked: vec![Organ::Eyes, Organ::Mouth, Organ::Nose],
            unlock_order: vec![Organ::Nose, Organ::Mouth, Organ::Eyes],
            sigma: 10.0,
            sigma_drop: 0.1,
            feather: 3.0,
            style: crate::compose::MaskStyle::Blur,
        }
    }
}

impl Behaviour {
    /// A report past what one report can carry (a gift worth 1e12, a day watched) is refused.
    pub fn validate(&self) -> Result<(), String> {
        use crate::limits::{MAX_GIFT_VALUE, MAX_READING_PERCENT, MAX_WATCH_SECONDS};
        let check = |what: &str, v: f64, max: f64| {
            if v.is_finite() && v > 0.0 && v <= max {
                Ok(())
            } else {
                Err(format!("{what}: more than 0, at most {max} per report"))
            }
        };
        match *self {
            Behaviour::Gift { value } => check("value", value, MAX_GIFT_VALUE),
            Behaviour::Watch { seconds } => check("seconds", seconds, MAX_WATCH_SECONDS),
            Behaviour::Reading { percent } => check("percent", percent, MAX_READING_PERCENT),
            Behaviour::Like | Behaviour::Comment | Behaviour::Share => Ok(()),
        }
    }
}

impl UnlockRules {
    pub fn validate(&self) -> Result<(), String> {
        if self.levels.windows(2).any(|w| w[1] < w[0]) || self.levels.iter().any(|l| !l.is_finite() || *l < 0.0) {
            return Err("levels: ascending, non-negative point thresholds".into());
        }
        if !(0.0..=100.0).contains(&self.sigma) || !(0.0..=1.0).contains(&self.sigma_drop) {
            return Err("sigma 0..100, sigma_drop 0..1".into());
        }
        Ok(())
    }

    /// Points a behaviour earns (never negative).
    pub fn points(&self, b: &Behaviour) -> f64 {
        let p = match *b {
            Behaviour::Like => self.like,
            Behaviour::Comment => self.comment,
            Behaviour::Share => self.share,
            Behaviour::Gift { value } => self.gift_per_value * value,
            Behaviour::Watch { seconds } => self.watch_per_minute * seconds / 60.0,
            Behaviour::Reading { percent } => self.reading_per_percent * percent,
        };
        if p.is_finite() {
            p.max(0.0)
        } else {
            0.0
        }
    }

    pub fn top_level(&self) -> u32 {
        self.levels.len() as u32
    }

    pub fn level(&self, points: f64) -> u32 {
        self.levels.iter().filter(|t| points >= **t).count() as u32
    }

    /// What a viewer at `level` who paid for `paid` sees masked (None: nothing, the open picture).
    pub fn mask(&self, level: u32, paid: &[Organ]) -> Option<MaskLevel> {
        if level >= self.top_level() {
            return None;
        }
        let unlocked = &self.unlock_order[..(level as usize).min(self.unlock_order.len())];
        let organs: Vec<Organ> =
            self.locked.iter().copied().filter(|o| !unlocked.contains(o) && !paid.contains(o)).collect();
        let sigma = self.sigma * (1.0 - self.sigma_drop * level as f32).max(0.0);
        let visible = sigma > 0.0 || self.style == crate::compose::MaskStyle::Sticker;
        (!organs.is_empty() && visible).then_some(MaskLevel { organs, sigma, feather: self.feather, style: self.style })
    }
}

/// Viewer tokens: issued by this service (or by the platform, signed with its secret), bound to
/// one channel, carrying when they were issued — `v1.<unix s>.<nonce>.<signature>`. A viewer's
/// playlist and the viewer page's behaviour reports need one; the time since issue caps the watch
/// time a viewer can report.
pub mod viewer_token {
    fn sig(key: &[u8], channel: &str, iat: i64, nonce: &str) -> String {
        super::sign(key, format!("viewer/{channel}/{iat}/{nonce}").as_bytes())["sha256=".len()..][..32].to_string()
    }

    /// A new token for `channel`, issued at `iat` (unix seconds).
    pub fn issue(key: &[u8], channel: &str, iat: i64) -> String {
        let nonce = hex::encode(rand::random::<[u8; 8]>());
        format!("v1.{iat}.{nonce}.{}", sig(key, channel, iat, &nonce))
    }

    /// When the token was issued, if any of `keys` signed it for `channel` (compared in
    /// constant time).
    pub fn verify(keys: &[&[u8]], channel: &str, token: &str) -> Option<i64> {
        let mut parts = token.split('.');
        let (Some("v1"), Some(iat), Some(nonce), Some(given), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let iat: i64 = iat.parse().ok()?;
        let ok = keys.iter().any(|k| {
            let want = sig(k, channel, iat, nonce);
            super::same_text(&want, given)
        });
        ok.then_some(iat)
    }
}

/// Whether two strings are equal, compared in constant time (for signatures and tokens).
pub fn same_text(want: &str, given: &str) -> bool {
    want.len() == given.len() && want.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Checks a callback's `sha256=<hex>` HMAC-SHA256 of the raw body, in constant time. The prefix
/// is part of the format (it names the hash): a bare hex string is refused.
pub fn verify_signature(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.trim().strip_prefix("sha256=") else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The signature a payment provider sends (for its side, and for tests).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_unlock_organs_in_order_and_weaken_the_blur() {
        let r = UnlockRules::default();
        assert_eq!(r.level(0.0), 0);
        assert_eq!(r.level(12.0), 1);
        assert_eq!(r.level(1e9), 3);
        let l0 = r.mask(0, &[]).unwrap();
        assert_eq!(l0.organs, vec![Organ::Eyes, Organ::Mouth, Organ::Nose]);
        let l1 = r.mask(1, &[]).unwrap();
        assert_eq!(l1.organs, vec![Organ::Eyes, Organ::Mouth]);
        assert!((l1.sigma - 9.0).abs() < 1e-6, "10 % weaker per level");
        assert_eq!(r.mask(0, &[Organ::Eyes]).unwrap().organs, vec![Organ::Mouth, Organ::Nose], "a paid organ is open");
        assert!(r.mask(3, &[]).is_none(), "the top level is unmasked");
    }

    #[test]
    fn viewer_tokens_verify_only_for_their_channel_and_key() {
        let t = viewer_token::issue(b"key", "show", 1_700_000_000);
        assert_eq!(viewer_token::verify(&[b"other", b"key"], "show", &t), Some(1_700_000_000));
        assert_eq!(viewer_token::verify(&[b"key"], "other", &t), None, "another channel");
        assert_eq!(viewer_token::verify(&[b"other"], "show", &t), None, "another key");
        let later = t.replacen("1700000000", "1600000000", 1);
        assert_eq!(viewer_token::verify(&[b"key"], "show", &later), None, "an earlier issue time");
        assert_eq!(viewer_token::verify(&[b"key"], "show", "alice"), None);
    }

    #[test]
    fn signatures_verify_only_for_the_same_secret_and_body() {
        let s = sign(b"k", b"{\"a\":1}");
        assert!(verify_signature(b"k", b"{\"a\":1}", &s));
        assert!(!verify_signature(b"k", b"{\"a\":2}", &s));
        assert!(!verify_signature(b"other", b"{\"a\":1}", &s));
        assert!(!verify_signature(b"k", b"{\"a\":1}", "sha256=zz"));
        assert!(!verify_signature(b"k", b"{\"a\":1}", &s["sha256=".len()..]), "the hash's name is required");
    }
}
