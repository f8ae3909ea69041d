//! Programme mappings on SQLite.

use super::SqliteProgramme;
use crate::programme::parse_id;
use crate::programme::projects::MappingQueries;
use crate::programme::rows::MappingRecord;
use crate::programme::{SQLITE_BATCH, ts};
use crate::sqlite::db_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{MappingId, ProjectId};
use sqlx::{QueryBuilder, Sqlite};

pub(super) type MappingTuple = (String, i64, String, String, String, String);

pub(super) fn mapping_from(
    (id, line, label, source, target, doc): MappingTuple,
) -> Result<MappingRecord> {
    Ok(MappingRecord {
        id: parse_id(&id)?,
        line,
        label,
        source,
        target,
        doc,
    })
}

#[async_trait]
impl MappingQueries for SqliteProgramme {
    async fn mappings(&self, project: ProjectId) -> Result<Vec<MappingRecord>> {
        let rows: Vec<MappingTuple> = sqlx::query_as(
            "SELECT id, line, label, source, target, doc FROM prog_mapping WHERE project_id = ? ORDER BY id",
        )
        .bind(project.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(mapping_from).collect()
    }

    async fn mapping_by_label(
        &self,
        project: ProjectId,
        label: &str,
    ) -> Result<Option<MappingRecord>> {
        let row: Option<MappingTuple> = sqlx::query_as(
            "SELECT id, line, label, source, target, doc FROM prog_mapping WHERE project_id = ? AND label = ?",
        )
        .bind(project.to_string())
        .bind(label)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        row.map(mapping_from).transpose()
    }

    async fn insert_mapping(
        &self,
        project: ProjectId,
        m: &MappingRecord,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_mapping (id, project_id, line, label, source, target, doc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id.to_string())
        .bind(project.to_string())
        .bind(m.line)
        .bind(&m.label)
        .bind(&m.source)
        .bind(&m.target)
        .bind(&m.doc)
        .bind(ts(at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_mappings(
        &self,
        project: ProjectId,
        ms: &[MappingRecord],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if ms.is_empty() {
            return Ok(());
        }
        let mut c = self.conn().await?;
        // A savepoint inside the caller's transaction, a transaction on the pool: all rows or none.
        let mut t = sqlx::Connection::begin(&mut *c).await.map_err(db_err)?;
        let (project, at) = (project.to_string(), ts(at));
        for chunk in ms.chunks(SQLITE_BATCH) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO prog_mapping (id, project_id, line, label, source, target, doc, created_at) ",
            );
            q.push_values(chunk, |mut row, m| {
                row.push_bind(m.id.to_string())
                    .push_bind(project.clone())
                    .push_bind(m.line)
                    .push_bind(m.label.clone())
                    .push_bind(m.source.clone())
                    .push_bind(m.target.clone())
                    .push_bind(m.doc.clone())
                    .push_bind(at.clone());
            });
            q.build().execute(&mut *t).await.map_err(db_err)?;
        }
        t.commit().await.map_err(db_err)
    }

    async fn update_mapping(&self, m: &MappingRecord) -> Result<()> {
        sqlx::query(
            "UPDATE prog_mapping SET line = ?, source = ?, target = ?, doc = ? WHERE id = ?",
        )
        .bind(m.line)
        .bind(&m.source)
        .bind(&m.target)
        .bind(&m.doc)
        .bind(m.id.to_string())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn delete_mapping(&self, project: ProjectId, mapping: MappingId) -> Result<bool> {
        let mut c = self.conn().await?;
        // Only a mapping of `project`: what hangs off another project's mapping stays.
        let ours: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM prog_mapping WHERE id = ? AND project_id = ?")
                .bind(mapping.to_string())
                .bind(project.to_string())
                .fetch_optional(&mut *c)
                .await
                .map_err(db_err)?;
        if ours.is_none() {
            return Ok(false);
        }
        for sql in [
            "DELETE FROM prog_approval WHERE mapping_id = ?",
            "DELETE FROM prog_pass WHERE mapping_id = ?",
            "DELETE FROM prog_event_mapping WHERE mapping_id = ?",
        ] {
            sqlx::query(sql)
                .bind(mapping.to_string())
                .execute(&mut *c)
                .await
                .map_err(db_err)?;
        }
        sqlx::query("DELETE FROM prog_credential WHERE project_id = ? AND owner LIKE ?")
            .bind(project.to_string())
            .bind(format!("mapping:{mapping}:%"))
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
        let r = sqlx::query("DELETE FROM prog_mapping WHERE id = ? AND project_id = ?")
            .bind(mapping.to_string())
            .bind(project.to_string())
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn mapping_events(&self, mapping: MappingId) -> Result<Vec<(String, String, String)>> {
        sqlx::query_as(
            "SELECT e.id, e.name, e.state FROM prog_event e JOIN prog_event_mapping em ON em.event_id = e.id
             WHERE em.mapping_id = ? ORDER BY e.created_at, e.id",
        )
        .bind(mapping.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)
    }

    async fn mapping_tickets(&self, mapping: MappingId) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM prog_ticket WHERE mapping_id = ?")
            .bind(mapping.to_string())
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db_err)
    }
}
