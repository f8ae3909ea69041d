//! The project page: lifecycle state, gates (who confirmed them and when, with confirm buttons for the
//! roles that may), endpoints with whether a credential is stored and when it expires (never the secret;
//! a form to set one), and the mapping import by CSV upload with its line-numbered errors.
//!
//! Form actions call the API's own handlers (`api::projects::confirm_gate`, `api::endpoints::put_credential`,
//! `api::mapping_import::import`) with the caller the page check made, so a change from a page is the same
//! transaction, audit entry and rule checks as the same change through the API. A refused change shows
//! the project page again with the reason (and its status); a done one redirects back to it (303).

use super::frame::Frame;
use super::page::{CONFIRM_GATE, IMPORT_MAPPINGS, SET_CREDENTIAL, Signed, may};
use super::{api_error_page, error_page};
use crate::api::{endpoints, mapping_import, project_of, projects};
use crate::auth::Caller;
use crate::{ApiError, AppState, db};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use axum::{Json, http::HeaderValue};
use serde::Deserialize;
use std::collections::HashMap;

/// A gate as the page shows it.
pub struct GateLine {
    pub kind: &'static str,
    pub title: &'static str,
    pub confirmed: Option<(String, String)>,
}

/// An endpoint as the page shows it (never its secret).
pub struct EndpointLine {
    pub side: String,
    pub url: String,
    pub username: String,
    /// "stored, expires …", "expired on …" or "none".
    pub credential: String,
    pub stored: bool,
    pub oauth: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "project/show.html")]
struct ShowPage {
    frame: Frame,
    name: String,
    workload: String,
    state: String,
    paused: Option<String>,
    notice: Option<String>,
    gates: Vec<GateLine>,
    endpoints: Vec<EndpointLine>,
    mappings: usize,
    can_confirm: bool,
    can_set_credential: bool,
    can_import: bool,
    done: Option<&'static str>,
    error: Option<String>,
    mappings_href: String,
    project_href: String,
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// The message for a `?done=` after a form (fixed texts: nothing from the URL is echoed).
fn done_text(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "gate" => Some("Gate confirmed."),
        "credential" => Some("Credential stored. It is never shown again."),
        "import" => Some("Mappings imported."),
        _ => None,
    }
}

fn when(ts: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => crate::programme::reports::when(t.with_timezone(&chrono::Utc)),
        Err(_) => ts.to_owned(),
    }
}

async fn render(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    tenant: &str,
    project: &str,
    done: Option<&'static str>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let p = match project_of(st, tenant, project).await {
        Ok(p) => p,
        Err(e) => return api_error_page(e),
    };
    let t = match db::load_tenant(&*st.programme, p.tenant).await {
        Ok(t) => t,
        Err(e) => return api_error_page(e),
    };
    let names: HashMap<_, _> = match st.programme.members(p.tenant).await {
        Ok(m) => m.into_iter().map(|m| (m.user, m.name)).collect(),
        Err(e) => return super::internal(e),
    };
    let who = |id| {
        names.get(&id).cloned().unwrap_or_else(|| {
            if id == c.user {
                c.name.clone()
            } else {
                "the operator or a former member".to_owned()
            }
        })
    };
    let gates = match db::gates(&*st.programme, p.id).await {
        Ok(g) => g
            .into_iter()
            .map(|g| GateLine {
                kind: g.kind.as_str(),
                title: g.kind.title(),
                confirmed: g
                    .confirmed
                    .map(|k| (who(k.by), crate::programme::reports::when(k.at))),
            })
            .collect(),
        Err(e) => return api_error_page(e),
    };
    let eps = match endpoints::endpoints(
        State(st.clone()),
        Path((tenant.to_owned(), project.to_owned())),
    )
    .await
    {
        Ok(Json(v)) => v,
        Err(e) => return api_error_page(e),
    };
    let endpoints = eps["endpoints"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let cred = &e["credential"];
            let stored = cred["stored"].as_bool().unwrap_or(false);
            let expires = when(cred["expires_at"].as_str().unwrap_or(""));
            let url = e["url"].as_str().unwrap_or("").to_owned();
            EndpointLine {
                side: e["side"].as_str().unwrap_or("").to_owned(),
                oauth: url.starts_with("exo://")
                    || url.contains("auth=xoauth2")
                    || url.starts_with("graph"),
                url,
                username: e["username"].as_str().unwrap_or("").to_owned(),
                credential: if !stored {
                    "none stored".to_owned()
                } else if cred["expired"].as_bool().unwrap_or(false) {
                    format!("expired {expires}")
                } else {
                    format!("stored, expires {expires}")
                },
                stored,
            }
        })
        .collect();
    let mappings = match st.programme.mappings(p.id).await {
        Ok(m) => m.len(),
        Err(e) => return super::internal(e),
    };
    let status = error.as_ref().map(|e| e.0).unwrap_or(StatusCode::OK);
    let e = t.eligibility(&st.settings);
    let page = ShowPage {
        frame: Frame::new(signed, c)
            .tenant(p.tenant, &t.name)
            .project(p.id, &p.name)
            .here("Project"),
        name: p.name.clone(),
        workload: p.workload.to_string(),
        state: p.state.to_string(),
        paused: p.paused_since.map(|s| {
            format!(
                "paused since {} (was {})",
                crate::programme::reports::when(s),
                p.paused_from.map(|f| f.to_string()).unwrap_or_default()
            )
        }),
        notice: e.notice(),
        gates,
        endpoints,
        mappings,
        can_confirm: may(c, &CONFIRM_GATE),
        can_set_credential: may(c, &SET_CREDENTIAL),
        can_import: may(c, &IMPORT_MAPPINGS),
        done,
        error: error.map(|e| e.1),
        mappings_href: format!("/tenants/{}/projects/{}/mappings", p.tenant, p.id),
        project_href: format!("/tenants/{}/projects/{}", p.tenant, p.id),
    };
    (status, page).into_response()
}

/// `GET /tenants/{tenant}/projects/{project}`.
pub async fn show(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Query(q): Query<Done>,
) -> Response {
    render(
        &st,
        &signed,
        &c,
        &tenant,
        &project,
        done_text(q.done.as_deref()),
        None,
    )
    .await
}

/// After a form: back to the project page (303), or the page again with the refusal.
async fn after(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    (tenant, project): (&str, &str),
    result: Result<(), ApiError>,
    done: &str,
) -> Response {
    match result {
        Ok(()) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) =
                HeaderValue::from_str(&format!("/tenants/{tenant}/projects/{project}?done={done}"))
            {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
            render(
                st,
                signed,
                c,
                tenant,
                project,
                None,
                Some((e.status, e.message)),
            )
            .await
        }
        Err(e) => api_error_page(e),
    }
}

/// `POST /tenants/{tenant}/projects/{project}/gates/{gate}/confirm`.
pub async fn confirm_gate(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, gate)): Path<(String, String, String)>,
) -> Response {
    let r = projects::confirm_gate(
        State(st.clone()),
        Extension(c.clone()),
        Path((tenant.clone(), project.clone(), gate)),
    )
    .await
    .map(|_| ());
    after(&st, &signed, &c, (&tenant, &project), r, "gate").await
}

#[derive(Deserialize)]
pub struct CredentialForm {
    #[serde(default)]
    secret: String,
    #[serde(default)]
    kind: String,
}

impl std::fmt::Debug for CredentialForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialForm { secret: <hidden> }")
    }
}

/// `POST /tenants/{tenant}/projects/{project}/endpoints/{side}/credential`.
pub async fn set_credential(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, side)): Path<(String, String, String)>,
    Form(form): Form<CredentialForm>,
) -> Response {
    let body = endpoints::PutCredential {
        secret: form.secret,
        kind: (!form.kind.trim().is_empty()).then(|| form.kind.trim().to_owned()),
    };
    let r = endpoints::put_credential(
        State(st.clone()),
        Extension(c.clone()),
        Path((tenant.clone(), project.clone(), side)),
        Json(body),
    )
    .await
    .map(|_| ());
    after(&st, &signed, &c, (&tenant, &project), r, "credential").await
}

/// `POST /tenants/{tenant}/projects/{project}/mappings/import`: a multipart form with the CSV as the
/// file field `file` (or pasted in the text field `csv`).
pub async fn import(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    multipart: Option<Multipart>,
) -> Response {
    let Some(mut multipart) = multipart else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Send the mapping CSV with the import form on the project page.",
        );
    };
    let mut csv = String::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(f)) => {
                let name = f.name().unwrap_or("").to_owned();
                if name != "file" && name != "csv" {
                    continue;
                }
                let bytes = match f.bytes().await {
                    Ok(b) => b,
                    Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.body_text()),
                };
                if !bytes.is_empty() {
                    match String::from_utf8(bytes.to_vec()) {
                        Ok(s) if csv.is_empty() => csv = s,
                        Ok(_) => {}
                        Err(_) => {
                            return after(
                                &st,
                                &signed,
                                &c,
                                (&tenant, &project),
                                Err(ApiError::bad_request(
                                    "the mapping CSV is not UTF-8 text: save it as CSV UTF-8 and upload it again",
                                )),
                                "import",
                            )
                            .await;
                        }
                    }
                }
            }
            Ok(None) => break,
            Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.body_text()),
        }
    }
    let r = mapping_import::import(
        State(st.clone()),
        Extension(c.clone()),
        Path((tenant.clone(), project.clone())),
        Json(mapping_import::ImportMappings { csv }),
    )
    .await
    .map(|_| ());
    after(&st, &signed, &c, (&tenant, &project), r, "import").await
}
