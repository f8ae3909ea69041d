//! Bearer tokens: `Authorization: Bearer <JWT>` signed HS256 with the emulator's key (the identity
//! emulator's `jwt_key()` when the two run together). Checked: the signature, `exp`, `nbf`, and `aud`
//! against the accepted audiences (Graph's `https://graph.microsoft.com` and its app id by default).
//!
//! Written by hand on `hmac`/`sha2`/`base64` (already testkit dependencies) rather than with `jsonwebtoken`:
//! an HS256 check is one HMAC comparison, and it keeps a crypto-backend choice out of the test harness.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// A validated token's claims the emulator uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// Tenant id (`tid`), if present.
    pub tenant: Option<String>,
    /// Delegated tokens carry `scp`; app-only tokens carry `roles`.
    pub delegated: bool,
    /// The application roles of an app-only token (`roles`).
    pub roles: Vec<String>,
}

/// Why a token was refused (the text goes into the 401 body; it never contains the token).
pub fn validate(
    header: Option<&str>,
    key: &[u8],
    audiences: &[String],
    now: i64,
) -> Result<Claims, &'static str> {
    let header = header.ok_or("Access token is empty.")?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or("Authorization header is not a bearer token.")?
        .trim();
    if token.is_empty() {
        return Err("Access token is empty.");
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("Access token is not a JWT.");
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head: Value = b64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("Access token header is malformed.")?;
    if head.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err("Access token is signed with an unsupported algorithm.");
    }
    let sig = b64
        .decode(s)
        .map_err(|_| "Access token signature is malformed.")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| "Signing key is unusable.")?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| "Access token signature is invalid.")?;
    let claims: Value = b64
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("Access token payload is malformed.")?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("Access token has no expiry.")?;
    if now >= exp {
        return Err("Access token has expired or is not yet valid.");
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
        && now < nbf
    {
        return Err("Access token has expired or is not yet valid.");
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.iter().any(|x| x == a),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err("Invalid audience.");
    }
    Ok(Claims {
        tenant: claims.get("tid").and_then(Value::as_str).map(str::to_owned),
        delegated: claims.get("scp").is_some(),
        roles: claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The application permissions an app-only token needs, from the permission tables of the Graph pages:
/// reads (get drive, item, children, content, delta, site) take any of `Files.Read.All`,
/// `Files.ReadWrite.All`, `Sites.Read.All`, `Sites.ReadWrite.All`; writes (create folder, simple upload,
/// update, delete) `Files.ReadWrite.All` or `Sites.ReadWrite.All`; createUploadSession lists only
/// `Sites.ReadWrite.All` for applications. `Sites.Manage.All` and `Sites.FullControl.All` include them.
pub fn roles_allow(roles: &[String], need: Need) -> bool {
    let allowed: &[&str] = match need {
        Need::Read => &[
            "Files.Read.All",
            "Files.ReadWrite.All",
            "Sites.Read.All",
            "Sites.ReadWrite.All",
        ],
        Need::Write => &["Files.ReadWrite.All", "Sites.ReadWrite.All"],
        Need::UploadSession => &["Sites.ReadWrite.All"],
    };
    roles.iter().any(|r| {
        allowed.contains(&r.as_str()) || r == "Sites.Manage.All" || r == "Sites.FullControl.All"
    })
}

/// What an operation needs (see [`roles_allow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
    UploadSession,
}

/// Mint an HS256 token for tests: app-only (`roles`) unless `delegated`, valid from now for `ttl_secs`.
pub fn mint(key: &[u8], tenant: &str, audience: &str, ttl_secs: i64, delegated: bool) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "tid": tenant,
        "appid": "00000000-0000-0000-0000-00000000f0e1",
        "nbf": now - 5,
        "exp": now + ttl_secs,
    });
    if delegated {
        claims["scp"] = json!("Files.ReadWrite.All");
    } else {
        claims["roles"] = json!(["Sites.ReadWrite.All"]);
    }
    sign(key, &claims)
}

/// Sign arbitrary claims (tests use it for expired or wrong-audience tokens).
pub fn sign(key: &[u8], claims: &Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(claims.to_string());
    let signing = format!("{head}.{body}");
    let sig = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(signing.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    format!("{signing}.{}", b64.encode(sig))
}
