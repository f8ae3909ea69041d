//! Tenants, their eligibility and availability window, members and tokens, the audit log and
//! transactions.

use super::path_id;
use crate::auth::{Caller, new_token, token_hash};
use crate::db::{self, Change, changed};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use chrono::NaiveDate;
use ferry_core::id::{TenantId, TransactionId, UserId};
use ferry_core::programme::AvailabilityWindow;
use ferry_core::programme::role::Role;
use ferry_core::programme::tenant::{Cloud, Plan, Seats, Tenant};
use ferry_store::programme::{NewUser, Seek, TransactionEntry};
use serde::Deserialize;
use serde_json::{Value, json};
use std::str::FromStr;

/// A tenant with its decision, as every tenant answer shows it.
pub fn view(st: &AppState, id: TenantId, t: &Tenant) -> Value {
    let e = t.eligibility(&st.settings);
    json!({
        "id": id,
        "name": t.name,
        "plan": t.plan,
        "seats": t.seats,
        "first_purchase": t.first_purchase,
        "cloud": t.cloud,
        "window": t.window,
        "window_description": t.window.describe(&st.settings),
        "eligibility": e,
        "self_service": e.tier.is_self_service(),
        "notice": e.notice(),
    })
}

pub async fn list(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let rows = st
        .programme
        .tenants((!c.operator).then_some(c.user))
        .await?;
    let out: Vec<Value> = rows.iter().map(|(id, t)| view(&st, *id, t)).collect();
    Ok(Json(json!({ "tenants": out })))
}

fn check_name(name: &str) -> ApiResult<()> {
    super::check_name("a name", name, 200)
}

pub async fn create(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Json(t): Json<Tenant>,
) -> ApiResult<Json<Value>> {
    check_name(&t.name)?;
    let _w = st.write.lock().await;
    let now = st.clock.now();
    let id = TenantId::new();
    let tx = st.programme.begin().await?;
    tx.insert_tenant(id, &t, now).await?;
    if !c.operator {
        // Whoever creates a tenant manages it.
        tx.set_member(id, c.user, Role::MigrationManager.as_str(), now)
            .await?;
    }
    let v = view(&st, id, &t);
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(id),
            action: "tenant.create",
            target: format!("tenant/{id}"),
            before: None,
            after: Some(v.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, v))
}

pub async fn get(State(st): State<AppState>, Path(tenant): Path<String>) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    let t = db::load_tenant(&*st.programme, id).await?;
    Ok(Json(view(&st, id, &t)))
}

pub async fn eligibility(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    let t = db::load_tenant(&*st.programme, id).await?;
    let e = t.eligibility(&st.settings);
    Ok(Json(
        json!({ "tenant": id, "eligibility": e, "notice": e.notice() }),
    ))
}

/// The fields a tenant update may change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub plan: Option<Plan>,
    pub seats: Option<Seats>,
    pub first_purchase: Option<NaiveDate>,
    pub cloud: Option<Cloud>,
}

async fn save_tenant(
    st: &AppState,
    c: &Caller,
    id: TenantId,
    action: &'static str,
    change: impl FnOnce(&mut Tenant) -> ApiResult<()>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let now = st.clock.now();
    let mut t = db::load_tenant(&*st.programme, id).await?;
    let before = view(st, id, &t);
    change(&mut t)?;
    check_name(&t.name)?;
    let after = view(st, id, &t);
    let tx = st.programme.begin().await?;
    tx.update_tenant(id, &t, now).await?;
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(id),
            action,
            target: format!("tenant/{id}"),
            before: Some(before),
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

pub async fn update(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(tenant): Path<String>,
    Json(p): Json<TenantPatch>,
) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    save_tenant(&st, &c, id, "tenant.update", |t| {
        if let Some(v) = p.name {
            t.name = v;
        }
        if let Some(v) = p.plan {
            t.plan = v;
        }
        if let Some(v) = p.seats {
            t.seats = v;
        }
        if let Some(v) = p.first_purchase {
            t.first_purchase = v;
        }
        if let Some(v) = p.cloud {
            t.cloud = v;
        }
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    pub window: AvailabilityWindow,
}

pub async fn set_window(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(tenant): Path<String>,
    Json(b): Json<WindowBody>,
) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    save_tenant(&st, &c, id, "tenant.window", |t| {
        t.window = b.window;
        Ok(())
    })
    .await
}

pub async fn members(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    let members: Vec<Value> = st
        .programme
        .members(id)
        .await?
        .into_iter()
        .map(|m| json!({ "user": m.user, "name": m.name, "role": m.role, "since": m.since }))
        .collect();
    Ok(Json(json!({ "members": members })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    /// The user's name (created when new).
    pub user: String,
    pub role: Role,
}

/// Whether `c` may give or take away `role`. The operator and the migration-manager manage every role; a
/// customer-admin (who holds `manage_users` for the customer's own people) only the customer's roles and
/// viewer — otherwise a customer could make itself migration-manager and declare its own seats, which
/// decide eligibility (see `ferry_core::programme::role`).
fn may_grant(c: &Caller, role: Role) -> bool {
    c.operator
        || match c.role {
            Some(Role::MigrationManager) => true,
            Some(Role::CustomerAdmin) => {
                matches!(role, Role::CustomerAdmin | Role::Partner | Role::Viewer)
            }
            _ => false,
        }
}

fn grant_refusal(c: &Caller, role: &str) -> ApiError {
    ApiError::forbidden(format!(
        "the {} role may not give or take away the {role} role: a migration-manager or the operator manages \
         migration-manager and engineer members",
        c.role.map(Role::as_str).unwrap_or("caller's")
    ))
}

pub async fn add_member(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(tenant): Path<String>,
    Json(b): Json<MemberBody>,
) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    check_name(&b.user)?;
    if !may_grant(&c, b.role) {
        return Err(grant_refusal(&c, b.role.as_str()));
    }
    let _w = st.write.lock().await;
    let now = st.clock.now();
    let tx = st.programme.begin().await?;
    // The operator and migration-managers (who run the programme across tenants) add users by their
    // Ferry-wide name. Anyone else (a customer-admin) finds only the members of this tenant: any other
    // name makes a new user, so the answer is the same whether another tenant has a user of that name
    // or not (issue 9, item 13) — and no customer can give another customer's user a role.
    let across_tenants = c.operator || c.role == Some(Role::MigrationManager);
    let existing = if across_tenants {
        tx.user_by_name(b.user.trim()).await?
    } else {
        tx.member_by_shown_name(id, b.user.trim()).await?
    };
    let (user, token) = match existing {
        Some(u) => (u, None),
        None => {
            let u = UserId::new();
            let token = new_token()?;
            let taken = tx.user_by_name(b.user.trim()).await?;
            // Ferry-wide names stay unique: a taken one gets the new user's id appended; the tenant sees
            // the name it gave.
            let unique = match taken {
                Some(_) => format!("{}#{u}", b.user.trim()),
                None => b.user.trim().to_string(),
            };
            tx.insert_user(&NewUser {
                id: u,
                name: unique,
                display_name: Some(b.user.trim().to_string()),
                operator: false,
                created_at: now,
            })
            .await?;
            tx.insert_token(&token_hash(&token), u, now).await?;
            (u, Some(token))
        }
    };
    let before = tx.member_role(id, user).await?;
    if let Some(current) = &before
        && !Role::from_str(current).is_ok_and(|r| may_grant(&c, r))
    {
        return Err(grant_refusal(&c, current));
    }
    tx.set_member(id, user, b.role.as_str(), now).await?;
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(id),
            action: "member.set",
            target: format!("user/{user}"),
            before: before.map(|r| json!({ "user": b.user, "role": r })),
            after: Some(json!({ "user": b.user, "role": b.role })),
        },
        now,
    )
    .await?;
    Ok(changed(
        txn,
        json!({ "user": user, "name": b.user.trim(), "role": b.role, "token": token }),
    ))
}

pub async fn remove_member(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, user)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    let user: UserId = path_id(&user, "user")?;
    let _w = st.write.lock().await;
    let now = st.clock.now();
    let tx = st.programme.begin().await?;
    let role = tx.member_role(id, user).await?;
    let role =
        role.ok_or_else(|| ApiError::not_found(format!("user {user} has no role on this tenant")))?;
    if !Role::from_str(&role).is_ok_and(|r| may_grant(&c, r)) {
        return Err(grant_refusal(&c, &role));
    }
    tx.delete_member(id, user).await?;
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(id),
            action: "member.remove",
            target: format!("user/{user}"),
            before: Some(json!({ "role": role })),
            after: None,
        },
        now,
    )
    .await?;
    Ok(changed(txn, json!({ "user": user, "removed": true })))
}

/// The most audit entries one request reads.
pub const MAX_AUDIT_PAGE: i64 = 5_000;

/// The audit log's query: `after` (oldest first) or `before` (newest first), `limit`, and the filters
/// `actor`, `action`, `from`, `to` (see [`super::logs`]).
pub type AuditQuery = super::logs::LogQuery;

/// An audit page as the API and the dashboard read it: the filter and paging checked, then the store.
pub async fn audit_entries(
    st: &AppState,
    tenant: TenantId,
    q: &AuditQuery,
    default_limit: i64,
) -> ApiResult<Vec<ferry_store::programme::AuditRow>> {
    q.only(
        "the audit log",
        &["actor", "action", "from", "to", "after", "before", "limit"],
    )?;
    // Out-of-range paging is refused, not clamped: a script asking for 10,000 must learn it got 5,000.
    let limit = q.limit(
        default_limit,
        MAX_AUDIT_PAGE,
        "after=<last seq> (or before=<last seq>, newest first)",
    )?;
    let seek = match (q.seq("after")?, q.seq("before")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give after (oldest first) or before (newest first), not both",
            ));
        }
        (Some(a), None) => Seek::After(a),
        (None, Some(b)) => Seek::Before(Some(b)),
        (None, None) if q.before.is_some() => Seek::Before(None),
        (None, None) => Seek::After(0),
    };
    let filter = q.audit_filter()?;
    Ok(st
        .programme
        .audit_search(tenant, &filter, seek, limit)
        .await?)
}

pub async fn audit(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    let rows = audit_entries(&st, id, &q, 500).await?;
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str::<Value>(&s).ok());
    let entries: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "seq": r.seq,
                "user": r.user,
                "who": r.who.unwrap_or_else(|| "scheduler".into()),
                "action": r.action,
                "target": r.target,
                "before": parse(r.before),
                "after": parse(r.after),
                "at": r.at,
                "request_id": r.request_id,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}

/// A page of a tenant's transactions as the API and the dashboard read it.
pub async fn transaction_entries(
    st: &AppState,
    tenant: TenantId,
    q: &super::logs::LogQuery,
    default_limit: i64,
) -> ApiResult<Vec<TransactionEntry>> {
    q.only(
        "the transactions list",
        &["actor", "action", "status", "from", "to", "before", "limit"],
    )?;
    let limit = q.limit(
        default_limit,
        super::logs::MAX_LIST_PAGE,
        "before=<id of the last transaction>",
    )?;
    let before: Option<TransactionId> = q.before_id()?;
    let filter = q.transaction_filter()?;
    Ok(st
        .programme
        .transactions(tenant, &filter, before, limit)
        .await?)
}

pub async fn transactions(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<super::logs::LogQuery>,
) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    let rows = transaction_entries(&st, id, &q, super::logs::MAX_LIST_PAGE).await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id,
                "action": e.row.action,
                "target": e.row.target,
                "status": e.row.status,
                "detail": e.row.detail,
                "created_by": e.row.created_by,
                "who": e.who.unwrap_or_else(|| "scheduler".into()),
                "created_at": e.row.created_at,
                "updated_at": e.row.updated_at,
            })
        })
        .collect();
    Ok(Json(json!({ "transactions": list })))
}

pub async fn transaction(
    State(st): State<AppState>,
    Path((tenant, txn)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id: TenantId = path_id(&tenant, "tenant")?;
    let txn: TransactionId = path_id(&txn, "transaction")?;
    let r = st
        .programme
        .transaction(id, txn)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no transaction {txn} in this tenant")))?;
    Ok(Json(json!({
        "id": txn,
        "action": r.action,
        "target": r.target,
        "status": r.status,
        "detail": r.detail,
        "created_by": r.created_by,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })))
}
