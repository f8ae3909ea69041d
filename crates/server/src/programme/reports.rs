//! Reports: an event's report (live, or frozen when it completed) and a project's archived final report.

use crate::db::Project;
use crate::programme::digest::{Digest, digest};
use crate::programme::event_lines::{Summary, summary};
use crate::programme::events::{self, Event};
use crate::programme::load_mappings;
use crate::programme::passes::event_passes;
use crate::{ApiError, ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::id::MappingId;
use ferry_core::programme::event::EventState;
use ferry_store::programme::Membership;
use serde_json::{Value, json};
use std::collections::HashSet;

/// A time as reports and refusals write it.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An event's report at `now`: state, grade, totals of its passes, and per mapping the last pass (kind,
/// outcome, counters, grade), the attempts, whether its skipped items were approved, and what comes next.
/// The scheduler stores it as the final report when the event completes.
pub async fn event_report(
    st: &AppState,
    p: &Project,
    e: &Event,
    now: DateTime<Utc>,
) -> ApiResult<Value> {
    with_mappings(st, p, e, digest(st, p, e, now).await?).await
}

/// The whole report from its digest: a line per mapping of the event, in import order.
async fn with_mappings(st: &AppState, p: &Project, e: &Event, d: Digest) -> ApiResult<Value> {
    // A set, not `Vec::contains`: with 20,000 mappings the scan was 4·10⁸ comparisons (issue 12 §5).
    let in_event: HashSet<MappingId> = e.mappings.iter().copied().collect();
    let mappings: Vec<Value> = st
        .programme
        .mappings(p.id)
        .await?
        .iter()
        .filter(|m| in_event.contains(&m.id))
        .map(|m| d.line(m))
        .collect();
    let mut report = d.head;
    // Moved in, not through `json!`: the macro serializes a `Vec<Value>` into a new tree (a deep copy of
    // 20,000 mapping objects, then the original dropped: a third of the report's time, issue 12 §5).
    report["mappings"] = Value::Array(mappings);
    Ok(report)
}

/// The report the API's `GET …/events/{event}/report` answers: the final report stored when the event
/// completed, else the whole report at the clock's now (a line per mapping, built by the digest).
pub async fn report_of(st: &AppState, p: &Project, e: &Event) -> ApiResult<Value> {
    match final_of(st, e).await? {
        Some(r) => Ok(r),
        None => event_report(st, p, e, st.clock.now()).await,
    }
}

/// The final report of a completed event, if it has one stored.
async fn final_of(st: &AppState, e: &Event) -> ApiResult<Option<Value>> {
    if e.state != EventState::Completed {
        return Ok(None);
    }
    Ok(st
        .programme
        .final_report(e.id)
        .await?
        .and_then(|s| serde_json::from_str::<Value>(&s).ok()))
}

/// An event's report as the pages read it: the final report stored when the event completed, or the
/// report now as a [`Summary`] (summed in the store, its lines read a page at a time).
pub enum ReportSource {
    Final(Value),
    Now(Summary),
}

impl ReportSource {
    /// The report's state, grade, completion and totals (a final report: the whole report).
    pub fn head(&self) -> &Value {
        match self {
            ReportSource::Final(r) => r,
            ReportSource::Now(s) => &s.head,
        }
    }

    /// Each mapping's grade (`None`: not graded yet).
    pub fn grades(&self) -> Box<dyn Iterator<Item = Option<&str>> + '_> {
        match self {
            ReportSource::Final(r) => Box::new(
                r["mappings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| m["grade"].as_str()),
            ),
            ReportSource::Now(s) => Box::new(s.grades()),
        }
    }

    /// The graded mappings: (mapping id, grade), in import order.
    pub async fn graded(&self, st: &AppState, e: &Event) -> ApiResult<Vec<(String, String)>> {
        Ok(match self {
            ReportSource::Final(r) => r["mappings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    Some((
                        m["mapping"].as_str()?.to_owned(),
                        m["grade"].as_str()?.to_owned(),
                    ))
                })
                .collect(),
            ReportSource::Now(_) => st
                .programme
                .event_line_grades(e.id)
                .await?
                .into_iter()
                .map(|(m, g)| (m.to_string(), g))
                .collect(),
        })
    }

    /// How many mapping lines the report has, and `limit` of them from `offset` (import order).
    pub async fn page(
        &self,
        st: &AppState,
        p: &Project,
        e: &Event,
        offset: usize,
        limit: usize,
    ) -> ApiResult<(usize, Vec<Value>)> {
        match self {
            ReportSource::Final(r) => {
                let all = r["mappings"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                Ok((
                    all.len(),
                    all.iter().skip(offset).take(limit).cloned().collect(),
                ))
            }
            ReportSource::Now(s) => {
                let page = st
                    .programme
                    .event_mapping_page(p.id, e.id, Membership::In, offset as u64, limit as u64)
                    .await?;
                let total = usize::try_from(page.total).unwrap_or(usize::MAX);
                Ok((total, s.lines(st, e, &page.rows).await?))
            }
        }
    }
}

/// The report of `e` the pages read: the final one once the event completed, else the summary now.
pub async fn report_source(st: &AppState, p: &Project, e: &Event) -> ApiResult<ReportSource> {
    if let Some(r) = final_of(st, e).await? {
        return Ok(ReportSource::Final(r));
    }
    Ok(ReportSource::Now(summary(st, p, e, st.clock.now()).await?))
}

/// Write the project's final report under `DATA/archive/` and return its path: the project, its mappings,
/// and per event its final report (or its status at archiving) with every pass summary. Never a secret.
pub async fn archive_final_report(st: &AppState, project: &Project) -> ApiResult<String> {
    let dir = st.data_dir.join("archive");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ApiError::internal(format!("cannot create {}: {e}", dir.display())))?;
    let now = st.clock.now();
    let mut evs = Vec::new();
    for e in events::project_events(&*st.programme, project.id, &[]).await? {
        let stored = st.programme.final_report(e.id).await?;
        let report = match stored.and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
            Some(r) => r,
            None => event_report(st, project, &e, now).await?,
        };
        let passes: Vec<Value> = event_passes(&*st.programme, e.id)
            .await?
            .iter()
            .map(|p| {
                let mut v = p.view();
                v["mapping"] = json!(p.mapping);
                v
            })
            .collect();
        evs.push(json!({ "event": e, "report": report, "passes": passes }));
    }
    let mappings = load_mappings(st, project.id).await?;
    let doc = json!({
        "archived_at": now,
        "project": project,
        "mappings": mappings,
        "events": evs,
    });
    let path = dir.join(format!("project-{}.json", project.id));
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| ApiError::internal(format!("the archive cannot be written as JSON: {e}")))?;
    std::fs::write(&path, text)
        .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}
