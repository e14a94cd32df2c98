//! The PK bar: two anchors' scores as a bar whose split follows the score ratio, animated when the
//! scores change, with names, scores, a countdown and the winner drawn as text.
//!
//! Settings are one JSON object; an update is a partial object merged over the current one, so any
//! rendering parameter (content, position, colours, timing) can change while the session runs. Side
//! 0 is the inviting anchor; a mirrored view (the other room's output) shows side 1 on the left.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::text::{TextAlign, TextStyle};
use super::Element;
use crate::gpu::{BarSpec, LayerKind, LayerSpec, Rgba};
use crate::media::Rect;

/// Who won a PK round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Winner {
    /// The inviting anchor (side 0).
    A,
    /// The invited anchor (side 1).
    B,
    Draw,
}

/// Everything the PK bar shows and how; every field can be changed at run time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PkSettings {
    pub visible: bool,
    /// Display names of side 0 (inviter) and side 1 (invitee); any script (e.g. Chinese).
    pub names: [String; 2],
    pub scores: [u64; 2],
    /// Bar rectangle in output pixels: x, y, width, height. Default: across the frame near the bottom.
    pub rect: Option<[f32; 4]>,
    /// Side 0's gradient, outer end then the end at the split (#rrggbb or #rrggbbaa).
    pub colors_a: [String; 2],
    /// Side 1's gradient, the end at the split then the outer end.
    pub colors_b: [String; 2],
    pub text_color: String,
    /// Text size in pixels (0: from the bar height).
    pub text_size: f32,
    /// Duration of the split's animation to new scores, in milliseconds (0: jump).
    pub animate_ms: u32,
    /// Seconds left in the round, counted down from when this is set; the higher score wins at 0.
    pub countdown_s: Option<u32>,
    /// Shows the winner now (also set when the countdown ends).
    pub winner: Option<Winner>,
}

impl Default for PkSettings {
    fn default() -> Self {
        PkSettings {
            visible: true,
            names: ["A".into(), "B".into()],
            scores: [0, 0],
            rect: None,
            colors_a: ["#ff2d55".into(), "#ff7a8f".into()],
            colors_b: ["#5ac8fa".into(), "#0a84ff".into()],
            text_color: "#ffffff".into(),
            text_size: 0.0,
            animate_ms: 600,
            countdown_s: None,
            winner: None,
        }
    }
}

/// Parses #rrggbb or #rrggbbaa into straight-alpha RGBA 0..1.
pub fn parse_color(s: &str) -> Result<Rgba, String> {
    let h = s.strip_prefix('#').unwrap_or(s);
    let byte = |i: usize| u8::from_str_radix(h.get(i..i + 2).unwrap_or("x"), 16).map(|v| v as f32 / 255.0);
    let bad = || format!("colour {s:?}: expected #rrggbb or #rrggbbaa");
    match h.len() {
        6 => Ok([byte(0).map_err(|_| bad())?, byte(2).map_err(|_| bad())?, byte(4).map_err(|_| bad())?, 1.0]),
        8 => Ok([
            byte(0).map_err(|_| bad())?,
            byte(2).map_err(|_| bad())?,
            byte(4).map_err(|_| bad())?,
            byte(6).map_err(|_| bad())?,
        ]),
        _ => Err(bad()),
    }
}

fn to_u8(c: Rgba) -> [u8; 4] {
    c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
}

impl PkSettings {
    /// Checks what the renderer would otherwise have to guess about.
    pub fn validate(&self) -> Result<(), String> {
        for c in self.colors_a.iter().chain(&self.colors_b).chain(std::iter::once(&self.text_color)) {
            parse_color(c)?;
        }
        if let Some(r) = self.rect {
            if r.iter().any(|v| !v.is_finite()) || r[2] < 8.0 || r[3] < 4.0 {
                return Err(format!("rect {r:?}: width >= 8 and height >= 4 pixels"));
            }
        }
        if !(0.0..=crate::limits::MAX_TEXT_SIZE).contains(&self.text_size) {
            return Err(format!("text_size: 0..{}", crate::limits::MAX_TEXT_SIZE));
        }
        if self.countdown_s.is_some_and(|c| c > crate::limits::MAX_COUNTDOWN_S) {
            return Err(format!("countdown_s: at most {}", crate::limits::MAX_COUNTDOWN_S));
        }
        if self.animate_ms > crate::limits::MAX_ANIMATE_MS {
            return Err(format!("animate_ms: at most {}", crate::limits::MAX_ANIMATE_MS));
        }
        if self.names.iter().any(|n| n.chars().count() > 64) {
            return Err("names: at most 64 characters".into());
        }
        Ok(())
    }

    /// Checks what depends on the output: the bar must lie inside the `w`×`h` frame.
    pub fn validate_for(&self, size: (u32, u32)) -> Result<(), String> {
        self.validate()?;
        match self.rect {
            Some(r) if !crate::limits::inside_frame(r, size) => {
                Err(format!("rect {r:?} must lie inside the {}x{} output", size.0, size.1))
            }
            _ => Ok(()),
        }
    }

    /// Fraction of the bar side 0 holds for these scores (even when both are 0).
    pub fn split(scores: [u64; 2]) -> f32 {
        let total = scores[0] as f64 + scores[1] as f64;
        if total <= 0.0 {
            0.5
        } else {
            (scores[0] as f64 / total) as f32
        }
    }
}

/// The PK bar of a running session: settings plus the animation and countdown in progress.
#[derive(Clone, Debug)]
pub struct PkBar {
    pub settings: PkSettings,
    from: f32,
    to: f32,
    since: Instant,
    ends: Option<Instant>,
}

impl PkBar {
    pub fn new(settings: PkSettings, now: Instant) -> PkBar {
        let s = PkSettings::split(settings.scores);
        let ends = settings.countdown_s.map(|c| now + Duration::from_secs(c as u64));
        PkBar { settings, from: s, to: s, since: now, ends }
    }

    /// Applies a partial update (a JSON object merged over the settings). New scores start an
    /// animation from where the split is drawn now; a new countdown restarts the clock.
    /// The bar must fit the `size` of the output it is drawn on.
    pub fn update(&mut self, patch: &serde_json::Value, now: Instant, size: (u32, u32)) -> Result<(), String> {
        let mut v = serde_json::to_value(&self.settings).map_err(|e| e.to_string())?;
        let (Some(obj), Some(p)) = (v.as_object_mut(), patch.as_object()) else {
            return Err("the PK update must be a JSON object".into());
        };
        for (k, val) in p {
            obj.insert(k.clone(), val.clone());
        }
        let next: PkSettings = serde_json::from_value(v).map_err(|e| e.to_string())?;
        next.validate_for(size)?;
        if next.scores != self.settings.scores {
            self.from = self.split_at(now);
            self.to = PkSettings::split(next.scores);
            self.since = now;
        }
        if p.contains_key("countdown_s") {
            self.ends = next.countdown_s.map(|c| now + Duration::from_secs(c as u64));
        }
        self.settings = next;
        Ok(())
    }

    /// The split drawn at `now`: eased from the previous scores' split to the new one.
    pub fn split_at(&self, now: Instant) -> f32 {
        let d = self.settings.animate_ms as f32 / 1000.0;
        let t =
            if d <= 0.0 { 1.0 } else { (now.saturating_duration_since(self.since).as_secs_f32() / d).clamp(0.0, 1.0) };
        // Ease in and out: starts and lands softly, exact at both ends.
        let e = t * t * (3.0 - 2.0 * t);
        self.from + (self.to - self.from) * e
    }

    /// Seconds left (None without a countdown).
    pub fn remaining(&self, now: Instant) -> Option<u64> {
        self.ends.map(|e| e.saturating_duration_since(now).as_secs_f64().ceil() as u64)
    }

    /// The winner shown: set explicitly, or decided by the scores when the countdown ran out.
    pub fn winner(&self, now: Instant) -> Option<Winner> {
        self.settings.winner.or_else(|| {
            (self.remaining(now) == Some(0)).then(|| match self.settings.scores[0].cmp(&self.settings.scores[1]) {
                std::cmp::Ordering::Greater => Winner::A,
                std::cmp::Ordering::Less => Winner::B,
                std::cmp::Ordering::Equal => Winner::Draw,
            })
        })
    }

    /// The bar's rectangle in a `w`×`h` output.
    pub fn rect(&self, w: u32, h: u32) -> Rect {
        match self.settings.rect {
            Some([x, y, rw, rh]) => Rect { x, y, w: rw, h: rh },
            None => {
                let bh = (h as f32 * 0.05).round().max(16.0);
                Rect { x: (w as f32 * 0.04).round(), y: h as f32 - bh * 2.0, w: (w as f32 * 0.92).round(), h: bh }
            }
        }
    }

    /// What to draw for one view at `now`; `mirrored` puts side 1 on the left.
    pub fn elements(&self, now: Instant, mirrored: bool, w: u32, h: u32, prefix: &str) -> Vec<Element> {
        let s = &self.settings;
        if !s.visible {
            return Vec::new();
        }
        let col = |c: &str| parse_color(c).unwrap_or([1.0; 4]);
        let (a, b) = ([col(&s.colors_a[0]), col(&s.colors_a[1])], [col(&s.colors_b[0]), col(&s.colors_b[1])]);
        let split0 = self.split_at(now);
        // Left side's colours run outer → split; the right side's split → outer.
        let (left, right, split, lside) =
            if mirrored { ([b[1], b[0]], [a[1], a[0]], 1.0 - split0, 1) } else { (a, b, split0, 0) };
        let r = self.rect(w, h);
        let mut out = vec![Element::Layer(LayerSpec {
            rect: r,
            color: left[0],
            kind: LayerKind::Bar(BarSpec {
                left_inner: left[1],
                right_inner: right[0],
                right_outer: right[1],
                split,
                divider: 2.0,
                radius: r.h * 0.5,
            }),
        })];
        let size = if s.text_size > 0.0 { s.text_size } else { (r.h * 0.75).max(8.0) };
        let style = |align| TextStyle { size, color: to_u8(col(&s.text_color)), align, outline: true };
        let pad = (r.h * 0.5).round();
        let half = ((r.w - 2.0 * pad) / 2.0).floor().max(1.0);
        let (ls, rs) = (lside, 1 - lside);
        out.push(Element::Text {
            key: format!("{prefix}pk.left"),
            rect: Rect { x: r.x + pad, y: r.y, w: half, h: r.h },
            text: format!("{}  {}", s.names[ls], s.scores[ls]),
            style: style(TextAlign::Left),
        });
        out.push(Element::Text {
            key: format!("{prefix}pk.right"),
            rect: Rect { x: r.x + pad + half, y: r.y, w: half, h: r.h },
            text: format!("{}  {}", s.scores[rs], s.names[rs]),
            style: style(TextAlign::Right),
        });
        // Countdown (or the result) in a box above the bar's centre.
        let label_h = (r.h * 1.2).round();
        let label = Rect {
            x: (r.x + r.w / 2.0 - label_h * 2.5).round(),
            y: (r.y - label_h - 4.0).max(0.0),
            w: (label_h * 5.0).round(),
            h: label_h,
        };
        let text = match (self.winner(now), self.remaining(now)) {
            (Some(Winner::Draw), _) => Some("平局 DRAW".to_string()),
            (Some(win), _) => {
                let side = if win == Winner::A { 0 } else { 1 };
                let arrow = if side == lside { "◀" } else { "▶" };
                Some(if side == lside {
                    format!("{arrow} {} 胜 WIN", s.names[side])
                } else {
                    format!("{} 胜 WIN {arrow}", s.names[side])
                })
            }
            (None, Some(left)) => Some(format!("{:02}:{:02}", left / 60, left % 60)),
            (None, None) => None,
        };
        if let Some(text) = text {
            out.push(Element::Layer(LayerSpec { rect: label, color: [0.0, 0.0, 0.0, 0.5], kind: LayerKind::Solid }));
            out.push(Element::Text {
                key: format!("{prefix}pk.label"),
                rect: label,
                text,
                style: TextStyle { size: (label_h * 0.75).round(), ..style(TextAlign::Center) },
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_scores_and_eases_over_the_duration() {
        let t0 = Instant::now();
        let mut bar = PkBar::new(PkSettings { scores: [100, 100], animate_ms: 1000, ..Default::default() }, t0);
        assert_eq!(bar.split_at(t0), 0.5);
        bar.update(&serde_json::json!({"scores": [300, 100]}), t0, (1280, 720)).unwrap();
        let mid = bar.split_at(t0 + Duration::from_millis(500));
        assert!(mid > 0.55 && mid < 0.7, "{mid}");
        assert_eq!(bar.split_at(t0 + Duration::from_millis(1000)), 0.75);
    }

    #[test]
    fn bad_updates_change_nothing() {
        let t0 = Instant::now();
        let mut bar = PkBar::new(PkSettings::default(), t0);
        let before = bar.settings.clone();
        assert!(bar.update(&serde_json::json!({"colors_a": ["red", "#000000"]}), t0, (1280, 720)).is_err());
        assert!(bar.update(&serde_json::json!({"nonsense": 1}), t0, (1280, 720)).is_err());
        assert!(bar.update(&serde_json::json!([1, 2]), t0, (1280, 720)).is_err());
        // A bar outside the frame would make the text boxes as large as it.
        assert!(bar
            .update(&serde_json::json!({"rect": [0, 0, 8, 1000000], "countdown_s": 60}), t0, (1280, 720))
            .is_err());
        assert_eq!(bar.settings, before);
    }

    #[test]
    fn countdown_ends_with_the_higher_score_winning() {
        let t0 = Instant::now();
        let bar = PkBar::new(PkSettings { scores: [5, 9], countdown_s: Some(2), ..Default::default() }, t0);
        assert_eq!(bar.remaining(t0), Some(2));
        assert_eq!(bar.winner(t0), None);
        assert_eq!(bar.winner(t0 + Duration::from_secs(3)), Some(Winner::B));
    }
}
