//! Ferry's store: what the engine remembers between runs — mappings, passes, folder checkpoints and the
//! per-message journal (source key → outcome and target uid).
//!
//! The [`Store`] trait is the contract; [`SqliteStore`] is the embedded default (one file, WAL, zero setup).
//! The migration programme's tables have their own traits in [`programme`] (the server holds no SQL), and
//! reports read the journal through [`JournalReads`].
//! [`PgStore`] is the same behind PostgreSQL, for several processes on several machines, with its own
//! numbered migrations in `migrations/postgres`. Migrations are plain SQL files, applied in order and never
//! edited after they land.
//!
//! The journal is written in two steps around every append: rows go in as `pending` (with the target's
//! `uid_next` before the append, `probe_from`) before the bytes are sent, and become `copied` in the same
//! transaction that records the target uid. A crash in between leaves `pending` rows, which the engine
//! reconciles against the target before copying again — so a `kill -9` never creates a second copy.
//!
//! ```no_run
//! # async fn demo() -> ferry_core::Result<()> {
//! let store = ferry_store::SqliteStore::open(std::path::Path::new("ferry.db")).await?;
//! # Ok(()) }
//! ```

mod journal_reads;
mod leader;
mod location;
mod own_etags;
pub(crate) mod pg;
pub mod programme;
mod sqlite;
mod sqlite_files;
mod types;

pub use journal_reads::{FileItemLine, JournalCounts, JournalReads, MailItemLine};
pub use leader::{Leadership, PgLeader, SCHEDULER_LOCK, Solo};
pub use location::{Journal, StoreLocation};
pub use pg::PgStore;
pub use pg::notify::{Heard, PgNotifier, PgSubscription};
pub use sqlite::SqliteStore;
pub use types::*;

use async_trait::async_trait;
use ferry_core::Result;
use ferry_core::folder::FolderPath;
use ferry_core::id::{MappingId, PassId, RunId};

/// Everything the engine stores. All methods are atomic (one transaction each).
#[async_trait]
pub trait Store: Send + Sync {
    /// Record a new run (one `ferry mail migrate` invocation).
    async fn create_run(&self, workload: &str, options_json: &str) -> Result<RunId>;
    async fn finish_run(&self, run: RunId, status: RunStatus) -> Result<()>;

    /// The mapping for (source, target), created on first use; re-runs find the same one.
    async fn upsert_mapping(&self, source: &str, target: &str, label: &str) -> Result<MappingRow>;
    async fn mappings(&self) -> Result<Vec<MappingRow>>;
    async fn seal_mapping(&self, mapping: MappingId) -> Result<()>;

    async fn start_pass(&self, mapping: MappingId, run: RunId, kind: PassKind) -> Result<PassId>;
    async fn finish_pass(
        &self,
        pass: PassId,
        status: RunStatus,
        counters: &PassCounters,
        error: Option<&str>,
    ) -> Result<()>;
    /// Passes of a mapping, oldest first.
    async fn passes(&self, mapping: MappingId) -> Result<Vec<PassRow>>;

    async fn folder_state(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
    ) -> Result<Option<FolderState>>;
    async fn save_folder_state(&self, mapping: MappingId, state: &FolderState) -> Result<()>;
    async fn folder_states(&self, mapping: MappingId) -> Result<Vec<FolderState>>;

    /// Source uids in `[from, to]` that already have a journal row under `uid_validity`, ascending.
    async fn journaled_uids(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        uid_validity: u32,
        from: u32,
        to: u32,
    ) -> Result<Vec<u32>>;
    /// Rows with the given status under `uid_validity`, ascending by uid.
    async fn items_with_status(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        uid_validity: u32,
        status: ItemStatus,
    ) -> Result<Vec<ItemRow>>;
    /// The rows a pass may still have to act on — pending, failed and skipped — of every folder of a
    /// mapping under the folder's recorded UIDVALIDITY, by folder and uid: what a pass reads once to tell
    /// which folders have nothing to do. The default asks [`Store::items_with_status`] per folder.
    async fn open_items(&self, mapping: MappingId) -> Result<Vec<ItemRow>> {
        let mut out = Vec::new();
        for fs in self.folder_states(mapping).await? {
            let mut rows = Vec::new();
            for status in [ItemStatus::Pending, ItemStatus::Failed, ItemStatus::Skipped] {
                rows.extend(
                    self.items_with_status(mapping, &fs.folder, fs.uid_validity, status)
                        .await?,
                );
            }
            rows.sort_by_key(|r| r.uid);
            out.extend(rows);
        }
        Ok(out)
    }
    /// Insert or replace journal rows; a row written as `pending` counts one more attempt.
    async fn write_items(
        &self,
        mapping: MappingId,
        pass: PassId,
        folder: &FolderPath,
        uid_validity: u32,
        rows: &[ItemWrite],
    ) -> Result<()>;
    /// After a UIDVALIDITY change: move one journal row with this fingerprint from `old_validity` to
    /// (`new_validity`, `new_uid`), returning its status; `None` if no unclaimed row is left. Identical
    /// messages share a fingerprint, so each claim takes one row: two copies in the source match two rows.
    /// With `content_hash`, a row recording a different hash is never taken (same headers and size,
    /// different body: another message); a row with that hash is preferred over one that records none.
    #[allow(clippy::too_many_arguments)]
    async fn claim_by_fingerprint(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        old_validity: u32,
        new_validity: u32,
        new_uid: u32,
        fingerprint: &str,
        content_hash: Option<&str>,
    ) -> Result<Option<ItemStatus>>;
    /// Fingerprints that more than one row shares under `uid_validity`.
    async fn shared_fingerprints(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        uid_validity: u32,
    ) -> Result<Vec<String>>;
    /// How many rows have the given status under `uid_validity`.
    async fn count_with_status(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        uid_validity: u32,
        status: ItemStatus,
    ) -> Result<u64>;

    /// Per mapping and folder: counts and bytes by outcome, for the current uid_validity of each folder.
    async fn report(&self) -> Result<Vec<FolderReport>>;
    /// Skipped and failed items of a mapping, with reasons.
    async fn problems(&self, mapping: MappingId) -> Result<Vec<ItemRow>>;
    /// Copied messages Ferry changed on the way (a note says what), by folder and uid.
    async fn changed(&self, mapping: MappingId) -> Result<Vec<ItemRow>>;
    /// Per mapping with any: how many items are skipped, failed or pending, and how many folders failed —
    /// what [`Store::report`] counts, without reading the copied rows (a run's closing summary asks this,
    /// and a no-op re-run must not pay for the whole journal).
    async fn open_problems(&self) -> Result<Vec<(MappingId, OpenProblems)>>;
}

/// The file journal (issue 3), on top of [`Store`]'s runs, mappings and passes.
#[async_trait]
pub trait FileStore: Store {
    /// Journal rows of the files directly inside `dir` (`""` for the root).
    async fn file_items_in_dir(&self, mapping: MappingId, dir: &str) -> Result<Vec<FileItemRow>>;
    /// Insert or replace rows by path; `pending` and `failed` writes count one more attempt. The target's
    /// size and mtime are only updated by a `copied` write (they describe what Ferry wrote).
    async fn write_file_items(
        &self,
        mapping: MappingId,
        pass: PassId,
        rows: &[FileItemWrite],
    ) -> Result<()>;
    /// Totals per file mapping.
    async fn file_report(&self) -> Result<Vec<FileMappingReport>>;
    /// Skipped, failed and unconfirmed files of a mapping, with reasons.
    async fn file_problems(&self, mapping: MappingId) -> Result<Vec<FileItemRow>>;
    /// Files of a mapping written under a name the target rules changed, by path.
    async fn file_renames(&self, mapping: MappingId) -> Result<Vec<FileItemRow>>;
    /// Remember the target rules (`none`, `onedrive`, `sharepoint`) a file mapping's passes use.
    async fn set_file_target_rules(&self, mapping: MappingId, rules: &str) -> Result<()>;
    /// The target rules a file mapping's last pass used, if it ran since the store knew them.
    async fn file_target_rules(&self, mapping: MappingId) -> Result<Option<String>>;
    /// Remember the target's change feed position (a OneDrive/SharePoint `@odata.deltaLink`) after a pass;
    /// `None` forgets it, so the next pass starts a new feed.
    async fn set_file_delta_link(&self, mapping: MappingId, link: Option<&str>) -> Result<()>;
    /// The target's change feed position the last pass left, if any.
    async fn file_delta_link(&self, mapping: MappingId) -> Result<Option<String>>;
    /// The target version tags (ETags) among `etags` that a `copied` row of the mapping records: Ferry's
    /// own writes, as the target reported them right after writing (a change feed reports them back).
    async fn file_own_etags(
        &self,
        mapping: MappingId,
        etags: &[String],
    ) -> Result<std::collections::HashSet<String>>;
    /// Remember a multipart upload in flight.
    async fn save_upload(&self, mapping: MappingId, path: &str, upload: &SavedUpload)
    -> Result<()>;
    async fn load_upload(&self, mapping: MappingId, path: &str) -> Result<Option<SavedUpload>>;
    async fn delete_upload(&self, mapping: MappingId, path: &str) -> Result<()>;
}
