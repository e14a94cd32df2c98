//! A PK's session: two anchors, each room with its own mirrored output (its anchor on the left),
//! optional monitors that also show the comments, both anchors heard in every output at their
//! gains, an anchor's second audio stream fused with it, and the PK bar with the anchors' names.

use super::{SessionError, SessionInput, SessionSpec};
use crate::compose::{PkBar, PkSettings, ViewSpec};
use crate::media::Fit;

/// One side of a PK, as the session needs it (the API has resolved its room's destinations and
/// name).
#[derive(Clone, Debug, Default)]
pub struct PkAnchor {
    /// This anchor's room output's destinations.
    pub outputs: Vec<String>,
    /// Name on the PK bar.
    pub name: String,
    /// Loudness in both outputs.
    pub gain: f32,
    /// Also produce this anchor's monitor output.
    pub monitor: bool,
    /// A second stream of this anchor that brings only more audio.
    pub audio_url: Option<String>,
}

/// Turns a two-input session spec (side A's input first) into the PK's: the views, the second
/// audio inputs, and the bar (defaults with the anchors' names, then `pk` merged over them).
pub fn pk_spec(
    mut spec: SessionSpec,
    anchors: [PkAnchor; 2],
    pk: Option<&crate::compose::PkChange>,
) -> Result<SessionSpec, SessionError> {
    // Each room's destinations get that room's own (mirrored) output, not a shared one.
    spec.outputs.clear();
    let gains: Vec<f32> = anchors.iter().map(|a| a.gain).collect();
    let mut views = Vec::new();
    for (side, a) in anchors.iter().enumerate() {
        let label = ["a", "b"][side];
        let order = if side == 0 { vec![0, 1] } else { vec![1, 0] };
        let view = ViewSpec {
            name: label.into(),
            outputs: a.outputs.clone(),
            order,
            mirrored: side == 1,
            gains: gains.clone(),
            ..Default::default()
        };
        if a.monitor {
            let monitor = ViewSpec {
                name: format!("{label}_monitor"),
                outputs: vec![],
                monitor: Some(label.into()),
                ..view.clone()
            };
            views.extend([view, monitor]);
        } else {
            views.push(view);
        }
    }
    let now = std::time::Instant::now();
    let mut bar = PkBar::new(
        PkSettings { names: [anchors[0].name.clone(), anchors[1].name.clone()], ..PkSettings::default() },
        now,
    );
    if let Some(p) = pk {
        bar.update(p, now, spec.size)?;
    }
    // Second audio streams come after the two anchors' inputs.
    spec.audio_of = vec![None, None];
    for (side, a) in anchors.iter().enumerate() {
        let Some(u) = &a.audio_url else { continue };
        if u.trim().is_empty() {
            return Err(SessionError::EmptyAudioUrl);
        }
        spec.inputs.push(SessionInput::Url(u.clone()));
        spec.audio_of.push(Some(side));
        if spec.fits.len() > 1 {
            // One fit per input: the audio stream's is never used.
            spec.fits.push(Fit::default());
        }
    }
    spec.views = views;
    spec.pk = Some(bar.settings);
    Ok(spec)
}
