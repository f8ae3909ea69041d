//! Assessments and tickets on SQLite.

use super::SqliteProgramme;
use crate::programme::findings::{AssessmentQueries, TicketQueries};
use crate::programme::rows::*;
use crate::programme::ts;
use crate::sqlite::db_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{MappingId, ProjectId, TicketId};

type TicketTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

const TICKET_COLUMNS: &str =
    "id, mapping_id, event_id, title, body, status, created_by, created_at, updated_at";

fn ticket_from(r: TicketTuple) -> TicketRow {
    let (id, mapping, event, title, body, status, created_by, created_at, updated_at) = r;
    TicketRow {
        id,
        mapping,
        event,
        title,
        body,
        status,
        created_by,
        created_at,
        updated_at,
    }
}

#[async_trait]
impl AssessmentQueries for SqliteProgramme {
    async fn running_assessments(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM prog_assessment WHERE status = 'running'")
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)
    }

    async fn project_running_assessments(
        &self,
        project: ProjectId,
    ) -> Result<Vec<(String, String)>> {
        sqlx::query_as(
            "SELECT id, started_at FROM prog_assessment WHERE project_id = ? AND status = 'running'",
        )
        .bind(project.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)
    }

    async fn insert_assessment(
        &self,
        id: &str,
        project: ProjectId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_assessment (id, project_id, status, started_at) VALUES (?, ?, 'running', ?)",
        )
        .bind(id)
        .bind(project.to_string())
        .bind(ts(at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn finish_assessment(
        &self,
        id: &str,
        status: &str,
        report: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE prog_assessment SET status = ?, finished_at = ?, report = ? WHERE id = ?",
        )
        .bind(status)
        .bind(ts(at))
        .bind(report)
        .bind(id)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn fail_running_assessment(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE prog_assessment SET status = 'failed', finished_at = ? WHERE id = ? AND status = 'running'",
        )
        .bind(ts(at))
        .bind(id)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn latest_assessment(&self, project: ProjectId) -> Result<Option<AssessmentRow>> {
        type Row = (String, String, String, Option<String>, Option<String>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, status, started_at, finished_at, report FROM prog_assessment WHERE project_id = ? ORDER BY rowid DESC LIMIT 1",
        )
        .bind(project.to_string())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(row.map(
            |(id, status, started_at, finished_at, report)| AssessmentRow {
                id,
                status,
                started_at,
                finished_at,
                report,
            },
        ))
    }
}

#[async_trait]
impl TicketQueries for SqliteProgramme {
    async fn tickets(&self, project: ProjectId) -> Result<Vec<TicketRow>> {
        let rows: Vec<TicketTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM prog_ticket WHERE project_id = ? ORDER BY id"
        )))
        .bind(project.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(ticket_from).collect())
    }

    async fn tickets_page(
        &self,
        project: ProjectId,
        filter: &TicketFilter,
        before: Option<TicketId>,
        limit: i64,
    ) -> Result<Vec<TicketRow>> {
        let rows: Vec<TicketTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM prog_ticket WHERE project_id = ?1 \
             AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR mapping_id = ?3) \
             AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5"
        )))
        .bind(project.to_string())
        .bind(filter.status.as_deref())
        .bind(filter.mapping.map(|m| m.to_string()))
        .bind(before.map(|b| b.to_string()))
        .bind(limit)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(ticket_from).collect())
    }

    async fn ticket(&self, project: ProjectId, id: TicketId) -> Result<Option<TicketRow>> {
        let row: Option<TicketTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM prog_ticket WHERE id = ? AND project_id = ?"
        )))
        .bind(id.to_string())
        .bind(project.to_string())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(row.map(ticket_from))
    }

    async fn insert_ticket(&self, project: ProjectId, t: &TicketRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_ticket (id, project_id, mapping_id, event_id, title, body, status, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(project.to_string())
        .bind(&t.mapping)
        .bind(&t.event)
        .bind(&t.title)
        .bind(&t.body)
        .bind(&t.status)
        .bind(&t.created_by)
        .bind(&t.created_at)
        .bind(&t.updated_at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn update_ticket(
        &self,
        id: TicketId,
        status: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE prog_ticket SET status = ?, body = ?, updated_at = ? WHERE id = ?")
            .bind(status)
            .bind(body)
            .bind(ts(at))
            .bind(id.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn latest_completed_event(&self, mapping: MappingId) -> Result<Option<(String, String)>> {
        sqlx::query_as(
            "SELECT e.id, e.completed_at FROM prog_event e JOIN prog_event_mapping m ON m.event_id = e.id
             WHERE m.mapping_id = ? AND e.state = 'completed' AND e.completed_at IS NOT NULL ORDER BY e.completed_at DESC LIMIT 1",
        )
        .bind(mapping.to_string())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)
    }
}
