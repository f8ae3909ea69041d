//! The assessment page: the project's latest assessment (`GET …/assessments/latest`, whose permission it
//! has, through the same operation [`latest_report`]) with every mapping's findings, each with its
//! severity and what the user must do, paged; and the findings of one mapping for its detail page.
//!
//! Severity, from the rule behind a finding:
//! - **blocker**: the mapping cannot be migrated as it is (its login or credential fails, a folder the
//!   target refuses) — fix it, then assess again;
//! - **skip**: some items will be skipped (too large, a name or path the target refuses) — fix them at the
//!   source before the event, or approve the skipped items after it;
//! - **warning**: it migrates, with a risk to plan for (quota, size);
//! - **info**: nothing to do (a file renamed on the target).

use super::api_error_page;
use super::events::place;
use super::frame::Frame;
use super::page::Signed;
use crate::api::assessments::latest_report;
use crate::auth::Caller;
use crate::db::Project;
use crate::programme::reports::when;
use crate::{ApiError, ApiResult, AppState};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// Mappings per page of the assessment.
pub const ASSESSED_PER_PAGE: usize = 50;

/// How much a finding stands in the way, most serious first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Blocker,
    Skip,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocker => "blocker",
            Severity::Skip => "skip",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The severity of a finding's rule and what the user must do about it.
pub fn judge(rule: &str) -> (Severity, &'static str) {
    use Severity::*;
    match rule {
        "credential_missing" => (
            Blocker,
            "Store the missing credential (the project's endpoints, or the mapping's password in the CSV), then assess again.",
        ),
        "discovery_failed" => (
            Blocker,
            "Correct the login or credential of the side named (the detail says which), then assess again.",
        ),
        "not_assessed" => (
            Blocker,
            "Fix the cause named in the detail (often a login or an unreachable server), then assess again.",
        ),
        "folder_over_exchange_item_limit"
        | "folder_over_exchange_depth"
        | "folder_over_exchange_subfolder_limit" => (
            Blocker,
            "Reorganise the folder on the source as the detail says (Exchange Online refuses it), then assess again.",
        ),
        "message_over_size_limit" | "message_over_exchange_size_limit" => (
            Skip,
            "These messages will be skipped: remove or shrink them on the source, raise the target's size limit if the target allows, or approve the skipped items after the event.",
        ),
        "file_too_large" | "path_too_long" | "empty_name" | "skipped" => (
            Skip,
            "This file will be skipped: rename, shorten or split it on the source before the event, or approve the skipped items after it.",
        ),
        "mailbox_over_quota_fraction" => (
            Warning,
            "Raise the target mailbox's quota (and the target endpoint option quota_mb), or archive old mail on the source before the event.",
        ),
        "too_many_items" => (
            Warning,
            "Plan for a long migration, or split the mailbox before the event.",
        ),
        "name_mapped" => (
            Info,
            "Nothing: the file gets a name the target accepts; tell its users the new name.",
        ),
        _ => (
            Warning,
            "Read the detail; assess again once it is dealt with.",
        ),
    }
}

/// A finding as the pages show it.
#[derive(Clone, Debug)]
pub struct FindingLine {
    pub severity: &'static str,
    pub rule: String,
    pub path: String,
    pub detail: String,
    pub todo: &'static str,
}

/// A mapping's findings from its entry in an assessment report, most serious first (a mapping that could
/// not be assessed has one blocker with the reason).
pub fn findings_of(m: &Value) -> Vec<FindingLine> {
    let mut out: Vec<(Severity, FindingLine)> = Vec::new();
    if let Some(e) = m["error"].as_str() {
        let (sev, todo) = judge("not_assessed");
        out.push((
            sev,
            FindingLine {
                severity: sev.as_str(),
                rule: "not_assessed".into(),
                path: String::new(),
                detail: e.to_owned(),
                todo,
            },
        ));
    }
    for f in m["findings"].as_array().into_iter().flatten() {
        let rule = f["rule"].as_str().unwrap_or("");
        let (sev, todo) = judge(rule);
        out.push((
            sev,
            FindingLine {
                severity: sev.as_str(),
                rule: rule.to_owned(),
                path: f["path"].as_str().unwrap_or("").to_owned(),
                detail: f["detail"].as_str().unwrap_or("").to_owned(),
                todo,
            },
        ));
    }
    out.sort_by_key(|(s, _)| *s);
    out.into_iter().map(|(_, f)| f).collect()
}

/// One mapping's line on the assessment page.
pub struct AssessedLine {
    pub href: String,
    pub label: String,
    pub ready: bool,
    pub findings: Vec<FindingLine>,
    /// Findings beyond those kept in the report.
    pub more: u64,
}

/// The assessment as a page shows its head.
pub struct Head {
    pub status: String,
    pub started: String,
    pub finished: String,
    pub ready: Option<bool>,
    pub reason: Option<String>,
    pub note: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "report/assessment.html")]
struct AssessmentPage {
    frame: Frame,
    head: Option<Head>,
    notice: Option<String>,
    mappings_total: u64,
    ready_total: u64,
    not_ready: u64,
    findings_total: u64,
    blockers: usize,
    lines: Vec<AssessedLine>,
    shown: usize,
    only_findings: bool,
    here: String,
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct AssessmentQuery {
    page: Option<usize>,
    /// `findings`: only mappings with a finding (or not ready).
    only: Option<String>,
}

fn time_of(v: &Value) -> String {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| when(t.with_timezone(&Utc)))
        .unwrap_or_default()
}

/// The latest assessment, or none when the project was never assessed.
pub async fn latest(st: &AppState, p: &Project) -> ApiResult<Option<Value>> {
    match latest_report(st, p).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GET /tenants/{tenant}/projects/{project}/assessment`
pub async fn page(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Query(q): Query<AssessmentQuery>,
) -> Response {
    let loaded = async {
        let (p, frame) = place(&st, &signed, &c, &tenant, &project).await?;
        let latest = latest(&st, &p).await?;
        Ok::<_, ApiError>((frame.here("Assessment"), latest))
    };
    let (frame, latest) = match loaded.await {
        Ok(x) => x,
        Err(err) => return api_error_page(err),
    };
    let only_findings = q.only.as_deref() == Some("findings");
    let base = format!("/tenants/{tenant}/projects/{project}");
    let here = format!("{base}/assessment");
    let head = latest.as_ref().map(|v| {
        let a = &v["assessment"];
        Head {
            status: a["status"].as_str().unwrap_or("").to_owned(),
            started: time_of(&a["started_at"]),
            finished: time_of(&a["finished_at"]),
            ready: a["ready"].as_bool(),
            reason: a["reason"].as_str().map(str::to_owned),
            note: a["note"].as_str().map(str::to_owned),
        }
    });
    let report = latest
        .as_ref()
        .map(|v| &v["report"])
        .unwrap_or(&Value::Null);
    let all: Vec<&Value> = report["mappings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            !only_findings
                || m["ready"].as_bool() != Some(true)
                || m["findings"].as_array().is_some_and(|f| !f.is_empty())
        })
        .collect();
    let blockers = report["mappings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            findings_of(m)
                .first()
                .is_some_and(|f| f.severity == Severity::Blocker.as_str())
        })
        .count();
    let pages = all.len().div_ceil(ASSESSED_PER_PAGE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let lines: Vec<AssessedLine> = all
        .iter()
        .skip((page - 1) * ASSESSED_PER_PAGE)
        .take(ASSESSED_PER_PAGE)
        .map(|m| {
            let findings = findings_of(m);
            let kept = m["findings"].as_array().map(Vec::len).unwrap_or(0) as u64;
            AssessedLine {
                href: format!("{base}/mappings/{}", m["mapping"].as_str().unwrap_or("")),
                label: m["label"].as_str().unwrap_or("").to_owned(),
                ready: m["ready"].as_bool().unwrap_or(false),
                more: m["findings_total"]
                    .as_u64()
                    .unwrap_or(kept)
                    .saturating_sub(kept),
                findings,
            }
        })
        .collect();
    let totals = &report["totals"];
    let filter = if only_findings { "&only=findings" } else { "" };
    AssessmentPage {
        frame,
        notice: report["notice"].as_str().map(str::to_owned),
        head,
        mappings_total: totals["mappings"].as_u64().unwrap_or(0),
        ready_total: totals["ready_mappings"].as_u64().unwrap_or(0),
        not_ready: totals["mappings"]
            .as_u64()
            .unwrap_or(0)
            .saturating_sub(totals["ready_mappings"].as_u64().unwrap_or(0)),
        findings_total: totals["findings"].as_u64().unwrap_or(0),
        blockers,
        shown: all.len(),
        lines,
        only_findings,
        prev: (page > 1).then(|| format!("{here}?page={}{filter}", page - 1)),
        next: (page < pages).then(|| format!("{here}?page={}{filter}", page + 1)),
        here,
        page,
        pages,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn findings_are_sorted_most_serious_first_each_with_what_to_do() {
        let m = json!({
            "mapping": "m1", "label": "alice", "ready": false,
            "findings": [
                { "rule": "name_mapped", "action": "rename", "path": "/a:b.txt", "detail": "renamed to a_b.txt" },
                { "rule": "mailbox_over_quota_fraction", "detail": "the mailbox holds 9 GB" },
                { "rule": "message_over_size_limit", "detail": "2 message(s) in INBOX are larger" },
                { "rule": "discovery_failed", "side": "target", "detail": "the target could not be read" },
            ],
        });
        let f = findings_of(&m);
        let order: Vec<&str> = f.iter().map(|f| f.severity).collect();
        assert_eq!(order, ["blocker", "skip", "warning", "info"]);
        assert_eq!(f[0].rule, "discovery_failed");
        assert!(f[0].todo.contains("then assess again"));
        assert_eq!(f[3].path, "/a:b.txt");
        assert!(f.iter().all(|f| !f.todo.is_empty()));
    }

    #[test]
    fn a_mapping_that_could_not_be_assessed_is_a_blocker_with_its_reason() {
        let m = json!({ "mapping": "m1", "label": "bob", "ready": false, "error": "cannot read the source /x: refused" });
        let f = findings_of(&m);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].severity, f[0].rule.as_str()),
            ("blocker", "not_assessed")
        );
        assert!(f[0].detail.contains("refused"));
    }

    #[test]
    fn every_rule_the_assessments_write_has_a_severity_other_than_the_fallback() {
        for rule in [
            "credential_missing",
            "discovery_failed",
            "folder_over_exchange_item_limit",
            "folder_over_exchange_depth",
            "folder_over_exchange_subfolder_limit",
            "message_over_size_limit",
            "message_over_exchange_size_limit",
            "file_too_large",
            "path_too_long",
            "empty_name",
            "skipped",
            "mailbox_over_quota_fraction",
            "too_many_items",
            "name_mapped",
        ] {
            assert_ne!(judge(rule).1, judge("an unknown rule").1, "{rule}");
        }
    }
}
