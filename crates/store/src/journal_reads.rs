//! Reading the movers' journal for the programme's reports (issue 12 §1): the server reads the engine's
//! journal only through these methods. Ids are the journal's own, as text (a programme pass stores the
//! engine run that carried it).

use crate::SqliteStore;
use crate::sqlite::db_err;
use async_trait::async_trait;
use ferry_core::Result;

/// One journal row of a mail pass, for the per-item report.
#[derive(Clone, Debug, PartialEq)]
pub struct MailItemLine {
    /// The source folder, as the journal keys it (a JSON list of names).
    pub folder: String,
    pub uid_validity: i64,
    pub uid: i64,
    pub message_id: Option<String>,
    pub size: i64,
    pub status: String,
    pub reason: Option<String>,
    pub target_folder: Option<String>,
    pub target_uid: Option<i64>,
    /// What Ferry changed in the copy, if anything.
    pub note: Option<String>,
}

/// One journal row of a file pass, for the per-item report.
#[derive(Clone, Debug, PartialEq)]
pub struct FileItemLine {
    pub path: String,
    pub size: i64,
    pub status: String,
    pub reason: Option<String>,
    pub target_path: Option<String>,
}

/// A journal mapping's counts: items by status (mail and file journals together) and folders in error.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JournalCounts {
    pub by_status: Vec<(String, i64)>,
    pub folder_errors: i64,
}

/// Reads of the journal for reports.
#[async_trait]
pub trait JournalReads: Send + Sync {
    /// The journal's passes of an engine run: (pass id, journal mapping id).
    async fn run_passes(&self, run: &str) -> Result<Vec<(String, String)>>;
    /// The journal mapping an engine run worked on.
    async fn run_mapping(&self, run: &str) -> Result<Option<String>>;
    /// Counts of a journal mapping's whole journal.
    async fn journal_counts(&self, mapping: &str) -> Result<JournalCounts>;
    /// Up to `limit` mail journal rows a pass wrote, after (folder, uid_validity, uid) `after`, in key
    /// order (keyset paging: constant memory however many messages).
    async fn mail_items_page(
        &self,
        mapping: &str,
        pass: &str,
        after: (&str, i64, i64),
        limit: i64,
    ) -> Result<Vec<MailItemLine>>;
    /// Up to `limit` file journal rows a pass wrote, after `after` (`None`: from the first), by path.
    async fn file_items_page(
        &self,
        mapping: &str,
        pass: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FileItemLine>>;
}

#[async_trait]
impl JournalReads for SqliteStore {
    async fn run_passes(&self, run: &str) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT id, mapping_id FROM pass WHERE run_id = ?")
            .bind(run)
            .fetch_all(self.pool())
            .await
            .map_err(db_err)
    }

    async fn run_mapping(&self, run: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT mapping_id FROM pass WHERE run_id = ? LIMIT 1")
            .bind(run)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)
    }

    async fn journal_counts(&self, mapping: &str) -> Result<JournalCounts> {
        let by_status: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM item WHERE mapping_id = ? GROUP BY status
             UNION ALL SELECT status, COUNT(*) FROM file_item WHERE mapping_id = ? GROUP BY status",
        )
        .bind(mapping)
        .bind(mapping)
        .fetch_all(self.pool())
        .await
        .map_err(db_err)?;
        let folder_errors: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM folder_state WHERE mapping_id = ? AND error IS NOT NULL",
        )
        .bind(mapping)
        .fetch_one(self.pool())
        .await
        .map_err(db_err)?;
        Ok(JournalCounts {
            by_status,
            folder_errors,
        })
    }

    async fn mail_items_page(
        &self,
        mapping: &str,
        pass: &str,
        after: (&str, i64, i64),
        limit: i64,
    ) -> Result<Vec<MailItemLine>> {
        type Row = (
            String,
            i64,
            i64,
            Option<String>,
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT folder, uid_validity, uid, message_id, size, status, reason, target_folder, target_uid, note
             FROM item WHERE mapping_id = ? AND pass_id = ? AND (folder, uid_validity, uid) > (?, ?, ?)
             ORDER BY folder, uid_validity, uid LIMIT ?",
        )
        .bind(mapping)
        .bind(pass)
        .bind(after.0)
        .bind(after.1)
        .bind(after.2)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    folder,
                    uid_validity,
                    uid,
                    message_id,
                    size,
                    status,
                    reason,
                    target_folder,
                    target_uid,
                    note,
                )| {
                    MailItemLine {
                        folder,
                        uid_validity,
                        uid,
                        message_id,
                        size,
                        status,
                        reason,
                        target_folder,
                        target_uid,
                        note,
                    }
                },
            )
            .collect())
    }

    async fn file_items_page(
        &self,
        mapping: &str,
        pass: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FileItemLine>> {
        let rows: Vec<(String, i64, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT path, size, status, reason, target_path FROM file_item
             WHERE mapping_id = ? AND pass_id = ? AND (? OR path > ?) ORDER BY path LIMIT ?",
        )
        .bind(mapping)
        .bind(pass)
        .bind(after.is_none())
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(path, size, status, reason, target_path)| FileItemLine {
                path,
                size,
                status,
                reason,
                target_path,
            })
            .collect())
    }
}
