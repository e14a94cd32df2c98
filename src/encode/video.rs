//! H.264 encoding of the composed NV12 frames: libx264, or h264_nvenc when asked for and it opens.

use ff::format::Pixel;
use ff::util::color;
use ffmpeg_next as ff;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    X264,
    Nvenc,
}

impl std::str::FromStr for EncoderKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<EncoderKind> {
        match s {
            "x264" | "libx264" => Ok(EncoderKind::X264),
            "nvenc" | "h264_nvenc" => Ok(EncoderKind::Nvenc),
            o => Err(crate::error::invalid("encoder", format!("{o:?}; expected x264 or nvenc"))),
        }
    }
}

#[derive(Clone, Debug)]
pub struct VideoSettings {
    pub encoder: EncoderKind,
    pub width: u32,
    pub height: u32,
    /// Frames per second as a fraction (num, den).
    pub fps: (i32, i32),
    pub bitrate_kbps: u32,
    pub preset: String,
    /// Keyframe interval in frames (fixed: no scene-cut keyframes, so segments align).
    pub gop: u32,
    /// Encoder threads; 0 = automatic.
    pub threads: usize,
}

pub struct VideoEncoder {
    enc: ff::encoder::Video,
    pub name: &'static str,
    pub time_base: ff::Rational,
}

fn x264_options(s: &VideoSettings) -> ff::Dictionary<'static> {
    let mut d = ff::Dictionary::new();
    d.set("preset", &s.preset);
    d.set("tune", "zerolatency");
    // Without an explicit thread count libx264 runs on one thread.
    d.set("threads", &if s.threads == 0 { "auto".to_string() } else { s.threads.to_string() });
    d.set("keyint_min", &s.gop.to_string());
    d.set("sc_threshold", "0");
    d.set("bufsize", &format!("{}k", s.bitrate_kbps * 2));
    d
}

fn nvenc_options(s: &VideoSettings) -> ff::Dictionary<'static> {
    let mut d = ff::Dictionary::new();
    d.set("preset", "p4");
    d.set("tune", "ll");
    d.set("zerolatency", "1");
    d.set("rc", "cbr");
    d.set("bufsize", &format!("{}k", s.bitrate_kbps * 2));
    d
}

impl VideoEncoder {
    /// Opens the encoder. `global_header` is needed by FLV/MP4 outputs (parameter sets in extradata).
    pub fn open(s: &VideoSettings, global_header: bool) -> Result<VideoEncoder> {
        if s.encoder == EncoderKind::Nvenc {
            match Self::open_named("h264_nvenc", s, global_header, nvenc_options(s)) {
                Ok(e) => return Ok(e),
                Err(e) => tracing::warn!(error = %e, "h264_nvenc did not open; falling back to libx264"),
            }
        }
        Self::open_named("libx264", s, global_header, x264_options(s))
    }

    fn open_named(
        name: &'static str,
        s: &VideoSettings,
        global_header: bool,
        opts: ff::Dictionary,
    ) -> Result<VideoEncoder> {
        let codec = ff::encoder::find_by_name(name)
            .ok_or_else(|| Error::EncoderUnavailable { name: name.into(), why: "not in this FFmpeg build".into() })?;
        let mut enc = ff::codec::context::Context::new_with_codec(codec).encoder().video()?;
        let tb = ff::Rational::new(s.fps.1, s.fps.0);
        enc.set_width(s.width);
        enc.set_height(s.height);
        enc.set_format(Pixel::NV12);
        enc.set_time_base(tb);
        enc.set_frame_rate(Some(ff::Rational::new(s.fps.0, s.fps.1)));
        enc.set_gop(s.gop);
        enc.set_max_b_frames(0);
        enc.set_bit_rate(s.bitrate_kbps as usize * 1000);
        enc.set_max_bit_rate(s.bitrate_kbps as usize * 1000);
        // The shader writes BT.709 limited range; say so, or players assume BT.601.
        enc.set_colorspace(color::Space::BT709);
        enc.set_color_range(color::Range::MPEG);
        enc.set_color_primaries(color::Primaries::BT709);
        enc.set_color_transfer_characteristic(color::TransferCharacteristic::BT709);
        if global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        let enc =
            enc.open_with(opts).map_err(|e| Error::EncoderUnavailable { name: name.into(), why: e.to_string() })?;
        tracing::info!(
            encoder = name,
            width = s.width,
            height = s.height,
            kbps = s.bitrate_kbps,
            gop = s.gop,
            "video encoder open"
        );
        Ok(VideoEncoder { enc, name, time_base: tb })
    }

    pub fn encoder(&self) -> &ff::encoder::Video {
        &self.enc
    }

    /// Encodes one frame (pts in frame units) and returns the packets that came out.
    pub fn encode(&mut self, frame: &ff::frame::Video, out: &mut Vec<ff::Packet>) -> Result<()> {
        self.enc.send_frame(frame)?;
        super::drain(&mut self.enc, out);
        Ok(())
    }

    pub fn finish(&mut self, out: &mut Vec<ff::Packet>) -> Result<()> {
        self.enc.send_eof()?;
        super::drain(&mut self.enc, out);
        Ok(())
    }
}

/// An empty NV12 frame for the encoder, tagged like the encoder.
pub fn nv12_frame(width: u32, height: u32) -> ff::frame::Video {
    let mut f = ff::frame::Video::new(Pixel::NV12, width, height);
    f.set_color_space(color::Space::BT709);
    f.set_color_range(color::Range::MPEG);
    f.set_color_primaries(color::Primaries::BT709);
    f.set_color_transfer_characteristic(color::TransferCharacteristic::BT709);
    f
}

/// Copies tightly packed NV12 (stride = width) into an encoder frame with its own strides.
pub fn fill_nv12(frame: &mut ff::frame::Video, nv12: &[u8]) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let ys = frame.stride(0);
    let y = frame.data_mut(0);
    for r in 0..h {
        y[r * ys..r * ys + w].copy_from_slice(&nv12[r * w..(r + 1) * w]);
    }
    let cs = frame.stride(1);
    let uv = frame.data_mut(1);
    let base = w * h;
    for r in 0..h / 2 {
        uv[r * cs..r * cs + w].copy_from_slice(&nv12[base + r * w..base + (r + 1) * w]);
    }
}
