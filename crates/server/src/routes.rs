//! The route table: every route of the API with its permission. The router, the authorisation
//! middleware, the OpenAPI document and the role × route test are generated from this one list.

use crate::AppState;
use crate::api::{
    assessments, endpoints, events, mapping_import, mappings, misc, projects, runs, tenants,
    tickets,
};
use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use ferry_core::programme::role::Permission;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// No token needed (health, metrics, the OpenAPI document).
    Public,
    /// A token; the permission is checked against the caller's roles on any tenant (or operator).
    Global,
    /// Under `/api/v1/tenants/{tenant}`: the caller's role on that tenant decides.
    Tenant,
}

/// One route.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub scope: Scope,
    pub permission: Permission,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// Whether the route changes state (it then returns a transaction and writes an audit entry).
    pub changes: bool,
}

macro_rules! routes {
    ($( $method:ident $path:literal $scope:ident $perm:ident $handler:path, $summary:literal; )*) => {
        /// Every route, in the order of the OpenAPI document.
        pub const ROUTES: &[Route] = &[
            $( Route {
                method: routes!(@name $method),
                path: $path,
                scope: Scope::$scope,
                permission: Permission::$perm,
                summary: $summary,
                changes: routes!(@changes $method),
            }, )*
        ];

        fn bind(mut router: Router<AppState>) -> Router<AppState> {
            $( router = router.route($path, routes!(@route $method $handler)); )*
            router
        }
    };
    (@name GET) => { "GET" };
    (@name POST) => { "POST" };
    (@name PUT) => { "PUT" };
    (@name PATCH) => { "PATCH" };
    (@name DELETE) => { "DELETE" };
    (@changes GET) => { false };
    (@changes $m:ident) => { true };
    (@route GET $h:path) => { get($h) as MethodRouter<AppState> };
    (@route POST $h:path) => { post($h) as MethodRouter<AppState> };
    (@route PUT $h:path) => { put($h) as MethodRouter<AppState> };
    (@route PATCH $h:path) => { patch($h) as MethodRouter<AppState> };
    (@route DELETE $h:path) => { delete($h) as MethodRouter<AppState> };
}

routes! {
    GET "/healthz" Public Read misc::healthz, "Liveness: 200 when the server and its store answer";
    GET "/metrics" Public Read misc::metrics, "Prometheus metrics";
    GET "/api/v1/openapi.json" Public Read misc::openapi, "This API's OpenAPI 3.1 document";
    GET "/api/v1/me" Global Read misc::me, "The caller: user, operator flag and roles per tenant";

    GET "/api/v1/tenants" Global Read tenants::list, "Tenants the caller has a role on (all for the operator)";
    POST "/api/v1/tenants" Global CreateTenant tenants::create, "Create a tenant; the answer includes its eligibility decision";
    GET "/api/v1/tenants/{tenant}" Tenant Read tenants::get, "A tenant with its eligibility decision";
    PATCH "/api/v1/tenants/{tenant}" Tenant UpdateTenant tenants::update, "Change name, plan, seats, first purchase date or cloud";
    GET "/api/v1/tenants/{tenant}/eligibility" Tenant Read tenants::eligibility, "The eligibility decision and its reasons";
    PUT "/api/v1/tenants/{tenant}/window" Tenant SetAvailabilityWindow tenants::set_window, "Set the availability window (24x7 or 24x5)";
    GET "/api/v1/tenants/{tenant}/members" Tenant Read tenants::members, "Users with a role on the tenant";
    POST "/api/v1/tenants/{tenant}/members" Tenant ManageUsers tenants::add_member, "Give a user a role on the tenant (a new user gets a token, shown once)";
    DELETE "/api/v1/tenants/{tenant}/members/{user}" Tenant ManageUsers tenants::remove_member, "Take a user's role on the tenant away";
    GET "/api/v1/tenants/{tenant}/audit" Tenant ReadAudit tenants::audit, "The audit log: who changed what, when, before and after";
    GET "/api/v1/tenants/{tenant}/transactions" Tenant Read tenants::transactions, "The tenant's transactions, newest first, filtered by actor, action, status and dates";
    GET "/api/v1/tenants/{tenant}/transactions/{transaction}" Tenant Read tenants::transaction, "A transaction's status";

    GET "/api/v1/tenants/{tenant}/projects" Tenant Read projects::list, "Projects of the tenant";
    POST "/api/v1/tenants/{tenant}/projects" Tenant CreateProject projects::create, "Create a project (one workload); refused when the tenant is not eligible";
    GET "/api/v1/tenants/{tenant}/projects/{project}" Tenant Read projects::get, "A project with its gates and state";
    PATCH "/api/v1/tenants/{tenant}/projects/{project}" Tenant UpdateProject projects::update, "Rename a project";
    GET "/api/v1/tenants/{tenant}/projects/{project}/tasks" Tenant Read projects::tasks, "Tasks recorded against the project";
    POST "/api/v1/tenants/{tenant}/projects/{project}/tasks" Tenant RecordTask projects::record_task, "Record a task; beyond-scope work needs a services-agreement reference";
    GET "/api/v1/tenants/{tenant}/projects/{project}/gates" Tenant Read projects::gates, "The project's gates: open or confirmed (by whom, when)";
    POST "/api/v1/tenants/{tenant}/projects/{project}/gates/{gate}/confirm" Tenant ConfirmGate projects::confirm_gate, "Confirm a gate";
    POST "/api/v1/tenants/{tenant}/projects/{project}/gates/{gate}/check" Tenant RunAssessment projects::check_gate, "Check the targets_provisioned gate: log in to every mapping's target mailbox, report the missing and refused ones (changes nothing)";
    GET "/api/v1/tenants/{tenant}/projects/{project}/endpoints" Tenant Read endpoints::endpoints, "Source and target endpoints (never a secret)";
    PUT "/api/v1/tenants/{tenant}/projects/{project}/endpoints/{side}" Tenant ManageEndpoints endpoints::put_endpoint, "Set the source or target endpoint";
    DELETE "/api/v1/tenants/{tenant}/projects/{project}/endpoints/{side}" Tenant ManageEndpoints endpoints::delete_endpoint, "Remove an endpoint and its credential";
    PUT "/api/v1/tenants/{tenant}/projects/{project}/endpoints/{side}/credential" Tenant SupplyCredential endpoints::put_credential, "Supply the endpoint's secret (encrypted at rest, never returned)";
    GET "/api/v1/tenants/{tenant}/projects/{project}/credentials" Tenant Read endpoints::credentials, "Which credentials are stored and when they expire (never the secret)";
    GET "/api/v1/tenants/{tenant}/projects/{project}/mappings" Tenant Read mappings::list, "The project's mappings";
    POST "/api/v1/tenants/{tenant}/projects/{project}/mappings" Tenant ImportMappings mapping_import::import, "Import a mapping CSV (all rows or none): new rows are added, rows the project has are corrected";
    PATCH "/api/v1/tenants/{tenant}/projects/{project}/mappings/{mapping}" Tenant ImportMappings mappings::update, "Correct a mail mapping's logins or UserRoot (a changed credential gives it fresh attempts)";
    DELETE "/api/v1/tenants/{tenant}/projects/{project}/mappings/{mapping}" Tenant ImportMappings mappings::remove, "Remove a mapping that is in no running event";
    POST "/api/v1/tenants/{tenant}/projects/{project}/resume" Tenant ResumeProject projects::resume, "Resume a paused project (needs new credentials and a confirmed schedule)";
    POST "/api/v1/tenants/{tenant}/projects/{project}/close" Tenant CloseProject projects::close, "Close the project: purge credentials and caches, archive the final report";

    POST "/api/v1/tenants/{tenant}/projects/{project}/assessments" Tenant RunAssessment assessments::run, "Run an assessment (discovery and pre-flight rules per mapping)";
    GET "/api/v1/tenants/{tenant}/projects/{project}/assessments/latest" Tenant Read assessments::latest, "The latest assessment's readiness report";

    GET "/api/v1/tenants/{tenant}/projects/{project}/events" Tenant Read events::list, "The project's events";
    POST "/api/v1/tenants/{tenant}/projects/{project}/events" Tenant CreateEvent events::create, "Schedule an event (schedule policy and gates are checked)";
    GET "/api/v1/tenants/{tenant}/projects/{project}/events/{event}" Tenant Read events::get, "An event with its mappings";
    PATCH "/api/v1/tenants/{tenant}/projects/{project}/events/{event}" Tenant ChangeEvent events::change, "Change an event's name, start, pilot flag or mappings";
    POST "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/cancel" Tenant CancelEvent events::cancel, "Cancel an event";
    POST "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/launch" Tenant LaunchPass runs::launch, "Launch the mapping's next pass now";
    POST "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/retry" Tenant RetryPass runs::retry, "Retry the mapping's failed pass (within the attempt limit)";
    POST "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/mappings/{mapping}/approve" Tenant ApproveSkippedItems runs::approve, "Approve the skipped items of a mapping graded Investigate";
    GET "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/report" Tenant Read runs::report, "The event's live status, or its final report once completed";
    GET "/api/v1/tenants/{tenant}/projects/{project}/events/{event}/items" Tenant Read runs::items, "Per-item results (?format=csv|json)";

    GET "/api/v1/tenants/{tenant}/projects/{project}/tickets" Tenant Read tickets::list, "Post-migration tickets";
    POST "/api/v1/tenants/{tenant}/projects/{project}/tickets" Tenant ReportTicket tickets::create, "Report a post-migration issue against a mapping (within 5 days of its event)";
    PATCH "/api/v1/tenants/{tenant}/projects/{project}/tickets/{ticket}" Tenant UpdateTicket tickets::update, "Comment on, resolve or reopen a ticket";
}

/// The route for a request's method and matched path pattern.
pub fn find_route(method: &str, pattern: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.method == method && r.path == pattern)
}

/// The router with every route, the authorisation middleware on each, the dashboard's pages
/// ([`crate::web`]), and request ids around all.
pub fn router(state: AppState) -> Router {
    bind(Router::new())
        .route_layer(from_fn_with_state(state.clone(), crate::auth::authorize))
        // The dashboard's pages check their session themselves (they are not API routes).
        .merge(crate::web::router(state.clone()))
        .layer(from_fn_with_state(state.clone(), crate::auth::request_id))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            if r.scope == Scope::Tenant {
                assert!(r.path.starts_with("/api/v1/tenants/{tenant}"), "{}", r.path);
            }
        }
    }
}
