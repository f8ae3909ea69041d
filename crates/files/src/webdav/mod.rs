//! [`WebDavConnector`]: a WebDAV server (rclone `serve webdav`, Apache `mod_dav`, Nextcloud…) as a file
//! source or target, on our own small client over reqwest (PROPFIND, GET, PUT, MKCOL, MOVE).
//!
//! Why not OpenDAL's WebDAV service: to WebDAV, per-file request overhead dominates throughput (the goal
//! is ≥ 5× rclone's files/s), so what matters is what this module controls directly:
//! - **One client, many connections.** One reqwest `Client` (connection pool, HTTP keep-alive,
//!   `TCP_NODELAY`) is shared by every concurrent call; the engine's concurrency becomes parallel
//!   requests on warm connections. Basic auth is a default header, sent up front (no 401 round trip).
//! - **One request per file.** A write is a single `PUT` with `Content-Length`: no `HEAD` before, no
//!   `PROPFIND` after. Parent folders are created with `MKCOL` only when not known to exist: folders seen
//!   in listings or created by this connector are remembered in a concurrent set.
//! - **Names survive.** Every path segment is percent-encoded on the wire except RFC 3986 unreserved
//!   characters, so spaces, `#%&`, `?`, unicode, TAB, newline, backslashes and trailing spaces
//!   round-trip. Answers are decoded segment by segment.
//!
//! What the protocol does not give (declared in [`FileCapability`], checked against Debian's rclone 1.60
//! `serve webdav`):
//! - **mtime:** writes send `X-OC-Mtime: <unix seconds>`, which Nextcloud/ownCloud (and newer rclone)
//!   honour; rclone 1.60 ignores it and refuses `PROPPATCH getlastmodified` (403, protected property), so
//!   `set_mtime` is `false`. When the server confirms (`X-OC-MTime: accepted`) the returned entry carries
//!   the mtime; otherwise the entry's mtime is `None` rather than a guess (a `PROPFIND` per file would
//!   halve throughput; the engine stats when it needs the target's time).
//! - **atomic writes:** rclone 1.60 writes `PUT` bodies straight into the destination (a partial file is
//!   visible during the upload and stays after an aborted one), so `atomic_write` is `false`. The engine
//!   can write to a temporary name and [`WebDavConnector::move_file`] it into place.
//! - **paging:** WebDAV has none; a listing is one page (the whole answer is parsed in memory).
//!
//! Timeouts: connecting and every request without a body are bounded by the configured timeout; a `GET`
//! body may idle at most that long between chunks; a `PUT` gets the timeout plus one second per 256 KiB
//! (a stall guard that never cuts a slow but moving upload of a large file).

pub mod multistatus;

use crate::config::WebDavConfig;
use crate::http::{status_error, transport_error};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use ferry_core::file::{
    EntryKind, FileCapability, FileConnector, FileEntry, FileReader, ListPage, join, name_bytes,
    name_from_bytes, normalize_etag, parent,
};
use ferry_core::mail::Access;
use ferry_core::{Error, ErrorKind, Result};
use futures_util::StreamExt;
use multistatus::{DavResponse, parse_multistatus};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Bytes encoded in a path segment: everything but RFC 3986 unreserved characters.
pub const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Bodies up to this size are sent in one piece (exact length known, no streaming machinery).
const SMALL_BODY: u64 = 256 * 1024;
/// Read size when streaming a large body.
const BODY_CHUNK: usize = 256 * 1024;
/// Idle connections kept per host: enough for the engine's concurrency.
const POOL_IDLE_PER_HOST: usize = 256;

const PROPFIND_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><D:creationdate/></D:prop></D:propfind>"#;

/// A WebDAV server as a [`FileConnector`]. See the module docs.
pub struct WebDavConnector {
    cfg: WebDavConfig,
    access: Access,
    client: reqwest::Client,
    /// `cfg.base` as text, ending in `/`.
    base: String,
    /// Folders known to exist (relative paths), so writes skip `MKCOL`.
    known_dirs: RwLock<HashSet<String>>,
    /// Held while creating folders not yet known; see `create_dir`.
    mkcol: tokio::sync::Mutex<()>,
    non_utf8: AtomicU64,
}

impl WebDavConnector {
    /// A connector for `cfg`; no request is made until the first call.
    pub fn new(cfg: WebDavConfig, access: Access) -> Result<Self> {
        let mut headers = HeaderMap::new();
        if let Some(user) = &cfg.user {
            use base64::Engine;
            let pw = cfg.password.as_ref().map(|p| p.expose()).unwrap_or("");
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
            let mut value = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
                Error::config("the WebDAV user or password contains characters HTTP cannot carry")
            })?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(!cfg.tls_verify)
            .connect_timeout(cfg.timeout)
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::config(format!("cannot set up the HTTP client: {e}")))?;
        let mut base = cfg.base.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(WebDavConnector {
            cfg,
            access,
            client,
            base,
            // The base folder itself is not assumed: the first write checks it and creates it (with its
            // parents) when missing, instead of failing every file with `MKCOL …: 409 Conflict`.
            known_dirs: RwLock::new(HashSet::new()),
            mkcol: tokio::sync::Mutex::new(()),
            non_utf8: AtomicU64::new(0),
        })
    }

    /// Names in listings that were not UTF-8 after percent-decoding (carried escaped, see
    /// [`ferry_core::file::name_from_bytes`]).
    pub fn skipped_non_utf8(&self) -> u64 {
        self.non_utf8.load(Ordering::Relaxed)
    }

    /// The URL of a relative path (`dir` adds the trailing `/` collections want).
    pub fn url(&self, path: &str, dir: bool) -> String {
        let mut url = self.base.clone();
        url.push_str(&encode_path(path));
        if dir && !path.is_empty() {
            url.push('/');
        }
        url
    }

    /// Rename `from` to `to` on the server (`MOVE`, replacing `to`), creating `to`'s parent folders.
    /// With `atomic_write` false, the engine writes to a temporary name and moves it into place, so no
    /// partial file is ever visible under the real name.
    pub async fn move_file(&self, from: &str, to: &str) -> Result<()> {
        self.check_write("move")?;
        crate::check_path(from, false, "move")?;
        crate::check_path(to, false, "move")?;
        self.ensure_dir(parent(to)).await?;
        let what = format!("MOVE {from} → {to}");
        let destination = HeaderValue::from_str(&self.url(to, false))
            .map_err(|_| Error::unexpected("MOVE: unencodable destination"))?;
        let resp = self
            .request(
                Method::from_bytes(b"MOVE").map_err(|_| Error::unexpected("MOVE method"))?,
                &self.url(from, false),
            )
            .header(HeaderName::from_static("destination"), destination)
            .header(
                HeaderName::from_static("overwrite"),
                HeaderValue::from_static("T"),
            )
            .timeout(self.cfg.timeout)
            .send()
            .await
            .map_err(|e| transport_error(e, &what))?;
        self.expect_success(resp, &what).await.map(drop)
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// [`expect_success`], and when the server asks for a login that was never given, say so: "check the
    /// password" misleads when there is none (issue 9, item 16).
    async fn expect_success(&self, resp: reqwest::Response, what: &str) -> Result<Bytes> {
        let unauthorized = resp.status() == StatusCode::UNAUTHORIZED;
        let result = expect_success(resp, what).await;
        match result {
            Err(_) if unauthorized && self.cfg.password.is_none() => Err(Error::new(
                ErrorKind::Auth,
                format!(
                    "{what}: the WebDAV server asks for a login (HTTP 401) and no password was given: give the \
                     user (in the URL or --target-user) and the password (--target-password or \
                     FERRY_TARGET_PASSWORD; --source-… for a source)"
                ),
            )
            .permanent()),
            other => other,
        }
    }

    fn check_write(&self, op: &'static str) -> Result<()> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(Error::unsupported(format!(
                "{}: opened read-only (a source is never written)",
                self.cfg.describe()
            ))
            .with_operation(op)),
        }
    }

    async fn propfind(&self, path: &str, depth: &'static str) -> Result<Option<Vec<DavResponse>>> {
        let what = format!("PROPFIND {}", if path.is_empty() { "/" } else { path });
        let resp = self
            .request(propfind_method()?, &self.url(path, depth == "1"))
            .header(
                HeaderName::from_static("depth"),
                HeaderValue::from_static(depth),
            )
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml; charset=utf-8"),
            )
            .body(PROPFIND_BODY)
            .timeout(self.cfg.timeout)
            .send()
            .await
            .map_err(|e| transport_error(e, &what))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let status = resp.status();
        let body = self.expect_success(resp, &what).await?;
        if status != StatusCode::MULTI_STATUS {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "{what}: HTTP {status} instead of 207 Multi-Status (is this a WebDAV URL?)"
                ),
            ));
        }
        parse_multistatus(&body).map(Some)
    }

    fn is_known_dir(&self, dir: &str) -> bool {
        self.known_dirs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(dir)
    }

    fn remember_dir(&self, dir: &str) {
        if !self.is_known_dir(dir) {
            self.known_dirs
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(dir.to_owned());
        }
    }

    /// The base folder exists: checked once (`PROPFIND`, depth 0); a missing one is created with its
    /// parents, top down, each `MKCOL` allowed to find its folder already there (405).
    async fn ensure_base(&self) -> Result<()> {
        if self.is_known_dir("") {
            return Ok(());
        }
        if self.propfind("", "0").await?.is_none() {
            let (origin, path) = match self.base.find("://") {
                Some(i) => match self.base[i + 3..].find('/') {
                    Some(j) => self.base.split_at(i + 3 + j),
                    None => (self.base.as_str(), "/"),
                },
                None => (self.base.as_str(), "/"),
            };
            let names: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let mut url = origin.to_owned();
            let mut last = Ok(());
            for name in names {
                url.push('/');
                url.push_str(name);
                // An ancestor above the share may refuse MKCOL (403): only the base's own answer counts.
                last = self.mkcol_url(&format!("{url}/"), name).await;
            }
            last.map_err(|e| {
                e.with_context(
                    "hint",
                    "the target folder is missing and could not be created; create it on the server or check the URL",
                )
            })?;
        }
        self.remember_dir("");
        Ok(())
    }

    /// `MKCOL` each ancestor of `dir` (and `dir`) not known to exist, top down.
    async fn ensure_dir(&self, dir: &str) -> Result<()> {
        self.ensure_base().await?;
        if self.is_known_dir(dir) {
            return Ok(());
        }
        let mut prefix = String::new();
        for name in dir.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(name);
            if self.is_known_dir(&prefix) {
                continue;
            }
            self.mkcol(&prefix).await?;
            self.remember_dir(&prefix);
        }
        Ok(())
    }

    async fn mkcol(&self, dir: &str) -> Result<()> {
        self.mkcol_url(&self.url(dir, true), dir).await
    }

    async fn mkcol_url(&self, url: &str, dir: &str) -> Result<()> {
        let what = format!("MKCOL {dir}");
        let resp = self
            .request(
                Method::from_bytes(b"MKCOL").map_err(|_| Error::unexpected("MKCOL method"))?,
                url,
            )
            .timeout(self.cfg.timeout)
            .send()
            .await
            .map_err(|e| transport_error(e, &what))?;
        match resp.status() {
            // 405 Method Not Allowed: something exists there already (RFC 4918 §9.3.1). If it is a file,
            // the write into it fails with a clear 409 later.
            s if s.is_success() || s == StatusCode::METHOD_NOT_ALLOWED => Ok(()),
            _ => self.expect_success(resp, &what).await.map(drop),
        }
    }

    /// The entries of a Depth-1 answer for `dir`: the shallowest href is `dir` itself, the rest are its
    /// children, named by their last segment.
    fn children(&self, dir: &str, responses: Vec<DavResponse>) -> Result<Vec<FileEntry>> {
        let parsed: Vec<(Vec<&str>, &DavResponse)> = responses
            .iter()
            .map(|r| (raw_segments(&r.href), r))
            .collect();
        let Some(self_depth) = parsed.iter().map(|(s, _)| s.len()).min() else {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("PROPFIND {dir}: an empty multistatus"),
            ));
        };
        let mut out = Vec::with_capacity(parsed.len());
        for (segments, r) in &parsed {
            if segments.len() == self_depth {
                if !r.collection {
                    return Err(Error::new(ErrorKind::NotFound, "not a directory")
                        .with_operation("list")
                        .with_context("path", dir));
                }
                continue;
            }
            let Some(raw) = segments.last() else { continue };
            let bytes: Vec<u8> = percent_decode_str(raw).collect();
            if std::str::from_utf8(&bytes).is_err() {
                self.non_utf8.fetch_add(1, Ordering::Relaxed);
            }
            // Not UTF-8: carried escaped, and sent back as the same bytes (see `encode_path`).
            let path = join(dir, &name_from_bytes(&bytes));
            if r.collection {
                self.remember_dir(&path);
            }
            out.push(to_entry(path, r));
        }
        out.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

#[async_trait::async_trait]
impl FileConnector for WebDavConnector {
    fn capability(&self) -> FileCapability {
        FileCapability {
            write: self.access == Access::ReadWrite,
            paged_list: false,
            set_mtime: false,
            hash: None,
            atomic_write: false,
            resumable_write: false,
            max_file_size: None,
            etag: true,
        }
    }

    fn describe(&self) -> String {
        self.cfg.describe()
    }

    async fn list(&self, dir: &str, token: Option<String>) -> Result<ListPage> {
        crate::check_path(dir, true, "list")?;
        if token.is_some() {
            return Err(Error::unexpected(
                "WebDAV listings have one page; there is no next-page token",
            )
            .with_operation("list"));
        }
        let responses = self.propfind(dir, "1").await?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, "no such directory")
                .with_operation("list")
                .with_context("path", dir)
        })?;
        let entries = self.children(dir, responses)?;
        self.remember_dir(dir);
        Ok(ListPage {
            entries,
            next: None,
        })
    }

    async fn stat(&self, path: &str) -> Result<Option<FileEntry>> {
        crate::check_path(path, true, "stat")?;
        let Some(responses) = self.propfind(path, "0").await? else {
            return Ok(None);
        };
        let r = responses.first().ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("PROPFIND {path}: an empty multistatus"),
            )
        })?;
        if r.collection {
            self.remember_dir(path);
        }
        Ok(Some(to_entry(path.to_owned(), r)))
    }

    async fn read(&self, path: &str) -> Result<FileReader> {
        crate::check_path(path, false, "read")?;
        let what = format!("GET {path}");
        let send = self.request(Method::GET, &self.url(path, false)).send();
        let resp = tokio::time::timeout(self.cfg.timeout, send)
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Io,
                    format!("{what}: no answer within {:?}", self.cfg.timeout),
                )
                .temporary()
            })?
            .map_err(|e| transport_error(e, &what))?;
        if !resp.status().is_success() {
            return Err(self
                .expect_success(resp, &what)
                .await
                .err()
                .unwrap_or_else(|| Error::unexpected("GET failed")));
        }
        let idle = self.cfg.timeout;
        let body = resp.bytes_stream();
        // An idle timeout per chunk: a body may take long in total, but must keep moving.
        let stream = futures_util::stream::unfold(body, move |mut body| async move {
            match tokio::time::timeout(idle, body.next()).await {
                Err(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "download stalled",
                    )),
                    body,
                )),
                Ok(None) => None,
                Ok(Some(chunk)) => Some((chunk.map_err(std::io::Error::other), body)),
            }
        });
        Ok(Box::new(tokio_util::io::StreamReader::new(Box::pin(
            stream,
        ))))
    }

    async fn create_dir(&self, path: &str) -> Result<()> {
        self.check_write("create_dir")?;
        crate::check_path(path, true, "create_dir")?;
        if self.is_known_dir(path) {
            return Ok(());
        }
        // Many writes into a new folder arrive at once: let the first create the chain, the others
        // find it known instead of each sending the same MKCOLs.
        let _guard = self.mkcol.lock().await;
        self.ensure_dir(path).await
    }

    async fn write(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        mut data: FileReader,
    ) -> Result<FileEntry> {
        self.check_write("write")?;
        crate::check_path(path, false, "write")?;
        self.create_dir(parent(path)).await?;
        let what = format!("PUT {path}");
        let (body, problem) = if size <= SMALL_BODY {
            let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
            (&mut data)
                .take(size + 1)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| source_error(e, path))?;
            if buf.len() as u64 != size {
                return Err(size_error(buf.len() as u64, size, path));
            }
            (reqwest::Body::from(buf), None)
        } else {
            let problem = Arc::new(Mutex::new(None));
            (
                reqwest::Body::wrap_stream(checked_body(data, size, problem.clone())),
                Some(problem),
            )
        };
        let mut req = self
            .request(Method::PUT, &self.url(path, false))
            .header(header::CONTENT_LENGTH, size)
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .timeout(self.cfg.timeout + Duration::from_secs(size / (256 * 1024)))
            .body(body);
        if let Some(t) = mtime {
            req = req.header(HeaderName::from_static("x-oc-mtime"), t.timestamp());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                // A body that broke on our side (short or long source, read error) says so.
                let ours = problem.and_then(|p| p.lock().unwrap_or_else(|p| p.into_inner()).take());
                return Err(match ours {
                    Some(BodyProblem::Size(got)) => size_error(got, size, path),
                    Some(BodyProblem::Read(e)) => source_error(e, path),
                    None => transport_error(e, &what),
                });
            }
        };
        let accepted = resp
            .headers()
            .get("x-oc-mtime")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("accepted"));
        let etag = resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(normalize_etag);
        self.expect_success(resp, &what).await?;
        Ok(FileEntry {
            created: None,
            path: path.to_owned(),
            kind: EntryKind::File,
            size,
            mtime: if accepted { mtime } else { None },
            hash: None,
            etag,
        })
    }
}

/// What went wrong in a streamed request body, on our side.
enum BodyProblem {
    /// The source gave this many bytes, not the announced size.
    Size(u64),
    Read(std::io::Error),
}

/// Stream `data` as a request body, failing the request (so the server sees an incomplete body) when
/// the source gives fewer or more than `size` bytes.
fn checked_body(
    data: FileReader,
    size: u64,
    problem: Arc<Mutex<Option<BodyProblem>>>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold((data, 0u64, false), move |(mut data, total, done)| {
        let problem = problem.clone();
        async move {
            if done {
                return None;
            }
            let mut buf = BytesMut::with_capacity(BODY_CHUNK);
            let fail = |p: BodyProblem| {
                *problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
                std::io::Error::other("the source stream did not match the announced size")
            };
            match data.read_buf(&mut buf).await {
                Ok(0) if total == size => None,
                Ok(0) => Some((Err(fail(BodyProblem::Size(total))), (data, total, true))),
                Ok(n) => {
                    let total = total + n as u64;
                    if total > size {
                        Some((Err(fail(BodyProblem::Size(total))), (data, total, true)))
                    } else {
                        Some((Ok(buf.freeze()), (data, total, false)))
                    }
                }
                Err(e) => Some((Err(fail(BodyProblem::Read(e))), (data, total, true))),
            }
        }
    })
}

/// The body of a 2xx answer, or the mapped error (with a short excerpt of the answer).
async fn expect_success(resp: reqwest::Response, what: &str) -> Result<Bytes> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| transport_error(e, what))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(status_error(
            status,
            &headers,
            what,
            &String::from_utf8_lossy(&body),
        ))
    }
}

fn propfind_method() -> Result<Method> {
    Method::from_bytes(b"PROPFIND").map_err(|_| Error::unexpected("PROPFIND method"))
}

/// Percent-encode each segment of a relative path (see [`SEGMENT`]).
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for (i, name) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(percent_encode(&name_bytes(name), SEGMENT));
    }
    out
}

/// The still-encoded path segments of an href (absolute path or full URL), without empty ones.
fn raw_segments(href: &str) -> Vec<&str> {
    let path = match href.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => href,
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn to_entry(path: String, r: &DavResponse) -> FileEntry {
    FileEntry {
        created: r.created,
        path,
        kind: if r.collection {
            EntryKind::Dir
        } else {
            EntryKind::File
        },
        size: if r.collection { 0 } else { r.size.unwrap_or(0) },
        mtime: r.mtime,
        hash: None,
        etag: if r.collection {
            None
        } else {
            r.etag.as_deref().and_then(normalize_etag)
        },
    }
}

fn size_error(got: u64, size: u64, path: &str) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("the source gave {got} of the {size} bytes expected (did the file change while it was copied?)"),
    )
    .temporary()
    .with_operation("write")
    .with_context("path", path)
}

fn source_error(e: std::io::Error, path: &str) -> Error {
    Error::new(ErrorKind::Io, format!("reading the source failed: {e}"))
        .temporary()
        .with_operation("write")
        .with_context("path", path)
        .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_except_unreserved_characters() {
        assert_eq!(encode_path("a b/#%&?.txt"), "a%20b/%23%25%26%3F.txt");
        assert_eq!(encode_path("tab\there/new\nline"), "tab%09here/new%0Aline");
        assert_eq!(
            encode_path("back\\slash /trail  "),
            "back%5Cslash%20/trail%20%20"
        );
        assert_eq!(encode_path(".hidden-x_y~z"), ".hidden-x_y~z");
        assert_eq!(encode_path("été/日本"), "%C3%A9t%C3%A9/%E6%97%A5%E6%9C%AC");
        assert_eq!(encode_path(""), "");
    }

    #[test]
    fn href_segments_are_split_before_decoding() {
        assert_eq!(raw_segments("/dav/a%2Fb/"), vec!["dav", "a%2Fb"]);
        assert_eq!(raw_segments("http://h:80/dav/x%20y"), vec!["dav", "x%20y"]);
        assert_eq!(raw_segments("https://h"), Vec::<&str>::new());
        assert_eq!(raw_segments("/"), Vec::<&str>::new());
    }

    fn connector() -> WebDavConnector {
        WebDavConnector::new(
            WebDavConfig::new("http://127.0.0.1:1/base%20dir").unwrap(),
            Access::ReadOnly,
        )
        .unwrap()
    }

    #[test]
    fn urls_append_encoded_paths_to_the_base() {
        let c = connector();
        assert_eq!(c.url("", true), "http://127.0.0.1:1/base%20dir/");
        assert_eq!(
            c.url("a b/c#", false),
            "http://127.0.0.1:1/base%20dir/a%20b/c%23"
        );
        assert_eq!(c.url("a b", true), "http://127.0.0.1:1/base%20dir/a%20b/");
    }

    #[test]
    fn listing_answers_drop_the_directory_itself_and_decode_names() {
        let c = connector();
        let xml = br#"<d:multistatus xmlns:d="DAV:">
<d:response><d:href>/base%20dir/sub/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
<d:response><d:href>/base%20dir/sub/%09tab%0Anl%20%23%25&amp;%5C%20%20</d:href><d:propstat><d:prop><d:getcontentlength>3</d:getcontentlength><d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
<d:response><d:href>/base%20dir/sub/.d%C3%A9j%C3%A0/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
<d:response><d:href>/base%20dir/sub/bad%FF</d:href><d:propstat><d:prop><d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"#;
        let entries = c.children("sub", parse_multistatus(xml).unwrap()).unwrap();
        let names: Vec<_> = entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind, e.size))
            .collect();
        assert_eq!(
            names,
            vec![
                ("sub/\ttab\nnl #%&\\  ", EntryKind::File, 3),
                ("sub/.déjà", EntryKind::Dir, 0),
                ("sub/bad\u{10FFFF}", EntryKind::File, 0)
            ]
        );
        assert_eq!(
            c.url("sub/bad\u{10FFFF}", false),
            "http://127.0.0.1:1/base%20dir/sub/bad%FF"
        );
        assert_eq!(c.skipped_non_utf8(), 1);
        assert!(c.is_known_dir("sub/.déjà"));
    }

    #[test]
    fn listing_a_file_is_not_found() {
        let c = connector();
        let xml = br#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/base%20dir/f.txt</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#;
        let e = c
            .children("f.txt", parse_multistatus(xml).unwrap())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
