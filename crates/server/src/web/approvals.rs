//! The approvals page: what in a project waits for a person's yes — the gates still open (confirm, for the
//! roles that may) and, per event waiting in `needs_approval`, the mappings graded Investigate whose
//! skipped items nobody has approved since their last result (approve, for a customer-admin or partner) —
//! and the approvals already given, by whom and when. Read with the scheduler's own rules
//! (`programme::passes::{mapping_statuses, outcomes, approvals}`); the approve form calls the API's handler
//! (`api::runs::approve`) once per selected mapping. Ferry has no refusal of skipped items: a mapping
//! whose skipped items must not stand is retried, or withdrawn from the event and scheduled again.

use super::api_error_page;
use super::frame::Frame;
use super::page::{APPROVE, CONFIRM_GATE, Signed, may};
use crate::api::{project_of, runs};
use crate::auth::Caller;
use crate::programme::events::project_events;
use crate::programme::load_mappings;
use crate::programme::passes::{approvals, mapping_statuses, outcomes};
use crate::programme::reports::when;
use crate::{ApiError, AppState, db};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use ferry_core::grade::Grade;
use ferry_core::programme::event::{EventState, MappingResult};
use std::collections::HashMap;

/// A gate still open.
pub struct GateLine {
    pub kind: String,
    pub title: String,
}

/// A mapping waiting for an approval of its skipped items, or approved.
pub struct WaitLine {
    /// `{event}:{mapping}` for the form.
    pub key: String,
    pub id: String,
    pub href: String,
    pub label: String,
    pub event: String,
    pub skipped: u64,
    pub discovered: u64,
    pub finished: String,
    /// Who approved and when (approved lines only).
    pub approved: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "approvals/show.html")]
struct ApprovalsPage {
    frame: Frame,
    project_href: String,
    gates: Vec<GateLine>,
    waiting: Vec<WaitLine>,
    approved: Vec<WaitLine>,
    can_confirm: bool,
    can_approve: bool,
    results: Vec<String>,
}

async fn render(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    (tenant, project): (&str, &str),
    results: Vec<String>,
) -> Result<Response, ApiError> {
    let p = project_of(st, tenant, project).await?;
    let t = db::load_tenant(&*st.programme, p.tenant).await?;
    let project_href = format!("/tenants/{}/projects/{}", p.tenant, p.id);
    let gates = db::gates(&*st.programme, p.id)
        .await?
        .into_iter()
        .filter(|g| !g.is_met())
        .map(|g| GateLine {
            kind: g.kind.as_str().to_owned(),
            title: g.kind.title().to_owned(),
        })
        .collect();
    let people: HashMap<String, String> = st
        .programme
        .members(p.tenant)
        .await?
        .into_iter()
        .map(|m| (m.user.to_string(), m.name))
        .collect();
    let now = st.clock.now();
    let (mut waiting, mut approved) = (Vec::new(), Vec::new());
    for e in project_events(&*st.programme, p.id, &[EventState::NeedsApproval]).await? {
        let statuses = mapping_statuses(st, &p, &e, now).await?;
        let labels: HashMap<_, _> = statuses
            .iter()
            .map(|s| (s.mapping.id, s.mapping.label.clone()))
            .collect();
        let given = approvals(st, &p, &e, false).await?;
        for o in outcomes(&e, &statuses, false) {
            if o.grade(&st.settings.grade) != Grade::Investigate {
                continue;
            }
            let (discovered, skipped) = match o.result {
                MappingResult::Graded {
                    discovered,
                    skipped,
                    ..
                } => (discovered, skipped),
                MappingResult::Failed { .. } => (0, 0),
            };
            let by = given
                .iter()
                .filter(|a| a.mapping == o.mapping && a.at >= o.finished_at)
                .max_by_key(|a| a.at);
            let line = WaitLine {
                key: format!("{}:{}", e.id, o.mapping),
                id: o.mapping.to_string(),
                href: format!("{project_href}/mappings/{}", o.mapping),
                label: labels.get(&o.mapping).cloned().unwrap_or_default(),
                event: e.name.clone(),
                skipped,
                discovered,
                finished: when(o.finished_at),
                approved: by
                    .map(|a| {
                        let who = people
                            .get(&a.by.to_string())
                            .cloned()
                            .unwrap_or_else(|| "the operator".to_owned());
                        format!("{who} ({}), {}", a.role, when(a.at))
                    })
                    .unwrap_or_default(),
            };
            if by.is_some() {
                approved.push(line);
            } else {
                waiting.push(line);
            }
        }
    }
    Ok(ApprovalsPage {
        frame: Frame::new(signed, c)
            .tenant(p.tenant, &t.name)
            .project(p.id, &p.name)
            .here("Approvals"),
        project_href,
        gates,
        waiting,
        approved,
        can_confirm: may(c, &CONFIRM_GATE),
        can_approve: may(c, &APPROVE),
        results,
    }
    .into_response())
}

/// `GET /tenants/{tenant}/projects/{project}/approvals`.
pub async fn page(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
) -> Response {
    render(&st, &signed, &c, (&tenant, &project), Vec::new())
        .await
        .unwrap_or_else(api_error_page)
}

/// `POST /tenants/{tenant}/projects/{project}/approvals/approve`: approve the selected mappings' skipped
/// items (`m=EVENT:MAPPING`, repeated), each through the API's handler; the page says what happened to each.
pub async fn approve(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let keys: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "m")
        .map(|(_, v)| v.into_owned())
        .collect();
    let labels: HashMap<String, String> = match project_of(&st, &tenant, &project).await {
        Ok(p) => match load_mappings(&st, p.id).await {
            Ok(all) => all
                .into_iter()
                .map(|m| (m.id.to_string(), m.label))
                .collect(),
            Err(e) => return api_error_page(e),
        },
        Err(e) => return api_error_page(e),
    };
    let mut results = Vec::new();
    if keys.is_empty() {
        results.push("Select one or more mappings first.".to_owned());
    }
    for key in keys {
        let Some((event, mapping)) = key.split_once(':') else {
            results.push(format!("{key:?}: not a mapping of an event"));
            continue;
        };
        let path = Path((
            tenant.clone(),
            project.clone(),
            event.to_owned(),
            mapping.to_owned(),
        ));
        let label = labels
            .get(mapping)
            .cloned()
            .unwrap_or_else(|| mapping.to_owned());
        results.push(
            match runs::approve(State(st.clone()), Extension(c.clone()), path).await {
                Ok(_) => format!("{label}: approved."),
                Err(e) if e.status.is_server_error() => {
                    tracing::error!(error = %e.message, "approval failed");
                    format!("{label}: failed on the server (see its log); try again.")
                }
                Err(e) => format!("{label}: not approved: {}", e.message),
            },
        );
    }
    render(&st, &signed, &c, (&tenant, &project), results)
        .await
        .unwrap_or_else(api_error_page)
}
