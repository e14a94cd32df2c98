//! Invitations on the wire: a PK invitation as clients send it, converted once into the PK
//! session's spec and its anchors, and an invitation as the API shows it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sessions_wire::{self as sessions, SessionInputSpec};
use super::{ApiError, ApiResult, AppState};
use crate::compose::PkChange;
use crate::session::invite::{InvitationStatus, InviteState};
use crate::session::pk_plan::{pk_spec, PkAnchor};
use crate::session::{SessionInput, SessionSpec};

/// Seconds the invited anchor has to answer, unless the invitation says.
pub const DEFAULT_TIMEOUT_S: f64 = 30.0;

/// One anchor of a PK: its stream (a room of this service or a URL to pull) and its room's output.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchorSpec {
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// Name on the PK bar (default: the room's name, else "A" / "B").
    #[serde(default)]
    pub name: Option<String>,
    /// rtmp:// destinations of this anchor's room output, besides the room's stored destinations
    /// and costream's HLS.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Loudness of this anchor in both outputs (default 1).
    #[serde(default)]
    pub gain: Option<f32>,
    /// Also produce this anchor's monitor output (comments and gifts are drawn there only).
    #[serde(default)]
    pub monitor: bool,
    /// A second stream of this anchor that brings more audio (app or game sound beside the
    /// microphone): mixed with the anchor, aligned by stream timestamp; its pictures are not shown.
    #[serde(default)]
    pub audio_url: Option<String>,
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// The inviting anchor (side A: left in its own room's output).
    pub from: AnchorSpec,
    /// The invited anchor (side B: left in its room's output).
    pub to: AnchorSpec,
    /// Seconds B has to answer (default 30).
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// side-by-side (default), pip, grid or vstack.
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default)]
    pub fit: Option<String>,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub fps: Option<super::sessions_wire::FpsWire>,
    #[serde(default)]
    pub bitrate_kbps: Option<u32>,
    /// The PK bar's settings; names default to the anchors'.
    #[serde(default)]
    pub pk: Option<super::pk_wire::PkPatch>,
}

/// An invitation, checked: its PK session before the service adds the rooms' destinations and
/// names, its anchors, the bar's first settings and the time to answer.
pub struct InvitationPlan {
    pub spec: SessionSpec,
    pub anchors: [PkAnchor; 2],
    /// Names given in the request (None: the room's name, else "A" / "B").
    pub names: [Option<String>; 2],
    pub pk: Option<PkChange>,
    pub timeout: std::time::Duration,
}

fn anchor(a: &AnchorSpec) -> ApiResult<PkAnchor> {
    if a.gain.is_some_and(|g| !(0.0..=4.0).contains(&g)) {
        return Err(ApiError::invalid("gain must be 0 to 4"));
    }
    let name = a.name.clone().unwrap_or_default();
    if name.chars().count() > 64 {
        return Err(ApiError::invalid("name: at most 64 characters"));
    }
    Ok(PkAnchor {
        outputs: a.outputs.clone(),
        name,
        gain: a.gain.unwrap_or(1.0),
        monitor: a.monitor,
        audio_url: a.audio_url.clone(),
    })
}

impl TryFrom<CreateInvitation> for InvitationPlan {
    type Error = ApiError;
    fn try_from(b: CreateInvitation) -> ApiResult<InvitationPlan> {
        let CreateInvitation { from, to, timeout_s, layout, fit, size, fps, bitrate_kbps, pk } = b;
        let timeout = timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
        if !(0.1..=3600.0).contains(&timeout) {
            return Err(ApiError::invalid("timeout_s must be 0.1 to 3600"));
        }
        let input = |a: &AnchorSpec| SessionInputSpec { room: a.room.clone(), url: a.url.clone() };
        let spec = SessionSpec::try_from(sessions::CreateSession {
            inputs: vec![input(&from), input(&to)],
            layout,
            fit,
            size,
            fps,
            outputs: vec![],
            bitrate_kbps,
            record: false,
            masking: None,
        })?;
        Ok(InvitationPlan {
            spec,
            anchors: [anchor(&from)?, anchor(&to)?],
            names: [from.name, to.name],
            pk: pk.map(PkChange::try_from).transpose()?,
            timeout: std::time::Duration::from_secs_f64(timeout),
        })
    }
}

/// The PK session an invitation starts and the anchors' names: checked against the service, each
/// room's destinations on that room's own output, names from the rooms. Blocking (the database).
pub(super) fn resolve(s: &AppState, plan: InvitationPlan) -> ApiResult<(SessionSpec, [String; 2])> {
    let InvitationPlan { spec, mut anchors, names, pk, .. } = plan;
    sessions::check_inputs(s, &spec.inputs)?;
    for (side, a) in anchors.iter_mut().enumerate() {
        sessions::check_outputs(s, &a.outputs)?;
        if let Some(u) = &a.audio_url {
            s.url_policy.check_input(u).map_err(ApiError::refused)?;
        }
        let mut name = names[side].clone();
        if let SessionInput::Room(r) = &spec.inputs[side] {
            sessions::add_room_pushes(s, r, &mut a.outputs)?;
            name = name.or_else(|| s.store.room(r).ok().map(|room| room.name));
        }
        a.name = name.unwrap_or_else(|| ["A", "B"][side].to_string());
    }
    let names = [anchors[0].name.clone(), anchors[1].name.clone()];
    Ok((pk_spec(spec, anchors, pk.as_ref())?, names))
}

/// Where an invitation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InviteStateWire {
    /// Sent; both streams are being pulled, nothing is output yet.
    Pending,
    /// Accepted: the merged outputs are live.
    Accepted,
    Declined,
    Cancelled,
    Expired,
    /// The merge ended (hang-up); each room's output goes on solo until its session is stopped.
    Ended,
}

impl From<InviteState> for InviteStateWire {
    fn from(s: InviteState) -> InviteStateWire {
        match s {
            InviteState::Pending => InviteStateWire::Pending,
            InviteState::Accepted => InviteStateWire::Accepted,
            InviteState::Declined => InviteStateWire::Declined,
            InviteState::Cancelled => InviteStateWire::Cancelled,
            InviteState::Expired => InviteStateWire::Expired,
            InviteState::Ended => InviteStateWire::Ended,
        }
    }
}

/// An invitation as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub state: InviteStateWire,
    /// The session that pulls both anchors and, once accepted, produces the merged outputs.
    pub session: String,
    /// Pending, and its session composes already, so the accept shows the PK at once; false
    /// while pending: the service holds its most such sessions (`warm_invitations`) and this
    /// one's starts at the accept (or when a place frees up).
    pub prepared: bool,
    pub from: String,
    pub to: String,
    /// Seconds left to answer (pending only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_s: Option<f64>,
}

impl From<InvitationStatus> for InvitationView {
    fn from(i: InvitationStatus) -> InvitationView {
        let InvitationStatus { id, state, session, prepared, from, to, expires_in_s } = i;
        InvitationView { id, state: state.into(), session, prepared, from, to, expires_in_s }
    }
}

/// What a comment or gift notification says.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostComment {
    /// Whose monitor shows it: "a" (the inviting anchor) or "b".
    pub anchor: String,
    #[serde(default)]
    pub user: Option<String>,
    pub text: String,
    /// "comment" (default) or "gift".
    #[serde(default)]
    pub kind: Option<String>,
    /// Gift count or value.
    #[serde(default)]
    pub value: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> ApiResult<InvitationPlan> {
        InvitationPlan::try_from(serde_json::from_str::<CreateInvitation>(json).expect("parses"))
    }

    #[test]
    fn an_invitation_converts_into_a_two_anchor_plan() {
        let p = plan(r#"{"from":{"room":"room_a","gain":0.5},"to":{"url":"rtmp://x/live/b","name":"Bob"},"pk":{"scores":[1,2]}}"#)
            .unwrap();
        assert_eq!(
            p.spec.inputs,
            vec![SessionInput::Room("room_a".into()), SessionInput::Url("rtmp://x/live/b".into())]
        );
        assert_eq!((p.anchors[0].gain, p.anchors[1].gain), (0.5, 1.0));
        assert_eq!(p.names, [None, Some("Bob".to_string())]);
        assert_eq!(p.pk.and_then(|c| c.scores), Some([1, 2]));
        assert_eq!(p.timeout.as_secs_f64(), DEFAULT_TIMEOUT_S);
    }

    #[test]
    fn bad_invitations_are_refused() {
        for bad in [
            r#"{"from":{"room":"a"},"to":{"room":"b"},"timeout_s":0}"#,
            r#"{"from":{"room":"a","gain":9},"to":{"room":"b"}}"#,
            r#"{"from":{"room":"a"},"to":{}}"#,
            r#"{"from":{"room":"a"},"to":{"room":"b"},"pk":{"text_color":"white"}}"#,
        ] {
            assert_eq!(plan(bad).err().map(|e| e.status()), Some(axum::http::StatusCode::BAD_REQUEST), "{bad}");
        }
    }
}
