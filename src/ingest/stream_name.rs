//! What a publish names. `rtmp://HOST/live/KEY` publishes a room's main source and
//! `rtmp://HOST/live/KEY/NAME` another of its sources (a camera, a game screen). Tools split that
//! path differently: ffmpeg sends the application `live/KEY` and the stream `NAME`, OBS (server
//! `rtmp://HOST/live`, stream key `KEY/NAME`) the application `live` and the stream `KEY/NAME`. Both
//! are read the same way here, before anything is logged, so the key (which may sit in either half)
//! is only ever logged redacted.

/// The source a bare key publishes.
pub const MAIN_SOURCE: &str = "main";

/// A publish's application, stream key and source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamName {
    pub app: String,
    pub key: String,
    pub source: String,
}

impl StreamName {
    /// Reads the RTMP application and stream name of a publish.
    pub fn parse(app: &str, stream: &str) -> StreamName {
        let app = app.trim_matches('/');
        let (app, key, source) = match app.split_once('/') {
            Some((app, key)) => (app, key, stream),
            None => match stream.split_once('/') {
                Some((key, source)) => (app, key, source),
                None => (app, stream, ""),
            },
        };
        let source = if source.is_empty() { MAIN_SOURCE } else { source };
        StreamName { app: app.to_string(), key: key.to_string(), source: source.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(app: &str, stream: &str) -> (String, String, String) {
        let n = StreamName::parse(app, stream);
        (n.app, n.key, n.source)
    }

    #[test]
    fn every_tool_s_split_reads_the_same() {
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(parsed("live", "sk_1"), s("live", "sk_1", "main"));
        // ffmpeg: rtmp://HOST/live/sk_1/camera
        assert_eq!(parsed("live/sk_1", "camera"), s("live", "sk_1", "camera"));
        // OBS: server rtmp://HOST/live, stream key sk_1/camera
        assert_eq!(parsed("live", "sk_1/camera"), s("live", "sk_1", "camera"));
        assert_eq!(parsed("live", "sk_1/"), s("live", "sk_1", "main"));
    }
}
