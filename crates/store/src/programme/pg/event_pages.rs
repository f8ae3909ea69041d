//! An event's mappings, paged, on PostgreSQL.

use super::PgProgramme;
use super::mappings::{MappingTuple, mapping_from};
use crate::pg::db_err;
use crate::programme::event_pages::{EventPageQueries, MappingPage, Membership};
use async_trait::async_trait;
use ferry_core::Result;
use ferry_core::id::{EventId, ProjectId};

#[async_trait]
impl EventPageQueries for PgProgramme {
    async fn event_mapping_page(
        &self,
        project: ProjectId,
        event: EventId,
        which: Membership,
        offset: u64,
        limit: u64,
    ) -> Result<MappingPage> {
        let member = match which {
            Membership::In => "EXISTS",
            Membership::NotIn => "NOT EXISTS",
        };
        let from = format!(
            "FROM prog_mapping m WHERE m.project_id = $1 AND {member} \
             (SELECT 1 FROM prog_event_mapping em WHERE em.event_id = $2 AND em.mapping_id = m.id)"
        );
        let mut c = self.conn().await?;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {from}")))
            .bind(project.to_string())
            .bind(event.to_string())
            .fetch_one(&mut *c)
            .await
            .map_err(db_err)?;
        let rows: Vec<MappingTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT m.id, m.line, m.label, m.source, m.target, m.doc {from} ORDER BY m.id LIMIT $3 OFFSET $4"
        )))
        .bind(project.to_string())
        .bind(event.to_string())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        Ok(MappingPage {
            total: u64::try_from(total).unwrap_or(0),
            rows: rows.into_iter().map(mapping_from).collect::<Result<_>>()?,
        })
    }
}
