//! Text in every script: what the PK bar draws ("Leo 1200 04:59 小美") has, glyph by glyph, the
//! shape an independent rasteriser (FFmpeg's drawtext, FreeType) gives the same character — never
//! an empty box.

use std::process::Command;
use std::time::{Duration, Instant};

use costream::compose::{Element, PkBar, PkSettings, TextAlign, TextRenderer, TextStyle};

const CELL: u32 = 96;
const SIZE: f32 = 64.0;

/// Ink of a `CELL`×`CELL` greyscale picture, as a mask.
type Mask = Vec<bool>;

/// The character drawn by FreeType with the bundled font that covers it.
fn reference(c: char) -> Mask {
    let font = if c.is_ascii() { "DejaVuSans.ttf" } else { "DroidSansFallback.ttf" };
    let dir = std::env::temp_dir().join(format!("costream-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let txt = dir.join(format!("{:x}.txt", c as u32));
    std::fs::write(&txt, c.to_string()).unwrap();
    let vf = format!(
        "drawtext=fontfile={}/assets/fonts/{font}:textfile={}:fontsize={SIZE}:fontcolor=white:x=8:y=8",
        env!("CARGO_MANIFEST_DIR"),
        txt.display()
    );
    let o = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            &format!("color=black:s={CELL}x{CELL}"),
            "-vf",
            &vf,
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "drawtext: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout.iter().map(|v| *v > 128).collect()
}

/// The character as our text renderer draws it.
fn ours(t: &mut TextRenderer, c: char) -> Mask {
    let img = t.render(
        &c.to_string(),
        CELL,
        CELL,
        &TextStyle { size: SIZE, color: [255; 4], align: TextAlign::Left, outline: false },
    );
    img.pixels().map(|p| p[3] > 128).collect()
}

/// (x0, y0, width, height) of the ink.
fn bbox(m: &Mask) -> Option<(usize, usize, usize, usize)> {
    let n = CELL as usize;
    let pts: Vec<(usize, usize)> = (0..m.len()).filter(|&i| m[i]).map(|i| (i % n, i / n)).collect();
    let (x0, x1) = (pts.iter().map(|p| p.0).min()?, pts.iter().map(|p| p.0).max()?);
    let (y0, y1) = (pts.iter().map(|p| p.1).min()?, pts.iter().map(|p| p.1).max()?);
    Some((x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// Overlap of the two inks, each moved to its box's corner: 1 is the same shape.
fn iou(a: &Mask, b: &Mask) -> f64 {
    let (Some(ba), Some(bb)) = (bbox(a), bbox(b)) else { return 0.0 };
    let n = CELL as usize;
    let (w, h) = (ba.2.max(bb.2), ba.3.max(bb.3));
    let at = |m: &Mask, bx: (usize, usize, usize, usize), x: usize, y: usize| {
        let (xx, yy) = (bx.0 + x, bx.1 + y);
        xx < n && yy < n && m[yy * n + xx]
    };
    let (mut both, mut either) = (0usize, 0usize);
    for y in 0..h {
        for x in 0..w {
            let (p, q) = (at(a, ba, x, y), at(b, bb, x, y));
            both += (p && q) as usize;
            either += (p || q) as usize;
        }
    }
    both as f64 / either.max(1) as f64
}

#[test]
fn every_glyph_of_the_pk_bar_has_its_shape_in_any_script() {
    let now = Instant::now();
    let settings = PkSettings {
        names: ["Leo".into(), "小美".into()],
        scores: [1200, 800],
        countdown_s: Some(300),
        ..PkSettings::default()
    };
    let bar = PkBar::new(settings, now);
    // A second into the countdown: "04:59".
    let texts: Vec<String> = bar
        .elements(now + Duration::from_millis(1000), false, 1280, 720, "t.")
        .into_iter()
        .filter_map(|e| match e {
            Element::Text { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    let all = texts.join(" ");
    for part in ["Leo", "1200", "04:59", "小美"] {
        assert!(all.contains(part), "the bar draws {part:?}: {texts:?}");
    }
    let mut t = TextRenderer::new();
    assert_eq!(t.missing_glyphs(&all), Vec::<char>::new(), "{all:?}");
    let mut chars: Vec<char> = all.chars().filter(|c| !c.is_whitespace()).collect();
    chars.sort();
    chars.dedup();
    for c in chars {
        let (ours, reference) = (ours(&mut t, c), reference(c));
        let (bo, br) = (bbox(&ours).unwrap_or_else(|| panic!("{c:?} has no ink")), bbox(&reference).unwrap());
        let similar = |a: usize, b: usize| (a as f64 - b as f64).abs() <= 3.0 + 0.15 * b as f64;
        assert!(
            similar(bo.2, br.2) && similar(bo.3, br.3),
            "{c:?}: ink box {}x{} against the reference's {}x{}",
            bo.2,
            bo.3,
            br.2,
            br.3
        );
        let overlap = iou(&ours, &reference);
        assert!(overlap > 0.6, "{c:?}: only {overlap:.2} of its ink matches the reference");
    }
    // The comparison tells an empty box from a letter.
    let boxed = ours(&mut t, '\u{E000}');
    assert!(bbox(&boxed).is_some(), "a missing glyph is drawn as a box");
    assert!(iou(&boxed, &reference('L')) < 0.6, "the empty box passes for an L");
}
