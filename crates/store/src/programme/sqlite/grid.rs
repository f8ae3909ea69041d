//! The mappings grid on SQLite.

use super::SqliteProgramme;
use super::events::{PASS_COLUMNS, PassTuple, pass_from};
use crate::programme::grid::{
    GridFilter, GridPage, GridQueries, GridTuple, StaleStatus, StatusWrite, grid_page,
};
use crate::programme::{SQLITE_BATCH, parse_id, ts};
use crate::sqlite::db_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{EventId, ProjectId};
use sqlx::{QueryBuilder, Sqlite};
use std::collections::HashMap;

/// The grid's rows and filters: a mapping, its status, its grid event and its latest pass.
const GRID_FROM: &str = "FROM prog_mapping m \
     LEFT JOIN prog_mapping_status s ON s.mapping_id = m.id \
     LEFT JOIN prog_event e ON e.id = s.event_id \
     LEFT JOIN prog_pass p ON p.id = s.last_pass_id \
     WHERE m.project_id = ?1 \
     AND (?2 IS NULL OR s.state = ?2) \
     AND (?3 IS NULL OR s.event_id = ?3) \
     AND (?4 IS NULL OR instr(lower(m.label), ?4) > 0 OR instr(lower(m.source), ?4) > 0 \
          OR instr(lower(m.target), ?4) > 0) \
     AND (?5 IS NULL OR (p.outcome = 'succeeded' AND p.grade = ?5))";

#[async_trait]
impl GridQueries for SqliteProgramme {
    async fn stale_statuses(
        &self,
        project: ProjectId,
        now: DateTime<Utc>,
        rules: &str,
    ) -> Result<Vec<StaleStatus>> {
        let mut c = self.conn().await?;
        sqlx::query(
            "INSERT INTO prog_mapping_status (mapping_id, project_id, stale, gen, state, rules) \
             SELECT m.id, m.project_id, 1, 0, '', '' FROM prog_mapping m WHERE m.project_id = ? \
             AND NOT EXISTS (SELECT 1 FROM prog_mapping_status s WHERE s.mapping_id = m.id) \
             ON CONFLICT (mapping_id) DO NOTHING",
        )
        .bind(project.to_string())
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT mapping_id, gen FROM prog_mapping_status WHERE project_id = ? \
             AND (stale <> 0 OR rules <> ? OR (until_at IS NOT NULL AND until_at <= ?)) ORDER BY mapping_id",
        )
        .bind(project.to_string())
        .bind(rules)
        .bind(ts(now))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        StaleStatus::from_rows(rows)
    }

    async fn put_statuses(&self, statuses: &[StatusWrite]) -> Result<u64> {
        if statuses.is_empty() {
            return Ok(0);
        }
        let mut c = self.conn().await?;
        // A savepoint inside the caller's transaction, a transaction on the pool: one write, not thousands.
        let mut t = sqlx::Connection::begin(&mut *c).await.map_err(db_err)?;
        let mut stored = 0;
        for s in statuses {
            let r = sqlx::query(
                "UPDATE prog_mapping_status SET stale = 0, event_id = ?, state = ?, decision = ?, \
                 until_at = ?, last_pass_id = ?, rules = ? WHERE mapping_id = ? AND gen = ?",
            )
            .bind(s.event.map(|e| e.to_string()))
            .bind(&s.state)
            .bind(&s.decision)
            .bind(s.until.map(ts))
            .bind(&s.last_pass)
            .bind(&s.rules)
            .bind(s.mapping.to_string())
            .bind(s.version)
            .execute(&mut *t)
            .await
            .map_err(db_err)?;
            stored += r.rows_affected();
        }
        t.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn mapping_grid(
        &self,
        project: ProjectId,
        filter: &GridFilter,
        offset: u64,
        limit: u64,
    ) -> Result<GridPage> {
        let mut c = self.conn().await?;
        let search = filter.search.as_deref().filter(|s| !s.is_empty());
        let event = filter.event.map(|e| e.to_string());
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM prog_mapping WHERE project_id = ?")
                .bind(project.to_string())
                .fetch_one(&mut *c)
                .await
                .map_err(db_err)?;
        let matching: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {GRID_FROM}")))
                .bind(project.to_string())
                .bind(filter.state.as_deref())
                .bind(event.as_deref())
                .bind(search)
                .bind(filter.grade.as_deref())
                .fetch_one(&mut *c)
                .await
                .map_err(db_err)?;
        let rows: Vec<GridTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT m.id, m.label, s.event_id, e.name, s.state, s.decision, s.last_pass_id {GRID_FROM} \
             ORDER BY m.id LIMIT ?6 OFFSET ?7"
        )))
        .bind(project.to_string())
        .bind(filter.state.as_deref())
        .bind(event.as_deref())
        .bind(search)
        .bind(filter.grade.as_deref())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        // The page's latest passes in one query.
        let ids: Vec<&str> = rows.iter().filter_map(|r| r.6.as_deref()).collect();
        let mut passes = HashMap::new();
        for chunk in ids.chunks(SQLITE_BATCH) {
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {PASS_COLUMNS} FROM prog_pass WHERE id IN ("
            ));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            let found: Vec<PassTuple> = q
                .build_query_as()
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)?;
            for p in found {
                let p = pass_from(p)?;
                passes.insert(p.id.clone(), p);
            }
        }
        grid_page(total, matching, rows, passes)
    }

    async fn event_names(&self, project: ProjectId) -> Result<Vec<(EventId, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, name FROM prog_event WHERE project_id = ? ORDER BY start_at, id",
        )
        .bind(project.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(id, name)| Ok((parse_id(&id)?, name)))
            .collect()
    }
}
