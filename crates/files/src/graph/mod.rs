//! [`GraphConnector`]: a OneDrive (a user's drive) or a SharePoint document library, through Microsoft
//! Graph, as a file target (and a source: it can list and read too).
//!
//! Everything here follows Graph's published behaviour (learn.microsoft.com/graph/api/resources/driveitem
//! and the pages cited in each module); the tests run against the emulator in `ferry_testkit::graph`, which
//! is written from the same documentation, not from this code.
//!
//! - **Resolving** ([`resolve`]): `GET /users/{upn}/drive` (a `404` means the user's OneDrive is not
//!   provisioned yet: the error says so and names the fix), or `GET /sites/{host}:/sites/{site}` then
//!   `GET /sites/{id}/drives` and the library by name. Done at open, so a bad target fails before any copy.
//! - **Items by path** (`/drives/{id}/root:/{path}:`), children in pages (`@odata.nextLink`, followed only
//!   on Graph's own origin), folders created once per connector (`POST …/children`, `conflictBehavior:
//!   fail`, an existing folder is fine).
//! - **Writing** ([`upload`]): upload sessions (fragments, resume, cancel) and simple uploads, always with
//!   `conflictBehavior: fail` — see that module for how a `409 nameAlreadyExists` is settled.
//! - **Hashes**: listings carry `file.hashes.quickXorHash`, so verification compares content without
//!   downloading ([`crate::quickxor`]).
//! - **Changes on the target** ([`delta`]): the drive's delta feed, read from the last pass's
//!   `@odata.deltaLink`, names the files edited on the target since, without listing the tree.
//! - **Pace** ([`pace`]): `Retry-After` honoured exactly, `RateLimit-*` read, one pacer per tenant and per
//!   drive shared by the whole process; requests carry a `User-Agent` of the form Microsoft asks for.
//!
//! What Graph cannot do: set Created By / Modified By (files show the app as author). Files get the
//! source's creation time in `fileSystemInfo.createdDateTime` where the source reports one
//! ([`FileEntry::created`](ferry_core::file::FileEntry::created)). Capability: `write`, `paged_list`, `set_mtime`, `atomic_write`
//! (a file appears only when its upload commits), `resumable_write`, `etag`, `hash: QuickXor`,
//! `max_file_size` 250 GB.

pub mod client;
pub mod config;
pub mod delta;
pub mod item;
pub mod pace;
pub mod resolve;
pub mod upload;

use crate::webdav::SEGMENT;
use bytes::Bytes;
use client::{Graph, Req};
use config::GraphConfig;
use ferry_core::file::{
    EntryKind, FileCapability, FileConnector, FileEntry, FileReader, HashKind, ListPage,
    ResumableUpload, join, parent,
};
use ferry_core::mail::Access;
use ferry_core::token::StaticToken;
use ferry_core::{Error, ErrorKind, Result};
use futures_util::TryStreamExt;
use item::{DriveItem, ItemPage};
use percent_encoding::utf8_percent_encode;
use reqwest::{Method, StatusCode};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

/// Graph's largest file (250 GB).
pub const MAX_FILE_SIZE: u64 = 250 * 1000 * 1000 * 1000;

/// A resolved drive.
#[derive(Clone, Debug)]
pub struct Drive {
    pub id: String,
    /// `quota` as Graph reports it, when it does.
    pub quota: Option<resolve::Quota>,
}

/// A Graph drive as a [`FileConnector`]. See the module docs.
pub struct GraphConnector {
    cfg: GraphConfig,
    access: Access,
    graph: Graph,
    drive: Drive,
    /// Folders known to exist (paths from the drive's root).
    known_dirs: RwLock<HashSet<String>>,
    mkdir: tokio::sync::Mutex<()>,
    /// Items of upload sessions that committed with their last fragment, by upload URL (for `complete`).
    committed: Mutex<HashMap<String, FileEntry>>,
}

impl std::fmt::Debug for GraphConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GraphConnector({})", self.cfg.describe())
    }
}

impl GraphConnector {
    /// Resolve the drive of `cfg` and return a connector for it.
    pub async fn open(cfg: GraphConfig, access: Access) -> Result<GraphConnector> {
        let token = cfg.token.clone().ok_or_else(|| {
            Error::config(format!(
                "{}: no OAuth credentials: give the app's tenant, client id and secret or certificate (see docs/onedrive-sharepoint.md), or an access token",
                cfg.describe()
            ))
        })?;
        let graph = Graph::new(&cfg.base, token, cfg.timeout)?.with_max_wait(cfg.max_wait);
        let drive = resolve::drive(&graph, &cfg.drive).await?;
        graph.set_drive(&drive.id);
        Ok(GraphConnector {
            cfg,
            access,
            graph,
            drive,
            known_dirs: RwLock::new(HashSet::new()),
            mkdir: tokio::sync::Mutex::new(()),
            committed: Mutex::new(HashMap::new()),
        })
    }

    /// A connector with a fixed token (tests).
    pub async fn open_with_token(cfg: GraphConfig, token: &str, access: Access) -> Result<Self> {
        let cfg = cfg.with_token_source(Arc::new(StaticToken::new(ferry_core::mail::Secret::new(
            token,
        ))));
        Self::open(cfg, access).await
    }

    /// The resolved drive (id, quota).
    pub fn drive(&self) -> &Drive {
        &self.drive
    }

    /// A path relative to the connector's root as a path from the drive's root.
    fn full(&self, path: &str) -> String {
        join(&self.cfg.path, path).trim_matches('/').to_owned()
    }

    /// The item URL of a path from the drive's root, with `suffix` (`/children`, `/content`…).
    fn item_url(&self, full: &str, suffix: &str) -> String {
        let root = format!("{}/drives/{}/root", self.graph.base, enc(&self.drive.id));
        if full.is_empty() {
            return format!("{root}{suffix}");
        }
        let p: Vec<String> = full
            .split('/')
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        if suffix.is_empty() {
            format!("{root}:/{}:", p.join("/"))
        } else {
            format!("{root}:/{}:{suffix}", p.join("/"))
        }
    }

    fn check_write(&self) -> Result<()> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(Error::unsupported(format!(
                "{}: opened read-only (a source is never written)",
                self.cfg.describe()
            ))),
        }
    }

    /// The item at a path from the drive's root, or `None`.
    async fn get_item(&self, full: &str) -> Result<Option<DriveItem>> {
        let what = format!("GET {}", self.show(full));
        let a = self
            .graph
            .send(&Req::new(Method::GET, self.item_url(full, "")), &what)
            .await?;
        match a.status {
            s if s.is_success() => Ok(Some(a.json(&what)?)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(a.error(&what)),
        }
    }

    /// A path for messages: the endpoint plus the path.
    fn show(&self, full: &str) -> String {
        let d = self.cfg.describe();
        let rel = full
            .strip_prefix(self.cfg.path.as_str())
            .unwrap_or(full)
            .trim_start_matches('/');
        if rel.is_empty() {
            d
        } else {
            format!("{d} {rel}")
        }
    }

    /// Create the folder at a path from the drive's root, and its parents, unless known to exist.
    async fn ensure_dir(&self, full: &str) -> Result<()> {
        if full.is_empty() || self.known(full) {
            return Ok(());
        }
        let _guard = self.mkdir.lock().await;
        let mut at = String::new();
        for seg in full.split('/') {
            let parent_dir = at.clone();
            at = join(&at, seg);
            if self.known(&at) {
                continue;
            }
            let what = format!("create folder {}", self.show(&at));
            let body = serde_json::json!({
                "name": seg,
                "folder": {},
                "@microsoft.graph.conflictBehavior": "fail",
            });
            let a = self
                .graph
                .send(
                    &Req::new(Method::POST, self.item_url(&parent_dir, "/children")).json(&body),
                    &what,
                )
                .await?;
            if a.status == StatusCode::CONFLICT {
                // It exists: fine if it is a folder.
                match self.get_item(&at).await? {
                    Some(i) if i.kind() == EntryKind::Dir => {}
                    Some(_) => {
                        return Err(Error::new(
                            ErrorKind::Rejected,
                            format!("{what}: a file of that name is in the way"),
                        )
                        .permanent());
                    }
                    None => return Err(a.error(&what)),
                }
            } else if !a.status.is_success() {
                return Err(a.error(&what));
            }
            self.known_dirs
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(at.clone());
        }
        Ok(())
    }

    fn known(&self, full: &str) -> bool {
        self.known_dirs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(full)
    }

    fn remember_dir(&self, full: &str) {
        self.known_dirs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(full.to_owned());
    }
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[async_trait::async_trait]
impl FileConnector for GraphConnector {
    fn capability(&self) -> FileCapability {
        FileCapability {
            write: self.access == Access::ReadWrite,
            paged_list: true,
            set_mtime: true,
            hash: Some(HashKind::QuickXor),
            atomic_write: true,
            resumable_write: self.access == Access::ReadWrite,
            max_file_size: Some(MAX_FILE_SIZE),
            etag: true,
        }
    }

    fn describe(&self) -> String {
        self.cfg.describe()
    }

    async fn list(&self, dir: &str, token: Option<String>) -> Result<ListPage> {
        crate::check_path(dir, true, "list")?;
        let full = self.full(dir);
        let what = format!("list {}", self.show(&full));
        let url = match token {
            Some(next) if self.graph.same_origin(&next) => next,
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "{what}: Graph's next-page link points to another server; not followed"
                    ),
                )
                .permanent());
            }
            None => self.item_url(&full, "/children"),
        };
        let a = self.graph.send(&Req::new(Method::GET, url), &what).await?;
        if a.status == StatusCode::NOT_FOUND {
            return Err(
                Error::new(ErrorKind::NotFound, format!("{what}: no such folder")).permanent(),
            );
        }
        if !a.status.is_success() {
            return Err(a.error(&what));
        }
        let page: ItemPage = a.json(&what)?;
        self.remember_dir(&full);
        let entries = page
            .value
            .iter()
            .map(|i| {
                let e = i.entry(join(dir, &i.name));
                if e.kind == EntryKind::Dir {
                    self.remember_dir(&join(&full, &i.name));
                }
                e
            })
            .collect();
        Ok(ListPage {
            entries,
            next: page.next_link,
        })
    }

    async fn stat(&self, path: &str) -> Result<Option<FileEntry>> {
        crate::check_path(path, true, "stat")?;
        let full = self.full(path);
        Ok(self.get_item(&full).await?.map(|i| {
            // Names compare case-insensitively: report the name the drive has.
            let p = if path.is_empty() {
                String::new()
            } else {
                join(parent(path), &i.name)
            };
            i.entry(p)
        }))
    }

    async fn read(&self, path: &str) -> Result<FileReader> {
        crate::check_path(path, false, "read")?;
        let full = self.full(path);
        let what = format!("download {}", self.show(&full));
        let resp = self
            .graph
            .send_raw(
                &Req::new(Method::GET, self.item_url(&full, "/content")),
                &what,
                None,
            )
            .await?;
        let resp = match resp.status() {
            s if s.is_redirection() => {
                // A pre-authenticated download URL: fetched without the token.
                let loc = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Protocol,
                            format!("{what}: a redirect without a Location"),
                        )
                        .permanent()
                    })?;
                let r = self
                    .graph
                    .send_raw(&Req::new(Method::GET, loc).without_auth(), &what, None)
                    .await?;
                if !r.status().is_success() {
                    let (s, h) = (r.status(), r.headers().clone());
                    let body = r.bytes().await.unwrap_or_default();
                    return Err(client::graph_error(s, &h, &what, &body));
                }
                r
            }
            s if s.is_success() => resp,
            StatusCode::NOT_FOUND => {
                return Err(
                    Error::new(ErrorKind::NotFound, format!("{what}: no such file")).permanent(),
                );
            }
            s => {
                let h = resp.headers().clone();
                let body = resp.bytes().await.unwrap_or_default();
                return Err(client::graph_error(s, &h, &what, &body));
            }
        };
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        Ok(Box::new(tokio_util::io::StreamReader::new(stream)))
    }

    async fn create_dir(&self, path: &str) -> Result<()> {
        self.check_write()?;
        crate::check_path(path, true, "create_dir")?;
        self.ensure_dir(&self.full(path)).await
    }

    async fn write(
        &self,
        path: &str,
        size: u64,
        mtime: Option<chrono::DateTime<chrono::Utc>>,
        data: FileReader,
    ) -> Result<FileEntry> {
        self.write_created(path, size, mtime, None, data).await
    }

    async fn write_created(
        &self,
        path: &str,
        size: u64,
        mtime: Option<chrono::DateTime<chrono::Utc>>,
        created: Option<chrono::DateTime<chrono::Utc>>,
        data: FileReader,
    ) -> Result<FileEntry> {
        self.check_write()?;
        crate::check_path(path, false, "write")?;
        if size > MAX_FILE_SIZE {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "{} {path}: {size} bytes is over OneDrive's and SharePoint's 250 GB limit",
                    self.cfg.describe()
                ),
            )
            .permanent());
        }
        let full = self.full(path);
        self.ensure_dir(parent(&full)).await?;
        let times = upload::Times {
            modified: mtime,
            created,
        };
        upload::write(self, path, &full, size, times, data).await
    }

    fn resumable(&self) -> Option<&dyn ResumableUpload> {
        (self.access == Access::ReadWrite).then_some(self as &dyn ResumableUpload)
    }

    fn change_feed(&self) -> Option<&dyn ferry_core::file::ChangeFeed> {
        (self.access == Access::ReadWrite).then_some(self as &dyn ferry_core::file::ChangeFeed)
    }
}

/// Read exactly `len` bytes from `r` (an error if it ends early).
pub(crate) async fn read_exact(r: &mut FileReader, len: u64, what: &str) -> Result<Bytes> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::with_capacity(len as usize);
    (&mut *r)
        .take(len)
        .read_to_end(&mut buf)
        .await
        .map_err(Error::from)?;
    if buf.len() as u64 != len {
        return Err(Error::new(
            ErrorKind::Rejected,
            format!(
                "{what}: the source gave {} bytes where {len} were announced",
                buf.len()
            ),
        )
        .permanent());
    }
    Ok(Bytes::from(buf))
}

/// Whether `r` has more bytes (a source longer than announced).
pub(crate) async fn has_more(r: &mut FileReader) -> Result<bool> {
    use tokio::io::AsyncReadExt;
    let mut one = [0u8; 1];
    Ok(r.read(&mut one).await.map_err(Error::from)? > 0)
}
