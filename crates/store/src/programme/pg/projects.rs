//! Projects, gates, tasks, endpoints and credentials on SQLite.

use super::PgProgramme;
use crate::pg::db_err;
use crate::programme::projects::{EndpointQueries, ProjectQueries};
use crate::programme::rows::*;
use crate::programme::{enum_name, last_per_owner, parse_enum, parse_id, parse_ts, ts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{ProjectId, TenantId, UserId};
use ferry_core::programme::gate::{Confirmation, GateKind, GateStatus};
use ferry_core::programme::{ProjectState, SourceSystem, Workload};

type ProjectTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
);

const PROJECT_COLUMNS: &str = "id, tenant_id, name, workload, source_system, state, paused_from, paused_since, last_progress, created_at, updated_at";

fn project_from(r: ProjectTuple) -> Result<Project> {
    let (
        id,
        tenant,
        name,
        workload,
        source,
        state,
        paused_from,
        paused_since,
        last,
        created,
        updated,
    ) = r;
    Ok(Project {
        id: parse_id(&id)?,
        tenant: parse_id(&tenant)?,
        name,
        workload: parse_enum(&workload)?,
        source_system: parse_enum(&source)?,
        state: parse_enum(&state)?,
        paused_from: paused_from.as_deref().map(parse_enum).transpose()?,
        paused_since: paused_since.as_deref().map(parse_ts).transpose()?,
        last_progress: parse_ts(&last)?,
        created_at: parse_ts(&created)?,
        updated_at: parse_ts(&updated)?,
    })
}

type EndpointTuple = (String, String, String, Option<String>, String, String);

fn endpoint_from((id, side, url, username, options, created_at): EndpointTuple) -> EndpointRow {
    EndpointRow {
        id,
        side,
        url,
        username,
        options,
        created_at,
    }
}

#[async_trait]
impl ProjectQueries for PgProgramme {
    async fn insert_project(
        &self,
        id: ProjectId,
        tenant: TenantId,
        name: &str,
        workload: Workload,
        source_system: SourceSystem,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_project (id, tenant_id, name, workload, source_system, state, last_progress, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(name)
        .bind(workload.as_str())
        .bind(enum_name(&source_system))
        .bind(ProjectState::Draft.as_str())
        .bind(ts(at))
        .bind(ts(at))
        .bind(ts(at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn load_project(&self, tenant: TenantId, id: ProjectId) -> Result<Option<Project>> {
        let row: Option<ProjectTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROJECT_COLUMNS} FROM prog_project WHERE id = $1 AND tenant_id = $2"
        )))
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        row.map(project_from).transpose()
    }

    async fn projects(&self, tenant: Option<TenantId>) -> Result<Vec<Project>> {
        let mut c = self.conn().await?;
        let rows: Vec<ProjectTuple> = match tenant {
            None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PROJECT_COLUMNS} FROM prog_project ORDER BY id"
            )))
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?,
            Some(t) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PROJECT_COLUMNS} FROM prog_project WHERE tenant_id = $1 ORDER BY id"
            )))
            .bind(t.to_string())
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?,
        };
        rows.into_iter().map(project_from).collect()
    }

    async fn rename_project(&self, id: ProjectId, name: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE prog_project SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(ts(at))
            .bind(id.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn project_state(&self, id: ProjectId) -> Result<Option<ProjectState>> {
        let s: Option<String> = sqlx::query_scalar("SELECT state FROM prog_project WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        s.as_deref().map(parse_enum).transpose()
    }

    async fn set_project_state(
        &self,
        id: ProjectId,
        to: ProjectState,
        paused_from: Option<ProjectState>,
        paused_since: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE prog_project SET state = $1, paused_from = $2, paused_since = $3, last_progress = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(to.as_str())
        .bind(paused_from.map(|s| s.as_str()))
        .bind(paused_since.map(ts))
        .bind(ts(at))
        .bind(ts(at))
        .bind(id.to_string())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn touch_project(&self, id: ProjectId, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE prog_project SET last_progress = $1, updated_at = $2 WHERE id = $3")
            .bind(ts(at))
            .bind(ts(at))
            .bind(id.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_gate(&self, project: ProjectId, kind: GateKind) -> Result<()> {
        sqlx::query("INSERT INTO prog_gate (project_id, kind) VALUES ($1, $2)")
            .bind(project.to_string())
            .bind(kind.as_str())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn gates(&self, project: ProjectId) -> Result<Vec<GateStatus>> {
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT kind, confirmed_by, confirmed_at FROM prog_gate WHERE project_id = $1 ORDER BY seq",
        )
        .bind(project.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(kind, by, at)| {
                let kind: GateKind = parse_enum(&kind)?;
                let confirmed = match (by, at) {
                    (Some(by), Some(at)) => Some(Confirmation {
                        by: parse_id(&by)?,
                        at: parse_ts(&at)?,
                    }),
                    _ => None,
                };
                Ok(GateStatus { kind, confirmed })
            })
            .collect()
    }

    async fn confirm_gate(
        &self,
        project: ProjectId,
        kind: GateKind,
        by: UserId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE prog_gate SET confirmed_by = $1, confirmed_at = $2 WHERE project_id = $3 AND kind = $4")
            .bind(by.to_string())
            .bind(ts(at))
            .bind(project.to_string())
            .bind(kind.as_str())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn tasks(&self, project: ProjectId) -> Result<Vec<TaskRow>> {
        let rows: Vec<(String, String, Option<String>, i64, String, String)> = sqlx::query_as(
            "SELECT id, task, agreement, in_scope, created_by, created_at FROM prog_task WHERE project_id = $1 ORDER BY id",
        )
        .bind(project.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, task, agreement, in_scope, created_by, created_at)| TaskRow {
                    id,
                    task,
                    agreement,
                    in_scope: in_scope != 0,
                    created_by,
                    created_at,
                },
            )
            .collect())
    }

    async fn insert_task(&self, project: ProjectId, t: &TaskRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_task (id, project_id, task, agreement, in_scope, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(project.to_string())
        .bind(&t.task)
        .bind(&t.agreement)
        .bind(i64::from(t.in_scope))
        .bind(&t.created_by)
        .bind(&t.created_at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn destroy_assessment_caches(&self, project: ProjectId) -> Result<()> {
        sqlx::query("UPDATE prog_assessment SET report = NULL WHERE project_id = $1")
            .bind(project.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl EndpointQueries for PgProgramme {
    async fn endpoints(&self, project: ProjectId) -> Result<Vec<EndpointRow>> {
        let rows: Vec<EndpointTuple> = sqlx::query_as(
            "SELECT id, side, url, username, options, created_at FROM prog_endpoint WHERE project_id = $1 ORDER BY side",
        )
        .bind(project.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(endpoint_from).collect())
    }

    async fn endpoint(&self, project: ProjectId, side: &str) -> Result<Option<EndpointRow>> {
        let row: Option<EndpointTuple> = sqlx::query_as(
            "SELECT id, side, url, username, options, created_at FROM prog_endpoint WHERE project_id = $1 AND side = $2",
        )
        .bind(project.to_string())
        .bind(side)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(row.map(endpoint_from))
    }

    async fn upsert_endpoint(&self, project: ProjectId, e: &EndpointRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_endpoint (id, project_id, side, url, username, options, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (project_id, side) DO UPDATE SET url = excluded.url, username = excluded.username, options = excluded.options",
        )
        .bind(&e.id)
        .bind(project.to_string())
        .bind(&e.side)
        .bind(&e.url)
        .bind(&e.username)
        .bind(&e.options)
        .bind(&e.created_at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn delete_endpoint(&self, project: ProjectId, side: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM prog_endpoint WHERE project_id = $1 AND side = $2")
            .bind(project.to_string())
            .bind(side)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn credential_meta(
        &self,
        project: ProjectId,
        owner: &str,
    ) -> Result<Option<CredentialMeta>> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT supplied_by, supplied_at, expires_at FROM prog_credential WHERE project_id = $1 AND owner = $2",
        )
        .bind(project.to_string())
        .bind(owner)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(
            row.map(|(supplied_by, supplied_at, expires_at)| CredentialMeta {
                owner: owner.to_string(),
                supplied_by,
                supplied_at,
                expires_at,
            }),
        )
    }

    async fn credentials(&self, project: ProjectId) -> Result<Vec<CredentialMeta>> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT owner, supplied_by, supplied_at, expires_at FROM prog_credential WHERE project_id = $1 ORDER BY owner",
        )
        .bind(project.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(
                |(owner, supplied_by, supplied_at, expires_at)| CredentialMeta {
                    owner,
                    supplied_by,
                    supplied_at,
                    expires_at,
                },
            )
            .collect())
    }

    async fn sealed_credential(
        &self,
        project: ProjectId,
        owner: &str,
    ) -> Result<Option<SealedCredential>> {
        let row: Option<(Vec<u8>, Vec<u8>, String)> = sqlx::query_as(
            "SELECT nonce, ciphertext, expires_at FROM prog_credential WHERE project_id = $1 AND owner = $2",
        )
        .bind(project.to_string())
        .bind(owner)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        row.map(|(nonce, ciphertext, exp)| {
            Ok(SealedCredential {
                nonce,
                ciphertext,
                expires_at: parse_ts(&exp)?,
            })
        })
        .transpose()
    }

    async fn store_credential(&self, c: &CredentialWrite) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_credential (id, project_id, owner, nonce, ciphertext, supplied_by, supplied_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (project_id, owner) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, supplied_by = excluded.supplied_by, supplied_at = excluded.supplied_at, expires_at = excluded.expires_at",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(c.project.to_string())
        .bind(&c.owner)
        .bind(&c.nonce)
        .bind(&c.ciphertext)
        .bind(c.supplied_by.to_string())
        .bind(ts(c.supplied_at))
        .bind(ts(c.expires_at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn store_credentials(&self, cs: &[CredentialWrite]) -> Result<()> {
        let cs = last_per_owner(cs);
        if cs.is_empty() {
            return Ok(());
        }
        // One statement, one round trip: the rows as arrays, `UNNEST`ed into rows.
        sqlx::query(
            "INSERT INTO prog_credential (id, project_id, owner, nonce, ciphertext, supplied_by, supplied_at, expires_at)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::BYTEA[], $6::TEXT[], $7::TEXT[], $8::TEXT[])
             ON CONFLICT (project_id, owner) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, supplied_by = excluded.supplied_by, supplied_at = excluded.supplied_at, expires_at = excluded.expires_at",
        )
        .bind(cs.iter().map(|_| uuid::Uuid::now_v7().to_string()).collect::<Vec<_>>())
        .bind(cs.iter().map(|c| c.project.to_string()).collect::<Vec<_>>())
        .bind(cs.iter().map(|c| c.owner.as_str()).collect::<Vec<_>>())
        .bind(cs.iter().map(|c| c.nonce.clone()).collect::<Vec<_>>())
        .bind(cs.iter().map(|c| c.ciphertext.clone()).collect::<Vec<_>>())
        .bind(cs.iter().map(|c| c.supplied_by.to_string()).collect::<Vec<_>>())
        .bind(cs.iter().map(|c| ts(c.supplied_at)).collect::<Vec<_>>())
        .bind(cs.iter().map(|c| ts(c.expires_at)).collect::<Vec<_>>())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn delete_credential(&self, project: ProjectId, owner: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM prog_credential WHERE project_id = $1 AND owner = $2")
            .bind(project.to_string())
            .bind(owner)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_side_credentials(&self, project: ProjectId, side: &str) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM prog_credential WHERE project_id = $1 AND (owner = $2 OR owner LIKE $3)",
        )
        .bind(project.to_string())
        .bind(format!("endpoint:{side}"))
        .bind(format!("mapping:%:{side}"))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn purge_credentials(&self, project: ProjectId) -> Result<u64> {
        let r = sqlx::query("DELETE FROM prog_credential WHERE project_id = $1")
            .bind(project.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn fresh_credentials(
        &self,
        project: ProjectId,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM prog_credential WHERE project_id = $1 AND supplied_at >= $2 AND expires_at > $3",
        )
        .bind(project.to_string())
        .bind(ts(since))
        .bind(ts(now))
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(db_err)
    }

    async fn credentials_supplied(&self, project: ProjectId) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT owner, supplied_at FROM prog_credential WHERE project_id = $1")
            .bind(project.to_string())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)
    }
}
