//! Opening an SSH connection for SFTP: TCP, host-key check, login, the `sftp` subsystem.
//!
//! The host key is checked against a `known_hosts` file (OpenSSH format, hashed entries included):
//! a known key is accepted; a *changed* key is always refused (that is what a man-in-the-middle looks
//! like); an unknown key is refused unless [`SftpConfig::accept_unknown_host_key`] says otherwise (test
//! servers), and then it is logged at `warn` with its fingerprint.
//!
//! Login tries the private key file first (OpenSSH format; ed25519, ECDSA and RSA with SHA-2 signatures;
//! an encrypted key is opened with the password as its passphrase), then the password.

use crate::config::SftpConfig;
use ferry_core::{Error, ErrorKind, Result};
use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Why the host key was refused, for a clear error (russh only reports "unknown key").
type Verdict = Arc<Mutex<Option<String>>>;

/// The russh client handler: checks the server's host key.
pub struct HostKeyCheck {
    host: String,
    port: u16,
    known_hosts: Option<PathBuf>,
    accept_unknown: bool,
    verdict: Verdict,
}

impl HostKeyCheck {
    fn judge(&self, key: &PublicKey) -> std::result::Result<(), String> {
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let known = match &self.known_hosts {
            Some(path) => russh::keys::check_known_hosts_path(&self.host, self.port, key, path),
            None => russh::keys::check_known_hosts(&self.host, self.port, key),
        };
        match known {
            Ok(true) => Ok(()),
            Err(russh::keys::Error::KeyChanged { line }) => Err(format!(
                "the host key of {}:{} ({fingerprint}) differs from the one in known_hosts line {line}; \
                 refusing to connect (possible man-in-the-middle)",
                self.host, self.port
            )),
            Ok(false) | Err(_) if self.accept_unknown => {
                tracing::warn!(
                    host = %self.host,
                    port = self.port,
                    %fingerprint,
                    "accepting an SFTP host key that is not in known_hosts (accept_unknown_host_key)"
                );
                Ok(())
            }
            Ok(false) | Err(_) => Err(format!(
                "the host key of {}:{} ({fingerprint}) is not in known_hosts; add it (ssh-keyscan -p {} {}) \
                 or pass a known_hosts file",
                self.host, self.port, self.port, self.host
            )),
        }
    }
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> std::result::Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        match self.judge(&key) {
            Ok(()) => Ok(true),
            Err(why) => {
                if let Ok(mut v) = self.verdict.lock() {
                    *v = Some(why);
                }
                Ok(false)
            }
        }
    }
}

/// Map an SSH-level failure.
pub fn map_ssh(e: russh::Error, what: &str) -> Error {
    match &e {
        russh::Error::IO(_)
        | russh::Error::Disconnect
        | russh::Error::ConnectionTimeout
        | russh::Error::KeepaliveTimeout
        | russh::Error::InactivityTimeout
        | russh::Error::HUP
        | russh::Error::SendError
        | russh::Error::Elapsed(_) => {
            Error::new(ErrorKind::Io, format!("SFTP {what}: connection failed")).temporary()
        }
        russh::Error::UnknownKey | russh::Error::KeyChanged { .. } => {
            Error::new(ErrorKind::Auth, format!("SFTP {what}: host key refused"))
        }
        _ => Error::new(ErrorKind::Protocol, format!("SFTP {what}: SSH error")),
    }
    .with_source(e)
}

/// Connect, check the host key and log in. Returns the handle, ready for channels.
pub async fn open(cfg: &SftpConfig) -> Result<client::Handle<HostKeyCheck>> {
    let user = cfg.user.clone().ok_or_else(|| {
        Error::config("no SFTP user: write it in the URL (sftp://alice@host/path)")
    })?;
    if cfg.key_file.is_none() && cfg.password.is_none() {
        return Err(Error::config(format!(
            "no credential for {}: pass a private key file or a password",
            cfg.describe()
        )));
    }
    let verdict: Verdict = Arc::default();
    let handler = HostKeyCheck {
        host: cfg.host.clone(),
        port: cfg.port,
        known_hosts: cfg.known_hosts.clone(),
        accept_unknown: cfg.accept_unknown_host_key,
        verdict: verdict.clone(),
    };
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(std::time::Duration::from_secs(30)),
        nodelay: true,
        ..Default::default()
    });
    let mut handle = match client::connect(config, (cfg.host.as_str(), cfg.port), handler).await {
        Ok(h) => h,
        Err(e) => {
            let refused = verdict.lock().ok().and_then(|mut v| v.take());
            return Err(match refused {
                Some(why) => Error::new(ErrorKind::Auth, why).with_source(e),
                None => map_ssh(e, &format!("connect to {}:{}", cfg.host, cfg.port)),
            });
        }
    };

    let mut authed = false;
    if let Some(path) = &cfg.key_file {
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(k) => k,
            Err(first) => match &cfg.password {
                Some(p) => russh::keys::load_secret_key(path, Some(p.expose())),
                None => Err(first),
            }
            .map_err(|e| {
                Error::config(format!(
                    "cannot read the SSH private key {}: {e}",
                    path.display()
                ))
            })?,
        };
        let hash = if key.algorithm().is_rsa() {
            handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| map_ssh(e, "login"))?
                .flatten()
        } else {
            None
        };
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        authed = handle
            .authenticate_publickey(&user, key)
            .await
            .map_err(|e| map_ssh(e, "login"))?
            .success();
    }
    if !authed && let Some(password) = &cfg.password {
        authed = handle
            .authenticate_password(&user, password.expose())
            .await
            .map_err(|e| map_ssh(e, "login"))?
            .success();
    }
    if !authed {
        return Err(Error::new(
            ErrorKind::Auth,
            format!(
                "SFTP login as `{user}` to {}:{} failed; check the user, key and password",
                cfg.host, cfg.port
            ),
        ));
    }
    Ok(handle)
}

/// Open a session channel with the `sftp` subsystem, as a byte stream.
pub async fn sftp_channel(
    handle: &client::Handle<HostKeyCheck>,
) -> Result<russh::ChannelStream<client::Msg>> {
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| map_ssh(e, "open channel"))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| map_ssh(e, "start the sftp subsystem"))?;
    Ok(channel.into_stream())
}
