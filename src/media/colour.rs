//! YUV→RGB matrices for the shader, one per input stream's own matrix and range.

use ffmpeg_next::util::color;

/// The colour matrix a stream declares, reduced to what the conversion needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matrix {
    Bt601,
    Bt709,
    Bt2020,
}

impl Matrix {
    /// Unspecified streams follow the usual convention: SD is BT.601, HD is BT.709.
    pub fn from_stream(space: color::Space, height: u32) -> Matrix {
        match space {
            color::Space::BT709 => Matrix::Bt709,
            color::Space::BT470BG | color::Space::SMPTE170M | color::Space::SMPTE240M | color::Space::FCC => {
                Matrix::Bt601
            }
            color::Space::BT2020NCL | color::Space::BT2020CL => Matrix::Bt2020,
            _ if height >= 720 => Matrix::Bt709,
            _ => Matrix::Bt601,
        }
    }

    /// (Kr, Kb) luma coefficients.
    pub fn kr_kb(self) -> (f32, f32) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
            Matrix::Bt2020 => (0.2627, 0.0593),
        }
    }
}

/// Rows (r, g, b) of `rgb = M·yuv + offset`, for YUV sampled as 0..1 from 8-bit planes.
pub fn yuv_to_rgb_rows(m: Matrix, full_range: bool) -> [[f32; 4]; 3] {
    let (kr, kb) = m.kr_kb();
    let kg = 1.0 - kr - kb;
    // Y' = (Y - y0) * ys ; Cb = (U - 128/255) * cs
    let (y0, ys, cs) = if full_range { (0.0, 1.0, 1.0) } else { (16.0 / 255.0, 255.0 / 219.0, 255.0 / 224.0) };
    let c0 = 128.0 / 255.0;
    let rv = 2.0 * (1.0 - kr);
    let bu = 2.0 * (1.0 - kb);
    let gu = -2.0 * kb * (1.0 - kb) / kg;
    let gv = -2.0 * kr * (1.0 - kr) / kg;
    let row = |u: f32, v: f32| {
        let (a, b, c) = (ys, u * cs, v * cs);
        [a, b, c, -(a * y0) - (b + c) * c0]
    };
    [row(0.0, rv), row(gu, gv), row(bu, 0.0)]
}

/// Rows of `out = M·yuv + offset`: this stream's YUV (0..1 from 8-bit planes) straight to the output's
/// BT.709 limited-range YUV (0..255). Composing the two affine maps lets the shader skip RGB entirely.
pub fn yuv_to_out_rows(m: Matrix, full_range: bool) -> [[f32; 4]; 3] {
    let rgb = yuv_to_rgb_rows(m, full_range);
    let (kr, kg, kb) = (0.2126f32, 0.7152f32, 0.0722f32);
    let comb = |cr: f32, cg: f32, cb: f32, k: f32| {
        let mut row = [0.0f32; 4];
        for (i, v) in row.iter_mut().enumerate() {
            *v = cr * rgb[0][i] + cg * rgb[1][i] + cb * rgb[2][i];
        }
        row[3] += k;
        row
    };
    let (su, sv) = (224.0 / 1.8556, 224.0 / 1.5748);
    [
        comb(219.0 * kr, 219.0 * kg, 219.0 * kb, 16.0),
        comb(-su * kr, -su * kg, su * (1.0 - kb), 128.0),
        comb(sv * (1.0 - kr), -sv * kg, -sv * kb, 128.0),
    ]
}

/// BT.709 limited-range YUV (0..255) of an RGB colour (0..1): what the output shader writes.
pub fn rgb_to_bt709_limited(rgb: [f32; 3]) -> [f32; 3] {
    let y = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    [16.0 + 219.0 * y, 128.0 + 224.0 * (rgb[2] - y) / 1.8556, 128.0 + 224.0 * (rgb[0] - y) / 1.5748]
}

/// CPU reference of the input conversion, for tests: 8-bit YUV -> RGB 0..1.
pub fn yuv_to_rgb(m: Matrix, full_range: bool, yuv: [u8; 3]) -> [f32; 3] {
    let rows = yuv_to_rgb_rows(m, full_range);
    let v = [yuv[0] as f32 / 255.0, yuv[1] as f32 / 255.0, yuv[2] as f32 / 255.0];
    let f = |r: [f32; 4]| (r[0] * v[0] + r[1] * v[1] + r[2] * v[2] + r[3]).clamp(0.0, 1.0);
    [f(rows[0]), f(rows[1]), f(rows[2])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_black_white_and_grey_map_exactly() {
        for m in [Matrix::Bt601, Matrix::Bt709] {
            let w = yuv_to_rgb(m, false, [235, 128, 128]);
            let k = yuv_to_rgb(m, false, [16, 128, 128]);
            for c in 0..3 {
                assert!((w[c] - 1.0).abs() < 1e-4 && k[c].abs() < 1e-4, "{m:?} {w:?} {k:?}");
            }
        }
    }

    #[test]
    fn bt709_limited_input_passes_through_unchanged() {
        let rows = yuv_to_out_rows(Matrix::Bt709, false);
        for (yuv, row) in
            [[0.3f32, 0.6, 0.2]].iter().flat_map(|v| rows.iter().enumerate().map(move |(i, r)| (v, (i, r))))
        {
            let (i, r) = row;
            let out = r[0] * yuv[0] + r[1] * yuv[1] + r[2] * yuv[2] + r[3];
            assert!((out - yuv[i] * 255.0).abs() < 1e-3, "channel {i}: {out}");
        }
    }

    #[test]
    fn bt709_round_trip() {
        let rgb = [0.8, 0.3, 0.1];
        let yuv = rgb_to_bt709_limited(rgb);
        let back = yuv_to_rgb(Matrix::Bt709, false, [yuv[0].round() as u8, yuv[1].round() as u8, yuv[2].round() as u8]);
        for c in 0..3 {
            assert!((back[c] - rgb[c]).abs() < 0.01, "{back:?}");
        }
    }
}

/// A colour given as `#rrggbb` or `#rrggbbaa` (the `#` may be left out, as the PK bar always
/// allowed), parsed once: straight alpha, 8 bits a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour(pub [u8; 4]);

impl Colour {
    pub const WHITE: Colour = Colour([255, 255, 255, 255]);

    /// RGBA 0..1, as the GPU takes it.
    pub fn rgba(self) -> [f32; 4] {
        self.0.map(|v| v as f32 / 255.0)
    }
}

impl std::str::FromStr for Colour {
    type Err = String;
    fn from_str(s: &str) -> Result<Colour, String> {
        let bad = || format!("colour {s:?}: expected #rrggbb or #rrggbbaa");
        let h = s.strip_prefix('#').unwrap_or(s);
        if !(h.len() == 6 || h.len() == 8) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| bad());
        let alpha = if h.len() == 8 { byte(6)? } else { 255 };
        Ok(Colour([byte(0)?, byte(2)?, byte(4)?, alpha]))
    }
}

impl std::fmt::Display for Colour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [r, g, b, a] = self.0;
        if a == 255 {
            write!(f, "#{r:02x}{g:02x}{b:02x}")
        } else {
            write!(f, "#{r:02x}{g:02x}{b:02x}{a:02x}")
        }
    }
}

impl serde::Serialize for Colour {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Colour {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Colour, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod colour_tests {
    use super::Colour;

    #[test]
    fn colours_parse_once_and_print_back() {
        assert_eq!("#ff2d55".parse::<Colour>(), Ok(Colour([255, 45, 85, 255])));
        assert_eq!("#00000080".parse::<Colour>().unwrap().to_string(), "#00000080");
        assert_eq!(Colour([90, 200, 250, 255]).to_string(), "#5ac8fa");
        assert_eq!("ff2d55".parse::<Colour>(), "#ff2d55".parse::<Colour>());
        for bad in ["red", "#12345", "#12345g", "#ff2d55ff00", "#+f2d55", "##ff2d55"] {
            assert!(bad.parse::<Colour>().is_err(), "{bad}");
        }
    }
}
