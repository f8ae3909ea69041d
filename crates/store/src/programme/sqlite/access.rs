//! Tenants, users, members, tokens, the audit log and transactions on SQLite.

use super::SqliteProgramme;
use crate::programme::access::{AccessQueries, AuditQueries};
use crate::programme::rows::*;
use crate::programme::{damaged, parse_enum, parse_id, parse_ts, to_doc, ts};
use crate::sqlite::db_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{TenantId, TransactionId, UserId};
use ferry_core::programme::TransactionStatus;
use ferry_core::programme::tenant::Tenant;

fn tenant_doc(id: &str, doc: &str) -> Result<Tenant> {
    serde_json::from_str(doc)
        .map_err(|e| damaged(format!("tenant {id} is damaged in the store: {e}")))
}

#[async_trait]
impl AccessQueries for SqliteProgramme {
    async fn healthy(&self) -> Result<bool> {
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(one == 1)
    }

    async fn count_users(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM prog_user")
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db_err)
    }

    async fn insert_user(&self, u: &NewUser) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_user (id, name, display_name, operator, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(u.id.to_string())
        .bind(&u.name)
        .bind(&u.display_name)
        .bind(i64::from(u.operator))
        .bind(ts(u.created_at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_token(&self, hash: &str, user: UserId, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("INSERT INTO prog_token (hash, user_id, created_at) VALUES (?, ?, ?)")
            .bind(hash)
            .bind(user.to_string())
            .bind(ts(at))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn user_by_token(&self, hash: &str) -> Result<Option<TokenUser>> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT u.id, COALESCE(u.display_name, u.name), u.operator FROM prog_token t JOIN prog_user u ON u.id = t.user_id WHERE t.hash = ?",
        )
        .bind(hash)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        row.map(|(id, name, operator)| {
            Ok(TokenUser {
                id: parse_id(&id)?,
                name,
                operator: operator != 0,
            })
        })
        .transpose()
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<UserId>> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM prog_user WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        id.as_deref().map(parse_id).transpose()
    }

    async fn member_by_shown_name(&self, tenant: TenantId, name: &str) -> Result<Option<UserId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT u.id FROM prog_user u JOIN prog_member m ON m.user_id = u.id WHERE m.tenant_id = ? AND COALESCE(u.display_name, u.name) = ?",
        )
        .bind(tenant.to_string())
        .bind(name)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        id.as_deref().map(parse_id).transpose()
    }

    async fn roles_anywhere(&self, user: UserId) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT DISTINCT role FROM prog_member WHERE user_id = ?")
            .bind(user.to_string())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)
    }

    async fn roles_of(&self, user: UserId) -> Result<Vec<UserRole>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT m.tenant_id, t.name, m.role FROM prog_member m JOIN prog_tenant t ON t.id = m.tenant_id WHERE m.user_id = ? ORDER BY t.name",
        )
        .bind(user.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(id, tenant_name, role)| {
                Ok(UserRole {
                    tenant: parse_id(&id)?,
                    tenant_name,
                    role,
                })
            })
            .collect()
    }

    async fn member_role(&self, tenant: TenantId, user: UserId) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT role FROM prog_member WHERE tenant_id = ? AND user_id = ?")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)
    }

    async fn set_member(
        &self,
        tenant: TenantId,
        user: UserId,
        role: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_member (tenant_id, user_id, role, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(role)
        .bind(ts(at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn delete_member(&self, tenant: TenantId, user: UserId) -> Result<()> {
        sqlx::query("DELETE FROM prog_member WHERE tenant_id = ? AND user_id = ?")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn members(&self, tenant: TenantId) -> Result<Vec<MemberRow>> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT u.id, COALESCE(u.display_name, u.name) AS shown, m.role, m.created_at FROM prog_member m JOIN prog_user u ON u.id = m.user_id WHERE m.tenant_id = ? ORDER BY shown, u.id",
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(id, name, role, since)| {
                Ok(MemberRow {
                    user: parse_id(&id)?,
                    name,
                    role,
                    since,
                })
            })
            .collect()
    }

    async fn tenant_exists(&self, id: TenantId) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM prog_tenant WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(found.is_some())
    }

    async fn load_tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM prog_tenant WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        doc.map(|d| tenant_doc(&id.to_string(), &d)).transpose()
    }

    async fn tenants(&self, member: Option<UserId>) -> Result<Vec<(TenantId, Tenant)>> {
        let mut conn = self.conn().await?;
        let rows: Vec<(String, String)> = match member {
            None => sqlx::query_as("SELECT id, doc FROM prog_tenant ORDER BY name, id")
                .fetch_all(&mut *conn)
                .await
                .map_err(db_err)?,
            Some(user) => sqlx::query_as(
                "SELECT t.id, t.doc FROM prog_tenant t JOIN prog_member m ON m.tenant_id = t.id WHERE m.user_id = ? ORDER BY t.name, t.id",
            )
            .bind(user.to_string())
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?,
        };
        rows.into_iter()
            .map(|(id, doc)| Ok((parse_id(&id)?, tenant_doc(&id, &doc)?)))
            .collect()
    }

    async fn insert_tenant(&self, id: TenantId, t: &Tenant, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_tenant (id, name, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(&t.name)
        .bind(to_doc(t)?)
        .bind(ts(at))
        .bind(ts(at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn update_tenant(&self, id: TenantId, t: &Tenant, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE prog_tenant SET name = ?, doc = ?, updated_at = ? WHERE id = ?")
            .bind(&t.name)
            .bind(to_doc(t)?)
            .bind(ts(at))
            .bind(id.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl AuditQueries for SqliteProgramme {
    async fn insert_audit(&self, e: &AuditWrite) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_audit (tenant_id, user_id, action, target, before, after, at, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.tenant.map(|t| t.to_string()))
        .bind(e.user.map(|u| u.to_string()))
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.before)
        .bind(&e.after)
        .bind(ts(e.at))
        .bind(&e.request_id)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_transaction(&self, t: &TransactionWrite) -> Result<()> {
        sqlx::query(
            "INSERT INTO prog_transaction (id, tenant_id, action, target, status, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(t.id.to_string())
        .bind(t.tenant.map(|t| t.to_string()))
        .bind(&t.action)
        .bind(&t.target)
        .bind(t.status.as_str())
        .bind(t.created_by.map(|u| u.to_string()))
        .bind(ts(t.at))
        .bind(ts(t.at))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn transaction_status(&self, id: TransactionId) -> Result<Option<TransactionStatus>> {
        let s: Option<String> =
            sqlx::query_scalar("SELECT status FROM prog_transaction WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_err)?;
        s.as_deref().map(parse_enum).transpose()
    }

    async fn update_transaction(
        &self,
        id: TransactionId,
        status: TransactionStatus,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE prog_transaction SET status = ?, detail = COALESCE(?, detail), updated_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(detail)
            .bind(ts(at))
            .bind(id.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn transaction(
        &self,
        tenant: TenantId,
        id: TransactionId,
    ) -> Result<Option<TransactionRow>> {
        type Row = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            String,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT action, target, status, detail, created_by, created_at, updated_at FROM prog_transaction WHERE id = ? AND tenant_id = ?",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        row.map(
            |(action, target, status, detail, created_by, created, updated)| {
                Ok(TransactionRow {
                    action,
                    target,
                    status: parse_enum(&status)?,
                    detail,
                    created_by,
                    created_at: parse_ts(&created)?,
                    updated_at: parse_ts(&updated)?,
                })
            },
        )
        .transpose()
    }

    async fn audit_search(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        seek: Seek<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        type Row = (
            i64,
            Option<String>,
            Option<String>,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            Option<String>,
        );
        let (above, below, order) = match seek {
            Seek::After(after) => (after, i64::MAX, "ASC"),
            Seek::Before(before) => (i64::MIN, before.unwrap_or(i64::MAX), "DESC"),
        };
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT a.seq, a.user_id, COALESCE(u.display_name, u.name), a.action, a.target, a.before, a.after, a.at, a.request_id \
             FROM prog_audit a LEFT JOIN prog_user u ON u.id = a.user_id \
             WHERE a.tenant_id = ?1 AND (?2 IS NULL OR (?2 = 'scheduler' AND a.user_id IS NULL) OR COALESCE(u.display_name, u.name) = ?2) \
             AND (?3 IS NULL OR a.action = ?3 OR substr(a.action, 1, length(?3) + 1) = ?3 || '.') \
             AND (?4 IS NULL OR a.at >= ?4) AND (?5 IS NULL OR a.at < ?5) \
             AND a.seq > ?6 AND a.seq < ?7 ORDER BY a.seq {order} LIMIT ?8"
        )))
        .bind(tenant.to_string())
        .bind(filter.actor.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.since.map(ts))
        .bind(filter.until.map(ts))
        .bind(above)
        .bind(below)
        .bind(limit)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(
                |(seq, user, who, action, target, before, after, at, request_id)| AuditRow {
                    seq,
                    user,
                    who,
                    action,
                    target,
                    before,
                    after,
                    at,
                    request_id,
                },
            )
            .collect())
    }

    async fn transactions(
        &self,
        tenant: TenantId,
        filter: &TransactionFilter,
        before: Option<TransactionId>,
        limit: i64,
    ) -> Result<Vec<TransactionEntry>> {
        let rows: Vec<super::super::TransactionTuple> = sqlx::query_as(
            "SELECT t.id, COALESCE(u.display_name, u.name), t.action, t.target, t.status, t.detail, t.created_by, t.created_at, t.updated_at \
             FROM prog_transaction t LEFT JOIN prog_user u ON u.id = t.created_by \
             WHERE t.tenant_id = ?1 AND (?2 IS NULL OR (?2 = 'scheduler' AND t.created_by IS NULL) OR COALESCE(u.display_name, u.name) = ?2) \
             AND (?3 IS NULL OR t.action = ?3 OR substr(t.action, 1, length(?3) + 1) = ?3 || '.') \
             AND (?4 IS NULL OR t.status = ?4) \
             AND (?5 IS NULL OR t.created_at >= ?5) AND (?6 IS NULL OR t.created_at < ?6) \
             AND (?7 IS NULL OR t.id < ?7) ORDER BY t.id DESC LIMIT ?8",
        )
        .bind(tenant.to_string())
        .bind(filter.actor.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.since.map(ts))
        .bind(filter.until.map(ts))
        .bind(before.map(|b| b.to_string()))
        .bind(limit)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(super::super::transaction_entry)
            .collect()
    }

    async fn counts(&self, now: DateTime<Utc>, soon: DateTime<Utc>) -> Result<ProgrammeCounts> {
        let mut c = self.conn().await?;
        macro_rules! scalar {
            ($sql:literal) => {
                sqlx::query_scalar::<_, i64>($sql)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(db_err)?
            };
        }
        macro_rules! by {
            ($sql:literal) => {
                sqlx::query_as::<_, (String, i64)>($sql)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(db_err)?
            };
        }
        let tenants = scalar!("SELECT COUNT(*) FROM prog_tenant");
        let projects_by_state = by!("SELECT state, COUNT(*) FROM prog_project GROUP BY state");
        let events_by_state = by!("SELECT state, COUNT(*) FROM prog_event GROUP BY state");
        let mappings = scalar!("SELECT COUNT(*) FROM prog_mapping");
        let passes: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT kind, outcome, COUNT(*) FROM prog_pass GROUP BY kind, outcome")
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)?;
        let items: (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(json_extract(counters, '$.copied')), 0), COALESCE(SUM(json_extract(counters, '$.skipped')), 0),
                    COALESCE(SUM(json_extract(counters, '$.failed')), 0), COALESCE(SUM(json_extract(counters, '$.bytes')), 0)
             FROM prog_pass WHERE counters IS NOT NULL AND json_valid(counters)",
        )
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?;
        let creds: (i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(expires_at <= ?1), 0), COALESCE(SUM(expires_at > ?1 AND expires_at <= ?2), 0), COALESCE(SUM(expires_at > ?2), 0) FROM prog_credential",
        )
        .bind(ts(now))
        .bind(ts(soon))
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?;
        let tickets_by_status = by!("SELECT status, COUNT(*) FROM prog_ticket GROUP BY status");
        let transactions_by_status =
            by!("SELECT status, COUNT(*) FROM prog_transaction GROUP BY status");
        let audit_entries = scalar!("SELECT COUNT(*) FROM prog_audit");
        Ok(ProgrammeCounts {
            tenants,
            projects_by_state,
            events_by_state,
            mappings,
            passes,
            items_copied: items.0,
            items_skipped: items.1,
            items_failed: items.2,
            bytes_copied: items.3,
            credentials_expired: creds.0,
            credentials_expiring: creds.1,
            credentials_valid: creds.2,
            tickets_by_status,
            transactions_by_status,
            audit_entries,
        })
    }
}
