//! Property tests standing in for fuzzing (the stable toolchain has no cargo fuzz): random JSON
//! through the request types a client controls, and random bytes on the RTMP port. Each property
//! runs `PROPTEST_CASES` cases (256 by default; set it high for a long run).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use costream::compose::{PkBar, PkSettings};
use costream::ingest::rtmp::{IngestEvent, RtmpServer, StreamKeys};
use costream::session::unlock::{Behaviour, UnlockRules};
use proptest::prelude::*;
use serde_json::Value;

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
            "visible", "names", "scores", "rect", "colors_a", "colors_b", "text_color", "text_size", "animate_ms", "countdown_s", "winner", "kind", "value",
            "seconds", "percent", "levels", "locked", "unlock_order", "sigma", "sigma_drop", "feather", "style", "like", "gift_per_value",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ]
}

proptest! {
    /// A PK bar update either changes the bar into one that fits its frame, or changes nothing;
    /// it never panics, whatever the JSON.
    #[test]
    fn pk_updates_fit_the_frame_or_change_nothing(patch in json(), w in 16u32..4000, h in 16u32..2200) {
        let now = Instant::now();
        let mut bar = PkBar::new(PkSettings::default(), now);
        let before = bar.settings.clone();
        match bar.update(&patch, now, (w, h)) {
            Ok(()) => prop_assert!(bar.settings.validate_for((w, h)).is_ok(), "{:?}", bar.settings),
            Err(_) => prop_assert_eq!(&bar.settings, &before),
        }
        // Drawing what was accepted stays within bounds too.
        let _ = bar.elements(now, false, w, h, "p.");
    }

    /// Behaviour reports and unlock rules: random JSON is refused or accepted, never a panic, and
    /// whatever is accepted counts a finite, non-negative number of points.
    #[test]
    fn behaviour_and_rules_never_count_wild_points(b in json(), r in json()) {
        let rules: UnlockRules = serde_json::from_value(r).ok().filter(|r: &UnlockRules| r.validate().is_ok()).unwrap_or_default();
        if let Ok(b) = serde_json::from_value::<Behaviour>(b) {
            if b.validate().is_ok() {
                let p = rules.points(&b);
                prop_assert!(p.is_finite() && p >= 0.0, "{p}");
            }
        }
    }
}

struct AnyKey;

impl StreamKeys for AnyKey {
    fn check(&self, _app: &str, key: &str) -> Result<(), String> {
        if key == "good" { Ok(()) } else { Err("unknown stream key".into()) }
    }
}

/// Random bytes, or a valid RTMP handshake start followed by random chunks, never take the ingest
/// down: after all the cases a real publisher is still accepted.
#[test]
fn random_bytes_on_the_rtmp_port_leave_the_ingest_serving() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, mut events) = rt.block_on(RtmpServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(AnyKey))).unwrap();
    let port = server.addr.port();
    let mut runner = proptest::test_runner::TestRunner::default();
    let strategy = (any::<bool>(), prop::collection::vec(any::<u8>(), 0..4096));
    runner
        .run(&strategy, |(handshake, bytes)| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            if handshake {
                // C0 (version 3) and a C1 of 1536 bytes, then garbage where chunks belong.
                let mut c01 = vec![3u8];
                c01.extend(std::iter::repeat_n(0u8, 1536));
                let _ = s.write_all(&c01);
            }
            let _ = s.write_all(&bytes);
            Ok(())
        })
        .unwrap();
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
