//! Slates: the pictures a paused room shows in its tile instead of its anchor's. The system text
//! card is drawn here once per pause (the bundled fonts, Latin and CJK) as an ordinary decoded
//! frame, so every output that shows the room uploads it like any other picture: same encoders,
//! same GOP, same timestamps, nothing reconnects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ffmpeg_next as ff;

use super::overlay::{TextAlign, TextRenderer, TextStyle};
use crate::media::colour::{rgb_to_bt709_limited, Matrix};
use crate::media::frame::FrameMemory;
use crate::media::{PlaneLayout, SourceGeom, VideoFrame};
use crate::sys::lock;

/// What the system card says.
pub const SYSTEM_CARD_TEXT: &str = "主播暂停直播 · back soon";

/// What the waiting card says (a room whose anchor has not sent a picture yet).
pub const WAITING_CARD_TEXT: &str = "主播即将开播 · starting soon";

/// The card's background (a dark slate blue), RGB.
pub const CARD_BACKGROUND: [u8; 3] = [0x1f, 0x24, 0x30];

/// Slate pictures count down from here, so their sequence numbers never meet a decoder's.
static NEXT_SEQ: AtomicU64 = AtomicU64::new(u64::MAX / 2);

/// A sequence number for a slate picture (never one a decoder gives).
pub(super) fn next_seq() -> u64 {
    NEXT_SEQ.fetch_sub(1, Ordering::Relaxed)
}

/// The fonts are loaded once, for every card.
fn renderer() -> &'static Mutex<TextRenderer> {
    static TEXT: OnceLock<Mutex<TextRenderer>> = OnceLock::new();
    TEXT.get_or_init(|| Mutex::new(TextRenderer::new()))
}

/// A text card of `w`×`h` (rounded down to even sizes, at least 64×64): `text` centred in white
/// on [`CARD_BACKGROUND`], as a BT.709 limited-range 4:2:0 picture.
pub fn text_card(text: &str, (w, h): (u32, u32)) -> Arc<VideoFrame> {
    let (w, h) = ((w.clamp(64, 3840)) & !1, (h.clamp(64, 2160)) & !1);
    let style = TextStyle {
        size: (h as f32 / 10.0).max(12.0),
        color: [255, 255, 255, 255],
        align: TextAlign::Center,
        outline: false,
    };
    let (tw, th) = (w * 9 / 10, h * 3 / 10);
    let glyphs = lock(renderer()).render(text, tw, th, &style);
    let (x0, y0) = ((w - tw) / 2, (h - th) / 2);
    let bg = CARD_BACKGROUND.map(|c| c as f32 / 255.0);
    rgb_picture((w, h), |x, y| {
        let inside = x >= x0 && y >= y0 && x < x0 + tw && y < y0 + th;
        if !inside {
            return bg;
        }
        let p = glyphs.get_pixel(x - x0, y - y0).0;
        let a = p[3] as f32 / 255.0;
        [0, 1, 2].map(|c| bg[c] * (1.0 - a) + p[c] as f32 / 255.0 * a)
    })
}

/// A picture of `w`×`h` (odd sizes lose their last row or column) whose pixel (x, y) has the
/// colour `rgb(x, y)` (0..1), as a BT.709 limited-range 4:2:0 frame: what every slate becomes,
/// so the compositor shows it like any anchor's picture.
pub fn rgb_picture((w, h): (u32, u32), rgb: impl Fn(u32, u32) -> [f32; 3]) -> Arc<VideoFrame> {
    let (w, h) = (w & !1, h & !1);
    let mut frame = ff::frame::Video::new(ff::format::Pixel::YUV420P, w, h);
    let (ys, us, vs) = (frame.stride(0), frame.stride(1), frame.stride(2));
    for y in 0..h {
        for x in 0..w {
            frame.data_mut(0)[y as usize * ys + x as usize] = rgb_to_bt709_limited(rgb(x, y))[0].round() as u8;
        }
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            // Chroma of the 2×2 block's average colour.
            let mut sum = [0.0f32; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let c = rgb(2 * x + dx, 2 * y + dy);
                (0..3).for_each(|k| sum[k] += c[k] / 4.0);
            }
            let yuv = rgb_to_bt709_limited(sum);
            frame.data_mut(1)[y as usize * us + x as usize] = yuv[1].round() as u8;
            frame.data_mut(2)[y as usize * vs + x as usize] = yuv[2].round() as u8;
        }
    }
    Arc::new(VideoFrame {
        frame,
        pts: 0.0,
        seq: next_seq(),
        geom: SourceGeom { width: w, height: h, rotation: 0, sar: 1.0 },
        layout: PlaneLayout::Planar { sx: 2, sy: 2 },
        matrix: Matrix::Bt709,
        full_range: false,
        decode_ms: 0.0,
        mem: FrameMemory::uncounted(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_is_its_background_with_white_text_in_the_middle() {
        let card = text_card(SYSTEM_CARD_TEXT, (640, 360));
        let p = card.picture();
        let bg = rgb_to_bt709_limited(CARD_BACKGROUND.map(|c| c as f32 / 255.0))[0].round() as u8;
        assert_eq!(p.planes[0][10 * p.strides[0] + 10], bg, "a corner is the background");
        let middle = &p.planes[0][180 * p.strides[0]..180 * p.strides[0] + 640];
        assert!(middle.iter().filter(|v| **v > 180).count() > 20, "white glyphs across the middle row");
        assert_eq!((card.geom.width, card.geom.height), (640, 360));
    }
}
