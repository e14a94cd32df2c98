//! The service's configuration as an operator meets it: a TOML file, `COSTREAM_*` variables over
//! it, flags over both, and a wrong key stopping the service with an error that names it.

mod common;

use std::process::Command;

use common::*;

fn costream_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_costream")).args(args).envs(env.iter().copied()).output().unwrap()
}

#[test]
fn a_config_file_with_environment_and_flag_overrides_and_a_wrong_key_named() {
    let d = workdir("config");
    let file = d.join("costream.toml");
    let (hp, rp) = (free_port(), free_port());
    let db = d.join("db/costream.sqlite");
    let toml = format!(
        "http = \"127.0.0.1:{hp}\"\nrtmp = \"127.0.0.1:{rp}\"\ndb = \"{}\"\nmax_sessions = 7\nmax_invitations = 5\n",
        db.display()
    );
    std::fs::write(&file, toml).unwrap();
    let f = file.to_str().unwrap();

    // The effective configuration: the file, the environment over it, a flag over both; secrets
    // only said to be set.
    let env = [("COSTREAM_MAX_INVITATIONS", "9"), ("COSTREAM_PAYMENT_SECRET", "s3cret-value")];
    let o = costream_env(&["config", "print", "--config", f, "--max-sessions", "11"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [format!("http = \"127.0.0.1:{hp}\""), "max_sessions = 11".into(), "max_invitations = 9".into()] {
        assert!(out.contains(&want), "{want} in:\n{out}");
    }
    assert!(out.contains("payment secret: set (from COSTREAM_PAYMENT_SECRET)"), "{out}");
    assert!(!out.contains("s3cret-value"), "a secret printed:\n{out}");

    // A wrong key in the file, in the environment, or a bad value: the service does not start and
    // says which key.
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "max_sesions = 3\n").unwrap();
    for (args, env, key) in [
        (vec!["serve", "--config", bad.to_str().unwrap()], vec![], "max_sesions"),
        (vec!["serve", "--config", f], vec![("COSTREAM_MAX_SESION", "3")], "COSTREAM_MAX_SESION"),
        (vec!["serve", "--config", f], vec![("COSTREAM_KEY_TTL_S", "0")], "key_ttl_s"),
    ] {
        let o = costream_env(&args, &env);
        assert!(!o.status.success(), "{args:?} {env:?} started");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(key), "{key} named in: {e}");
    }

    // A PostgreSQL password: refused on the command line (every user of the machine sees it),
    // masked when the configuration is printed.
    let o = costream_env(&["config", "print", "--db", "postgres://cs:hunter2@127.0.0.1/costream"], &[]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("db") && !e.contains("hunter2"), "{e}");
    let o = costream_env(&["config", "print"], &[("COSTREAM_DB", "postgres://cs:hunter2@127.0.0.1/costream")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("postgres://cs:***@127.0.0.1/") && !out.contains("hunter2"), "{out}");

    // The service runs on the file's addresses and database.
    let token = operator_token(&db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_costream"))
        .args(["serve", "--config", f])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let h = format!("http://127.0.0.1:{hp}");
    remember_token(&h, &token);
    wait_for("the service on the file's address", 20.0, || ureq::get(&format!("{h}/health")).call().is_ok());
    let (st, rooms) = call("GET", &format!("{h}/rooms"), None);
    assert_eq!((st, rooms), (200, serde_json::json!([])), "its database holds the token made for it");
    let _ = child.kill();
    let _ = child.wait();
}
