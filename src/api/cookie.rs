//! The console's session cookie (`HttpOnly`, `SameSite=Strict`, signed with the service's key, for
//! [`COOKIE_LIFE_S`]). It names the token by its hash, never the token itself, so a revoked token
//! signs the console out at its next request. A state change made with the cookie also carries the
//! CSRF token (`X-CSRF-Token`) that only the signed-in page can read from `/console/me`.

use axum::http::{header, HeaderMap, Method};

use crate::session::unlock::{same_text, sign, verify_signature};
use crate::store::now_s;

pub(super) const COOKIE: &str = "costream_console";
/// A console stays signed in for 12 hours (across restarts: the key is the service's stored one).
pub(super) const COOKIE_LIFE_S: i64 = 12 * 3600;
pub(super) const CSRF_HEADER: &str = "x-csrf-token";

/// What a cookie's signature covers: the token's hash and the expiry.
fn signed_text(hash: &str, exp: i64) -> String {
    format!("console|{hash}|{exp}")
}

fn cookie_sig(key: &[u8], hash: &str, exp: i64) -> String {
    sign(key, signed_text(hash, exp).as_bytes())
}

/// A cookie's value: the token's hash, its expiry, and their signature.
pub(super) fn cookie_value(key: &[u8], hash: &str, exp: i64) -> String {
    format!("{hash}.{exp}.{}", cookie_sig(key, hash, exp).trim_start_matches("sha256="))
}

/// The token hash a cookie value stands for, when its signature holds and it has not expired.
pub(super) fn verify_cookie(key: &[u8], value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '.');
    let (hash, exp, sig) = (parts.next()?, parts.next()?.parse::<i64>().ok()?, parts.next()?);
    let signed = signed_text(hash, exp);
    (exp > now_s() && verify_signature(key, signed.as_bytes(), &format!("sha256={sig}"))).then(|| hash.to_string())
}

/// The CSRF token of a signed-in console: derived from its cookie, so it needs no storage and
/// changes at every sign-in.
pub(super) fn csrf_of(key: &[u8], cookie: &str) -> String {
    sign(key, format!("csrf|{cookie}").as_bytes()).trim_start_matches("sha256=")[..32].to_string()
}

/// The console cookie a request carries, if any.
pub(super) fn cookie_in(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v)
}

/// Whether a request made with the console cookie may go on: reads always, a state change only
/// with the page's CSRF token (a form or a script of another site cannot send it).
pub(super) fn csrf_ok(key: &[u8], method: &Method, headers: &HeaderMap, cookie: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let want = csrf_of(key, cookie);
    same_text(&want, given)
}
