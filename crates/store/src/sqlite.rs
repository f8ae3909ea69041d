//! The SQLite store (WAL, one file): the embedded default.

use crate::Store;
use crate::types::*;
use async_trait::async_trait;
use ferry_core::folder::FolderPath;
use ferry_core::id::{MappingId, PassId, RunId};
use ferry_core::{Error, ErrorKind, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Numbered migrations, applied in order. Never edit a landed file; add the next number.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_files.sql")),
    (3, include_str!("../migrations/sqlite/0003_programme.sql")),
    (
        4,
        include_str!("../migrations/sqlite/0004_credential_per_project.sql"),
    ),
    (
        5,
        include_str!("../migrations/sqlite/0005_file_target_identity.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_mail_target_truth.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_journal_scope.sql"),
    ),
    (8, include_str!("../migrations/sqlite/0008_surface.sql")),
    (9, include_str!("../migrations/sqlite/0009_item_about.sql")),
    (10, include_str!("../migrations/sqlite/0010_pass_lease.sql")),
    (
        11,
        include_str!("../migrations/sqlite/0011_file_target_feed.sql"),
    ),
    (12, include_str!("../migrations/sqlite/0012_item_note.sql")),
    (15, include_str!("../migrations/sqlite/0015_log_pages.sql")),
    (
        16,
        include_str!("../migrations/sqlite/0016_mapping_status.sql"),
    ),
    (
        18,
        include_str!("../migrations/sqlite/0018_file_item_by_target_etag.sql"),
    ),
    (19, include_str!("../migrations/sqlite/0019_event_line.sql")),
];

/// The embedded store.
///
/// A store value has a journal *scope*: the journal mappings it finds and creates are those of its scope
/// only. The CLI uses the empty scope; `ferry serve` runs each programme mapping's passes through
/// [`SqliteStore::scoped`] with the programme mapping's id, so two projects or tenants moving the same
/// mailbox never share a journal (issue 9 item 6).
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    scope: std::sync::Arc<str>,
}

pub(crate) fn db_err(e: sqlx::Error) -> Error {
    let temporary = matches!(&e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_))
        || matches!(&e, sqlx::Error::Database(d) if d.message().contains("locked") || d.message().contains("busy"));
    let err = Error::new(ErrorKind::Store, format!("store: {e}"));
    if temporary { err.temporary() } else { err }
}

fn folder_key(f: &FolderPath) -> String {
    serde_json::to_string(&f.0).unwrap_or_default()
}

fn parse_folder(s: &str) -> Result<FolderPath> {
    serde_json::from_str::<Vec<String>>(s)
        .map(FolderPath)
        .map_err(|e| {
            Error::new(
                ErrorKind::Store,
                format!("bad folder {s:?} in the store: {e}"),
            )
        })
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_id<T: FromStr<Err = Error>>(s: &str) -> Result<T> {
    s.parse()
}

impl SqliteStore {
    /// The connection pool (shared with [`crate::programme::SqliteProgramme`]; tests use it to inject faults).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The same store, whose journal mappings are those of `scope` (a programme mapping's id). Cheap: the
    /// connection pool is shared.
    pub fn scoped(&self, scope: &str) -> SqliteStore {
        SqliteStore {
            pool: self.pool.clone(),
            scope: scope.into(),
        }
    }

    /// This store's journal scope (`""` for the CLI).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Open (or create) the store file and apply pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::new(
                    ErrorKind::Store,
                    format!("cannot create the store directory {}: {e}", dir.display()),
                )
            })?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode survives a killed process (not a power loss), which is the crash we test.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(60))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(120))
            .connect_with(opts)
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Store,
                    format!("cannot open the store {}: {e}", path.display()),
                )
            })?;
        let store = SqliteStore {
            pool,
            scope: "".into(),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS ferry_migration (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM ferry_migration")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        if let Some(newest) = applied.iter().max() {
            let known = MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0);
            if *newest > known {
                return Err(Error::new(
                    ErrorKind::Store,
                    format!(
                        "the store is at schema version {newest}, newer than this ferry ({known}): upgrade ferry"
                    ),
                ));
            }
        }
        for (version, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query("INSERT INTO ferry_migration (version, applied_at) VALUES (?, ?)")
                .bind(version)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    fn item_row(r: &sqlx::sqlite::SqliteRow) -> Result<ItemRow> {
        let target_folder: Option<String> = r.try_get("target_folder").map_err(db_err)?;
        Ok(ItemRow {
            folder: parse_folder(&r.try_get::<String, _>("folder").map_err(db_err)?)?,
            uid_validity: r.try_get::<i64, _>("uid_validity").map_err(db_err)? as u32,
            uid: r.try_get::<i64, _>("uid").map_err(db_err)? as u32,
            fingerprint: r.try_get("fingerprint").map_err(db_err)?,
            message_id: r.try_get("message_id").map_err(db_err)?,
            size: r.try_get::<i64, _>("size").map_err(db_err)? as u64,
            status: r.try_get::<String, _>("status").map_err(db_err)?.parse()?,
            reason: r.try_get("reason").map_err(db_err)?,
            target_folder: target_folder.as_deref().map(parse_folder).transpose()?,
            target_uid: r
                .try_get::<Option<i64>, _>("target_uid")
                .map_err(db_err)?
                .map(|v| v as u32),
            probe_from: r
                .try_get::<Option<i64>, _>("probe_from")
                .map_err(db_err)?
                .map(|v| v as u32),
            attempts: r.try_get::<i64, _>("attempts").map_err(db_err)? as u32,
            content_hash: r.try_get("content_hash").map_err(db_err)?,
            flags: r
                .try_get::<Option<String>, _>("flags")
                .map_err(db_err)?
                .map(|f| parse_flags(&f)),
            about: ItemAbout {
                date: r.try_get("internal_date").map_err(db_err)?,
                sender: r.try_get("sender").map_err(db_err)?,
                subject: r.try_get("subject").map_err(db_err)?,
            },
            note: r.try_get("note").map_err(db_err)?,
        })
    }
}

/// Flags as stored: sorted, space-separated (IMAP flags never contain a space).
fn flags_text(flags: &[String]) -> String {
    let mut v: Vec<&str> = flags.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.join(" ")
}

fn parse_flags(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_run(&self, workload: &str, options_json: &str) -> Result<RunId> {
        let id = RunId::new();
        sqlx::query("INSERT INTO run (id, workload, started_at, status, options) VALUES (?, ?, ?, 'running', ?)")
            .bind(id.to_string())
            .bind(workload)
            .bind(now())
            .bind(options_json)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(id)
    }

    async fn finish_run(&self, run: RunId, status: RunStatus) -> Result<()> {
        sqlx::query("UPDATE run SET status = ?, finished_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(now())
            .bind(run.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn upsert_mapping(&self, source: &str, target: &str, label: &str) -> Result<MappingRow> {
        sqlx::query(
            "INSERT INTO mapping (id, scope, source, target, label, created_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (scope, source, target) DO UPDATE SET label = excluded.label",
        )
        .bind(MappingId::new().to_string())
        .bind(&*self.scope)
        .bind(source)
        .bind(target)
        .bind(label)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        let r = sqlx::query("SELECT id, source, target, label, sealed_at FROM mapping WHERE scope = ? AND source = ? AND target = ?")
            .bind(&*self.scope)
            .bind(source)
            .bind(target)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        mapping_row(&r)
    }

    async fn mappings(&self) -> Result<Vec<MappingRow>> {
        let rows = sqlx::query(
            "SELECT id, source, target, label, sealed_at FROM mapping WHERE scope = ? ORDER BY label, id",
        )
        .bind(&*self.scope)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(mapping_row).collect()
    }

    async fn seal_mapping(&self, mapping: MappingId) -> Result<()> {
        sqlx::query("UPDATE mapping SET sealed_at = ? WHERE id = ?")
            .bind(now())
            .bind(mapping.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn start_pass(&self, mapping: MappingId, run: RunId, kind: PassKind) -> Result<PassId> {
        let id = PassId::new();
        sqlx::query("INSERT INTO pass (id, mapping_id, run_id, kind, status, started_at) VALUES (?, ?, ?, ?, 'running', ?)")
            .bind(id.to_string())
            .bind(mapping.to_string())
            .bind(run.to_string())
            .bind(kind.as_str())
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(id)
    }

    async fn finish_pass(
        &self,
        pass: PassId,
        status: RunStatus,
        c: &PassCounters,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE pass SET status = ?, finished_at = ?, discovered = ?, copied = ?, skipped = ?, failed = ?, bytes = ?, error = ?
             WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(now())
        .bind(c.discovered as i64)
        .bind(c.copied as i64)
        .bind(c.skipped as i64)
        .bind(c.failed as i64)
        .bind(c.bytes as i64)
        .bind(error)
        .bind(pass.to_string())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn passes(&self, mapping: MappingId) -> Result<Vec<PassRow>> {
        let rows = sqlx::query("SELECT * FROM pass WHERE mapping_id = ? ORDER BY started_at, id")
            .bind(mapping.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(PassRow {
                    id: parse_id(&r.try_get::<String, _>("id").map_err(db_err)?)?,
                    mapping_id: parse_id(&r.try_get::<String, _>("mapping_id").map_err(db_err)?)?,
                    run_id: parse_id(&r.try_get::<String, _>("run_id").map_err(db_err)?)?,
                    kind: r.try_get::<String, _>("kind").map_err(db_err)?.parse()?,
                    status: r.try_get::<String, _>("status").map_err(db_err)?.parse()?,
                    started_at: r.try_get("started_at").map_err(db_err)?,
                    finished_at: r.try_get("finished_at").map_err(db_err)?,
                    counters: PassCounters {
                        discovered: r.try_get::<i64, _>("discovered").map_err(db_err)? as u64,
                        copied: r.try_get::<i64, _>("copied").map_err(db_err)? as u64,
                        skipped: r.try_get::<i64, _>("skipped").map_err(db_err)? as u64,
                        failed: r.try_get::<i64, _>("failed").map_err(db_err)? as u64,
                        bytes: r.try_get::<i64, _>("bytes").map_err(db_err)? as u64,
                    },
                    error: r.try_get("error").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn folder_state(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
    ) -> Result<Option<FolderState>> {
        let r = sqlx::query("SELECT * FROM folder_state WHERE mapping_id = ? AND folder = ?")
            .bind(mapping.to_string())
            .bind(folder_key(folder))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        r.as_ref().map(folder_state_row).transpose()
    }

    async fn save_folder_state(&self, mapping: MappingId, s: &FolderState) -> Result<()> {
        sqlx::query(
            "INSERT INTO folder_state (mapping_id, folder, target_folder, uid_validity, uid_next, messages, hwm, error,
                                       target_uid_validity, source_modseq)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (mapping_id, folder) DO UPDATE SET target_folder = excluded.target_folder,
               uid_validity = excluded.uid_validity, uid_next = excluded.uid_next, messages = excluded.messages,
               hwm = excluded.hwm, error = excluded.error, target_uid_validity = excluded.target_uid_validity,
               source_modseq = excluded.source_modseq",
        )
        .bind(mapping.to_string())
        .bind(folder_key(&s.folder))
        .bind(folder_key(&s.target_folder))
        .bind(i64::from(s.uid_validity))
        .bind(i64::from(s.uid_next))
        .bind(i64::from(s.messages))
        .bind(i64::from(s.hwm))
        .bind(s.error.as_deref())
        .bind(s.target_uid_validity.map(i64::from))
        // SQLite integers are signed 64-bit; a modseq beyond that is stored as unknown.
        .bind(s.source_modseq.and_then(|m| i64::try_from(m).ok()))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn folder_states(&self, mapping: MappingId) -> Result<Vec<FolderState>> {
        let rows = sqlx::query("SELECT * FROM folder_state WHERE mapping_id = ? ORDER BY folder")
            .bind(mapping.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(folder_state_row).collect()
    }

    async fn journaled_uids(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        uid_validity: u32,
        from: u32,
        to: u32,
    ) -> Result<Vec<u32>> {
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT uid FROM item WHERE mapping_id = ? AND folder = ? AND uid_validity = ? AND uid BETWEEN ? AND ? ORDER BY uid",
        )
        .bind(mapping.to_string())
        .bind(folder_key(folder))
        .bind(i64::from(uid_validity))
        .bind(i64::from(from))
        .bind(i64::from(to))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(uids.into_iter().map(|u| u as u32).collect())
    }

    async fn items_with_status(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        uid_validity: u32,
        status: ItemStatus,
    ) -> Result<Vec<ItemRow>> {
        let rows = sqlx::query(
            "SELECT * FROM item WHERE mapping_id = ? AND folder = ? AND uid_validity = ? AND status = ? ORDER BY uid",
        )
        .bind(mapping.to_string())
        .bind(folder_key(folder))
        .bind(i64::from(uid_validity))
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(SqliteStore::item_row).collect()
    }

    async fn open_items(&self, mapping: MappingId) -> Result<Vec<ItemRow>> {
        // Driven from the folder checkpoints through the status index: copied rows are never read.
        let rows = sqlx::query(
            "SELECT i.* FROM folder_state fs JOIN item i
               ON i.mapping_id = fs.mapping_id AND i.folder = fs.folder AND i.uid_validity = fs.uid_validity
                 AND i.status IN ('pending', 'failed', 'skipped')
             WHERE fs.mapping_id = ? ORDER BY i.folder, i.uid",
        )
        .bind(mapping.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(SqliteStore::item_row).collect()
    }

    async fn write_items(
        &self,
        mapping: MappingId,
        pass: PassId,
        folder: &FolderPath,
        uid_validity: u32,
        rows: &[ItemWrite],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let ts = now();
        let fk = folder_key(folder);
        for w in rows {
            let bump = i64::from(w.status == ItemStatus::Pending);
            sqlx::query(
                "INSERT INTO item (mapping_id, folder, uid_validity, uid, fingerprint, message_id, size, status, reason,
                                   target_folder, target_uid, probe_from, attempts, pass_id, updated_at,
                                   content_hash, flags, internal_date, sender, subject, note)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (mapping_id, folder, uid_validity, uid) DO UPDATE SET
                   fingerprint = excluded.fingerprint, message_id = excluded.message_id, size = excluded.size,
                   status = excluded.status, reason = excluded.reason,
                   target_folder = COALESCE(excluded.target_folder, item.target_folder),
                   target_uid = COALESCE(excluded.target_uid, item.target_uid),
                   probe_from = COALESCE(excluded.probe_from, item.probe_from),
                   content_hash = COALESCE(excluded.content_hash, item.content_hash),
                   flags = COALESCE(excluded.flags, item.flags),
                   attempts = item.attempts + ?, pass_id = excluded.pass_id, updated_at = excluded.updated_at,
                   internal_date = COALESCE(excluded.internal_date, item.internal_date),
                   sender = COALESCE(excluded.sender, item.sender),
                   subject = COALESCE(excluded.subject, item.subject),
                   note = COALESCE(excluded.note, item.note)",
            )
            .bind(mapping.to_string())
            .bind(&fk)
            .bind(i64::from(uid_validity))
            .bind(i64::from(w.uid))
            .bind(&w.fingerprint)
            .bind(w.message_id.as_deref())
            .bind(w.size as i64)
            .bind(w.status.as_str())
            .bind(w.reason.as_deref())
            .bind(w.target_folder.as_ref().map(folder_key))
            .bind(w.target_uid.map(i64::from))
            .bind(w.probe_from.map(i64::from))
            .bind(bump)
            .bind(pass.to_string())
            .bind(&ts)
            .bind(w.content_hash.as_deref())
            .bind(w.flags.as_deref().map(flags_text))
            .bind(w.about.date.as_deref())
            .bind(w.about.sender.as_deref())
            .bind(w.about.subject.as_deref())
            .bind(w.note.as_deref())
            .bind(bump)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn claim_by_fingerprint(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        old_validity: u32,
        new_validity: u32,
        new_uid: u32,
        fingerprint: &str,
        content_hash: Option<&str>,
    ) -> Result<Option<ItemStatus>> {
        // With a content hash, only a row with that hash or none recorded may be claimed, the exact one
        // first: two messages with one fingerprint but different bodies never take each other's row.
        let status: Option<String> = sqlx::query_scalar(
            "UPDATE item SET uid_validity = ?, uid = ?, updated_at = ?
             WHERE rowid = (SELECT rowid FROM item WHERE mapping_id = ? AND folder = ? AND uid_validity = ?
                              AND fingerprint = ?
                              AND (? IS NULL OR content_hash IS NULL OR content_hash = ?)
                            ORDER BY (content_hash IS NULL), uid LIMIT 1)
             RETURNING status",
        )
        .bind(i64::from(new_validity))
        .bind(i64::from(new_uid))
        .bind(now())
        .bind(mapping.to_string())
        .bind(folder_key(folder))
        .bind(i64::from(old_validity))
        .bind(fingerprint)
        .bind(content_hash)
        .bind(content_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        status.map(|s| s.parse()).transpose()
    }

    async fn shared_fingerprints(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        uid_validity: u32,
    ) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT fingerprint FROM item WHERE mapping_id = ? AND folder = ? AND uid_validity = ?
             GROUP BY fingerprint HAVING COUNT(*) > 1",
        )
        .bind(mapping.to_string())
        .bind(folder_key(folder))
        .bind(i64::from(uid_validity))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn count_with_status(
        &self,
        mapping: MappingId,
        folder: &FolderPath,
        uid_validity: u32,
        status: ItemStatus,
    ) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM item WHERE mapping_id = ? AND folder = ? AND uid_validity = ? AND status = ?",
        )
        .bind(mapping.to_string())
        .bind(folder_key(folder))
        .bind(i64::from(uid_validity))
        .bind(status.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(n as u64)
    }

    async fn report(&self) -> Result<Vec<FolderReport>> {
        let rows = sqlx::query(
            "SELECT m.id AS mapping_id, m.label, m.source, m.target, fs.folder, fs.error,
                    COUNT(i.uid) AS discovered,
                    COALESCE(SUM(i.status = 'copied'), 0) AS copied,
                    COALESCE(SUM(i.status = 'skipped'), 0) AS skipped,
                    COALESCE(SUM(i.status = 'failed'), 0) AS failed,
                    COALESCE(SUM(i.status = 'pending'), 0) AS pending,
                    COALESCE(SUM(CASE WHEN i.status = 'copied' THEN i.size ELSE 0 END), 0) AS bytes_copied,
                    (SELECT COALESCE(SUM((julianday(COALESCE(p.finished_at, p.started_at)) - julianday(p.started_at)) * 86400.0), 0)
                       FROM pass p WHERE p.mapping_id = m.id) AS duration_secs
             FROM mapping m
             JOIN folder_state fs ON fs.mapping_id = m.id
             LEFT JOIN item i ON i.mapping_id = fs.mapping_id AND i.folder = fs.folder AND i.uid_validity = fs.uid_validity
             GROUP BY m.id, fs.folder
             ORDER BY m.label, m.id, fs.folder",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let folder = parse_folder(&r.try_get::<String, _>("folder").map_err(db_err)?)?;
                Ok(FolderReport {
                    mapping_id: r.try_get("mapping_id").map_err(db_err)?,
                    label: r.try_get("label").map_err(db_err)?,
                    source: r.try_get("source").map_err(db_err)?,
                    target: r.try_get("target").map_err(db_err)?,
                    folder: folder.to_string(),
                    discovered: r.try_get::<i64, _>("discovered").map_err(db_err)? as u64,
                    copied: r.try_get::<i64, _>("copied").map_err(db_err)? as u64,
                    skipped: r.try_get::<i64, _>("skipped").map_err(db_err)? as u64,
                    failed: r.try_get::<i64, _>("failed").map_err(db_err)? as u64,
                    pending: r.try_get::<i64, _>("pending").map_err(db_err)? as u64,
                    bytes_copied: r.try_get::<i64, _>("bytes_copied").map_err(db_err)? as u64,
                    duration_secs: r.try_get::<f64, _>("duration_secs").map_err(db_err)?,
                    folder_error: r.try_get("error").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn problems(&self, mapping: MappingId) -> Result<Vec<ItemRow>> {
        let rows = sqlx::query(
            "SELECT i.* FROM item i JOIN folder_state fs
               ON fs.mapping_id = i.mapping_id AND fs.folder = i.folder AND fs.uid_validity = i.uid_validity
             WHERE i.mapping_id = ? AND i.status IN ('skipped', 'failed') ORDER BY i.folder, i.uid",
        )
        .bind(mapping.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(SqliteStore::item_row).collect()
    }

    async fn changed(&self, mapping: MappingId) -> Result<Vec<ItemRow>> {
        let rows = sqlx::query(
            "SELECT i.* FROM item i JOIN folder_state fs
               ON fs.mapping_id = i.mapping_id AND fs.folder = i.folder AND fs.uid_validity = i.uid_validity
             WHERE i.mapping_id = ? AND i.status = 'copied' AND i.note IS NOT NULL ORDER BY i.folder, i.uid",
        )
        .bind(mapping.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(SqliteStore::item_row).collect()
    }

    async fn open_problems(&self) -> Result<Vec<(MappingId, OpenProblems)>> {
        // Driven from the folder checkpoints through the status index: only problem rows are read.
        let items = sqlx::query_as(
            "SELECT fs.mapping_id, i.status, COUNT(*) FROM folder_state fs
               JOIN item i ON i.mapping_id = fs.mapping_id AND i.folder = fs.folder
                 AND i.uid_validity = fs.uid_validity AND i.status IN ('skipped', 'failed', 'pending')
             GROUP BY fs.mapping_id, i.status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let folders = sqlx::query_as(
            "SELECT mapping_id, COUNT(*) FROM folder_state WHERE error IS NOT NULL GROUP BY mapping_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        OpenProblems::per_mapping(items, folders)
    }
}

fn mapping_row(r: &sqlx::sqlite::SqliteRow) -> Result<MappingRow> {
    Ok(MappingRow {
        id: parse_id(&r.try_get::<String, _>("id").map_err(db_err)?)?,
        source: r.try_get("source").map_err(db_err)?,
        target: r.try_get("target").map_err(db_err)?,
        label: r.try_get("label").map_err(db_err)?,
        sealed: r
            .try_get::<Option<String>, _>("sealed_at")
            .map_err(db_err)?
            .is_some(),
    })
}

fn folder_state_row(r: &sqlx::sqlite::SqliteRow) -> Result<FolderState> {
    Ok(FolderState {
        folder: parse_folder(&r.try_get::<String, _>("folder").map_err(db_err)?)?,
        target_folder: parse_folder(&r.try_get::<String, _>("target_folder").map_err(db_err)?)?,
        uid_validity: r.try_get::<i64, _>("uid_validity").map_err(db_err)? as u32,
        uid_next: r.try_get::<i64, _>("uid_next").map_err(db_err)? as u32,
        messages: r.try_get::<i64, _>("messages").map_err(db_err)? as u32,
        hwm: r.try_get::<i64, _>("hwm").map_err(db_err)? as u32,
        error: r.try_get("error").map_err(db_err)?,
        target_uid_validity: r
            .try_get::<Option<i64>, _>("target_uid_validity")
            .map_err(db_err)?
            .map(|v| v as u32),
        source_modseq: r
            .try_get::<Option<i64>, _>("source_modseq")
            .map_err(db_err)?
            .map(|v| v as u64),
    })
}
