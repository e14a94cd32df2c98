//! The PK bar on the wire: a change as clients send it (any of the fields; `null` clears `rect`,
//! `countdown_s` and `winner`), converted once into the bar's typed change, and the settings as
//! the session's status shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::compose::{PkChange, PkSettings, Winner};
use crate::media::Colour;

/// Who won a PK round: `a` (the inviting anchor), `b` (the invited one) or `draw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WinnerWire {
    A,
    B,
    Draw,
}

impl From<WinnerWire> for Winner {
    fn from(w: WinnerWire) -> Winner {
        match w {
            WinnerWire::A => Winner::A,
            WinnerWire::B => Winner::B,
            WinnerWire::Draw => Winner::Draw,
        }
    }
}

impl From<Winner> for WinnerWire {
    fn from(w: Winner) -> WinnerWire {
        match w {
            Winner::A => WinnerWire::A,
            Winner::B => WinnerWire::B,
            Winner::Draw => WinnerWire::Draw,
        }
    }
}

/// A change to the PK bar: any of its fields; what is left out stays.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PkPatch {
    pub visible: Option<bool>,
    /// Display names of side 0 (inviter) and side 1 (invitee); any script, up to 64 characters.
    pub names: Option<[String; 2]>,
    pub scores: Option<[u64; 2]>,
    /// Bar rectangle in output pixels: x, y, width, height, inside the frame (`null`: the default
    /// place, across the frame near the bottom).
    #[serde(deserialize_with = "set_or_clear")]
    #[schema(value_type = Option<[f32; 4]>)]
    pub rect: Option<Option<[f32; 4]>>,
    /// Side 0's gradient, outer end then the end at the split (`#rrggbb` or `#rrggbbaa`).
    pub colors_a: Option<[String; 2]>,
    /// Side 1's gradient, the end at the split then the outer end.
    pub colors_b: Option<[String; 2]>,
    pub text_color: Option<String>,
    /// Text size in pixels (0: from the bar height).
    pub text_size: Option<f32>,
    /// Duration of the split's animation to new scores, in milliseconds (0: jump).
    pub animate_ms: Option<u32>,
    /// Seconds left in the round, counted from now (`null`: no countdown).
    #[serde(deserialize_with = "set_or_clear")]
    #[schema(value_type = Option<u32>)]
    pub countdown_s: Option<Option<u32>>,
    /// Shows the winner now (`null`: nobody yet).
    #[serde(deserialize_with = "set_or_clear")]
    #[schema(value_type = Option<WinnerWire>)]
    pub winner: Option<Option<WinnerWire>>,
}

fn set_or_clear<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn colour(field: &str, c: &str) -> Result<Colour, ApiError> {
    c.parse().map_err(|e| ApiError::invalid(format!("pk: {field}: {e}")))
}

fn pair(field: &str, c: Option<[String; 2]>) -> Result<Option<[Colour; 2]>, ApiError> {
    c.map(|[a, b]| Ok([colour(field, &a)?, colour(field, &b)?])).transpose()
}

impl TryFrom<PkPatch> for PkChange {
    type Error = ApiError;
    fn try_from(p: PkPatch) -> Result<PkChange, ApiError> {
        let PkPatch {
            visible,
            names,
            scores,
            rect,
            colors_a,
            colors_b,
            text_color,
            text_size,
            animate_ms,
            countdown_s,
            winner,
        } = p;
        Ok(PkChange {
            visible,
            names,
            scores,
            rect,
            colors_a: pair("colors_a", colors_a)?,
            colors_b: pair("colors_b", colors_b)?,
            text_color: text_color.map(|c| colour("text_color", &c)).transpose()?,
            text_size,
            animate_ms,
            countdown_s,
            winner: winner.map(|w| w.map(Winner::from)),
        })
    }
}

/// The PK bar as a session shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PkView {
    pub visible: bool,
    pub names: [String; 2],
    pub scores: [u64; 2],
    pub rect: Option<[f32; 4]>,
    pub colors_a: [String; 2],
    pub colors_b: [String; 2],
    pub text_color: String,
    pub text_size: f32,
    pub animate_ms: u32,
    pub countdown_s: Option<u32>,
    pub winner: Option<WinnerWire>,
}

impl From<PkSettings> for PkView {
    fn from(s: PkSettings) -> PkView {
        PkView {
            visible: s.visible,
            names: s.names,
            scores: s.scores,
            rect: s.rect,
            colors_a: s.colors_a.map(|c| c.to_string()),
            colors_b: s.colors_b.map(|c| c.to_string()),
            text_color: s.text_color.to_string(),
            text_size: s.text_size,
            animate_ms: s.animate_ms,
            countdown_s: s.countdown_s,
            winner: s.winner.map(WinnerWire::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(json: &str) -> Result<PkChange, ApiError> {
        PkChange::try_from(serde_json::from_str::<PkPatch>(json).expect("parses"))
    }

    #[test]
    fn a_patch_converts_field_by_field() {
        let c = change(r##"{"scores":[1200,800],"colors_b":["#5ac8fa","#0a84ff80"],"rect":null,"winner":"draw"}"##)
            .unwrap();
        assert_eq!(c.scores, Some([1200, 800]));
        assert_eq!(c.colors_b, Some([Colour([0x5a, 0xc8, 0xfa, 255]), Colour([0x0a, 0x84, 0xff, 0x80])]));
        assert_eq!((c.rect, c.winner, c.countdown_s), (Some(None), Some(Some(Winner::Draw)), None));
        assert_eq!(change("{}").unwrap(), PkChange::default());
    }

    #[test]
    fn a_bad_colour_is_refused_naming_the_field() {
        let e = change(r##"{"colors_a":["red","#000000"]}"##).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(e.message().contains("colors_a"), "{}", e.message());
        assert!(serde_json::from_str::<PkPatch>(r#"{"nonsense":1}"#).is_err());
    }
}
