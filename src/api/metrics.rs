//! `/metrics`: the service's state in Prometheus' text format (OpenMetrics), written by
//! prometheus-client — counters and gauges read from the live state at each scrape, and per
//! session histograms of the stage times and the tick lateness, so operators get quantiles.
//! Per-output series carry their view, so a PK's outputs never collide.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::AppState;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A gauge without labels.
fn gauge(r: &mut Registry, name: &str, help: &str, v: i64) {
    let g: Gauge = Gauge::default();
    g.set(v);
    r.register(name, help, g);
}

/// A family of counters (the `_total` suffix is added by the encoder), filled now.
fn counters(r: &mut Registry, name: &str, help: &str, values: impl IntoIterator<Item = (Labels, u64)>) {
    let f: Family<Labels, Counter> = Family::default();
    for (l, v) in values {
        f.get_or_create(&l).inc_by(v);
    }
    r.register(name, help, f);
}

fn gauges(r: &mut Registry, name: &str, help: &str, values: impl IntoIterator<Item = (Labels, i64)>) {
    let f: Family<Labels, Gauge> = Family::default();
    for (l, v) in values {
        f.get_or_create(&l).set(v);
    }
    r.register(name, help, f);
}

fn registry(s: &AppState) -> Registry {
    let mut r = Registry::default();
    let live = s.rooms.live_count();
    gauge(&mut r, "costream_rooms_live", "Rooms whose anchor is publishing now.", live as i64);
    let (frame_bytes, decoders) = crate::media::frame::memory();
    gauge(
        &mut r,
        "costream_decoded_frame_bytes",
        "Memory held by decoded pictures (frame rings and frames on screen).",
        frame_bytes as i64,
    );
    gauge(&mut r, "costream_decoders_running", "Decode threads running.", decoders as i64);
    rooms(&mut r, s);
    sessions(&mut r, s);
    renditions(&mut r, s);
    r.register(
        "costream_stage_ms",
        "Per-frame time of a session's stage in ms (upload, composite on the GPU, encode), and how late each tick started (tick_lateness).",
        s.sessions.stage_histograms().clone(),
    );
    r
}

/// Each room's feed.
fn rooms(r: &mut Registry, s: &AppState) {
    let feeds = s.rooms.feed_counters();
    let room = |id: &str| labels(&[("room", id)]);
    counters(
        r,
        "costream_input_frames",
        "Video frames decoded from a room's publisher.",
        feeds.iter().map(|f| (room(&f.room), f.frames)),
    );
    counters(
        r,
        "costream_input_bytes",
        "Compressed bytes received from a room's publisher.",
        feeds.iter().map(|f| (room(&f.room), f.bytes)),
    );
    counters(
        r,
        "costream_input_dropped_frames",
        "Decoded frames dropped because the compositor was behind.",
        feeds.iter().map(|f| (room(&f.room), f.dropped)),
    );
    gauges(
        r,
        "costream_input_connected",
        "1 while the room's anchor is publishing.",
        feeds.iter().map(|f| (room(&f.room), f.connected as i64)),
    );
    gauges(
        r,
        "costream_input_ring_frames",
        "Decoded frames each reader of the room holds at most (sized by ring_budget_mb from the first frame).",
        feeds.iter().map(|f| (room(&f.room), f.ring_frames as i64)),
    );
}

/// Each session and each of its outputs (push keys redacted).
fn sessions(r: &mut Registry, s: &AppState) {
    let sessions = s.sessions.session_counters();
    counters(
        r,
        "costream_session_frames",
        "Frames composed by a session.",
        sessions.iter().map(|c| (labels(&[("session", &c.id)]), c.frames)),
    );
    counters(
        r,
        "costream_ticks_skipped",
        "Ticks a session skipped because it was late (its timeline keeps the wall clock).",
        sessions.iter().map(|c| (labels(&[("session", &c.id)]), c.ticks_skipped)),
    );
    let outputs: Vec<(Labels, &crate::outputs::OutputStats)> = sessions
        .iter()
        .flat_map(|c| {
            c.outputs
                .iter()
                .map(move |(view, url, st)| (labels(&[("session", &c.id), ("view", view), ("output", url)]), &**st))
        })
        .collect();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    counters(
        r,
        "costream_output_packets",
        "Packets written to an output.",
        outputs.iter().map(|(l, s)| (l.clone(), load(&s.packets))),
    );
    counters(
        r,
        "costream_output_bytes",
        "Bytes written to an output.",
        outputs.iter().map(|(l, s)| (l.clone(), load(&s.bytes))),
    );
    counters(
        r,
        "costream_output_dropped",
        "Packets an output dropped (queue full or disconnected).",
        outputs.iter().map(|(l, s)| (l.clone(), load(&s.dropped))),
    );
    counters(
        r,
        "costream_output_reconnects",
        "Reconnections of a network output.",
        outputs.iter().map(|(l, s)| (l.clone(), load(&s.reconnects))),
    );
    gauges(
        r,
        "costream_output_queued",
        "Packets waiting in an output's queue now.",
        outputs.iter().map(|(l, s)| (l.clone(), load(&s.queued) as i64)),
    );
}

/// Each masked session's renditions in use, with their viewers, and its states refused at the cap.
fn renditions(r: &mut Registry, s: &AppState) {
    let all = s.sessions.all_renditions();
    let mut rows = Vec::new();
    for (id, rs) in &all {
        for x in rs.list() {
            let masked: Vec<&str> =
                x.mask.as_ref().map(|m| m.organs.iter().map(|o| o.name()).collect()).unwrap_or_default();
            let l = labels(&[("session", id), ("rendition", &x.name), ("masked", &masked.join(","))]);
            rows.push((l, x.viewers as i64));
        }
    }
    gauges(
        r,
        "costream_rendition_viewers",
        "Viewers in a rendition's unlock state (one series per rendition in use).",
        rows,
    );
    counters(
        r,
        "costream_rendition_cap_reached",
        "Unlock states a session had no place for (their viewers got a more masked rendition).",
        all.iter()
            .map(|(id, rs)| (labels(&[("session", id)]), rs.cap_reached.load(std::sync::atomic::Ordering::Relaxed))),
    );
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format (OpenMetrics)")))]
pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &registry(&s)) {
        return super::ApiError::server("internal", &e).into_response();
    }
    ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], out)
        .into_response()
}
