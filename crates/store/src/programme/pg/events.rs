//! Events, approvals and passes on SQLite.

use super::{Conn, PgProgramme};
use crate::pg::db_err;
use crate::programme::events::{EventQueries, PassQueries};
use crate::programme::rows::*;
use crate::programme::{damaged, enum_name, parse_enum, parse_id, parse_ts, ts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{EventId, MappingId, ProjectId, TenantId, UserId};
use ferry_core::programme::event::EventState;
use ferry_core::programme::pass::PassOutcome;

type EventTuple = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

const EVENT_COLUMNS: &str = "id, project_id, name, kind, pilot, start_at, state, created_by, created_at, updated_at, completed_at";

async fn event_from(c: &mut Conn<'_>, r: EventTuple) -> Result<Event> {
    let (id, project, name, kind, pilot, start, state, by, created, updated, completed) = r;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT mapping_id FROM prog_event_mapping WHERE event_id = $1 ORDER BY mapping_id",
    )
    .bind(&id)
    .fetch_all(&mut **c)
    .await
    .map_err(db_err)?;
    Ok(Event {
        id: parse_id(&id)?,
        project: parse_id(&project)?,
        name,
        kind: parse_enum(&kind)?,
        pilot: pilot != 0,
        start: parse_ts(&start)?,
        state: parse_enum(&state)?,
        created_by: by,
        created_at: parse_ts(&created)?,
        updated_at: parse_ts(&updated)?,
        completed_at: completed.as_deref().map(parse_ts).transpose()?,
        mappings: ids.iter().map(|m| parse_id(m)).collect::<Result<_>>()?,
    })
}

pub(super) type PassTuple = (
    String,
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub(super) const PASS_COLUMNS: &str = "id, event_id, mapping_id, kind, attempt, started_at, finished_at, outcome, reason, counters, grade, run_id";

pub(super) fn pass_from(r: PassTuple) -> Result<StoredPass> {
    let (
        id,
        event,
        mapping,
        kind,
        attempt,
        started,
        finished,
        outcome,
        reason,
        counters,
        grade,
        run,
    ) = r;
    let outcome = match outcome.as_str() {
        "running" => PassOutcome::Running,
        "succeeded" => PassOutcome::Succeeded,
        "failed" => PassOutcome::Failed {
            reason: reason.unwrap_or_default(),
        },
        other => {
            return Err(damaged(format!(
                "pass {id} has a damaged outcome {other:?}"
            )));
        }
    };
    Ok(StoredPass {
        event: parse_id(&event)?,
        mapping: parse_id(&mapping)?,
        kind: parse_enum(&kind)?,
        attempt: u32::try_from(attempt).unwrap_or(0),
        started_at: parse_ts(&started)?,
        finished_at: finished.as_deref().map(parse_ts).transpose()?,
        outcome,
        counters: counters.and_then(|c| serde_json::from_str(&c).ok()),
        grade,
        run_id: run,
        id,
    })
}

impl PgProgramme {
    async fn passes_where(&self, clause: &'static str, id: String) -> Result<Vec<StoredPass>> {
        let rows: Vec<PassTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PASS_COLUMNS} FROM prog_pass WHERE {clause} ORDER BY started_at, seq"
        )))
        .bind(id)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(pass_from).collect()
    }
}

#[async_trait]
impl EventQueries for PgProgramme {
    async fn insert_event(&self, e: &NewEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_event (id, project_id, name, kind, pilot, start_at, state, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(e.id.to_string())
        .bind(e.project.to_string())
        .bind(&e.name)
        .bind(enum_name(&e.kind))
        .bind(i64::from(e.pilot))
        .bind(ts(e.start))
        .bind(EventState::Scheduled.as_str())
        .bind(e.created_by.to_string())
        .bind(ts(e.at))
        .bind(ts(e.at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn update_event(
        &self,
        id: EventId,
        name: &str,
        start: DateTime<Utc>,
        pilot: bool,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE prog_event SET name = $1, start_at = $2, pilot = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(name)
        .bind(ts(start))
        .bind(i64::from(pilot))
        .bind(ts(at))
        .bind(id.to_string())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn add_event_mapping(
        &self,
        event: EventId,
        mapping: MappingId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_event_mapping (event_id, mapping_id, added_at) VALUES ($1, $2, $3)",
        )
        .bind(event.to_string())
        .bind(mapping.to_string())
        .bind(ts(at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn add_event_mappings(
        &self,
        event: EventId,
        mappings: &[MappingId],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if mappings.is_empty() {
            return Ok(());
        }
        // One statement, one round trip.
        sqlx::query(
            "INSERT INTO prog_event_mapping (event_id, mapping_id, added_at) SELECT $1, m, $2 FROM UNNEST($3::TEXT[]) AS m",
        )
        .bind(event.to_string())
        .bind(ts(at))
        .bind(mappings.iter().map(|m| m.to_string()).collect::<Vec<_>>())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn remove_event_mappings(&self, event: EventId, mappings: &[MappingId]) -> Result<()> {
        if mappings.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "DELETE FROM prog_event_mapping WHERE event_id = $1 AND mapping_id = ANY($2::TEXT[])",
        )
        .bind(event.to_string())
        .bind(mappings.iter().map(|m| m.to_string()).collect::<Vec<_>>())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn remove_event_mapping(&self, event: EventId, mapping: MappingId) -> Result<()> {
        sqlx::query("DELETE FROM prog_event_mapping WHERE event_id = $1 AND mapping_id = $2")
            .bind(event.to_string())
            .bind(mapping.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn load_event(&self, project: ProjectId, id: EventId) -> Result<Option<Event>> {
        let mut c = self.conn().await?;
        let row: Option<EventTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM prog_event WHERE id = $1 AND project_id = $2"
        )))
        .bind(id.to_string())
        .bind(project.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => Ok(Some(event_from(&mut c, r).await?)),
            None => Ok(None),
        }
    }

    async fn project_events(&self, project: ProjectId) -> Result<Vec<Event>> {
        let mut c = self.conn().await?;
        let rows: Vec<EventTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM prog_event WHERE project_id = $1 ORDER BY id"
        )))
        .bind(project.to_string())
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(event_from(&mut c, r).await?);
        }
        Ok(out)
    }

    async fn set_event_state(
        &self,
        id: EventId,
        to: EventState,
        completed_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE prog_event SET state = $1, updated_at = $2, completed_at = COALESCE($3, completed_at) WHERE id = $4")
            .bind(to.as_str())
            .bind(ts(at))
            .bind(completed_at.map(ts))
            .bind(id.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn final_report(&self, event: EventId) -> Result<Option<String>> {
        let r: Option<Option<String>> =
            sqlx::query_scalar("SELECT final_report FROM prog_event WHERE id = $1")
                .bind(event.to_string())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_err)?;
        Ok(r.flatten())
    }

    async fn set_final_report(&self, event: EventId, report: &str) -> Result<()> {
        sqlx::query("UPDATE prog_event SET final_report = $1 WHERE id = $2")
            .bind(report)
            .bind(event.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn schedule_confirmed(&self, project: ProjectId, now: DateTime<Utc>) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM prog_event WHERE project_id = $1 AND ((state = 'scheduled' AND start_at >= $2) OR state = 'running')",
        )
        .bind(project.to_string())
        .bind(ts(now))
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn mapping_in_project(&self, project: ProjectId, mapping: MappingId) -> Result<bool> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM prog_mapping WHERE id = $1 AND project_id = $2")
                .bind(mapping.to_string())
                .bind(project.to_string())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_err)?;
        Ok(found.is_some())
    }

    async fn mapping_sealed(&self, mapping: MappingId) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM prog_pass WHERE mapping_id = $1 AND kind = 'final' AND outcome = 'succeeded'",
        )
        .bind(mapping.to_string())
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn sealed_mappings(&self, project: ProjectId) -> Result<Vec<MappingId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT m.id FROM prog_mapping m JOIN prog_pass s ON s.mapping_id = m.id
             WHERE m.project_id = $1 AND s.kind = 'final' AND s.outcome = 'succeeded' ORDER BY m.id",
        )
        .bind(project.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        ids.iter().map(|id| parse_id(id)).collect()
    }

    async fn unsealed_mappings(&self, project: ProjectId) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM prog_mapping m WHERE m.project_id = $1 AND NOT EXISTS
             (SELECT 1 FROM prog_pass s WHERE s.mapping_id = m.id AND s.kind = 'final' AND s.outcome = 'succeeded')",
        )
        .bind(project.to_string())
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(db_err)
    }

    async fn last_audit_after(&self, action: &str, target: &str) -> Result<Option<String>> {
        let r: Option<Option<String>> = sqlx::query_scalar(
            "SELECT after FROM prog_audit WHERE action = $1 AND target = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(action)
        .bind(target)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(r.flatten())
    }

    async fn insert_approval(
        &self,
        event: EventId,
        mapping: MappingId,
        by: UserId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_approval (event_id, mapping_id, approved_by, approved_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(event.to_string())
        .bind(mapping.to_string())
        .bind(by.to_string())
        .bind(ts(at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn approvals(&self, event: EventId, any_event: bool) -> Result<Vec<ApprovalRow>> {
        let sql = if any_event {
            "SELECT mapping_id, approved_by, approved_at FROM prog_approval WHERE mapping_id IN
             (SELECT mapping_id FROM prog_event_mapping WHERE event_id = $1) ORDER BY seq"
        } else {
            "SELECT mapping_id, approved_by, approved_at FROM prog_approval WHERE event_id = $1 ORDER BY seq"
        };
        let rows: Vec<(String, String, String)> = sqlx::query_as(sql)
            .bind(event.to_string())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(mapping, by, at)| {
                Ok(ApprovalRow {
                    mapping: parse_id(&mapping)?,
                    by: parse_id(&by)?,
                    at: parse_ts(&at)?,
                })
            })
            .collect()
    }

    async fn user_is_operator(&self, user: UserId) -> Result<Option<bool>> {
        let op: Option<i64> = sqlx::query_scalar("SELECT operator FROM prog_user WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(op.map(|o| o == 1))
    }
}

#[async_trait]
impl PassQueries for PgProgramme {
    async fn insert_pass(&self, p: &NewPass) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_pass (id, event_id, mapping_id, kind, attempt, started_at, outcome) VALUES ($1, $2, $3, $4, $5, $6, 'running')",
        )
        .bind(&p.id)
        .bind(p.event.to_string())
        .bind(p.mapping.to_string())
        .bind(p.kind.as_str())
        .bind(i64::from(p.attempt))
        .bind(ts(p.at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn finish_pass(&self, id: &str, end: &PassEnd, at: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE prog_pass SET outcome = $1, reason = $2, finished_at = $3, counters = $4, grade = $5, run_id = $6 WHERE id = $7 AND outcome = 'running'",
        )
        .bind(&end.outcome)
        .bind(&end.reason)
        .bind(ts(at))
        .bind(&end.counters)
        .bind(&end.grade)
        .bind(&end.run_id)
        .bind(id)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn running_passes(&self) -> Result<Vec<(String, EventId)>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, event_id FROM prog_pass WHERE outcome = 'running'")
                .fetch_all(&mut *self.conn().await?)
                .await
                .map_err(db_err)?;
        rows.into_iter()
            .map(|(id, e)| Ok((id, parse_id(&e)?)))
            .collect()
    }

    async fn claim_pass(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        let now = ts(now);
        let attempt: Option<i64> = sqlx::query_scalar(
            "UPDATE prog_pass SET lease_owner = $1, lease_attempt = lease_attempt + 1, lease_until = $2, run_after = NULL \
             WHERE id = $3 AND outcome = 'running' \
             AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= $4) \
             AND (run_after IS NULL OR run_after <= $4) RETURNING lease_attempt",
        )
        .bind(owner)
        .bind(ts(until))
        .bind(id)
        .bind(&now)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(attempt.map(|a| Lease {
            pass: id.to_string(),
            owner: owner.to_string(),
            attempt: u32::try_from(a).unwrap_or(0),
            until,
        }))
    }

    async fn claim_pass_capped(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        cap: Option<u32>,
    ) -> Result<Option<Lease>> {
        let Some(cap) = cap else {
            return self.claim_pass(id, owner, now, until).await;
        };
        // In one transaction under a lock of the tenant's own (released at its end): two workers claiming
        // passes of one tenant at once take turns, the second counting the first's claim.
        let attempt = match &self.handle {
            super::Handle::Pool(p) => {
                let mut tx = p.begin().await.map_err(db_err)?;
                let a = claim_capped_on(&mut tx, id, owner, now, until, cap).await?;
                tx.commit().await.map_err(db_err)?;
                a
            }
            super::Handle::Tx(_) => {
                let mut conn = self.conn().await?;
                claim_capped_on(&mut conn, id, owner, now, until, cap).await?
            }
        };
        Ok(attempt.map(|a| Lease {
            pass: id.to_string(),
            owner: owner.to_string(),
            attempt: u32::try_from(a).unwrap_or(0),
            until,
        }))
    }

    async fn renew_lease(&self, lease: &Lease, until: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE prog_pass SET lease_until = $1 \
             WHERE id = $2 AND outcome = 'running' AND lease_owner = $3 AND lease_attempt = $4",
        )
        .bind(ts(until))
        .bind(&lease.pass)
        .bind(&lease.owner)
        .bind(i64::from(lease.attempt))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn finish_leased_pass(
        &self,
        lease: &Lease,
        end: &PassEnd,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE prog_pass SET outcome = $1, reason = $2, finished_at = $3, counters = $4, grade = $5, run_id = $6, \
             lease_owner = NULL, lease_until = NULL \
             WHERE id = $7 AND outcome = 'running' AND lease_owner = $8 AND lease_attempt = $9",
        )
        .bind(&end.outcome)
        .bind(&end.reason)
        .bind(ts(at))
        .bind(&end.counters)
        .bind(&end.grade)
        .bind(&end.run_id)
        .bind(&lease.pass)
        .bind(&lease.owner)
        .bind(i64::from(lease.attempt))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn release_pass(&self, lease: &Lease, run_after: Option<DateTime<Utc>>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE prog_pass SET lease_owner = NULL, lease_until = NULL, run_after = $1 \
             WHERE id = $2 AND outcome = 'running' AND lease_owner = $3 AND lease_attempt = $4",
        )
        .bind(run_after.map(ts))
        .bind(&lease.pass)
        .bind(&lease.owner)
        .bind(i64::from(lease.attempt))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn pass_leases(&self) -> Result<Vec<PassLease>> {
        let rows: Vec<(
            String,
            String,
            Option<String>,
            i64,
            Option<String>,
            Option<String>,
        )> = sqlx::query_as(
            "SELECT id, event_id, lease_owner, lease_attempt, lease_until, run_after \
                 FROM prog_pass WHERE outcome = 'running' ORDER BY started_at, seq",
        )
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(pass, event, owner, attempt, until, run_after)| {
                Ok(PassLease {
                    pass,
                    event: parse_id(&event)?,
                    owner,
                    attempt: u32::try_from(attempt).unwrap_or(0),
                    until: until.as_deref().map(parse_ts).transpose()?,
                    run_after: run_after.as_deref().map(parse_ts).transpose()?,
                })
            })
            .collect()
    }

    async fn event_tenant(&self, event: EventId) -> Result<Option<TenantId>> {
        let t: Option<String> = sqlx::query_scalar(
            "SELECT p.tenant_id FROM prog_event e JOIN prog_project p ON p.id = e.project_id WHERE e.id = $1",
        )
        .bind(event.to_string())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        t.as_deref().map(parse_id).transpose()
    }

    async fn mapping_passes(&self, mapping: MappingId) -> Result<Vec<StoredPass>> {
        self.passes_where("mapping_id = $1", mapping.to_string())
            .await
    }

    async fn event_passes(&self, event: EventId) -> Result<Vec<StoredPass>> {
        self.passes_where("event_id = $1", event.to_string()).await
    }

    async fn event_mapping_passes(&self, event: EventId) -> Result<Vec<StoredPass>> {
        self.passes_where(
            "mapping_id IN (SELECT mapping_id FROM prog_event_mapping WHERE event_id = $1)",
            event.to_string(),
        )
        .await
    }
}

/// The capped claim's statements, on a connection inside a transaction.
async fn claim_capped_on(
    conn: &mut sqlx::PgConnection,
    id: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    cap: u32,
) -> Result<Option<i64>> {
    let tenant: Option<String> = sqlx::query_scalar(
        "SELECT pr.tenant_id FROM prog_pass p JOIN prog_event e ON e.id = p.event_id \
         JOIN prog_project pr ON pr.id = e.project_id WHERE p.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("ferry-tenant-cap:{tenant}"))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let now = ts(now);
    sqlx::query_scalar(
        "UPDATE prog_pass SET lease_owner = $1, lease_attempt = lease_attempt + 1, lease_until = $2, run_after = NULL \
         WHERE id = $3 AND outcome = 'running' \
         AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= $4) \
         AND (run_after IS NULL OR run_after <= $4) \
         AND (SELECT count(*) FROM prog_pass q JOIN prog_event e ON e.id = q.event_id \
              JOIN prog_project pr ON pr.id = e.project_id \
              WHERE pr.tenant_id = $5 AND q.id <> $3 AND q.outcome = 'running' \
              AND q.lease_owner IS NOT NULL AND q.lease_until > $4) < $6 \
         RETURNING lease_attempt",
    )
    .bind(owner)
    .bind(ts(until))
    .bind(id)
    .bind(&now)
    .bind(&tenant)
    .bind(i64::from(cap))
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)
}
