//! Parsing of the overlay flags shared by `render` and `bench`.

use std::path::PathBuf;

use costream::error::{invalid, Result};
use costream::gpu::{BlurSpec, LayerKind, LayerSpec};
use costream::media::geometry::Rect;

fn nums(s: &str, what: &'static str, n: std::ops::RangeInclusive<usize>) -> Result<Vec<f32>> {
    let v: std::result::Result<Vec<f32>, _> = s.split(',').map(|p| p.trim().parse::<f32>()).collect();
    let v = v.map_err(|_| invalid(what, format!("{s:?}: expected comma-separated numbers")))?;
    if !n.contains(&v.len()) || v.iter().any(|x| !x.is_finite()) {
        return Err(invalid(what, format!("{s:?}: expected {}..{} numbers", n.start(), n.end())));
    }
    Ok(v)
}

fn rect(v: &[f32], what: &'static str) -> Result<Rect> {
    if v[2] <= 0.0 || v[3] <= 0.0 {
        return Err(invalid(what, "width and height must be positive"));
    }
    Ok(Rect::new(v[0], v[1], v[2], v[3]))
}

/// "#RRGGBB" or "#RRGGBBAA" → straight RGBA 0..1.
pub fn parse_color(s: &str) -> Result<[f32; 4]> {
    let h = s.trim().trim_start_matches('#');
    let c: costream::media::Colour =
        h.parse().map_err(|_| invalid("colour", format!("{s:?}: expected #RRGGBB or #RRGGBBAA")))?;
    Ok(c.rgba())
}

/// `X,Y,W,H,#RRGGBB[AA]`
pub fn parse_rect(s: &str) -> Result<LayerSpec> {
    let (geo, col) =
        s.rsplit_once(',').ok_or_else(|| invalid("rect", format!("{s:?}: expected X,Y,W,H,#RRGGBB[AA]")))?;
    let v = nums(geo, "rect", 4..=4)?;
    Ok(LayerSpec { rect: rect(&v, "rect")?, color: parse_color(col)?, kind: LayerKind::Solid })
}

/// `PATH@X,Y,W,H`
pub fn parse_image(s: &str) -> Result<(PathBuf, Rect)> {
    let (path, geo) = s.rsplit_once('@').ok_or_else(|| invalid("image", format!("{s:?}: expected PATH@X,Y,W,H")))?;
    let v = nums(geo, "image", 4..=4)?;
    Ok((PathBuf::from(path), rect(&v, "image")?))
}

/// `X,Y,W,H[,SIGMA]` (sigma defaults to 12)
pub fn parse_blur(s: &str) -> Result<BlurSpec> {
    let v = nums(s, "blur", 4..=5)?;
    let sigma = v.get(4).copied().unwrap_or(12.0);
    if !(0.1..=40.0).contains(&sigma) {
        return Err(invalid("blur", format!("sigma {sigma} outside 0.1..40")));
    }
    Ok(BlurSpec { rect: rect(&v, "blur")?, sigma })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_overlays_and_rejects_garbage() {
        let r = parse_rect("40,20,1200,24,#ff000080").unwrap();
        assert_eq!(r.rect, Rect::new(40.0, 20.0, 1200.0, 24.0));
        assert!((r.color[3] - 128.0 / 255.0).abs() < 1e-6);
        assert_eq!(parse_blur("220,160,200,200").unwrap().sigma, 12.0);
        assert_eq!(parse_image("a@b.png@1,2,3,4").unwrap().0, PathBuf::from("a@b.png"));
        assert!(parse_rect("1,2,3,#fff").is_err());
        assert!(parse_blur("1,2,-3,4").is_err());
        assert!(parse_color("#12345g").is_err());
    }
}
