//! The configuration's layering, validation and secrets.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn every_key_is_listed() {
    let full = ServiceConfig {
        payment_secret_file: Some("p".into()),
        platform_secret_file: Some("q".into()),
        slate_blocklist_file: Some("b".into()),
        moderation_url: Some("http://m".into()),
        gift_url: Some("https://pay.example/gift".into()),
        moderation_secret_file: Some("m".into()),
        platform_secrets_dir: Some("s".into()),
        nginx_ingest_url: Some("rtmp://tier:1935".into()),
        hls_origin: Some("http://origin/hls".into()),
        nginx_secret_file: Some("n".into()),
        data_dir: Some("d".into()),
        node_id: Some("n1".into()),
        advertise: Some("http://10.0.0.1:8080".into()),
        node_capacity: Some(4),
        ..Default::default()
    };
    let table: toml::Table = toml::from_str(&toml::to_string(&full).unwrap()).unwrap();
    let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
    let mut listed = KEYS.to_vec();
    keys.sort();
    listed.sort();
    assert_eq!(keys, listed);
}

#[test]
fn file_then_environment_override_the_defaults() {
    let d = std::env::temp_dir().join(format!("costream-config-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("c.toml");
    std::fs::write(&f, "max_sessions = 7\nhttp = \"127.0.0.1:9000\"\n").unwrap();
    let c = layered(
        Some(&f),
        env(&[("COSTREAM_MAX_SESSIONS", "9"), ("COSTREAM_CORS_ORIGINS", "https://a, https://b"), ("PATH", "/x")]),
    )
    .unwrap();
    assert_eq!(c.max_sessions, 9);
    assert_eq!(c.http.port(), 9000);
    assert_eq!(c.cors_origins, vec!["https://a".to_string(), "https://b".to_string()]);
    assert_eq!(c.max_publishers, Caps::default().max_publishers);

    std::fs::write(&f, "max_sesions = 7\n").unwrap();
    let e = layered(Some(&f), env(&[])).unwrap_err().to_string();
    assert!(e.contains("max_sesions"), "{e}");
    let e = layered(None, env(&[("COSTREAM_MAX_SESION", "3")])).unwrap_err().to_string();
    assert!(e.contains("COSTREAM_MAX_SESION"), "{e}");
    let e = layered(None, env(&[("COSTREAM_MAX_SESSIONS", "many")])).unwrap_err().to_string();
    assert!(e.contains("COSTREAM_MAX_SESSIONS"), "{e}");
    let c = ServiceConfig { key_ttl_s: 0, ..Default::default() };
    assert!(c.validate().unwrap_err().to_string().starts_with("key_ttl_s"));
}

#[test]
fn secrets_are_never_printed() {
    let s = Secrets { payment: Some("hunter2".into()), ..Secrets::default() };
    let p = ServiceConfig::default().print(&s);
    assert!(!p.contains("hunter2"), "{p}");
    assert!(p.contains("payment secret: set (from COSTREAM_PAYMENT_SECRET)"), "{p}");
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn files_go_beside_a_sqlite_file_or_to_costream_data_and_a_database_password_is_found() {
    let c = ServiceConfig { db: "/srv/cs/costream.sqlite".into(), ..Default::default() };
    assert_eq!(c.data_dir(), PathBuf::from("/srv/cs"));
    let c = ServiceConfig { db: "postgres://cs@10.0.0.9/costream".into(), ..Default::default() };
    assert_eq!(c.data_dir(), PathBuf::from("costream-data"));
    let c = ServiceConfig { data_dir: Some("/var/lib/cs".into()), ..c };
    assert_eq!(c.data_dir(), PathBuf::from("/var/lib/cs"));
    for (url, has) in [
        ("postgres://cs@10.0.0.9/costream", false),
        ("postgres://cs:pw@10.0.0.9/costream", true),
        ("postgresql://cs@10.0.0.9/costream?password=pw", true),
        ("postgres://cs:p/w@10.0.0.9/costream", true),
        ("costream.sqlite", false),
    ] {
        assert_eq!(crate::store::has_password(url), has, "{url}");
        assert!(!crate::store::describe(url).contains("pw") && !crate::store::describe(url).contains("p/w"), "{url}");
    }
}
