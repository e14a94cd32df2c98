//! Audio: every input's 48 kHz stereo samples mixed on their common timeline, encoded as AAC.

use std::collections::VecDeque;
use std::sync::Arc;

use ff::util::channel_layout::ChannelLayout;
use ffmpeg_next as ff;

use crate::error::{Error, Result};
use crate::media::ring::Ring;
use crate::media::{AudioChunk, AUDIO_CHANNELS, AUDIO_RATE};

/// AAC takes exactly this many samples per frame.
pub const AAC_FRAME: usize = 1024;

/// One input of a mix.
#[derive(Clone)]
pub struct MixInput {
    pub ring: Arc<Ring<AudioChunk>>,
    pub gain: f32,
    /// Index of another input of the same mix this one belongs with (an anchor's app audio with its
    /// microphone): its chunks are placed by stream timestamp relative to that input's, not by
    /// arrival, so the two stay in sync however they were delivered.
    pub fused_with: Option<usize>,
}

impl MixInput {
    pub fn new(ring: Arc<Ring<AudioChunk>>, gain: f32) -> MixInput {
        MixInput { ring, gain, fused_with: None }
    }
}

struct Track {
    ring: Arc<Ring<AudioChunk>>,
    fused_with: Option<usize>,
    /// Where the last chunk was placed on the timeline, with its stream timestamp.
    anchor: Option<(i64, f64)>,
    /// Samples (interleaved stereo) starting at the mixer's current position.
    buf: VecDeque<f32>,
    /// Timeline position just past the last buffered sample.
    end: i64,
    gain: f32,
    /// Live: input position just past the last chunk taken, to tell continuation from a new segment.
    src_end: Option<i64>,
    /// The mark of the last chunk taken (None before the first).
    mark: Option<u64>,
}

/// How far ahead of the output a live track's new segment is placed (~43 ms of jitter buffer).
const LIVE_DELAY: i64 = 2048;

/// [`LIVE_DELAY`] in seconds: a live input's sound reaches the output this much after its
/// picture does (what happens to a room's sound at an instant is heard this much later).
pub const LIVE_DELAY_S: f64 = LIVE_DELAY as f64 / crate::media::AUDIO_RATE as f64;

/// Live, a track never runs further ahead of the output than this (~250 ms): sound that arrived
/// in a burst (a decoder's first packets after probing, a network stall making up) is dropped
/// down to [`LIVE_DELAY`] instead of lagging the picture, which shows the newest frame, for good.
const LIVE_MAX_AHEAD: i64 = 12_000;

/// Hears where (output seconds) a track's first sound of a new mark landed.
pub type MarkSink = Box<dyn Fn(f64) + Send>;

/// Sums the inputs' audio sample-accurately by their positions. Missing audio is silence.
///
/// Offline, positions are the inputs' own timelines (a file's audio lines up with its video). Live,
/// inputs join, stall and reconnect at any time: each new segment is placed just ahead of the output
/// position and continues from there, so a late or reconnecting anchor never drags the mix back.
pub struct Mixer {
    tracks: Vec<Track>,
    /// Timeline position of the next output sample.
    pos: i64,
    live: bool,
    /// Told where (output seconds) a track's first sound after a change of its mark lands, for
    /// whoever must know when the change is heard (a replay's cut).
    on_mark: Option<MarkSink>,
}

impl Track {
    /// Live: drops the oldest buffered sound of a track too far ahead of the output position
    /// `pos`, keeping its timestamp anchor in step.
    fn catch_up(&mut self, pos: i64) {
        let ahead = self.end - pos;
        let buffered = (self.buf.len() / AUDIO_CHANNELS) as i64;
        if ahead <= LIVE_MAX_AHEAD || buffered < ahead {
            return;
        }
        let k = ahead - LIVE_DELAY;
        self.buf.drain(..k as usize * AUDIO_CHANNELS);
        self.end -= k;
        if let Some((p, _)) = self.anchor.as_mut() {
            *p -= k;
        }
    }
}

impl Mixer {
    pub fn new(inputs: Vec<MixInput>) -> Mixer {
        let tracks = inputs
            .into_iter()
            .map(|i| Track {
                ring: i.ring,
                fused_with: i.fused_with,
                anchor: None,
                buf: VecDeque::new(),
                end: 0,
                gain: i.gain,
                src_end: None,
                mark: None,
            })
            .collect();
        Mixer { tracks, pos: 0, live: false, on_mark: None }
    }

    /// A mixer for live inputs (see the type's docs).
    pub fn live(inputs: Vec<MixInput>) -> Mixer {
        Mixer { live: true, ..Mixer::new(inputs) }
    }

    /// A mixer whose first sample is at timeline position `pos` (a view whose encode starts late).
    pub fn starting_at(mut self, pos: i64) -> Mixer {
        self.pos = pos;
        for t in &mut self.tracks {
            t.end = t.end.max(pos);
        }
        self
    }

    /// Reports where each track's first sound after a change of mark lands.
    pub fn with_marks(mut self, on_mark: MarkSink) -> Mixer {
        self.on_mark = Some(on_mark);
        self
    }

    /// Replaces the inputs (live changes): tracks on the same ring keep their buffered audio, new
    /// ones start at the current position, dropped ones are forgotten.
    pub fn set_tracks(&mut self, inputs: Vec<MixInput>) {
        let mut old: Vec<Option<Track>> = self.tracks.drain(..).map(Some).collect();
        for i in inputs {
            let kept = old
                .iter_mut()
                .find(|t| t.as_ref().is_some_and(|t| Arc::ptr_eq(&t.ring, &i.ring)))
                .and_then(Option::take);
            self.tracks.push(match kept {
                Some(mut t) => {
                    t.gain = i.gain;
                    t.fused_with = i.fused_with;
                    t
                }
                None => Track {
                    ring: i.ring,
                    fused_with: i.fused_with,
                    anchor: None,
                    buf: VecDeque::new(),
                    end: self.pos,
                    gain: i.gain,
                    src_end: None,
                    mark: None,
                },
            });
        }
    }

    pub fn position(&self) -> i64 {
        self.pos
    }

    /// Moves everything the decoders produced into the mixer, so a decoder never waits on audio.
    fn pull(&mut self) {
        // Tracks of their own first: a fused track is placed against its partner's latest chunk.
        let order: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| self.tracks[i].fused_with.is_none())
            .chain((0..self.tracks.len()).filter(|&i| self.tracks[i].fused_with.is_some()))
            .collect();
        for i in order {
            let partner =
                self.tracks[i].fused_with.filter(|&p| p != i).and_then(|p| self.tracks.get(p)).and_then(|p| p.anchor);
            let t = &mut self.tracks[i];
            while let Some(c) = t.ring.try_pop() {
                let n = (c.samples.len() / AUDIO_CHANNELS) as i64;
                let pos = if let (Some((ppos, pts)), Some(ts)) = (partner, c.stream_ts) {
                    ppos + ((ts - pts) * AUDIO_RATE as f64).round() as i64
                } else if !self.live {
                    c.pos
                } else if t.src_end == Some(c.pos) && t.end >= self.pos {
                    t.end
                } else {
                    t.end.max(self.pos + LIVE_DELAY)
                };
                t.src_end = Some(c.pos + n);
                if let Some(ts) = c.stream_ts {
                    t.anchor = Some((pos, ts));
                }
                let start = t.end.max(self.pos);
                if pos > start {
                    // A gap in the input: silence until its audio resumes.
                    let gap = (pos - start) as usize;
                    t.buf.extend(std::iter::repeat_n(0.0, gap * AUDIO_CHANNELS));
                    t.end = pos;
                } else if t.end < self.pos {
                    t.end = self.pos;
                }
                if t.mark.is_some_and(|m| m != c.mark) {
                    if let Some(f) = &self.on_mark {
                        f(t.end.max(pos) as f64 / AUDIO_RATE as f64);
                    }
                }
                t.mark = Some(c.mark);
                // Skip the part of the chunk that lies before what we already have.
                let skip = (t.end - pos).clamp(0, n) as usize;
                t.buf.extend(c.samples[skip * AUDIO_CHANNELS..].iter().copied());
                t.end += n - skip as i64;
            }
            // (A fused track sits where its stamps put it against its partner's, however far.)
            if self.live && t.fused_with.is_none() {
                t.catch_up(self.pos);
            }
        }
    }

    /// The next `n` mixed samples (interleaved), if every input that still plays has them. With
    /// `finishing` (all video is out), or live, inputs that have nothing yet are treated as silent.
    pub fn next(&mut self, n: usize, finishing: bool) -> Option<Vec<f32>> {
        self.pull();
        let want = self.pos + n as i64;
        let ready = self.live || finishing || self.tracks.iter().all(|t| t.end >= want || t.ring.is_finished());
        if !ready {
            return None;
        }
        let mut out = vec![0.0f32; n * AUDIO_CHANNELS];
        for t in &mut self.tracks {
            let have = t.buf.len().min(n * AUDIO_CHANNELS);
            for (o, s) in out.iter_mut().zip(t.buf.drain(..have)) {
                *o += s * t.gain;
            }
            if t.end < want {
                t.end = want;
            }
        }
        for o in &mut out {
            *o = o.clamp(-1.0, 1.0);
        }
        self.pos = want;
        Some(out)
    }
}

pub struct AudioEncoder {
    enc: ff::encoder::Audio,
    pub time_base: ff::Rational,
    pts: i64,
}

impl AudioEncoder {
    pub fn open(bitrate_kbps: u32, global_header: bool) -> Result<AudioEncoder> {
        let codec = ff::encoder::find_by_name("aac")
            .ok_or_else(|| Error::EncoderUnavailable { name: "aac".into(), why: "not in this FFmpeg build".into() })?;
        let mut enc = ff::codec::context::Context::new_with_codec(codec).encoder().audio()?;
        enc.set_rate(AUDIO_RATE as i32);
        enc.set_channel_layout(ChannelLayout::STEREO);
        enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
        enc.set_bit_rate(bitrate_kbps as usize * 1000);
        let tb = ff::Rational::new(1, AUDIO_RATE as i32);
        enc.set_time_base(tb);
        if global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        let enc = enc
            .open_with(ff::Dictionary::new())
            .map_err(|e| Error::EncoderUnavailable { name: "aac".into(), why: e.to_string() })?;
        Ok(AudioEncoder { enc, time_base: tb, pts: 0 })
    }

    pub fn encoder(&self) -> &ff::encoder::Audio {
        &self.enc
    }

    /// The first samples it gets are stamped `pts` (a view whose encode starts late).
    pub fn starting_at(mut self, pts: i64) -> AudioEncoder {
        self.pts = pts;
        self
    }

    /// Encodes interleaved stereo samples (at most one AAC frame).
    pub fn encode(&mut self, interleaved: &[f32], out: &mut Vec<ff::Packet>) -> Result<()> {
        let n = interleaved.len() / AUDIO_CHANNELS;
        let mut f =
            ff::frame::Audio::new(ff::format::Sample::F32(ff::format::sample::Type::Planar), n, ChannelLayout::STEREO);
        f.set_rate(AUDIO_RATE);
        for ch in 0..AUDIO_CHANNELS {
            let plane = f.plane_mut::<f32>(ch);
            for (i, s) in plane.iter_mut().enumerate().take(n) {
                *s = interleaved[i * AUDIO_CHANNELS + ch];
            }
        }
        f.set_pts(Some(self.pts));
        self.pts += n as i64;
        self.enc.send_frame(&f)?;
        super::drain(&mut self.enc, out);
        Ok(())
    }

    pub fn finish(&mut self, out: &mut Vec<ff::Packet>) -> Result<()> {
        self.enc.send_eof()?;
        super::drain(&mut self.enc, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::ring::Overflow;

    fn ring() -> Arc<Ring<AudioChunk>> {
        Arc::new(Ring::new(64, Overflow::Block))
    }

    #[test]
    fn mixes_by_position_and_fills_gaps_with_silence() {
        let (a, b) = (ring(), ring());
        a.push(AudioChunk { pos: 0, stream_ts: None, samples: vec![0.25; 8], mark: 0 });
        // b starts two samples late.
        b.push(AudioChunk { pos: 2, stream_ts: None, samples: vec![0.5; 4], mark: 0 });
        a.close();
        b.close();
        let mut m = Mixer::new(vec![MixInput::new(a, 1.0), MixInput::new(b, 1.0)]);
        let out = m.next(4, false).expect("both inputs finished");
        assert_eq!(out, vec![0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75]);
    }

    #[test]
    fn live_tracks_join_ahead_of_the_output_instead_of_being_dropped() {
        let a = ring();
        let mut m = Mixer::live(vec![MixInput::new(a.clone(), 1.0)]);
        // The output has run 10 000 samples of silence before the anchor's audio arrives, stamped 0.
        for _ in 0..10 {
            assert_eq!(m.next(1000, false).unwrap(), vec![0.0; 2000]);
        }
        a.push(AudioChunk { pos: 0, stream_ts: None, samples: vec![0.5; 2 * 4096], mark: 0 });
        let out: Vec<f32> = (0..7).flat_map(|_| m.next(1024, false).unwrap()).collect();
        let first = out.iter().position(|v| *v != 0.0).expect("the late audio is heard") / 2;
        assert_eq!(first, LIVE_DELAY as usize, "placed just ahead of the output");
        assert_eq!(out.iter().filter(|v| **v == 0.5).count(), 2 * 4096, "nothing dropped");
    }

    #[test]
    fn waits_for_an_input_that_still_plays() {
        let (a, b) = (ring(), ring());
        a.push(AudioChunk { pos: 0, stream_ts: None, samples: vec![0.1; 2048], mark: 0 });
        let mut m = Mixer::new(vec![MixInput::new(a, 1.0), MixInput::new(b.clone(), 1.0)]);
        assert!(m.next(1024, false).is_none());
        b.push(AudioChunk { pos: 0, stream_ts: None, samples: vec![0.1; 2048], mark: 0 });
        assert!(m.next(1024, false).is_some());
    }

    #[test]
    fn a_live_burst_is_not_kept_as_a_lasting_delay() {
        let a = ring();
        let mut m = Mixer::live(vec![MixInput::new(a.clone(), 1.0)]);
        assert!(m.next(1024, false).is_some());
        // Half a second arrives at once (a new publisher's first packets), then 1 s in step.
        for k in 0..24 {
            a.push(AudioChunk { pos: k * 1024, stream_ts: None, samples: vec![0.5; 2 * 1024], mark: 0 });
        }
        let ahead = |m: &mut Mixer| {
            m.pull();
            m.tracks[0].end - m.pos
        };
        assert!(ahead(&mut m) <= LIVE_MAX_AHEAD, "trimmed at once: {}", ahead(&mut m));
        for k in 24..71 {
            m.next(1024, false).unwrap();
            a.push(AudioChunk { pos: k * 1024, stream_ts: None, samples: vec![0.5; 2 * 1024], mark: 0 });
        }
        assert!(ahead(&mut m) <= LIVE_DELAY + 2048, "it stays just ahead of the output: {}", ahead(&mut m));
    }

    #[test]
    fn an_anchors_second_audio_is_fused_by_stream_timestamp_not_arrival() {
        let (mic, app) = (ring(), ring());
        let mut m = Mixer::live(vec![
            MixInput::new(mic.clone(), 1.0),
            MixInput { fused_with: Some(0), ..MixInput::new(app.clone(), 1.0) },
        ]);
        assert_eq!(m.next(1000, false).unwrap(), vec![0.0; 2000]);
        // The microphone's sound arrives as it is captured; the app audio arrives with its first
        // piece, but it was captured 0.5 s after it.
        let said = |k: i64| AudioChunk {
            pos: k * 1024,
            stream_ts: Some(100.0 + k as f64 * 1024.0 / 48_000.0),
            samples: vec![0.25; 2 * 1024],
            mark: 0,
        };
        mic.push(said(0));
        app.push(AudioChunk { pos: 0, stream_ts: Some(100.5), samples: vec![0.5; 2 * 4800], mark: 0 });
        let mut out = Vec::new();
        for k in 1..60 {
            out.extend(m.next(1024, false).unwrap());
            mic.push(said(k));
        }
        let mic_at = out.iter().position(|v| *v != 0.0).unwrap() / 2;
        let app_at = out.iter().position(|v| *v > 0.3).unwrap() / 2;
        assert_eq!(app_at - mic_at, 24_000, "app audio 0.5 s after the microphone, as stamped");
        assert_eq!(out.iter().filter(|v| **v == 0.75).count(), 2 * 4800, "both heard together");
    }
}
