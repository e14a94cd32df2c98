//! Channels on the wire: a channel's unlock rules, the organs and mask styles they name, and the
//! viewers' behaviour reports, each converted once into the session layer's types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiResult};
use crate::compose::MaskStyle;
use crate::face::Organ;
use crate::session::unlock::{Behaviour, UnlockRules};

/// What a mask can cover (`face`: the whole face oval).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganWire {
    Eyes,
    Brows,
    Nose,
    Mouth,
    Cheeks,
    Chin,
    Forehead,
    Face,
}

/// Both ways, one table.
const ORGANS: [(OrganWire, Organ); 8] = [
    (OrganWire::Eyes, Organ::Eyes),
    (OrganWire::Brows, Organ::Brows),
    (OrganWire::Nose, Organ::Nose),
    (OrganWire::Mouth, Organ::Mouth),
    (OrganWire::Cheeks, Organ::Cheeks),
    (OrganWire::Chin, Organ::Chin),
    (OrganWire::Forehead, Organ::Forehead),
    (OrganWire::Face, Organ::Face),
];

impl From<OrganWire> for Organ {
    fn from(w: OrganWire) -> Organ {
        ORGANS.iter().find(|(a, _)| *a == w).map(|(_, o)| *o).unwrap_or(Organ::Face)
    }
}

impl From<Organ> for OrganWire {
    fn from(o: Organ) -> OrganWire {
        ORGANS.iter().find(|(_, b)| *b == o).map(|(w, _)| *w).unwrap_or(OrganWire::Face)
    }
}

/// A graduated blur, or a sticker fitted and turned to each organ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaskStyleWire {
    Blur,
    Sticker,
}

/// Points per behaviour, level thresholds and what each level shows; a field left out keeps its
/// default.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RulesWire {
    pub like: f64,
    pub comment: f64,
    pub share: f64,
    pub gift_per_value: f64,
    pub watch_per_minute: f64,
    pub reading_per_percent: f64,
    /// Points needed for levels 1, 2, …; the last level shows the face unmasked.
    pub levels: Vec<f64>,
    /// Organs masked at level 0.
    pub locked: Vec<OrganWire>,
    /// The order in which levels unlock organs (level L unlocks the first L of these).
    pub unlock_order: Vec<OrganWire>,
    /// Blur strength at level 0; it drops by `sigma_drop` (a fraction) per level.
    pub sigma: f32,
    pub sigma_drop: f32,
    pub feather: f32,
    pub style: MaskStyleWire,
}

impl Default for RulesWire {
    fn default() -> Self {
        UnlockRules::default().into()
    }
}

impl From<UnlockRules> for RulesWire {
    fn from(r: UnlockRules) -> RulesWire {
        let UnlockRules {
            like,
            comment,
            share,
            gift_per_value,
            watch_per_minute,
            reading_per_percent,
            levels,
            locked,
            unlock_order,
            sigma,
            sigma_drop,
            feather,
            style,
        } = r;
        let style = match style {
            MaskStyle::Blur => MaskStyleWire::Blur,
            MaskStyle::Sticker => MaskStyleWire::Sticker,
        };
        let organs = |v: Vec<Organ>| v.into_iter().map(Into::into).collect();
        RulesWire {
            like,
            comment,
            share,
            gift_per_value,
            watch_per_minute,
            reading_per_percent,
            levels,
            locked: organs(locked),
            unlock_order: organs(unlock_order),
            sigma,
            sigma_drop,
            feather,
            style,
        }
    }
}

impl TryFrom<RulesWire> for UnlockRules {
    type Error = ApiError;
    fn try_from(w: RulesWire) -> ApiResult<UnlockRules> {
        let RulesWire {
            like,
            comment,
            share,
            gift_per_value,
            watch_per_minute,
            reading_per_percent,
            levels,
            locked,
            unlock_order,
            sigma,
            sigma_drop,
            feather,
            style,
        } = w;
        let style = match style {
            MaskStyleWire::Blur => MaskStyle::Blur,
            MaskStyleWire::Sticker => MaskStyle::Sticker,
        };
        let organs = |v: Vec<OrganWire>| v.into_iter().map(Into::into).collect();
        let r = UnlockRules {
            like,
            comment,
            share,
            gift_per_value,
            watch_per_minute,
            reading_per_percent,
            levels,
            locked: organs(locked),
            unlock_order: organs(unlock_order),
            sigma,
            sigma_drop,
            feather,
            style,
        };
        r.validate().map_err(ApiError::invalid)?;
        Ok(r)
    }
}

/// A viewer's behaviour, as the platform, the viewer page or an operator reports it.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BehaviourWire {
    Like,
    Comment,
    Share,
    /// A gift worth `value` (the platform's unit).
    Gift {
        value: f64,
    },
    /// Seconds watched since the last report.
    Watch {
        seconds: f64,
    },
    /// Reading progress gained, in percent.
    Reading {
        percent: f64,
    },
}

impl TryFrom<BehaviourWire> for Behaviour {
    type Error = ApiError;
    fn try_from(w: BehaviourWire) -> ApiResult<Behaviour> {
        let b = match w {
            BehaviourWire::Like => Behaviour::Like,
            BehaviourWire::Comment => Behaviour::Comment,
            BehaviourWire::Share => Behaviour::Share,
            BehaviourWire::Gift { value } => Behaviour::Gift { value },
            BehaviourWire::Watch { seconds } => Behaviour::Watch { seconds },
            BehaviourWire::Reading { percent } => Behaviour::Reading { percent },
        };
        b.validate().map_err(ApiError::invalid)?;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_convert_both_ways_and_keep_defaults() {
        let w: RulesWire =
            serde_json::from_str(r#"{"levels":[5,10],"locked":["eyes","face"],"style":"sticker"}"#).unwrap();
        let r = UnlockRules::try_from(w).unwrap();
        assert_eq!((r.levels.clone(), r.locked.clone()), (vec![5.0, 10.0], vec![Organ::Eyes, Organ::Face]));
        assert_eq!((r.style, r.like), (MaskStyle::Sticker, UnlockRules::default().like));
        let back = RulesWire::from(r.clone());
        assert_eq!(UnlockRules::try_from(back).unwrap(), r);
        for (w, o) in ORGANS {
            assert_eq!((Organ::from(w), OrganWire::from(o)), (o, w));
        }
    }

    #[test]
    fn bad_rules_and_reports_are_refused() {
        let w: RulesWire = serde_json::from_str(r#"{"sigma":-1}"#).unwrap();
        assert_eq!(UnlockRules::try_from(w).unwrap_err().status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(serde_json::from_str::<RulesWire>(r#"{"locked":["tail"]}"#).is_err());
        let b: BehaviourWire = serde_json::from_str(r#"{"kind":"gift","value":1e12}"#).unwrap();
        assert!(Behaviour::try_from(b).is_err());
        let b: BehaviourWire = serde_json::from_str(r#"{"kind":"watch","seconds":30}"#).unwrap();
        assert_eq!(Behaviour::try_from(b).unwrap(), Behaviour::Watch { seconds: 30.0 });
    }
}
