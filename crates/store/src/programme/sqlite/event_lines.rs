//! Each event's lines on SQLite.

use super::SqliteProgramme;
use super::events::{PASS_COLUMNS, PassTuple, pass_from};
use crate::programme::event_lines::{
    CountTuple, EndsTuple, EventLineQueries, EventLineWrite, LineCount, LineSelect, LineTuple,
    PassEnds, StoredLine, line_count, pass_ends, stored_line,
};
use crate::programme::{SQLITE_BATCH, StaleStatus, StoredPass, parse_id, ts};
use crate::sqlite::db_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{EventId, MappingId};
use sqlx::{QueryBuilder, Sqlite};

fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl EventLineQueries for SqliteProgramme {
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
             SELECT em.event_id, em.mapping_id, e.project_id, 1, 0, '', 'queued', 0, 0, 0, 0, 0 \
             FROM prog_event_mapping em JOIN prog_event e ON e.id = em.event_id WHERE em.event_id = ? \
             AND NOT EXISTS (SELECT 1 FROM prog_event_line l \
                             WHERE l.event_id = em.event_id AND l.mapping_id = em.mapping_id) \
             ON CONFLICT (event_id, mapping_id) DO NOTHING",
        )
        .bind(event.to_string())
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT mapping_id, gen FROM prog_event_line WHERE event_id = ? \
             AND (stale <> 0 OR rules <> ? OR (until_at IS NOT NULL AND until_at <= ?)) ORDER BY mapping_id",
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
        let mut c = self.conn().await?;
        // A savepoint inside the caller's transaction, a transaction on the pool: one write, not thousands.
        let mut t = sqlx::Connection::begin(&mut *c).await.map_err(db_err)?;
        let mut stored = 0;
        for l in lines {
            let r = sqlx::query(
                "UPDATE prog_event_line SET stale = 0, until_at = ?, rules = ?, phase = ?, grade = ?, \
                 discovered = ?, copied = ?, skipped = ?, failed = ?, bytes = ?, line = ?, outcome = ? \
                 WHERE event_id = ? AND mapping_id = ? AND gen = ?",
            )
            .bind(l.until.map(ts))
            .bind(&l.rules)
            .bind(&l.phase)
            .bind(&l.grade)
            .bind(big(l.counters.discovered))
            .bind(big(l.counters.copied))
            .bind(big(l.counters.skipped))
            .bind(big(l.counters.failed))
            .bind(big(l.counters.bytes))
            .bind(&l.line)
            .bind(&l.outcome)
            .bind(event.to_string())
            .bind(l.mapping.to_string())
            .bind(l.version)
            .execute(&mut *t)
            .await
            .map_err(db_err)?;
            stored += r.rows_affected();
        }
        t.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn event_line_counts(&self, event: EventId) -> Result<Vec<LineCount>> {
        let rows: Vec<CountTuple> = sqlx::query_as(
            "SELECT phase, grade, COUNT(*), COALESCE(SUM(discovered), 0), COALESCE(SUM(copied), 0), \
                 COALESCE(SUM(skipped), 0), COALESCE(SUM(failed), 0), COALESCE(SUM(bytes), 0) \
             FROM prog_event_line WHERE event_id = ? GROUP BY phase, grade ORDER BY phase, grade",
        )
        .bind(event.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(line_count).collect())
    }

    async fn event_lines(&self, event: EventId, which: &LineSelect) -> Result<Vec<StoredLine>> {
        let mut c = self.conn().await?;
        let select =
            "SELECT mapping_id, phase, line, outcome FROM prog_event_line WHERE event_id = ";
        let mut qs: Vec<QueryBuilder<Sqlite>> = Vec::new();
        match which {
            LineSelect::Mappings(ms) => {
                for chunk in ms.chunks(SQLITE_BATCH) {
                    let mut q = QueryBuilder::<Sqlite>::new(select);
                    q.push_bind(event.to_string()).push(" AND mapping_id IN (");
                    let mut list = q.separated(", ");
                    for m in chunk {
                        list.push_bind(m.to_string());
                    }
                    q.push(")");
                    qs.push(q);
                }
            }
            LineSelect::Phase(phase) => {
                let mut q = QueryBuilder::<Sqlite>::new(select);
                q.push_bind(event.to_string())
                    .push(" AND phase = ")
                    .push_bind(phase.clone());
                qs.push(q);
            }
            LineSelect::Grades(grades) if !grades.is_empty() => {
                let mut q = QueryBuilder::<Sqlite>::new(select);
                q.push_bind(event.to_string()).push(" AND grade IN (");
                let mut list = q.separated(", ");
                for g in grades {
                    list.push_bind(g.clone());
                }
                q.push(")");
                qs.push(q);
            }
            LineSelect::Grades(_) => {}
        }
        let mut out = Vec::new();
        for mut q in qs {
            let rows: Vec<LineTuple> = q
                .push(" ORDER BY mapping_id")
                .build_query_as()
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)?;
            out.extend(rows);
        }
        let mut lines = out
            .into_iter()
            .map(stored_line)
            .collect::<Result<Vec<_>>>()?;
        lines.sort_by_key(|l| l.mapping.to_string());
        Ok(lines)
    }

    async fn event_line_grades(&self, event: EventId) -> Result<Vec<(MappingId, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT mapping_id, grade FROM prog_event_line WHERE event_id = ? AND grade IS NOT NULL \
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
        let rows: Vec<EndsTuple> = sqlx::query_as(
            "SELECT MIN(finished_at), MAX(finished_at), COUNT(*), \
                 COALESCE(SUM(COALESCE(json_extract(counters, '$.copied'), 0) \
                     + COALESCE(json_extract(counters, '$.skipped'), 0) \
                     + COALESCE(json_extract(counters, '$.failed'), 0)), 0), \
                 COALESCE(SUM(COALESCE(json_extract(counters, '$.bytes'), 0)), 0) \
             FROM prog_pass WHERE event_id = ? AND finished_at IS NOT NULL AND counters IS NOT NULL \
             GROUP BY substr(finished_at, 1, 16) ORDER BY 1",
        )
        .bind(event.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(pass_ends).collect()
    }

    async fn mappings_passes(&self, mappings: &[MappingId]) -> Result<Vec<StoredPass>> {
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        // A mapping's passes are all in its chunk's answer, in order.
        for chunk in mappings.chunks(SQLITE_BATCH) {
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {PASS_COLUMNS} FROM prog_pass WHERE mapping_id IN ("
            ));
            let mut list = q.separated(", ");
            for m in chunk {
                list.push_bind(m.to_string());
            }
            q.push(") ORDER BY started_at, rowid");
            let rows: Vec<PassTuple> = q
                .build_query_as()
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)?;
            for r in rows {
                out.push(pass_from(r)?);
            }
        }
        Ok(out)
    }
}
