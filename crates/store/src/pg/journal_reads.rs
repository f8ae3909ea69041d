//! Reading the movers' journal on PostgreSQL for the programme's reports (see [`crate::JournalReads`]).

use super::{PgStore, db_err};
use crate::{FileItemLine, JournalCounts, JournalReads, MailItemLine};
use async_trait::async_trait;
use ferry_core::Result;

#[async_trait]
impl JournalReads for PgStore {
    async fn run_passes(&self, run: &str) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT id, mapping_id FROM pass WHERE run_id = $1")
            .bind(run)
            .fetch_all(self.pool())
            .await
            .map_err(db_err)
    }

    async fn run_mapping(&self, run: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT mapping_id FROM pass WHERE run_id = $1 LIMIT 1")
            .bind(run)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)
    }

    async fn journal_counts(&self, mapping: &str) -> Result<JournalCounts> {
        let by_status: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM item WHERE mapping_id = $1 GROUP BY status
             UNION ALL SELECT status, COUNT(*) FROM file_item WHERE mapping_id = $2 GROUP BY status",
        )
        .bind(mapping)
        .bind(mapping)
        .fetch_all(self.pool())
        .await
        .map_err(db_err)?;
        let folder_errors: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM folder_state WHERE mapping_id = $1 AND error IS NOT NULL",
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
             FROM item WHERE mapping_id = $1 AND pass_id = $2 AND (folder, uid_validity, uid) > ($3, $4, $5)
             ORDER BY folder, uid_validity, uid LIMIT $6",
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
             WHERE mapping_id = $1 AND pass_id = $2 AND ($3 OR path > $4) ORDER BY path LIMIT $5",
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
