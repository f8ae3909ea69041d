//! Writing files to a drive (Graph docs: "Upload small files" — driveitem-put-content — and "Upload large
//! files with an upload session" — driveitem-createuploadsession).
//!
//! - **Every file with a time to keep goes through an upload session**: `createUploadSession` carries
//!   `fileSystemInfo` with the source's modification time, so the file appears with its size, bytes and
//!   time in one commit. A simple upload cannot carry `fileSystemInfo`; it would need a second request
//!   (`PATCH`), and a crash between the two would leave a file whose time is wrong — which Ferry's
//!   never-overwrite rule must then refuse to touch. A session costs the same two requests as upload +
//!   `PATCH`. Simple upload (`PUT …:/content`) is used for files with no time to keep, and for empty files
//!   (a session cannot carry zero bytes), followed by the `PATCH` when there is a time.
//! - **Fragments** are a multiple of 327,680 bytes and below 60 MiB (the configured `chunk`, default
//!   10 MiB), sent in order with `Content-Range`, to the upload URL **without** the `Authorization`
//!   header. An upload holds one fragment in memory here, two through the engine's crash-resumable copy
//!   (which reads the next fragment while one is sent, and hands it over without a copy). `202` answers
//!   carry `nextExpectedRanges`; a dropped connection is resumed by `GET` on the upload URL and sending
//!   again from the first missing byte; a `416` (range already received) is settled the same way. A
//!   `416` while the session still expects that very range means another request is still writing it (a
//!   killed run's, until the service sees its connection close): the fragment is sent again after a
//!   pause, and then the error is temporary, never the item's failure. A failed upload is cancelled
//!   (`DELETE`).
//! - **Crash-resumable**: the engine keeps the upload URL in its store ([`ResumableUpload`]), so a re-run
//!   after `kill -9` asks the session what it has and sends only the fragments it lacks. A temporary
//!   error in a part is retried by the engine from the session's first missing byte.
//! - **`conflictBehavior: fail`**, always first. A `409 nameAlreadyExists` means a file is already
//!   there (the engine decided to write anyway, by its rules: its own earlier copy, untouched since).
//!   The file is looked up: the same size and time is Ferry's own earlier write whose answer was lost, and
//!   is taken as written; a name differing only by letter case is another source file (OneDrive compares
//!   names case-insensitively) and is refused with that reason; anything else is replaced with
//!   `conflictBehavior: replace` **and `If-Match` on the ETag just read**, so a file edited on the target
//!   in between is never overwritten (`412` → refused, "changed on the target").

use super::client::{Answer, Req};
use super::config::{FRAGMENT_LIMIT, FRAGMENT_UNIT};
use super::item::DriveItem;
use super::{GraphConnector, has_more, read_exact};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use ferry_core::file::{FileEntry, FileReader, ResumableUpload, UploadState, join, parent};
use ferry_core::{Error, ErrorKind, Result};
use reqwest::header::{self, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

/// Simple uploads go up to this size (Graph's v1.0 page allows 250 MB; older docs said 4 MB: the safe rule).
pub const SIMPLE_MAX: u64 = 4 * 1024 * 1024;
/// Times a fragment is sent again after a dropped connection, within one call.
const FRAGMENT_TRIES: u32 = 3;
/// The pause before a fragment is sent again (refused with `416` while the session still expects it, or
/// its connection dropped), times the tries so far.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Debug, Deserialize)]
struct Session {
    #[serde(rename = "uploadUrl")]
    upload_url: String,
}

#[derive(Debug, Deserialize)]
struct SessionStatus {
    #[serde(rename = "nextExpectedRanges", default)]
    next_expected_ranges: Vec<String>,
}

impl SessionStatus {
    /// The first byte the session still expects.
    fn first_missing(&self) -> Option<u64> {
        self.next_expected_ranges
            .iter()
            .filter_map(|r| r.split('-').next()?.trim().parse::<u64>().ok())
            .min()
    }
}

/// How a name conflict is settled (see the module docs).
enum Conflict {
    /// Ferry's own earlier write: take it.
    Same(FileEntry),
    /// Replace the file whose ETag this is.
    Replace(String),
}

/// The times a written file gets: the source's modification time and, where the source has one, its
/// creation time (`fileSystemInfo.lastModifiedDateTime` and `createdDateTime`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Times {
    pub modified: Option<DateTime<Utc>>,
    pub created: Option<DateTime<Utc>>,
}

impl Times {
    fn is_empty(&self) -> bool {
        self.modified.is_none() && self.created.is_none()
    }
}

fn fs_info(t: Times) -> serde_json::Value {
    let mut info = serde_json::Map::new();
    if let Some(m) = t.modified {
        info.insert(
            "lastModifiedDateTime".into(),
            m.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
        );
    }
    if let Some(c) = t.created {
        info.insert(
            "createdDateTime".into(),
            c.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
        );
    }
    serde_json::Value::Object(info)
}

fn if_match(etag: &str) -> Result<(HeaderName, HeaderValue)> {
    let v = HeaderValue::from_str(&format!("\"{etag}\"")).map_err(|_| {
        Error::new(ErrorKind::Protocol, "Graph gave an ETag HTTP cannot carry").permanent()
    })?;
    Ok((header::IF_MATCH, v))
}

fn changed_on_target(what: &str) -> Error {
    Error::new(
        ErrorKind::Rejected,
        format!(
            "{what}: the file changed on the target while Ferry was writing it; not overwritten"
        ),
    )
    .permanent()
}

/// [`FileConnector::write`](ferry_core::file::FileConnector::write) for Graph.
pub async fn write(
    c: &GraphConnector,
    path: &str,
    full: &str,
    size: u64,
    mtime: Times,
    mut data: FileReader,
) -> Result<FileEntry> {
    let what = format!("upload {}", c.show(full));
    if size == 0 || (mtime.is_empty() && size <= SIMPLE_MAX) {
        let bytes = read_exact(&mut data, size, &what).await?;
        if has_more(&mut data).await? {
            return Err(longer(&what, size));
        }
        return simple(c, path, full, size, mtime, bytes, &what).await;
    }
    if size <= c.cfg.chunk {
        return single_fragment(c, path, full, size, mtime, data, &what).await;
    }
    // Several fragments: the source cannot be read twice, so a file already there is settled before.
    let url = match open_session(c, path, full, size, mtime, &what).await? {
        Ok(url) => url,
        Err(same) => return Ok(same),
    };
    match send_all(c, path, full, size, mtime, &url, &mut data, &what).await {
        Ok(e) => Ok(e),
        Err(e) => {
            cancel(c, &url).await;
            Err(e)
        }
    }
}

/// A file of one fragment: the session is opened with `fail` and the fragment, held in memory, is sent
/// again to a `replace` session guarded by `If-Match` when the commit meets a file to replace.
async fn single_fragment(
    c: &GraphConnector,
    path: &str,
    full: &str,
    size: u64,
    mtime: Times,
    mut data: FileReader,
    what: &str,
) -> Result<FileEntry> {
    let bytes = read_exact(&mut data, size, what).await?;
    if has_more(&mut data).await? {
        return Err(longer(what, size));
    }
    let mut replace: Option<String> = None;
    for _ in 0..2 {
        let url = match create_session(c, full, mtime, replace.as_deref(), what).await? {
            Start::Url(u) => u,
            Start::Stale => return Err(changed_on_target(what)),
            Start::Taken => match conflict(c, path, full, size, mtime, Some(&bytes), what).await? {
                Conflict::Same(e) => return Ok(e),
                Conflict::Replace(etag) => {
                    replace = Some(etag);
                    continue;
                }
            },
        };
        let sent = put_fragment(c, path, full, &url, 0, size, bytes.clone(), mtime, what).await;
        match sent {
            Ok(Sent::Done(item)) => return Ok(item.entry(join(parent(path), &item.name))),
            Ok(Sent::More) => {
                cancel(c, &url).await;
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("{what}: the session took every byte but did not commit the file"),
                )
                .permanent());
            }
            Ok(Sent::Conflict(Conflict::Same(e))) => return Ok(e),
            Ok(Sent::Conflict(Conflict::Replace(etag))) if replace.is_none() => {
                replace = Some(etag)
            }
            Ok(Sent::Conflict(Conflict::Replace(_))) => return Err(changed_on_target(what)),
            Err(e) => {
                cancel(c, &url).await;
                return Err(e);
            }
        }
    }
    Err(changed_on_target(what))
}

fn longer(what: &str, size: u64) -> Error {
    Error::new(
        ErrorKind::Rejected,
        format!("{what}: the source gave more than the {size} bytes announced"),
    )
    .permanent()
}

/// A simple upload (`PUT …:/content`), then the time with a `PATCH` when there is one.
async fn simple(
    c: &GraphConnector,
    path: &str,
    full: &str,
    size: u64,
    mtime: Times,
    bytes: Bytes,
    what: &str,
) -> Result<FileEntry> {
    let url = |behavior: &str| {
        format!(
            "{}?@microsoft.graph.conflictBehavior={behavior}",
            c.item_url(full, "/content")
        )
    };
    let put = |u: String| {
        Req::new(Method::PUT, u).body(bytes.clone()).header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )
    };
    let mut a = c.graph.send(&put(url("fail")), what).await?;
    if a.status == StatusCode::CONFLICT {
        match conflict(c, path, full, size, mtime, Some(&bytes), what).await? {
            Conflict::Same(e) => return Ok(e),
            Conflict::Replace(etag) => {
                let (k, v) = if_match(&etag)?;
                a = c
                    .graph
                    .send(&put(url("replace")).header(k, v), what)
                    .await?;
                if a.status == StatusCode::PRECONDITION_FAILED {
                    return Err(changed_on_target(what));
                }
            }
        }
    }
    let item = item_of(&a, what)?;
    let item = match mtime.modified.or(mtime.created) {
        Some(_) if !item.id.is_empty() => {
            let url = format!(
                "{}/drives/{}/items/{}",
                c.graph.base,
                super::enc(&c.drive.id),
                super::enc(&item.id)
            );
            let body = serde_json::json!({ "fileSystemInfo": fs_info(mtime) });
            let a = c
                .graph
                .send(
                    &Req::new(Method::PATCH, url).json(&body),
                    &format!("set the time of {}", c.show(full)),
                )
                .await?;
            item_of(&a, what)?
        }
        _ => item,
    };
    Ok(item.entry(path.to_owned()))
}

fn item_of(a: &Answer, what: &str) -> Result<DriveItem> {
    if !a.status.is_success() {
        return Err(a.error(what));
    }
    a.json(what)
}

/// A name conflict at `full`: what is there decides (see the module docs).
async fn conflict(
    c: &GraphConnector,
    path: &str,
    full: &str,
    size: u64,
    mtime: Times,
    content: Option<&[u8]>,
    what: &str,
) -> Result<Conflict> {
    let Some(item) = c.get_item(full).await? else {
        // Gone again: write as if new, but never over something that appears meanwhile.
        return Err(Error::new(
            ErrorKind::Io,
            format!("{what}: a file of this name came and went on the target; trying again"),
        )
        .temporary());
    };
    let name = full.rsplit('/').next().unwrap_or(full);
    if item.name != name {
        return Err(Error::new(
            ErrorKind::Rejected,
            format!(
                "{what}: `{}` is already in this folder; OneDrive and SharePoint compare names case-insensitively, so `{name}` cannot be stored beside it (rename one of the two at the source)",
                item.name
            ),
        )
        .permanent());
    }
    let entry = item.entry(join(parent(path), &item.name));
    let same_time = match (mtime.modified, entry.mtime) {
        (Some(a), Some(b)) => (a - b).num_milliseconds().abs() < 1000,
        (None, _) => true,
        _ => false,
    };
    // With the bytes at hand, "the same file" is also the same QuickXorHash.
    let same_content = match content {
        Some(b) => {
            entry.hash.as_deref()
                == Some(crate::quickxor::to_hex(&crate::quickxor::digest(b)).as_str())
        }
        None => true,
    };
    if entry.size == size && same_time && same_content {
        return Ok(Conflict::Same(entry));
    }
    match entry.etag {
        Some(etag) => Ok(Conflict::Replace(etag)),
        None => Err(Error::new(
            ErrorKind::Rejected,
            format!("{what}: a different file of this name is on the target and Graph gave no ETag to replace it safely; not overwritten"),
        )
        .permanent()),
    }
}

/// What `createUploadSession` answered.
enum Start {
    Url(String),
    /// `409`: the name is taken (with `fail`).
    Taken,
    /// `412`: the file changed since its ETag was read (with `replace`).
    Stale,
}

/// `createUploadSession` for `full`: `fail` on conflict, or `replace` guarded by `If-Match: etag`.
async fn create_session(
    c: &GraphConnector,
    full: &str,
    mtime: Times,
    replace: Option<&str>,
    what: &str,
) -> Result<Start> {
    let body = serde_json::json!({
        "item": {
            "@microsoft.graph.conflictBehavior": if replace.is_some() { "replace" } else { "fail" },
            "fileSystemInfo": fs_info(mtime),
        }
    });
    let mut req = Req::new(Method::POST, c.item_url(full, "/createUploadSession")).json(&body);
    if let Some(etag) = replace {
        let (k, v) = if_match(etag)?;
        req = req.header(k, v);
    }
    let a = c.graph.send(&req, what).await?;
    match a.status {
        StatusCode::CONFLICT => Ok(Start::Taken),
        StatusCode::PRECONDITION_FAILED => Ok(Start::Stale),
        s if s.is_success() => {
            let s: Session = a.json(what)?;
            // The upload URL gets no token, but it is a capability: keep it on http(s).
            if !(s.upload_url.starts_with("https://") || s.upload_url.starts_with("http://")) {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("{what}: Graph gave an upload URL that is not http(s)"),
                )
                .permanent());
            }
            Ok(Start::Url(s.upload_url))
        }
        _ => Err(a.error(what)),
    }
}

/// An upload session for `full`, settling a name conflict (see the module docs): the upload URL, or the
/// entry already there when it is Ferry's own earlier write.
async fn open_session(
    c: &GraphConnector,
    path: &str,
    full: &str,
    size: u64,
    mtime: Times,
    what: &str,
) -> Result<std::result::Result<String, FileEntry>> {
    // Graph may report a taken name only at commit, after every fragment: look first.
    let taken = c.get_item(full).await?.is_some();
    let start = if taken {
        Start::Taken
    } else {
        create_session(c, full, mtime, None, what).await?
    };
    match start {
        Start::Url(u) => Ok(Ok(u)),
        Start::Stale => Err(changed_on_target(what)),
        Start::Taken => match conflict(c, path, full, size, mtime, None, what).await? {
            Conflict::Same(e) => Ok(Err(e)),
            Conflict::Replace(etag) => {
                match create_session(c, full, mtime, Some(&etag), what).await? {
                    Start::Url(u) => Ok(Ok(u)),
                    _ => Err(changed_on_target(what)),
                }
            }
        },
    }
}

/// Cancel a session (best effort: an expired one is gone anyway).
async fn cancel(c: &GraphConnector, url: &str) {
    let req = Req::new(Method::DELETE, url).without_auth();
    if let Err(e) = c.graph.send(&req, "cancel an upload session").await {
        tracing::debug!(error = %e, "could not cancel an upload session; it expires by itself");
    }
}

/// The session's status: the first byte it still expects, or `None` when it is gone (`404`: expired,
/// cancelled or committed).
async fn first_missing(c: &GraphConnector, url: &str, what: &str) -> Result<Option<u64>> {
    let a = c
        .graph
        .send(&Req::new(Method::GET, url).without_auth(), what)
        .await?;
    match a.status {
        StatusCode::NOT_FOUND => Ok(None),
        s if s.is_success() => {
            let st: SessionStatus = a.json(what)?;
            Ok(Some(st.first_missing().unwrap_or(u64::MAX)))
        }
        _ => Err(a.error(what)),
    }
}

/// What one fragment's `PUT` came to.
enum Sent {
    /// `202`: more expected.
    More,
    /// `200`/`201`: the file is committed.
    Done(DriveItem),
    /// `409` at the commit: a file of this name is there.
    Conflict(Conflict),
}

/// `PUT` one fragment (`bytes` at `offset` of `total`) to the upload URL, without the token. A dropped
/// connection or a `416` is settled by asking the session where it stands and sending again if needed.
#[allow(clippy::too_many_arguments)]
async fn put_fragment(
    c: &GraphConnector,
    path: &str,
    full: &str,
    url: &str,
    offset: u64,
    total: u64,
    bytes: Bytes,
    mtime: Times,
    what: &str,
) -> Result<Sent> {
    let len = bytes.len() as u64;
    if len == 0
        || len >= FRAGMENT_LIMIT
        || (offset + len < total && !len.is_multiple_of(FRAGMENT_UNIT))
    {
        return Err(Error::unexpected(format!(
            "{what}: a fragment of {len} bytes breaks Graph's fragment rules"
        )));
    }
    let range = HeaderValue::from_str(&format!("bytes {offset}-{}/{total}", offset + len - 1))
        .map_err(|_| Error::unexpected("Content-Range"))?;
    let whole = offset == 0 && len == total;
    let mut tries = 0;
    loop {
        tries += 1;
        let req = Req::new(Method::PUT, url)
            .without_auth()
            .header(header::CONTENT_RANGE, range.clone())
            .body(bytes.clone());
        let err = match c.graph.send(&req, what).await {
            Ok(a) => match a.status {
                StatusCode::ACCEPTED => return Ok(Sent::More),
                StatusCode::OK | StatusCode::CREATED => return Ok(Sent::Done(a.json(what)?)),
                StatusCode::CONFLICT => {
                    // The commit met a file of this name (conflictBehavior fail).
                    return Ok(Sent::Conflict(
                        conflict(
                            c,
                            path,
                            full,
                            total,
                            mtime,
                            whole.then_some(&bytes[..]),
                            what,
                        )
                        .await?,
                    ));
                }
                StatusCode::RANGE_NOT_SATISFIABLE => None,
                StatusCode::NOT_FOUND => {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!(
                            "{what}: the upload session expired or was cancelled; starting over"
                        ),
                    )
                    .temporary());
                }
                _ => Some(a.error(what)),
            },
            Err(e) if e.is_temporary() => Some(e),
            Err(e) => return Err(e),
        };
        if let Some(e) = &err
            && (!e.is_temporary() || tries >= FRAGMENT_TRIES)
        {
            return Err(err.unwrap_or_else(|| Error::unexpected("fragment")));
        }
        // Where does the session stand? Already past this fragment: done; at it: send again.
        match first_missing(c, url, what).await? {
            Some(m) if m >= offset + len => return Ok(Sent::More),
            Some(m) if m == offset => {
                if tries >= FRAGMENT_TRIES {
                    return Err(err.unwrap_or_else(|| still_receiving(what, offset)));
                }
                // A `416` for the very range the session expects means another request is still
                // writing it — a killed run's, whose connection the service has not yet seen close; it
                // ends (and counts for nothing) or completes the range soon. A dropped connection, too,
                // is worth a pause before the next one.
                tokio::time::sleep(PAUSE * tries).await;
            }
            Some(m) => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "{what}: the upload session expects byte {m}, not {offset}; starting over"
                    ),
                )
                .temporary());
            }
            None => {
                // Gone: committed by this very fragment (its answer was lost), or expired.
                if let Some(item) = c.get_item(full).await?
                    && item.size == Some(total)
                {
                    return Ok(Sent::Done(item));
                }
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("{what}: the upload session is gone; starting over"),
                )
                .temporary());
            }
        }
    }
}

/// Send a whole file through the session at `url`, one fragment in memory at a time.
#[allow(clippy::too_many_arguments)]
async fn send_all(
    c: &GraphConnector,
    path: &str,
    full: &str,
    size: u64,
    mtime: Times,
    url: &str,
    data: &mut FileReader,
    what: &str,
) -> Result<FileEntry> {
    let chunk = c.cfg.chunk;
    let mut offset = 0u64;
    while offset < size {
        let len = chunk.min(size - offset);
        let bytes = read_exact(data, len, what).await?;
        if offset + len == size && has_more(data).await? {
            return Err(longer(what, size));
        }
        match put_fragment(c, path, full, url, offset, size, bytes, mtime, what).await? {
            Sent::More if offset + len < size => {}
            Sent::More => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("{what}: the session took every byte but did not commit the file"),
                )
                .permanent());
            }
            Sent::Conflict(Conflict::Same(e)) => return Ok(e),
            Sent::Conflict(Conflict::Replace(_)) => {
                return Err(appeared(what));
            }
            Sent::Done(item) => {
                if offset + len < size {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("{what}: the session committed before the last fragment"),
                    )
                    .permanent());
                }
                return Ok(item.entry(join(parent(path), &item.name)));
            }
        }
        offset += len;
    }
    Err(Error::unexpected(format!("{what}: nothing to send")))
}

/// The engine's resumable uploads: the upload URL (with the fragment size it was begun with) is the
/// state kept in the store, so a re-run after a crash sends only the fragments the session lacks.
#[async_trait::async_trait]
impl ResumableUpload for GraphConnector {
    fn part_size(&self) -> u64 {
        self.cfg.chunk
    }

    async fn begin(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
    ) -> Result<UploadState> {
        self.begin_created(path, size, mtime, None).await
    }

    async fn begin_created(
        &self,
        path: &str,
        size: u64,
        modified: Option<DateTime<Utc>>,
        created: Option<DateTime<Utc>>,
    ) -> Result<UploadState> {
        let mtime = Times { modified, created };
        self.check_write()?;
        crate::check_path(path, false, "begin upload")?;
        let full = self.full(path);
        self.ensure_dir(parent(&full)).await?;
        let what = format!("upload {}", self.show(&full));
        let url = match open_session(self, path, &full, size, mtime, &what).await? {
            Ok(url) => url,
            // Already there, as Ferry wrote it: a session replacing it (guarded by its ETag) keeps the
            // engine's simple contract, at the cost of sending the same bytes again (rare: a lost answer).
            Err(same) => match same.etag.as_deref() {
                Some(etag) => match create_session(self, &full, mtime, Some(etag), &what).await? {
                    Start::Url(u) => u,
                    _ => return Err(changed_on_target(&what)),
                },
                None => return Err(changed_on_target(&what)),
            },
        };
        Ok(UploadState {
            path: path.to_owned(),
            size,
            token: format!(
                "{}|{}|{url}",
                self.cfg.chunk,
                mtime
                    .modified
                    .map(|t| t.timestamp())
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            ),
        })
    }

    async fn parts_done(&self, state: &UploadState) -> Result<Vec<u32>> {
        let (chunk, _, url) = split_state(state)?;
        if chunk != self.cfg.chunk {
            // Begun with another fragment size: start over rather than mis-number the parts.
            return Err(Error::new(
                ErrorKind::NotFound,
                "the upload was begun with another fragment size",
            )
            .permanent());
        }
        let what = format!(
            "resume the upload of {}",
            self.show(&self.full(&state.path))
        );
        match first_missing(self, url, &what).await? {
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("{what}: the upload session is gone"),
            )
            .permanent()),
            Some(m) => {
                let done = (m.min(state.size) / chunk) as u32;
                Ok((1..=done).collect())
            }
        }
    }

    async fn put_part(
        &self,
        state: &UploadState,
        number: u32,
        len: u64,
        mut data: FileReader,
    ) -> Result<()> {
        let what = format!("upload {}", self.show(&self.full(&state.path)));
        let bytes = read_exact(&mut data, len, &what).await?;
        put_part_bytes(self, state, number, bytes).await
    }

    async fn put_part_buf(
        &self,
        state: &UploadState,
        number: u32,
        data: Vec<u8>,
    ) -> Result<Option<Vec<u8>>> {
        // The engine's buffer becomes the request body as it is (`Bytes` takes the allocation), and goes
        // back to the engine once the HTTP client has let go of it (it has, once the answer is read).
        let bytes = Bytes::from(data);
        put_part_bytes(self, state, number, bytes.clone()).await?;
        Ok(bytes.try_into_mut().ok().map(Vec::from))
    }

    async fn complete(&self, state: &UploadState) -> Result<FileEntry> {
        let (_, _, url) = split_state(state)?;
        if let Some(e) = self
            .committed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(url)
        {
            return Ok(e);
        }
        // Committed in an earlier run (its answer lost in a crash): the session is gone and the file is there.
        let full = self.full(&state.path);
        let what = format!("finish the upload of {}", self.show(&full));
        match first_missing(self, url, &what).await? {
            None => match self.get_item(&full).await? {
                Some(item) if item.size == Some(state.size) => Ok(item.entry(join(parent(&state.path), &item.name))),
                _ => Err(Error::new(ErrorKind::Io, format!("{what}: the upload session is gone and the file is not there; starting over")).temporary()),
            },
            Some(m) => Err(Error::new(ErrorKind::Protocol, format!("{what}: the session still expects byte {m}")).temporary()),
        }
    }

    async fn abort(&self, state: &UploadState) -> Result<()> {
        let (_, _, url) = split_state(state)?;
        cancel(self, url).await;
        Ok(())
    }
}

/// One fragment of the upload `state` (part `number`, 1-based), sent from memory.
async fn put_part_bytes(
    c: &GraphConnector,
    state: &UploadState,
    number: u32,
    bytes: Bytes,
) -> Result<()> {
    c.check_write()?;
    let (chunk, mtime, url) = split_state(state)?;
    let full = c.full(&state.path);
    let what = format!("upload {}", c.show(&full));
    let offset = u64::from(number.saturating_sub(1)) * chunk;
    let times = Times {
        modified: mtime,
        created: None,
    };
    let sent = put_fragment(
        c,
        &state.path,
        &full,
        url,
        offset,
        state.size,
        bytes,
        times,
        &what,
    );
    let entry = match sent.await? {
        Sent::More => return Ok(()),
        Sent::Conflict(Conflict::Same(entry)) => entry,
        Sent::Conflict(Conflict::Replace(_)) => return Err(appeared(&what)),
        Sent::Done(item) => item.entry(join(parent(&state.path), &item.name)),
    };
    c.committed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(url.to_owned(), entry);
    Ok(())
}

/// `chunk|mtime|url` from an [`UploadState`] token.
fn split_state(state: &UploadState) -> Result<(u64, Option<DateTime<Utc>>, &str)> {
    let bad = || {
        Error::new(
            ErrorKind::NotFound,
            "an upload state Ferry cannot read; starting over",
        )
        .permanent()
    };
    let mut it = state.token.splitn(3, '|');
    let chunk = it
        .next()
        .and_then(|c| c.parse::<u64>().ok())
        .ok_or_else(bad)?;
    let mtime = it.next().ok_or_else(bad)?;
    let mtime = mtime
        .parse::<i64>()
        .ok()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
    let url = it.next().filter(|u| !u.is_empty()).ok_or_else(bad)?;
    Ok((chunk, mtime, url))
}

/// The session refused the range at `offset` every time it was sent, while saying it expects exactly that
/// range: another request is still writing it (see [`put_fragment`]). Temporary: the engine's retry
/// resumes the upload at the session's first missing byte once that request is over.
fn still_receiving(what: &str, offset: u64) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!(
            "{what}: the upload session is still receiving the range at {offset} from another request (an interrupted run's?); trying again"
        ),
    )
    .temporary()
}

fn appeared(what: &str) -> Error {
    Error::new(
        ErrorKind::Rejected,
        format!("{what}: another file of this name appeared on the target during the upload; not overwritten"),
    )
    .permanent()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_missing_byte_is_read_from_next_expected_ranges() {
        let s: SessionStatus =
            serde_json::from_str(r#"{"nextExpectedRanges":["655360-","12-55"]}"#).unwrap();
        assert_eq!(s.first_missing(), Some(12));
        let s: SessionStatus = serde_json::from_str(r#"{"nextExpectedRanges":["0-"]}"#).unwrap();
        assert_eq!(s.first_missing(), Some(0));
    }

    #[test]
    fn upload_state_round_trips_chunk_time_and_url() {
        let st = UploadState {
            path: "a".into(),
            size: 5,
            token: "327680|1700000000|http://h/up?x=1|y".into(),
        };
        let (c, t, u) = split_state(&st).unwrap();
        assert_eq!(
            (c, t.map(|t| t.timestamp()), u),
            (327_680, Some(1_700_000_000), "http://h/up?x=1|y")
        );
        let bad = UploadState {
            token: "x".into(),
            ..st
        };
        assert_eq!(split_state(&bad).unwrap_err().kind(), ErrorKind::NotFound);
    }
}
