//! A room's audience: our own viewers (from their viewer URLs), now and over time, and each
//! viewer's watching. An operator's or the room's anchor's.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiResult, AppState, ErrorBody};
use crate::audience::{SortBy, Summary, ViewerStats};
use crate::platforms::PlatformCount;

/// One minute of the timeline.
#[derive(Default, Serialize, ToSchema)]
pub struct MinuteView {
    /// Unix seconds of the minute's start.
    pub minute: i64,
    /// The most viewers online at once in that minute.
    pub online_peak: u64,
    pub joins: u64,
    pub leaves: u64,
    /// The room was paused during the minute.
    pub paused: bool,
    /// Each platform's highest count in the minute (`GET /platforms`).
    pub platforms: std::collections::BTreeMap<String, u64>,
    /// Ours and the platforms' together.
    pub all_peak: u64,
}

/// A platform's audience of the room, as it reported it.
#[derive(Serialize, ToSchema)]
pub struct PlatformCountView {
    pub platform: String,
    pub online: u64,
    pub peak: u64,
    /// Distinct viewers it named in its joins.
    pub total: u64,
}

/// A room's audience: online now, distinct viewers ever, the peak, and the per-minute timeline.
#[derive(Serialize, ToSchema)]
pub struct AudienceView {
    pub room_id: String,
    pub online: u64,
    pub total: u64,
    pub peak: u64,
    /// Unix milliseconds.
    pub peak_at_ms: Option<i64>,
    /// Each third-party platform's numbers (polled, or pushed by the platform).
    pub platforms: Vec<PlatformCountView>,
    /// Online now here and on every platform.
    pub all_online: u64,
    /// The per-minute timeline: ours, each platform's and their sum.
    pub timeline: Vec<MinuteView>,
}

/// One viewer of a room.
#[derive(Serialize, ToSchema)]
pub struct AudienceViewerView {
    /// The viewer's id (from their token; never the token).
    pub viewer: String,
    pub name: Option<String>,
    pub online: bool,
    /// Unix milliseconds.
    pub first_join_ms: Option<i64>,
    pub last_leave_ms: Option<i64>,
    pub leaves: u64,
    pub watch_s: f64,
}

#[derive(Serialize, ToSchema)]
pub struct ViewerPage {
    /// Viewers in all pages.
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
    pub viewers: Vec<AudienceViewerView>,
}

/// A page of viewers: `sort` is `first_join` (default), `last_leave`, `leaves` or `watch_time`;
/// `order` `asc` (default) or `desc`; `page` from 0; `per_page` 1 to 500 (100).
#[derive(Deserialize, IntoParams)]
#[serde(default)]
pub struct ViewerQuery {
    pub sort: String,
    pub order: String,
    pub page: usize,
    pub per_page: usize,
}

impl Default for ViewerQuery {
    fn default() -> Self {
        ViewerQuery { sort: "first_join".into(), order: "asc".into(), page: 0, per_page: 100 }
    }
}

impl From<ViewerStats> for AudienceViewerView {
    fn from(v: ViewerStats) -> AudienceViewerView {
        let ViewerStats { viewer, name, online, first_join_ms, last_leave_ms, leaves, watch_s } = v;
        AudienceViewerView { viewer, name, online, first_join_ms, last_leave_ms, leaves, watch_s }
    }
}

/// Ours and the platforms' on one timeline: every minute either has a row.
fn view(room_id: String, s: Summary, platforms: Vec<PlatformCount>, minutes: Vec<(String, i64, u64)>) -> AudienceView {
    use std::collections::BTreeMap;
    let mut rows: BTreeMap<i64, MinuteView> = BTreeMap::new();
    let empty = |minute| MinuteView { minute, ..Default::default() };
    for m in s.timeline {
        let row = rows.entry(m.minute).or_insert_with(|| empty(m.minute));
        (row.online_peak, row.joins, row.leaves, row.paused) = (m.online_peak, m.joins, m.leaves, m.paused);
    }
    for (p, minute, n) in minutes {
        rows.entry(minute).or_insert_with(|| empty(minute)).platforms.insert(p, n);
    }
    let timeline = rows
        .into_values()
        .map(|mut r| {
            r.all_peak = r.online_peak + r.platforms.values().sum::<u64>();
            r
        })
        .collect();
    let all_online = s.online + platforms.iter().map(|p| p.online).sum::<u64>();
    let platforms = platforms
        .into_iter()
        .map(|p| PlatformCountView { platform: p.platform, online: p.online, peak: p.peak, total: p.total })
        .collect();
    AudienceView {
        room_id,
        online: s.online,
        total: s.total,
        peak: s.peak,
        peak_at_ms: s.peak_at_ms,
        platforms,
        all_online,
        timeline,
    }
}

#[utoipa::path(get, path = "/rooms/{id}/audience", params(("id" = String, Path)),
    responses((status = 200, body = AudienceView), (status = 404, body = ErrorBody)))]
pub(super) async fn room_audience(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<AudienceView>> {
    let (room, st) = (id.clone(), s.clone());
    let minutes = super::blocking(move || {
        st.store.room(&room)?;
        Ok(st.platforms.audience.minutes(&room)?)
    })
    .await?;
    let platforms = s.platforms.audience.of_room(&id);
    Ok(Json(view(id.clone(), s.audience.summary(&id), platforms, minutes)))
}

#[utoipa::path(get, path = "/rooms/{id}/audience/viewers", params(("id" = String, Path), ViewerQuery),
    responses((status = 200, body = ViewerPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn room_viewers(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<ViewerQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ViewerPage>> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    let by = match q.sort.as_str() {
        "first_join" => SortBy::FirstJoin,
        "last_leave" => SortBy::LastLeave,
        "leaves" => SortBy::Leaves,
        "watch_time" => SortBy::WatchTime,
        _ => return Err(ApiError::invalid("sort: first_join, last_leave, leaves or watch_time")),
    };
    let descending = match q.order.as_str() {
        "asc" => false,
        "desc" => true,
        _ => return Err(ApiError::invalid("order: asc or desc")),
    };
    if !(1..=500).contains(&q.per_page) {
        return Err(ApiError::invalid("per_page: 1 to 500"));
    }
    let room = id.clone();
    super::db(&s, move |st| st.room(&room)).await?;
    let (total, viewers) = s.audience.viewers(&id, by, descending, q.page, q.per_page);
    let viewers = viewers.into_iter().map(Into::into).collect();
    Ok(Json(ViewerPage { total, page: q.page, per_page: q.per_page, viewers }))
}
