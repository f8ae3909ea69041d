//! Graph drive endpoints from what the user typed (STYLE "config in three steps").
//!
//! Accepted forms:
//! - `onedrive://<user-principal-name>/<path>` — a user's OneDrive (`onedrive://alice@contoso.com/Imported`);
//!   a user id (GUID) instead of the UPN works too.
//! - `sharepoint://<host>/sites/<site>/<library>/<path>` — a document library of a site, by the library's
//!   name as SharePoint shows it (`Documents`, `Shared Documents` and the URL form `Shared%20Documents`
//!   all find the default library); `teams/<site>` works like `sites/<site>`.
//! - In a Migration Manager / SPMT mapping CSV, `TargetWeb` = `https://<host>/sites/<site>` with
//!   `TargetDocLib` = the library and `TargetSubFolder` = the folder resolve to the same thing
//!   ([`GraphConfig::from_spmt`]); a OneDrive URL (`https://<tenant>-my.sharepoint.com/personal/…`) cannot
//!   name its owner reliably and is refused with the `onedrive://` form to use instead.
//!
//! URL options: `graph=URL` (the Graph base, default [`DEFAULT_GRAPH_URL`]; a sovereign cloud such as
//! `https://graph.microsoft.us/v1.0`, or a test emulator), `timeout=SECONDS`, `chunk=BYTES` (upload-session
//! fragment size: a multiple of 327,680 bytes below 60 MiB, default [`DEFAULT_CHUNK`]), `max_changes=N`
//! (the most changed files a pass takes from the drive's change feed before it compares by listing
//! instead, default [`super::delta::MAX_CHANGES`]).
//!
//! The bearer token is never part of the text: it comes from a [`TokenSource`] set with
//! [`GraphConfig::with_token_source`].

use ferry_core::token::TokenSource;
use ferry_core::{Error, Result};
use percent_encoding::percent_decode_str;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Microsoft Graph's global endpoint.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// Upload-session fragments must be a multiple of this (Graph docs, driveItem: createUploadSession).
pub const FRAGMENT_UNIT: u64 = 327_680;
/// Each upload-session request must be smaller than this (60 MiB).
pub const FRAGMENT_LIMIT: u64 = 60 * 1024 * 1024;
/// The default fragment: 32 × 320 KiB = 10 MiB (one fragment is what an upload holds in memory).
pub const DEFAULT_CHUNK: u64 = 32 * FRAGMENT_UNIT;

/// Which drive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriveRef {
    /// A user's OneDrive, by UPN or id.
    OneDrive { user: String },
    /// A site's document library: `host`, the site path (`sites/marketing`) and the library's name.
    SharePoint {
        host: String,
        site: String,
        library: String,
    },
}

/// A validated Graph drive endpoint.
#[derive(Clone)]
pub struct GraphConfig {
    pub drive: DriveRef,
    /// The folder inside the drive (no leading or trailing `/`; `""` for the drive's root).
    pub path: String,
    /// The Graph base URL, without a trailing `/`.
    pub base: String,
    pub timeout: Duration,
    /// Upload-session fragment size (see [`FRAGMENT_UNIT`]).
    pub chunk: u64,
    /// Where bearer tokens come from; `None` until the caller sets one.
    pub token: Option<Arc<dyn TokenSource>>,
    /// More changed files than this in the drive's change feed: compare by listing instead.
    pub max_changes: usize,
    /// A `Retry-After` longer than this is not waited out in the connector: the request fails at once with
    /// the throttling error and its wait, for the caller to stop and come back later (the programme's
    /// `max_wait_in_pass_secs`, issue 12 §3). `None` (the CLI): every wait is waited out.
    pub max_wait: Option<Duration>,
}

impl fmt::Debug for GraphConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphConfig")
            .field("drive", &self.drive)
            .field("path", &self.path)
            .field("base", &self.base)
            .field("chunk", &self.chunk)
            .field("max_changes", &self.max_changes)
            .field("token", &self.token.as_ref().map(|t| t.describe()))
            .finish()
    }
}

impl PartialEq for GraphConfig {
    fn eq(&self, o: &Self) -> bool {
        self.drive == o.drive
            && self.path == o.path
            && self.base == o.base
            && self.timeout == o.timeout
            && self.chunk == o.chunk
            && self.max_changes == o.max_changes
            && self.max_wait == o.max_wait
            && self.token.is_some() == o.token.is_some()
    }
}
impl Eq for GraphConfig {}

impl GraphConfig {
    fn new(drive: DriveRef, path: String) -> Self {
        GraphConfig {
            drive,
            path,
            base: DEFAULT_GRAPH_URL.to_owned(),
            timeout: crate::config::DEFAULT_TIMEOUT,
            chunk: DEFAULT_CHUNK,
            token: None,
            max_changes: super::delta::MAX_CHANGES,
            max_wait: None,
        }
    }

    /// Ask `token` for a bearer token at every request.
    pub fn with_token_source(mut self, token: Arc<dyn TokenSource>) -> Self {
        self.token = Some(token);
        self
    }

    /// Talk to another Graph endpoint (a sovereign cloud, a test emulator).
    pub fn with_base(mut self, base: &str) -> Result<Self> {
        self.base = parse_base(base)?;
        Ok(self)
    }

    /// `onedrive://alice@contoso.com/Imported` or `sharepoint://host/sites/x/Documents/Imported`; never
    /// a secret. Stable (the mapping's identity in the store), so the Graph base is not part of it.
    pub fn describe(&self) -> String {
        let tail = if self.path.is_empty() {
            String::new()
        } else {
            format!("/{}", self.path)
        };
        match &self.drive {
            DriveRef::OneDrive { user } => format!("onedrive://{user}{tail}"),
            DriveRef::SharePoint {
                host,
                site,
                library,
            } => format!("sharepoint://{host}/{site}/{library}{tail}"),
        }
    }

    /// Parse `onedrive://…` or `sharepoint://…` (see the module docs).
    pub fn parse(text: &str) -> Result<GraphConfig> {
        let parsed = url::Url::parse(text).map_err(|e| {
            Error::config(format!(
                "endpoint `{text}` is not a valid URL ({e}); write onedrive://alice@contoso.com/path or sharepoint://contoso.sharepoint.com/sites/site/Documents/path"
            ))
        })?;
        if parsed.password().is_some() {
            return Err(Error::config(
                "endpoint URL: no password or secret in a OneDrive/SharePoint URL; give the app's credentials with the OAuth flags",
            ));
        }
        let host = parsed.host_str().unwrap_or("").to_owned();
        let segments = path_segments(&parsed)?;
        let mut cfg = match parsed.scheme() {
            "onedrive" => {
                let user = match parsed.username() {
                    "" if !host.is_empty() => host,
                    "" => {
                        return Err(Error::config(
                            "endpoint `onedrive://`: the user is missing; write onedrive://alice@contoso.com/path",
                        ));
                    }
                    u => format!("{}@{host}", decode(u, "OneDrive user")?),
                };
                GraphConfig::new(DriveRef::OneDrive { user }, segments.join("/"))
            }
            "sharepoint" => {
                if host.is_empty() || !parsed.username().is_empty() {
                    return Err(Error::config(
                        "endpoint `sharepoint://`: write sharepoint://contoso.sharepoint.com/sites/site/Documents/path",
                    ));
                }
                let (site, rest) = site_of(&segments).ok_or_else(|| {
                    Error::config(format!(
                        "endpoint `sharepoint://{host}`: the site is missing; write sharepoint://{host}/sites/<site>/<library>/<path>"
                    ))
                })?;
                let Some((library, path)) = rest.split_first() else {
                    return Err(Error::config(format!(
                        "endpoint `sharepoint://{host}/{site}`: the document library is missing; write sharepoint://{host}/{site}/Documents/<path>"
                    )));
                };
                GraphConfig::new(
                    DriveRef::SharePoint {
                        host,
                        site,
                        library: library.clone(),
                    },
                    path.join("/"),
                )
            }
            other => {
                return Err(Error::config(format!(
                    "endpoint scheme `{other}://` is not a Graph drive; write onedrive:// or sharepoint://"
                )));
            }
        };
        for (k, v) in parsed.query_pairs() {
            match &*k {
                "graph" => cfg.base = parse_base(&v)?,
                "timeout" => {
                    cfg.timeout = v
                        .parse::<u64>()
                        .ok()
                        .filter(|&s| s > 0)
                        .map(Duration::from_secs)
                        .ok_or_else(|| {
                            Error::config(format!(
                                "endpoint option `timeout={v}`: write a whole number of seconds, e.g. timeout=120"
                            ))
                        })?
                }
                "chunk" => cfg.chunk = parse_chunk(&v)?,
                "max_changes" => {
                    cfg.max_changes = v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                        Error::config(format!(
                            "endpoint option `max_changes={v}`: write a whole number of files above 0, e.g. max_changes=5000"
                        ))
                    })?
                }
                other => {
                    return Err(Error::config(format!(
                        "endpoint option `{other}` is unknown for {}://; the options are graph, timeout, chunk and max_changes",
                        parsed.scheme()
                    )));
                }
            }
        }
        Ok(cfg)
    }

    /// A mapping CSV row's `TargetWeb` and `TargetDocLib` as a library endpoint, when `TargetWeb` is a
    /// SharePoint site (`https://host/sites/site` or `sharepoint://host/sites/site`); `None` for other
    /// targets (paths, WebDAV…), which keep the library as a folder.
    pub fn from_spmt(web: &str, doc_lib: &str) -> Option<Result<GraphConfig>> {
        let parsed = url::Url::parse(web.trim()).ok()?;
        let host = parsed.host_str()?.to_owned();
        let sharepoint = match parsed.scheme() {
            "sharepoint" => true,
            "https" => {
                host.to_ascii_lowercase().ends_with(".sharepoint.com")
                    || host.to_ascii_lowercase().contains(".sharepoint.")
            }
            _ => false,
        };
        if !sharepoint {
            return None;
        }
        Some((|| {
            if host.to_ascii_lowercase().contains("-my.sharepoint.") {
                return Err(Error::config(format!(
                    "TargetWeb `{web}` is a OneDrive URL, which does not name its owner reliably; write onedrive://<user principal name> as TargetWeb"
                )));
            }
            let segments = path_segments(&parsed)?;
            let (site, rest) = site_of(&segments).ok_or_else(|| {
                Error::config(format!(
                    "TargetWeb `{web}`: write the site URL, e.g. https://{host}/sites/<site>"
                ))
            })?;
            let lib: Vec<&str> = doc_lib
                .split(['/', '\\'])
                .filter(|s| !s.is_empty())
                .collect();
            let (library, path) = match (rest.split_first(), lib.split_first()) {
                (Some((l, p)), _) => (l.clone(), [p.join("/"), lib.join("/")].join("/")),
                (None, Some((l, p))) => ((*l).to_owned(), p.join("/")),
                (None, None) => ("Documents".to_owned(), String::new()),
            };
            let mut cfg = GraphConfig::new(
                DriveRef::SharePoint {
                    host: host.clone(),
                    site,
                    library,
                },
                path.trim_matches('/').to_owned(),
            );
            for (k, v) in parsed.query_pairs() {
                match &*k {
                    "graph" => cfg.base = parse_base(&v)?,
                    "chunk" => cfg.chunk = parse_chunk(&v)?,
                    _ => {}
                }
            }
            Ok(cfg)
        })())
    }
}

/// `sites/<site>` (or `teams/<site>`) at the start of a path, and what follows.
fn site_of(segments: &[String]) -> Option<(String, &[String])> {
    match segments {
        [kind, site, rest @ ..]
            if kind.eq_ignore_ascii_case("sites") || kind.eq_ignore_ascii_case("teams") =>
        {
            Some((format!("{}/{site}", kind.to_ascii_lowercase()), rest))
        }
        _ => None,
    }
}

fn path_segments(parsed: &url::Url) -> Result<Vec<String>> {
    parsed
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| decode(s, "path"))
        .collect()
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

fn parse_base(v: &str) -> Result<String> {
    let url = url::Url::parse(v).map_err(|e| {
        Error::config(format!(
            "Graph URL `{v}` is not a URL ({e}); write e.g. graph=https://graph.microsoft.com/v1.0"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Error::config(format!(
            "Graph URL `{v}`: write an http(s) URL with a host and no credentials, e.g. https://graph.microsoft.com/v1.0"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn parse_chunk(v: &str) -> Result<u64> {
    v.parse::<u64>()
        .ok()
        .filter(|&c| c > 0 && c % FRAGMENT_UNIT == 0 && c < FRAGMENT_LIMIT)
        .ok_or_else(|| {
            Error::config(format!(
                "endpoint option `chunk={v}`: write a multiple of 327680 bytes below 60 MiB, e.g. chunk=10485760"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ErrorKind;

    #[test]
    fn onedrive_urls_name_the_user_and_a_folder() {
        let c = GraphConfig::parse("onedrive://alice@contoso.com/Imported/2024").unwrap();
        assert_eq!(
            c.drive,
            DriveRef::OneDrive {
                user: "alice@contoso.com".into()
            }
        );
        assert_eq!(c.path, "Imported/2024");
        assert_eq!(c.base, DEFAULT_GRAPH_URL);
        assert_eq!(c.describe(), "onedrive://alice@contoso.com/Imported/2024");
        let c = GraphConfig::parse(
            "onedrive://alice@contoso.com?graph=http://127.0.0.1:9/v1.0/&chunk=655360",
        )
        .unwrap();
        assert_eq!(
            (c.path.as_str(), c.base.as_str(), c.chunk),
            ("", "http://127.0.0.1:9/v1.0", 655_360)
        );
    }

    #[test]
    fn sharepoint_urls_name_site_library_and_folder() {
        let c = GraphConfig::parse(
            "sharepoint://contoso.sharepoint.com/sites/Marketing/Shared%20Documents/a%20b/c",
        )
        .unwrap();
        assert_eq!(
            c.drive,
            DriveRef::SharePoint {
                host: "contoso.sharepoint.com".into(),
                site: "sites/Marketing".into(),
                library: "Shared Documents".into()
            }
        );
        assert_eq!(c.path, "a b/c");
        assert_eq!(
            c.describe(),
            "sharepoint://contoso.sharepoint.com/sites/Marketing/Shared Documents/a b/c"
        );
    }

    #[test]
    fn an_spmt_target_web_and_doc_lib_resolve_like_the_sharepoint_url() {
        let a = GraphConfig::from_spmt(
            "https://contoso.sharepoint.com/sites/Marketing",
            "Documents/Imported",
        )
        .unwrap()
        .unwrap();
        let b = GraphConfig::parse(
            "sharepoint://contoso.sharepoint.com/sites/Marketing/Documents/Imported",
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(GraphConfig::from_spmt("webdav://h/x", "Documents").is_none());
        assert!(GraphConfig::from_spmt("/srv/x", "Documents").is_none());
        let e = GraphConfig::from_spmt(
            "https://contoso-my.sharepoint.com/personal/alice",
            "Documents",
        )
        .unwrap()
        .unwrap_err();
        assert!(e.message().contains("onedrive://"), "{e}");
    }

    #[test]
    fn bad_graph_endpoints_say_what_to_write() {
        for (text, hint) in [
            ("onedrive://", "user is missing"),
            (
                "sharepoint://contoso.sharepoint.com/Documents",
                "site is missing",
            ),
            (
                "sharepoint://contoso.sharepoint.com/sites/x",
                "library is missing",
            ),
            ("onedrive://a@b.com/x?chunk=1000", "327680"),
            ("onedrive://a@b.com/x?chunk=62914560", "327680"),
            ("onedrive://a@b.com/x?graph=ftp://h", "http(s)"),
            ("onedrive://a@b.com/x?colour=red", "options are"),
            ("onedrive://a:secret@b.com/x", "no password"),
        ] {
            let e = GraphConfig::parse(text).expect_err(text);
            assert_eq!(e.kind(), ErrorKind::Config, "{text}");
            assert!(e.message().contains(hint), "{text}: {}", e.message());
            assert!(!e.message().contains("secret@"), "{text}");
        }
    }
}
