//! Text for overlays (anchor names, scores, the countdown, comments): shaped by cosmic-text and
//! rasterised by swash into straight-alpha RGBA images, which the compositor draws as image layers.
//!
//! The fonts are bundled (DejaVu Sans for Latin, digits and punctuation; Droid Sans Fallback for
//! CJK, which has no Latin at all) so the output does not depend on what the host has installed:
//! "Leo 1200 04:59 小美" renders the same everywhere. A glyph neither has is looked for in the
//! host's fonts, and only then drawn as the empty box.

use cosmic_text::{Align, Attrs, Buffer, Color, Family, FontSystem, Metrics, Shaping, SwashCache};
use image::RgbaImage;

const LATIN: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
/// Also served to the console and viewer page (`/assets/cjk.ttf`): Chinese, Japanese and Korean
/// show there on a machine with no CJK font of its own.
pub const CJK: &[u8] = include_bytes!("../../../assets/fonts/DroidSansFallback.ttf");

/// Horizontal placement of the text in its box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextAlign {
    #[default]
    Left,
    Center,
    Right,
}

/// How a text box looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextStyle {
    /// Font size in pixels.
    pub size: f32,
    /// Straight-alpha RGBA.
    pub color: [u8; 4],
    pub align: TextAlign,
    /// A one-pixel dark outline, so text reads over any picture.
    pub outline: bool,
}

impl Default for TextStyle {
    fn default() -> Self {
        TextStyle { size: 24.0, color: [255, 255, 255, 255], align: TextAlign::Left, outline: true }
    }
}

/// Shapes and rasterises text with the bundled font.
pub struct TextRenderer {
    fonts: FontSystem,
    cache: SwashCache,
    family: String,
}

impl Default for TextRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl TextRenderer {
    pub fn new() -> TextRenderer {
        let mut db = cosmic_text::fontdb::Database::new();
        db.load_font_data(LATIN.to_vec());
        let family = db
            .faces()
            .next()
            .and_then(|f| f.families.first().map(|(n, _)| n.clone()))
            .unwrap_or_else(|| "DejaVu Sans".into());
        db.load_font_data(CJK.to_vec());
        // Last resort for scripts neither bundled font covers.
        db.load_system_fonts();
        TextRenderer { fonts: FontSystem::new_with_locale_and_db("en-US".into(), db), cache: SwashCache::new(), family }
    }

    /// The characters of `text` that no font here has a glyph for (they would be drawn as the
    /// empty box).
    pub fn missing_glyphs(&mut self, text: &str) -> Vec<char> {
        let mut buf = Buffer::new(&mut self.fonts, Metrics::new(24.0, 30.0));
        buf.set_size(&mut self.fonts, None, None);
        buf.set_text(&mut self.fonts, text, &Attrs::new().family(Family::Name(&self.family)), Shaping::Advanced);
        buf.shape_until_scroll(&mut self.fonts, false);
        let mut missing = Vec::new();
        for run in buf.layout_runs() {
            for g in run.glyphs.iter().filter(|g| g.glyph_id == 0) {
                missing.extend(run.text[g.start..g.end].chars().filter(|c| !c.is_whitespace()));
            }
        }
        missing
    }

    /// Draws `text` into a transparent `width`×`height` image, vertically centred; lines that do not
    /// fit are cut, never wrapped outside the box.
    pub fn render(&mut self, text: &str, width: u32, height: u32, style: &TextStyle) -> RgbaImage {
        let (width, height) = (width.max(1), height.max(1));
        let mut img = RgbaImage::new(width, height);
        let size = style.size.clamp(4.0, 512.0);
        let mut buf = Buffer::new(&mut self.fonts, Metrics::new(size, size * 1.2));
        buf.set_size(&mut self.fonts, Some(width as f32), Some(height as f32));
        let attrs = Attrs::new().family(Family::Name(&self.family));
        buf.set_text(&mut self.fonts, text, &attrs, Shaping::Advanced);
        let align = match style.align {
            TextAlign::Left => Align::Left,
            TextAlign::Center => Align::Center,
            TextAlign::Right => Align::Right,
        };
        for line in buf.lines.iter_mut() {
            line.set_align(Some(align));
        }
        buf.shape_until_scroll(&mut self.fonts, false);
        let lines = buf.layout_runs().count().max(1) as f32;
        let dy = ((height as f32 - lines * size * 1.2) / 2.0).max(0.0).round() as i32;
        let [r, g, b, a] = style.color;
        let mut cover = vec![0u8; (width * height) as usize];
        buf.draw(&mut self.fonts, &mut self.cache, Color::rgba(255, 255, 255, 255), |x, y, w, h, c| {
            let alpha = c.a();
            for yy in y + dy..y + dy + h as i32 {
                for xx in x..x + w as i32 {
                    if xx >= 0 && yy >= 0 && (xx as u32) < width && (yy as u32) < height {
                        let i = (yy as u32 * width + xx as u32) as usize;
                        cover[i] = cover[i].max(alpha);
                    }
                }
            }
        });
        for (i, px) in img.pixels_mut().enumerate() {
            let (x, y) = ((i as u32 % width) as i32, (i as u32 / width) as i32);
            let k = cover[i] as u32;
            // Outline: the strongest coverage among the 8 neighbours, drawn dark beneath the glyph.
            let mut o = 0u32;
            if style.outline {
                for (ox, oy) in [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
                    let (nx, ny) = (x + ox, y + oy);
                    if nx >= 0 && ny >= 0 && (nx as u32) < width && (ny as u32) < height {
                        o = o.max(cover[(ny as u32 * width + nx as u32) as usize] as u32);
                    }
                }
            }
            // Glyph over outline, both straight alpha.
            let ga = k * a as u32 / 255;
            let oa = o * a as u32 / 255;
            let out_a = ga + oa * (255 - ga) / 255;
            if out_a == 0 {
                continue;
            }
            let mix = |c: u8| ((c as u32 * ga) / out_a) as u8;
            *px = image::Rgba([mix(r), mix(g), mix(b), out_a as u8]);
        }
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inked(img: &RgbaImage) -> usize {
        img.pixels().filter(|p| p[3] > 128 && p[0] > 128).count()
    }

    #[test]
    fn latin_digits_and_cjk_all_have_glyphs() {
        let mut t = TextRenderer::new();
        let style = TextStyle { size: 28.0, ..Default::default() };
        for s in ["Leo 1200 04:59 小美", "Anchor A", "主播小美", "Ünïcødé ÀÉ", "[礼物 gift] ×3"] {
            assert_eq!(t.missing_glyphs(s), Vec::<char>::new(), "{s:?}");
            let img = t.render(s, 300, 40, &style);
            assert!(inked(&img) > 40, "{s:?} drew {} glyph pixels", inked(&img));
        }
        // The check can fail: a private-use character has no glyph anywhere.
        assert_eq!(t.missing_glyphs("A\u{E000}"), vec!['\u{E000}']);
        assert_eq!(inked(&t.render("", 200, 40, &style)), 0);
    }

    #[test]
    fn alignment_moves_the_ink() {
        let mut t = TextRenderer::new();
        let mean_x = |img: &RgbaImage| {
            let xs: Vec<u32> = img.enumerate_pixels().filter(|(_, _, p)| p[3] > 128).map(|(x, _, _)| x).collect();
            xs.iter().sum::<u32>() as f64 / xs.len().max(1) as f64
        };
        let l = t.render("88", 300, 40, &TextStyle { align: TextAlign::Left, ..Default::default() });
        let r = t.render("88", 300, 40, &TextStyle { align: TextAlign::Right, ..Default::default() });
        assert!(mean_x(&l) < 60.0 && mean_x(&r) > 240.0, "{} {}", mean_x(&l), mean_x(&r));
    }
}
