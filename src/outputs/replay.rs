//! A replay: a session's recordings joined end to end with spans cut out (the pauses), remuxed
//! into an HLS VOD or an MP4 without re-encoding. Cuts fall on keyframes (the live job made the
//! frame at each pause and resume one), and the kept parts' timestamps are moved up to close each
//! cut, so the replay plays as one continuous stream, sound and picture cut at the same instants.

use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

/// One recording and the spans (seconds from its start, `[from, to)`) to leave out of its
/// picture, and of its sound (a live mix places sound a little behind the picture it went with,
/// so a pause reaches the sound a little later).
#[derive(Clone, Debug)]
pub struct Piece {
    pub path: PathBuf,
    pub cuts: Vec<(f64, f64)>,
    pub sound_cuts: Vec<(f64, f64)>,
}

/// What a replay came to.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// Seconds of picture written.
    pub duration_s: f64,
    pub video_frames: u64,
}

/// Seconds of media in a recording (its container's duration; 0 when it says none).
pub fn duration(path: &Path) -> Result<f64, ff::Error> {
    let ictx = ff::format::input(path)?;
    Ok((ictx.duration().max(0) as f64 / f64::from(ff::ffi::AV_TIME_BASE)).max(0.0))
}

/// Seconds of `t` that fall inside `cuts` before `t`.
fn cut_before(cuts: &[(f64, f64)], t: f64) -> f64 {
    cuts.iter().map(|&(a, b)| (t.min(b) - a).max(0.0)).sum()
}

/// Times are rounded in the pause log and in time bases: an edge is matched within this.
const EDGE_S: f64 = 0.0005;

fn inside(cuts: &[(f64, f64)], t: f64) -> bool {
    cuts.iter().any(|&(a, b)| t >= a - EDGE_S && t < b - EDGE_S)
}

/// The muxer and its options for `out`: an HLS VOD playlist (`.m3u8`, segments beside it) or an
/// MP4 that starts playing before it is all downloaded.
fn container(out: &Path) -> (&'static str, ff::Dictionary<'static>) {
    let mut o = ff::Dictionary::new();
    if out.extension().is_some_and(|e| e == "m3u8") {
        let seg = out.with_extension("");
        o.set("hls_time", "2");
        o.set("hls_list_size", "0");
        o.set("hls_playlist_type", "vod");
        o.set("hls_flags", "independent_segments");
        o.set("hls_segment_filename", &format!("{}_%05d.ts", seg.to_string_lossy()));
        ("hls", o)
    } else {
        o.set("movflags", "+faststart");
        ("mp4", o)
    }
}

/// Writes `pieces`, in order, into `out`; `progress` hears the share done (0 to 1) now and then.
pub fn write(pieces: &[Piece], out: &Path, mut progress: impl FnMut(f64)) -> Result<Written, ff::Error> {
    let first = pieces.first().ok_or(ff::Error::StreamNotFound)?;
    let total: f64 = pieces.iter().map(|p| duration(&p.path).unwrap_or(0.0)).sum::<f64>().max(1e-3);
    let (format, opts) = container(out);
    let probe = ff::format::input(&first.path)?;
    let mut octx = ff::format::output_as(out, format)?;
    // The first recording's video and audio streams, in that order, make the replay's.
    let mut kinds = Vec::new();
    for kind in [ff::media::Type::Video, ff::media::Type::Audio] {
        if let Some(st) = probe.streams().best(kind) {
            let mut os = octx.add_stream(ff::encoder::find(ff::codec::Id::None))?;
            os.set_parameters(st.parameters());
            // SAFETY: the stream was just added; a zero tag lets the muxer choose its own.
            unsafe { (*os.parameters().as_mut_ptr()).codec_tag = 0 };
            kinds.push(kind);
        }
    }
    drop(probe);
    octx.write_header_with(opts)?;
    let mut w = Written { duration_s: 0.0, video_frames: 0 };
    let (mut offset, mut done) = (0.0f64, 0.0f64);
    for p in pieces {
        let (kept, length) = write_piece(p, &kinds, &mut octx, offset, &mut w, |t| progress((done + t) / total))?;
        offset += kept;
        done += length;
    }
    octx.write_trailer()?;
    progress(1.0);
    w.duration_s = offset;
    Ok(w)
}

/// Copies one recording's packets, less its cuts, at `offset` seconds of the replay. Returns the
/// seconds of picture it kept and its whole length.
fn write_piece(
    p: &Piece,
    kinds: &[ff::media::Type],
    octx: &mut ff::format::context::Output,
    offset: f64,
    w: &mut Written,
    mut progress: impl FnMut(f64),
) -> Result<(f64, f64), ff::Error> {
    let mut ictx = ff::format::input(&p.path)?;
    // Input stream index → (output index, input time base, whether it is the picture).
    let mut map = std::collections::HashMap::new();
    for (o, kind) in kinds.iter().enumerate() {
        if let Some(st) = ictx.streams().best(*kind) {
            map.insert(st.index(), (o, st.time_base(), *kind == ff::media::Type::Video));
        }
    }
    // The picture's first frame is output time 0, for sound and picture alike (the muxer moved
    // both by the same amount, to fit the sound encoder's priming).
    let first = ictx.streams().best(ff::media::Type::Video).map(|st| (st.start_time(), st.time_base()));
    let origin = match first {
        Some((s, tb)) if s != ff::ffi::AV_NOPTS_VALUE => s as f64 * f64::from(tb),
        _ => 0.0,
    };
    let mut last_dts = vec![None::<i64>; kinds.len()];
    // Where the kept picture ends on the replay's clock (past this piece's last frame), how long a
    // frame lasts, the last picture's time, and how far the piece has been read.
    let (mut kept_end, mut frame_s, mut prev, mut read) = (0.0f64, 0.0f64, None::<f64>, 0.0f64);
    for (st, mut packet) in ictx.packets() {
        let Some(&(o, tb, video)) = map.get(&st.index()) else { continue };
        let Some(pts) = packet.pts().or(packet.dts()) else { continue };
        let t = pts as f64 * f64::from(tb) - origin;
        if t - read >= 1.0 {
            read = t;
            progress(t);
        }
        if video {
            // MPEG-TS packets carry no duration: a frame lasts until the next one.
            let d = packet.duration() as f64 * f64::from(tb);
            frame_s = if d > 0.0 { d } else { prev.map_or(frame_s, |p| (t - p).max(frame_s)) };
            prev = Some(t);
        }
        let cuts = if video { &p.cuts } else { &p.sound_cuts };
        if inside(cuts, t) {
            continue;
        }
        if video {
            kept_end = kept_end.max(offset + t - cut_before(cuts, t) + frame_s);
            w.video_frames += 1;
        }
        // Moved up by what was cut before it, then placed after the pieces before.
        let shift = ((offset - cut_before(cuts, t)) / f64::from(tb)).round() as i64;
        packet.set_pts(packet.pts().map(|v| v + shift));
        packet.set_dts(packet.dts().map(|v| v + shift));
        packet.set_position(-1);
        packet.set_stream(o);
        let otb = octx.stream(o).map(|s| s.time_base()).unwrap_or(tb);
        packet.rescale_ts(tb, otb);
        // A join never sends a stream back in time (a packet on a cut's edge, by rounding).
        if packet.dts().is_some_and(|d| last_dts[o].is_some_and(|l| d <= l)) {
            continue;
        }
        last_dts[o] = packet.dts();
        packet.write_interleaved(octx)?;
    }
    Ok((kept_end - offset, prev.unwrap_or(0.0) + frame_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_move_what_follows_them_up() {
        let cuts = [(10.0, 20.0), (25.0, 26.0)];
        assert_eq!(cut_before(&cuts, 5.0), 0.0);
        assert_eq!(cut_before(&cuts, 15.0), 5.0);
        assert_eq!(cut_before(&cuts, 20.0), 10.0);
        assert_eq!(cut_before(&cuts, 30.0), 11.0);
        assert!(inside(&cuts, 10.0) && !inside(&cuts, 20.0) && inside(&cuts, 25.5));
    }
}
