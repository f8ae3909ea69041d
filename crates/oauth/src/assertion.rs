//! The certificate credential: a JWT client assertion (RFC 7523 §2.2) in the format the Microsoft identity
//! platform documents ("Microsoft identity platform application authentication certificate credentials"):
//! header `alg: RS256`, `typ: JWT`, `x5t` and `x5t#S256` = the base64url SHA-1 / SHA-256 thumbprint of the
//! certificate registered on the app; claims `aud` = the token endpoint, `iss` = `sub` = the client id, a
//! unique `jti`, `nbf`, `iat` and `exp` (ten minutes later).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_core::mail::Secret;
use ferry_core::{Error, Result};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha1::Digest as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long an assertion is valid: short, it is used at once.
const ASSERTION_LIFETIME_SECS: u64 = 600;

/// A loaded certificate credential, ready to sign assertions. Holds no printable secret.
pub struct Signer {
    key: EncodingKey,
    x5t: String,
    x5t_s256: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("x5t#S256", &self.x5t_s256)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

impl Signer {
    /// Load the private key and the certificate (either PEM may hold both: a `.pem` bundle is common).
    pub fn new(private_key_pem: &Secret, certificate_pem: &str) -> Result<Signer> {
        let blocks = |text: &str| pem::parse_many(text.as_bytes()).unwrap_or_default();
        let mut all = blocks(private_key_pem.expose());
        all.extend(blocks(certificate_pem));
        let cert = all.iter().find(|p| p.tag() == "CERTIFICATE").ok_or_else(|| {
            Error::config(
                "the OAuth certificate has no `-----BEGIN CERTIFICATE-----` block: give the certificate (PEM) that \
                 was uploaded to the app registration",
            )
        })?;
        let key_block = all
            .iter()
            .find(|p| matches!(p.tag(), "PRIVATE KEY" | "RSA PRIVATE KEY"))
            .ok_or_else(|| {
                Error::config(
                    "the OAuth certificate credential has no private key: give the RSA private key (PEM, `BEGIN \
                     PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`, not encrypted)",
                )
            })?;
        let key = EncodingKey::from_rsa_pem(pem::encode(key_block).as_bytes()).map_err(|_| {
            Error::config("the OAuth private key is not an RSA key in PEM form: Microsoft Entra certificate credentials are RSA")
        })?;
        let der = cert.contents();
        Ok(Signer {
            key,
            x5t: URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der)),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der)),
        })
    }

    /// The certificate's SHA-256 thumbprint, base64url (what `x5t#S256` carries).
    pub fn thumbprint_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// A fresh signed assertion for `client_id` at `token_endpoint`.
    pub fn assertion(&self, client_id: &str, token_endpoint: &str) -> Result<Secret> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_owned());
        header.x5t = Some(self.x5t.clone());
        header.x5t_s256 = Some(self.x5t_s256.clone());
        let claims = Claims {
            aud: token_endpoint,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::now_v7().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(Secret::new)
            .map_err(|e| Error::config(format!("cannot sign the OAuth client assertion: {e}")))
    }
}
