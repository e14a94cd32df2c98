//! What is drawn over the inputs: fixed layers and images (loaded once), and the elements decided
//! tick by tick (the PK bar, a monitor's comments), with their text rasterised only when it changes.

mod comments;
mod pk_bar;
mod poll;
mod text;

use std::time::Instant;

use super::view::{MaskStyle, ViewSpec};
use crate::error::{Error, Result};
use std::path::PathBuf;

use crate::gpu::{BlurSpec, Compositor, LayerKind, LayerSpec};
use crate::media::Rect;

use comments::comment_elements;
pub use comments::{Comment, COMMENT_LINES, COMMENT_TTL};
pub use pk_bar::{PkBar, PkChange, PkError, PkSettings, Winner};
pub use poll::{poll_geometry, PollBoard, PollGeometry, POLL_BAR, POLL_RESULT_TTL, POLL_WINNER};
pub use text::{TextAlign, TextRenderer, TextStyle, CJK as CJK_FONT};

/// What to draw besides the inputs.
#[derive(Clone, Debug, Default)]
pub struct Overlays {
    pub images: Vec<(PathBuf, Rect)>,
    /// Images beneath the video (backgrounds): drawn once, redrawn only where the video leaves them.
    pub under_images: Vec<(PathBuf, Rect)>,
    pub rects: Vec<LayerSpec>,
    pub blurs: Vec<BlurSpec>,
}

/// Something drawn over a view that is decided frame by frame (the PK bar, an anchor's comments).
#[derive(Clone, Debug)]
pub enum Element {
    Layer(LayerSpec),
    /// Text, rasterised only when it changes; `key` names the box so its image slot is reused.
    Text {
        key: String,
        rect: Rect,
        text: String,
        style: TextStyle,
    },
}

/// The bundled sticker.
const STICKER_PNG: &[u8] = include_bytes!("../../../assets/stickers/blush.png");

/// The layers every frame has: images and rectangles over the video, images beneath it, and the
/// sticker image when a view masks with it. Images are uploaded once.
pub(crate) struct FixedLayers {
    pub over: Vec<LayerSpec>,
    pub under: Vec<LayerSpec>,
    pub sticker: Option<usize>,
}

impl FixedLayers {
    pub fn load(o: &Overlays, views: &[ViewSpec], comp: &mut Compositor) -> Result<FixedLayers> {
        let mut images = Vec::new();
        for (path, _) in o.images.iter().chain(&o.under_images) {
            let img =
                image::open(path).map_err(|e| Error::Image { path: path.display().to_string(), why: e.to_string() })?;
            images.push(img.to_rgba8());
        }
        // The sticker joins the images when a view uses it.
        let sticker = if views.iter().any(|v| v.mask.as_ref().is_some_and(|m| m.style == MaskStyle::Sticker)) {
            let img = image::load_from_memory(STICKER_PNG)
                .map_err(|e| Error::Image { path: "assets/stickers/blush.png".into(), why: e.to_string() })?;
            images.push(img.to_rgba8());
            Some(images.len() - 1)
        } else {
            None
        };
        if !images.is_empty() {
            comp.set_images(&images)?;
        }
        let image = |i: usize, r: &Rect| LayerSpec { rect: *r, color: [1.0; 4], kind: LayerKind::Image(i) };
        let mut over: Vec<LayerSpec> = o.images.iter().enumerate().map(|(i, (_, r))| image(i, r)).collect();
        over.extend(o.rects.iter().copied());
        let n = o.images.len();
        let under = o.under_images.iter().enumerate().map(|(i, (_, r))| image(n + i, r)).collect();
        Ok(FixedLayers { over, under, sticker })
    }
}

/// Text boxes rasterised into compositor images, re-rasterised only when their content changes.
#[derive(Default)]
pub(crate) struct TextImages {
    renderer: Option<TextRenderer>,
    boxes: std::collections::HashMap<String, (usize, String, u32, u32, TextStyle)>,
}

impl TextImages {
    fn layer(
        &mut self,
        comp: &mut Compositor,
        key: &str,
        rect: Rect,
        text: &str,
        style: &TextStyle,
    ) -> Result<LayerSpec> {
        // Never larger than the frame: the box's image is allocated at this size.
        let (fw, fh) = comp.size();
        let (w, h) = (rect.w.round().clamp(1.0, fw as f32) as u32, rect.h.round().clamp(1.0, fh as f32) as u32);
        let idx = match self.boxes.get(key) {
            Some((i, t, bw, bh, st)) if t == text && *bw == w && *bh == h && st == style => *i,
            found => {
                let i = found.map(|f| f.0).unwrap_or_else(|| comp.image_count());
                let img = self.renderer.get_or_insert_with(TextRenderer::new).render(text, w, h, style);
                comp.set_image(i, &img)?;
                self.boxes.insert(key.to_string(), (i, text.to_string(), w, h, *style));
                i
            }
        };
        Ok(LayerSpec {
            rect: Rect { x: rect.x.round(), y: rect.y.round(), w: w as f32, h: h as f32 },
            color: [1.0; 4],
            kind: LayerKind::Image(idx),
        })
    }
}

/// What is drawn over a view's tiles at one tick besides the fixed layers.
pub(crate) struct Overlay<'a> {
    pub pk: Option<&'a PkBar>,
    pub comments: &'a [Comment],
    /// A viewer poll: drawn over each tile that shows a pause slate, and on a monitor.
    pub poll: Option<&'a PollBoard>,
    pub now: Instant,
    pub size: (u32, u32),
}

impl Overlay<'_> {
    /// The fixed layers plus the PK bar, (on a monitor) the comments of a view, and the poll over
    /// the cells of `paused` tiles (a monitor without one: over the whole frame); text boxes are
    /// rasterised into compositor images when their content changed.
    pub fn layers(
        &self,
        comp: &mut Compositor,
        texts: &mut TextImages,
        fixed: &[LayerSpec],
        spec: &ViewSpec,
        paused: &[Rect],
    ) -> Result<Vec<LayerSpec>> {
        let (w, h) = self.size;
        let mut elements = Vec::new();
        // Text boxes are named by what they show, not by view: views with the same bar (a room and
        // its anchor's monitor) share its images, so the compositor sees the same layers.
        if let Some(bar) = self.pk {
            elements.extend(bar.elements(
                self.now,
                spec.mirrored,
                w,
                h,
                if spec.mirrored { "bar.mirrored." } else { "bar." },
            ));
        }
        if let Some(anchor) = &spec.monitor {
            elements.extend(comment_elements(self.comments, anchor, self.now, w, h, &format!("comments.{anchor}.")));
        }
        if let Some(poll) = self.poll.filter(|p| p.visible(self.now)) {
            let whole = [Rect { x: 0.0, y: 0.0, w: w as f32, h: h as f32 }];
            let areas = if paused.is_empty() && spec.monitor.is_some() { &whole[..] } else { paused };
            for a in areas {
                elements.extend(poll.elements(*a, ""));
            }
        }
        let mut out = fixed.to_vec();
        for e in elements {
            match e {
                Element::Layer(l) => out.push(l),
                Element::Text { key, rect, text, style } => out.push(texts.layer(comp, &key, rect, &text, &style)?),
            }
        }
        Ok(out)
    }
}
