//! A Microsoft Graph emulator for OneDrive and SharePoint document libraries, written from Microsoft's
//! published documentation (never from Ferry's client code), so Ferry's Graph file connector can be tested
//! end to end here, where no Microsoft 365 tenant can run.
//!
//! [`GraphEmulator::start`] serves `http://127.0.0.1:PORT/v1.0` (hyper, own thread and runtime) with state in
//! memory and file contents in a temp dir. Tests seed and inspect the tenant directly ([`GraphEmulator::
//! seed_file`], [`GraphEmulator::snapshot`]) and read counters ([`GraphEmulator::stats`],
//! [`GraphEmulator::sessions`]) to prove what a client did (resumed at the first missing byte, never called
//! before a `Retry-After` expired, never sent its token to an upload URL).
//!
//! # Documented behaviours reproduced (each has a test in `tests/graph_emulator/`)
//! Sources: learn.microsoft.com/graph/api (`drive-get`, `site-getbypath`, `site-list` drives,
//! `driveitem-get`, `driveitem-list-children`, `driveitem-post-children`, `driveitem-put-content`,
//! `driveitem-get-content`, `driveitem-update`, `driveitem-delete`, `driveitem-delta`,
//! `driveitem-createuploadsession`), the resources `driveItem`, `drive`, `quota`, `fileSystemInfo`,
//! `hashes`, `itemReference`, `uploadSession`, "Microsoft Graph error responses", the OneDrive
//! "QuickXorHash" code snippet, SharePoint's "Avoid getting throttled or blocked in SharePoint Online" and
//! "Restrictions and limitations in OneDrive and SharePoint".
//!
//! - **Auth**: every `/v1.0` request needs `Authorization: Bearer <JWT>` (HS256 with the configured key,
//!   unexpired, audience Graph, tenant ours) → else `401` with the error resource (code `unauthenticated`).
//!   App-only tokens need the application permissions of each page's permission table (reads: `Files.Read.All`
//!   … `Sites.ReadWrite.All`; writes: `Files.ReadWrite.All` or `Sites.ReadWrite.All`; createUploadSession:
//!   `Sites.ReadWrite.All`) → else `403 accessDenied`. [`GraphOptions::trusting`] takes the identity
//!   emulator's key and tenant.
//! - **Errors** are `{"error": {"code", "message", "innerError": {"code"?, "date", "request-id"}}}` with
//!   the documented codes (`itemNotFound`, `nameAlreadyExists`, `invalidRequest`, `invalidRange`,
//!   `activityLimitReached`, `quotaLimitReached`, `resyncRequired`, …) and detailed inner codes
//!   (`invalidPath`, `pathIsTooLong`, `fragmentOverlap`, `fragmentOutOfOrder`, `fragmentLengthMismatch`,
//!   `maxFragmentLengthExceeded`, `uploadSessionNotFound`, `throttledRequest`, …).
//! - **Drives**: `GET /users/{upn}/drive` (a user whose OneDrive is not provisioned → `404 itemNotFound`
//!   with an app-only token; with a delegated token a licensed user's drive is provisioned on the spot, as
//!   the page says), `GET /drives/{id}`, `GET /sites/{host}:/sites/{name}`, `GET /sites/{id}`,
//!   `GET /sites/{id}/drives`, `GET /sites/{id}/drive` (the default library is named `Documents`, its
//!   `webUrl` ends in `Shared%20Documents`); drives carry `webUrl`; `quota` with total/used/remaining/fileCount/state
//!   (`nearing` under 10 % left, `critical` under 1 %, `exceeded`).
//! - **Items** by path (`/root:/a/b:`), by id (`/items/{id}`), by id plus path (`/items/{id}:/a:`); each
//!   with `id`, `name`, `size`, `eTag`, `cTag` (eTag changes on any change, cTag on content changes),
//!   `createdDateTime`, `lastModifiedDateTime`, `parentReference` (`driveId`, `driveType`, `id`,
//!   percent-encoded `path`), `fileSystemInfo`, `folder.childCount` or `file.hashes.quickXorHash`,
//!   `@microsoft.graph.downloadUrl`; `root` facet on the root.
//! - **Children** in pages of `$top` (default 200) chained by `@odata.nextLink`.
//! - **Create folder** `POST …/children` with `folder` and `@microsoft.graph.conflictBehavior`
//!   (`fail` → `409 nameAlreadyExists`, `rename` → `name 1`, `replace`); the default when absent is not
//!   stated, the emulator uses `fail` (the strict choice). `201` with the item.
//! - **fileSystemInfo** `createdDateTime`/`lastModifiedDateTime` settable on folder create, on upload
//!   sessions (`item.fileSystemInfo`) and by `PATCH`; a content update without it resets
//!   `lastModifiedDateTime` to now (documented). Client times are kept to the second (OneDrive for
//!   Business keeps whole seconds; rclone's documentation lists OneDrive's modtime precision as 1 s).
//! - **Simple upload** `PUT …:/name:/content` or `PUT /items/{id}/content`: at most 250 MB (configurable)
//!   → `413` beyond; conflict behaviour from the `@microsoft.graph.conflictBehavior` query parameter,
//!   default `replace` (documented); `201` new, `200` replaced.
//! - **Download** `GET …/content` → `302` to a pre-authenticated URL (no token needed there), which serves
//!   the bytes, with `Range` → `206` (a range outside the file → `416`).
//! - **Preconditions**: `if-match` / `if-none-match` with an eTag or cTag on createUploadSession, simple
//!   upload, `PATCH` and `DELETE` → `412 resourceModified` when they fail.
//! - **Upload sessions**: see [`upload`] for the list (fragment rules, `202`/`416`/`409`, status, cancel,
//!   expiry, no Authorization on the upload URL, `507` for a `fileSize` over quota).
//! - **Names**: forbidden characters and names, `_vti_`, `~$`, `forms` at a library root, leading/trailing
//!   spaces → `400 invalidRequest` (inner `invalidPath`); a decoded server-relative path over 400
//!   characters → `400` (inner `pathIsTooLong`); names collide case-insensitively.
//! - **Quota**: a commit that would pass the drive's total → `507 quotaLimitReached`.
//! - **File size**: an upload session for more than 250 GB (configurable) → `400` (inner
//!   `maxFileSizeExceeded`).
//! - **Delta**: see [`delta`] (`@odata.nextLink`/`@odata.deltaLink`, `token=latest`, changes since, the
//!   `deleted` facet, no `parentReference.path`, `410 Gone` — code `resyncRequired`, inner code
//!   `resyncChangesApplyDifferences` or `resyncChangesUploadDifferences` — with a `Location` that starts a
//!   fresh enumeration, for a token the service no longer keeps: unknown, older than
//!   [`GraphOptions::delta_token_history`] changes, or dropped by [`GraphEmulator::expire_delta_tokens`]).
//! - **Throttling**: configurable budgets (per tenant and/or per drive, all applied) → `429` (or `503`) with
//!   `Retry-After`; `RateLimit-Limit`/`-Remaining`/`-Reset` from 80 % of a budget on; requests that ignore
//!   a running `Retry-After` are counted ([`GraphStats::requests_before_retry_after`], see [`throttle`]
//!   for which ones a client could have held back).
//! - **Traffic decoration**: the `User-Agent`s seen and the count of requests without one
//!   ([`GraphEmulator::user_agents`], [`GraphStats::undecorated_requests`]), for the guidance's
//!   `ISV|Company|App/Version`.
//! - **QuickXorHash** from the published description, checked against published vectors ([`quickxor`]).
//!
//! Fault hooks (not Graph behaviour, test tools): [`GraphEmulator::fail_next`], [`GraphEmulator::
//! drop_next`], [`GraphEmulator::drop_next_upload_after`].

mod api;
pub mod auth;
pub mod delta;
mod fragment;
mod items;
mod json;
pub mod names;
pub mod options;
pub mod quickxor;
mod route;
mod server;
mod stalled;
mod state;
pub mod throttle;
mod tree;
pub mod upload;

pub use options::{DeltaResync, GraphOptions, ThrottleOptions, ThrottleScope};
pub use quickxor::{QuickXorHash, quick_xor_hash};
pub use stalled::StalledFragment;
pub use state::{GraphStats, SessionStatus};

use chrono::{DateTime, Timelike, Utc};
use server::{Running, Shared};
use state::{State, User, new_item};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tree::{Drive, Kind, Owner};

/// Default drive size (1 TiB, the documented example's total).
pub const DEFAULT_QUOTA: u64 = 1 << 40;

pub(crate) fn truncate_to_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

fn io_err(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, msg.into())
}

/// Give a user their OneDrive; returns the drive id.
pub(crate) fn provision_user_drive(st: &mut State, upn_key: &str) -> Option<String> {
    let root = st.content_root.clone();
    let user = st.users.get_mut(upn_key)?;
    if let Some(d) = &user.drive {
        return Some(d.clone());
    }
    let personal: String = user
        .upn
        .chars()
        .map(|c| if c == '@' || c == '.' { '_' } else { c })
        .collect();
    let mut drive = Drive::new(
        "OneDrive",
        "business",
        Owner::User {
            id: user.id.clone(),
            upn: user.upn.clone(),
        },
        format!("/personal/{personal}/Documents"),
        DEFAULT_QUOTA,
        root,
    );
    // OneDrive for Business lives on the tenant's "-my" host: alice@contoso.com → contoso-my.sharepoint.com.
    let tenant_name = user
        .upn
        .split_once('@')
        .and_then(|(_, d)| d.split('.').next())
        .unwrap_or("contoso");
    drive.web_host = format!("{tenant_name}-my.sharepoint.com");
    let id = drive.id.clone();
    user.drive = Some(id.clone());
    st.drives.insert(id.clone(), drive);
    Some(id)
}

/// One item as tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemInfo {
    pub id: String,
    /// Decoded path from the drive root (`a/b.txt`).
    pub path: String,
    pub is_folder: bool,
    pub size: u64,
    pub quick_xor_hash: Option<String>,
    pub fs_created: DateTime<Utc>,
    pub fs_modified: DateTime<Utc>,
    pub etag: String,
    pub ctag: String,
}

/// One entry of [`GraphEmulator::snapshot`]: what "target equal to source" compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub is_folder: bool,
    pub bytes: Vec<u8>,
    pub quick_xor_hash: Option<String>,
    pub fs_created: DateTime<Utc>,
    pub fs_modified: DateTime<Utc>,
}

/// What an upload session received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub drive_id: String,
    pub name: String,
    pub status: SessionStatus,
    pub total: Option<u64>,
    /// The next expected byte.
    pub received: u64,
    /// Accepted fragments `(first byte, last byte)`, in order.
    pub accepted: Vec<(u64, u64)>,
    /// Refused fragments `(first, last, status)`.
    pub refused: Vec<(u64, u64, u16)>,
    pub bytes_accepted: u64,
    /// Body bytes that arrived, including those of refused or cut requests.
    pub bytes_received: u64,
    /// A fragment's body is being received right now (another fragment is refused meanwhile).
    pub receiving: bool,
}

/// A running emulator; dropping it stops the server and removes its files.
pub struct GraphEmulator {
    shared: Arc<Shared>,
    running: Running,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for GraphEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphEmulator")
            .field("addr", &self.running.addr)
            .finish_non_exhaustive()
    }
}

impl GraphEmulator {
    /// Start on a free loopback port.
    pub fn start(opts: GraphOptions) -> io::Result<GraphEmulator> {
        let dir = tempfile::Builder::new()
            .prefix("ferry-graph-")
            .tempdir_in(crate::temp_root())?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                users: BTreeMap::new(),
                sites: BTreeMap::new(),
                drives: BTreeMap::new(),
                sessions: Default::default(),
                throttle: Default::default(),
                faults: Default::default(),
                stats: Default::default(),
                content_root: dir.path().to_path_buf(),
                user_agents: Default::default(),
                delta_pages: BTreeMap::new(),
                delta_next: 0,
                delta_expired: BTreeMap::new(),
            }),
            opts: Mutex::new(opts),
            root: format!("http://{addr}"),
        });
        let running = server::spawn(listener, shared.clone())?;
        Ok(GraphEmulator {
            shared,
            running,
            _dir: dir,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// `http://127.0.0.1:PORT/v1.0`: the Graph base URL to configure a client with.
    pub fn base_url(&self) -> String {
        format!("{}/v1.0", self.shared.root)
    }

    pub fn tenant_id(&self) -> String {
        self.shared.opts().tenant_id
    }

    /// The HS256 key tokens are checked with.
    pub fn jwt_key(&self) -> Vec<u8> {
        self.shared.opts().jwt_key
    }

    /// An app-only token valid for an hour.
    pub fn token(&self) -> String {
        self.token_for(3600, false)
    }

    /// A token valid for `ttl_secs` (negative: already expired); `delegated` gives `scp` instead of `roles`.
    pub fn token_for(&self, ttl_secs: i64, delegated: bool) -> String {
        let o = self.shared.opts();
        auth::mint(
            &o.jwt_key,
            &o.tenant_id,
            &o.audiences[0],
            ttl_secs,
            delegated,
        )
    }

    /// Change settings while running (limits, strictness, throttle).
    pub fn configure(&self, f: impl FnOnce(&mut GraphOptions)) {
        f(&mut self.shared.opts.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Replace the request budgets (empty: unlimited).
    pub fn set_throttle(&self, budgets: Vec<ThrottleOptions>) {
        self.configure(|o| o.throttle = budgets);
    }

    /// A licensed user with a provisioned OneDrive; returns the drive id.
    pub fn add_user(&self, upn: &str) -> String {
        let mut st = self.shared.lock();
        let key = upn.to_lowercase();
        st.users.entry(key.clone()).or_insert_with(|| User {
            id: tree::new_guid(),
            upn: upn.to_owned(),
            licensed: true,
            drive: None,
        });
        provision_user_drive(&mut st, &key).unwrap_or_default()
    }

    /// A licensed user whose OneDrive is not provisioned yet.
    pub fn add_unprovisioned_user(&self, upn: &str) {
        self.shared.lock().users.insert(
            upn.to_lowercase(),
            User {
                id: tree::new_guid(),
                upn: upn.to_owned(),
                licensed: true,
                drive: None,
            },
        );
    }

    pub fn drive_of_user(&self, upn: &str) -> Option<String> {
        self.shared.lock().drive_by_user(upn).map(str::to_owned)
    }

    /// A site `https://{hostname}/sites/{name}` with its default library "Documents"; returns
    /// (site id, library drive id).
    pub fn add_site(&self, hostname: &str, name: &str) -> (String, String) {
        let id = format!("{hostname},{},{}", tree::new_guid(), tree::new_guid());
        self.shared.lock().sites.insert(
            id.clone(),
            state::Site {
                id: id.clone(),
                hostname: hostname.to_owned(),
                name: name.to_owned(),
                drives: Vec::new(),
            },
        );
        let drive = self
            .add_library_at(&id, "Documents", &format!("/sites/{name}/Shared Documents"))
            .unwrap_or_default();
        (id, drive)
    }

    /// Another document library on a site; returns its drive id.
    pub fn add_library(&self, site_id: &str, name: &str) -> io::Result<String> {
        let site_name = self
            .shared
            .lock()
            .sites
            .get(site_id)
            .map(|s| s.name.clone())
            .ok_or_else(|| io_err(format!("no site {site_id}")))?;
        self.add_library_at(site_id, name, &format!("/sites/{site_name}/{name}"))
    }

    fn add_library_at(&self, site_id: &str, name: &str, root: &str) -> io::Result<String> {
        let mut st = self.shared.lock();
        let content = st.content_root.clone();
        let site = st
            .sites
            .get(site_id)
            .ok_or_else(|| io_err(format!("no site {site_id}")))?;
        let mut drive = Drive::new(
            name,
            "documentLibrary",
            Owner::Site {
                id: site.id.clone(),
                name: site.name.clone(),
            },
            root.to_owned(),
            DEFAULT_QUOTA,
            content,
        );
        drive.web_host = site.hostname.clone();
        let id = drive.id.clone();
        st.drives.insert(id.clone(), drive);
        if let Some(s) = st.sites.get_mut(site_id) {
            s.drives.push(id.clone());
        }
        Ok(id)
    }

    /// Set a drive's total storage (bytes).
    pub fn set_quota(&self, drive: &str, total: u64) {
        if let Some(d) = self.shared.lock().drives.get_mut(drive) {
            d.quota_total = total;
        }
    }

    /// Create the folders of `path` (no rules checked: seeding may create what a client could not).
    pub fn seed_folder(&self, drive: &str, path: &str) -> io::Result<String> {
        self.shared
            .lock()
            .ensure_folders(drive, path)
            .ok_or_else(|| io_err(format!("cannot create folder {path}")))
    }

    /// Put a file (parents created); `modified` sets `fileSystemInfo` times (default now).
    pub fn seed_file(
        &self,
        drive: &str,
        path: &str,
        bytes: &[u8],
        modified: Option<DateTime<Utc>>,
    ) -> io::Result<String> {
        let (dir, name) = path
            .trim_matches('/')
            .rsplit_once('/')
            .unwrap_or(("", path));
        let mut st = self.shared.lock();
        let parent = st
            .ensure_folders(drive, dir)
            .ok_or_else(|| io_err(format!("cannot create folder {dir}")))?;
        let d = st
            .drives
            .get_mut(drive)
            .ok_or_else(|| io_err(format!("no drive {drive}")))?;
        if let Some(old) = d.child(&parent, name).map(|i| i.id.clone()) {
            d.delete(&old);
        }
        let t = truncate_to_seconds(modified.unwrap_or_else(Utc::now));
        let item = new_item(
            name,
            Kind::File {
                size: bytes.len() as u64,
                quick_xor: quick_xor_hash(bytes),
            },
            t,
            t,
        );
        std::fs::write(d.content_path(&item.id), bytes)?;
        Ok(d.insert(&parent, item))
    }

    /// The bytes of a file, by decoded path.
    pub fn read_file(&self, drive: &str, path: &str) -> Option<Vec<u8>> {
        let st = self.shared.lock();
        let item = st.item_by_path(drive, path)?;
        if item.is_folder() {
            return None;
        }
        std::fs::read(st.drives.get(drive)?.content_path(&item.id)).ok()
    }

    /// Delete an item by path (a change the delta feed reports); false if it did not exist.
    pub fn delete(&self, drive: &str, path: &str) -> bool {
        let mut st = self.shared.lock();
        let Some(id) = st.item_by_path(drive, path).map(|i| i.id.clone()) else {
            return false;
        };
        match st.drives.get_mut(drive) {
            Some(d) if id != d.root_id => {
                d.delete(&id);
                true
            }
            _ => false,
        }
    }

    /// Forget every delta token (and page link) handed out for `drive` so far, as the service does after
    /// a long disconnection or a change of its own state: calling one answers `410 Gone` with `code` and a
    /// `Location` that starts a fresh enumeration; links handed out afterwards work again.
    pub fn expire_delta_tokens(&self, drive: &str, code: DeltaResync) {
        let mut st = self.shared.lock();
        let Some(d) = st.drives.get_mut(drive) else {
            return;
        };
        let upto = d.seq;
        // A new change number, so `token=latest` from now on differs from every dropped token.
        d.next_seq();
        st.delta_expired.insert(drive.to_owned(), (upto, code));
    }

    /// Every live item of a drive but the root, by path.
    pub fn items(&self, drive: &str) -> Vec<ItemInfo> {
        let st = self.shared.lock();
        let Some(d) = st.drives.get(drive) else {
            return Vec::new();
        };
        let mut out: Vec<ItemInfo> = d
            .items
            .values()
            .filter(|i| !i.deleted && i.parent.is_some())
            .map(|i| ItemInfo {
                id: i.id.clone(),
                path: d.relative_path(&i.id),
                is_folder: i.is_folder(),
                size: i.size(),
                quick_xor_hash: match &i.kind {
                    Kind::File { quick_xor, .. } => Some(quick_xor.clone()),
                    Kind::Folder { .. } => None,
                },
                fs_created: i.fs_created,
                fs_modified: i.fs_modified,
                etag: json::etag(i),
                ctag: json::ctag(i),
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Path → content and times of every item: compare two of these for "target equal to source".
    pub fn snapshot(&self, drive: &str) -> BTreeMap<String, SnapshotEntry> {
        self.items(drive)
            .into_iter()
            .map(|i| {
                let bytes = if i.is_folder {
                    Vec::new()
                } else {
                    self.read_file(drive, &i.path).unwrap_or_default()
                };
                (
                    i.path,
                    SnapshotEntry {
                        is_folder: i.is_folder,
                        bytes,
                        quick_xor_hash: i.quick_xor_hash,
                        fs_created: i.fs_created,
                        fs_modified: i.fs_modified,
                    },
                )
            })
            .collect()
    }

    pub fn stats(&self) -> GraphStats {
        self.shared.lock().stats.clone()
    }

    /// Every `User-Agent` the emulator has seen (SharePoint asks for `ISV|Company|App/Version`).
    pub fn user_agents(&self) -> Vec<String> {
        self.shared.lock().user_agents.iter().cloned().collect()
    }

    /// Every upload session created so far, oldest first is not guaranteed: sort by what you need.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared
            .lock()
            .sessions
            .values()
            .map(|s| SessionInfo {
                id: s.id.clone(),
                drive_id: s.drive_id.clone(),
                name: s.name.clone(),
                status: s.status,
                total: s.total,
                received: s.received,
                accepted: s.accepted.clone(),
                refused: s.refused.clone(),
                bytes_accepted: s.bytes_accepted,
                bytes_received: s.bytes_received,
                receiving: s.busy,
            })
            .collect()
    }

    /// Answer the next `n` requests with `status` (and `Retry-After: secs` when given).
    pub fn fail_next(&self, n: usize, status: u16, retry_after_secs: Option<u64>) {
        let mut st = self.shared.lock();
        for _ in 0..n {
            st.faults.fail.push((status, retry_after_secs));
        }
    }

    /// Close the connection without an answer on the next `n` requests.
    pub fn drop_next(&self, n: usize) {
        self.shared.lock().faults.drop += n;
    }

    /// Cut the connection of the next upload fragment after `bytes` bytes of its body arrived (the
    /// fragment then counts for nothing, as documented).
    pub fn drop_next_upload_after(&self, bytes: u64) {
        self.shared.lock().faults.drop_upload_after = Some(bytes.max(1));
    }
}
