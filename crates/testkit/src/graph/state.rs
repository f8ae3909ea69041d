//! The emulator's state behind one mutex: tenancy (users, sites, drives), upload sessions, counters, the
//! throttle and the fault hooks. Handlers hold the lock only between awaits, never across one.

use super::quickxor::QuickXorHash;
use super::throttle::Throttle;
use super::tree::{Drive, Item, Kind};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

/// A user of the tenant; `drive` is `None` until the OneDrive is provisioned.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub upn: String,
    pub licensed: bool,
    pub drive: Option<String>,
}

/// A SharePoint site: `hostname` + `/sites/{name}`, with its document libraries (the first is the default).
#[derive(Clone, Debug)]
pub struct Site {
    pub id: String,
    pub hostname: String,
    pub name: String,
    pub drives: Vec<String>,
}

/// `@microsoft.graph.conflictBehavior`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    Fail,
    Replace,
    Rename,
}

impl Conflict {
    pub fn parse(s: &str) -> Option<Conflict> {
        match s {
            "fail" => Some(Conflict::Fail),
            "replace" => Some(Conflict::Replace),
            "rename" => Some(Conflict::Rename),
            _ => None,
        }
    }
}

/// Where an upload session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    Open,
    Completed,
    Cancelled,
    Expired,
}

/// An upload session and what it received.
#[derive(Debug)]
pub struct Session {
    pub id: String,
    pub drive_id: String,
    pub parent_id: String,
    pub name: String,
    /// Set when the session was created on an existing file (update by id).
    pub target_id: Option<String>,
    pub conflict: Conflict,
    pub fs_created: Option<DateTime<Utc>>,
    pub fs_modified: Option<DateTime<Utc>>,
    pub defer_commit: bool,
    pub total: Option<u64>,
    pub received: u64,
    pub hasher: QuickXorHash,
    pub file: PathBuf,
    pub expires: Instant,
    pub expires_utc: DateTime<Utc>,
    pub status: SessionStatus,
    /// A non-final fragment was not a multiple of 320 KiB: the commit fails, as documented.
    pub misaligned: bool,
    pub accepted: Vec<(u64, u64)>,
    pub refused: Vec<(u64, u64, u16)>,
    /// Body bytes of accepted fragments.
    pub bytes_accepted: u64,
    /// Body bytes received on this session's URL, accepted or not (dropped connections included).
    pub bytes_received: u64,
    /// A fragment is being written (outside the lock); another one for this session is refused.
    pub busy: bool,
}

/// Fault injection hooks (each consumed as it fires).
#[derive(Debug, Default)]
pub struct Faults {
    /// Answer the next requests with this status (and `Retry-After` when `Some`).
    pub fail: Vec<(u16, Option<u64>)>,
    /// Close the connection without an answer for the next N requests.
    pub drop: usize,
    /// The next upload fragment: close the connection after this many body bytes.
    pub drop_upload_after: Option<u64>,
}

/// Request counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphStats {
    /// Every request received (including refused and dropped ones).
    pub requests: u64,
    /// Requests without a `User-Agent` ("undecorated traffic" in SharePoint's throttling guidance, which
    /// asks for `ISV|Company|App/Version` or `NONISV|…`).
    pub undecorated_requests: u64,
    /// Requests answered 429/503 by the budget.
    pub throttled: u64,
    /// Requests received before a `Retry-After` they had been given expired (a good client: 0).
    pub requests_before_retry_after: u64,
    /// Requests refused for a missing or bad bearer token.
    pub unauthorized: u64,
    /// Requests to an upload URL that carried an `Authorization` header.
    pub upload_url_with_authorization: u64,
    pub simple_uploads: u64,
    pub sessions_created: u64,
    pub fragments_accepted: u64,
    pub fragments_refused: u64,
    /// Non-final fragments whose length was not a multiple of 320 KiB.
    pub misaligned_fragments: u64,
    /// Bytes of file content accepted (simple uploads and fragments).
    pub content_bytes: u64,
    pub downloads: u64,
    /// Connections closed by a fault hook.
    pub dropped: u64,
    /// Requests answered by `fail_next`.
    pub injected_failures: u64,
}

#[derive(Debug)]
pub struct State {
    pub users: BTreeMap<String, User>,
    pub sites: BTreeMap<String, Site>,
    pub drives: BTreeMap<String, Drive>,
    pub sessions: HashMap<String, Session>,
    pub throttle: Throttle,
    pub faults: Faults,
    pub stats: GraphStats,
    pub content_root: PathBuf,
    /// Every `User-Agent` seen.
    pub user_agents: std::collections::BTreeSet<String>,
    /// Delta page lists handed out: (drive, item ids, the drive's change number when made).
    pub delta_pages: BTreeMap<usize, (String, Vec<String>, u64)>,
    pub delta_next: usize,
    /// Per drive: delta tokens up to this change number were dropped (`expire_delta_tokens`), and the
    /// code their `410 Gone` carries.
    pub delta_expired: BTreeMap<String, (u64, super::options::DeltaResync)>,
}

impl State {
    pub fn drive_by_user(&self, upn: &str) -> Option<&str> {
        self.users
            .get(&upn.to_lowercase())
            .or_else(|| self.users.values().find(|u| u.id == upn))
            .and_then(|u| u.drive.as_deref())
    }

    /// Resolve `path` (decoded, `/`-separated) in a drive to an item.
    pub fn item_by_path(&self, drive: &str, path: &str) -> Option<&Item> {
        let d = self.drives.get(drive)?;
        d.resolve(&d.root_id, path)
    }

    /// Create the folders of `path` (seeding); returns the last one's id.
    pub fn ensure_folders(&mut self, drive: &str, path: &str) -> Option<String> {
        let d = self.drives.get_mut(drive)?;
        let mut cur = d.root_id.clone();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            cur = match d.child(&cur, seg) {
                Some(c) if c.is_folder() => c.id.clone(),
                Some(_) => return None,
                None => {
                    let now = Utc::now();
                    d.insert(&cur, new_item(seg, folder(), now, now))
                }
            };
        }
        Some(cur)
    }
}

pub fn folder() -> Kind {
    Kind::Folder {
        children: BTreeMap::new(),
    }
}

/// A new item with service times now and the given client times.
pub fn new_item(
    name: &str,
    kind: Kind,
    fs_created: DateTime<Utc>,
    fs_modified: DateTime<Utc>,
) -> Item {
    let now = Utc::now();
    Item {
        id: super::tree::new_item_id(),
        name: name.to_owned(),
        parent: None,
        kind,
        created: now,
        modified: now,
        fs_created,
        fs_modified,
        etag_version: 1,
        ctag_version: 1,
        seq: 0,
        deleted: false,
    }
}
