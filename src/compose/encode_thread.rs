//! A view's encode thread: its pictures and its mixed audio encoded in step, the packets handed to
//! the view's outputs.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ffmpeg_next as ff;

use super::config::Fps;
use super::live::{LiveState, Stage, StageSink};
use crate::encode::audio::AAC_FRAME;
use crate::encode::{AudioEncoder, MixInput, Mixer, VideoEncoder};
use crate::error::Result;
use crate::media::AUDIO_RATE;
use crate::outputs::{Outputs, Track};
use crate::sys::lock;

/// What an encode thread reports when it ends.
pub(crate) struct EncodeReport {
    pub encode_ms: Vec<f32>,
    pub failed: Vec<String>,
}

/// The audio position (samples) at the start of frame `frame`.
pub(super) fn samples_at(fps: Fps, frame: i64) -> i64 {
    frame * AUDIO_RATE as i64 * fps.den as i64 / fps.num as i64
}

/// One view's encode thread: pictures in, packets out to the view's outputs, audio mixed in step.
pub(super) struct EncodeThread {
    pub rx: mpsc::Receiver<ff::frame::Video>,
    pub tracks: mpsc::Receiver<Vec<MixInput>>,
    pub venc: VideoEncoder,
    pub aenc: Option<AudioEncoder>,
    pub mixer: Mixer,
    pub outputs: Outputs,
    pub fps: Fps,
    pub gauges: Option<StageSink>,
    pub live: Option<Arc<Mutex<LiveState>>>,
    /// The number of the first frame it gets (a rendition made on demand starts late).
    pub first_frame: i64,
}

impl EncodeThread {
    pub fn run(self) -> Result<EncodeReport> {
        let EncodeThread { rx, tracks, mut venc, mut aenc, mut mixer, mut outputs, fps, gauges, live, first_frame } =
            self;
        let _span = tracing::info_span!("encode").entered();
        let mut packets = Vec::new();
        let mut encode_ms = Vec::new();
        let mut frames: i64 = first_frame;
        let samples_at = |frame: i64| samples_at(fps, frame);
        let pump_audio = |aenc: &mut Option<AudioEncoder>,
                          mixer: &mut Mixer,
                          outputs: &mut Outputs,
                          until: i64,
                          finishing: bool|
         -> Result<()> {
            let Some(a) = aenc.as_mut() else { return Ok(()) };
            let mut pk = Vec::new();
            while mixer.position() < until {
                let n = ((until - mixer.position()) as usize).min(AAC_FRAME);
                if n < AAC_FRAME && !finishing {
                    break;
                }
                let Some(s) = mixer.next(n, finishing) else { break };
                a.encode(&s, &mut pk)?;
            }
            if finishing {
                a.finish(&mut pk)?;
            }
            for p in &pk {
                outputs.write(Track::Audio, p, a.time_base);
            }
            Ok(())
        };
        while let Ok(frame) = rx.recv() {
            if let Some(t) = tracks.try_iter().last() {
                mixer.set_tracks(t);
            }
            let t0 = Instant::now();
            venc.encode(&frame, &mut packets)?;
            let ms = t0.elapsed().as_secs_f32() * 1e3;
            encode_ms.push(ms);
            if let Some(g) = &gauges {
                g(Stage::Encode, ms as f64);
            }
            if !packets.is_empty() {
                if let Some(l) = &live {
                    let mut l = lock(l);
                    if l.activated.is_some() && l.first_packet.is_none() {
                        l.first_packet = Some(Instant::now());
                    }
                }
            }
            for p in packets.drain(..) {
                outputs.write(Track::Video, &p, venc.time_base);
            }
            // Audio follows the frame's timestamp, not the frame count: ticks a late live job
            // skipped still get their audio.
            frames = frame.pts().map_or(frames + 1, |p| p + 1).max(frames + 1);
            pump_audio(&mut aenc, &mut mixer, &mut outputs, samples_at(frames), false)?;
        }
        venc.finish(&mut packets)?;
        for p in packets.drain(..) {
            outputs.write(Track::Video, &p, venc.time_base);
        }
        pump_audio(&mut aenc, &mut mixer, &mut outputs, samples_at(frames), true)?;
        let failed = outputs.finish();
        Ok(EncodeReport { encode_ms, failed })
    }
}
