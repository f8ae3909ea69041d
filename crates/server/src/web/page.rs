//! The page table: every dashboard page and form action, with the API route whose permission it has.
//!
//! A page does not declare a permission of its own: it names the API route it shows or whose change it
//! makes (`=> METHOD "/api/v1/…"`), and takes that route's scope and permission from
//! [`ROUTES`](crate::routes::ROUTES) at compile time (a page naming a route that does not exist does not
//! compile). So a viewer may read on the dashboard exactly what it may read on the API, and a form
//! action is allowed to exactly the roles the API allows the same change. The page router, the check
//! before every page ([`authorize`]), the navigation's links, the action buttons a role sees
//! ([`may`]) and the role × page test (`tests/dashboard_pages.rs`) are all generated from [`PAGES`].
//!
//! Before a page's handler runs, [`authorize`]:
//! 1. on a POST, refuses (403) a form whose `csrf` field does not match the CSRF cookie (urlencoded and
//!    multipart forms alike), before looking at the session, so a forged form learns nothing;
//! 2. opens the session; none (or expired) → the sign-in page, 401;
//! 3. decides with the API's own check ([`crate::auth::check`]): a tenant the user has no role on → 404
//!    page (it learns nothing about the tenant), a role without the permission → 403 page naming the
//!    roles that may;
//! 4. hands the handler a [`Caller`] (as the API's handlers get it) and a [`Signed`] (name, CSRF token).

use super::{error_page, forged, session};
use crate::AppState;
use crate::auth::{Caller, token_hash};
use crate::routes::{ROUTES, Route, Scope};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequest, MatchedPath, Multipart, Request, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use ferry_core::programme::role::{Permission, allowed};
use serde::Deserialize;
use std::str::FromStr;

/// One page or form action of the dashboard.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// `GET` (a page) or `POST` (a form action).
    pub method: &'static str,
    /// The path pattern (axum syntax), e.g. `/tenants/{tenant}`.
    pub path: &'static str,
    /// The API route this page shows or whose change this action makes: its scope and permission apply.
    pub api: Route,
    /// One line for the docs.
    pub summary: &'static str,
}

impl Page {
    /// The permission the page needs: the API route's.
    pub const fn permission(&self) -> Permission {
        self.api.permission
    }

    /// Where the permission is looked up: the API route's scope.
    pub const fn scope(&self) -> Scope {
        self.api.scope
    }
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The API route `method path` (at compile time; a route that does not exist stops the build).
pub const fn api_route(method: &str, path: &str) -> Route {
    let mut i = 0;
    while i < ROUTES.len() {
        let r = ROUTES[i];
        if same(r.method, method) && same(r.path, path) {
            return r;
        }
        i += 1;
    }
    panic!("a dashboard page names an API route that is not in routes::ROUTES")
}

macro_rules! pages {
    ($( $name:ident : $method:ident $path:literal => $api_method:ident $api_path:literal, $handler:path, $summary:literal; )*) => {
        $(
            #[doc = $summary]
            pub const $name: Page = Page {
                method: stringify!($method),
                path: $path,
                api: api_route(stringify!($api_method), $api_path),
                summary: $summary,
            };
        )*

        /// Every page and form action of the dashboard (besides sign-in, sign-out and the static files).
        pub const PAGES: &[Page] = &[ $( $name, )* ];

        fn bind(mut router: Router<AppState>) -> Router<AppState> {
            $( router = router.route($path, pages!(@route $method $handler)); )*
            router
        }
    };
    (@route GET $h:path) => { get($h) as MethodRouter<AppState> };
    (@route POST $h:path) => { axum::routing::post($h) as MethodRouter<AppState> };
}

pages! {
    TENANTS: GET "/tenants" => GET "/api/v1/tenants", super::tenant::list, "Tenants the user has a role on (all for the operator)";
    TENANT: GET "/tenants/{tenant}" => GET "/api/v1/tenants/{tenant}", super::tenant::show, "A tenant: eligibility with its reasons, seats, window, members and roles, projects";
    PROJECT: GET "/tenants/{tenant}/projects/{project}" => GET "/api/v1/tenants/{tenant}/projects/{project}", super::project::show, "A project: lifecycle state, gates, endpoints and their credentials, mapping import";
    CONFIRM_GATE: POST "/tenants/{tenant}/projects/{project}/gates/{gate}/confirm" => POST "/api/v1/tenants/{tenant}/projects/{project}/gates/{gate}/confirm", super::project::confirm_gate, "Confirm a gate";
    SET_CREDENTIAL: POST "/tenants/{tenant}/projects/{project}/endpoints/{side}/credential" => PUT "/api/v1/tenants/{tenant}/projects/{project}/endpoints/{side}/credential", super::project::set_credential, "Store an endpoint's credential (never shown back)";
    IMPORT_MAPPINGS: POST "/tenants/{tenant}/projects/{project}/mappings/import" => POST "/api/v1/tenants/{tenant}/projects/{project}/mappings", super::project::import, "Import a mapping CSV (multipart upload); a bad row is named by its line";
    MAPPINGS: GET "/tenants/{tenant}/projects/{project}/mappings" => GET "/api/v1/tenants/{tenant}/projects/{project}/mappings", super::mapping::grid, "The mappings grid: state, last pass, counts, bytes, grade, next pass due; paged and filtered";
    LAUNCH_MAPPINGS: POST "/tenants/{tenant}/projects/{project}/mappings/launch" => POST "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/launch", super::mapping::launch, "Launch the selected mappings' next pass now";
    RETRY_MAPPINGS: POST "/tenants/{tenant}/projects/{project}/mappings/retry" => POST "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/retry", super::mapping::retry, "Retry the selected mappings' failed pass";
    APPROVE_MAPPINGS: POST "/tenants/{tenant}/projects/{project}/mappings/approve" => POST "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/approve", super::mapping::approve, "Approve the selected mappings' skipped items";
    MAPPING: GET "/tenants/{tenant}/projects/{project}/mappings/{mapping}" => GET "/api/v1/tenants/{tenant}/projects/{project}/mappings", super::mapping::detail, "A mapping: its pass timeline, failures with what to do, per-item downloads";
    EVENT_ITEMS: GET "/tenants/{tenant}/projects/{project}/events/{event}/items" => GET "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/items", super::mapping::items, "Per-item results of an event as CSV or JSON (the API's download)";
    EVENTS: GET "/tenants/{tenant}/projects/{project}/events" => GET "/api/v1/tenants/{tenant}/projects/{project}/events", super::events::list, "The project's events, a month calendar of their windows, and the schedule form";
    EVENT_CREATE: POST "/tenants/{tenant}/projects/{project}/events" => POST "/api/v1/tenants/{tenant}/projects/{project}/events", super::events::create, "Schedule an event (refusals of the gates and the schedule policy shown on the form)";
    EVENT: GET "/tenants/{tenant}/projects/{project}/events/{event}" => GET "/api/v1/tenants/{tenant}/projects/{project}/events/{event}", super::events::detail, "An event, its mappings, the change and cancel forms";
    EVENT_CHANGE: POST "/tenants/{tenant}/projects/{project}/events/{event}" => PATCH "/api/v1/tenants/{tenant}/projects/{project}/events/{event}", super::events::change, "Change an event's name, start, pilot flag or mappings";
    EVENT_CANCEL: POST "/tenants/{tenant}/projects/{project}/events/{event}/cancel" => POST "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/cancel", super::events::cancel, "Cancel an event";
    EVENT_LIVE: GET "/tenants/{tenant}/projects/{project}/events/{event}/live" => GET "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/report", super::live::page, "An event's live view: running, queued, done, failed, throughput, time left";
    EVENT_REPORT: GET "/tenants/{tenant}/projects/{project}/events/{event}/report" => GET "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/report", super::report::event, "An event's printable report (the final report once completed): figures, grade distribution and throughput charts, every mapping";
    PROJECT_REPORT: GET "/tenants/{tenant}/projects/{project}/report" => GET "/api/v1/tenants/{tenant}/projects/{project}/events", super::report::project, "The project's printable report: its events with their figures, the grades its mappings reached, the self-service notice";
    ASSESSMENT: GET "/tenants/{tenant}/projects/{project}/assessment" => GET "/api/v1/tenants/{tenant}/projects/{project}/assessments/latest", super::report_assessment::page, "The latest assessment: findings per mapping with severity and what to do, paged";
    EVENT_LIVE_STREAM: GET "/tenants/{tenant}/projects/{project}/events/{event}/live/stream" => GET "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/report", super::live::stream, "The live view's updates as server-sent events";
    AUDIT: GET "/tenants/{tenant}/audit" => GET "/api/v1/tenants/{tenant}/audit", super::audit::page, "The audit log: who changed what and when, before and after (never a secret); filtered by who, action and days, paged";
    TRANSACTIONS: GET "/tenants/{tenant}/transactions" => GET "/api/v1/tenants/{tenant}/transactions", super::transactions::page, "The tenant's transactions and where each stands; filtered by who, action, status and days, paged";
    TICKETS: GET "/tenants/{tenant}/projects/{project}/tickets" => GET "/api/v1/tenants/{tenant}/projects/{project}/tickets", super::tickets::list, "The project's post-migration tickets, filtered by state and mapping, paged; the form to open one";
    OPEN_TICKET: POST "/tenants/{tenant}/projects/{project}/tickets" => POST "/api/v1/tenants/{tenant}/projects/{project}/tickets", super::tickets::open, "Open a ticket against a mapping (within the ticket window after its event completed)";
    TICKET: GET "/tenants/{tenant}/projects/{project}/tickets/{ticket}" => GET "/api/v1/tenants/{tenant}/projects/{project}/tickets", super::tickets::show, "A ticket with its history (report and comments)";
    UPDATE_TICKET: POST "/tenants/{tenant}/projects/{project}/tickets/{ticket}" => PATCH "/api/v1/tenants/{tenant}/projects/{project}/tickets/{ticket}", super::tickets::update, "Comment on, resolve or reopen a ticket";
    APPROVALS: GET "/tenants/{tenant}/projects/{project}/approvals" => GET "/api/v1/tenants/{tenant}/projects/{project}/gates", super::approvals::page, "What waits for approval: open gates, and mappings graded Investigate whose skipped items nobody approved yet";
    APPROVE: POST "/tenants/{tenant}/projects/{project}/approvals/approve" => POST "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/approve", super::approvals::approve, "Approve the selected mappings' skipped items";
}

/// The page for a request's method and matched path pattern (HEAD is answered as GET).
pub fn find_page(method: &str, pattern: &str) -> Option<&'static Page> {
    let method = if method == "HEAD" { "GET" } else { method };
    PAGES
        .iter()
        .find(|p| p.method == method && p.path == pattern)
}

/// Whether `caller` (as [`authorize`] made it for the current tenant) may use `page`: what decides
/// whether a link or an action button is shown. The server checks again when the form is sent.
pub fn may(caller: &Caller, page: &Page) -> bool {
    caller.operator
        || (page.permission() == Permission::Read && page.scope() == Scope::Global)
        || caller.role.is_some_and(|r| allowed(r, page.permission()))
}

/// The signed-in user of a page request and the CSRF token its forms carry.
#[derive(Clone, Debug)]
pub struct Signed {
    pub name: String,
    pub operator: bool,
    pub csrf: String,
}

/// The tenant id as written in a page path (`/tenants/{tenant}/…`).
pub fn tenant_in_page_path(path: &str) -> Option<&str> {
    path.strip_prefix("/tenants/")
        .map(|rest| rest.split('/').next().unwrap_or(rest))
}

/// The page router: every page of [`PAGES`] behind [`authorize`].
pub fn router(state: AppState) -> Router<AppState> {
    bind(Router::new()).route_layer(from_fn_with_state(state, authorize))
}

/// The largest form a page action takes (a mapping CSV is the largest).
pub const FORM_LIMIT: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// The `csrf` field of a urlencoded or multipart form, and the request rebuilt for the handler.
async fn csrf_field(req: Request) -> Result<(String, Request), Response> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "This form is larger than {} MB: split the file and send the parts one by one.",
                FORM_LIMIT / (1024 * 1024)
            ),
        )
    })?;
    let content_type = parts.headers.get(CONTENT_TYPE).cloned();
    let copy = || {
        let mut r = Request::new(Body::from(bytes.clone()));
        // A POST: axum's `Form` reads a GET's query string, a POST's body.
        *r.method_mut() = axum::http::Method::POST;
        if let Some(ct) = &content_type {
            r.headers_mut().insert(CONTENT_TYPE, ct.clone());
        }
        r
    };
    let multipart = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let field = if multipart {
        let mut field = String::new();
        if let Ok(mut m) = Multipart::from_request(copy(), &()).await {
            while let Ok(Some(f)) = m.next_field().await {
                if f.name() == Some("csrf") {
                    field = f.text().await.unwrap_or_default();
                    break;
                }
            }
        }
        field
    } else {
        axum::Form::<CsrfField>::from_request(copy(), &())
            .await
            .map(|f| f.0.csrf)
            .unwrap_or_default()
    };
    Ok((field, Request::from_parts(parts, Body::from(bytes))))
}

/// The check before every page and form action (see the module doc).
pub async fn authorize(
    State(st): State<AppState>,
    matched: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let Some(page) = find_page(req.method().as_str(), matched.as_str()) else {
        return error_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "This page does not take that kind of request.",
        );
    };
    let (csrf, set_csrf) = match session::csrf(req.headers()) {
        Ok(c) => c,
        Err(e) => return super::internal(e),
    };
    let mut req = req;
    if page.method == "POST" {
        let (field, rebuilt) = match csrf_field(req).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
        if !session::csrf_ok(rebuilt.headers(), &field) {
            return forged();
        }
        req = rebuilt;
    }
    let now = st.clock.now();
    let user = match session::token(&st, req.headers(), now) {
        Some(token) => match st.programme.user_by_token(&token_hash(&token)).await {
            Ok(u) => u,
            Err(e) => return super::internal(e),
        },
        None => None,
    };
    let Some(user) = user else {
        return with_cookie(super::signed_out(csrf), set_csrf);
    };
    let caller = Caller {
        user: user.id,
        name: user.name.clone(),
        operator: user.operator,
        role: None,
        tenant: None,
    };
    let path = req.uri().path().to_owned();
    let caller = match crate::auth::check(
        &st,
        caller,
        page.scope(),
        page.permission(),
        tenant_in_page_path(&path),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return with_cookie(super::api_error_page(e), set_csrf),
    };
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(Signed {
        name: user.name,
        operator: user.operator,
        csrf,
    });
    with_cookie(next.run(req).await, set_csrf)
}

fn with_cookie(mut resp: Response, set: Option<String>) -> Response {
    if let Some(c) = set
        && let Ok(v) = c.parse()
    {
        resp.headers_mut().append(SET_COOKIE, v);
    }
    resp.into_response()
}

/// Parses an id from a page path; a malformed one is not found (as a missing one is).
pub fn path_id<T: FromStr>(raw: &str, what: &str) -> crate::ApiResult<T> {
    T::from_str(raw).map_err(|_| crate::ApiError::not_found(format!("There is no {what} {raw:?}.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_page_is_listed_once_and_tenant_pages_name_the_tenant_first() {
        let mut seen = HashSet::new();
        for p in PAGES {
            assert!(
                seen.insert((p.method, p.path)),
                "{} {} twice",
                p.method,
                p.path
            );
            assert!(matches!(p.method, "GET" | "POST"), "{}", p.path);
            assert!(!p.path.starts_with("/api/"), "{}", p.path);
            if p.scope() == Scope::Tenant {
                assert!(p.path.starts_with("/tenants/{tenant}"), "{}", p.path);
            }
            // A page shows what the API reads; a form action makes a change the API makes.
            assert_eq!(p.method == "GET", !p.api.changes, "{} {}", p.method, p.path);
        }
    }

    #[test]
    fn a_page_has_exactly_its_api_routes_permission() {
        for p in PAGES {
            let r = crate::routes::find_route(p.api.method, p.api.path).expect("the API route");
            assert_eq!(p.permission(), r.permission, "{}", p.path);
            assert_eq!(p.scope(), r.scope, "{}", p.path);
        }
    }
}
