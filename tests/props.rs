//! Property tests standing in for fuzzing (the stable toolchain has no cargo fuzz), each against an
//! oracle of its own: the PK bar's rectangles against the frame, behaviour reports against the limits
//! and the rule table, every JSON route of a running service with bodies shaped like its requests
//! (and random ones), and random chunk streams on the RTMP port against panics and open sockets.
//! Each property runs 256 cases, or as many as fit in `PROPS_SECONDS` seconds when that is set (the
//! long run).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use costream::compose::{Element, PkBar, PkChange, PkSettings, Winner};
use costream::ingest::rtmp::{IngestEvent, IngestLimits, Refusal, RtmpServer, StreamKeys, StreamName};
use costream::limits::{inside_frame, MAX_GIFT_VALUE, MAX_READING_PERCENT, MAX_WATCH_SECONDS};
use costream::media::Colour;
use costream::session::unlock::{sign, Behaviour, UnlockRules};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

/// Runs `test` on random values of `strategy`: 256 cases, or batches until `PROPS_SECONDS` have
/// passed. A failure panics with the smallest failing value proptest finds.
fn check<S: Strategy>(what: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    check_batched(what, 2048, strategy, test, || ());
}

/// [`check`] in batches of at most `batch` cases, with `after_batch` run after each (for checks
/// that look at a whole batch at once).
fn check_batched<S: Strategy>(
    what: &str,
    batch: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
    mut after_batch: impl FnMut(),
) {
    let deadline = std::env::var("PROPS_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let batch = if deadline.is_some() { batch } else { batch.min(256) };
    let (t0, mut total) = (Instant::now(), 0u64);
    loop {
        let mut runner = TestRunner::new(Config { cases: batch, failure_persistence: None, ..Config::default() });
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{what}: {e}");
        }
        after_batch();
        total += batch as u64;
        let done = match deadline {
            Some(d) => Instant::now() >= d,
            None => total >= 256,
        };
        if done {
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
            "inputs",
            "room",
            "url",
            "layout",
            "fit",
            "size",
            "fps",
            "outputs",
            "bitrate_kbps",
            "masking",
            "channel",
            "from",
            "to",
            "timeout_s",
            "pk",
            "name",
            "platform",
            "key_ttl_s",
            "role",
            "anchor",
            "user",
            "text",
            "payment_id",
            "token",
            "organ",
            "status",
            "amount",
            "slate",
            "audio",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ]
}

/// A bar rectangle for a `w`×`h` frame: mostly inside it (so that it is accepted), sometimes
/// past an edge or wild.
fn bar_rect(w: u32, h: u32) -> impl Strategy<Value = [f32; 4]> {
    let (w, h) = (w as f32, h as f32);
    prop_oneof![
        6 => (0.0..1.0f32, 0.0..1.0f32, 0.0..1.0f32, 0.0..1.0f32).prop_map(move |(a, b, c, d)| {
            let (x, y) = ((a * (w - 8.0)).floor(), (b * (h - 4.0)).floor());
            [x, y, (8.0 + c * (w - x - 8.0)).floor(), (4.0 + d * (h - y - 4.0)).floor()]
        }),
        1 => prop::array::uniform4(prop::sample::select(vec![-1.0f32, 0.0, 4.0, 7.99, 8.0, 1e9, f32::MAX, f32::NAN])),
    ]
}

/// A structured PK change for a `w`×`h` frame: every field sometimes set, with values from
/// ordinary to extreme.
fn pk_change(w: u32, h: u32) -> impl Strategy<Value = PkChange> {
    let name = prop_oneof!["[A-Za-z ]{0,12}", "[主播小美胜平局]{1,70}", Just(String::new())];
    let colour = any::<[u8; 4]>().prop_map(Colour);
    (
        (prop::option::of(any::<bool>()), prop::option::of([name.clone(), name])),
        prop::option::of((0u64..1000, prop_oneof![9 => 0u64..1000, 1 => Just(u64::MAX)]).prop_map(|(a, b)| [a, b])),
        prop::option::of(prop::option::of(bar_rect(w, h))),
        (prop::option::of([colour.clone(), colour.clone()]), prop::option::of(colour)),
        prop::option::of(prop_oneof![9 => 0.0f32..300.0, 1 => Just(f32::NAN), 1 => Just(-1.0)]),
        prop::option::of(prop_oneof![9 => 0u32..5000, 1 => Just(u32::MAX)]),
        prop::option::of(prop::option::of(prop_oneof![9 => 0u32..120, 1 => Just(u32::MAX)])),
        prop::option::of(prop::option::of(prop::sample::select(vec![Winner::A, Winner::B, Winner::Draw]))),
    )
        .prop_map(
            |((visible, names), scores, rect, (colors_a, text_color), text_size, animate_ms, countdown_s, winner)| {
                PkChange {
                    visible,
                    names,
                    scores,
                    rect,
                    colors_b: colors_a,
                    colors_a,
                    text_color,
                    text_size,
                    animate_ms,
                    countdown_s,
                    winner,
                }
            },
        )
}

/// Whatever changes a PK bar takes (structured ones, most of them accepted, and random JSON), every
/// rectangle it then draws, in either view and at any moment of its animation and countdown, lies
/// inside the frame; a refused change leaves the settings as they were.
#[test]
fn pk_bar_draws_inside_the_frame_whatever_it_was_told() {
    // Frames of every size an output can have, small ones (where the bar's parts crowd) often.
    let side = |max: u32| prop_oneof![2u32..64, 16u32..max];
    let strategy = (side(4000), side(2200)).prop_flat_map(|(w, h)| {
        let change = prop_oneof![
            3 => pk_change(w, h),
            1 => json().prop_filter_map("not a PK change", |v| serde_json::from_value::<PkChange>(v).ok()),
        ];
        (prop::collection::vec(change, 1..4), Just(w), Just(h), 0u64..200_000, any::<bool>())
    });
    check("pk bar rectangles", strategy, |(changes, w, h, later_ms, mirrored)| {
        let now = Instant::now();
        let mut bar = PkBar::new(PkSettings::default(), now);
        for c in &changes {
            let before = bar.settings.clone();
            if bar.update(c, now, (w, h)).is_err() {
                prop_assert_eq!(&bar.settings, &before);
            }
        }
        for at in [now, now + Duration::from_millis(later_ms)] {
            for e in bar.elements(at, mirrored, w, h, "p.") {
                let r = match e {
                    Element::Layer(l) => l.rect,
                    Element::Text { rect, .. } => rect,
                };
                prop_assert!(inside_frame([r.x, r.y, r.w, r.h], (w, h)), "{r:?} outside {w}x{h} after {changes:?}");
            }
        }
        Ok(())
    });
}

/// One behaviour report of any of the six kinds, its value ordinary, at a limit, just past it, or wild.
fn behaviour() -> impl Strategy<Value = Behaviour> {
    let value = |max: f64| {
        prop_oneof![
            4 => 0.0..=max,
            1 => prop::sample::select(vec![
                0.0, -0.0, f64::MIN_POSITIVE, max, max * (1.0 + 1e-12), max + 1.0, -1.0, 1e300, -1e300,
                f64::INFINITY, f64::NEG_INFINITY, f64::NAN,
            ]),
        ]
    };
    prop_oneof![
        Just(Behaviour::Like),
        Just(Behaviour::Comment),
        Just(Behaviour::Share),
        value(MAX_GIFT_VALUE).prop_map(|value| Behaviour::Gift { value }),
        value(MAX_WATCH_SECONDS).prop_map(|seconds| Behaviour::Watch { seconds }),
        value(MAX_READING_PERCENT).prop_map(|percent| Behaviour::Reading { percent }),
    ]
}

/// Rules with point values from 0 to large (the ones a channel can set), valid by construction.
fn rules() -> impl Strategy<Value = UnlockRules> {
    let points = prop_oneof![3 => 0.0f64..100.0, 1 => prop::sample::select(vec![0.0, 1e-9, 1e6])];
    prop::collection::vec(points, 6).prop_map(|p| UnlockRules {
        like: p[0],
        comment: p[1],
        share: p[2],
        gift_per_value: p[3],
        watch_per_minute: p[4],
        reading_per_percent: p[5],
        ..UnlockRules::default()
    })
}

/// Behaviour reports against an oracle written from limits.rs alone: a report is accepted exactly
/// when its value is a number in (0, limit] (likes, comments and shares carry none), and an accepted
/// one earns the rule's points times its value (a minute's worth for watch time). Each report also
/// goes through JSON as a client sends it.
#[test]
fn behaviour_reports_are_accepted_within_the_limits_and_earn_rule_times_value() {
    check("behaviour and rules", (behaviour(), rules()), |(b, rules)| {
        let (limit, value, per_unit) = match b {
            Behaviour::Like => (None, 1.0, rules.like),
            Behaviour::Comment => (None, 1.0, rules.comment),
            Behaviour::Share => (None, 1.0, rules.share),
            Behaviour::Gift { value } => (Some(MAX_GIFT_VALUE), value, rules.gift_per_value),
            Behaviour::Watch { seconds } => (Some(MAX_WATCH_SECONDS), seconds, rules.watch_per_minute / 60.0),
            Behaviour::Reading { percent } => (Some(MAX_READING_PERCENT), percent, rules.reading_per_percent),
        };
        let allowed = limit.is_none_or(|max| value > 0.0 && value <= max);
        prop_assert_eq!(b.validate().is_ok(), allowed, "{:?}", b);
        if allowed {
            let want = per_unit * value;
            let got = rules.points(&b);
            prop_assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{b:?} with {rules:?}: {got}, want {want}");
        }
        // The same report as JSON (what a client sends): the same verdict, or refused as JSON.
        let text = serde_json::to_string(&b).unwrap_or_default();
        if let Ok(parsed) = serde_json::from_str::<Behaviour>(&text) {
            prop_assert_eq!(parsed.validate().is_ok(), allowed, "{}", text);
        }
        Ok(())
    });
}

/// A string no client should send: empty, huge, paths and addresses of this machine, control
/// characters, markup, ids that do not exist.
fn hostile_str() -> BoxedStrategy<Value> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "主播🎉",
            "../../etc/passwd",
            "/etc/passwd",
            "file:///etc/passwd",
            "http://169.254.169.254/",
            "rtmp://127.0.0.1:1/live/x",
            "rtmp://localhost/live/x",
            "rtmp://[::1]/live/x",
            "\u{0}",
            "%00",
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "room_nope",
            "NaN",
            "-1",
            "1e999",
        ])
        .prop_map(Value::from),
        "[a-z]{300,2000}".prop_map(Value::String),
    ]
    .boxed()
}

/// A number no client should send: negative, zero, fractional where whole, past every bound.
fn hostile_num() -> BoxedStrategy<Value> {
    prop_oneof![
        prop::sample::select(vec![0.0, -1.0, 0.5, 1e300, -1e300, 9.3e18, 1.8e19, 86400.0, f64::MIN_POSITIVE])
            .prop_map(Value::from),
        prop::sample::select(vec![i64::MIN, -1, 0, 1, i64::MAX]).prop_map(Value::from),
    ]
    .boxed()
}

/// Any of those, or a value of the wrong kind altogether.
fn hostile() -> BoxedStrategy<Value> {
    prop_oneof![
        hostile_str(),
        hostile_num(),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
        prop::collection::vec(".{0,20}".prop_map(Value::String), 0..20).prop_map(Value::Array),
    ]
    .boxed()
}

/// The first of `good` (a valid value) most of the time, the others (edges: the bound itself and
/// just past it) often; otherwise a hostile value of the same kind (a string for a string), now
/// and then one of any kind.
fn or_hostile(good: Vec<Value>) -> BoxedStrategy<Value> {
    let same = match &good[0] {
        Value::String(_) => hostile_str(),
        Value::Number(_) => hostile_num(),
        _ => hostile(),
    };
    let valid = Just(good[0].clone());
    prop_oneof![20 => valid, 8 => prop::sample::select(good), 3 => same, 1 => hostile()].boxed()
}

/// A list of destinations: mostly none, else hostile strings.
fn outputs(max: usize) -> BoxedStrategy<Value> {
    prop_oneof![
        4 => Just(json!([])),
        1 => prop::collection::vec(hostile_str(), 1..max).prop_map(Value::Array),
    ]
    .boxed()
}

/// An object with each of `fields` present or not (a name starting with `!` always), each value
/// from its own strategy.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let parts: Vec<_> = fields
        .into_iter()
        .map(|(k, v)| {
            let (name, always) = match k.strip_prefix('!') {
                Some(name) => (name, true),
                None => (k, false),
            };
            let v = if always { v.prop_map(Some).boxed() } else { prop::option::weighted(0.6, v).boxed() };
            v.prop_map(move |v| v.map(|v| (name.to_string(), v)))
        })
        .collect();
    parts.prop_map(|kv| Value::Object(kv.into_iter().flatten().collect())).boxed()
}

/// Bodies shaped like each route's request (the field names and types it expects, values from
/// valid to hostile), so that the checks behind deserialisation see them.
struct Shapes {
    room: String,
    room_b: String,
}

impl Shapes {
    fn ids(&self) -> Vec<Value> {
        vec![json!(self.room), json!(self.room_b)]
    }

    fn anchor(&self) -> BoxedStrategy<Value> {
        prop_oneof![
            3 => object(vec![("!room", or_hostile(self.ids())), ("name", or_hostile(vec![json!("主播小美")]))]),
            1 => self.any_anchor(),
        ]
        .boxed()
    }

    fn any_anchor(&self) -> BoxedStrategy<Value> {
        object(vec![
            ("room", or_hostile(self.ids())),
            (
                "url",
                or_hostile(vec![
                    json!("rtmp://does-not-resolve.invalid/live/a"),
                    json!("https://does-not-resolve.invalid/a.m3u8"),
                ]),
            ),
            ("name", or_hostile(vec![json!("主播小美"), json!("Bob")])),
            ("outputs", outputs(3)),
            ("gain", or_hostile(vec![json!(0.0), json!(1.0), json!(4.0), json!(100.0)])),
            ("monitor", or_hostile(vec![json!(true), json!(false)])),
        ])
    }

    fn pk(&self) -> BoxedStrategy<Value> {
        object(vec![
            ("visible", or_hostile(vec![json!(true), json!(false)])),
            ("names", or_hostile(vec![json!(["A", "B"]), json!(["主播小美", "x".repeat(65)])])),
            ("scores", or_hostile(vec![json!([1, 2]), json!([0, 0]), json!([u64::MAX, 0]), json!([-1, 5])])),
            ("rect", or_hostile(vec![json!([0, 0, 100, 20]), json!([310, 170, 100, 20]), json!(null)])),
            ("colors_a", or_hostile(vec![json!(["#ff0000", "ff00ff80"]), json!(["#zz0000", "#f00"])])),
            ("text_size", or_hostile(vec![json!(0), json!(256), json!(257)])),
            ("animate_ms", or_hostile(vec![json!(0), json!(60_000), json!(60_001)])),
            ("countdown_s", or_hostile(vec![json!(10), json!(86_400), json!(86_401), json!(null)])),
            ("winner", or_hostile(vec![json!("a"), json!("b"), json!("draw"), json!("c"), json!(null)])),
        ])
    }

    /// The request shape of route `r` of [`api_routes`].
    fn body(&self, path: &str) -> BoxedStrategy<Value> {
        let sizes = vec![json!("320x180"), json!("16x16"), json!("3840x2160"), json!("3841x2160"), json!("0x0")];
        let fps = vec![json!("25"), json!("30000/1001"), json!(30), json!("0"), json!("61"), json!("1/0")];
        let layouts = vec![json!("auto"), json!("grid"), json!("pk"), json!("side_by_side"), json!("nope")];
        let input = prop_oneof![
            3 => object(vec![("!room", or_hostile(self.ids()))]),
            1 => object(vec![
                ("room", or_hostile(self.ids())),
                ("url", or_hostile(vec![json!("rtmp://does-not-resolve.invalid/live/a")])),
            ]),
        ];
        let tail = path.rsplit('/').next().unwrap_or("");
        match (path, tail) {
            ("/sessions", _) => object(vec![
                ("!inputs", prop::collection::vec(input, 0..4).prop_map(Value::Array).boxed()),
                ("layout", or_hostile(layouts)),
                ("fit", or_hostile(vec![json!("fill"), json!("fit"), json!("stretch")])),
                ("size", or_hostile(sizes)),
                ("fps", or_hostile(fps)),
                ("outputs", outputs(10)),
                ("bitrate_kbps", or_hostile(vec![json!(500), json!(0), json!(1_000_000)])),
                (
                    "masking",
                    or_hostile(vec![
                        json!({"channel": "fuzz"}),
                        json!({"channel": "fuzz", "tracker": {"detect_every": 0}}),
                    ]),
                ),
            ]),
            (_, "pk") => self.pk(),
            (_, id) if id.starts_with("ses_") => object(vec![
                ("layout", or_hostile(layouts)),
                ("fit", or_hostile(vec![json!("fill"), json!("fit")])),
                ("inputs", prop::collection::vec(input, 0..4).prop_map(Value::Array).boxed()),
            ]),
            (_, "comments") => object(vec![
                ("!anchor", or_hostile(vec![json!("a"), json!("b"), json!("c")])),
                ("user", or_hostile(vec![json!("观众"), json!("x".repeat(200))])),
                ("!text", or_hostile(vec![json!("加油"), json!("x".repeat(2000))])),
                ("kind", or_hostile(vec![json!("comment"), json!("gift"), json!("like")])),
                ("value", or_hostile(vec![json!(1), json!(u64::MAX)])),
            ]),
            ("/invitations", _) => object(vec![
                ("!from", self.anchor()),
                ("!to", self.anchor()),
                ("timeout_s", or_hostile(vec![json!(30), json!(0), json!(3600), json!(1e9)])),
                ("layout", or_hostile(layouts)),
                ("size", or_hostile(sizes)),
                ("fps", or_hostile(fps)),
                ("bitrate_kbps", or_hostile(vec![json!(500), json!(0)])),
                ("pk", self.pk()),
            ]),
            ("/rooms", _) => object(vec![
                ("!name", or_hostile(vec![json!("show"), json!("x".repeat(500))])),
                ("platform", or_hostile(vec![json!("costream"), json!("youtube")])),
                ("key_ttl_s", or_hostile(vec![json!(60), json!(0), json!(86_400 * 400)])),
            ]),
            (_, "key") => object(vec![("key_ttl_s", or_hostile(vec![json!(60), json!(0), json!(-5)]))]),
            (_, "pause") => object(vec![
                ("slate", or_hostile(vec![json!("auto"), json!("system"), json!("slate_nope")])),
                ("audio", or_hostile(vec![json!("keep"), json!("mute"), json!("loud")])),
            ]),
            ("/slates", _) => object(vec![
                ("!title", or_hostile(vec![json!("brb"), json!("赌博 night"), json!("x".repeat(300))])),
                ("tags", or_hostile(vec![json!(["游戏", "game"]), json!([]), json!(["porn"]), json!([""])])),
                ("!text", or_hostile(vec![json!("主播暂停 · back soon"), json!(""), json!("x".repeat(200))])),
            ]),
            (p, _) if p.starts_with("/rooms/") && !p[7..].contains('/') => object(vec![
                ("title", or_hostile(vec![json!("王者荣耀 游戏"), json!(""), json!("x".repeat(300))])),
                ("tags", or_hostile(vec![json!(["游戏", "game"]), json!([]), json!([""]), json!(vec!["x"; 30])])),
            ]),
            (_, "slate") => object(vec![("slate", or_hostile(vec![json!(null), json!("slate_nope")]))]),
            (_, "destinations") => object(vec![(
                "!url",
                or_hostile(vec![
                    json!("rtmp://does-not-resolve.invalid/live/k"),
                    json!("rtmps://does-not-resolve.invalid/k"),
                ]),
            )]),
            ("/tokens", _) => object(vec![
                ("!role", or_hostile(vec![json!("operator"), json!("anchor"), json!("root")])),
                ("room", or_hostile(self.ids())),
            ]),
            ("/channels/fuzz", _) => object(vec![
                ("levels", or_hostile(vec![json!([10, 30, 60]), json!([5, 2]), json!([-1]), json!([])])),
                ("locked", or_hostile(vec![json!(["eyes", "mouth"]), json!(["tail"])])),
                ("unlock_order", or_hostile(vec![json!(["mouth", "eyes"]), json!([])])),
                ("sigma", or_hostile(vec![json!(10), json!(100), json!(101)])),
                ("sigma_drop", or_hostile(vec![json!(0.1), json!(1.5)])),
                ("like", or_hostile(vec![json!(1), json!(1e300)])),
                ("style", or_hostile(vec![json!("blur"), json!("sticker"), json!("pixelate")])),
            ]),
            (_, "events") => object(vec![
                (
                    "!kind",
                    or_hostile(["like", "comment", "share", "gift", "watch", "reading"].map(Value::from).to_vec()),
                ),
                ("value", or_hostile(vec![json!(5), json!(MAX_GIFT_VALUE), json!(MAX_GIFT_VALUE + 1.0)])),
                ("seconds", or_hostile(vec![json!(1), json!(MAX_WATCH_SECONDS)])),
                ("percent", or_hostile(vec![json!(1), json!(MAX_READING_PERCENT + 1.0)])),
            ]),
            ("/payments/callback", _) => object(vec![
                ("!payment_id", or_hostile(vec![json!("pay_1"), json!("pay_2")])),
                ("!channel", or_hostile(vec![json!("fuzz")])),
                ("!token", or_hostile(vec![json!("v1")])),
                ("!organ", or_hostile(vec![json!("eyes"), json!("mouth"), json!("tail")])),
                ("!status", or_hostile(vec![json!("confirmed"), json!("pending")])),
                ("amount", or_hostile(vec![json!(6.0), json!(-6.0)])),
            ]),
            _ => json().boxed(),
        }
    }
}

/// Every JSON route of a running service, as an operator and as room B's anchor (whose room scope
/// the routes check), with bodies shaped like the route's request (valid shapes, hostile values;
/// payment callbacks signed, so their checks are reached) and random ones: each answer is a 2xx or
/// a 4xx with a JSON error, never a 5xx; a refused create changes nothing; the service keeps
/// answering.
#[test]
fn random_request_bodies_get_a_clear_answer_and_never_a_server_fault() {
    const SECRET: &str = "props";
    let d = common::workdir("props-api");
    // Payments on, so the callback's checks are reached (off, it is a 503 by design).
    let svc = common::start_with_env(&d.join("db.sqlite"), &[], &[("COSTREAM_PAYMENT_SECRET", SECRET)]);
    let h = svc.http.clone();
    let new_room = |name: &str| {
        let (_, r) = common::call("POST", &format!("{h}/rooms"), Some(&json!({ "name": name }).to_string()));
        r["id"].as_str().unwrap().to_string()
    };
    let (room, room_b) = (new_room("A"), new_room("B"));
    let (_, ses) = common::call(
        "POST",
        &format!("{h}/sessions"),
        Some(&json!({"inputs": [{"room": room}], "size": "320x180"}).to_string()),
    );
    let ses = ses["id"].as_str().unwrap().to_string();
    let (_, inv) = common::call(
        "POST",
        &format!("{h}/invitations"),
        Some(&json!({"from": {"room": room}, "to": {"room": room_b}, "timeout_s": 3600}).to_string()),
    );
    let inv = inv["id"].as_str().unwrap().to_string();
    let (_, t) =
        common::call("POST", &format!("{h}/tokens"), Some(&json!({"role": "anchor", "room": room_b}).to_string()));
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
        ("POST", format!("/rooms/{room_b}/pause")),
        ("POST", format!("/rooms/{room_b}/resume")),
        ("PUT", format!("/rooms/{room_b}/slate")),
        ("PATCH", format!("/rooms/{room_b}")),
        ("POST", "/slates".into()),
        ("POST", "/tokens".into()),
        ("PUT", "/channels/fuzz".into()),
        ("POST", "/channels/fuzz/viewers/v1/events".into()),
        ("POST", "/payments/callback".into()),
    ];
    let shapes = Shapes { room: room.clone(), room_b: room_b.clone() };
    let bodies: Vec<BoxedStrategy<Value>> = routes.iter().map(|(_, p)| shapes.body(p)).collect();
    let case = (0..routes.len()).prop_flat_map(move |r| {
        let body = prop_oneof![3 => bodies[r].clone().prop_map(|b| (b, true)), 1 => json().prop_map(|b| (b, false))];
        (Just(r), body, any::<bool>(), any::<bool>())
    });
    // What a create made is removed again, so the caps are never what answers.
    // What a list holds: its ids. Sessions also start on their own (a pending invitation starts
    // composing when a warm place frees up), so an invitation's session is not the request's doing.
    let ids = |list: &str| -> std::collections::BTreeSet<String> {
        let items = common::call("GET", &format!("{h}{list}"), None).1;
        items.as_array().into_iter().flatten().filter_map(|i| i["id"].as_str().map(str::to_string)).collect()
    };
    let count = |list: &str| {
        let mut now = ids(list);
        if list == "/sessions" {
            for inv in common::call("GET", &format!("{h}/invitations"), None).1.as_array().into_iter().flatten() {
                now.remove(inv["session"].as_str().unwrap_or(""));
            }
        }
        now
    };
    // Per route: shaped bodies sent, past deserialisation (any answer but bad_json), accepted.
    let tally: Mutex<Vec<[usize; 3]>> = Mutex::new(vec![[0; 3]; routes.len()]);
    check("API request bodies", case, |(r, (body, structured), as_text, as_anchor)| {
        let (method, path) = &routes[r];
        // Also bodies that are not JSON at all.
        let text = if as_text && !structured { body.to_string().chars().rev().collect() } else { body.to_string() };
        let token = if as_anchor { &anchor_b } else { &operator };
        let creates = matches!(path.as_str(), "/sessions" | "/rooms" | "/invitations" | "/slates");
        let before = creates.then(|| count(path));
        let signature = (path == "/payments/callback").then(|| sign(SECRET.as_bytes(), text.as_bytes()));
        let (st, answer) = send(token, method, &format!("{h}{path}"), &text, signature.as_deref());
        // A busy machine may say so (503 with its code: the long run, four properties on two
        // cores, keeps it behind); a fault of the server never.
        let busy = st == 503
            && ["machine_behind", "gpu_unavailable", "encoder_unavailable"]
                .contains(&answer["error"]["code"].as_str().unwrap_or(""));
        prop_assert!(st < 500 || busy, "{method} {path} {text} -> {st} {answer}");
        prop_assert!(st < 300 || answer["error"]["code"].is_string(), "{method} {path} {text} -> {st} {answer}");
        if structured && std::env::var_os("PROPS_VERBOSE").is_some() {
            eprintln!("{method} {path} {text} -> {st} {answer}");
        }
        if structured {
            let t = &mut tally.lock().unwrap()[r];
            t[0] += 1;
            t[1] += (answer["error"]["code"] != "bad_json") as usize;
            t[2] += (st < 300) as usize;
        }
        if st >= 400 {
            if let Some(before) = before {
                let after = count(path);
                prop_assert!(
                    after.is_subset(&before),
                    "{method} {path} {text} -> {st} added {:?}",
                    after.difference(&before).collect::<Vec<_>>()
                );
            }
        } else if let (true, Some(id)) = (creates, answer["id"].as_str()) {
            let st = common::call("DELETE", &format!("{h}{path}/{id}"), None).0;
            prop_assert!(st < 300, "DELETE {path}/{id} -> {st}");
        }
        Ok(())
    });
    // The shaped bodies reach the checks behind deserialisation on every route, and some are
    // valid requests.
    let tally = tally.into_inner().unwrap();
    let report: Vec<String> = routes
        .iter()
        .zip(&tally)
        .map(|((m, p), t)| format!("{m} {p}: {} sent, {} parsed, {} accepted", t[0], t[1], t[2]))
        .collect();
    eprintln!("{}", report.join("\n"));
    let all = tally.iter().fold([0; 3], |a, t| [a[0] + t[0], a[1] + t[1], a[2] + t[2]]);
    assert!(all[1] * 2 >= all[0] && all[2] * 10 >= all[0], "too few shaped bodies got through:\n{}", report.join("\n"));
    // Sessions the random bodies made are stopped; the service still answers.
    assert_eq!(common::call("GET", &format!("{h}/health"), None).0, 200);
}

/// A request with `token` and, for the payment callback, its signature header.
fn send(token: &str, method: &str, url: &str, body: &str, signature: Option<&str>) -> (u16, Value) {
    let mut req = ureq::request(method, url)
        .set("authorization", &format!("Bearer {token}"))
        .set("content-type", "application/json")
        .timeout(Duration::from_secs(30));
    if let Some(s) = signature {
        req = req.set("x-signature", s);
    }
    let resp = match req.send_string(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let st = resp.status();
    (st, serde_json::from_str(&resp.into_string().unwrap_or_default()).unwrap_or(Value::Null))
}

struct AnyKey;

impl StreamKeys for AnyKey {
    fn check(&self, name: &StreamName) -> Result<String, Refusal> {
        if name.key == "good" {
            Ok("room_good".into())
        } else {
            Err(Refusal::UnknownKey)
        }
    }
}

/// Panics on the ingest's threads outside the RTMP library, and inside it (rml_rtmp panics on some
/// malformed chunk streams; the ingest catches those by design and closes that connection).
static INGEST_PANICS: AtomicUsize = AtomicUsize::new(0);
static LIBRARY_PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_ingest_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The runtime's worker threads ("tokio-rt-worker", "tokio-runtime-worker" in older tokio).
        let on_ingest = std::thread::current().name().is_some_and(|n| n.starts_with("tokio-"));
        if on_ingest {
            // A library panic may be located in std (a slice index, a capacity overflow): the
            // stack says whose it is.
            let stack = std::backtrace::Backtrace::force_capture().to_string();
            let counter =
                if stack.contains("rml_rtmp") || stack.contains("rml_amf0") { &LIBRARY_PANICS } else { &INGEST_PANICS };
            counter.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
}

/// One RTMP chunk with a random header of any format and chunk stream id, a message type among the
/// ones RTMP defines (or any byte), a length that may contradict its payload, and random payload.
fn chunk() -> impl Strategy<Value = Vec<u8>> {
    let types = prop_oneof![
        4 => prop::sample::select(vec![1u8, 2, 3, 4, 5, 6, 8, 9, 15, 17, 18, 20, 22]),
        1 => any::<u8>(),
    ];
    let length = prop_oneof![4 => 0u32..400, 1 => Just(0xff_ffff)];
    (0u8..4, 2u32..400, any::<u32>(), length, types, any::<u32>(), prop::collection::vec(any::<u8>(), 0..400)).prop_map(
        |(fmt, csid, ts, len, kind, stream, payload)| {
            let mut b = Vec::new();
            match csid {
                2..=63 => b.push(fmt << 6 | csid as u8),
                64..=319 => b.extend([fmt << 6, (csid - 64) as u8]),
                _ => b.extend([fmt << 6 | 1, ((csid - 64) & 0xff) as u8, ((csid - 64) >> 8) as u8]),
            }
            let (ts, len) = (ts & 0xff_ffff, len & 0xff_ffff);
            if fmt <= 2 {
                b.extend(&ts.to_be_bytes()[1..]);
            }
            if fmt <= 1 {
                b.extend(&len.to_be_bytes()[1..]);
                b.push(kind);
            }
            if fmt == 0 {
                b.extend(stream.to_le_bytes());
            }
            b.extend(payload);
            b
        },
    )
}

/// What a case sends: random bytes with no handshake; or, most of the time, a complete handshake
/// (C0, C1, C2), sometimes a real `connect` command, then random chunks.
#[derive(Debug, Clone)]
enum Approach {
    Raw(Vec<u8>),
    Chunks { connect: bool, chunks: Vec<Vec<u8>> },
}

fn approach() -> impl Strategy<Value = Approach> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..4096).prop_map(Approach::Raw),
        5 => (any::<bool>(), prop::collection::vec(chunk(), 0..12))
            .prop_map(|(connect, chunks)| Approach::Chunks { connect, chunks }),
    ]
}

/// The bytes a client sends after its handshake to connect to application `live`.
fn connect_bytes() -> Vec<u8> {
    use rml_rtmp::sessions::{ClientSession, ClientSessionConfig, ClientSessionResult};
    let (mut session, initial) = ClientSession::new(ClientSessionConfig::new()).unwrap();
    let mut out = Vec::new();
    for r in initial.into_iter().chain([session.request_connection("live".into()).unwrap()]) {
        if let ClientSessionResult::OutboundResponse(p) = r {
            out.extend(p.bytes);
        }
    }
    out
}

/// Random bytes and random chunk streams (most of them past the handshake, some after a real
/// `connect`) on the RTMP port: no panic on the ingest's threads, every connection closed by the
/// ingest within its deadlines, and afterwards a real publisher is still accepted.
#[test]
fn random_bytes_on_the_rtmp_port_leave_the_ingest_serving() {
    count_ingest_panics();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let limits = IngestLimits {
        handshake_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        ..IngestLimits::default()
    };
    let (server, mut events) =
        rt.block_on(RtmpServer::bind_with("127.0.0.1:0".parse().unwrap(), Arc::new(AnyKey), limits)).unwrap();
    let port = server.addr.port();
    let connect = connect_bytes();
    // The input the long run once found making rml_rtmp panic: the hook tells it from a panic of
    // the ingest's own, and the connection is closed.
    let mut known = TcpStream::connect(("127.0.0.1", port)).unwrap();
    known.write_all(&common::contradicting_chunk_stream()).unwrap();
    assert!(
        common::closed_within(&mut known, Instant::now(), 5.0).is_some(),
        "the known bad chunk stream's connection is closed"
    );
    // (The socket may close as the panicking task unwinds, a moment before the hook has counted.)
    common::wait_for("the library's panic counted", 5.0, || LIBRARY_PANICS.load(Ordering::SeqCst) == 1);
    assert_eq!((LIBRARY_PANICS.load(Ordering::SeqCst), INGEST_PANICS.load(Ordering::SeqCst)), (1, 0));
    let open: Mutex<Vec<(TcpStream, Approach)>> = Mutex::default();
    let (mut cases, mut past_handshake) = (0usize, 0usize);
    let all_closed = || {
        // Every connection of the batch was written before this point: each must be closed by
        // the ingest within the handshake and idle deadlines (plus scheduling slack).
        let deadline = Instant::now() + limits.handshake_timeout + limits.idle_timeout + Duration::from_secs(3);
        for (mut s, what) in open.lock().unwrap().drain(..) {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
            assert!(
                common::closed_within(&mut s, Instant::now(), left).is_some(),
                "the ingest left a connection open after {what:?}"
            );
        }
    };
    // Batches stay under the ingest's connection cap, so every case is heard.
    check_batched(
        "RTMP bytes",
        128,
        approach(),
        |a| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let bytes = match &a {
                Approach::Raw(b) => b.clone(),
                Approach::Chunks { connect: c, chunks } => {
                    let mut b = vec![3u8];
                    b.extend(std::iter::repeat_n(0u8, 1536 * 2));
                    if *c {
                        b.extend(&connect);
                    }
                    b.extend(chunks.concat());
                    b
                }
            };
            let _ = s.write_all(&bytes);
            open.lock().unwrap().push((s, a));
            Ok(())
        },
        || {
            let batch = open.lock().unwrap();
            cases += batch.len();
            past_handshake += batch.iter().filter(|(_, a)| matches!(a, Approach::Chunks { .. })).count();
            drop(batch);
            all_closed();
        },
    );
    assert_eq!(INGEST_PANICS.load(Ordering::SeqCst), 0, "the ingest panicked");
    eprintln!(
        "RTMP bytes: {} panics in rml_rtmp, each caught and its connection closed",
        LIBRARY_PANICS.load(Ordering::SeqCst)
    );
    assert!(past_handshake * 3 > cases * 2, "{past_handshake} of {cases} cases got past the handshake");
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
