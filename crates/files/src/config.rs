//! File endpoints from what the user typed (STYLE "config in three steps": text → validated
//! [`FileEndpoint`] → a connector from [`crate::open_files`]).
//!
//! Accepted forms:
//! - a plain path, absolute or relative (`/srv/share`, `data/in`), or `file:PATH` / `file:///abs/path` —
//!   a local directory or a mounted share (SMB via CIFS, NFS…);
//! - `webdav://[user@]host[:port]/path` (HTTP, port 80) and `webdavs://…` (HTTPS, port 443);
//! - `sftp://[user@]host[:port]/path` (port 22). **Path rule:** like `scp host:path`, a single leading `/`
//!   only separates the path from the host, so `sftp://host/backup` is `backup` *relative to the login
//!   directory*; write a double slash for an absolute path: `sftp://host//srv/backup` is `/srv/backup`.
//!   `sftp://host` (or `sftp://host/`) is the login directory itself;
//! - `s3://bucket[/prefix]` — the S3 endpoint URL, region and keys are options (below or builder calls);
//! - `onedrive://<upn>/<path>` and `sharepoint://<host>/sites/<site>/<library>/<path>` — Microsoft Graph
//!   drives, see [`crate::graph::config`].
//!
//! URL options (`?name=value&…`): every URL takes `timeout=SECONDS` (default 120); `webdav(s)://` takes
//! `tls_verify=false` (self-signed test servers only); `s3://` takes `endpoint=http://127.0.0.1:9000`,
//! `region=eu-west-1` and `path_style=true|false`.
//!
//! Passwords and secret keys never travel in URLs (they end up in shell history and logs): the CLI passes
//! them to the `with_*` builders from flags, files or the credential store. `Debug` and `describe()` never
//! print a secret ([`Secret`] redacts itself).

use ferry_core::mail::Secret;
use ferry_core::{Error, Result};
use percent_encoding::percent_decode_str;
use std::path::PathBuf;
use std::time::Duration;

/// How long one request (or one SFTP answer) may take before the connection is considered lost.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The S3 region when none is given.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A file source or target, as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileEndpoint {
    /// A local directory or a mounted share.
    Local {
        path: PathBuf,
        /// Follow symbolic links (`--copy-links`): list and copy what they point to. Broken links and
        /// links to one of their own parent folders are still listed as links (and skipped).
        follow_links: bool,
    },
    WebDav(WebDavConfig),
    Sftp(SftpConfig),
    S3(S3Config),
    /// A OneDrive or a SharePoint document library, through Microsoft Graph.
    Graph(crate::graph::config::GraphConfig),
}

/// A validated WebDAV endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebDavConfig {
    /// `http(s)://host:port/path/` — always ends with `/`; every file path is appended to it.
    pub base: url::Url,
    /// Basic-auth user (from the URL or [`WebDavConfig::with_credentials`]).
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Verify the server certificate (`false` only for self-signed test servers).
    pub tls_verify: bool,
    /// Connect and idle-read timeout; requests without a body also get it as a total limit.
    pub timeout: Duration,
}

/// A validated SFTP endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SftpConfig {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    /// The root directory: relative to the login directory unless it starts with `/` (see module docs);
    /// `""` is the login directory.
    pub path: String,
    pub password: Option<Secret>,
    /// Private key file (OpenSSH format).
    pub key_file: Option<PathBuf>,
    /// `known_hosts` file to check the server key against (`~/.ssh/known_hosts` when `None`).
    pub known_hosts: Option<PathBuf>,
    /// Accept a host key that is not in `known_hosts` (test servers only).
    pub accept_unknown_host_key: bool,
    pub timeout: Duration,
}

/// A validated S3 endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (`""` for the whole bucket); a file `a/b` is stored
    /// under the key `prefix/a/b`.
    pub prefix: String,
    /// A non-AWS endpoint (`http://127.0.0.1:9000` for a local S3 server); `None` is AWS.
    pub endpoint: Option<url::Url>,
    /// Region for request signing (default [`DEFAULT_REGION`]).
    pub region: String,
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
    /// Path-style addressing (`endpoint/bucket/key`); default `true` when an endpoint is given.
    pub path_style: bool,
    pub timeout: Duration,
}

impl WebDavConfig {
    /// A config for a base URL such as `http://127.0.0.1:8080/share` (a trailing `/` is added), as tests
    /// and the testkit use it.
    pub fn new(base: &str) -> Result<Self> {
        let mut base = url::Url::parse(base).map_err(|e| {
            Error::config(format!(
                "WebDAV base `{base}` is not a URL ({e}); write e.g. http://127.0.0.1:8080/share"
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(Error::config(format!(
                "WebDAV base `{base}`: write an http:// or https:// URL with a host"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        base.set_fragment(None);
        let user = match base.username() {
            "" => None,
            u => Some(decode(u, "WebDAV user")?),
        };
        if base.password().is_some() {
            return Err(password_in_url());
        }
        // The credentials live in their own fields; the URL stays printable.
        let _ = base.set_username("");
        Ok(WebDavConfig {
            base,
            user,
            password: None,
            tls_verify: true,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Log in with Basic auth as `user` (or the URL's user when `None`).
    pub fn with_credentials(mut self, user: Option<&str>, password: Secret) -> Result<Self> {
        let user = user.map(str::to_owned).or_else(|| self.user.clone()).ok_or_else(|| {
            Error::config("no WebDAV user: write it in the URL (webdav://alice@host/path) or pass it with the password")
        })?;
        self.user = Some(user);
        self.password = Some(password);
        Ok(self)
    }

    /// `webdav://alice@127.0.0.1:8080/share/` — for logs and reports; never a secret.
    pub fn describe(&self) -> String {
        let scheme = if self.base.scheme() == "https" {
            "webdavs"
        } else {
            "webdav"
        };
        let host = self.base.host_str().unwrap_or("");
        let port = self.base.port_or_known_default().unwrap_or(0);
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{host}:{port}{}", self.base.path())
    }
}

impl SftpConfig {
    /// A config for `host:port` rooted at `path` (see [`SftpConfig::path`]).
    pub fn new(host: impl Into<String>, port: u16, path: impl Into<String>) -> Self {
        SftpConfig {
            host: host.into(),
            port,
            user: None,
            path: path.into(),
            password: None,
            key_file: None,
            known_hosts: None,
            accept_unknown_host_key: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    fn login_user(&self, user: Option<&str>) -> Result<String> {
        user.map(str::to_owned).or_else(|| self.user.clone()).ok_or_else(|| {
            Error::config("no SFTP user: write it in the URL (sftp://alice@host/path) or pass it with the credential")
        })
    }

    /// Log in with a password as `user` (or the URL's user).
    pub fn with_password(mut self, user: Option<&str>, password: Secret) -> Result<Self> {
        self.user = Some(self.login_user(user)?);
        self.password = Some(password);
        Ok(self)
    }

    /// Log in with a private key file as `user` (or the URL's user).
    pub fn with_key_file(
        mut self,
        user: Option<&str>,
        key_file: impl Into<PathBuf>,
    ) -> Result<Self> {
        self.user = Some(self.login_user(user)?);
        self.key_file = Some(key_file.into());
        Ok(self)
    }

    /// Check the host key against this `known_hosts` file.
    pub fn with_known_hosts(mut self, known_hosts: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(known_hosts.into());
        self
    }

    /// Accept an unknown host key (test servers only).
    pub fn accepting_unknown_host_key(mut self, accept: bool) -> Self {
        self.accept_unknown_host_key = accept;
        self
    }

    /// `sftp://alice@host:22/backup` (relative) or `sftp://alice@host:22//srv/backup` (absolute).
    pub fn describe(&self) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("sftp://{user}{host}:{}/{}", self.port, self.path)
    }
}

impl S3Config {
    /// A config for `bucket` and `prefix` on AWS, no keys.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_owned(),
            endpoint: None,
            region: DEFAULT_REGION.to_owned(),
            access_key: None,
            secret_key: None,
            path_style: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sign requests with these keys.
    pub fn with_keys(mut self, access_key: impl Into<String>, secret_key: Secret) -> Self {
        self.access_key = Some(access_key.into());
        self.secret_key = Some(secret_key);
        self
    }

    /// Talk to a non-AWS endpoint (`http://127.0.0.1:9000`); switches to path-style addressing.
    pub fn with_endpoint(mut self, endpoint: &str) -> Result<Self> {
        self.endpoint = Some(parse_s3_endpoint(endpoint)?);
        self.path_style = true;
        Ok(self)
    }

    /// Sign for this region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// `s3://bucket/prefix` (plus the endpoint when not AWS); never a secret.
    pub fn describe(&self) -> String {
        let mut s = format!("s3://{}", self.bucket);
        if !self.prefix.is_empty() {
            s.push('/');
            s.push_str(&self.prefix);
        }
        if let Some(e) = &self.endpoint {
            s.push_str(&format!(" (endpoint {})", e.as_str().trim_end_matches('/')));
        }
        s
    }
}

impl FileEndpoint {
    /// Parse an endpoint (see the module docs). Every problem is an [`ErrorKind::Config`] error that names
    /// the part of the text and says what to write instead.
    ///
    /// [`ErrorKind::Config`]: ferry_core::ErrorKind::Config
    pub fn parse(s: &str) -> Result<FileEndpoint> {
        Self::parse_inner(s).map_err(|e| {
            // Errors quote the text: never with a password in it.
            let msg = ferry_core::redact_url(e.message());
            if msg == e.message() {
                e
            } else {
                Error::config(msg)
            }
        })
    }

    fn parse_inner(s: &str) -> Result<FileEndpoint> {
        let text = s.trim();
        if text.is_empty() {
            return Err(Error::config(
                "file endpoint is empty; write a path (/srv/share), webdav://host/path, sftp://host/path or s3://bucket",
            ));
        }
        let Some(scheme) = url_scheme(text) else {
            // `file:PATH` (not `file://`) and plain paths.
            let path = strip_prefix_ignore_case(text, "file:").unwrap_or(text);
            if path.is_empty() {
                return Err(Error::config(
                    "endpoint `file:`: the path is empty; write e.g. file:/srv/share",
                ));
            }
            return Ok(FileEndpoint::Local {
                path: PathBuf::from(path),
                follow_links: false,
            });
        };
        let parsed = url::Url::parse(text).map_err(|e| {
            Error::config(format!(
                "endpoint `{text}` is not a valid URL ({e}); write e.g. webdav://host:8080/path, sftp://host/path or s3://bucket/prefix"
            ))
        })?;
        if parsed.password().is_some() {
            return Err(password_in_url());
        }
        if parsed.fragment().is_some() {
            return Err(Error::config(format!(
                "endpoint `{scheme}://…`: `#` starts a URL fragment; write a `#` in a path as %23"
            )));
        }
        let options = Options::from_url(&parsed);
        match scheme.as_str() {
            "file" => {
                let path = decode(parsed.path(), "file path")?;
                if path.is_empty() || parsed.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err(Error::config(
                        "endpoint `file://`: write file:///absolute/path (three slashes)",
                    ));
                }
                options.reject_all("file://")?;
                Ok(FileEndpoint::Local {
                    path: PathBuf::from(path),
                    follow_links: false,
                })
            }
            "webdav" | "webdavs" => {
                parse_webdav(&parsed, &scheme, options).map(FileEndpoint::WebDav)
            }
            "sftp" => parse_sftp(&parsed, options).map(FileEndpoint::Sftp),
            "s3" => parse_s3(&parsed, options).map(FileEndpoint::S3),
            "onedrive" | "sharepoint" => {
                crate::graph::config::GraphConfig::parse(text).map(FileEndpoint::Graph)
            }
            other => Err(Error::config(format!(
                "endpoint scheme `{other}://` is not a file endpoint; write a path, file:PATH, webdav://, webdavs://, sftp://, s3://, onedrive:// or sharepoint://"
            ))),
        }
    }

    /// A description for logs and reports, without secrets.
    pub fn describe(&self) -> String {
        match self {
            FileEndpoint::Local { path, .. } => path.display().to_string(),
            FileEndpoint::WebDav(c) => c.describe(),
            FileEndpoint::Sftp(c) => c.describe(),
            FileEndpoint::S3(c) => c.describe(),
            FileEndpoint::Graph(c) => c.describe(),
        }
    }
}

fn parse_webdav(parsed: &url::Url, scheme: &str, mut options: Options) -> Result<WebDavConfig> {
    let host = host_of(parsed, scheme)?;
    let http = if scheme == "webdavs" { "https" } else { "http" };
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    // Keep the path's percent-encoding exactly as written: it is sent as is.
    let base = format!("{http}://{host}{port}{}", parsed.path());
    let mut cfg = WebDavConfig::new(&base)?;
    cfg.user = user_of(parsed, "WebDAV")?;
    if let Some(v) = options.take("tls_verify") {
        cfg.tls_verify = parse_bool("tls_verify", &v)?;
    }
    if let Some(v) = options.take("timeout") {
        cfg.timeout = parse_timeout(&v)?;
    }
    options.finish(scheme, "tls_verify and timeout")?;
    Ok(cfg)
}

fn parse_sftp(parsed: &url::Url, mut options: Options) -> Result<SftpConfig> {
    let host = host_of(parsed, "sftp")?;
    let raw = parsed.path();
    // One leading `/` separates host and path; `//abs` keeps one (module docs: the path rule).
    let path = match raw.strip_prefix('/') {
        Some(rest) => decode(rest, "SFTP path")?,
        None => decode(raw, "SFTP path")?,
    };
    let mut cfg = SftpConfig::new(host, parsed.port().unwrap_or(22), path);
    cfg.user = user_of(parsed, "SFTP")?;
    if let Some(v) = options.take("timeout") {
        cfg.timeout = parse_timeout(&v)?;
    }
    options.finish("sftp", "timeout (keys and host checks are flags)")?;
    Ok(cfg)
}

fn parse_s3(parsed: &url::Url, mut options: Options) -> Result<S3Config> {
    if !parsed.username().is_empty() {
        return Err(Error::config(
            "endpoint `s3://`: no user in an S3 URL; give the access key with --access-key (or the credential store)",
        ));
    }
    let bucket = match parsed.host_str() {
        Some(b) if !b.is_empty() => b.to_owned(),
        _ => {
            return Err(Error::config(
                "endpoint `s3://`: the bucket is missing; write s3://bucket[/prefix]",
            ));
        }
    };
    if parsed.port().is_some() {
        return Err(Error::config(
            "endpoint `s3://bucket:port`: a bucket has no port; give the server as ?endpoint=http://host:port",
        ));
    }
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.as_bytes()[0].is_ascii_alphanumeric();
    if !valid {
        return Err(Error::config(format!(
            "endpoint `s3://{bucket}`: bucket names are 3–63 characters of a-z, 0-9, `-` and `.`; write s3://my-bucket/prefix"
        )));
    }
    let prefix = decode(parsed.path(), "S3 prefix")?;
    let mut cfg = S3Config::new(bucket, prefix);
    if let Some(v) = options.take("region") {
        if v.is_empty() {
            return Err(Error::config(
                "endpoint option `region=`: write a region name, e.g. region=eu-west-1",
            ));
        }
        cfg.region = v;
    }
    if let Some(v) = options.take("endpoint") {
        cfg = cfg.with_endpoint(&v)?;
    }
    if let Some(v) = options.take("path_style") {
        cfg.path_style = parse_bool("path_style", &v)?;
    }
    if let Some(v) = options.take("timeout") {
        cfg.timeout = parse_timeout(&v)?;
    }
    options.finish("s3", "endpoint, region, path_style and timeout")?;
    Ok(cfg)
}

fn parse_s3_endpoint(endpoint: &str) -> Result<url::Url> {
    let url = url::Url::parse(endpoint).map_err(|e| {
        Error::config(format!(
            "S3 endpoint `{endpoint}` is not a URL ({e}); write e.g. endpoint=http://127.0.0.1:9000"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::config(format!(
            "S3 endpoint `{endpoint}`: write an http:// or https:// URL with a host, e.g. http://127.0.0.1:9000"
        )));
    }
    if url.password().is_some() || !url.username().is_empty() {
        return Err(Error::config(
            "S3 endpoint: no credentials in the URL; give the keys with --access-key/--secret-key-file",
        ));
    }
    Ok(url)
}

/// The scheme when `text` is written as `scheme://…`; `None` for paths and `file:PATH`.
fn url_scheme(text: &str) -> Option<String> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn host_of(parsed: &url::Url, scheme: &str) -> Result<String> {
    match parsed.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => Ok(d.to_owned()),
        Some(url::Host::Ipv4(a)) => Ok(a.to_string()),
        Some(url::Host::Ipv6(a)) => Ok(format!("[{a}]")),
        _ => Err(Error::config(format!(
            "endpoint `{scheme}://`: the host is missing; write e.g. {scheme}://files.example.com/path"
        ))),
    }
    .map(|h| if scheme == "sftp" { h.trim_matches(['[', ']']).to_owned() } else { h })
}

fn user_of(parsed: &url::Url, what: &str) -> Result<Option<String>> {
    match parsed.username() {
        "" => Ok(None),
        u => decode(u, &format!("{what} user")).map(Some),
    }
}

fn decode(s: &str, what: &str) -> Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            Error::config(format!(
                "endpoint {what}: not valid UTF-8 after percent-decoding; check the %XX escapes"
            ))
        })
}

fn password_in_url() -> Error {
    Error::config(
        "endpoint URL: the password must not be written in the URL; give it separately (credential store, --password-file)",
    )
}

fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(Error::config(format!(
            "endpoint option `{name}={v}`: write {name}=true or {name}=false"
        ))),
    }
}

fn parse_timeout(v: &str) -> Result<Duration> {
    v.parse::<u64>()
        .ok()
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            Error::config(format!(
                "endpoint option `timeout={v}`: write a whole number of seconds, e.g. timeout=120"
            ))
        })
}

/// The `?name=value` options of a URL, consumed one by one so unknown ones can be reported.
struct Options(Vec<(String, String)>);

impl Options {
    fn from_url(url: &url::Url) -> Self {
        Options(
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }

    fn finish(self, scheme: &str, known: &str) -> Result<()> {
        match self.0.first() {
            None => Ok(()),
            Some((k, _)) => Err(Error::config(format!(
                "endpoint option `{k}` is unknown for {scheme}://; the options are {known}"
            ))),
        }
    }

    fn reject_all(self, scheme: &str) -> Result<()> {
        self.finish(scheme, "none")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ErrorKind;

    fn parse(s: &str) -> FileEndpoint {
        FileEndpoint::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn plain_paths_and_file_urls_are_local() {
        for (text, path) in [
            ("/srv/share", "/srv/share"),
            ("data/in", "data/in"),
            ("./x y", "./x y"),
            ("file:/mnt/smb", "/mnt/smb"),
            ("FILE:rel", "rel"),
            ("file:///srv/a%20b", "/srv/a b"),
            ("weird:name", "weird:name"),
        ] {
            assert_eq!(
                parse(text),
                FileEndpoint::Local {
                    path: path.into(),
                    follow_links: false,
                },
                "{text}"
            );
        }
    }

    #[test]
    fn webdav_urls_become_http_bases_ending_in_a_slash() {
        let FileEndpoint::WebDav(c) = parse("webdav://alice@127.0.0.1:8080/share/a%20b") else {
            panic!()
        };
        assert_eq!(c.base.as_str(), "http://127.0.0.1:8080/share/a%20b/");
        assert_eq!(c.user.as_deref(), Some("alice"));
        assert!(c.tls_verify);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.describe(), "webdav://alice@127.0.0.1:8080/share/a%20b/");
        let FileEndpoint::WebDav(c) =
            parse("webdavs://files.example.com?tls_verify=false&timeout=5")
        else {
            panic!()
        };
        assert_eq!(c.base.as_str(), "https://files.example.com/");
        assert!(!c.tls_verify);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.describe(), "webdavs://files.example.com:443/");
        let FileEndpoint::WebDav(c) = parse("webdav://[::1]:81/") else {
            panic!()
        };
        assert_eq!(c.base.as_str(), "http://[::1]:81/");
    }

    #[test]
    fn sftp_paths_are_relative_unless_written_with_a_double_slash() {
        let FileEndpoint::Sftp(c) = parse("sftp://bob@host/backup/x") else {
            panic!()
        };
        assert_eq!(
            (c.host.as_str(), c.port, c.path.as_str()),
            ("host", 22, "backup/x")
        );
        assert_eq!(c.user.as_deref(), Some("bob"));
        let FileEndpoint::Sftp(c) = parse("sftp://host:2222//srv/backup") else {
            panic!()
        };
        assert_eq!((c.port, c.path.as_str()), (2222, "/srv/backup"));
        assert_eq!(c.describe(), "sftp://host:2222//srv/backup");
        let FileEndpoint::Sftp(c) = parse("sftp://host") else {
            panic!()
        };
        assert_eq!(c.path, "");
        assert!(!c.accept_unknown_host_key);
    }

    #[test]
    fn s3_urls_take_bucket_prefix_and_options() {
        let FileEndpoint::S3(c) = parse("s3://my-bucket/a/b/") else {
            panic!()
        };
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("my-bucket", "a/b"));
        assert_eq!(
            (c.region.as_str(), c.endpoint.is_none(), c.path_style),
            ("us-east-1", true, false)
        );
        let FileEndpoint::S3(c) = parse("s3://bkt?endpoint=http://127.0.0.1:9000&region=eu-west-1")
        else {
            panic!()
        };
        assert_eq!(c.prefix, "");
        assert_eq!(
            c.endpoint.as_ref().map(url::Url::as_str),
            Some("http://127.0.0.1:9000/")
        );
        assert!(c.path_style);
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.describe(), "s3://bkt (endpoint http://127.0.0.1:9000)");
        let FileEndpoint::S3(c) = parse("s3://bkt?endpoint=http://h:9000&path_style=false") else {
            panic!()
        };
        assert!(!c.path_style);
    }

    #[test]
    fn bad_endpoints_are_config_errors_that_say_what_to_write() {
        for (text, hint) in [
            ("", "write a path"),
            ("file:", "path is empty"),
            ("ftp://host/x", "webdav://"),
            ("webdav://", "host"),
            ("webdav://alice:secret@h/x", "password"),
            ("webdav://h/x?tls_verify=maybe", "tls_verify=false"),
            ("webdav://h/x?timeout=0", "seconds"),
            ("webdav://h/x?colour=red", "options are"),
            ("webdav://h/a#b", "%23"),
            ("sftp://bob:secret@h/x", "password"),
            ("sftp://h/x?tls_verify=false", "options are"),
            ("s3://", "bucket"),
            ("s3://Bad_Bucket", "3–63"),
            ("s3://bk:9000", "endpoint="),
            ("s3://bkt?endpoint=ftp://x", "http://"),
            ("s3://bkt?endpoint=notaurl", "endpoint="),
            ("s3://bkt?region=", "region"),
            ("s3://key@bkt", "access key"),
        ] {
            let e = FileEndpoint::parse(text).expect_err(text);
            assert_eq!(e.kind(), ErrorKind::Config, "{text}");
            assert!(e.message().contains(hint), "{text}: {}", e.message());
            assert!(!e.to_string().contains("secret"), "{text}");
        }
    }

    #[test]
    fn credentials_are_set_by_builders_and_never_printed() {
        let FileEndpoint::WebDav(c) = parse("webdav://alice@h/x") else {
            panic!()
        };
        let c = c.with_credentials(None, Secret::new("hunter2")).unwrap();
        assert_eq!(c.user.as_deref(), Some("alice"));
        assert!(!format!("{c:?} {}", c.describe()).contains("hunter2"));
        let FileEndpoint::WebDav(c) = parse("webdav://h/x") else {
            panic!()
        };
        assert_eq!(
            c.with_credentials(None, Secret::new("x"))
                .unwrap_err()
                .kind(),
            ErrorKind::Config
        );
        let FileEndpoint::Sftp(s) = parse("sftp://h/x") else {
            panic!()
        };
        let s = s
            .with_password(Some("bob"), Secret::new("hunter2"))
            .unwrap()
            .accepting_unknown_host_key(true);
        assert!(!format!("{s:?} {}", s.describe()).contains("hunter2"));
        let s3 = S3Config::new("bkt", "p").with_keys("AKIA", Secret::new("hunter2"));
        assert!(!format!("{s3:?} {}", s3.describe()).contains("hunter2"));
        let e = FileEndpoint::S3(s3);
        assert!(!e.describe().contains("hunter2"));
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::FileEndpoint;

    #[test]
    fn a_bad_url_with_a_password_is_quoted_without_it() {
        for url in [
            "webdav://u:hunter2@host:99999/share",
            "sftp://u:hunter2@host:0x/x",
        ] {
            let e = FileEndpoint::parse(url).expect_err(url);
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }
}
