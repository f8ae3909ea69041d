//! The mappings grid on PostgreSQL.

use super::PgProgramme;
use super::events::{PASS_COLUMNS, PassTuple, pass_from};
use crate::pg::db_err;
use crate::programme::grid::{
    GridFilter, GridPage, GridQueries, GridTuple, StaleStatus, StatusWrite, grid_page,
};
use crate::programme::{parse_id, ts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{EventId, ProjectId};
use std::collections::HashMap;

/// The grid's rows and filters: a mapping, its status, its grid event and its latest pass.
const GRID_FROM: &str = "FROM prog_mapping m \
     LEFT JOIN prog_mapping_status s ON s.mapping_id = m.id \
     LEFT JOIN prog_event e ON e.id = s.event_id \
     LEFT JOIN prog_pass p ON p.id = s.last_pass_id \
     WHERE m.project_id = $1 \
     AND ($2::TEXT IS NULL OR s.state = $2) \
     AND ($3::TEXT IS NULL OR s.event_id = $3) \
     AND ($4::TEXT IS NULL OR strpos(lower(m.label), $4) > 0 OR strpos(lower(m.source), $4) > 0 \
          OR strpos(lower(m.target), $4) > 0) \
     AND ($5::TEXT IS NULL OR (p.outcome = 'succeeded' AND p.grade = $5))";

#[async_trait]
impl GridQueries for PgProgramme {
    async fn stale_statuses(
        &self,
        project: ProjectId,
        now: DateTime<Utc>,
        rules: &str,
    ) -> Result<Vec<StaleStatus>> {
        let mut c = self.conn().await?;
        sqlx::query(
            "INSERT INTO prog_mapping_status (mapping_id, project_id, stale, gen, state, rules) \
             SELECT m.id, m.project_id, TRUE, 0, '', '' FROM prog_mapping m WHERE m.project_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM prog_mapping_status s WHERE s.mapping_id = m.id) \
             ON CONFLICT (mapping_id) DO NOTHING",
        )
        .bind(project.to_string())
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT mapping_id, gen FROM prog_mapping_status WHERE project_id = $1 \
             AND (stale OR rules <> $2 OR (until_at IS NOT NULL AND until_at <= $3)) ORDER BY mapping_id",
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
        let mut cols: (
            Vec<String>,
            Vec<i64>,
            Vec<Option<String>>,
            Vec<String>,
            Vec<Option<String>>,
            Vec<Option<String>>,
            Vec<Option<String>>,
            Vec<String>,
        ) = Default::default();
        for s in statuses {
            cols.0.push(s.mapping.to_string());
            cols.1.push(s.version);
            cols.2.push(s.event.map(|e| e.to_string()));
            cols.3.push(s.state.clone());
            cols.4.push(s.decision.clone());
            cols.5.push(s.until.map(ts));
            cols.6.push(s.last_pass.clone());
            cols.7.push(s.rules.clone());
        }
        // One statement for the lot.
        let r = sqlx::query(
            "UPDATE prog_mapping_status s SET stale = FALSE, event_id = v.event_id, state = v.state, \
             decision = v.decision, until_at = v.until_at, last_pass_id = v.last_pass_id, rules = v.rules \
             FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], \
                         $8::TEXT[]) \
                  AS v(mapping_id, gen, event_id, state, decision, until_at, last_pass_id, rules) \
             WHERE s.mapping_id = v.mapping_id AND s.gen = v.gen",
        )
        .bind(cols.0)
        .bind(cols.1)
        .bind(cols.2)
        .bind(cols.3)
        .bind(cols.4)
        .bind(cols.5)
        .bind(cols.6)
        .bind(cols.7)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
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
            sqlx::query_scalar("SELECT COUNT(*) FROM prog_mapping WHERE project_id = $1")
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
             ORDER BY m.id LIMIT $6 OFFSET $7"
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
        let ids: Vec<String> = rows.iter().filter_map(|r| r.6.clone()).collect();
        let mut passes = HashMap::new();
        if !ids.is_empty() {
            let found: Vec<PassTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PASS_COLUMNS} FROM prog_pass WHERE id = ANY($1)"
            )))
            .bind(ids)
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
            "SELECT id, name FROM prog_event WHERE project_id = $1 ORDER BY start_at, id",
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
