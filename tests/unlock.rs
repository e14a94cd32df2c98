//! Unlock levels over real HTTP and SQLite: behaviour events, signed payment callbacks, a restart.

mod common;

use common::*;
use costream::session::unlock::sign;
use serde_json::json;

const SECRET: &str = "test-secret-9f2";

fn callback(h: &str, body: &str, signature: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = ureq::post(&format!("{h}/payments/callback")).set("content-type", "application/json");
    if let Some(s) = signature {
        req = req.set("x-signature", s);
    }
    let resp = match req.send_string(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let st = resp.status();
    (st, serde_json::from_str(&resp.into_string().unwrap_or_default()).unwrap_or_default())
}

#[test]
fn behaviour_raises_levels_and_only_signed_confirmed_payments_unlock_and_persist() {
    let d = workdir("unlock");
    let db = d.join("costream.sqlite");
    let svc = start_with(&db, &["--payment-secret", SECRET]);
    let h = svc.http.clone();
    let rules = json!({"levels": [3, 10], "locked": ["eyes", "mouth"], "unlock_order": ["mouth", "eyes"], "sigma": 10.0});
    let (st, r) = call("PUT", &format!("{h}/channels/ch1"), Some(&rules.to_string()));
    assert_eq!(st, 200, "{r}");
    assert_eq!(call("PUT", &format!("{h}/channels/ch1"), Some(r#"{"levels":[5,2]}"#)).0, 400, "descending thresholds refused");

    let v = |t: &str| call("GET", &format!("{h}/channels/ch1/viewers/{t}"), None).1;
    assert_eq!(v("alice")["level"], 0);
    assert_eq!(v("alice")["masked"], json!(["eyes", "mouth"]));
    for _ in 0..3 {
        assert_eq!(call("POST", &format!("{h}/channels/ch1/viewers/alice/events"), Some(r#"{"kind":"like"}"#)).0, 200);
    }
    let a = v("alice");
    assert_eq!((a["points"].as_f64(), a["level"].as_u64()), (Some(3.0), Some(1)), "{a}");
    assert_eq!(a["masked"], json!(["eyes"]), "level 1 unlocks the mouth");
    assert!((a["sigma"].as_f64().unwrap() - 9.0).abs() < 1e-6, "and weakens the blur 10 %");
    let (st, g) = call("POST", &format!("{h}/channels/ch1/viewers/alice/events"), Some(r#"{"kind":"gift","value":7}"#));
    assert_eq!((st, g["level"].as_u64()), (200, Some(2)), "{g}");
    assert_eq!(g["masked"], json!([]), "the top level is unmasked");
    // A payment is not behaviour; malformed events are refused.
    assert_eq!(call("POST", &format!("{h}/channels/ch1/viewers/bob/events"), Some(r#"{"kind":"payment","organ":"eyes"}"#)).0, 400);
    assert_eq!(call("POST", &format!("{h}/channels/ch1/viewers/bob/events"), Some("{nope")).0, 400);

    // Payment callbacks: unsigned, badly signed and unconfirmed ones change nothing.
    let pay = |id: &str, status: &str| json!({"payment_id": id, "channel": "ch1", "token": "bob", "organ": "eyes", "status": status, "amount": 6.0}).to_string();
    let body = pay("pay_1", "confirmed");
    assert_eq!(callback(&h, &body, None).0, 401);
    assert_eq!(callback(&h, &body, Some(&sign(b"wrong-secret", body.as_bytes()))).0, 401);
    let tampered = body.replace("bob", "eve");
    assert_eq!(callback(&h, &tampered, Some(&sign(SECRET.as_bytes(), body.as_bytes()))).0, 401, "signature of another body");
    let pending = pay("pay_0", "pending");
    let (st, r) = callback(&h, &pending, Some(&sign(SECRET.as_bytes(), pending.as_bytes())));
    assert_eq!((st, r["counted"].as_bool()), (202, Some(false)));
    assert_eq!(v("bob")["paid"], json!([]));
    assert_eq!(v("bob")["masked"], json!(["eyes", "mouth"]));
    // A confirmed, correctly signed payment unlocks its organ, once.
    let (st, r) = callback(&h, &body, Some(&sign(SECRET.as_bytes(), body.as_bytes())));
    assert_eq!((st, r["counted"].as_bool()), (200, Some(true)), "{r}");
    assert_eq!(callback(&h, &body, Some(&sign(SECRET.as_bytes(), body.as_bytes()))).1["counted"], false, "replayed");
    assert_eq!(v("bob")["paid"], json!(["eyes"]));
    assert_eq!(v("bob")["masked"], json!(["mouth"]));
    drop(svc);

    // After a restart: rules, points and the paid unlock are still there.
    let svc = start_with(&db, &["--payment-secret", SECRET]);
    let h = svc.http.clone();
    let b = call("GET", &format!("{h}/channels/ch1/viewers/bob"), None).1;
    assert_eq!((b["paid"].clone(), b["masked"].clone()), (json!(["eyes"]), json!(["mouth"])), "{b}");
    assert_eq!(call("GET", &format!("{h}/channels/ch1/viewers/alice"), None).1["level"], 2);
    drop(svc);

    // Without a secret, payment callbacks are refused outright.
    let svc = start(&db);
    assert_eq!(callback(&svc.http, &body, Some(&sign(SECRET.as_bytes(), body.as_bytes()))).0, 503);
}
