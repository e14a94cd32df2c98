//! The store's own checks: settings, tokens, migrations, keys, reopening a file.

use super::*;

#[test]
fn a_setting_is_made_once_and_kept_across_reopening() {
    let dir = std::env::temp_dir().join(format!("costream-store-setting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("db.sqlite");
    let first = Store::open(&path).unwrap().setting_or_init("k", || random_hex(32)).unwrap();
    let again = Store::open(&path).unwrap().setting_or_init("k", || "other".into()).unwrap();
    assert_eq!(first, again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tokens_are_kept_as_hashes_and_revoked_ones_do_not_match() {
    let s = Store::open_in_memory().unwrap();
    let (token, info) = s.create_token(Role::Operator, None).unwrap();
    assert_eq!(s.token_by_hash(&token_hash(&token)).unwrap().map(|t| t.id), Some(info.id.clone()));
    assert!(s.token_by_hash(&token_hash("cst_other")).unwrap().is_none());
    s.revoke_token(&info.id).unwrap();
    assert!(s.token_by_hash(&token_hash(&token)).unwrap().is_none());
    assert!(s.create_token(Role::Anchor, Some("room_missing")).is_err(), "an anchor token needs a room that exists");
}

#[test]
fn migrations_are_valid_and_counted() {
    assert!(migrations().validate().is_ok());
    let s = Store::open_in_memory().unwrap();
    let v: usize = s.db().query_row("PRAGMA user_version", p![], |r| r.get(0)).unwrap();
    assert_eq!(v, schema_version());
}

#[test]
fn keys_expire_and_regeneration_revokes_the_old_one() {
    let s = Store::open_in_memory().unwrap();
    let room = s.create_room("A's show", "costream", 60).unwrap();
    let k1 = room.key.clone().unwrap();
    let now = now_s();
    assert_eq!(s.check_key(&k1.key, now).unwrap(), Ok(room.id.clone()));
    assert_eq!(s.check_key(&k1.key, now + 61).unwrap(), Err(KeyProblem::Expired));
    let k2 = s.regenerate_key(&room.id, 60).unwrap();
    assert_ne!(k1.key, k2.key);
    assert_eq!(s.check_key(&k1.key, now).unwrap(), Err(KeyProblem::Revoked));
    assert_eq!(s.check_key(&k2.key, now).unwrap(), Ok(room.id.clone()));
    assert_eq!(s.check_key("sk_nope", now).unwrap(), Err(KeyProblem::Unknown));
    assert_eq!(s.room(&room.id).unwrap().key, Some(k2));
}

#[test]
fn rooms_keys_and_destinations_survive_reopening_the_file() {
    let dir = std::env::temp_dir().join(format!("costream-store-{}", std::process::id()));
    let path = dir.join("db.sqlite");
    let _ = std::fs::remove_file(&path);
    let (room, dst) = {
        let s = Store::open(&path).unwrap();
        let room = s.create_room("B", "douyin", DEFAULT_KEY_TTL_S).unwrap();
        let dst = s.add_destination(&room.id, "rtmp://push.example/live/x").unwrap();
        (room, dst)
    };
    let s = Store::open(&path).unwrap();
    assert_eq!(s.room(&room.id).unwrap(), room);
    assert_eq!(s.destinations(&room.id).unwrap(), vec![dst]);
    assert!(matches!(s.room("room_missing"), Err(StoreError::NoRoom(_))));
    let _ = std::fs::remove_dir_all(&dir);
}
