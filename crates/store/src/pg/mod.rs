//! The PostgreSQL store (issue 12 §2): the movers' journal ([`Store`], [`crate::FileStore`],
//! [`crate::JournalReads`]) and, through [`crate::programme::PgProgramme`], the programme — for several
//! `ferry` processes on several machines sharing one database.
//!
//! The same semantics as [`crate::SqliteStore`]: every method is one transaction, the journal's
//! pending→copied two-step, the journal scope. Migrations are plain numbered files in `migrations/postgres`,
//! applied in order under an advisory lock (two processes starting at once apply each exactly once).

use crate::Store;
use crate::types::*;
use async_trait::async_trait;
use ferry_core::folder::FolderPath;
use ferry_core::id::{MappingId, PassId, RunId};
use ferry_core::{Error, ErrorKind, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

mod files;
mod items;
mod journal_reads;
pub mod notify;
mod rows;

use rows::{folder_key, folder_state_row, item_row, mapping_row, parse_folder};

/// Numbered migrations, applied in order. Never edit a landed file; add the next number.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../migrations/postgres/0001_journal.sql"),
    ),
    (
        2,
        include_str!("../../migrations/postgres/0002_programme.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_pass_lease.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_item_note.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_file_target_feed.sql"),
    ),
    (
        8,
        include_str!("../../migrations/postgres/0008_log_pages.sql"),
    ),
    (
        9,
        include_str!("../../migrations/postgres/0009_mapping_status.sql"),
    ),
    (
        11,
        include_str!("../../migrations/postgres/0011_file_item_by_target_etag.sql"),
    ),
    (
        12,
        include_str!("../../migrations/postgres/0012_event_line.sql"),
    ),
];

/// The advisory lock key migrations run under (`ferry` in ASCII).
const MIGRATION_LOCK: i64 = 0x0066_6572_7279;

/// The PostgreSQL store.
///
/// Like [`crate::SqliteStore`], a value has a journal *scope* ([`PgStore::scoped`]); the pool is shared by
/// every scope. Not `Debug`: nothing about the connection (its password) is ever printed.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    scope: std::sync::Arc<str>,
}

/// A database error as Ferry's store error. Lost connections, pool timeouts, serialization failures and
/// deadlocks are temporary (the pass is retried); the text never holds the URL (sqlx errors do not).
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    let temporary = matches!(
        &e,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
    ) || matches!(&e, sqlx::Error::Database(d)
    if d.code().is_some_and(|c| {
        // 40001 serialization failure, 40P01 deadlock, 08* connection exceptions, 57P0* shutdown.
        c == "40001" || c == "40P01" || c.starts_with("08") || c.starts_with("57P0")
    }));
    let err = Error::new(ErrorKind::Store, format!("store (PostgreSQL): {e}"));
    if temporary { err.temporary() } else { err }
}

pub(crate) use crate::sqlite::now;

fn parse_id<T: FromStr<Err = Error>>(s: &str) -> Result<T> {
    s.parse()
}

impl PgStore {
    /// The connection pool (shared with [`crate::programme::PgProgramme`]).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The same store, whose journal mappings are those of `scope` (a programme mapping's id).
    pub fn scoped(&self, scope: &str) -> PgStore {
        PgStore {
            pool: self.pool.clone(),
            scope: scope.into(),
        }
    }

    /// This store's journal scope (`""` for the CLI).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Connect to the database at `url` (`postgres://user:password@host:port/db`) with a pool of up to
    /// `max_connections`, and apply pending migrations. Errors name the URL without its password.
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore> {
        let shown = ferry_core::error::redact_url(url);
        let opts = PgConnectOptions::from_str(url).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "the store URL {shown} is not a PostgreSQL URL: {}",
                    scrub(&e.to_string(), url)
                ),
            )
        })?;
        let opts = opts.application_name("ferry");
        // One connection first, so a database that is down, unreachable or refusing this user fails the
        // start at once with the reason; the pool then waits (up to two minutes per connection) through a
        // database restart in the middle of a run instead of failing passes.
        let first = PgConnection::connect_with(&opts).await.map_err(|e| {
            Error::new(
                ErrorKind::Store,
                format!(
                    "cannot connect to the store {shown}: {} (is PostgreSQL running there, and may this user connect?)",
                    scrub(&e.to_string(), url)
                ),
            )
            .temporary()
        })?;
        first.close().await.map_err(db_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(120))
            .connect_lazy_with(opts);
        let store = PgStore {
            pool,
            scope: "".into(),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS ferry_migration (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
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
            sqlx::query("INSERT INTO ferry_migration (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn create_run(&self, workload: &str, options_json: &str) -> Result<RunId> {
        let id = RunId::new();
        sqlx::query("INSERT INTO run (id, workload, started_at, status, options) VALUES ($1, $2, $3, 'running', $4)")
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
        sqlx::query("UPDATE run SET status = $1, finished_at = $2 WHERE id = $3")
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
            "INSERT INTO mapping (id, scope, source, target, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)
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
        let r = sqlx::query("SELECT id, source, target, label, sealed_at FROM mapping WHERE scope = $1 AND source = $2 AND target = $3")
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
            "SELECT id, source, target, label, sealed_at FROM mapping WHERE scope = $1 ORDER BY label, id",
        )
        .bind(&*self.scope)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(mapping_row).collect()
    }

    async fn seal_mapping(&self, mapping: MappingId) -> Result<()> {
        sqlx::query("UPDATE mapping SET sealed_at = $1 WHERE id = $2")
            .bind(now())
            .bind(mapping.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn start_pass(&self, mapping: MappingId, run: RunId, kind: PassKind) -> Result<PassId> {
        let id = PassId::new();
        sqlx::query("INSERT INTO pass (id, mapping_id, run_id, kind, status, started_at) VALUES ($1, $2, $3, $4, 'running', $5)")
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
            "UPDATE pass SET status = $1, finished_at = $2, discovered = $3, copied = $4, skipped = $5, failed = $6, bytes = $7, error = $8
             WHERE id = $9",
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
        let rows = sqlx::query("SELECT * FROM pass WHERE mapping_id = $1 ORDER BY started_at, id")
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
        let r = sqlx::query("SELECT * FROM folder_state WHERE mapping_id = $1 AND folder = $2")
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
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
        let rows = sqlx::query("SELECT * FROM folder_state WHERE mapping_id = $1 ORDER BY folder")
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
            "SELECT uid FROM item WHERE mapping_id = $1 AND folder = $2 AND uid_validity = $3 AND uid BETWEEN $4 AND $5 ORDER BY uid",
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
            "SELECT * FROM item WHERE mapping_id = $1 AND folder = $2 AND uid_validity = $3 AND status = $4 ORDER BY uid",
        )
        .bind(mapping.to_string())
        .bind(folder_key(folder))
        .bind(i64::from(uid_validity))
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(item_row).collect()
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
        let (mapping, fk, pass, at) = (
            mapping.to_string(),
            folder_key(folder),
            pass.to_string(),
            now(),
        );
        let to = items::Scope {
            mapping: &mapping,
            folder: &fk,
            uid_validity,
            pass: &pass,
            at: &at,
        };
        for run in items::distinct_uid_runs(rows) {
            items::upsert(&mut tx, &to, run).await?;
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
            "UPDATE item SET uid_validity = $1, uid = $2, updated_at = $3
             WHERE (mapping_id, folder, uid_validity, uid) =
                   (SELECT mapping_id, folder, uid_validity, uid FROM item WHERE mapping_id = $4 AND folder = $5 AND uid_validity = $6
                              AND fingerprint = $7
                              AND ($8 IS NULL OR content_hash IS NULL OR content_hash = $9)
                            ORDER BY (content_hash IS NULL), uid LIMIT 1 FOR UPDATE)
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
            "SELECT fingerprint FROM item WHERE mapping_id = $1 AND folder = $2 AND uid_validity = $3
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
            "SELECT COUNT(*) FROM item WHERE mapping_id = $1 AND folder = $2 AND uid_validity = $3 AND status = $4",
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
                    COUNT(*) FILTER (WHERE i.status = 'copied') AS copied,
                    COUNT(*) FILTER (WHERE i.status = 'skipped') AS skipped,
                    COUNT(*) FILTER (WHERE i.status = 'failed') AS failed,
                    COUNT(*) FILTER (WHERE i.status = 'pending') AS pending,
                    COALESCE(SUM(i.size) FILTER (WHERE i.status = 'copied'), 0)::BIGINT AS bytes_copied,
                    (SELECT COALESCE(SUM(EXTRACT(EPOCH FROM COALESCE(p.finished_at, p.started_at)::timestamptz - p.started_at::timestamptz)), 0)::DOUBLE PRECISION
                       FROM pass p WHERE p.mapping_id = m.id) AS duration_secs
             FROM mapping m
             JOIN folder_state fs ON fs.mapping_id = m.id
             LEFT JOIN item i ON i.mapping_id = fs.mapping_id AND i.folder = fs.folder AND i.uid_validity = fs.uid_validity
             GROUP BY m.id, fs.mapping_id, fs.folder
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
             WHERE i.mapping_id = $1 AND i.status IN ('skipped', 'failed') ORDER BY i.folder, i.uid",
        )
        .bind(mapping.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(item_row).collect()
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

    async fn changed(&self, mapping: MappingId) -> Result<Vec<ItemRow>> {
        let rows = sqlx::query(
            "SELECT i.* FROM item i JOIN folder_state fs
               ON fs.mapping_id = i.mapping_id AND fs.folder = i.folder AND fs.uid_validity = i.uid_validity
             WHERE i.mapping_id = $1 AND i.status = 'copied' AND i.note IS NOT NULL ORDER BY i.folder, i.uid",
        )
        .bind(mapping.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(item_row).collect()
    }
}

/// `text` with the password of `url` (if it has one) replaced by `***`: connection errors may quote it.
fn scrub(text: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty());
    match password {
        Some(p) => text.replace(p, "***"),
        None => text.to_string(),
    }
}
