//! Encode stage: H.264 + AAC, one encode per view; its packets go to [`crate::outputs`].

pub mod audio;
pub mod video;

pub use audio::{AudioEncoder, MixInput, Mixer};
pub use video::{EncoderKind, VideoEncoder, VideoSettings};

/// Moves every packet the encoder has ready into `out`.
fn drain(enc: &mut ffmpeg_next::encoder::Encoder, out: &mut Vec<ffmpeg_next::Packet>) {
    loop {
        let mut p = ffmpeg_next::Packet::empty();
        if enc.receive_packet(&mut p).is_err() {
            break;
        }
        out.push(p);
    }
}
