//! The PK bar: two anchors' scores as a bar whose split follows the score ratio, animated when the
//! scores change, with names, scores, a countdown and the winner drawn as text.
//!
//! An update ([`PkChange`]) sets any of the settings and keeps the rest, so any rendering parameter
//! (content, position, colours, timing) can change while the session runs. Side 0 is the inviting
//! anchor; a mirrored view (the other room's output) shows side 1 on the left.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::text::{TextAlign, TextStyle};
use super::Element;
use crate::gpu::{BarSpec, LayerKind, LayerSpec};
use crate::media::{Colour, Rect};

/// Who won a PK round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Winner {
    /// The inviting anchor (side 0).
    A,
    /// The invited anchor (side 1).
    B,
    Draw,
}

/// Everything the PK bar shows and how; every field can be changed at run time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PkSettings {
    pub visible: bool,
    /// Display names of side 0 (inviter) and side 1 (invitee); any script (e.g. Chinese).
    pub names: [String; 2],
    pub scores: [u64; 2],
    /// Bar rectangle in output pixels: x, y, width, height. Default: across the frame near the bottom.
    pub rect: Option<[f32; 4]>,
    /// Side 0's gradient, outer end then the end at the split.
    pub colors_a: [Colour; 2],
    /// Side 1's gradient, the end at the split then the outer end.
    pub colors_b: [Colour; 2],
    pub text_color: Colour,
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
            colors_a: [Colour([0xff, 0x2d, 0x55, 0xff]), Colour([0xff, 0x7a, 0x8f, 0xff])],
            colors_b: [Colour([0x5a, 0xc8, 0xfa, 0xff]), Colour([0x0a, 0x84, 0xff, 0xff])],
            text_color: Colour::WHITE,
            text_size: 0.0,
            animate_ms: 600,
            countdown_s: None,
            winner: None,
        }
    }
}

/// A change to some of the bar's settings; what is `None` stays as it is. `rect`, `countdown_s`
/// and `winner` can also be cleared (`Some(None)`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PkChange {
    pub visible: Option<bool>,
    pub names: Option<[String; 2]>,
    pub scores: Option<[u64; 2]>,
    #[serde(deserialize_with = "set_or_clear")]
    pub rect: Option<Option<[f32; 4]>>,
    pub colors_a: Option<[Colour; 2]>,
    pub colors_b: Option<[Colour; 2]>,
    pub text_color: Option<Colour>,
    pub text_size: Option<f32>,
    pub animate_ms: Option<u32>,
    #[serde(deserialize_with = "set_or_clear")]
    pub countdown_s: Option<Option<u32>>,
    #[serde(deserialize_with = "set_or_clear")]
    pub winner: Option<Option<Winner>>,
}

/// A field that is present (`Some`), possibly as `null` (`Some(None)`: clear it).
fn set_or_clear<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl PkChange {
    /// The settings with this change applied.
    pub fn applied_to(&self, s: &PkSettings) -> PkSettings {
        let c = self.clone();
        PkSettings {
            visible: c.visible.unwrap_or(s.visible),
            names: c.names.unwrap_or_else(|| s.names.clone()),
            scores: c.scores.unwrap_or(s.scores),
            rect: c.rect.unwrap_or(s.rect),
            colors_a: c.colors_a.unwrap_or(s.colors_a),
            colors_b: c.colors_b.unwrap_or(s.colors_b),
            text_color: c.text_color.unwrap_or(s.text_color),
            text_size: c.text_size.unwrap_or(s.text_size),
            animate_ms: c.animate_ms.unwrap_or(s.animate_ms),
            countdown_s: c.countdown_s.unwrap_or(s.countdown_s),
            winner: c.winner.unwrap_or(s.winner),
        }
    }
}

/// Why a PK bar's settings were refused (nothing changed).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PkError {
    #[error("pk: rect {0:?}: width >= 8 and height >= 4 pixels")]
    RectTooSmall([f32; 4]),
    #[error("pk: rect {rect:?} must lie inside the {}x{} output", size.0, size.1)]
    RectOutside { rect: [f32; 4], size: (u32, u32) },
    #[error("pk: text_size: 0..{}", crate::limits::MAX_TEXT_SIZE)]
    TextSize,
    #[error("pk: countdown_s: at most {}", crate::limits::MAX_COUNTDOWN_S)]
    Countdown,
    #[error("pk: animate_ms: at most {}", crate::limits::MAX_ANIMATE_MS)]
    Animation,
    #[error("pk: names: at most 64 characters")]
    Name,
}

impl PkSettings {
    /// Checks what the renderer would otherwise have to guess about.
    pub fn validate(&self) -> Result<(), PkError> {
        if let Some(r) = self.rect {
            if r.iter().any(|v| !v.is_finite()) || r[2] < 8.0 || r[3] < 4.0 {
                return Err(PkError::RectTooSmall(r));
            }
        }
        if !(0.0..=crate::limits::MAX_TEXT_SIZE).contains(&self.text_size) {
            return Err(PkError::TextSize);
        }
        if self.countdown_s.is_some_and(|c| c > crate::limits::MAX_COUNTDOWN_S) {
            return Err(PkError::Countdown);
        }
        if self.animate_ms > crate::limits::MAX_ANIMATE_MS {
            return Err(PkError::Animation);
        }
        if self.names.iter().any(|n| n.chars().count() > 64) {
            return Err(PkError::Name);
        }
        Ok(())
    }

    /// Checks what depends on the output: the bar must lie inside the `w`×`h` frame.
    pub fn validate_for(&self, size: (u32, u32)) -> Result<(), PkError> {
        self.validate()?;
        match self.rect {
            Some(rect) if !crate::limits::inside_frame(rect, size) => Err(PkError::RectOutside { rect, size }),
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

    /// Applies a change (what it leaves out stays). New scores start an
    /// animation from where the split is drawn now; a new countdown restarts the clock.
    /// The bar must fit the `size` of the output it is drawn on.
    pub fn update(&mut self, change: &PkChange, now: Instant, size: (u32, u32)) -> Result<(), PkError> {
        let next = change.applied_to(&self.settings);
        next.validate_for(size)?;
        if next.scores != self.settings.scores {
            self.from = self.split_at(now);
            self.to = PkSettings::split(next.scores);
            self.since = now;
        }
        if change.countdown_s.is_some() {
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
                // 5 % of the height, at least 16 px, at most half the frame (its own height
                // above the bottom edge must fit too).
                let bh = (h as f32 * 0.05).round().max(16.0).min((h as f32 / 2.0).floor());
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
        let (a, b) = (s.colors_a.map(Colour::rgba), s.colors_b.map(Colour::rgba));
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
        let style = |align| TextStyle { size, color: s.text_color.0, align, outline: true };
        let pad = (r.h * 0.5).round();
        let half = ((r.w - 2.0 * pad) / 2.0).floor();
        let (ls, rs) = (lside, 1 - lside);
        // A bar too narrow for its rounded ends has no room for names.
        if half >= 1.0 {
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
        }
        // Countdown (or the result) in a box above the bar's centre, moved inside the frame where
        // the bar is near an edge, and no larger than the frame.
        let label_h = (r.h * 1.2).round().min(h as f32);
        let label_w = (label_h * 5.0).round().min(w as f32);
        let label = Rect {
            x: (r.x + r.w / 2.0 - label_w / 2.0).round().clamp(0.0, w as f32 - label_w),
            y: (r.y - label_h - 4.0).clamp(0.0, h as f32 - label_h),
            w: label_w,
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
        bar.update(&PkChange { scores: Some([300, 100]), ..Default::default() }, t0, (1280, 720)).unwrap();
        let mid = bar.split_at(t0 + Duration::from_millis(500));
        assert!(mid > 0.55 && mid < 0.7, "{mid}");
        assert_eq!(bar.split_at(t0 + Duration::from_millis(1000)), 0.75);
    }

    #[test]
    fn bad_updates_change_nothing() {
        let t0 = Instant::now();
        let mut bar = PkBar::new(PkSettings::default(), t0);
        let before = bar.settings.clone();
        // A bar outside the frame would make the text boxes as large as it.
        let outside =
            PkChange { rect: Some(Some([0.0, 0.0, 8.0, 1e6])), countdown_s: Some(Some(60)), ..Default::default() };
        assert!(bar.update(&outside, t0, (1280, 720)).is_err());
        assert!(bar.update(&PkChange { text_size: Some(1e9), ..Default::default() }, t0, (1280, 720)).is_err());
        assert_eq!(bar.settings, before);
    }

    #[test]
    fn a_change_sets_clears_or_keeps_each_field() {
        let c: PkChange =
            serde_json::from_str(r##"{"rect": null, "winner": "a", "colors_b": ["#000000", "#ffffff80"]}"##).unwrap();
        assert_eq!(c.rect, Some(None));
        assert_eq!(c.winner, Some(Some(Winner::A)));
        assert_eq!(c.countdown_s, None);
        let s = c.applied_to(&PkSettings { rect: Some([0.0, 0.0, 100.0, 10.0]), ..Default::default() });
        assert_eq!((s.rect, s.winner, s.colors_b[1].0), (None, Some(Winner::A), [255, 255, 255, 128]));
        assert!(serde_json::from_str::<PkChange>(r##"{"colors_a": ["red", "#000000"]}"##).is_err());
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
