//! Comments and gift notifications posted for an anchor, drawn only on that anchor's monitor view.

use std::time::Instant;

use super::text::TextStyle;
use super::Element;
use crate::gpu::{LayerKind, LayerSpec};
use crate::media::Rect;

/// A comment or gift notification for an anchor's monitor output.
#[derive(Clone, Debug)]
pub struct Comment {
    pub anchor: String,
    pub text: String,
    pub at: Instant,
}

/// How long a comment stays on the monitor, and how many lines are shown.
pub const COMMENT_TTL: std::time::Duration = std::time::Duration::from_secs(30);
pub const COMMENT_LINES: usize = 6;

/// The latest comments for `anchor` as a panel in the lower left of a monitor view.
pub(crate) fn comment_elements(
    comments: &[Comment],
    anchor: &str,
    now: Instant,
    w: u32,
    h: u32,
    prefix: &str,
) -> Vec<Element> {
    let lines: Vec<&str> = comments
        .iter()
        .filter(|c| c.anchor == anchor && now.saturating_duration_since(c.at) < COMMENT_TTL)
        .map(|c| c.text.as_str())
        .collect();
    let lines = &lines[lines.len().saturating_sub(COMMENT_LINES)..];
    if lines.is_empty() {
        return Vec::new();
    }
    let size = (h as f32 / 30.0).round().max(12.0);
    let panel = Rect {
        x: 16.0,
        y: (h as f32 * 0.35).round(),
        w: (w as f32 * 0.42).round(),
        h: (size * 1.2 * COMMENT_LINES as f32 + size).round(),
    };
    vec![
        Element::Layer(LayerSpec { rect: panel, color: [0.0, 0.0, 0.0, 0.45], kind: LayerKind::Solid }),
        Element::Text {
            key: format!("{prefix}comments"),
            rect: Rect { x: panel.x + 8.0, y: panel.y, w: panel.w - 16.0, h: panel.h },
            text: lines.join("\n"),
            style: TextStyle { size, ..TextStyle::default() },
        },
    ]
}
