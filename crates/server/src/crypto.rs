//! Credentials at rest: AES-256-GCM with a 32-byte key that never enters the database (invariant 4).
//!
//! The key comes from `FERRY_CREDENTIAL_KEY` (base64 of 32 bytes) or from a key file (32 raw bytes, or base64
//! of them). `ferry serve` creates `DATA/credential.key` (mode 0600) on first start when neither is given.
//! Every secret gets a fresh random 96-bit nonce. Losing the key makes stored credentials unreadable —
//! they are then supplied again, exactly as after a pause.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_core::{Error, ErrorKind, Result};
use std::fmt;
use std::path::Path;

/// The environment variable holding the key (base64 of 32 bytes).
pub const KEY_ENV: &str = "FERRY_CREDENTIAL_KEY";

/// Encrypts and decrypts stored secrets.
#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(<key redacted>)")
    }
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| {
        Error::unexpected(format!("the operating system gave no random bytes: {e}"))
    })?;
    Ok(b)
}

impl Vault {
    pub fn from_key(key: &[u8; 32]) -> Vault {
        Vault {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// A vault with a fresh random key (tests and `ferry quickstart`).
    pub fn ephemeral() -> Result<Vault> {
        Ok(Vault::from_key(&random_bytes::<32>()?))
    }

    /// Parse a key: 32 raw bytes, or base64 of 32 bytes (surrounding whitespace ignored).
    pub fn parse_key(bytes: &[u8]) -> Result<[u8; 32]> {
        if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
            return Ok(raw);
        }
        let text = std::str::from_utf8(bytes).unwrap_or("").trim();
        let decoded = B64.decode(text).map_err(|_| bad_key())?;
        <[u8; 32]>::try_from(decoded.as_slice()).map_err(|_| bad_key())
    }

    /// The key from `FERRY_CREDENTIAL_KEY`, else from `key_file`, else a new key written to `key_file`.
    pub fn load_or_create(key_file: &Path) -> Result<Vault> {
        if let Ok(v) = std::env::var(KEY_ENV) {
            return Ok(Vault::from_key(&Vault::parse_key(v.as_bytes())?));
        }
        match std::fs::read(key_file) {
            Ok(bytes) => {
                Ok(Vault::from_key(&Vault::parse_key(&bytes).map_err(|e| {
                    e.with_context("key file", key_file.display())
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>()?;
                write_private(key_file, B64.encode(key).as_bytes())?;
                tracing::info!(path = %key_file.display(), "created a new credential key");
                Ok(Vault::from_key(&key))
            }
            Err(e) => Err(Error::new(
                ErrorKind::Config,
                format!("cannot read the credential key {}: {e}", key_file.display()),
            )),
        }
    }

    /// Encrypt `secret`: (nonce, ciphertext).
    pub fn seal(&self, secret: &str) -> Result<(Vec<u8>, Vec<u8>)> {
        let nonce = random_bytes::<12>()?;
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
            .map_err(|_| Error::unexpected("encrypting a credential failed"))?;
        Ok((nonce.to_vec(), ct))
    }

    /// Decrypt what [`seal`](Self::seal) returned. Fails when the key is not the one it was sealed with.
    pub fn open(&self, nonce: &[u8], ciphertext: &[u8]) -> Result<String> {
        if nonce.len() != 12 {
            return Err(Error::new(
                ErrorKind::Store,
                "a stored credential is damaged",
            ));
        }
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| {
                Error::new(
                    ErrorKind::Auth,
                    "a stored credential cannot be decrypted with this key: supply the credential again",
                )
            })?;
        String::from_utf8(plain)
            .map_err(|_| Error::new(ErrorKind::Store, "a stored credential is damaged"))
    }
}

fn bad_key() -> Error {
    Error::config(format!(
        "the credential key must be 32 bytes, raw or base64 (e.g. `head -c 32 /dev/urandom | base64`); set {KEY_ENV} or use a key file"
    ))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |e: std::io::Error| {
        Error::new(
            ErrorKind::Config,
            format!("cannot write the credential key {}: {e}", path.display()),
        )
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_round_trips_and_the_ciphertext_does_not_contain_it() {
        let v = Vault::ephemeral().unwrap();
        let (n, ct) = v.seal("hunter2-very-secret").unwrap();
        assert!(!ct.windows(6).any(|w| w == b"hunter"));
        assert_eq!(v.open(&n, &ct).unwrap(), "hunter2-very-secret");
        let (n2, _) = v.seal("hunter2-very-secret").unwrap();
        assert_ne!(n, n2, "every secret gets its own nonce");
    }

    #[test]
    fn another_key_cannot_open_it() {
        let (a, b) = (Vault::ephemeral().unwrap(), Vault::ephemeral().unwrap());
        let (n, ct) = a.seal("s").unwrap();
        let e = b.open(&n, &ct).unwrap_err();
        assert!(e.to_string().contains("supply the credential again"), "{e}");
    }

    #[test]
    fn keys_parse_raw_or_base64_and_bad_keys_say_how_to_make_one() {
        let raw = [7u8; 32];
        assert_eq!(Vault::parse_key(&raw).unwrap(), raw);
        assert_eq!(Vault::parse_key(B64.encode(raw).as_bytes()).unwrap(), raw);
        let e = Vault::parse_key(b"short").unwrap_err();
        assert!(e.to_string().contains("32 bytes"), "{e}");
    }

    #[test]
    fn a_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credential.key");
        let a = Vault::load_or_create(&path).unwrap();
        let (n, ct) = a.seal("x").unwrap();
        let b = Vault::load_or_create(&path).unwrap();
        assert_eq!(b.open(&n, &ct).unwrap(), "x");
    }
}
