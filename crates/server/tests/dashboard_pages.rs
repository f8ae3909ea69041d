//! The dashboard's pages: the role × page matrix generated from the page table
//! ([`ferry_server::web::page::PAGES`]), forged forms, friendly error pages, the vendored scripts; and the
//! stories in a real Chromium (`stories` module).
//!
//! Every page and form action of the table is requested by a user holding each of the five roles, by the
//! operator, by a user with no role on the tenant and without a session. A cell is right when the page's
//! API permission ([`ferry_core::programme::role::allowed`]) says so: allowed → past the check (not 401,
//! not 403, not the hidden-tenant 404), refused → the 403 page naming the roles that may; an outsider
//! gets the 404 page, no session the sign-in page (401). Every form action without its CSRF field, or
//! with the wrong one, is refused 403 — for the operator too.

// Test helpers unwrap freely: a panic is a failure with its message (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use common::web::{Html, WebSession};
use common::{OPERATOR_TOKEN, TestServer};
use ferry_core::programme::role::{Role, allowed};
use ferry_server::Clock;
use ferry_server::routes::Scope;
use ferry_server::web::page::{PAGES, Page};
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

static NAMES: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", NAMES.fetch_add(1, Ordering::Relaxed))
}

/// A tenant with a mail project: what a tenant cell starts from.
struct Fixture {
    tenant: String,
    project: String,
}

async fn fixture(s: &TestServer) -> Fixture {
    let tenant = s.tenant(&unique("Contoso"), 800).await;
    let base = s.project(&tenant, "mail", "mail").await;
    let project = base.rsplit('/').next().unwrap().to_owned();
    Fixture { tenant, project }
}

/// The page's path with its parameters filled (ids the fixture does not create are random).
fn fill(path: &str, f: &Fixture) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{tenant}" => f.tenant.clone(),
            "{project}" => f.project.clone(),
            "{event}" | "{mapping}" | "{ticket}" | "{user}" | "{transaction}" => {
                uuid::Uuid::now_v7().to_string()
            }
            "{gate}" => "core_onboarding".to_owned(),
            "{side}" => "source".to_owned(),
            s if s.starts_with('{') => panic!(
                "{path}: path parameter {s} is unknown to dashboard_pages.rs::fill: teach it a value"
            ),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Minimal form fields per form action (the CSRF field is added by the caller). Every POST page must be
/// listed: a new form action fails here until it is.
fn fields_for(p: &Page) -> Vec<(&'static str, String)> {
    match (p.method, p.path) {
        ("GET", _) | ("POST", "/tenants/{tenant}/projects/{project}/gates/{gate}/confirm") => {
            Vec::new()
        }
        ("POST", "/tenants/{tenant}/projects/{project}/mappings/launch")
        | ("POST", "/tenants/{tenant}/projects/{project}/mappings/retry")
        | ("POST", "/tenants/{tenant}/projects/{project}/mappings/approve")
        | ("POST", "/tenants/{tenant}/projects/{project}/approvals/approve") => vec![(
            "m",
            format!("{}:{}", uuid::Uuid::now_v7(), uuid::Uuid::now_v7()),
        )],
        ("POST", "/tenants/{tenant}/projects/{project}/endpoints/{side}/credential") => {
            vec![("secret", "matrix-secret".to_owned())]
        }
        ("POST", "/tenants/{tenant}/projects/{project}/mappings/import") => vec![(
            "csv",
            "EmailAddress,UserName,Password\nnew@contoso.com,new,pw\n".to_owned(),
        )],
        ("POST", "/tenants/{tenant}/projects/{project}/events") => vec![
            ("name", "Pilot".to_owned()),
            ("kind", "synchronization".to_owned()),
            ("pilot", "on".to_owned()),
            ("start", "2025-03-03T10:00".to_owned()),
        ],
        ("POST", "/tenants/{tenant}/projects/{project}/events/{event}") => {
            vec![("start", "2025-03-03T10:00".to_owned())]
        }
        ("POST", "/tenants/{tenant}/projects/{project}/events/{event}/cancel") => Vec::new(),
        ("POST", "/tenants/{tenant}/projects/{project}/tickets") => vec![
            ("mapping", "nobody@contoso.com".to_owned()),
            ("title", "missing mail".to_owned()),
        ],
        ("POST", "/tenants/{tenant}/projects/{project}/tickets/{ticket}") => {
            vec![("comment", "looked".to_owned())]
        }
        (m, path) => panic!(
            "{m} {path} has no form fields in dashboard_pages.rs::fields_for: add minimal ones"
        ),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Role(Role),
    Operator,
    Outsider,
    NoSession,
}

impl Who {
    fn columns() -> Vec<Who> {
        let mut v: Vec<Who> = Role::ALL.into_iter().map(Who::Role).collect();
        v.extend([Who::Operator, Who::Outsider, Who::NoSession]);
        v
    }
}

#[derive(Clone, Copy, Debug)]
enum Expect {
    Passes,
    Refused,
    Hidden,
    SignIn,
}

impl Expect {
    fn holds(self, h: &Html) -> bool {
        let s = h.status.as_u16();
        let html = h.body.contains("<!doctype html>");
        match self {
            Expect::Passes => {
                let hidden = s == 404 && h.body.contains("no such tenant");
                (html && s != 401 && s != 403 && s < 500 && !hidden) || s == 303
            }
            Expect::Refused => s == 403 && html && h.body.contains("roles that may"),
            Expect::Hidden => s == 404 && html && h.body.contains("no such tenant"),
            Expect::SignIn => s == 401 && html && h.body.contains(r#"id="sign-in""#),
        }
    }
}

async fn request(s: &TestServer, w: &WebSession, p: &Page, path: &str, csrf: &str) -> Html {
    if p.method == "GET" {
        return w.get(s, path).await;
    }
    let fields = fields_for(p);
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf)];
    form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
    w.post(s, path, &form).await
}

async fn cell(s: &TestServer, p: &Page, who: Who) -> (Expect, Html) {
    let f = fixture(s).await;
    let tenant_scoped = p.scope() == Scope::Tenant;
    let (w, expect) = match who {
        Who::Role(role) => {
            let token = s
                .member(&f.tenant, &unique(role.as_str()), role.as_str())
                .await;
            let may = allowed(role, p.permission())
                || (!tenant_scoped
                    && p.permission() == ferry_core::programme::role::Permission::Read);
            (
                WebSession::sign_in(s, &token).await,
                if may { Expect::Passes } else { Expect::Refused },
            )
        }
        Who::Operator => (WebSession::sign_in(s, OPERATOR_TOKEN).await, Expect::Passes),
        Who::Outsider => {
            let elsewhere = fixture(s).await;
            let token = s
                .member(&elsewhere.tenant, &unique("outsider"), "migration-manager")
                .await;
            (
                WebSession::sign_in(s, &token).await,
                if tenant_scoped {
                    Expect::Hidden
                } else {
                    Expect::Passes
                },
            )
        }
        Who::NoSession => (WebSession::anonymous(s).await, Expect::SignIn),
    };
    let path = fill(p.path, &f);
    let h = request(s, &w, p, &path, &w.csrf).await;
    (expect, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_and_form_action_answers_each_role_as_its_api_route_does() {
    let s = TestServer::start().await;
    let mut failures = String::new();
    let mut cells = 0;
    for p in PAGES {
        for who in Who::columns() {
            let (expect, h) = cell(&s, p, who).await;
            cells += 1;
            if !expect.holds(&h) {
                let _ = writeln!(
                    failures,
                    "{} {} as {who:?}: expected {expect:?}, got {} {}",
                    p.method,
                    p.path,
                    h.status,
                    h.body.chars().take(300).collect::<String>()
                );
            }
        }
    }
    assert!(cells >= PAGES.len() * 8, "the matrix is not empty");
    assert!(failures.is_empty(), "cells that do not hold:\n{failures}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_action_without_its_csrf_token_is_refused_even_for_the_operator() {
    let s = TestServer::start().await;
    let f = fixture(&s).await;
    let w = WebSession::sign_in(&s, OPERATOR_TOKEN).await;
    for p in PAGES.iter().filter(|p| p.method == "POST") {
        let path = fill(p.path, &f);
        let fields = fields_for(p);
        let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let h = w.post(&s, &path, &form).await;
        assert_eq!(
            h.status.as_u16(),
            403,
            "{} without csrf: {}",
            p.path,
            h.body
        );
        assert!(h.body.contains("CSRF"), "{}", h.body);
        let wrong = "w".repeat(43);
        let h = request(&s, &w, p, &path, &wrong).await;
        assert_eq!(
            h.status.as_u16(),
            403,
            "{} with a wrong csrf: {}",
            p.path,
            h.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_and_unknown_paths_get_a_friendly_404_page_and_the_api_keeps_its_json() {
    let s = TestServer::start().await;
    let f = fixture(&s).await;
    let w = WebSession::sign_in(&s, OPERATOR_TOKEN).await;
    for path in [
        "/tenants/not-a-uuid".to_owned(),
        format!("/tenants/{}", uuid::Uuid::now_v7()),
        format!("/tenants/{}/nothing-here", f.tenant),
        "/no/such/page".to_owned(),
        "/tenants/%3Cscript%3E".to_owned(),
    ] {
        let h = w.get(&s, &path).await;
        assert_eq!(h.status.as_u16(), 404, "{path}: {}", h.body);
        assert!(h.body.contains("<!doctype html>"), "{path}: a page");
        assert!(!h.body.contains("<script>"), "{path}: escaped");
    }
    let api = w.get(&s, "/api/v1/no-such-route").await;
    assert_eq!(api.status.as_u16(), 404);
    assert!(api.body.contains(r#""kind":"not_found""#), "{}", api.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_load_the_pinned_htmx_files_which_are_served_same_origin() {
    let s = TestServer::start().await;
    let w = WebSession::sign_in(&s, OPERATOR_TOKEN).await;
    let page = w.get(&s, "/tenants").await;
    assert_eq!(page.status.as_u16(), 200, "{}", page.body);
    for a in [
        &ferry_server::web::asset::HTMX,
        &ferry_server::web::asset::HTMX_SSE,
    ] {
        assert!(page.body.contains(a.integrity), "{} in the page", a.path);
        let r = common::web::client()
            .get(format!("{}{}", s.base, a.path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        assert_eq!(r.text().await.unwrap(), a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_page_shows_eligibility_reasons_seats_window_members_and_projects() {
    let s = TestServer::start().await;
    let f = fixture(&s).await;
    let token = s.member(&f.tenant, "vera@contoso.test", "viewer").await;
    let w = WebSession::sign_in(&s, &token).await;
    let h = w.get(&s, &format!("/tenants/{}", f.tenant)).await;
    assert_eq!(h.status.as_u16(), 200, "{}", h.body);
    for want in [
        r#"id="eligibility""#,
        "800 eligible seats",
        r#"id="window""#,
        "vera@contoso.test",
        "viewer",
        &format!("/tenants/{}/projects/{}", f.tenant, f.project),
    ] {
        assert!(h.body.contains(want), "{want} on the tenant page");
    }
    assert!(!h.body.contains(&token), "never the token");
    let list = w.get(&s, "/tenants").await;
    assert!(list.body.contains(&format!("/tenants/{}", f.tenant)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_the_gates_and_credentials_without_any_action_and_a_manager_confirms_a_gate()
{
    let s = TestServer::start().await;
    let f = fixture(&s).await;
    let page = format!("/tenants/{}/projects/{}", f.tenant, f.project);
    s.put(
        OPERATOR_TOKEN,
        &format!("/api/v1{page}/endpoints/source"),
        serde_json::json!({ "url": "imap://127.0.0.1:1143" }),
    )
    .await
    .ok();

    let viewer = s.member(&f.tenant, "vera@contoso.test", "viewer").await;
    let v = WebSession::sign_in(&s, &viewer).await;
    let h = v.get(&s, &page).await;
    assert_eq!(h.status.as_u16(), 200, "{}", h.body);
    assert!(
        h.body.contains(r#"id="gate-core_onboarding""#),
        "{}",
        h.body
    );
    assert!(h.body.contains("none stored"), "{}", h.body);
    for action in [
        "/confirm\"",
        "/credential\"",
        "/mappings/import\"",
        "<button type=\"submit\">Store",
    ] {
        assert!(!h.body.contains(action), "a viewer sees no {action}");
    }
    // The viewer's forged confirm (a genuine CSRF token, the wrong role) is refused and changes nothing.
    let confirm = format!("{page}/gates/core_onboarding/confirm");
    let r = v.post(&s, &confirm, &[("csrf", &v.csrf)]).await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);

    let manager = s
        .member(&f.tenant, "max@contoso.test", "migration-manager")
        .await;
    let m = WebSession::sign_in(&s, &manager).await;
    let h = m.get(&s, &page).await;
    assert!(
        h.body.contains(&format!("action=\"{confirm}\"")),
        "{}",
        h.body
    );
    let r = m.post(&s, &confirm, &[("csrf", &m.csrf)]).await;
    assert_eq!(r.status.as_u16(), 303, "{}", r.body);
    let h = m.get(&s, &format!("{page}?done=gate")).await;
    assert!(h.body.contains("Gate confirmed."), "{}", h.body);
    assert!(h.body.contains("by max@contoso.test"), "{}", h.body);
    let gates = s
        .get(OPERATOR_TOKEN, &format!("/api/v1{page}/gates"))
        .await
        .ok();
    assert!(gates["gates"][0]["confirmed_by"].is_string(), "{gates}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_set_through_the_form_is_stored_with_its_expiry_and_never_shown_back() {
    let s = TestServer::start().await;
    let f = fixture(&s).await;
    let page = format!("/tenants/{}/projects/{}", f.tenant, f.project);
    s.put(
        OPERATOR_TOKEN,
        &format!("/api/v1{page}/endpoints/source"),
        serde_json::json!({ "url": "imap://127.0.0.1:1143" }),
    )
    .await
    .ok();
    let admin = s
        .member(&f.tenant, "ada@contoso.test", "customer-admin")
        .await;
    let w = WebSession::sign_in(&s, &admin).await;
    let secret = "Tr0ub4dor&3-source-admin";
    let r = w
        .post(
            &s,
            &format!("{page}/endpoints/source/credential"),
            &[("csrf", &w.csrf), ("secret", secret)],
        )
        .await;
    assert_eq!(r.status.as_u16(), 303, "{}", r.body);
    let h = w.get(&s, &format!("{page}?done=credential")).await;
    assert!(h.body.contains("stored, expires"), "{}", h.body);
    assert!(!h.body.contains(secret), "the secret is never shown back");
    // A credential for a side without an endpoint: refused on the page, with what to do.
    let r = w
        .post(
            &s,
            &format!("{page}/endpoints/target/credential"),
            &[("csrf", &w.csrf), ("secret", secret)],
        )
        .await;
    assert_eq!(r.status.as_u16(), 404, "{}", r.body);
    assert!(r.body.contains("set it first"), "{}", r.body);
    assert!(!r.body.contains(secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_csv_with_a_bad_row_is_refused_with_its_line_and_a_good_one_is_imported() {
    let s = TestServer::start().await;
    let f = fixture(&s).await;
    let page = format!("/tenants/{}/projects/{}", f.tenant, f.project);
    let w = WebSession::sign_in(&s, OPERATOR_TOKEN).await;
    let bad = "EmailAddress,UserName,Password\nann@contoso.com,ann,pw1\nnot-an-address,bob,pw2\n";
    let h = w
        .post_multipart(
            &s,
            &format!("{page}/mappings/import"),
            &[("csrf", &w.csrf)],
            ("file", "wave1.csv", bad),
        )
        .await;
    assert_eq!(h.status.as_u16(), 400, "{}", h.body);
    assert!(h.body.contains("line 3"), "{}", h.body);
    assert!(
        !h.body.contains("pw1") && !h.body.contains("pw2"),
        "no password on the page"
    );
    let none = s
        .get(OPERATOR_TOKEN, &format!("/api/v1{page}/mappings"))
        .await
        .ok();
    assert_eq!(
        none["mappings"].as_array().map(Vec::len),
        Some(0),
        "all rows or none"
    );

    let good = "EmailAddress,UserName,Password\nann@contoso.com,ann,pw1\nbob@contoso.com,bob,pw2\n";
    let h = w
        .post_multipart(
            &s,
            &format!("{page}/mappings/import"),
            &[("csrf", &w.csrf)],
            ("file", "wave1.csv", good),
        )
        .await;
    assert_eq!(h.status.as_u16(), 303, "{}", h.body);
    let h = w.get(&s, &page).await;
    assert!(h.body.contains("2 mappings"), "{}", h.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mappings_grid_is_paged_and_filtered_on_the_server_and_a_viewer_gets_no_bulk_actions() {
    let s = TestServer::start().await;
    let f = fixture(&s).await;
    let api = format!("/api/v1/tenants/{}/projects/{}", f.tenant, f.project);
    let mut csv = String::from("EmailAddress,UserName,Password\n");
    for i in 0..230 {
        csv.push_str(&format!("user{i:03}@contoso.com,user{i:03},pw{i}\n"));
    }
    s.post(
        OPERATOR_TOKEN,
        &format!("{api}/mappings"),
        serde_json::json!({ "csv": csv }),
    )
    .await
    .ok();
    let grid = format!("/tenants/{}/projects/{}/mappings", f.tenant, f.project);
    let w = WebSession::sign_in(&s, OPERATOR_TOKEN).await;
    let h = w.get(&s, &grid).await;
    assert_eq!(h.status.as_u16(), 200, "{}", h.body);
    assert!(
        h.body.contains("230 of 230 mappings · page 1 of 3"),
        "{}",
        h.body
    );
    assert_eq!(h.body.matches("<tr id=\"mapping-").count(), 100);
    assert!(h.body.contains("user000@contoso.com") && !h.body.contains("user100@contoso.com"));
    assert!(h.body.contains("not scheduled"));
    assert!(!h.body.contains("pw1"), "no password on the grid");
    let h = w.get(&s, &format!("{grid}?state=&q=&page=3")).await;
    assert_eq!(h.body.matches("<tr id=\"mapping-").count(), 30);
    assert!(h.body.contains("user229@contoso.com"));
    let h = w.get(&s, &format!("{grid}?q=user12")).await;
    assert!(h.body.contains("10 of 230 mappings"), "{}", h.body);
    let h = w.get(&s, &format!("{grid}?state=failed")).await;
    assert!(h.body.contains("0 of 230 mappings"), "{}", h.body);
    // Nonsense parameters are ignored, not a 500.
    let h = w
        .get(&s, &format!("{grid}?page=-4&state=%3Cb%3E&q=%3Cscript%3E"))
        .await;
    assert_eq!(h.status.as_u16(), 200, "{}", h.body);
    assert!(!h.body.contains("<script>"), "escaped");

    // The operator sees the bulk actions; a viewer sees none, and a mapping links to its detail page.
    assert!(w.get(&s, &grid).await.body.contains(r#"id="bulk-retry""#));
    let viewer = s.member(&f.tenant, "vic@contoso.test", "viewer").await;
    let v = WebSession::sign_in(&s, &viewer).await;
    let h = v.get(&s, &grid).await;
    assert_eq!(h.status.as_u16(), 200);
    for id in [
        "bulk-launch",
        "bulk-retry",
        "bulk-approve",
        "type=\"checkbox\"",
    ] {
        assert!(!h.body.contains(id), "a viewer sees no {id}");
    }
    let mappings = s.get(OPERATOR_TOKEN, &format!("{api}/mappings")).await.ok();
    let first = mappings["mappings"][0]["id"].as_str().unwrap();
    let d = v.get(&s, &format!("{grid}/{first}")).await;
    assert_eq!(d.status.as_u16(), 200, "{}", d.body);
    assert!(d.body.contains("user000@contoso.com") && d.body.contains("No pass yet"));
    assert_eq!(
        v.get(&s, &format!("{grid}/{}", uuid::Uuid::now_v7()))
            .await
            .status
            .as_u16(),
        404
    );
    assert_eq!(
        v.get(&s, &format!("{grid}/nope")).await.status.as_u16(),
        404
    );
}

/// How many rows the grid's first page shows in `state`.
async fn grid_rows(s: &TestServer, w: &WebSession, grid: &str, state: &str) -> usize {
    let h = w.get(s, &format!("{grid}?state={state}")).await;
    assert_eq!(h.status.as_u16(), 200, "{}", h.body);
    h.body.matches("<tr id=\"mapping-").count()
}

/// The grid's state is the rules' decision now: a mapping joining an event is re-decided (`waiting` for its
/// start), its wait ends when the start comes with no change in the data (`due`), moving the start re-decides
/// it again; the event filter keeps the event's mappings, and the detail page agrees with the grid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mappings_grid_state_follows_the_rules_when_data_change_and_when_a_wait_ends() {
    let s = TestServer::start().await;
    let f = fixture(&s).await;
    let api = format!("/api/v1/tenants/{}/projects/{}", f.tenant, f.project);
    s.post(
        OPERATOR_TOKEN,
        &format!("{api}/mappings"),
        serde_json::json!({ "csv": "EmailAddress,UserName,Password\nana@x,ana,pw1\nbo@x,bo,pw2\n" }),
    )
    .await
    .ok();
    let all = s.get(OPERATOR_TOKEN, &format!("{api}/mappings")).await.ok();
    let ana = all["mappings"][0]["id"].as_str().unwrap().to_owned();
    let grid = format!("/tenants/{}/projects/{}/mappings", f.tenant, f.project);
    let w = WebSession::sign_in(&s, OPERATOR_TOKEN).await;
    let count = |state: &'static str| grid_rows(&s, &w, &grid, state);
    assert_eq!(
        count("not%20scheduled").await,
        2,
        "read once, before any event"
    );

    s.confirm_gates(&api).await;
    let start = s.clock.now() + chrono::TimeDelta::hours(2);
    let e = s
        .post(
            OPERATOR_TOKEN,
            &format!("{api}/events"),
            serde_json::json!({ "name": "Pilot", "kind": "completion", "pilot": true, "start": start, "mappings": [ana] }),
        )
        .await
        .ok();
    let event = e["result"]["id"].as_str().expect("an event").to_owned();
    assert_eq!(count("waiting").await, 1, "ana waits for the start");
    assert_eq!(count("not%20scheduled").await, 1, "bo is in no event");
    let h = w.get(&s, &format!("{grid}?event={event}")).await;
    assert!(h.body.contains("1 of 2 mappings"), "{}", h.body);
    assert!(h.body.contains(&format!("mapping-{ana}")), "{}", h.body);

    // The start comes: nothing in the store changed, the decision did.
    s.advance(chrono::TimeDelta::hours(3));
    assert_eq!(count("waiting").await, 0);
    assert_eq!(count("due").await, 1, "the Final pass is due now");
    let d = w.get(&s, &format!("{grid}/{ana}")).await;
    assert_eq!(d.status.as_u16(), 200, "{}", d.body);
    assert!(d.body.contains("final now (attempt 1)"), "{}", d.body);

    // The start moves later: decided again.
    let later = s.clock.now() + chrono::TimeDelta::hours(5);
    let moved = s
        .patch(
            OPERATOR_TOKEN,
            &format!("{api}/events/{event}"),
            serde_json::json!({ "start": later }),
        )
        .await;
    assert!(moved.status.is_success(), "{:?}", moved.body);
    assert_eq!(count("due").await, 0);
    assert_eq!(count("waiting").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_page_filters_and_pages_on_the_server_names_who_acted_and_shows_a_credential_as_set()
 {
    let s = TestServer::start().await;
    let tenant = s.tenant("Contoso", 800).await;
    let base = s.project(&tenant, "Mail", "mail").await;
    let admin = s
        .member(&tenant, "ada@contoso.test", "customer-admin")
        .await;
    let viewer = s.member(&tenant, "vera@contoso.test", "viewer").await;
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source"),
        serde_json::json!({ "url": "imap://127.0.0.1:1143", "username": "admin" }),
    )
    .await
    .ok();
    let secret = "Audit-Page-Secret-7731";
    s.put(
        &admin,
        &format!("{base}/endpoints/source/credential"),
        serde_json::json!({ "secret": secret }),
    )
    .await
    .ok();
    // More entries than a page holds.
    for i in 0..105 {
        s.patch(
            OPERATOR_TOKEN,
            &base,
            serde_json::json!({ "name": format!("Mail {i}") }),
        )
        .await
        .ok();
    }
    let a = WebSession::sign_in(&s, &admin).await;
    let audit = format!("/tenants/{tenant}/audit");
    let page = a.get(&s, &audit).await;
    assert_eq!(page.status.as_u16(), 200, "{}", page.body);
    assert_eq!(page.body.matches(r#"<tr id="audit-"#).count(), 100);
    // Newest first: the last rename heads the page; the project is named, not shown by its id.
    assert!(page.body.contains("name: Mail 104"), "{}", page.body);
    assert!(page.body.contains("project “Mail 104”"), "{}", page.body);
    let older = page.body.split(r#"id="older""#).next().unwrap();
    let href = older.rsplit(r#"href=""#).next().unwrap();
    let href = href.split('"').next().unwrap().replace("&amp;", "&");
    let rest = a.get(&s, &href).await;
    assert_eq!(rest.status.as_u16(), 200, "{}", rest.body);
    let rest_rows = rest.body.matches(r#"<tr id="audit-"#).count();
    assert!(
        rest_rows >= 7,
        "project, endpoint, credential, 5 renames: {rest_rows}"
    );
    assert!(!rest.body.contains(r#"id="older""#));
    // The credential entry: who set it by name, the credential shown as set, never the secret.
    let cred = a
        .get(
            &s,
            &format!("{audit}?action=credential&actor=ada%40contoso.test"),
        )
        .await;
    assert_eq!(
        cred.body.matches(r#"<tr id="audit-"#).count(),
        1,
        "{}",
        cred.body
    );
    assert!(cred.body.contains("credential.supply"), "{}", cred.body);
    assert!(cred.body.contains("credential: set"), "{}", cred.body);
    assert!(cred.body.contains("ada@contoso.test"), "{}", cred.body);
    for p in [&page, &rest, &cred] {
        assert!(!p.body.contains(secret));
    }
    let none = a.get(&s, &format!("{audit}?actor=scheduler")).await;
    assert!(
        none.body.contains("No entry matches these filters"),
        "{}",
        none.body
    );
    // Bad paging and dates: a 400 page with the API's sentence, not a 500.
    for (q, says) in [
        ("before=-1", "sequence number"),
        ("before=99999999999999999999", "sequence number"),
        ("from=yesterday", "give a day"),
        ("from=2026-12-03&to=2026-12-01", "from is after to"),
        ("status=failed", "takes no status"),
    ] {
        let h = a.get(&s, &format!("{audit}?{q}")).await;
        assert_eq!(h.status.as_u16(), 400, "{q}: {}", h.body);
        assert!(h.body.contains(says), "{q}: {}", h.body);
    }
    let api = s
        .get(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{tenant}/audit?from=2026-13-01"),
        )
        .await
        .err(400);
    assert!(
        api["message"].as_str().unwrap().contains("give a day"),
        "{api}"
    );
    // A viewer may not read the audit log (read_audit), as on the API.
    let v = WebSession::sign_in(&s, &viewer).await;
    let refused = v.get(&s, &audit).await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transactions_page_lists_who_started_what_filtered_by_status_for_a_viewer_without_actions()
 {
    let s = TestServer::start().await;
    let tenant = s.tenant("Contoso", 800).await;
    let base = s.project(&tenant, "Mail", "mail").await;
    let viewer = s.member(&tenant, "vera@contoso.test", "viewer").await;
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source"),
        serde_json::json!({ "url": "imap://127.0.0.1:1143" }),
    )
    .await
    .ok();
    let v = WebSession::sign_in(&s, &viewer).await;
    let txns = format!("/tenants/{tenant}/transactions");
    let page = v.get(&s, &txns).await;
    assert_eq!(page.status.as_u16(), 200, "{}", page.body);
    assert!(page.body.contains("endpoint.set"), "{}", page.body);
    assert!(page.body.contains("project.create"), "{}", page.body);
    assert!(page.body.contains("state-completed"), "{}", page.body);
    // The tenant's sections link it; a viewer sees no form but the filter and sign-out.
    assert!(
        page.body.contains(&format!(r#"href="{txns}""#)),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches(r#"method="post""#).count(),
        1,
        "{}",
        page.body
    );
    let events = v.get(&s, &format!("{txns}?action=endpoint")).await;
    assert!(events.body.contains("endpoint.set") && !events.body.contains("project.create"));
    let failed = v.get(&s, &format!("{txns}?status=failed")).await;
    assert!(
        failed.body.contains("No transaction matches"),
        "{}",
        failed.body
    );
    for (q, says) in [
        ("status=done", "use one of"),
        ("before=not-an-id", "the id of the last entry"),
        ("to=31.12.2026", "give a day"),
    ] {
        let h = v.get(&s, &format!("{txns}?{q}")).await;
        assert_eq!(h.status.as_u16(), 400, "{q}: {}", h.body);
        assert!(h.body.contains(says), "{q}: {}", h.body);
    }
    let api = s
        .get(
            &viewer,
            &format!("/api/v1/tenants/{tenant}/transactions?limit=501"),
        )
        .await
        .err(400);
    assert!(
        api["message"].as_str().unwrap().contains("1 to 500"),
        "{api}"
    );
    let api = s
        .get(
            &viewer,
            &format!("/api/v1/tenants/{tenant}/transactions?action=endpoint"),
        )
        .await
        .ok();
    assert_eq!(api["transactions"].as_array().unwrap().len(), 1, "{api}");
    assert_eq!(api["transactions"][0]["status"], "completed", "{api}");
}

/// The stories in a real headless Chromium, against real Dovecot servers where passes run. Screenshots in
/// `target/screenshots/<story>/` (or `$FERRY_SCREENSHOTS`).
mod stories {
    use super::common::{OPERATOR_TOKEN, TestServer};
    use fantoccini::Locator;
    use ferry_server::{Clock, scheduler};
    use ferry_testkit::browser::Browser;
    use ferry_testkit::{Dovecot, DovecotOptions, corpus};
    use serde_json::json;
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(60);
    const PW: &str = "pw-Dashboard-Story-9";

    async fn browser(test: &str) -> Option<Browser> {
        Browser::start(test).await.expect("the browser starts")
    }

    async fn sign_in(b: &Browser, base: &str, token: &str) {
        b.goto(&format!("{base}/")).await.expect("open /");
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::Id("token"))
            .await
            .expect("the sign-in form")
            .send_keys(token)
            .await
            .expect("type the token");
        b.find(Locator::Css("#sign-in button"))
            .await
            .expect("the sign-in button")
            .click()
            .await
            .expect("submit");
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::Id("who"))
            .await
            .expect("signed in");
    }

    async fn text_of(b: &Browser, css: &str) -> String {
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
            .text()
            .await
            .expect("its text")
    }

    async fn absent(b: &Browser, css: &str) -> bool {
        b.find_all(Locator::Css(css))
            .await
            .expect("find")
            .is_empty()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_engineer_reads_why_a_mailbox_failed_and_retries_it_from_the_grid_after_the_password_is_corrected()
     {
        let Some(b) = browser("engineer_retries_a_failed_mailbox").await else {
            return;
        };
        let s = TestServer::start().await;
        let opts = DovecotOptions {
            special_use: false,
            ..DovecotOptions::default()
        };
        let source = Dovecot::start(opts).unwrap();
        let target = Dovecot::start(opts).unwrap();
        source.add_user("mallory", PW).unwrap();
        target.add_user("mallory@x", PW).unwrap();
        source
            .seed("mallory", "INBOX", &corpus::seed_messages(31, 5, 2_000))
            .unwrap();
        let tenant = s.tenant("Contoso", 800).await;
        let engineer = s.member(&tenant, "eddie@contoso.test", "engineer").await;
        let base = s.project(&tenant, "Mail", "mail").await;
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/source"),
            json!({ "url": format!("{}?starttls=never", source.url()) }),
        )
        .await
        .ok();
        let (admin, admin_pw) = Dovecot::master();
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/target"),
            json!({ "url": format!("{}?starttls=never", target.url()), "username": admin }),
        )
        .await
        .ok();
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/target/credential"),
            json!({ "secret": admin_pw }),
        )
        .await
        .ok();
        let wrong = "not-her-password-42";
        s.post(
            OPERATOR_TOKEN,
            &format!("{base}/mappings"),
            json!({ "csv": format!("EmailAddress,UserName,Password\nmallory@x,mallory,{wrong}\n") }),
        )
        .await
        .ok();
        let all = s
            .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
            .await
            .ok();
        let mallory = all["mappings"][0]["id"].as_str().unwrap().to_owned();
        s.confirm_gates(&base).await;
        let e = s
            .post(
                OPERATOR_TOKEN,
                &format!("{base}/events"),
                json!({ "name": "Pilot", "kind": "completion", "pilot": true, "start": s.clock.now(), "mappings": [mallory] }),
            )
            .await
            .ok();
        assert!(e["result"]["id"].is_string(), "{e}");
        // The Final pass runs for real and its login is refused.
        scheduler::tick(&s.state).await.unwrap();
        scheduler::wait_for_workers(&s.state).await;

        let page = base.trim_start_matches("/api/v1");
        sign_in(&b, &s.base, &engineer).await;
        b.goto(&format!("{}{page}/mappings", s.base)).await.unwrap();
        // One attempt of two failed: the Final pass is due again, its last attempt failed, no grade.
        let row = text_of(&b, &format!("#mapping-{mallory}")).await;
        assert!(
            row.contains("due") && row.contains("final #1 failed"),
            "{row}"
        );
        assert!(!row.contains("Perfect"), "{row}");
        b.screenshot("grid-failed").await.unwrap();
        b.find(Locator::LinkText("mallory@x"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let passes = text_of(&b, "#passes").await.to_lowercase();
        assert!(passes.contains("failed"), "{passes}");
        assert!(
            passes.contains("correct the mapping's password"),
            "{passes}"
        );
        assert!(
            !b.source().await.unwrap().contains(wrong),
            "never the password"
        );
        b.screenshot("detail-failed").await.unwrap();

        // The customer's admin corrects the password (the API; the mapping gets fresh attempts).
        s.patch(
            OPERATOR_TOKEN,
            &format!("{base}/mappings/{mallory}"),
            json!({ "password": PW }),
        )
        .await
        .ok();
        b.goto(&format!("{}{page}/mappings", s.base)).await.unwrap();
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&format!(
                "#mapping-{mallory} input[type=checkbox]"
            )))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.find(Locator::Id("bulk-retry"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let results = text_of(&b, "#results").await;
        assert!(results.contains("mallory@x: retried."), "{results}");
        b.screenshot("retried").await.unwrap();
        scheduler::wait_for_workers(&s.state).await;

        b.goto(&format!("{}{page}/mappings/{mallory}", s.base))
            .await
            .unwrap();
        let passes = text_of(&b, "#passes").await;
        assert!(
            passes.contains("succeeded") && passes.contains("Perfect"),
            "{passes}"
        );
        b.screenshot("detail-succeeded").await.unwrap();
        assert_eq!(target.snapshot("mallory@x").unwrap().message_count(), 5);
        b.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_viewer_sees_no_action_buttons_and_a_csv_with_a_bad_row_shows_its_line_to_the_admin()
    {
        let Some(b) = browser("viewer_and_csv").await else {
            return;
        };
        let s = TestServer::start().await;
        let tenant = s.tenant("Contoso", 800).await;
        let base = s.project(&tenant, "Mail", "mail").await;
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/source"),
            json!({ "url": "imap://127.0.0.1:1143" }),
        )
        .await
        .ok();
        let page = base.trim_start_matches("/api/v1").to_owned();
        let viewer = s.member(&tenant, "vera@contoso.test", "viewer").await;
        let admin = s
            .member(&tenant, "ada@contoso.test", "migration-manager")
            .await;

        sign_in(&b, &s.base, &viewer).await;
        b.goto(&format!("{}{page}", s.base)).await.unwrap();
        text_of(&b, "#gates").await;
        for css in ["#gates button", ".credential-form", "#import-form"] {
            assert!(absent(&b, css).await, "a viewer sees no {css}");
        }
        b.screenshot("viewer-project").await.unwrap();
        // The pinned htmx loaded under the CSP with its integrity hash (a mismatch would block it).
        let htmx = b
            .execute(
                "return typeof window.htmx === 'object' ? htmx.version : null",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(htmx, json!("2.0.11"));
        b.goto(&format!("{}{page}/mappings", s.base)).await.unwrap();
        text_of(&b, "#count").await;
        assert!(absent(&b, ".bulk-actions").await);
        b.screenshot("viewer-grid").await.unwrap();
        b.find(Locator::Css("#sign-out button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();

        sign_in(&b, &s.base, &admin).await;
        b.goto(&format!("{}{page}", s.base)).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("wave1.csv");
        std::fs::write(
            &csv,
            "EmailAddress,UserName,Password\nann@contoso.com,ann,pw1\nnot-an-address,bob,pw2\n",
        )
        .unwrap();
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::Id("file"))
            .await
            .unwrap()
            .send_keys(csv.to_str().unwrap())
            .await
            .unwrap();
        b.find(Locator::Css("#import-form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let error = text_of(&b, "#error").await;
        assert!(error.contains("line 3"), "{error}");
        assert!(!b.source().await.unwrap().contains("pw2"));
        b.screenshot("csv-bad-row").await.unwrap();
        b.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_skipped_message_is_listed_with_its_reason_and_the_customer_admin_approves_it_from_the_grid()
     {
        let s = TestServer::start().await;
        let opts = DovecotOptions {
            special_use: false,
            ..DovecotOptions::default()
        };
        let source = Dovecot::start(opts).unwrap();
        let target = Dovecot::start(opts).unwrap();
        source.add_user("alice", PW).unwrap();
        target.add_user("alice@x", PW).unwrap();
        source
            .seed("alice", "INBOX", &corpus::seed_messages(40, 59, 2_000))
            .unwrap();
        source
            .seed(
                "alice",
                "INBOX",
                &[ferry_testkit::SeedMessage::new(corpus::message(
                    41, 0, 40_000,
                ))],
            )
            .unwrap();
        let tenant = s.tenant("Contoso", 800).await;
        let admin = s
            .member(&tenant, "ada@contoso.test", "customer-admin")
            .await;
        let engineer = s.member(&tenant, "eddie@contoso.test", "engineer").await;
        let base = s.project(&tenant, "Mail", "mail").await;
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/source"),
            json!({ "url": format!("{}?starttls=never", source.url()) }),
        )
        .await
        .ok();
        let (master, master_pw) = Dovecot::master();
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/target"),
            json!({ "url": format!("{}?starttls=never", target.url()), "username": master, "options": { "max_message_size": "20KB" } }),
        )
        .await
        .ok();
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/target/credential"),
            json!({ "secret": master_pw }),
        )
        .await
        .ok();
        s.post(
            OPERATOR_TOKEN,
            &format!("{base}/mappings"),
            json!({ "csv": format!("EmailAddress,UserName,Password\nalice@x,alice,{PW}\n") }),
        )
        .await
        .ok();
        let all = s
            .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
            .await
            .ok();
        let alice = all["mappings"][0]["id"].as_str().unwrap().to_owned();
        s.confirm_gates(&base).await;
        let e = s
            .post(
                OPERATOR_TOKEN,
                &format!("{base}/events"),
                json!({ "name": "Pilot", "kind": "completion", "pilot": true, "start": s.clock.now(), "mappings": [alice] }),
            )
            .await
            .ok();
        let event = e["result"]["id"].as_str().unwrap().to_owned();
        scheduler::settle(&s.state).await.unwrap();

        let page = base.trim_start_matches("/api/v1").to_owned();
        let w = super::WebSession::sign_in(&s, &engineer).await;
        let grid = w.get(&s, &format!("{page}/mappings")).await;
        assert!(grid.body.contains("Investigate"), "{}", grid.body);
        // An engineer may not approve: no button.
        assert!(!grid.body.contains(r#"id="bulk-approve""#), "{}", grid.body);
        let detail = w.get(&s, &format!("{page}/mappings/{alice}")).await;
        assert_eq!(detail.status.as_u16(), 200, "{}", detail.body);
        let items = &detail.body[detail.body.find(r#"id="items""#).unwrap()..];
        assert_eq!(
            items.matches(r#"class="item-skipped""#).count(),
            1,
            "{items}"
        );
        assert!(items.contains("INBOX"), "{items}");
        assert!(items.contains("approves the skipped items"), "{items}");

        let a = super::WebSession::sign_in(&s, &admin).await;
        let grid = a.get(&s, &format!("{page}/mappings")).await;
        assert!(grid.body.contains(r#"id="bulk-approve""#), "{}", grid.body);
        let key = format!("{event}:{alice}");
        let r = a
            .post(
                &s,
                &format!("{page}/mappings/approve"),
                &[("csrf", &a.csrf), ("m", &key)],
            )
            .await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        assert!(r.body.contains("alice@x: approved."), "{}", r.body);
        let report = s
            .get(OPERATOR_TOKEN, &format!("{base}/events/{event}/report"))
            .await
            .ok();
        assert_eq!(report["mappings"][0]["approved"], true, "{report}");
    }

    async fn click(b: &Browser, css: &str) {
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn type_into(b: &Browser, css: &str, text: &str) {
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Approvals, tickets and the audit log in a real browser: the customer-admin approves a mailbox's
    /// skipped message on the Approvals page, and once the event completed opens a ticket from the
    /// mapping's page; the engineer (who may update tickets, not open them) sees it, comments and resolves
    /// it; a viewer sees the ticket and the approvals without any form, and a forged POST is refused; the
    /// customer-admin reads it all in the audit log.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_admin_approves_and_opens_a_ticket_from_a_mapping_an_engineer_resolves_it_and_a_viewer_only_reads()
     {
        let Some(b) = browser("approvals_and_tickets").await else {
            return;
        };
        let s = TestServer::start().await;
        let opts = DovecotOptions {
            special_use: false,
            ..DovecotOptions::default()
        };
        let source = Dovecot::start(opts).unwrap();
        let target = Dovecot::start(opts).unwrap();
        source.add_user("alice", PW).unwrap();
        target.add_user("alice@x", PW).unwrap();
        source
            .seed("alice", "INBOX", &corpus::seed_messages(40, 59, 2_000))
            .unwrap();
        // One message over the target's size limit: skipped, so the mailbox is graded Investigate.
        source
            .seed(
                "alice",
                "INBOX",
                &[ferry_testkit::SeedMessage::new(corpus::message(
                    41, 0, 40_000,
                ))],
            )
            .unwrap();
        let tenant = s.tenant("Contoso", 800).await;
        let admin = s
            .member(&tenant, "ada@contoso.test", "customer-admin")
            .await;
        let engineer = s.member(&tenant, "eddie@contoso.test", "engineer").await;
        let viewer = s.member(&tenant, "vera@contoso.test", "viewer").await;
        let base = s.project(&tenant, "Mail", "mail").await;
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/source"),
            json!({ "url": format!("{}?starttls=never", source.url()) }),
        )
        .await
        .ok();
        let (master, master_pw) = Dovecot::master();
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/target"),
            json!({ "url": format!("{}?starttls=never", target.url()), "username": master, "options": { "max_message_size": "20KB" } }),
        )
        .await
        .ok();
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/target/credential"),
            json!({ "secret": master_pw }),
        )
        .await
        .ok();
        s.post(
            OPERATOR_TOKEN,
            &format!("{base}/mappings"),
            json!({ "csv": format!("EmailAddress,UserName,Password\nalice@x,alice,{PW}\n") }),
        )
        .await
        .ok();
        let all = s
            .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
            .await
            .ok();
        let alice = all["mappings"][0]["id"].as_str().unwrap().to_owned();
        s.confirm_gates(&base).await;
        let e = s
            .post(
                OPERATOR_TOKEN,
                &format!("{base}/events"),
                json!({ "name": "Pilot", "kind": "completion", "pilot": true, "start": s.clock.now(), "mappings": [alice] }),
            )
            .await
            .ok();
        let event = e["result"]["id"].as_str().unwrap().to_owned();
        scheduler::settle(&s.state).await.unwrap();
        let page = base.trim_start_matches("/api/v1").to_owned();

        // The customer-admin approves the skipped message on the Approvals page.
        sign_in(&b, &s.base, &admin).await;
        b.goto(&format!("{}{page}/approvals", s.base))
            .await
            .unwrap();
        let waiting = text_of(&b, &format!("#waiting-{alice}")).await;
        assert!(
            waiting.contains("alice@x") && waiting.contains("Pilot"),
            "{waiting}"
        );
        b.screenshot("approvals-waiting").await.unwrap();
        click(&b, "#approve").await;
        let results = text_of(&b, "#results").await;
        assert!(results.contains("alice@x: approved."), "{results}");
        let approved = text_of(&b, &format!("#approved-{alice}")).await;
        assert!(approved.contains("ada@contoso.test"), "{approved}");
        scheduler::settle(&s.state).await.unwrap();
        let report = s
            .get(OPERATOR_TOKEN, &format!("{base}/events/{event}/report"))
            .await
            .ok();
        assert_eq!(report["event"]["state"], "completed", "{report}");

        // …and opens a ticket from the mapping's page.
        b.goto(&format!("{}{page}/mappings/{alice}", s.base))
            .await
            .unwrap();
        click(&b, "#mapping-tickets").await;
        let prefilled = b
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Id("ticket-mapping"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(prefilled.as_deref(), Some("alice@x"));
        type_into(&b, "#ticket-title", "The big message is not in the mailbox").await;
        type_into(
            &b,
            "#ticket-body",
            "Alice misses the 40 KB newsletter of Monday.",
        )
        .await;
        click(&b, "#open-ticket").await;
        let done = text_of(&b, "#done").await;
        assert_eq!(done, "Ticket opened.");
        let url = b.current_url().await.unwrap();
        let ticket = url.path().rsplit('/').next().unwrap().to_owned();
        assert_eq!(text_of(&b, "#ticket-state").await, "open");
        b.screenshot("ticket-opened").await.unwrap();
        click(&b, "#sign-out button").await;

        // The engineer finds it on the project's Tickets page, comments and resolves it.
        sign_in(&b, &s.base, &engineer).await;
        b.goto(&format!("{}{page}", s.base)).await.unwrap();
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::LinkText("Tickets"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let row = text_of(&b, &format!("#ticket-{ticket}")).await;
        assert!(
            row.contains("alice@x") && row.contains("ada@contoso.test") && row.contains("open"),
            "{row}"
        );
        assert!(
            absent(&b, "#open-form").await,
            "an engineer may not open tickets"
        );
        b.find(Locator::LinkText("The big message is not in the mailbox"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        type_into(
            &b,
            "#comment",
            "Exchange refuses messages over the limit: sent to Alice as an attachment.",
        )
        .await;
        click(&b, "#resolve-ticket").await;
        assert_eq!(text_of(&b, "#done").await, "Ticket resolved.");
        assert_eq!(text_of(&b, "#ticket-state").await, "resolved");
        let history = text_of(&b, "#history").await;
        assert!(
            history.contains("ada@contoso.test")
                && history.contains("eddie@contoso.test")
                && history.contains("sent to Alice as an attachment"),
            "{history}"
        );
        b.screenshot("ticket-resolved").await.unwrap();
        click(&b, "#sign-out button").await;

        // The viewer reads the ticket and the approvals without a form.
        sign_in(&b, &s.base, &viewer).await;
        b.goto(&format!("{}{page}/tickets/{ticket}", s.base))
            .await
            .unwrap();
        text_of(&b, "#history").await;
        assert!(absent(&b, "#update-form").await);
        b.goto(&format!("{}{page}/tickets", s.base)).await.unwrap();
        text_of(&b, &format!("#ticket-{ticket}")).await;
        assert!(absent(&b, "#open-form").await);
        b.screenshot("viewer-tickets").await.unwrap();
        b.goto(&format!("{}/tenants/{tenant}/audit", s.base))
            .await
            .unwrap();
        assert!(
            b.source().await.unwrap().contains("roles that may"),
            "a viewer may not read the audit log"
        );
        b.goto(&format!("{}{page}/tickets", s.base)).await.unwrap();
        click(&b, "#sign-out button").await;
        // A forged POST: the viewer's own session with its CSRF token is refused by role, a form without
        // the token is refused before the session is looked at.
        let v = super::WebSession::sign_in(&s, &viewer).await;
        let update = format!("{page}/tickets/{ticket}");
        let r = v
            .post(&s, &update, &[("csrf", &v.csrf), ("status", "open")])
            .await;
        assert_eq!(r.status.as_u16(), 403, "{}", r.body);
        assert!(r.body.contains("roles that may"), "{}", r.body);
        let r = v.post(&s, &update, &[("status", "open")]).await;
        assert_eq!(r.status.as_u16(), 403, "{}", r.body);
        assert!(r.body.contains("CSRF"), "{}", r.body);
        let t = s
            .get(OPERATOR_TOKEN, &format!("{base}/tickets?status=resolved"))
            .await
            .ok();
        assert_eq!(t["tickets"].as_array().unwrap().len(), 1, "{t}");

        // The customer-admin reads the day in the audit log.
        sign_in(&b, &s.base, &admin).await;
        b.goto(&format!("{}/tenants/{tenant}/audit?action=ticket", s.base))
            .await
            .unwrap();
        let log = text_of(&b, "#audit").await;
        assert!(
            log.contains("ticket.report")
                && log.contains("ticket.update")
                && log.contains("eddie@contoso.test"),
            "{log}"
        );
        b.screenshot("audit-tickets").await.unwrap();
        b.close().await.unwrap();
    }
}
