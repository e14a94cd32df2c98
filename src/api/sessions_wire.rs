//! Sessions on the wire: what clients send (`POST /sessions`, `PATCH /sessions/{id}`), converted
//! once into the session layer's [`SessionSpec`], and a session's status as the API shows it.
//!
//! The conversion has two steps: [`TryFrom`] checks everything the request alone decides (layout,
//! fits, size, frame rate, bitrate, the shape of each input); [`resolve`] then checks what the
//! service decides (the rooms exist, URLs pass the policy) and adds the rooms' own destinations and
//! the channel's unlock rules.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiResult, AppState};
use crate::compose::Fps;
use crate::media::geometry::{Fit, FrameSize, Layout};
use crate::session::{Masking, SessionInput, SessionSpec};

/// Default output of a session.
pub const DEFAULT_SIZE: &str = "1280x720";
pub const DEFAULT_FPS: &str = "30";
pub const DEFAULT_BITRATE_KBPS: u32 = 2500;

/// One input of a session: a room of this service (its RTMP publish) or any URL FFmpeg reads.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInputSpec {
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// A frame rate as a number (`30`, `29.97`) or a string (`"30"`, `"30000/1001"`).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FpsWire {
    Number(f64),
    Text(String),
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub inputs: Vec<SessionInputSpec>,
    /// side-by-side (default), pip, grid or vstack.
    #[serde(default)]
    pub layout: Option<String>,
    /// fill (default) or fit; one value or comma-separated per input.
    #[serde(default)]
    pub fit: Option<String>,
    /// WIDTHxHEIGHT, default 1280x720 (width a multiple of 4, height even, at most 3840x2160).
    #[serde(default)]
    pub size: Option<String>,
    /// Frame rate, default 30, at most 60.
    #[serde(default)]
    pub fps: Option<FpsWire>,
    /// rtmp:// destinations the one encode is pushed to, besides costream's own HLS and the
    /// destinations stored with the session's rooms.
    #[serde(default)]
    pub outputs: Vec<String>,
    #[serde(default)]
    pub bitrate_kbps: Option<u32>,
    /// Also record to a file on the server (see the session's `recording`).
    #[serde(default)]
    pub record: bool,
    /// Per-viewer face masking: renditions per unlock level of the channel, served only through
    /// `/sessions/{id}/viewers/{token}/index.m3u8`.
    #[serde(default)]
    pub masking: Option<MaskingRequest>,
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskingRequest {
    /// The channel whose unlock rules and viewers apply (see `/channels/{channel}`).
    pub channel: String,
    #[serde(default)]
    pub tracker: Option<TrackerWire>,
    /// Viewers at the top level get the unmasked picture (default true).
    #[serde(default)]
    pub open_allowed: Option<bool>,
}

/// `short` for an anchor's close-up camera, `full` where faces are small.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RangeWire {
    Short,
    Full,
}

/// How faces are followed; any field left out keeps its default.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerWire {
    pub range: Option<RangeWire>,
    /// Run the detector every this many frames (1 to 300).
    pub detect_every: Option<u32>,
    /// How long a lost face keeps its last mask, seconds (0 to 10).
    pub hold_s: Option<f64>,
    /// 1 to 8.
    pub max_faces: Option<usize>,
    /// One-Euro filter: cutoff at rest (Hz) and how fast it opens with speed.
    pub min_cutoff: Option<f32>,
    pub beta: Option<f32>,
}

impl TryFrom<TrackerWire> for crate::face::TrackerConfig {
    type Error = ApiError;
    fn try_from(t: TrackerWire) -> ApiResult<crate::face::TrackerConfig> {
        let TrackerWire { range, detect_every, hold_s, max_faces, min_cutoff, beta } = t;
        let d = crate::face::TrackerConfig::default();
        let c = crate::face::TrackerConfig {
            range: match range {
                Some(RangeWire::Full) => crate::face::Range::Full,
                Some(RangeWire::Short) => crate::face::Range::Short,
                None => d.range,
            },
            detect_every: detect_every.unwrap_or(d.detect_every),
            hold_s: hold_s.unwrap_or(d.hold_s),
            max_faces: max_faces.unwrap_or(d.max_faces),
            min_cutoff: min_cutoff.unwrap_or(d.min_cutoff),
            beta: beta.unwrap_or(d.beta),
        };
        let ok = (1..=300).contains(&c.detect_every)
            && (0.0..=10.0).contains(&c.hold_s)
            && (1..=8).contains(&c.max_faces)
            && c.min_cutoff.is_finite()
            && c.min_cutoff > 0.0
            && c.beta.is_finite()
            && c.beta >= 0.0;
        if !ok {
            return Err(ApiError::invalid(
                "tracker: detect_every 1-300, hold_s 0-10, max_faces 1-8, min_cutoff > 0, beta >= 0",
            ));
        }
        Ok(c)
    }
}

fn invalid(e: crate::Error) -> ApiError {
    ApiError::invalid(e.to_string())
}

fn input(i: SessionInputSpec) -> ApiResult<SessionInput> {
    match (i.room, i.url) {
        (Some(room), None) => Ok(SessionInput::Room(room)),
        (None, Some(url)) => Ok(SessionInput::Url(url)),
        _ => Err(ApiError::invalid("each input names exactly one of room or url")),
    }
}

/// The inputs of a request, in order (1 to as many as the GPU composes).
pub(super) fn inputs(specs: Vec<SessionInputSpec>) -> ApiResult<Vec<SessionInput>> {
    if specs.is_empty() || specs.len() > crate::gpu::MAX_TILES {
        return Err(ApiError::invalid(format!("a session has 1 to {} inputs", crate::gpu::MAX_TILES)));
    }
    specs.into_iter().map(input).collect()
}

pub(super) fn layout(l: Option<&str>) -> ApiResult<Layout> {
    l.unwrap_or("side-by-side").parse().map_err(invalid)
}

/// `fill` or `fit`, one value or comma-separated per input.
pub(super) fn parse_fits(f: &str) -> ApiResult<Vec<Fit>> {
    f.split(',').map(|f| f.trim().parse::<Fit>()).collect::<Result<Vec<_>, _>>().map_err(invalid)
}

pub(super) fn fits(f: &str, inputs: usize) -> ApiResult<Vec<Fit>> {
    let fits = parse_fits(f)?;
    if !(fits.len() == 1 || fits.len() == inputs) {
        return Err(ApiError::invalid("fit: one value, or one per input"));
    }
    Ok(fits)
}

/// An output size within what the service makes (`limits::MAX_SIZE`).
pub(super) fn size(s: Option<&str>) -> ApiResult<(u32, u32)> {
    let (w, h) = s.unwrap_or(DEFAULT_SIZE).parse::<FrameSize>().map_err(invalid)?.get();
    let (mw, mh) = crate::limits::MAX_SIZE;
    if w > mw || h > mh {
        return Err(ApiError::invalid(format!("size: at most {mw}x{mh}")));
    }
    Ok((w, h))
}

/// A frame rate within what the service makes (`limits::MAX_FPS`).
pub(super) fn fps(f: Option<FpsWire>) -> ApiResult<Fps> {
    let text = match f {
        None => DEFAULT_FPS.to_string(),
        Some(FpsWire::Text(t)) => t,
        Some(FpsWire::Number(n)) => n.to_string(),
    };
    let fps: Fps = text.parse().map_err(invalid)?;
    if fps.as_f64() > crate::limits::MAX_FPS {
        return Err(ApiError::invalid(format!("fps: at most {}", crate::limits::MAX_FPS)));
    }
    Ok(fps)
}

pub(super) fn bitrate(b: Option<u32>) -> ApiResult<u32> {
    let b = b.unwrap_or(DEFAULT_BITRATE_KBPS);
    if !(100..=50_000).contains(&b) {
        return Err(ApiError::invalid("bitrate_kbps must be 100 to 50000"));
    }
    Ok(b)
}

impl TryFrom<CreateSession> for SessionSpec {
    type Error = ApiError;
    /// What the request alone decides; [`resolve`] adds what the service knows.
    fn try_from(b: CreateSession) -> ApiResult<SessionSpec> {
        let CreateSession { inputs: specs, layout: l, fit, size: sz, fps: f, outputs, bitrate_kbps, record, masking } =
            b;
        let inputs = inputs(specs)?;
        let fits = fits(fit.as_deref().unwrap_or("fill"), inputs.len())?;
        let masking = match masking {
            Some(m) => Some(Masking {
                channel: m.channel,
                // The channel's rules are the service's: `resolve` reads them.
                rules: Default::default(),
                tracker: m.tracker.map(TryInto::try_into).transpose()?.unwrap_or_default(),
                open_allowed: m.open_allowed.unwrap_or(true),
            }),
            None => None,
        };
        Ok(SessionSpec {
            inputs,
            layout: layout(l.as_deref())?,
            fits,
            size: size(sz.as_deref())?,
            fps: fps(f)?,
            outputs,
            bitrate_kbps: bitrate(bitrate_kbps)?,
            record,
            views: vec![],
            pending: false,
            pk: None,
            audio_of: vec![],
            masking,
            input_pauses: Default::default(),
        })
    }
}

/// Checks the inputs against the service (rooms exist, URLs pass the policy). Blocking.
pub(super) fn check_inputs(s: &AppState, inputs: &[SessionInput]) -> ApiResult<()> {
    for i in inputs {
        match i {
            SessionInput::Room(room) => drop(s.store.room(room)?),
            SessionInput::Url(url) => s.url_policy.check_input(url).map_err(ApiError::refused)?,
        }
    }
    Ok(())
}

/// Push destinations must pass the URL policy.
pub(super) fn check_outputs(s: &AppState, outputs: &[String]) -> ApiResult<()> {
    if outputs.len() > crate::limits::MAX_OUTPUTS {
        return Err(ApiError::invalid(format!("at most {} outputs", crate::limits::MAX_OUTPUTS)));
    }
    for o in outputs {
        s.url_policy.check_output(o).map_err(ApiError::refused)?;
    }
    Ok(())
}

/// What the service adds to a converted request: checks against its rooms and URL policy, the
/// rooms' own destinations (their third-party platforms get the same encode), the channel's
/// unlock rules. Blocking (reads the database).
pub(super) fn resolve(s: &AppState, mut spec: SessionSpec) -> ApiResult<SessionSpec> {
    check_inputs(s, &spec.inputs)?;
    check_outputs(s, &spec.outputs)?;
    for room in crate::session::rooms_in(&spec.inputs) {
        add_room_pushes(s, &room, &mut spec.outputs)?;
    }
    if let Some(m) = &mut spec.masking {
        m.rules = super::unlock::rules(s, &m.channel)?;
    }
    Ok(spec)
}

/// Adds to `outputs` where a room's encode is pushed besides this service (its destinations and
/// its platforms), each once. Blocking.
pub(super) fn add_room_pushes(s: &AppState, room: &str, outputs: &mut Vec<String>) -> ApiResult<()> {
    let destinations = s.store.destinations(room)?.into_iter().map(|d| d.url);
    for url in destinations.chain(s.platforms.push_urls(room)?) {
        if !outputs.contains(&url) {
            outputs.push(url);
        }
    }
    Ok(())
}

/// A change to a running session.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSession {
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default)]
    pub fit: Option<String>,
    /// A new input list: kept inputs go on without a gap, new ones join, missing ones leave.
    #[serde(default)]
    pub inputs: Option<Vec<SessionInputSpec>>,
}

pub use super::session_view::{
    CommentView, RenditionView, SessionStateWire, SessionView, StageTimesView, ViewStatusView,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> ApiResult<SessionSpec> {
        SessionSpec::try_from(serde_json::from_str::<CreateSession>(json).expect("parses"))
    }

    #[test]
    fn a_request_converts_with_its_defaults() {
        let s = spec(r#"{"inputs":[{"room":"room_a"},{"url":"rtmp://x/live/b"}]}"#).unwrap();
        assert_eq!(s.inputs, vec![SessionInput::Room("room_a".into()), SessionInput::Url("rtmp://x/live/b".into())]);
        assert_eq!(
            (s.layout, s.fits.clone(), s.size, s.fps.as_f64()),
            (Layout::SideBySide, vec![Fit::Fill], (1280, 720), 30.0)
        );
        assert_eq!(s.bitrate_kbps, DEFAULT_BITRATE_KBPS);
        assert!(s.masking.is_none() && !s.pending && s.views.is_empty());
    }

    #[test]
    fn fps_is_taken_as_a_number_or_a_string() {
        let n = spec(r#"{"inputs":[{"room":"r"}],"fps":25}"#).unwrap();
        let t = spec(r#"{"inputs":[{"room":"r"}],"fps":"30000/1001"}"#).unwrap();
        assert_eq!((n.fps.num, n.fps.den), (25, 1));
        assert_eq!((t.fps.num, t.fps.den), (30000, 1001));
        assert!(spec(r#"{"inputs":[{"room":"r"}],"fps":29.97}"#).is_ok());
    }

    #[test]
    fn bounds_are_checked_once_here() {
        for bad in [
            r#"{"inputs":[]}"#,
            r#"{"inputs":[{"room":"r","url":"rtmp://x/y"}]}"#,
            r#"{"inputs":[{"room":"r"}],"fps":120}"#,
            r#"{"inputs":[{"room":"r"}],"size":"7680x4320"}"#,
            r#"{"inputs":[{"room":"r"}],"size":"1282x720"}"#,
            r#"{"inputs":[{"room":"r"}],"fit":"fit,fill"}"#,
            r#"{"inputs":[{"room":"r"}],"layout":"diagonal"}"#,
            r#"{"inputs":[{"room":"r"}],"bitrate_kbps":5}"#,
            r#"{"inputs":[{"room":"r"}],"masking":{"channel":"c","tracker":{"detect_every":0}}}"#,
        ] {
            let e = spec(bad).expect_err(bad);
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn a_tracker_keeps_the_defaults_it_does_not_set() {
        let t: TrackerWire = serde_json::from_str(r#"{"range":"full","detect_every":3}"#).unwrap();
        let c = crate::face::TrackerConfig::try_from(t).unwrap();
        assert_eq!((c.range, c.detect_every), (crate::face::Range::Full, 3));
        assert_eq!(c.max_faces, crate::face::TrackerConfig::default().max_faces);
    }
}
