//! Ingest stage: open inputs (files, rtmp://, HLS, anything FFmpeg reads) and decode them on their own
//! threads into bounded rings that the GPU thread reads.

mod connect;
pub mod decode;
mod feed;
mod frames;
mod options;
pub mod rtmp;
mod stream_name;

pub use decode::{
    open, open_reader, open_reader_into, open_url_into, FeedDecoder, Input, InputInfo, InputOptions, InputState,
    Playpath,
};
pub use feed::{Change, Feed, FeedReader, Shows, SlateSound};
