//! App-only access tokens as the shim checks them: compact HS256 JWTs signed with the identity emulator's
//! key (Entra signs with RS256; the signature algorithm is not what the shim tests, the claims are).
//!
//! An Exchange Online IMAP token is accepted when (Microsoft Learn, "Authenticate an IMAP, POP or SMTP
//! connection using OAuth", app-only section): the signature verifies, `aud` is
//! `https://outlook.office365.com`, `roles` holds `IMAP.AccessAsApp`, `exp` is in the future and `nbf` (if
//! any) in the past, and — when the shim is given a tenant id — `tid` is that tenant. The app is named by
//! `appid` (v1 tokens) or `azp` (v2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The audience of an Exchange Online token (the resource of scope `https://outlook.office365.com/.default`).
pub const EXO_AUDIENCE: &str = "https://outlook.office365.com";
/// The application permission for app-only IMAP access.
pub const IMAP_ROLE: &str = "IMAP.AccessAsApp";

/// Why a token was refused (for the shim's log and its own tests; the client only sees `NO AUTHENTICATE
/// failed.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProblem {
    Malformed,
    BadSignature,
    WrongAudience,
    NoImapRole,
    Expired,
    NotYetValid,
    WrongTenant,
    NoAppId,
}

/// The claims the shim acts on, from a token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppToken {
    /// The application (client) id: `appid` or `azp`.
    pub app_id: String,
    /// The tenant id (`tid`), if present.
    pub tenant_id: Option<String>,
}

/// Check `token` against `key` and the rules in the module docs; `now` in Unix seconds.
pub fn check(
    token: &str,
    key: &[u8],
    tenant_id: Option<&str>,
    now: i64,
) -> Result<AppToken, TokenProblem> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenProblem::Malformed);
    };
    let header: serde_json::Value = decode_json(h)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(TokenProblem::BadSignature);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| TokenProblem::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| TokenProblem::BadSignature)?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| TokenProblem::BadSignature)?;
    let claims: serde_json::Value = decode_json(p)?;
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => audience_ok(a),
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).any(audience_ok),
        _ => false,
    };
    if !aud_ok {
        return Err(TokenProblem::WrongAudience);
    }
    let has_role = claims
        .get("roles")
        .and_then(|r| r.as_array())
        .is_some_and(|r| r.iter().any(|v| v.as_str() == Some(IMAP_ROLE)));
    if !has_role {
        return Err(TokenProblem::NoImapRole);
    }
    match claims.get("exp").and_then(|e| e.as_i64()) {
        Some(exp) if exp > now => {}
        _ => return Err(TokenProblem::Expired),
    }
    if claims
        .get("nbf")
        .and_then(|n| n.as_i64())
        .is_some_and(|nbf| nbf > now)
    {
        return Err(TokenProblem::NotYetValid);
    }
    let tid = claims
        .get("tid")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    if let Some(want) = tenant_id
        && tid.as_deref() != Some(want)
    {
        return Err(TokenProblem::WrongTenant);
    }
    let app_id = claims
        .get("appid")
        .or_else(|| claims.get("azp"))
        .and_then(|a| a.as_str())
        .ok_or(TokenProblem::NoAppId)?
        .to_owned();
    Ok(AppToken {
        app_id,
        tenant_id: tid,
    })
}

fn audience_ok(a: &str) -> bool {
    a.trim_end_matches('/') == EXO_AUDIENCE
}

fn decode_json(part: &str) -> Result<serde_json::Value, TokenProblem> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenProblem::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenProblem::Malformed)
}

/// Sign `claims` as a compact HS256 JWT with `key` — for tests that need a token before (or without) the
/// identity emulator.
pub fn mint(key: &[u8], claims: &serde_json::Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing = format!("{h}.{p}");
    // HMAC takes keys of any length; an error here is impossible.
    let sig = Hmac::<Sha256>::new_from_slice(key)
        .map(|mut m| {
            m.update(signing.as_bytes());
            m.finalize().into_bytes().to_vec()
        })
        .unwrap_or_default();
    format!("{signing}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The claims of an app-only Exchange Online token for `app_id` in `tenant_id`, valid from `now` for
/// `ttl_secs`.
pub fn app_claims(app_id: &str, tenant_id: &str, now: i64, ttl_secs: i64) -> serde_json::Value {
    serde_json::json!({
        "aud": EXO_AUDIENCE,
        "iss": format!("https://sts.windows.net/{tenant_id}/"),
        "tid": tenant_id,
        "appid": app_id,
        "roles": [IMAP_ROLE],
        "nbf": now - 5,
        "exp": now + ttl_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test-key-0123456789abcdef0123456";

    #[test]
    fn a_good_app_token_passes_and_names_its_app() {
        let t = mint(KEY, &app_claims("app-1", "tid-1", 1000, 3600));
        assert_eq!(
            check(&t, KEY, Some("tid-1"), 1000),
            Ok(AppToken {
                app_id: "app-1".into(),
                tenant_id: Some("tid-1".into())
            })
        );
    }

    #[test]
    fn every_broken_rule_is_refused() {
        let base = app_claims("app-1", "tid-1", 1000, 3600);
        let with = |k: &str, v: serde_json::Value| {
            let mut c = base.clone();
            c[k] = v;
            mint(KEY, &c)
        };
        assert_eq!(
            check(&mint(b"other-key", &base), KEY, None, 1000),
            Err(TokenProblem::BadSignature)
        );
        assert_eq!(
            check(
                &with("aud", "https://graph.microsoft.com".into()),
                KEY,
                None,
                1000
            ),
            Err(TokenProblem::WrongAudience)
        );
        assert_eq!(
            check(
                &with("roles", serde_json::json!(["Mail.Read"])),
                KEY,
                None,
                1000
            ),
            Err(TokenProblem::NoImapRole)
        );
        assert_eq!(
            check(&mint(KEY, &base), KEY, None, 5000),
            Err(TokenProblem::Expired)
        );
        assert_eq!(
            check(&with("nbf", 2000.into()), KEY, None, 1000),
            Err(TokenProblem::NotYetValid)
        );
        assert_eq!(
            check(&mint(KEY, &base), KEY, Some("tid-2"), 1000),
            Err(TokenProblem::WrongTenant)
        );
        assert_eq!(
            check("not.a-token", KEY, None, 1000),
            Err(TokenProblem::Malformed)
        );
    }
}
