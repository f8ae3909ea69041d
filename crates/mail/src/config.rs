//! Mail endpoints from URLs (STYLE "config in three steps": URL text → validated [`MailEndpoint`] → a
//! connector from [`crate::open_mail`]).
//!
//! Accepted forms:
//! - `imap://[user@]host[:port]` — port 143; STARTTLS when the server offers it (`?starttls=require` to
//!   insist, `?starttls=never` to stay in plain text),
//! - `imaps://[user@]host[:port]` — port 993, TLS from the first byte,
//! - `?tls_verify=false` accepts self-signed certificates (test servers only),
//! - `?timeout=SECONDS` overrides the 120 s answer timeout,
//! - `exo://<tenant>` — Exchange Online: `imaps://outlook.office365.com:993` with `XOAUTH2` as each
//!   mapping's mailbox (see [`crate::exo`] for its options),
//! - `?auth=xoauth2` says the server takes OAuth only (`AUTHENTICATE XOAUTH2`): a password is refused when
//!   the endpoint is given credentials, and a token source must be given instead,
//! - `maildir:PATH`, `mbox:PATH`.
//!
//! Passwords never travel in URLs (they end up in logs and shell history): give them to
//! [`ImapConfig::with_login`] and friends from a credential store.

use ferry_core::mail::Secret;
use ferry_core::token::{StaticToken, TokenSource};
use ferry_core::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A mail source or target, as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailEndpoint {
    /// `imap://` or `imaps://`.
    Imap(ImapConfig),
    /// `maildir:PATH`: a Maildir++ (or Dovecot `LAYOUT=fs`) tree.
    Maildir {
        /// The Maildir root (the folder holding `cur/`, `new/`, `tmp/`).
        path: PathBuf,
    },
    /// `mbox:PATH`: one mbox file or a directory of them.
    Mbox {
        /// The file or directory.
        path: PathBuf,
    },
}

/// How the IMAP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// `imaps://`: TLS from the first byte (RFC 8314).
    Implicit,
    /// `imap://`: upgrade with STARTTLS when the server advertises it, else stay plain.
    StartTlsIfAvailable,
    /// `imap://...?starttls=require`: fail unless STARTTLS succeeds.
    StartTlsRequired,
    /// `imap://...?starttls=never`: plain text (loopback test servers).
    Plain,
}

/// How to log in.
#[derive(Clone, Debug)]
pub enum ImapAuth {
    /// `LOGIN user password` (or `AUTHENTICATE PLAIN` when the server has `LOGINDISABLED`).
    Login {
        /// The login name.
        user: String,
        /// The password.
        password: Secret,
    },
    /// A master (admin) login acting for `user`: Dovecot's `LOGIN "user*admin" password`, with
    /// `separator` between the two names.
    Master {
        /// The mailbox owner to act for.
        user: String,
        /// The master user's name.
        admin: String,
        /// The master user's password.
        password: Secret,
        /// Between `user` and `admin` in the login name (Dovecot's `auth_master_user_separator`).
        separator: char,
    },
    /// `AUTHENTICATE XOAUTH2` with an OAuth access token (Gmail, Microsoft 365). The token is asked of
    /// `tokens` at every (re)connection, so a pass outlives any one token; when the server refuses a
    /// token, the connector invalidates it and tries once more with a fresh one.
    XOAuth2 {
        /// The mailbox to log in to (`user=` in the SASL string).
        user: String,
        /// Where tokens come from (a fixed token is a [`StaticToken`]).
        tokens: Arc<dyn TokenSource>,
    },
}

impl PartialEq for ImapAuth {
    /// Token sources are equal when they are the same source (the same `Arc`).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                ImapAuth::Login { user, password },
                ImapAuth::Login {
                    user: u2,
                    password: p2,
                },
            ) => user == u2 && password == p2,
            (
                ImapAuth::Master {
                    user,
                    admin,
                    password,
                    separator,
                },
                ImapAuth::Master {
                    user: u2,
                    admin: a2,
                    password: p2,
                    separator: s2,
                },
            ) => user == u2 && admin == a2 && password == p2 && separator == s2,
            (
                ImapAuth::XOAuth2 { user, tokens },
                ImapAuth::XOAuth2 {
                    user: u2,
                    tokens: t2,
                },
            ) => user == u2 && std::ptr::addr_eq(Arc::as_ptr(tokens), Arc::as_ptr(t2)),
            _ => false,
        }
    }
}

impl Eq for ImapAuth {}

impl ImapAuth {
    /// The mailbox owner this login acts for.
    pub fn user(&self) -> &str {
        match self {
            ImapAuth::Login { user, .. }
            | ImapAuth::Master { user, .. }
            | ImapAuth::XOAuth2 { user, .. } => user,
        }
    }
}

/// A validated IMAP endpoint. `Debug` prints no secret (passwords are [`Secret`]s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImapConfig {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port (143 for `imap://`, 993 for `imaps://` unless given).
    pub port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// Verify the server certificate against the web PKI roots (`false` only for self-signed test servers).
    pub tls_verify: bool,
    /// The user named in the URL (`imap://alice@host`), percent-decoded.
    pub user: Option<String>,
    /// Credentials; `None` only for servers that greet with `PREAUTH`.
    pub auth: Option<ImapAuth>,
    /// How long any single read or write may take before the connection is considered lost.
    pub timeout: Duration,
    /// `exo://`: the server is Exchange Online, with its error replies, limits and folder names.
    pub exchange: Option<crate::exo::ExchangeProfile>,
    /// `?auth=xoauth2`: the server takes OAuth tokens only; [`ImapConfig::with_login`] and
    /// [`ImapConfig::with_master`] refuse, [`ImapConfig::with_token_source`] is the way in.
    pub xoauth2_only: bool,
    /// Set by a worker running a leased pass: past it, the connection sends nothing more
    /// ([`ferry_core::fence`]). `None` everywhere else.
    pub fence: Option<ferry_core::fence::Fence>,
}

/// The answer timeout when the URL does not give one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl ImapConfig {
    /// A plain (no TLS) config for `host:port`, as tests use it.
    pub fn plain(host: impl Into<String>, port: u16) -> Self {
        ImapConfig {
            host: host.into(),
            port,
            tls: TlsMode::Plain,
            tls_verify: true,
            user: None,
            auth: None,
            timeout: DEFAULT_TIMEOUT,
            exchange: None,
            xoauth2_only: false,
            fence: None,
        }
    }

    fn refuse_password(&self) -> Result<()> {
        if self.xoauth2_only {
            return Err(Error::config(format!(
                "{} takes OAuth only (auth=xoauth2): give an OAuth sign-in (tenant and app, or a token) instead of \
                 a password",
                self.describe()
            )));
        }
        Ok(())
    }

    fn url_user(&self, given: Option<&str>) -> Result<String> {
        given
            .map(str::to_owned)
            .or_else(|| self.user.clone())
            .ok_or_else(|| Error::config("no IMAP user: write it in the URL (imap://alice@host) or pass it with the password"))
    }

    /// Log in as the URL's user (or `user`, if given) with a password.
    pub fn with_login(mut self, user: Option<&str>, password: Secret) -> Result<Self> {
        self.refuse_password()?;
        let user = self.url_user(user)?;
        self.auth = Some(ImapAuth::Login { user, password });
        Ok(self)
    }

    /// Log in as master user `admin` acting for the URL's user, Dovecot style (`user*admin`).
    pub fn with_master(
        mut self,
        user: Option<&str>,
        admin: &str,
        password: Secret,
    ) -> Result<Self> {
        self.refuse_password()?;
        let user = self.url_user(user)?;
        self.auth = Some(ImapAuth::Master {
            user,
            admin: admin.to_owned(),
            password,
            separator: '*',
        });
        Ok(self)
    }

    /// Log in with one fixed OAuth2 access token (`AUTHENTICATE XOAUTH2`); it cannot be refreshed.
    pub fn with_xoauth2(self, user: Option<&str>, token: Secret) -> Result<Self> {
        self.with_token_source(user, Arc::new(StaticToken::new(token)))
    }

    /// Log in with `AUTHENTICATE XOAUTH2`, asking `tokens` for a token at every (re)connection.
    pub fn with_token_source(
        mut self,
        user: Option<&str>,
        tokens: Arc<dyn TokenSource>,
    ) -> Result<Self> {
        let user = self.url_user(user)?;
        self.auth = Some(ImapAuth::XOAuth2 { user, tokens });
        Ok(self)
    }

    /// `imap://alice@127.0.0.1:1143` — for logs and reports; never a secret.
    pub fn describe(&self) -> String {
        let scheme = if self.tls == TlsMode::Implicit {
            "imaps"
        } else {
            "imap"
        };
        let user = self
            .auth
            .as_ref()
            .map(ImapAuth::user)
            .or(self.user.as_deref());
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match user {
            Some(u) => format!("{scheme}://{u}@{host}:{}", self.port),
            None => format!("{scheme}://{host}:{}", self.port),
        }
    }
}

impl MailEndpoint {
    /// Parse an endpoint URL (see the module docs). Every problem is a [`ErrorKind::Config`] error that names
    /// the part of the URL and says what to write instead.
    ///
    /// [`ErrorKind::Config`]: ferry_core::ErrorKind::Config
    pub fn parse(url: &str) -> Result<MailEndpoint> {
        Self::parse_inner(url.trim()).map_err(|e| {
            // Errors quote the URL: never with a password in it.
            let msg = ferry_core::redact_url(e.message());
            if msg == e.message() {
                e
            } else {
                Error::config(msg)
            }
        })
    }

    fn parse_inner(url: &str) -> Result<MailEndpoint> {
        for (prefix, is_maildir) in [("maildir:", true), ("mbox:", false)] {
            if url.len() >= prefix.len() && url[..prefix.len()].eq_ignore_ascii_case(prefix) {
                let path = &url[prefix.len()..];
                if path.is_empty() {
                    return Err(Error::config(format!(
                        "endpoint `{url}`: the path is empty; write e.g. `{prefix}/srv/mail/alice`"
                    )));
                }
                let path = PathBuf::from(path);
                return Ok(if is_maildir {
                    MailEndpoint::Maildir { path }
                } else {
                    MailEndpoint::Mbox { path }
                });
            }
        }
        if url.len() >= 6 && url[..6].eq_ignore_ascii_case("exo://") {
            return crate::exo::parse_exo(url).map(MailEndpoint::Imap);
        }
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::config(format!(
                "endpoint `{url}` is not a URL ({e}); write imap://host, imaps://host, exo://tenant, maildir:PATH or mbox:PATH"
            ))
        })?;
        let (tls, default_port) = match parsed.scheme() {
            "imap" => (TlsMode::StartTlsIfAvailable, 143),
            "imaps" => (TlsMode::Implicit, 993),
            other => {
                return Err(Error::config(format!(
                    "endpoint scheme `{other}` is not a mail endpoint; write imap://, imaps://, exo://, maildir: or mbox:"
                )));
            }
        };
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => {
                return Err(Error::config(format!(
                    "endpoint `{url}`: host is missing; write e.g. imaps://mail.example.com"
                )));
            }
        };
        if parsed.password().is_some() {
            return Err(Error::config(
                "endpoint URL: the password must not be written in the URL; give it separately (credential store, \
                 --password-file)",
            ));
        }
        if !matches!(parsed.path(), "" | "/") {
            return Err(Error::config(format!(
                "endpoint `{}`: path `{}` is not supported; folders are chosen by the mapping, write only \
                 {}://host[:port]",
                parsed.scheme(),
                parsed.path(),
                parsed.scheme()
            )));
        }
        let user = match parsed.username() {
            "" => None,
            u => Some(
                percent_encoding::percent_decode_str(u)
                    .decode_utf8()
                    .map_err(|_| Error::config("endpoint user: not valid UTF-8 after percent-decoding; check the %XX escapes"))?
                    .into_owned(),
            ),
        };
        let mut cfg = ImapConfig {
            host,
            port: parsed.port().unwrap_or(default_port),
            tls,
            tls_verify: true,
            user,
            auth: None,
            timeout: DEFAULT_TIMEOUT,
            exchange: None,
            xoauth2_only: false,
            fence: None,
        };
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "starttls" => {
                    if cfg.tls == TlsMode::Implicit {
                        return Err(Error::config(
                            "endpoint option `starttls`: imaps:// is already TLS; write imap://host?starttls=require instead",
                        ));
                    }
                    cfg.tls = match value.as_ref() {
                        "require" => TlsMode::StartTlsRequired,
                        "never" => TlsMode::Plain,
                        "auto" => TlsMode::StartTlsIfAvailable,
                        v => {
                            return Err(Error::config(format!(
                                "endpoint option `starttls={v}`: write starttls=require, starttls=never or starttls=auto"
                            )));
                        }
                    }
                }
                "tls_verify" => cfg.tls_verify = tls_verify_option(&value)?,
                "timeout" => cfg.timeout = timeout_option(&value)?,
                "auth" => {
                    cfg.xoauth2_only = match value.as_ref() {
                        "xoauth2" => true,
                        "auto" => false,
                        v => {
                            return Err(Error::config(format!(
                                "endpoint option `auth={v}`: write auth=xoauth2 (OAuth only) or auth=auto"
                            )));
                        }
                    }
                }
                k => {
                    return Err(Error::config(format!(
                        "endpoint option `{k}` is unknown; the options are starttls, tls_verify, timeout and auth"
                    )));
                }
            }
        }
        Ok(MailEndpoint::Imap(cfg))
    }

    /// A description for logs and reports, without secrets.
    pub fn describe(&self) -> String {
        match self {
            MailEndpoint::Imap(c) => c.describe(),
            MailEndpoint::Maildir { path } => format!("maildir:{}", path.display()),
            MailEndpoint::Mbox { path } => format!("mbox:{}", path.display()),
        }
    }
}

/// The `tls_verify=` endpoint option (IMAP and Exchange Online URLs).
pub(crate) fn tls_verify_option(value: &str) -> Result<bool> {
    match value {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        v => Err(Error::config(format!(
            "endpoint option `tls_verify={v}`: write tls_verify=true or tls_verify=false"
        ))),
    }
}

/// The `timeout=` endpoint option: a whole number of seconds above zero.
pub(crate) fn timeout_option(value: &str) -> Result<Duration> {
    let secs: u64 = value.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
        Error::config(format!(
            "endpoint option `timeout={value}`: write a whole number of seconds, e.g. timeout=120"
        ))
    })?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ErrorKind;

    fn imap(url: &str) -> ImapConfig {
        match MailEndpoint::parse(url) {
            Ok(MailEndpoint::Imap(c)) => c,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn imap_urls_parse_with_defaults() {
        let c = imap("imap://alice@127.0.0.1:1143");
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("127.0.0.1", 1143, TlsMode::StartTlsIfAvailable)
        );
        assert_eq!(c.user.as_deref(), Some("alice"));
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert!(c.tls_verify);
        assert_eq!(c.describe(), "imap://alice@127.0.0.1:1143");
        let c = imap("imaps://mail.example.com");
        assert_eq!((c.port, c.tls), (993, TlsMode::Implicit));
        assert_eq!(c.describe(), "imaps://mail.example.com:993");
        assert_eq!(imap("imap://h").port, 143);
        assert_eq!(
            imap("imap://h?starttls=require").tls,
            TlsMode::StartTlsRequired
        );
        assert_eq!(imap("imap://h?starttls=never").tls, TlsMode::Plain);
        assert!(!imap("imaps://h?tls_verify=false").tls_verify);
        assert_eq!(imap("imap://h?timeout=5").timeout, Duration::from_secs(5));
        assert_eq!(
            imap("imap://al%40ice%2Bx@h/").user.as_deref(),
            Some("al@ice+x")
        );
        assert_eq!(imap("imap://[::1]:1143").describe(), "imap://[::1]:1143");
    }

    #[test]
    fn file_endpoints_parse() {
        assert_eq!(
            MailEndpoint::parse("maildir:/srv/mail/alice").ok(),
            Some(MailEndpoint::Maildir {
                path: "/srv/mail/alice".into()
            })
        );
        assert_eq!(
            MailEndpoint::parse("mbox:rel/inbox.mbox").ok(),
            Some(MailEndpoint::Mbox {
                path: "rel/inbox.mbox".into()
            })
        );
    }

    #[test]
    fn bad_urls_are_config_errors_that_say_what_to_write() {
        for (url, hint) in [
            ("pop3://h", "imap://"),
            ("imap://", "host"),
            ("imap://alice:secret@h", "password"),
            ("imaps://alice:secret@h:99999", "not a URL"),
            ("imap://h/INBOX", "path"),
            ("imap://h?starttls=maybe", "starttls=require"),
            ("imaps://h?starttls=require", "imap://host?starttls=require"),
            ("imap://h?tls_verify=perhaps", "tls_verify=false"),
            ("imap://h?timeout=-1", "seconds"),
            ("imap://h?colour=red", "options are"),
            ("imaps://h?auth=magic", "auth=xoauth2"),
            ("maildir:", "path"),
            ("not a url", "imaps://"),
        ] {
            let e = MailEndpoint::parse(url).expect_err(url);
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(e.message().contains(hint), "{url}: {}", e.message());
            assert!(!e.to_string().contains("secret"), "{url}");
        }
    }

    #[test]
    fn credentials_come_from_the_url_user_and_never_print() {
        let c = imap("imap://alice@h")
            .with_login(None, Secret::new("hunter2"))
            .expect("user in url");
        assert_eq!(c.auth.as_ref().map(ImapAuth::user), Some("alice"));
        assert!(!format!("{c:?}").contains("hunter2"));
        let m = imap("imap://alice@h")
            .with_master(None, "admin", Secret::new("pw"))
            .expect("master");
        assert!(matches!(
            m.auth,
            Some(ImapAuth::Master { separator: '*', .. })
        ));
        assert_eq!(
            imap("imap://h")
                .with_login(None, Secret::new("x"))
                .map(|_| ())
                .expect_err("must fail")
                .kind(),
            ErrorKind::Config
        );
        assert_eq!(
            imap("imap://h")
                .with_xoauth2(Some("bob"), Secret::new("t"))
                .expect("user given")
                .describe(),
            "imap://bob@h:143"
        );
    }

    #[test]
    fn auth_xoauth2_urls_take_a_token_source_and_refuse_passwords() {
        let c = imap("imaps://alice@outlook.example?auth=xoauth2");
        assert!(c.xoauth2_only);
        assert!(!imap("imaps://h").xoauth2_only);
        let e = c
            .clone()
            .with_login(None, Secret::new("hunter2"))
            .map(|_| ())
            .expect_err("password refused");
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("OAuth"), "{e}");
        assert!(!e.to_string().contains("hunter2"));
        assert!(
            c.clone()
                .with_master(None, "admin", Secret::new("pw"))
                .is_err()
        );
        let source: Arc<dyn TokenSource> = Arc::new(StaticToken::new(Secret::new("tok")));
        let a = c
            .clone()
            .with_token_source(None, source.clone())
            .expect("token source");
        let b = c.with_token_source(None, source).expect("token source");
        assert_eq!(a, b, "the same token source compares equal");
        assert!(!format!("{a:?}").contains("tok\""));
    }
}
