//! Importing a mapping CSV (all rows or none): new rows are added, rows the project has are corrected
//! (issue 9 item 14). Mail projects take Exchange's IMAP migration format, file projects the SPMT format.

use super::project_of;
use crate::auth::Caller;
use crate::db::{self, Change, Project, changed};
use crate::programme::{replace_secret, seal_secret};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use ferry_core::id::MappingId;
use ferry_core::programme::{ProjectState, Workload};
use ferry_engine::files::spmt::SpmtRow;
use ferry_files::config::FileEndpoint;
use ferry_files::graph::config::GraphConfig;
use ferry_store::programme::{CredentialWrite, MappingRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMappings {
    /// The CSV text: mail projects take Exchange's `EmailAddress,UserName,Password[,UserRoot]
    /// [,TargetUserName,TargetPassword]`; file projects the SPMT format
    /// `Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder`.
    pub csv: String,
}

impl std::fmt::Debug for ImportMappings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ImportMappings {{ csv: <{} bytes, may hold passwords> }}",
            self.csv.len()
        )
    }
}

/// One row to insert: (line, label, source, target, detail, secrets by slot).
struct NewMapping {
    line: usize,
    label: String,
    source: String,
    target: String,
    detail: Value,
    secrets: Vec<(&'static str, String)>,
}

fn mail_rows(csv: &str) -> ApiResult<Vec<NewMapping>> {
    let rows = ferry_engine::mapping_csv::parse_mapping_csv(csv)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut secrets = vec![("source", r.password.expose().to_string())];
            if let Some(tp) = &r.target_password {
                secrets.push(("target", tp.expose().to_string()));
            }
            NewMapping {
                line: r.line,
                label: r.email.clone(),
                source: r.user.clone(),
                target: r.email.clone(),
                detail: json!({ "user_root": r.user_root, "target_user": r.target_user }),
                secrets,
            }
        })
        .collect())
}

/// A file row's directory relative to the endpoint: the endpoint URL prefix is dropped when the row repeats
/// it, so rows may name full URLs or paths under the endpoint.
fn relative_to(endpoint: Option<&str>, root: &str, dir: &str) -> String {
    let root = root.trim();
    let rel = match endpoint {
        Some(e) if root.starts_with(e.trim_end_matches('/')) => {
            &root[e.trim_end_matches('/').len()..]
        }
        _ => root,
    };
    let joined: Vec<&str> = rel
        .split(['/', '\\'])
        .chain(dir.split('/'))
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    joined.join("/")
}

/// For a OneDrive/SharePoint target endpoint, the drive a CSV row names of its own — `TargetWeb` =
/// `onedrive://UPN[/path]` (then `TargetDocLib`/`TargetSubFolder` are folders in it, as for `ferry files
/// migrate --mapping`), or a SharePoint site (`https://host/sites/S` or `sharepoint://…`) whose library is
/// `TargetDocLib` — as (the drive's root URL, the folder in it); `None` when the row names a folder under
/// the endpoint instead.
fn graph_row(r: &SpmtRow) -> Option<ferry_core::Result<(String, String)>> {
    let web = r.target_web.trim();
    let (cfg, dir) = if web.to_ascii_lowercase().starts_with("onedrive://") {
        match GraphConfig::parse(web) {
            Ok(c) => (c, r.target_dir()),
            Err(e) => return Some(Err(e)),
        }
    } else {
        match GraphConfig::from_spmt(web, &r.target_doc_lib)? {
            Ok(c) => (c, r.target_sub_folder.clone()),
            Err(e) => return Some(Err(e)),
        }
    };
    let path: Vec<&str> = cfg
        .path
        .split('/')
        .chain(dir.split(['/', '\\']))
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let root = GraphConfig {
        path: String::new(),
        ..cfg
    };
    Some(Ok((root.describe(), path.join("/"))))
}

async fn file_rows(st: &AppState, p: &Project, csv: &str) -> ApiResult<Vec<NewMapping>> {
    let rows = ferry_engine::files::spmt::parse_spmt_csv(csv)?;
    let urls: Vec<(String, String)> = st
        .programme
        .endpoints(p.id)
        .await?
        .into_iter()
        .map(|e| (e.side, e.url))
        .collect();
    let url = |side: &str| {
        urls.iter()
            .find(|(s, _)| s == side)
            .map(|(_, u)| u.as_str())
    };
    let graph_target = matches!(
        url("target").map(FileEndpoint::parse),
        Some(Ok(FileEndpoint::Graph(_)))
    );
    let mut out = Vec::new();
    for r in rows {
        let source = relative_to(url("source"), &r.source, &r.source_dir());
        let (target, drive) = match graph_target.then(|| graph_row(&r)).flatten() {
            Some(Ok((drive, path))) => (path, Some(drive)),
            Some(Err(e)) => {
                return Err(ApiError::bad_request(format!(
                    "mapping CSV line {}: {}",
                    r.line,
                    e.message()
                )));
            }
            None => (
                relative_to(url("target"), &r.target_web, &r.target_dir()),
                None,
            ),
        };
        if source.split('/').any(|s| s == "..") || target.split('/').any(|s| s == "..") {
            return Err(ApiError::bad_request(format!(
                "mapping CSV line {}: a path may not contain `..`",
                r.line
            )));
        }
        let mut detail = json!({
            "source": r.source, "source_doc_lib": r.source_doc_lib, "source_sub_folder": r.source_sub_folder,
            "target_web": r.target_web, "target_doc_lib": r.target_doc_lib, "target_sub_folder": r.target_sub_folder,
        });
        let label = match &drive {
            Some(d) => {
                detail["target_drive"] = json!(d);
                format!("/{source} → {d}/{target}")
            }
            None => format!("/{source} → /{target}"),
        };
        out.push(NewMapping {
            line: r.line,
            label: label.trim_end_matches('/').to_owned(),
            source,
            target,
            detail,
            secrets: Vec::new(),
        });
    }
    Ok(out)
}

pub async fn import(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Json(b): Json<ImportMappings>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    if !p.state.is_active() && p.state != ProjectState::Paused {
        return Err(ApiError::refused(format!(
            "the project is {}: it takes no new mappings",
            p.state.as_str()
        )));
    }
    let max = st.settings.max_mapping_rows as usize;
    let data_lines = b.csv.lines().filter(|l| !l.trim().is_empty()).count();
    if data_lines > max + 1 {
        return Err(ApiError::refused(format!(
            "the mapping CSV has {} rows; one import holds at most {max}: split the file",
            data_lines - 1
        )));
    }
    let rows = match p.workload {
        Workload::Mail => mail_rows(&b.csv)?,
        Workload::Files => file_rows(&st, &p, &b.csv).await?,
    };
    if rows.len() > max {
        return Err(ApiError::refused(format!(
            "the mapping CSV has {} rows; one import holds at most {max}: split the file",
            rows.len()
        )));
    }
    if rows.is_empty() {
        return Err(ApiError::bad_request("the mapping CSV has no rows"));
    }
    let now = st.clock.now();
    let tx = st.programme.begin().await?;
    // The project's mappings by label in one query; the new rows and their credentials are written in
    // batches (a few statements for 20,000 rows, not three per row: issue 12 §5).
    let mut existing: HashMap<String, MappingRecord> = tx
        .mappings(p.id)
        .await?
        .into_iter()
        .map(|m| (m.label.clone(), m))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut new_rows: Vec<MappingRecord> = Vec::new();
    let mut new_secrets: Vec<CredentialWrite> = Vec::new();
    let mut updated = Vec::new();
    for r in &rows {
        if !seen.insert(r.label.clone()) {
            return Err(ApiError::bad_request(format!(
                "mapping CSV line {}: {} appears twice in the file",
                r.line, r.label
            )));
        }
        if let Some(old) = existing.remove(&r.label) {
            // A row the project has: the CSV corrects it (issue 9 item 14).
            let id = old.id;
            let (source, target, doc) = (old.source, old.target, old.doc);
            let mut changes: Vec<String> = Vec::new();
            for (field, old, new) in [
                ("source", source.as_str(), r.source.as_str()),
                ("target", target.as_str(), r.target.as_str()),
            ] {
                if old != new {
                    changes.push(field.to_string());
                }
            }
            let old_doc: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
            if old_doc != r.detail {
                changes.push("options".to_string());
            }
            tx.update_mapping(&MappingRecord {
                id,
                line: r.line as i64,
                label: r.label.clone(),
                source: r.source.clone(),
                target: r.target.clone(),
                doc: r.detail.to_string(),
            })
            .await?;
            for slot in ["source", "target"] {
                let new = r.secrets.iter().find(|(s, _)| *s == slot).map(|(_, v)| v);
                if replace_secret(
                    &st,
                    &*tx,
                    p.id,
                    id,
                    slot,
                    new.map(String::as_str),
                    c.user,
                    now,
                )
                .await?
                {
                    changes.push(format!("{slot} credential"));
                }
            }
            if !changes.is_empty() {
                updated.push(json!({ "mapping": id, "label": r.label, "changed": changes }));
            }
            continue;
        }
        let id = MappingId::new();
        new_rows.push(MappingRecord {
            id,
            line: r.line as i64,
            label: r.label.clone(),
            source: r.source.clone(),
            target: r.target.clone(),
            doc: r.detail.to_string(),
        });
        for (slot, secret) in &r.secrets {
            new_secrets.push(seal_secret(
                &st,
                p.id,
                &format!("mapping:{id}:{slot}"),
                secret,
                c.user,
                now,
            )?);
        }
    }
    let added = new_rows.len();
    tx.insert_mappings(p.id, &new_rows, now).await?;
    tx.store_credentials(&new_secrets).await?;
    db::touch_project(&*tx, p.id, now).await?;
    let after = json!({
        "imported": rows.len(),
        "added": added,
        "updated": updated.len(),
        "unchanged": rows.len() - added - updated.len(),
        "changes": updated,
    });
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "mapping.import",
            target: format!("project/{}", p.id),
            before: None,
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rows_are_relative_to_the_endpoint() {
        assert_eq!(
            relative_to(Some("/srv/share"), "/srv/share/dept", "Docs/2024"),
            "dept/Docs/2024"
        );
        assert_eq!(relative_to(Some("webdav://h:1/x"), "team", ""), "team");
        assert_eq!(relative_to(None, "./a/", "b"), "a/b");
    }
}
