//! The role × route matrix (issue 4 "Roles"), generated from the route table: every route of
//! [`ROUTES`] is called by a user holding each of the five roles, by the operator, by a user with no role
//! on the tenant and without a token, and every cell is asserted against
//! [`ferry_core::programme::role::allowed`].
//!
//! A tenant-scoped cell gets a fresh tenant and project, so a call that succeeds (a rename, a deleted
//! endpoint) cannot change what another cell sees. Ids of things the fixture does not create (events,
//! mappings, tickets, users, transactions) are random: the handler then answers 404 or 409, which is
//! fine — the matrix is about 401/403, and the middleware decides those before any handler runs.

// Test helpers unwrap freely: a panic is a failure with its message (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use common::{OPERATOR_TOKEN, On, TestServer};
use ferry_core::programme::role::{Role, allowed};
use ferry_server::routes::{ROUTES, Route, Scope};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

static NAMES: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", NAMES.fetch_add(1, Ordering::Relaxed))
}

/// A minimal body per state-changing route: valid where that is cheap, so allowed callers reach the
/// handler's own checks. Every POST/PUT/PATCH route must be listed (a new route fails here until it is).
fn body_for(r: &Route) -> Option<Value> {
    let start = "2025-03-10T10:00:00Z";
    let b = match (r.method, r.path) {
        ("POST", "/api/v1/tenants") => json!({
            "name": unique("tenant"), "plan": "commercial", "seats": { "paid": 800 },
            "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7",
        }),
        ("PATCH", "/api/v1/tenants/{tenant}") => json!({ "name": unique("renamed") }),
        ("PUT", "/api/v1/tenants/{tenant}/window") => json!({ "window": "24x5" }),
        ("POST", "/api/v1/tenants/{tenant}/members") => {
            json!({ "user": unique("added"), "role": "viewer" })
        }
        ("POST", "/api/v1/tenants/{tenant}/projects") => {
            json!({ "name": "files", "workload": "files" })
        }
        ("PATCH", "/api/v1/tenants/{tenant}/projects/{project}") => json!({ "name": "renamed" }),
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/tasks") => {
            json!({ "task": "guidance" })
        }
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/gates/{gate}/confirm") => json!({}),
        ("PUT", "/api/v1/tenants/{tenant}/projects/{project}/endpoints/{side}") => {
            json!({ "url": "maildir:/srv/mail/other" })
        }
        ("PUT", "/api/v1/tenants/{tenant}/projects/{project}/endpoints/{side}/credential") => {
            json!({ "secret": "matrix-secret" })
        }
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/mappings") => {
            json!({ "csv": "EmailAddress,UserName,Password\nnew@contoso.com,new,pw\n" })
        }
        ("PATCH", "/api/v1/tenants/{tenant}/projects/{project}/mappings/{mapping}") => {
            json!({ "user_root": "Archive" })
        }
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/resume") => json!({}),
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/close") => json!({}),
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/assessments")
        | ("POST", "/api/v1/tenants/{tenant}/projects/{project}/gates/{gate}/check") => json!({}),
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/events") => json!({
            "name": "wave", "kind": "synchronization", "start": start, "mappings": [],
        }),
        ("PATCH", "/api/v1/tenants/{tenant}/projects/{project}/events/{event}") => {
            json!({ "name": "renamed" })
        }
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/cancel")
        | (
            "POST",
            "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/launch",
        )
        | (
            "POST",
            "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/retry",
        )
        | (
            "POST",
            "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/approve",
        ) => {
            json!({})
        }
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/tickets") => json!({
            "mapping": uuid::Uuid::now_v7(), "title": "a message is missing",
        }),
        ("PATCH", "/api/v1/tenants/{tenant}/projects/{project}/tickets/{ticket}") => {
            json!({ "status": "resolved" })
        }
        ("DELETE", _) | ("GET", _) => return None,
        (m, p) => panic!(
            "{m} {p} has no body in role_matrix.rs::body_for: add a minimal body for the new route"
        ),
    };
    Some(b)
}

/// The route's path with its parameters filled.
fn fill(path: &str, tenant: &str, project: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{tenant}" => tenant.to_string(),
            "{project}" => project.to_string(),
            "{event}" | "{mapping}" | "{ticket}" | "{user}" | "{transaction}" => {
                uuid::Uuid::now_v7().to_string()
            }
            "{gate}" => "core_onboarding".to_string(),
            "{side}" => "source".to_string(),
            s if s.starts_with('{') => panic!(
                "{path}: path parameter {s} is unknown to role_matrix.rs::fill: teach it a value"
            ),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn method(r: &Route) -> Method {
    Method::from_bytes(r.method.as_bytes()).expect("a method")
}

/// A tenant with a mail project whose source endpoint is set: what a tenant cell starts from.
struct Fixture {
    tenant: String,
    project: String,
}

async fn fixture(s: &TestServer) -> Fixture {
    let tenant = s.tenant(&unique("Contoso"), 800).await;
    let p = s
        .post(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{tenant}/projects"),
            json!({ "name": "mail", "workload": "mail" }),
        )
        .await
        .ok();
    let project = p["result"]["id"]
        .as_str()
        .expect("a project id")
        .to_string();
    s.put(
        OPERATOR_TOKEN,
        &format!("/api/v1/tenants/{tenant}/projects/{project}/endpoints/source"),
        json!({ "url": "maildir:/srv/mail" }),
    )
    .await
    .ok();
    Fixture { tenant, project }
}

/// Who makes a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Role(Role),
    Operator,
    /// A user with a role on another tenant only.
    Outsider,
    /// No token at all.
    Anonymous,
}

impl Who {
    fn columns() -> Vec<Who> {
        let mut v: Vec<Who> = Role::ALL.into_iter().map(Who::Role).collect();
        v.extend([Who::Operator, Who::Outsider, Who::Anonymous]);
        v
    }

    fn short(self) -> &'static str {
        match self {
            Who::Role(Role::CustomerAdmin) => "cust",
            Who::Role(Role::Partner) => "partner",
            Who::Role(Role::MigrationManager) => "mig-mgr",
            Who::Role(Role::Engineer) => "eng",
            Who::Role(Role::Viewer) => "viewer",
            Who::Operator => "operator",
            Who::Outsider => "outsider",
            Who::Anonymous => "no-token",
        }
    }
}

/// What a cell must answer.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Past the role check: neither 401 nor 403 (nor a 5xx other than 501 for routes still being
    /// written, nor the middleware's "no tenant" 404).
    Passes,
    Status(u16),
}

impl Expect {
    fn holds(self, status: StatusCode, body: &Value) -> bool {
        match self {
            Expect::Status(want) => {
                status.as_u16() == want
                    && body["kind"].is_string()
                    && body["request_id"].is_string()
            }
            Expect::Passes => {
                let s = status.as_u16();
                let hidden_tenant = s == 404
                    && body["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no tenant"));
                s != 401 && s != 403 && (s < 500 || s == 501) && !hidden_tenant
            }
        }
    }
}

struct Cell {
    who: Who,
    expect: Expect,
    status: StatusCode,
    ok: bool,
    body: Value,
}

async fn call(s: &TestServer, token: Option<&str>, r: &Route, path: &str) -> (StatusCode, Value) {
    let mut req = s.http.request(method(r), format!("{}{path}", s.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body_for(r) {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A new user holding `role` on `tenant`; returns the token.
async fn user_with(s: &TestServer, tenant: &str, role: Role) -> String {
    s.member(tenant, &unique(role.as_str()), role.as_str())
        .await
}

async fn tenant_cell(s: &TestServer, r: &Route, who: Who) -> Cell {
    let f = fixture(s).await;
    let (token, expect) = match who {
        Who::Role(role) => (
            Some(user_with(s, &f.tenant, role).await),
            if allowed(role, r.permission) {
                Expect::Passes
            } else {
                Expect::Status(403)
            },
        ),
        Who::Operator => (Some(OPERATOR_TOKEN.to_string()), Expect::Passes),
        Who::Outsider => {
            // The migration manager of another tenant: every permission there, none here.
            let elsewhere = fixture(s).await;
            (
                Some(user_with(s, &elsewhere.tenant, Role::MigrationManager).await),
                Expect::Status(404),
            )
        }
        Who::Anonymous => (None, Expect::Status(401)),
    };
    let path = fill(r.path, &f.tenant, &f.project);
    let (status, body) = call(s, token.as_deref(), r, &path).await;
    Cell {
        who,
        expect,
        status,
        ok: expect.holds(status, &body),
        body,
    }
}

async fn global_cell(s: &TestServer, r: &Route, who: Who) -> Cell {
    let (token, expect) = match who {
        Who::Role(role) => {
            // A user whose only role, on some tenant, is `role`.
            let f = s.tenant(&unique("Global"), 800).await;
            (
                Some(user_with(s, &f, role).await),
                if allowed(role, r.permission) {
                    Expect::Passes
                } else {
                    Expect::Status(403)
                },
            )
        }
        Who::Operator => (Some(OPERATOR_TOKEN.to_string()), Expect::Passes),
        Who::Outsider => {
            // A user with no role anywhere: a role on a tenant that was then taken away.
            let t = s.tenant(&unique("Gone"), 800).await;
            let token = user_with(s, &t, Role::Viewer).await;
            let me = s.get(&token, "/api/v1/me").await.ok();
            let user = me["user"].as_str().expect("a user id").to_string();
            let removed = s
                .call(
                    OPERATOR_TOKEN,
                    Method::DELETE,
                    &format!("/api/v1/tenants/{t}/members/{user}"),
                    None,
                )
                .await;
            removed.ok();
            let expect = if r.permission == ferry_core::programme::Permission::Read {
                Expect::Passes
            } else {
                Expect::Status(403)
            };
            (Some(token), expect)
        }
        Who::Anonymous => (None, Expect::Status(401)),
    };
    let (status, body) = call(s, token.as_deref(), r, r.path).await;
    Cell {
        who,
        expect,
        status,
        ok: expect.holds(status, &body),
        body,
    }
}

async fn public_cell(s: &TestServer, r: &Route, who: Who) -> Cell {
    let token = match who {
        Who::Anonymous => None,
        Who::Operator => Some(OPERATOR_TOKEN.to_string()),
        // Any token, even one the server never issued, is ignored on a public route.
        _ => Some("fy_not_a_token".to_string()),
    };
    let (status, body) = call(s, token.as_deref(), r, r.path).await;
    Cell {
        who,
        expect: Expect::Status(200),
        ok: status == StatusCode::OK,
        status,
        body,
    }
}

fn render(rows: &[(&Route, Vec<Cell>)]) -> String {
    let cols = Who::columns();
    let mut out = String::new();
    let _ = write!(out, "{:<7} {:<86} {:<24}", "method", "path", "permission");
    for c in &cols {
        let _ = write!(out, " {:>8}", c.short());
    }
    out.push('\n');
    for (r, cells) in rows {
        let _ = write!(
            out,
            "{:<7} {:<86} {:<24}",
            r.method,
            r.path,
            r.permission.as_str()
        );
        for c in cells {
            let mark = match (c.ok, c.expect) {
                (true, _) => " ",
                (false, Expect::Passes) => "!",
                (false, Expect::Status(_)) => "≠",
            };
            let _ = write!(out, " {:>7}{mark}", c.status.as_u16());
        }
        out.push('\n');
    }
    out.push_str(
        "(! should have passed the role check; ≠ should have been the refusal shown below)\n",
    );
    for (r, cells) in rows {
        for c in cells.iter().filter(|c| !c.ok) {
            let _ = writeln!(
                out,
                "FAIL {} {} as {}: expected {:?}, got {} {}",
                r.method,
                r.path,
                c.who.short(),
                c.expect,
                c.status,
                c.body
            );
        }
    }
    out
}

on_both_stores!(every_route_answers_every_role_as_the_matrix_says);
async fn every_route_answers_every_role_as_the_matrix_says(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let mut rows: Vec<(&Route, Vec<Cell>)> = Vec::new();
    let mut covered = BTreeSet::new();
    for r in ROUTES {
        let mut cells = Vec::new();
        for who in Who::columns() {
            let cell = match r.scope {
                Scope::Tenant => tenant_cell(&s, r, who).await,
                Scope::Global => global_cell(&s, r, who).await,
                Scope::Public => public_cell(&s, r, who).await,
            };
            cells.push(cell);
        }
        covered.insert((r.method, r.path));
        rows.push((r, cells));
    }
    let failures = rows
        .iter()
        .flat_map(|(_, c)| c.iter())
        .filter(|c| !c.ok)
        .count();
    let cells = rows.iter().map(|(_, c)| c.len()).sum::<usize>();
    assert!(
        failures == 0,
        "{failures} of {cells} cells are wrong:\n{}",
        render(&rows)
    );
    // Every route of the table was called, in every column.
    let all: BTreeSet<_> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(covered, all, "routes the matrix did not call");
    assert_eq!(cells, ROUTES.len() * Who::columns().len());
    // Each role was refused somewhere and passed somewhere: the matrix is not trivially all-yes.
    for role in Role::ALL {
        let col: Vec<&Cell> = rows
            .iter()
            .flat_map(|(_, c)| c.iter())
            .filter(|c| c.who == Who::Role(role))
            .collect();
        assert!(
            col.iter().any(|c| c.status == StatusCode::FORBIDDEN),
            "{role}"
        );
        assert!(
            col.iter().any(|c| matches!(c.expect, Expect::Passes)),
            "{role}"
        );
    }
}

on_both_stores!(a_refusal_names_the_permission_and_the_roles_that_hold_it);
async fn a_refusal_names_the_permission_and_the_roles_that_hold_it(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let f = fixture(&s).await;
    let engineer = user_with(&s, &f.tenant, Role::Engineer).await;
    let e = s
        .post(
            &engineer,
            &format!(
                "/api/v1/tenants/{}/projects/{}/events",
                f.tenant, f.project
            ),
            json!({ "name": "w", "kind": "synchronization", "start": "2025-03-10T10:00:00Z", "mappings": [] }),
        )
        .await
        .err(403);
    assert_eq!(e["kind"], "forbidden");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("the engineer role may not create_event"), "{m}");
    assert!(m.contains("customer-admin, partner"), "{m}");
}

// A project id of another tenant, put under a tenant the caller may use, is not found: ids do not cross
// tenants, whatever the route (checked as the operator, who passes every role check).
on_both_stores!(a_project_of_another_tenant_is_not_found_under_this_one);
async fn a_project_of_another_tenant_is_not_found_under_this_one(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let mut checked = 0;
    for r in ROUTES.iter().filter(|r| r.path.contains("{project}")) {
        let mine = fixture(&s).await;
        let theirs = fixture(&s).await;
        let path = fill(r.path, &mine.tenant, &theirs.project);
        let (status, body) = call(&s, Some(OPERATOR_TOKEN), r, &path).await;
        assert_eq!(
            status.as_u16(),
            404,
            "{} {} with another tenant's project: {body}",
            r.method,
            r.path
        );
        // And the other tenant's project is untouched.
        let p = s
            .get(
                OPERATOR_TOKEN,
                &format!(
                    "/api/v1/tenants/{}/projects/{}",
                    theirs.tenant, theirs.project
                ),
            )
            .await
            .ok();
        assert_eq!(p["name"], "mail", "{} {}", r.method, r.path);
        assert_eq!(p["state"], "draft", "{} {}", r.method, r.path);
        checked += 1;
    }
    assert!(checked > 20, "{checked} routes");
}

// `manage_users` does not let a customer make anyone (itself included) migration-manager or engineer:
// those roles set seats and run passes. The migration-manager and the operator grant every role.
on_both_stores!(a_customer_admin_grants_only_customer_roles_and_viewer);
async fn a_customer_admin_grants_only_customer_roles_and_viewer(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let f = fixture(&s).await;
    let members = format!("/api/v1/tenants/{}/members", f.tenant);
    let admin = user_with(&s, &f.tenant, Role::CustomerAdmin).await;
    let me = s.get(&admin, "/api/v1/me").await.ok();
    let admin_name = me["name"].as_str().unwrap().to_string();
    for role in ["migration-manager", "engineer"] {
        let e = s
            .post(
                &admin,
                &members,
                json!({ "user": unique("eve"), "role": role }),
            )
            .await
            .err(403);
        assert!(e["message"].as_str().unwrap().contains(role), "{e}");
        // Not even for itself.
        s.post(
            &admin,
            &members,
            json!({ "user": admin_name, "role": role }),
        )
        .await
        .err(403);
    }
    for role in ["customer-admin", "partner", "viewer"] {
        s.post(
            &admin,
            &members,
            json!({ "user": unique("pat"), "role": role }),
        )
        .await
        .ok();
    }
    // Nor take an engineer's role away, or change it.
    let engineer = user_with(&s, &f.tenant, Role::Engineer).await;
    let eng = s.get(&engineer, "/api/v1/me").await.ok();
    let (eng_id, eng_name) = (eng["user"].as_str().unwrap(), eng["name"].as_str().unwrap());
    s.post(
        &admin,
        &members,
        json!({ "user": eng_name, "role": "viewer" }),
    )
    .await
    .err(403);
    s.call(&admin, Method::DELETE, &format!("{members}/{eng_id}"), None)
        .await
        .err(403);
    // The migration-manager may.
    let manager = user_with(&s, &f.tenant, Role::MigrationManager).await;
    s.post(
        &manager,
        &members,
        json!({ "user": unique("ed"), "role": "engineer" }),
    )
    .await
    .ok();
    s.call(
        &manager,
        Method::DELETE,
        &format!("{members}/{eng_id}"),
        None,
    )
    .await
    .ok();
    // The tenant's seats are still the migration-manager's to set.
    let t = s
        .get(&admin, &format!("/api/v1/tenants/{}", f.tenant))
        .await
        .ok();
    assert_eq!(t["seats"]["paid"], 800);
}
