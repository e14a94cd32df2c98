//! Property tests standing in for fuzzing (the stable toolchain has no cargo fuzz): random JSON
//! through the request types a client controls (the core types, and every JSON route of a running
//! service), and random bytes on the RTMP port. Each property runs 256 cases, or as many as fit in
//! `PROPS_SECONDS` seconds when that is set (the long run).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use costream::compose::{PkBar, PkSettings};
use costream::ingest::rtmp::{IngestEvent, Refusal, RtmpServer, StreamKeys};
use costream::session::unlock::{Behaviour, UnlockRules};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

/// Runs `test` on random values of `strategy`: 256 cases, or batches until `PROPS_SECONDS` have
/// passed. A failure panics with the smallest failing value proptest finds.
fn check<S: Strategy>(what: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let deadline = std::env::var("PROPS_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let batch = if deadline.is_some() { 2048 } else { 256 };
    let (t0, mut total) = (Instant::now(), 0u64);
    loop {
        let mut runner = TestRunner::new(Config { cases: batch, failure_persistence: None, ..Config::default() });
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{what}: {e}");
        }
        total += batch as u64;
        if deadline.is_none_or(|d| Instant::now() >= d) {
            break;
        }
    }
    eprintln!("{what}: {total} cases passed in {:.0} s", t0.elapsed().as_secs_f64());
}

/// Any JSON value, nested a few levels, with numbers from tiny to huge and odd strings.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::from(n)),
        (-1e15f64..1e15).prop_map(|f| Value::from(f)),
        prop_oneof![Just(1e300), Just(-1e300), Just(0.0), Just(f64::MIN_POSITIVE)].prop_map(Value::from),
        "[a-z#0-9 ]{0,12}".prop_map(Value::String),
        ".{0,80}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Mostly the request types' own field names, so the values reach the checks behind them.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "visible",
            "names",
            "scores",
            "rect",
            "colors_a",
            "colors_b",
            "text_color",
            "text_size",
            "animate_ms",
            "countdown_s",
            "winner",
            "kind",
            "value",
            "seconds",
            "percent",
            "levels",
            "locked",
            "unlock_order",
            "sigma",
            "sigma_drop",
            "feather",
            "style",
            "like",
            "gift_per_value",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ]
}

/// A PK bar update either changes the bar into one that fits its frame, or changes nothing; it
/// never panics, whatever the JSON.
#[test]
fn pk_updates_fit_the_frame_or_change_nothing() {
    check("pk updates", (json(), 16u32..4000, 16u32..2200), |(patch, w, h)| {
        let now = Instant::now();
        let mut bar = PkBar::new(PkSettings::default(), now);
        let before = bar.settings.clone();
        // JSON that is not a change of the bar is refused before it reaches it.
        let Ok(patch) = serde_json::from_value::<costream::compose::PkChange>(patch) else { return Ok(()) };
        match bar.update(&patch, now, (w, h)) {
            Ok(()) => prop_assert!(bar.settings.validate_for((w, h)).is_ok(), "{:?}", bar.settings),
            Err(_) => prop_assert_eq!(&bar.settings, &before),
        }
        // Drawing what was accepted stays within bounds too.
        let _ = bar.elements(now, false, w, h, "p.");
        Ok(())
    });
}

/// Behaviour reports and unlock rules: random JSON is refused or accepted, never a panic, and
/// whatever is accepted counts a finite, non-negative number of points.
#[test]
fn behaviour_and_rules_never_count_wild_points() {
    check("behaviour and rules", (json(), json()), |(b, r)| {
        let rules: UnlockRules =
            serde_json::from_value(r).ok().filter(|r: &UnlockRules| r.validate().is_ok()).unwrap_or_default();
        if let Ok(b) = serde_json::from_value::<Behaviour>(b) {
            if b.validate().is_ok() {
                let p = rules.points(&b);
                prop_assert!(p.is_finite() && p >= 0.0, "{p}");
            }
        }
        Ok(())
    });
}

/// Every JSON route of a running service, with random bodies, as an operator and as room B's
/// anchor (whose room scope the routes check): each answer is a 2xx or a 4xx with a JSON error,
/// never a 5xx, and the service keeps answering.
#[test]
fn random_request_bodies_get_a_clear_answer_and_never_a_server_fault() {
    let d = common::workdir("props-api");
    // Payments on, so the callback's checks are reached (off, it is a 503 by design).
    let svc = common::start_with_env(&d.join("db.sqlite"), &[], &[("COSTREAM_PAYMENT_SECRET", "props")]);
    let h = svc.http.clone();
    let new_room = |name: &str| {
        let (_, r) =
            common::call("POST", &format!("{h}/rooms"), Some(&serde_json::json!({ "name": name }).to_string()));
        r["id"].as_str().unwrap().to_string()
    };
    let (room, room_b) = (new_room("A"), new_room("B"));
    let (_, ses) = common::call(
        "POST",
        &format!("{h}/sessions"),
        Some(&serde_json::json!({"inputs": [{"room": room}], "size": "320x180"}).to_string()),
    );
    let ses = ses["id"].as_str().unwrap().to_string();
    let (_, inv) = common::call(
        "POST",
        &format!("{h}/invitations"),
        Some(&serde_json::json!({"from": {"room": room}, "to": {"room": room_b}, "timeout_s": 3600}).to_string()),
    );
    let inv = inv["id"].as_str().unwrap().to_string();
    let (_, t) = common::call(
        "POST",
        &format!("{h}/tokens"),
        Some(&serde_json::json!({"role": "anchor", "room": room_b}).to_string()),
    );
    let anchor_b = t["token"].as_str().unwrap().to_string();
    let operator = common::token_for(&h).unwrap();
    let routes: Vec<(&str, String)> = vec![
        ("POST", "/sessions".into()),
        ("PATCH", format!("/sessions/{ses}")),
        ("PATCH", format!("/sessions/{ses}/pk")),
        ("POST", format!("/sessions/{ses}/comments")),
        ("POST", "/invitations".into()),
        ("POST", format!("/invitations/{inv}/accept")),
        ("POST", format!("/invitations/{inv}/decline")),
        ("POST", format!("/invitations/{inv}/hangup")),
        ("POST", "/rooms".into()),
        ("POST", format!("/rooms/{room}/key")),
        ("POST", format!("/rooms/{room_b}/key")),
        ("POST", format!("/rooms/{room}/destinations")),
        ("POST", "/tokens".into()),
        ("PUT", "/channels/fuzz".into()),
        ("POST", "/channels/fuzz/viewers/v1/events".into()),
        ("POST", "/payments/callback".into()),
    ];
    let n = routes.len();
    check("API request bodies", (0..n, json(), any::<bool>(), any::<bool>()), |(r, body, as_text, as_anchor)| {
        let (method, path) = &routes[r];
        // Also bodies that are not JSON at all.
        let text = if as_text { body.to_string().chars().rev().collect() } else { body.to_string() };
        let token = if as_anchor { &anchor_b } else { &operator };
        let (st, answer) = common::call_as(Some(token), method, &format!("{h}{path}"), Some(&text));
        prop_assert!(st < 500, "{method} {path} {text} -> {st} {answer}");
        prop_assert!(st < 300 || answer["error"]["code"].is_string(), "{method} {path} {text} -> {st} {answer}");
        Ok(())
    });
    // Sessions the random bodies made are stopped; the service still answers.
    assert_eq!(common::call("GET", &format!("{h}/health"), None).0, 200);
}

struct AnyKey;

impl StreamKeys for AnyKey {
    fn check(&self, _app: &str, key: &str) -> Result<String, Refusal> {
        if key == "good" {
            Ok("room_good".into())
        } else {
            Err(Refusal::UnknownKey)
        }
    }
}

/// Random bytes, or a valid RTMP handshake start followed by random chunks, never take the ingest
/// down: after all the cases a real publisher is still accepted.
#[test]
fn random_bytes_on_the_rtmp_port_leave_the_ingest_serving() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, mut events) = rt.block_on(RtmpServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(AnyKey))).unwrap();
    let port = server.addr.port();
    check("RTMP bytes", (any::<bool>(), prop::collection::vec(any::<u8>(), 0..4096)), |(handshake, bytes)| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        if handshake {
            // C0 (version 3) and a C1 of 1536 bytes, then garbage where chunks belong.
            let mut c01 = vec![3u8];
            c01.extend(std::iter::repeat_n(0u8, 1536));
            let _ = s.write_all(&c01);
        }
        let _ = s.write_all(&bytes);
        Ok(())
    });
    let clip = {
        let d = common::workdir("props-rtmp");
        common::clip(&d, "a.flv", &costream::testsrc::Clip::new("testsrc2=size=160x90:rate=30", 1.0))
    };
    let ok = common::publish(&clip, port, "good").wait().unwrap();
    assert!(ok.success(), "a real publisher after the random ones");
    let accepted = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(e) = events.recv().await {
                if matches!(e, IngestEvent::Published { .. }) {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    });
    assert!(accepted, "the publish was accepted");
}
