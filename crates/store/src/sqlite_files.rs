//! The file journal in SQLite (issue 3): one row per source file, looked up a directory at a time.

use crate::sqlite::{db_err, now};
use crate::types::*;
use crate::{FileStore, SqliteStore};
use async_trait::async_trait;
use ferry_core::id::{MappingId, PassId};
use ferry_core::{Error, ErrorKind, Result};
use sqlx::{QueryBuilder, Row, Sqlite};

/// The parent directory of a relative path (`""` at the root).
fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Journal rows per multi-row `INSERT`: 17 columns × 500 rows stays far below SQLite's 32,766 bound
/// variables.
const FILE_ITEM_BATCH: usize = 500;

/// The columns [`file_row`] reads, in its order. Not `SELECT *`: the mapping id, pass id and timestamps are
/// long strings nobody reads here, and on a no-op re-run copying them is a good part of the pass's CPU.
const FILE_ROW_COLUMNS: &str = "path, dir, size, mtime, hash, hash_kind, status, reason, target_path, target_size, target_mtime, attempts, target_etag, renamed";

fn file_row(r: &sqlx::sqlite::SqliteRow) -> Result<FileItemRow> {
    Ok(FileItemRow {
        path: r.try_get(0).map_err(db_err)?,
        dir: r.try_get(1).map_err(db_err)?,
        size: r.try_get::<i64, _>(2).map_err(db_err)? as u64,
        mtime: r.try_get(3).map_err(db_err)?,
        hash: r.try_get(4).map_err(db_err)?,
        hash_kind: r.try_get(5).map_err(db_err)?,
        status: r.try_get::<&str, _>(6).map_err(db_err)?.parse()?,
        reason: r.try_get(7).map_err(db_err)?,
        target_path: r.try_get(8).map_err(db_err)?,
        target_size: r
            .try_get::<Option<i64>, _>(9)
            .map_err(db_err)?
            .map(|v| v as u64),
        target_mtime: r.try_get(10).map_err(db_err)?,
        attempts: r.try_get::<i64, _>(11).map_err(db_err)? as u32,
        target_etag: r.try_get(12).map_err(db_err)?,
        renamed: r.try_get(13).map_err(db_err)?,
    })
}

/// A journal row as [`SqliteStore::file_items_in_dir`] packs it: the columns of [`FileItemRow`] but `dir`.
type PackedFileRow = (
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
);

fn unpack(p: PackedFileRow, dir: &str) -> Result<FileItemRow> {
    let (
        path,
        size,
        mtime,
        hash,
        hash_kind,
        status,
        reason,
        target_path,
        target_size,
        target_mtime,
        attempts,
        target_etag,
        renamed,
    ) = p;
    Ok(FileItemRow {
        path,
        dir: dir.to_string(),
        size: size as u64,
        mtime,
        hash,
        hash_kind,
        status: status.parse()?,
        reason,
        target_path,
        target_size: target_size.map(|v| v as u64),
        target_mtime,
        attempts: attempts as u32,
        target_etag,
        renamed,
    })
}

#[async_trait]
impl FileStore for SqliteStore {
    async fn file_items_in_dir(&self, mapping: MappingId, dir: &str) -> Result<Vec<FileItemRow>> {
        // One row holding the whole directory as a JSON array, not one row per file: sqlx hands every row
        // from its SQLite thread to ours through a channel, and on a no-op re-run (every file checked, none
        // copied) those hand-offs were a large part of the pass's time.
        let json: Option<String> = sqlx::query_scalar(
            "SELECT json_group_array(json_array(path, size, mtime, hash, hash_kind, status, reason,
                                                target_path, target_size, target_mtime, attempts,
                                                target_etag, renamed))
             FROM file_item WHERE mapping_id = ? AND dir = ?",
        )
        .bind(mapping.to_string())
        .bind(dir)
        .fetch_one(self.pool())
        .await
        .map_err(db_err)?;
        let packed: Vec<PackedFileRow> = serde_json::from_str(json.as_deref().unwrap_or("[]"))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Store,
                    format!("the file journal rows of {dir:?} cannot be read: {e}"),
                )
            })?;
        packed.into_iter().map(|p| unpack(p, dir)).collect()
    }

    async fn write_file_items(
        &self,
        mapping: MappingId,
        pass: PassId,
        rows: &[FileItemWrite],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await.map_err(db_err)?;
        let (ts, mapping, pass) = (now(), mapping.to_string(), pass.to_string());
        // Many rows a statement: one statement a row made a round trip to SQLite's thread per row, and
        // that hand-off, not SQLite, was most of the journal's cost on a big first copy. Rows of one
        // statement are upserted in order, so a file's `copied` row after its `pending` one still wins.
        // `attempts` is inserted as the bump, so an existing row adds `excluded.attempts`.
        for chunk in rows.chunks(FILE_ITEM_BATCH) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO file_item (mapping_id, path, dir, size, mtime, hash, hash_kind, status, reason,
                                        target_path, target_size, target_mtime, attempts, pass_id, updated_at,
                                        target_etag, renamed) ",
            );
            q.push_values(chunk, |mut row, w| {
                let bump =
                    i64::from(w.status == ItemStatus::Pending || w.status == ItemStatus::Failed);
                row.push_bind(mapping.as_str())
                    .push_bind(w.path.as_str())
                    .push_bind(dir_of(&w.path))
                    .push_bind(w.size as i64)
                    .push_bind(w.mtime.as_deref())
                    .push_bind(w.hash.as_deref())
                    .push_bind(w.hash_kind.as_deref())
                    .push_bind(w.status.as_str())
                    .push_bind(w.reason.as_deref())
                    .push_bind(w.target_path.as_deref())
                    .push_bind(w.target_size.map(|v| v as i64))
                    .push_bind(w.target_mtime.as_deref())
                    .push_bind(bump)
                    .push_bind(pass.as_str())
                    .push_bind(ts.as_str())
                    .push_bind(w.target_etag.as_deref())
                    .push_bind(w.renamed.as_deref());
            });
            q.push(
                " ON CONFLICT (mapping_id, path) DO UPDATE SET
                   size = excluded.size, mtime = excluded.mtime, hash = excluded.hash,
                   hash_kind = excluded.hash_kind, status = excluded.status, reason = excluded.reason,
                   target_path = COALESCE(excluded.target_path, file_item.target_path),
                   target_size = CASE WHEN excluded.status = 'copied' THEN excluded.target_size ELSE file_item.target_size END,
                   target_mtime = CASE WHEN excluded.status = 'copied' THEN excluded.target_mtime ELSE file_item.target_mtime END,
                   target_etag = CASE WHEN excluded.status = 'copied' THEN excluded.target_etag ELSE file_item.target_etag END,
                   renamed = excluded.renamed,
                   attempts = file_item.attempts + excluded.attempts, pass_id = excluded.pass_id,
                   updated_at = excluded.updated_at",
            );
            q.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn file_report(&self) -> Result<Vec<FileMappingReport>> {
        let rows = sqlx::query(
            "SELECT m.id AS mapping_id, m.label, m.source, m.target,
                    COUNT(i.path) AS discovered,
                    COALESCE(SUM(i.status = 'copied'), 0) AS copied,
                    COALESCE(SUM(i.status = 'skipped'), 0) AS skipped,
                    COALESCE(SUM(i.status = 'failed'), 0) AS failed,
                    COALESCE(SUM(i.status = 'pending'), 0) AS pending,
                    COALESCE(SUM(CASE WHEN i.status = 'copied' THEN i.size ELSE 0 END), 0) AS bytes_copied,
                    (SELECT COALESCE(SUM((julianday(COALESCE(p.finished_at, p.started_at)) - julianday(p.started_at)) * 86400.0), 0)
                       FROM pass p WHERE p.mapping_id = m.id) AS duration_secs
             FROM mapping m JOIN file_item i ON i.mapping_id = m.id
             GROUP BY m.id ORDER BY m.label, m.id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(FileMappingReport {
                    mapping_id: r.try_get("mapping_id").map_err(db_err)?,
                    label: r.try_get("label").map_err(db_err)?,
                    source: r.try_get("source").map_err(db_err)?,
                    target: r.try_get("target").map_err(db_err)?,
                    discovered: r.try_get::<i64, _>("discovered").map_err(db_err)? as u64,
                    copied: r.try_get::<i64, _>("copied").map_err(db_err)? as u64,
                    skipped: r.try_get::<i64, _>("skipped").map_err(db_err)? as u64,
                    failed: r.try_get::<i64, _>("failed").map_err(db_err)? as u64,
                    pending: r.try_get::<i64, _>("pending").map_err(db_err)? as u64,
                    bytes_copied: r.try_get::<i64, _>("bytes_copied").map_err(db_err)? as u64,
                    duration_secs: r.try_get::<f64, _>("duration_secs").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn file_problems(&self, mapping: MappingId) -> Result<Vec<FileItemRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FILE_ROW_COLUMNS} FROM file_item WHERE mapping_id = ? AND status IN ('skipped', 'failed', 'pending') ORDER BY path"
        )))
        .bind(mapping.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db_err)?;
        rows.iter().map(file_row).collect()
    }

    async fn file_renames(&self, mapping: MappingId) -> Result<Vec<FileItemRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FILE_ROW_COLUMNS} FROM file_item WHERE mapping_id = ? AND renamed IS NOT NULL ORDER BY path"
        )))
        .bind(mapping.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db_err)?;
        rows.iter().map(file_row).collect()
    }

    async fn set_file_target_rules(&self, mapping: MappingId, rules: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO file_mapping (mapping_id, target_rules, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (mapping_id) DO UPDATE SET target_rules = excluded.target_rules,
               updated_at = excluded.updated_at",
        )
        .bind(mapping.to_string())
        .bind(rules)
        .bind(now())
        .execute(self.pool())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn file_target_rules(&self, mapping: MappingId) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT target_rules FROM file_mapping WHERE mapping_id = ?")
            .bind(mapping.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)
    }

    async fn set_file_delta_link(&self, mapping: MappingId, link: Option<&str>) -> Result<()> {
        let q = match link {
            Some(link) => sqlx::query(
                "INSERT INTO file_target_feed (mapping_id, delta_link, updated_at) VALUES (?, ?, ?)
                 ON CONFLICT (mapping_id) DO UPDATE SET delta_link = excluded.delta_link,
                   updated_at = excluded.updated_at",
            )
            .bind(mapping.to_string())
            .bind(link)
            .bind(now()),
            None => sqlx::query("DELETE FROM file_target_feed WHERE mapping_id = ?")
                .bind(mapping.to_string()),
        };
        q.execute(self.pool()).await.map_err(db_err)?;
        Ok(())
    }

    async fn file_delta_link(&self, mapping: MappingId) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT delta_link FROM file_target_feed WHERE mapping_id = ?")
            .bind(mapping.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)
    }

    async fn file_own_etags(
        &self,
        mapping: MappingId,
        etags: &[String],
    ) -> Result<std::collections::HashSet<String>> {
        crate::own_etags::own_etags(
            self.pool(),
            crate::own_etags::Marks::Question,
            db_err,
            mapping,
            etags,
        )
        .await
    }

    async fn save_upload(
        &self,
        mapping: MappingId,
        path: &str,
        upload: &SavedUpload,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO file_upload (mapping_id, path, state, source_size, source_mtime, updated_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (mapping_id, path) DO UPDATE SET state = excluded.state, source_size = excluded.source_size,
               source_mtime = excluded.source_mtime, updated_at = excluded.updated_at",
        )
        .bind(mapping.to_string())
        .bind(path)
        .bind(&upload.state)
        .bind(upload.source_size as i64)
        .bind(upload.source_mtime.as_deref())
        .bind(now())
        .execute(self.pool())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn load_upload(&self, mapping: MappingId, path: &str) -> Result<Option<SavedUpload>> {
        let r = sqlx::query("SELECT state, source_size, source_mtime FROM file_upload WHERE mapping_id = ? AND path = ?")
            .bind(mapping.to_string())
            .bind(path)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)?;
        r.map(|r| {
            Ok(SavedUpload {
                state: r.try_get("state").map_err(db_err)?,
                source_size: r.try_get::<i64, _>("source_size").map_err(db_err)? as u64,
                source_mtime: r.try_get("source_mtime").map_err(db_err)?,
            })
        })
        .transpose()
    }

    async fn delete_upload(&self, mapping: MappingId, path: &str) -> Result<()> {
        sqlx::query("DELETE FROM file_upload WHERE mapping_id = ? AND path = ?")
            .bind(mapping.to_string())
            .bind(path)
            .execute(self.pool())
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
