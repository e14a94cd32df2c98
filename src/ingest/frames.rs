//! A decoder's output made ready for the rings: pictures kept in the decoder's buffers when the GPU
//! can upload their layout (else converted to YUV 4:2:0 once), audio resampled to 48 kHz stereo f32
//! and laid end to end on the input's timeline.

use std::sync::atomic::Ordering;
use std::time::Instant;

use ff::format::Pixel;
use ff::util::channel_layout::ChannelLayout;
use ffmpeg_next as ff;

use super::connect::plane_layout;
use super::decode::{AudioState, VideoState, Worker};
use crate::media::frame::FrameMemory;
use crate::media::{AudioChunk, Matrix, PlaneLayout, SourceGeom, VideoFrame, AUDIO_CHANNELS, AUDIO_RATE};
use crate::sys::redact_url;

impl Worker {
    pub(super) fn rel_time(&mut self, ts: Option<i64>, tb: ff::Rational) -> Option<f64> {
        let ts = ts?;
        let secs = ts as f64 * f64::from(tb);
        let t0 = *self.conn.t0.get_or_insert(secs);
        Some(secs - t0)
    }

    /// Returns false when the consumer closed the ring.
    pub(super) fn drain_video(&mut self, vs: &mut VideoState) -> bool {
        loop {
            let t = Instant::now();
            let mut frame = ff::frame::Video::empty();
            if self.conn.vdec.receive_frame(&mut frame).is_err() {
                vs.busy += t.elapsed().as_secs_f32() * 1e3;
                return true;
            }
            let ts = frame.timestamp().or(frame.pts());
            let Some(pts) = self.rel_time(ts, self.conn.vtb) else { continue };
            let Some((frame, layout, mut full)) = uploadable(frame, vs) else { continue };
            if frame.color_range() == ff::util::color::Range::JPEG {
                full = true;
            }
            let sar = frame.aspect_ratio();
            let sar = if sar.numerator() > 0 && sar.denominator() > 0 { f64::from(sar) as f32 } else { 1.0 };
            let geom = SourceGeom { width: frame.width(), height: frame.height(), rotation: self.conn.rotation, sar };
            let matrix = Matrix::from_stream(frame.color_space(), frame.height());
            vs.seq += 1;
            let decode_ms = vs.busy + t.elapsed().as_secs_f32() * 1e3;
            vs.busy = 0.0;
            let bytes: usize = (0..frame.planes()).map(|i| frame.data(i).len()).sum();
            if vs.seq == 1 {
                self.size_rings(bytes);
            }
            let vf = VideoFrame {
                frame,
                pts,
                seq: vs.seq,
                geom,
                layout,
                matrix,
                full_range: full,
                decode_ms,
                mem: FrameMemory::new(bytes),
            };
            self.state.frames.fetch_add(1, Ordering::Relaxed);
            if !self.sink.video(vf) {
                return false;
            }
        }
    }

    /// Rings hold as many frames as the memory budget allows, known from the first frame.
    fn size_rings(&self, frame_bytes: usize) {
        if self.opts.ring_budget_bytes == 0 {
            return;
        }
        let fit = (self.opts.ring_budget_bytes / frame_bytes.max(1) as u64) as usize;
        let depth = fit.clamp(1, self.opts.ring_frames.max(1));
        self.sink.set_depth(depth);
        tracing::info!(url = %redact_url(&self.url), frame_bytes, depth, "ring sized by the memory budget");
    }

    pub(super) fn drain_audio(&mut self, st: &mut AudioState) -> bool {
        let Some((_, atb, _)) = self.conn.adec.as_ref() else { return true };
        let atb = *atb;
        loop {
            let mut frame = ff::frame::Audio::empty();
            {
                let Some((_, _, dec)) = self.conn.adec.as_mut() else { return true };
                if dec.receive_frame(&mut frame).is_err() {
                    return true;
                }
            }
            if frame.samples() == 0 {
                continue;
            }
            if frame.channel_layout().is_empty() {
                frame.set_channel_layout(ChannelLayout::default(frame.channels() as i32));
            }
            if st.resampler.is_none() {
                match ff::software::resampling::Context::get(
                    frame.format(),
                    frame.channel_layout(),
                    frame.rate(),
                    ff::format::Sample::F32(ff::format::sample::Type::Packed),
                    ChannelLayout::STEREO,
                    AUDIO_RATE,
                ) {
                    Ok(r) => st.resampler = Some(r),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot resample audio; input is treated as silent");
                        self.conn.adec = None;
                        self.sink.close_audio();
                        return true;
                    }
                }
            }
            let Some(rs) = st.resampler.as_mut() else { return true };
            let cap = (frame.samples() as u64 * AUDIO_RATE as u64 / frame.rate().max(1) as u64) as usize + 256;
            let mut out = ff::frame::Audio::new(
                ff::format::Sample::F32(ff::format::sample::Type::Packed),
                cap,
                ChannelLayout::STEREO,
            );
            out.set_rate(AUDIO_RATE);
            if rs.run(&frame, &mut out).is_err() {
                continue;
            }
            let n = out.samples();
            if n == 0 {
                continue;
            }
            let bytes = &out.data(0)[..n * AUDIO_CHANNELS * 4];
            let samples: Vec<f32> = bytemuck::pod_collect_to_vec(bytes);
            let ts = frame.timestamp().or(frame.pts());
            let by_pts = self.rel_time(ts, atb).map(|s| (s * AUDIO_RATE as f64).round() as i64);
            // Audio is laid end to end; timestamps only re-anchor it after a real gap or jump (>100 ms).
            let pos = match (st.next_pos, by_pts) {
                (Some(next), Some(p)) if (p - next).abs() > AUDIO_RATE as i64 / 10 => p,
                (Some(next), _) => next,
                (None, Some(p)) => p,
                (None, None) => 0,
            };
            st.next_pos = Some(pos + n as i64);
            let stream_ts = ts.map(|t| t as f64 * f64::from(atb));
            if !self.sink.audio(AudioChunk { pos, stream_ts, samples, mark: 0 }) {
                return false;
            }
        }
    }
}

/// A decoded picture in a layout the GPU uploads as it is, else converted to YUV 4:2:0 on the CPU
/// (once per frame, with a warning the first time); its layout and whether it is full range. None:
/// it cannot be converted (dropped).
fn uploadable(frame: ff::frame::Video, vs: &mut VideoState) -> Option<(ff::frame::Video, PlaneLayout, bool)> {
    let format = frame.format();
    if let Some((layout, full)) = plane_layout(format) {
        return Some((frame, layout, full));
    }
    if !vs.warned {
        tracing::warn!(format = ?format, "pixel format not uploaded directly; converting to yuv420p on the CPU");
        vs.warned = true;
    }
    let (w, h) = (frame.width(), frame.height());
    let rebuild = !matches!(&vs.scaler, Some((_, f, sw, sh)) if *f == format && *sw == w && *sh == h);
    if rebuild {
        let flags = ff::software::scaling::Flags::BILINEAR;
        match ff::software::scaling::Context::get(format, w, h, Pixel::YUV420P, w, h, flags) {
            Ok(s) => vs.scaler = Some((s, format, w, h)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot convert pixel format; frame dropped");
                return None;
            }
        }
    }
    let mut out = ff::frame::Video::empty();
    vs.scaler.as_mut()?.0.run(&frame, &mut out).ok()?;
    out.set_color_space(frame.color_space());
    out.set_color_range(frame.color_range());
    Some((out, PlaneLayout::Planar { sx: 2, sy: 2 }, false))
}
