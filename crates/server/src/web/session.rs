//! The dashboard's session and CSRF cookies.
//!
//! - **Session**: signing in with a Ferry token gives a `ferry_session` cookie holding the token and the
//!   session's expiry, sealed (AES-256-GCM) with the server's credential key, so the browser never holds
//!   the token in readable form and cannot change the expiry. `HttpOnly`, `SameSite=Strict`, `Path=/`,
//!   `Max-Age` = [`SESSION_LIFETIME`], and `Secure` when the request came through TLS (a proxy's
//!   `X-Forwarded-Proto: https`). Every request opens it and looks the token up again, so a revoked
//!   token or a removed member ends the session at once.
//! - **CSRF** (double-submit): a random `ferry_csrf` cookie (`SameSite=Strict`) that every form repeats in
//!   a hidden `csrf` field; a POST whose field differs from the cookie is refused with 403.

use crate::AppState;
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use cookie::{Cookie, SameSite};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ferry_session";
/// The CSRF cookie's name (and the form field is `csrf`).
pub const CSRF_COOKIE: &str = "ferry_csrf";
/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::hours(8);

/// The value of cookie `name` in the request, if any.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(|c| c.ok())
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Whether the request reached us over TLS (through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

fn build(name: &str, value: String, max_age: Duration, headers: &HeaderMap) -> String {
    let mut c = Cookie::new(name.to_owned(), value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/");
    c.set_max_age(cookie::time::Duration::seconds(max_age.num_seconds()));
    c.set_secure(over_tls(headers));
    c.to_string()
}

/// `Set-Cookie` for a new session holding `token`, valid until `now + SESSION_LIFETIME`.
pub fn start(state: &AppState, token: &str, headers: &HeaderMap) -> ferry_core::Result<String> {
    let expires = state.clock.now() + SESSION_LIFETIME;
    let (nonce, sealed) = state
        .vault
        .seal(&format!("{}\n{token}", expires.timestamp()))?;
    let mut raw = nonce;
    raw.extend_from_slice(&sealed);
    Ok(build(
        SESSION_COOKIE,
        URL_SAFE_NO_PAD.encode(raw),
        SESSION_LIFETIME,
        headers,
    ))
}

/// `Set-Cookie` that removes the session.
pub fn end(headers: &HeaderMap) -> String {
    build(SESSION_COOKIE, String::new(), Duration::zero(), headers)
}

/// The token of the request's session, when it has one that opens and has not expired at `now`.
pub fn token(state: &AppState, headers: &HeaderMap, now: DateTime<Utc>) -> Option<String> {
    let raw = URL_SAFE_NO_PAD
        .decode(cookie(headers, SESSION_COOKIE)?)
        .ok()?;
    if raw.len() <= 12 {
        return None;
    }
    let (nonce, sealed) = raw.split_at(12);
    let plain = state.vault.open(nonce, sealed).ok()?;
    let (expires, token) = plain.split_once('\n')?;
    let expires = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
    (now < expires).then(|| token.to_owned())
}

/// The request's CSRF token, and the `Set-Cookie` to send when it had none yet.
pub fn csrf(headers: &HeaderMap) -> ferry_core::Result<(String, Option<String>)> {
    if let Some(t) = cookie(headers, CSRF_COOKIE).filter(|t| t.len() >= 32) {
        return Ok((t, None));
    }
    let t = URL_SAFE_NO_PAD.encode(crate::crypto::random_bytes::<32>()?);
    let set = build(CSRF_COOKIE, t.clone(), SESSION_LIFETIME, headers);
    Ok((t, Some(set)))
}

/// Whether a form's `csrf` field matches the request's CSRF cookie (compared in constant time).
pub fn csrf_ok(headers: &HeaderMap, field: &str) -> bool {
    let Some(cookie) = cookie(headers, CSRF_COOKIE) else {
        return false;
    };
    let (a, b) = (cookie.as_bytes(), field.as_bytes());
    a.len() >= 32
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
