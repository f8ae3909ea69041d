//! Who may do what (tenants, users, members, tokens) and what was done (the audit log, transactions).

use super::rows::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{TenantId, TransactionId, UserId};
use ferry_core::programme::TransactionStatus;
use ferry_core::programme::tenant::Tenant;

/// Tenants, users, their roles and tokens.
#[async_trait]
pub trait AccessQueries {
    /// Whether the store answers at all.
    async fn healthy(&self) -> Result<bool>;
    async fn count_users(&self) -> Result<i64>;
    async fn insert_user(&self, user: &NewUser) -> Result<()>;
    /// Store a token's hash for `user`.
    async fn insert_token(&self, hash: &str, user: UserId, at: DateTime<Utc>) -> Result<()>;
    /// The user holding the token with this hash.
    async fn user_by_token(&self, hash: &str) -> Result<Option<TokenUser>>;
    /// A user by Ferry-wide name.
    async fn user_by_name(&self, name: &str) -> Result<Option<UserId>>;
    /// A member of `tenant` by the name shown for them (display name, else name).
    async fn member_by_shown_name(&self, tenant: TenantId, name: &str) -> Result<Option<UserId>>;
    /// Every distinct role `user` holds on any tenant.
    async fn roles_anywhere(&self, user: UserId) -> Result<Vec<String>>;
    /// `user`'s roles with their tenants, by tenant name.
    async fn roles_of(&self, user: UserId) -> Result<Vec<UserRole>>;
    /// `user`'s role on `tenant`, as stored.
    async fn member_role(&self, tenant: TenantId, user: UserId) -> Result<Option<String>>;
    /// Give `user` `role` on `tenant` (replacing a role held).
    async fn set_member(
        &self,
        tenant: TenantId,
        user: UserId,
        role: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    async fn delete_member(&self, tenant: TenantId, user: UserId) -> Result<()>;
    /// Members of `tenant`, by shown name.
    async fn members(&self, tenant: TenantId) -> Result<Vec<MemberRow>>;

    async fn tenant_exists(&self, id: TenantId) -> Result<bool>;
    async fn load_tenant(&self, id: TenantId) -> Result<Option<Tenant>>;
    /// Every tenant (`member: None`) or those `member` has a role on, by name.
    async fn tenants(&self, member: Option<UserId>) -> Result<Vec<(TenantId, Tenant)>>;
    async fn insert_tenant(&self, id: TenantId, tenant: &Tenant, at: DateTime<Utc>) -> Result<()>;
    async fn update_tenant(&self, id: TenantId, tenant: &Tenant, at: DateTime<Utc>) -> Result<()>;
}

/// The audit log, transactions and counts.
#[async_trait]
pub trait AuditQueries {
    async fn insert_audit(&self, entry: &AuditWrite) -> Result<()>;
    async fn insert_transaction(&self, txn: &TransactionWrite) -> Result<()>;
    /// A transaction's status, in whichever tenant.
    async fn transaction_status(&self, id: TransactionId) -> Result<Option<TransactionStatus>>;
    /// Move a transaction to `status`; `detail`, when given, replaces the stored one.
    async fn update_transaction(
        &self,
        id: TransactionId,
        status: TransactionStatus,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// A transaction of `tenant`.
    async fn transaction(
        &self,
        tenant: TenantId,
        id: TransactionId,
    ) -> Result<Option<TransactionRow>>;
    /// Up to `limit` audit entries of `tenant` after sequence number `after`, oldest first.
    async fn audit_page(&self, tenant: TenantId, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        self.audit_search(tenant, &AuditFilter::default(), Seek::After(after), limit)
            .await
    }
    /// Up to `limit` audit entries of `tenant` that `filter` keeps, from `seek` (a sequence number).
    async fn audit_search(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        seek: Seek<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>>;
    /// Up to `limit` transactions of `tenant` that `filter` keeps, newest first, created before the
    /// transaction `before` (ids are time-ordered; none: from the newest).
    async fn transactions(
        &self,
        tenant: TenantId,
        filter: &TransactionFilter,
        before: Option<TransactionId>,
        limit: i64,
    ) -> Result<Vec<TransactionEntry>>;
    /// The counts `/metrics` shows; credentials expiring before `soon` count as expiring.
    async fn counts(&self, now: DateTime<Utc>, soon: DateTime<Utc>) -> Result<ProgrammeCounts>;
}
