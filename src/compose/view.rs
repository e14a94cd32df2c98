//! Views: the pictures one job makes from its shared inputs (a PK's mirrored outputs, monitors,
//! masked renditions), which inputs each shows and what each hears.

use serde::{Deserialize, Serialize};

/// One picture a job produces, with its own encode and outputs, from the job's shared inputs (each
/// input is decoded and uploaded once however many views show it).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewSpec {
    pub name: String,
    pub outputs: Vec<String>,
    /// Inputs in layout order: cell k shows input `order[k]` (a mirrored PK view: [1, 0]). Empty:
    /// the job's order.
    pub order: Vec<usize>,
    /// Draw the PK bar with its sides swapped (the other anchor's room).
    pub mirrored: bool,
    /// An anchor's monitor: also draws the comments and gifts posted for this anchor.
    pub monitor: Option<String>,
    /// Audio gain per input (job order); missing entries are 1.
    pub gains: Vec<f32>,
    /// A rendition of an earlier view: its finished picture plus this view's face masks (see
    /// [`crate::gpu::Scene::copy_of`]); the view's own layout and overlays are not drawn.
    pub copy_of: Option<usize>,
    /// Face organs to mask in this view, and how strongly (needs [`super::RenderConfig::faces`]).
    pub mask: Option<MaskLevel>,
    /// A rendition made on demand: idle (nothing drawn, read back or encoded, no outputs) until
    /// the live state gives it a mask and a playlist ([`super::RenditionWant`]).
    pub pooled: bool,
}

/// What a masked view hides: organs of every tracked face, blurred with `sigma` (0: nothing) or
/// covered by the bundled sticker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskLevel {
    pub organs: Vec<crate::face::Organ>,
    pub sigma: f32,
    /// Soft edge, pixels.
    pub feather: f32,
    pub style: MaskStyle,
}

/// How an organ is hidden.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskStyle {
    /// A graduated blur (strength by level).
    #[default]
    Blur,
    /// A sticker (assets/stickers/blush.png) fitted and turned to each organ.
    Sticker,
}

/// Face tracking of a job's inputs.
#[derive(Clone, Debug, Default)]
pub struct FaceSettings {
    pub tracker: crate::face::TrackerConfig,
    /// Inputs to track (job order); empty: every input that is shown.
    pub inputs: Vec<usize>,
}

/// Inputs a view shows, in layout order (inputs that only bring another anchor's audio are not shown).
pub(crate) fn shown_inputs(spec: &ViewSpec, inputs: usize, solo: bool, audio_of: &[Option<usize>]) -> Vec<usize> {
    let visual = |i: &usize| *i < inputs && audio_of.get(*i).is_none_or(Option::is_none);
    let order: Vec<usize> = if spec.order.is_empty() {
        (0..inputs).filter(visual).collect()
    } else {
        spec.order.iter().copied().filter(visual).collect()
    };
    if solo {
        order.into_iter().take(1).collect()
    } else {
        order
    }
}
