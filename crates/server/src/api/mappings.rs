//! Correcting mappings (issue 9 item 14): `PATCH …/mappings/{mapping}` changes a mail mapping's logins and
//! `UserRoot`; `DELETE …/mappings/{mapping}` removes a mapping that is in no running event. (Re-importing a
//! CSV corrects the rows it names too: [`super::mapping_import::import`].)
//!
//! A changed credential gives the mapping fresh attempts: passes that failed before it no longer count
//! against the attempt limit ([`crate::programme::passes::decision_records`]), so a retry or the scheduler runs it
//! again. Removing keeps the movers' journal (what was copied) and the audit log; the mapping's passes,
//! approvals, place in events and own credentials go with it.

use super::{path_id, project_of};
use crate::auth::Caller;
use crate::db::{self, Change, changed};
use crate::programme::{MappingView, load_mappings, replace_secret};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use ferry_core::id::MappingId;
use ferry_core::programme::{ProjectState, Workload};
use ferry_store::programme::MappingRecord;
use serde::Deserialize;
use serde_json::{Value, json};

/// A correction of a mail mapping. Absent fields stay as they are; an empty `target_user` or `user_root`
/// clears it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMapping {
    /// The source mailbox's password (the CSV's `Password`).
    pub password: Option<String>,
    /// The target login (the CSV's `TargetUserName`); empty: log in through the target endpoint's admin.
    pub target_user: Option<String>,
    /// The target login's password (the CSV's `TargetPassword`).
    pub target_password: Option<String>,
    /// Only folders under this source folder (the CSV's `UserRoot`); empty: the whole mailbox.
    pub user_root: Option<String>,
}

impl std::fmt::Debug for UpdateMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateMapping")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("target_user", &self.target_user)
            .field(
                "target_password",
                &self.target_password.as_ref().map(|_| "<redacted>"),
            )
            .field("user_root", &self.user_root)
            .finish()
    }
}

/// The mapping `raw` of the project, 404 when it has none.
async fn mapping_of(
    st: &AppState,
    project: ferry_core::id::ProjectId,
    raw: &str,
) -> ApiResult<MappingView> {
    let id: MappingId = path_id(raw, "mapping")?;
    load_mappings(st, project)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no mapping {id} in this project")))
}

pub async fn list(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    Ok(Json(json!({ "mappings": load_mappings(&st, p.id).await? })))
}

fn check_secret(what: &str, s: &Option<String>) -> ApiResult<()> {
    match s {
        Some(v) if v.is_empty() || v.len() > 16 * 1024 => Err(ApiError::bad_request(format!(
            "{what} needs 1 to 16,384 bytes"
        ))),
        _ => Ok(()),
    }
}

pub async fn update(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, mapping)): Path<(String, String, String)>,
    Json(b): Json<UpdateMapping>,
) -> ApiResult<Json<Value>> {
    check_secret("password", &b.password)?;
    check_secret("target_password", &b.target_password)?;
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    if matches!(p.state, ProjectState::Closed | ProjectState::Offboarded) {
        return Err(ApiError::refused(format!(
            "the project is {}: its mappings no longer change",
            p.state.as_str()
        )));
    }
    if p.workload != Workload::Mail {
        return Err(ApiError::refused(
            "a file mapping is corrected by importing its CSV row again (POST …/mappings)",
        ));
    }
    let m = mapping_of(&st, p.id, &mapping).await?;
    let mut detail = match m.detail.clone() {
        Value::Object(o) => o,
        _ => serde_json::Map::new(),
    };
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.to_string()))
            .unwrap_or(Value::Null)
    };
    let mut changes: Vec<String> = Vec::new();
    for (key, new) in [("target_user", &b.target_user), ("user_root", &b.user_root)] {
        if new.is_some() {
            let v = text(new);
            if detail.get(key).unwrap_or(&Value::Null) != &v {
                changes.push(key.to_string());
            }
            detail.insert(key.to_string(), v);
        }
    }
    let target_user = detail.get("target_user").cloned().unwrap_or(Value::Null);
    if b.target_password.is_some() && target_user.is_null() {
        return Err(ApiError::bad_request(
            "a target_password needs a target_user (the login it belongs to)",
        ));
    }
    let now = st.clock.now();
    let tx = st.programme.begin().await?;
    tx.update_mapping(&MappingRecord {
        id: m.id,
        line: m.line,
        label: m.label.clone(),
        source: m.source.clone(),
        target: m.target.clone(),
        doc: Value::Object(detail.clone()).to_string(),
    })
    .await?;
    if let Some(pw) = b.password.as_deref()
        && replace_secret(&st, &*tx, p.id, m.id, "source", Some(pw), c.user, now).await?
    {
        changes.push("source credential".into());
    }
    // Clearing the target login drops its password; a new password replaces the old one.
    let target_secret = if target_user.is_null() {
        Some(None)
    } else {
        b.target_password.as_deref().map(Some)
    };
    if let Some(new) = target_secret
        && replace_secret(&st, &*tx, p.id, m.id, "target", new, c.user, now).await?
    {
        changes.push("target credential".into());
    }
    db::touch_project(&*tx, p.id, now).await?;
    let after = json!({
        "mapping": m.id, "label": m.label, "changed": changes,
        "detail": Value::Object(detail),
        "note": "a changed credential gives the mapping fresh attempts: retry its failed pass or schedule it in an event",
    });
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "mapping.update",
            target: format!("project/{}/mapping/{}", p.id, m.id),
            before: Some(json!({ "label": m.label, "detail": m.detail })),
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

/// Event states in which a mapping may not be removed: the event has started and is not over.
fn in_progress(state: &str) -> bool {
    matches!(
        state,
        "running" | "done" | "done_with_errors" | "needs_approval"
    )
}

pub async fn remove(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, mapping)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    if matches!(p.state, ProjectState::Closed | ProjectState::Offboarded) {
        return Err(ApiError::refused(format!(
            "the project is {}: its mappings no longer change",
            p.state.as_str()
        )));
    }
    let m = mapping_of(&st, p.id, &mapping).await?;
    let tx = st.programme.begin().await?;
    let events = tx.mapping_events(m.id).await?;
    if let Some((eid, name, state)) = events.iter().find(|(_, _, s)| in_progress(s)) {
        return Err(ApiError::refused(format!(
            "{} is in event {name:?} ({eid}), which is {state}: a mapping in a running event is not removed. \
             Wait until the event is completed, or cancel it, then remove the mapping",
            m.label
        )));
    }
    let tickets = tx.mapping_tickets(m.id).await?;
    if tickets > 0 {
        return Err(ApiError::refused(format!(
            "{} has {tickets} post-migration ticket(s): a mapping with tickets is kept for them",
            m.label
        )));
    }
    tx.delete_mapping(p.id, m.id).await?;
    let now = st.clock.now();
    db::touch_project(&*tx, p.id, now).await?;
    let after = json!({
        "mapping": m.id, "label": m.label, "removed": true,
        "events": events.iter().map(|(id, name, state)| json!({ "id": id, "name": name, "state": state })).collect::<Vec<_>>(),
    });
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "mapping.remove",
            target: format!("project/{}/mapping/{}", p.id, m.id),
            before: Some(json!({ "label": m.label, "source": m.source, "target": m.target, "detail": m.detail })),
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}
