//! A viewer poll drawn over a paused anchor's slate and on the anchor's monitor: the question, a
//! bar per option as its share of the voters, then the winner (its bar in gold) for a while
//! after the close.

use std::time::{Duration, Instant};

use super::text::TextStyle;
use super::Element;
use crate::gpu::{LayerKind, LayerSpec};
use crate::media::Rect;

/// A poll as the picture shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct PollBoard {
    pub question: String,
    pub options: Vec<String>,
    pub counts: Vec<u64>,
    /// Set when the poll closed with a winner.
    pub winner: Option<usize>,
    /// When it closed (the result stays on screen for [`POLL_RESULT_TTL`]).
    pub closed_at: Option<Instant>,
}

/// How long a closed poll's result stays on screen.
pub const POLL_RESULT_TTL: Duration = Duration::from_secs(30);

/// Bar colours: an open poll's, and the winner's once it closed.
pub const POLL_BAR: [f32; 4] = [0.15, 0.55, 1.0, 1.0];
pub const POLL_WINNER: [f32; 4] = [1.0, 0.8, 0.0, 1.0];

/// Where a poll is drawn inside `area` (a tile, or a whole monitor frame): the panel, and per
/// option the full length of its bar's track (a bar fills its share of it from the left).
#[derive(Clone, Debug, PartialEq)]
pub struct PollGeometry {
    pub panel: Rect,
    pub title: Rect,
    pub labels: Vec<Rect>,
    pub tracks: Vec<Rect>,
}

/// The panel across the lower part of `area` (above a PK bar's place), one row for the question
/// and one per option.
pub fn poll_geometry(area: Rect, options: usize) -> PollGeometry {
    let margin = (area.w * 0.05).round();
    let below = (area.h * 0.12).round();
    let row = (area.h * 0.075).clamp(12.0, 64.0).round();
    let rows = options as f32 + 1.0;
    let h = (row * rows + row * 0.5).min(area.h - margin - below).round();
    let row = ((h - row * 0.5) / rows).floor().max(1.0);
    let panel = Rect { x: area.x + margin, y: area.y + area.h - below - h, w: area.w - 2.0 * margin, h };
    let pad = (row * 0.25).round();
    let title = Rect { x: panel.x + pad, y: panel.y + pad, w: panel.w - 2.0 * pad, h: row };
    let label_w = (panel.w * 0.45).round();
    let (mut labels, mut tracks) = (Vec::new(), Vec::new());
    for k in 0..options {
        let y = title.y + row * (k as f32 + 1.0);
        labels.push(Rect { x: title.x, y, w: label_w, h: row });
        let bar_h = (row * 0.6).round();
        tracks.push(Rect {
            x: title.x + label_w + pad,
            y: y + ((row - bar_h) / 2.0).round(),
            w: (panel.x + panel.w - pad) - (title.x + label_w + pad),
            h: bar_h,
        });
    }
    PollGeometry { panel, title, labels, tracks }
}

impl PollBoard {
    /// Whether it is on screen at `now` (open, or closed less than the result's time ago).
    pub fn visible(&self, now: Instant) -> bool {
        self.closed_at.is_none_or(|c| now.saturating_duration_since(c) < POLL_RESULT_TTL)
    }

    /// The panel, the question (with the winner once closed), each option with its count, and
    /// each bar; text boxes are named by `prefix` and the area's size so views share them.
    pub(crate) fn elements(&self, area: Rect, prefix: &str) -> Vec<Element> {
        let g = poll_geometry(area, self.options.len());
        let size = (g.title.h * 0.6).round().max(10.0);
        let style = TextStyle { size, ..TextStyle::default() };
        let key = format!("{prefix}poll.{}x{}.", area.w as u32, area.h as u32);
        let total: u64 = self.counts.iter().sum();
        let title = match (self.closed_at, self.winner.and_then(|w| self.options.get(w))) {
            (Some(_), Some(w)) => format!("{} → {w}", self.question),
            _ => self.question.clone(),
        };
        let mut out = vec![
            Element::Layer(LayerSpec { rect: g.panel, color: [0.0, 0.0, 0.0, 0.6], kind: LayerKind::Solid }),
            Element::Text { key: format!("{key}q"), rect: g.title, text: title, style },
        ];
        for (k, option) in self.options.iter().enumerate() {
            let n = self.counts.get(k).copied().unwrap_or(0);
            out.push(Element::Text {
                key: format!("{key}o{k}"),
                rect: g.labels[k],
                text: format!("{option}  {n}"),
                style,
            });
            let t = g.tracks[k];
            out.push(Element::Layer(LayerSpec { rect: t, color: [1.0, 1.0, 1.0, 0.15], kind: LayerKind::Solid }));
            let share = if total == 0 { 0.0 } else { n as f32 / total as f32 };
            let w = (t.w * share).round();
            if w >= 1.0 {
                let won = self.closed_at.is_some() && self.winner == Some(k);
                let color = if won { POLL_WINNER } else { POLL_BAR };
                out.push(Element::Layer(LayerSpec { rect: Rect { w, ..t }, color, kind: LayerKind::Solid }));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panel_fits_its_area_and_bars_follow_the_shares() {
        let area = Rect { x: 640.0, y: 0.0, w: 640.0, h: 720.0 };
        let g = poll_geometry(area, 3);
        assert!(g.panel.x >= area.x && g.panel.x + g.panel.w <= area.x + area.w);
        assert!(g.panel.y >= area.y && g.panel.y + g.panel.h <= area.y + area.h);
        assert!(g.tracks.windows(2).all(|t| t[1].y >= t[0].y + t[0].h), "rows do not overlap");
        let b = PollBoard {
            question: "q".into(),
            options: vec!["a".into(), "b".into(), "c".into()],
            counts: vec![3, 1, 0],
            winner: Some(0),
            closed_at: Some(Instant::now()),
        };
        let bars: Vec<LayerSpec> = b
            .elements(area, "")
            .into_iter()
            .filter_map(|e| match e {
                Element::Layer(l) if l.color[3] == 1.0 => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(bars.len(), 2, "no bar for an option without votes");
        assert_eq!((bars[0].color, bars[1].color), (POLL_WINNER, POLL_BAR));
        assert!((bars[0].rect.w - g.tracks[0].w * 0.75).abs() <= 1.0);
        assert!(!PollBoard { closed_at: Some(Instant::now() - POLL_RESULT_TTL), ..b }.visible(Instant::now()));
    }
}
