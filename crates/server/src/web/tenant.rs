//! Tenant pages: the list of tenants a user may see, and one tenant (eligibility with its reasons, seats,
//! availability window, members and roles, projects). Read through the same store methods as the API's
//! tenant routes (`api::tenants`).

use super::frame::Frame;
use super::page::{Signed, path_id};
use super::{api_error_page, internal};
use crate::AppState;
use crate::auth::Caller;
use crate::db;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use ferry_core::id::TenantId;
use ferry_core::programme::role::Role;
use std::collections::HashMap;
use std::str::FromStr;

/// A row of the tenants list.
pub struct TenantRow {
    pub href: String,
    pub name: String,
    pub tier: String,
    pub seats: u32,
    pub role: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "tenant/list.html")]
struct ListPage {
    frame: Frame,
    tenants: Vec<TenantRow>,
}

/// `GET /tenants`.
pub async fn list(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
) -> Response {
    let rows = match st.programme.tenants((!c.operator).then_some(c.user)).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let roles: HashMap<TenantId, String> = match st.programme.roles_of(c.user).await {
        Ok(r) => r.into_iter().map(|r| (r.tenant, r.role)).collect(),
        Err(e) => return internal(e),
    };
    let tenants = rows
        .iter()
        .map(|(id, t)| {
            let e = t.eligibility(&st.settings);
            TenantRow {
                href: format!("/tenants/{id}"),
                name: t.name.clone(),
                tier: e.tier.to_string(),
                seats: e.eligible_seats,
                role: roles
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "operator".to_owned()),
            }
        })
        .collect();
    ListPage {
        frame: Frame::new(&signed, &c),
        tenants,
    }
    .into_response()
}

/// A member as the tenant page lists them.
pub struct MemberLine {
    pub name: String,
    pub role: String,
    pub since: String,
}

/// A project as the tenant page lists it.
pub struct ProjectLine {
    pub href: String,
    pub name: String,
    pub workload: String,
    pub state: String,
    pub open_gates: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "tenant/show.html")]
struct ShowPage {
    frame: Frame,
    name: String,
    plan: String,
    cloud: String,
    tier: String,
    self_service: bool,
    eligible_seats: u32,
    data_migration_min_seats: u32,
    reasons: Vec<String>,
    notice: Option<String>,
    seats: ferry_core::programme::tenant::Seats,
    first_purchase: String,
    window: String,
    members: Vec<MemberLine>,
    projects: Vec<ProjectLine>,
}

fn label<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// `GET /tenants/{tenant}`.
pub async fn show(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Response {
    let id: TenantId = match path_id(&tenant, "tenant") {
        Ok(id) => id,
        Err(e) => return api_error_page(e),
    };
    let t = match db::load_tenant(&*st.programme, id).await {
        Ok(t) => t,
        Err(e) => return api_error_page(e),
    };
    let e = t.eligibility(&st.settings);
    let members = match st.programme.members(id).await {
        Ok(m) => m
            .into_iter()
            .map(|m| MemberLine {
                name: m.name,
                role: Role::from_str(&m.role)
                    .map(|r| r.to_string())
                    .unwrap_or(m.role),
                since: m.since,
            })
            .collect(),
        Err(e) => return internal(e),
    };
    let mut projects = Vec::new();
    let rows = match db::tenant_projects(&*st.programme, id).await {
        Ok(p) => p,
        Err(e) => return api_error_page(e),
    };
    for p in rows {
        let gates = match db::gates(&*st.programme, p.id).await {
            Ok(g) => g,
            Err(e) => return api_error_page(e),
        };
        projects.push(ProjectLine {
            href: format!("/tenants/{id}/projects/{}", p.id),
            name: p.name,
            workload: p.workload.to_string(),
            state: p.state.to_string(),
            open_gates: gates.iter().filter(|g| !g.is_met()).count(),
        });
    }
    ShowPage {
        frame: Frame::new(&signed, &c).tenant(id, &t.name).here("Tenant"),
        name: t.name.clone(),
        plan: label(&t.plan),
        cloud: label(&t.cloud),
        tier: e.tier.to_string(),
        self_service: e.tier.is_self_service(),
        eligible_seats: e.eligible_seats,
        data_migration_min_seats: e.data_migration_min_seats,
        notice: e.notice(),
        reasons: e.reasons,
        seats: t.seats,
        first_purchase: t.first_purchase.to_string(),
        window: t.window.describe(&st.settings),
        members,
        projects,
    }
    .into_response()
}
