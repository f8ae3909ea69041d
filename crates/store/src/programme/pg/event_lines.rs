//! Each event's lines on PostgreSQL.

use super::PgProgramme;
use super::events::{PASS_COLUMNS, PassTuple, pass_from};
use crate::pg::db_err;
use crate::programme::event_lines::{
    CountTuple, EndsTuple, EventLineQueries, EventLineWrite, LineCount, LineSelect, LineTuple,
    PassEnds, StoredLine, line_count, pass_ends, stored_line,
};
use crate::programme::{StaleStatus, StoredPass, parse_id, ts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{EventId, MappingId};

fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A counter of a pass's JSON counters, 0 when missing.
fn counter(k: &str) -> String {
    format!("COALESCE((counters::jsonb ->> '{k}')::NUMERIC, 0)")
}

#[async_trait]
impl EventLineQueries for PgProgramme {
    async fn stale_event_lines(
        &self,
        event: EventId,
        now: DateTime<Utc>,
        rules: &str,
    ) -> Result<Vec<StaleStatus>> {
        let mut c = self.conn().await?;
        sqlx::query(
            "INSERT INTO prog_event_line (event_id, mapping_id, project_id, stale, gen, rules, phase, \
                 discovered, copied, skipped, failed, bytes) \
             SELECT em.event_id, em.mapping_id, e.project_id, TRUE, 0, '', 'queued', 0, 0, 0, 0, 0 \
             FROM prog_event_mapping em JOIN prog_event e ON e.id = em.event_id WHERE em.event_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM prog_event_line l \
                             WHERE l.event_id = em.event_id AND l.mapping_id = em.mapping_id) \
             ON CONFLICT (event_id, mapping_id) DO NOTHING",
        )
        .bind(event.to_string())
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT mapping_id, gen FROM prog_event_line WHERE event_id = $1 \
             AND (stale OR rules <> $2 OR (until_at IS NOT NULL AND until_at <= $3)) ORDER BY mapping_id",
        )
        .bind(event.to_string())
        .bind(rules)
        .bind(ts(now))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        StaleStatus::from_rows(rows)
    }

    async fn put_event_lines(&self, event: EventId, lines: &[EventLineWrite]) -> Result<u64> {
        if lines.is_empty() {
            return Ok(0);
        }
        let mut mapping = Vec::new();
        let mut gen_ = Vec::new();
        let mut until = Vec::new();
        let mut rules = Vec::new();
        let mut phase = Vec::new();
        let mut grade = Vec::new();
        let mut counts: [Vec<i64>; 5] = Default::default();
        let mut line = Vec::new();
        let mut outcome = Vec::new();
        for l in lines {
            mapping.push(l.mapping.to_string());
            gen_.push(l.version);
            until.push(l.until.map(ts));
            rules.push(l.rules.clone());
            phase.push(l.phase.clone());
            grade.push(l.grade.clone());
            let c = &l.counters;
            for (i, v) in [c.discovered, c.copied, c.skipped, c.failed, c.bytes]
                .into_iter()
                .enumerate()
            {
                counts[i].push(big(v));
            }
            line.push(l.line.clone());
            outcome.push(l.outcome.clone());
        }
        let [discovered, copied, skipped, failed, bytes] = counts;
        // One statement for the lot.
        let r = sqlx::query(
            "UPDATE prog_event_line l SET stale = FALSE, until_at = v.until_at, rules = v.rules, \
                 phase = v.phase, grade = v.grade, discovered = v.discovered, copied = v.copied, \
                 skipped = v.skipped, failed = v.failed, bytes = v.bytes, line = v.line, outcome = v.outcome \
             FROM UNNEST($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], \
                         $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[], \
                         $13::TEXT[], $14::TEXT[]) \
                  AS v(mapping_id, gen, until_at, rules, phase, grade, discovered, copied, skipped, failed, \
                       bytes, line, outcome) \
             WHERE l.event_id = $1 AND l.mapping_id = v.mapping_id AND l.gen = v.gen",
        )
        .bind(event.to_string())
        .bind(mapping)
        .bind(gen_)
        .bind(until)
        .bind(rules)
        .bind(phase)
        .bind(grade)
        .bind(discovered)
        .bind(copied)
        .bind(skipped)
        .bind(failed)
        .bind(bytes)
        .bind(line)
        .bind(outcome)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn event_line_counts(&self, event: EventId) -> Result<Vec<LineCount>> {
        let rows: Vec<CountTuple> = sqlx::query_as(
            "SELECT phase, grade, COUNT(*), COALESCE(SUM(discovered), 0)::BIGINT, \
                 COALESCE(SUM(copied), 0)::BIGINT, COALESCE(SUM(skipped), 0)::BIGINT, \
                 COALESCE(SUM(failed), 0)::BIGINT, COALESCE(SUM(bytes), 0)::BIGINT \
             FROM prog_event_line WHERE event_id = $1 GROUP BY phase, grade ORDER BY phase, grade",
        )
        .bind(event.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(line_count).collect())
    }

    async fn event_lines(&self, event: EventId, which: &LineSelect) -> Result<Vec<StoredLine>> {
        let select =
            "SELECT mapping_id, phase, line, outcome FROM prog_event_line WHERE event_id = $1";
        let q = match which {
            LineSelect::Mappings(ms) => sqlx::query_as::<_, LineTuple>(sqlx::AssertSqlSafe(
                format!("{select} AND mapping_id = ANY($2::TEXT[]) ORDER BY mapping_id"),
            ))
            .bind(event.to_string())
            .bind(ms.iter().map(ToString::to_string).collect::<Vec<_>>()),
            LineSelect::Phase(phase) => sqlx::query_as::<_, LineTuple>(sqlx::AssertSqlSafe(
                format!("{select} AND phase = $2 ORDER BY mapping_id"),
            ))
            .bind(event.to_string())
            .bind(phase.clone()),
            LineSelect::Grades(grades) => sqlx::query_as::<_, LineTuple>(sqlx::AssertSqlSafe(
                format!("{select} AND grade = ANY($2::TEXT[]) ORDER BY mapping_id"),
            ))
            .bind(event.to_string())
            .bind(grades.clone()),
        };
        let rows = q
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(stored_line).collect()
    }

    async fn event_line_grades(&self, event: EventId) -> Result<Vec<(MappingId, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT mapping_id, grade FROM prog_event_line WHERE event_id = $1 AND grade IS NOT NULL \
             ORDER BY mapping_id",
        )
        .bind(event.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(m, g)| Ok((parse_id(&m)?, g)))
            .collect()
    }

    async fn event_pass_ends(&self, event: EventId) -> Result<Vec<PassEnds>> {
        let sql = format!(
            "SELECT MIN(finished_at), MAX(finished_at), COUNT(*), \
                 COALESCE(SUM({} + {} + {}), 0)::BIGINT, COALESCE(SUM({}), 0)::BIGINT \
             FROM prog_pass WHERE event_id = $1 AND finished_at IS NOT NULL AND counters IS NOT NULL \
             GROUP BY substr(finished_at, 1, 16) ORDER BY 1",
            counter("copied"),
            counter("skipped"),
            counter("failed"),
            counter("bytes")
        );
        let rows: Vec<EndsTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(event.to_string())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(pass_ends).collect()
    }

    async fn mappings_passes(&self, mappings: &[MappingId]) -> Result<Vec<StoredPass>> {
        let rows: Vec<PassTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PASS_COLUMNS} FROM prog_pass WHERE mapping_id = ANY($1::TEXT[]) ORDER BY started_at, seq"
        )))
        .bind(mappings.iter().map(ToString::to_string).collect::<Vec<_>>())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(pass_from).collect()
    }
}
