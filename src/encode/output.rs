//! Muxers: one encode, its packets written to every output (file, FLV, rtmp://, HLS).
//!
//! A failing output is closed and reported; the others keep receiving packets.

use ffmpeg_next as ff;

use crate::error::{Error, Result};

/// The container for an output URL, and the muxer options it needs.
pub fn container_for(url: &str) -> (&'static str, Vec<(&'static str, String)>) {
    let lower = url.to_lowercase();
    if lower.starts_with("rtmp://") || lower.starts_with("rtmps://") || lower.ends_with(".flv") {
        ("flv", vec![("flvflags", "no_duration_filesize".into())])
    } else if lower.ends_with(".m3u8") {
        let seg = std::path::Path::new(url).with_extension("").to_string_lossy().to_string();
        (
            "hls",
            vec![
                ("hls_time", "2".into()),
                ("hls_list_size", "0".into()),
                ("hls_flags", "independent_segments".into()),
                ("hls_segment_filename", format!("{seg}_%05d.ts")),
            ],
        )
    } else if lower.ends_with(".ts") {
        ("mpegts", vec![])
    } else if lower.ends_with(".mkv") {
        ("matroska", vec![])
    } else if lower.ends_with(".mov") {
        ("mov", vec![])
    } else {
        ("mp4", vec![])
    }
}

struct Sink {
    url: String,
    ctx: ff::format::context::Output,
    /// Output stream time bases after write_header (muxers may change them, FLV does).
    video_tb: ff::Rational,
    audio_tb: Option<ff::Rational>,
    alive: bool,
    pub packets: u64,
}

pub struct Outputs {
    sinks: Vec<Sink>,
}

/// Which packet stream a packet belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    Video,
    Audio,
}

impl Outputs {
    /// True when any of these URLs needs codec parameters in extradata (global header).
    pub fn need_global_header(urls: &[String]) -> bool {
        urls.iter().any(|u| {
            // Containers that carry parameter sets once, out of band. HLS is included because its
            // segments are written through the same encoder as the FLV in a fan-out.
            let (fmt, _) = container_for(u);
            matches!(fmt, "flv" | "mp4" | "mov" | "matroska" | "hls")
        })
    }

    pub fn open(urls: &[String], video: &ff::encoder::Video, video_tb: ff::Rational, audio: Option<(&ff::encoder::Audio, ff::Rational)>) -> Result<Outputs> {
        let mut sinks = Vec::new();
        for url in urls {
            let (fmt, opts) = container_for(url);
            if let Some(parent) = std::path::Path::new(url).parent() {
                if !url.contains("://") && !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)?;
                }
            }
            let mut ctx = ff::format::output_as(&url, fmt).map_err(|e| Error::Output { url: url.clone(), why: e.to_string() })?;
            {
                let mut vs = ctx.add_stream(ff::encoder::find(ff::codec::Id::H264))?;
                vs.set_parameters(video);
                vs.set_time_base(video_tb);
            }
            if let Some((a, tb)) = audio {
                let mut s = ctx.add_stream(ff::encoder::find(ff::codec::Id::AAC))?;
                s.set_parameters(a);
                s.set_time_base(tb);
            }
            let mut d = ff::Dictionary::new();
            for (k, v) in &opts {
                d.set(k, v);
            }
            ctx.write_header_with(d).map_err(|e| Error::Output { url: url.clone(), why: e.to_string() })?;
            let video_tb = ctx.stream(0).map(|s| s.time_base()).unwrap_or(video_tb);
            let audio_tb = audio.and_then(|_| ctx.stream(1).map(|s| s.time_base()));
            tracing::info!(url, format = fmt, "output open");
            sinks.push(Sink { url: url.clone(), ctx, video_tb, audio_tb, alive: true, packets: 0 });
        }
        Ok(Outputs { sinks })
    }

    /// Writes one encoded packet (time base `from`) to every live output.
    pub fn write(&mut self, track: Track, packet: &ff::Packet, from: ff::Rational) {
        for s in self.sinks.iter_mut().filter(|s| s.alive) {
            let (idx, tb) = match track {
                Track::Video => (0, s.video_tb),
                Track::Audio => match s.audio_tb {
                    Some(tb) => (1, tb),
                    None => continue,
                },
            };
            let mut p = packet.clone();
            if track == Track::Video && p.duration() == 0 {
                // x264 leaves durations unset; HLS needs them to cut segments precisely.
                p.set_duration(1);
            }
            p.set_stream(idx);
            p.rescale_ts(from, tb);
            p.set_position(-1);
            if let Err(e) = p.write_interleaved(&mut s.ctx) {
                tracing::error!(url = %s.url, error = %e, "output failed; it is closed, the other outputs go on");
                s.alive = false;
            } else {
                s.packets += 1;
            }
        }
    }

    /// Finishes every output (trailers, final playlist).
    pub fn finish(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        for s in &mut self.sinks {
            if !s.alive || s.ctx.write_trailer().is_err() {
                failed.push(s.url.clone());
            }
        }
        failed
    }
}
