//! Plain data the store reads and writes.

use ferry_core::folder::FolderPath;
use ferry_core::id::{MappingId, PassId, RunId};
use ferry_core::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Status of a run or a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Done,
    DoneWithErrors,
    Failed,
}

/// Kind of pass (DESIGN §1): Initial copies everything, Delta what is new, Final is a Delta that seals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassKind {
    Initial,
    Delta,
    Final,
}

/// Outcome of one source message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Append sent (or about to be), not yet confirmed.
    Pending,
    Copied,
    Skipped,
    Failed,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($s => Ok(Self::$v),)*
                    _ => Err(Error::new(ErrorKind::Store, format!("unknown {} {s:?} in the store", stringify!($t)))),
                }
            }
        }
    };
}

text_enum!(RunStatus { Running => "running", Done => "done", DoneWithErrors => "done_with_errors", Failed => "failed" });
text_enum!(PassKind { Initial => "initial", Delta => "delta", Final => "final" });
text_enum!(ItemStatus { Pending => "pending", Copied => "copied", Skipped => "skipped", Failed => "failed" });

/// A mapping: one source mailbox to one target mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MappingRow {
    pub id: MappingId,
    pub source: String,
    pub target: String,
    pub label: String,
    pub sealed: bool,
}

/// A pass as stored.
#[derive(Clone, Debug, Serialize)]
pub struct PassRow {
    pub id: PassId,
    pub mapping_id: MappingId,
    pub run_id: RunId,
    pub kind: PassKind,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub counters: PassCounters,
    pub error: Option<String>,
}

/// Counters of one pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassCounters {
    pub discovered: u64,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign<&PassCounters> for PassCounters {
    fn add_assign(&mut self, o: &PassCounters) {
        self.discovered += o.discovered;
        self.copied += o.copied;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.bytes += o.bytes;
    }
}

/// The checkpoint of one source folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderState {
    pub folder: FolderPath,
    pub target_folder: FolderPath,
    pub uid_validity: u32,
    pub uid_next: u32,
    pub messages: u32,
    /// Every source uid ≤ hwm has a journal row.
    pub hwm: u32,
    pub error: Option<String>,
    /// The target folder's UIDVALIDITY when Ferry last wrote to it; `None` when not known. A different
    /// value on the target means the folder was recreated: the journal no longer vouches for it.
    pub target_uid_validity: Option<u32>,
    /// The source folder's HIGHESTMODSEQ after the last flag sync (CONDSTORE servers only).
    pub source_modseq: Option<u64>,
}

/// One journal row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemRow {
    pub folder: FolderPath,
    pub uid_validity: u32,
    pub uid: u32,
    pub fingerprint: String,
    pub message_id: Option<String>,
    pub size: u64,
    pub status: ItemStatus,
    pub reason: Option<String>,
    pub target_folder: Option<FolderPath>,
    pub target_uid: Option<u32>,
    pub probe_from: Option<u32>,
    pub attempts: u32,
    /// Hash of the message's bytes (see `ferry_core::fingerprint::content_hash`), known for copies.
    pub content_hash: Option<String>,
    /// The flags Ferry last wrote to the target (sorted), for the three-way flag sync.
    pub flags: Option<Vec<String>>,
    /// Date, sender and subject, for skipped and failed messages.
    pub about: ItemAbout,
    /// What Ferry changed in the copy, if anything.
    pub note: Option<String>,
}

/// What people need to find a message in their mail client (issue 9, item 17). The engine keeps it for
/// skipped and failed messages (cleaned and truncated, see `ferry_core::headline`); `None` when unknown.
/// A write without it keeps what an earlier write stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ItemAbout {
    /// The internal (arrival) date, RFC 3339.
    pub date: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
}

/// A journal write.
#[derive(Clone, Debug)]
pub struct ItemWrite {
    pub uid: u32,
    pub fingerprint: String,
    pub message_id: Option<String>,
    pub size: u64,
    pub status: ItemStatus,
    pub reason: Option<String>,
    pub target_folder: Option<FolderPath>,
    pub target_uid: Option<u32>,
    pub probe_from: Option<u32>,
    /// `None` keeps what the row holds.
    pub content_hash: Option<String>,
    /// `None` keeps what the row holds.
    pub flags: Option<Vec<String>>,
    /// Date, sender and subject (empty: keep what the row has).
    pub about: ItemAbout,
    /// What Ferry changed in the copy (e.g. a disarmed read receipt); `None` keeps what the row holds.
    pub note: Option<String>,
}

/// What still stands in a mapping's mail journal, whichever pass decided it: for a run's closing
/// summary, read from the problem rows only (the journal's copied rows are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OpenProblems {
    /// Items skipped under the folder's current UIDVALIDITY.
    pub skipped: u64,
    /// Items failed or never confirmed (pending) under the folder's current UIDVALIDITY.
    pub failed: u64,
    /// Folders whose last attempt failed.
    pub folder_errors: u64,
}

impl OpenProblems {
    /// Per mapping, from the stores' two counts: `(mapping, item status, n)` for skipped, failed and pending
    /// items, and `(mapping, n)` for failed folders. Both stores answer [`crate::Store::open_problems`] with it.
    pub(crate) fn per_mapping(
        items: Vec<(String, String, i64)>,
        folders: Vec<(String, i64)>,
    ) -> ferry_core::Result<Vec<(MappingId, OpenProblems)>> {
        let mut out: std::collections::BTreeMap<String, OpenProblems> = Default::default();
        for (mapping, status, n) in items {
            let p = out.entry(mapping).or_default();
            match status.as_str() {
                "skipped" => p.skipped += n as u64,
                _ => p.failed += n as u64,
            }
        }
        for (mapping, n) in folders {
            out.entry(mapping).or_default().folder_errors = n as u64;
        }
        out.into_iter()
            .map(|(id, p)| Ok((id.parse()?, p)))
            .collect()
    }
}

/// Report line: one folder of one mapping.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FolderReport {
    pub mapping_id: String,
    pub label: String,
    pub source: String,
    pub target: String,
    pub folder: String,
    pub discovered: u64,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub pending: u64,
    pub bytes_copied: u64,
    /// Seconds spent in passes of this mapping (same for every folder of a mapping).
    pub duration_secs: f64,
    pub folder_error: Option<String>,
}

/// One row of the file journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileItemRow {
    pub path: String,
    pub dir: String,
    pub size: u64,
    /// RFC 3339 with nanoseconds, as written.
    pub mtime: Option<String>,
    pub hash: Option<String>,
    pub hash_kind: Option<String>,
    pub status: ItemStatus,
    pub reason: Option<String>,
    pub target_path: Option<String>,
    pub target_size: Option<u64>,
    pub target_mtime: Option<String>,
    /// The target's version tag (ETag) right after Ferry wrote the file, where the target has one.
    pub target_etag: Option<String>,
    /// The target rules that renamed the file (`forbidden_character, reserved_name`), if any did.
    pub renamed: Option<String>,
    pub attempts: u32,
}

/// A file journal write (insert or replace by path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileItemWrite {
    pub path: String,
    pub size: u64,
    pub mtime: Option<String>,
    pub hash: Option<String>,
    pub hash_kind: Option<String>,
    pub status: ItemStatus,
    pub reason: Option<String>,
    pub target_path: Option<String>,
    pub target_size: Option<u64>,
    pub target_mtime: Option<String>,
    /// Kept only with `copied` (like `target_size` and `target_mtime`).
    pub target_etag: Option<String>,
    /// The target rules that renamed the file, if any did.
    pub renamed: Option<String>,
}

/// Totals of one file mapping.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FileMappingReport {
    pub mapping_id: String,
    pub label: String,
    pub source: String,
    pub target: String,
    pub discovered: u64,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub pending: u64,
    pub bytes_copied: u64,
    pub duration_secs: f64,
}

/// A multipart upload in flight, as saved between runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedUpload {
    /// JSON of `ferry_core::file::UploadState`.
    pub state: String,
    pub source_size: u64,
    pub source_mtime: Option<String>,
}
