//! Printable reports: an event's report (live, or the final report frozen when the event completed) and
//! the project's report (its events, the grades its mappings reached, the self-service notice), with
//! charts drawn on the server as inline SVG ([`super::report_chart`]): throughput over time from the pass
//! ends, and the grade distribution. Each chart's figures are also a table.
//!
//! The event report page reads [`report_source`] — the final report, or the report now as the event's
//! summary kept in the store (`crate::programme::event_lines`: its counts and totals summed there, a page
//! of its lines read, its throughput from the passes' ends grouped by minute), decided by the same rules
//! as the API's `GET …/events/{event}/report` (whose permission it has); the project report reads each
//! event's head and graded mappings from the same source, so an event of 10,000 mappings that all ran is
//! not read whole for a page (issue 13). The print stylesheet
//! (`@media print` in `ferry.css`) drops the navigation and the buttons and starts each section on a new
//! page.

use super::api_error_page;
use super::events::place;
use super::frame::Frame;
use super::live::bytes;
use super::page::{Signed, path_id};
use super::report_chart::{
    Chart, EndGroup, Figure, Interval, columns, step_text, throughput_grouped,
};
use crate::ApiError;
use crate::AppState;
use crate::auth::Caller;
use crate::programme::events::{Event, load_event, project_events};
use crate::programme::passes::event_passes;
use crate::programme::reports::{ReportSource, report_source, when};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ferry_core::id::EventId;
use ferry_core::programme::event::EventKind;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// Mappings listed per page of an event report.
pub const MAPPINGS_PER_PAGE: usize = 100;
/// Throughput intervals at most.
const INTERVALS: usize = 24;
/// The grades in the order charts and tables show them; mappings without a grade yet come last.
pub const GRADES: [&str; 4] = ["Perfect", "Good", "Investigate", "Poor"];
const UNGRADED: &str = "Not graded yet";

/// An event's kind in words.
fn kind_text(k: EventKind) -> &'static str {
    match k {
        EventKind::Synchronization => "synchronization",
        EventKind::Completion => "completion",
    }
}

fn n(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn text(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The grade distribution: `(grade, mappings)` for each grade and the ungraded, in [`GRADES`] order.
pub fn grade_counts<'a>(grades: impl Iterator<Item = Option<&'a str>>) -> Vec<(String, u64)> {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for g in grades {
        *counts.entry(g.unwrap_or(UNGRADED)).or_default() += 1;
    }
    GRADES
        .iter()
        .chain(std::iter::once(&UNGRADED))
        .map(|g| (g.to_string(), counts.get(g).copied().unwrap_or(0)))
        .collect()
}

fn grade_chart(id: &str, counts: &[(String, u64)]) -> Chart {
    let figures: Vec<Figure> = counts
        .iter()
        .map(|(g, v)| Figure {
            label: g.clone(),
            value: *v,
            class: format!("grade-{}", g.replace(' ', "-")),
        })
        .collect();
    columns(id, "Mappings by grade", "mappings", &figures)
}

/// One mapping's line of the event report.
pub struct MappingLine {
    pub label: String,
    pub pass: String,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: String,
    pub grade: String,
    pub approved: bool,
    pub next: String,
}

/// A throughput interval as the table shows it.
pub struct IntervalLine {
    pub start: String,
    pub passes: u64,
    pub items: u64,
    pub bytes: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "report/event.html")]
struct EventReportPage {
    frame: Frame,
    events_href: String,
    event_href: String,
    event: Event,
    kind: &'static str,
    is_final: bool,
    generated: String,
    completed: String,
    notice: Option<String>,
    grade: Option<String>,
    completion: Option<String>,
    discovered: u64,
    copied: u64,
    skipped: u64,
    failed: u64,
    moved: String,
    grades: Vec<(String, u64)>,
    grade_chart: Chart,
    step: String,
    intervals: Vec<IntervalLine>,
    throughput_chart: Chart,
    mappings: Vec<MappingLine>,
    total_mappings: usize,
    page: usize,
    pages: usize,
    first: usize,
    last: usize,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<usize>,
}

fn time_of(v: &Value) -> String {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| when(t.with_timezone(&Utc)))
        .unwrap_or_default()
}

fn mapping_line(m: &Value) -> MappingLine {
    let c = &m["counters"];
    let last = &m["last_pass"];
    let pass = if last.is_object() {
        format!(
            "{} #{} {}",
            text(last, "kind"),
            n(last, "attempt"),
            text(last, "outcome")
        )
    } else {
        "none yet".into()
    };
    MappingLine {
        label: text(m, "label"),
        pass,
        copied: n(c, "copied"),
        skipped: n(c, "skipped"),
        failed: n(c, "failed"),
        bytes: bytes(&n(c, "bytes")),
        grade: text(m, "grade"),
        approved: m["approved"].as_bool().unwrap_or(false),
        next: text(m, "next_text"),
    }
}

/// `GET /tenants/{tenant}/projects/{project}/events/{event}/report`
pub async fn event(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, event)): Path<(String, String, String)>,
    Query(q): Query<PageQuery>,
) -> Response {
    let loaded = async {
        let (p, frame) = place(&st, &signed, &c, &tenant, &project).await?;
        let id: EventId = path_id(&event, "event")?;
        let e = load_event(&*st.programme, p.id, id).await?;
        let r = report_source(&st, &p, &e).await?;
        // The page's lines only: the report of an event of 10,000 mappings is not built whole (issue 13).
        let asked = q.page.unwrap_or(1).max(1);
        let offset = |page: usize| (page - 1).saturating_mul(MAPPINGS_PER_PAGE);
        let (total, mut lines) = r
            .page(&st, &p, &e, offset(asked), MAPPINGS_PER_PAGE)
            .await?;
        let pages = total.div_ceil(MAPPINGS_PER_PAGE).max(1);
        let page = asked.min(pages);
        if page != asked {
            lines = r
                .page(&st, &p, &e, offset(page), MAPPINGS_PER_PAGE)
                .await?
                .1;
        }
        // Throughput: what each finished pass handled, at its end; now, grouped by minute in the store.
        let ends: Vec<EndGroup> = match &r {
            ReportSource::Final(_) => event_passes(&*st.programme, e.id)
                .await?
                .iter()
                .filter_map(|p| {
                    let at = p.finished_at?;
                    let c = p.counters.as_ref()?;
                    Some(EndGroup {
                        first: at,
                        last: at,
                        passes: 1,
                        items: n(c, "copied") + n(c, "skipped") + n(c, "failed"),
                        bytes: n(c, "bytes"),
                    })
                })
                .collect(),
            ReportSource::Now(_) => st
                .programme
                .event_pass_ends(e.id)
                .await?
                .into_iter()
                .map(|g| EndGroup {
                    first: g.first,
                    last: g.last,
                    passes: g.passes,
                    items: g.items,
                    bytes: g.bytes,
                })
                .collect(),
        };
        Ok::<_, ApiError>((frame, e, r, total, page, lines, ends))
    };
    let (frame, e, r, total, page, lines, ends) = match loaded.await {
        Ok(x) => x,
        Err(err) => return api_error_page(err),
    };
    let grades = grade_counts(r.grades());
    let r = r.head();
    let (step, iv) = throughput_grouped(&ends, INTERVALS);
    let figures: Vec<Figure> = iv
        .iter()
        .map(|i| Figure {
            label: i.start.format("%H:%M").to_string(),
            value: i.items,
            class: String::new(),
        })
        .collect();
    let throughput_chart = columns(
        "throughput-chart",
        &format!("Items handled per {} (by pass end)", step_text(step)),
        "items",
        &figures,
    );
    let intervals = iv
        .iter()
        .map(|i: &Interval| IntervalLine {
            start: when(i.start),
            passes: i.passes,
            items: i.items,
            bytes: bytes(&i.bytes),
        })
        .collect();
    let pages = total.div_ceil(MAPPINGS_PER_PAGE).max(1);
    let mappings: Vec<MappingLine> = lines.iter().map(mapping_line).collect();
    let base = format!("/tenants/{tenant}/projects/{project}/events");
    let event_href = format!("{base}/{}", e.id);
    let here = format!("{event_href}/report");
    let totals = &r["totals"];
    let first = (page - 1) * MAPPINGS_PER_PAGE + 1;
    let last = (page - 1) * MAPPINGS_PER_PAGE + mappings.len();
    EventReportPage {
        kind: kind_text(e.kind),
        frame,
        events_href: base,
        is_final: r["final"].as_bool().unwrap_or(false),
        generated: time_of(&r["generated_at"]),
        completed: time_of(&r["event"]["completed_at"]),
        notice: r["notice"].as_str().map(str::to_owned),
        grade: r["grade"].as_str().map(str::to_owned),
        completion: r["completion_text"].as_str().map(str::to_owned),
        discovered: n(totals, "discovered"),
        copied: n(totals, "copied"),
        skipped: n(totals, "skipped"),
        failed: n(totals, "failed"),
        moved: bytes(&n(totals, "bytes")),
        grade_chart: grade_chart("grade-chart", &grades),
        grades,
        step: step_text(step),
        intervals,
        throughput_chart,
        mappings,
        total_mappings: total,
        first,
        last,
        page,
        pages,
        prev: (page > 1).then(|| format!("{here}?page={}", page - 1)),
        next: (page < pages).then(|| format!("{here}?page={}", page + 1)),
        event_href,
        event: e,
    }
    .into_response()
}

/// One event's line of the project report.
pub struct EventLine {
    pub href: String,
    pub name: String,
    pub kind: String,
    pub pilot: bool,
    pub start: String,
    pub state: String,
    pub is_final: bool,
    pub mappings: usize,
    pub grade: String,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub moved: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "report/project.html")]
struct ProjectReportPage {
    frame: Frame,
    name: String,
    workload: String,
    state: String,
    generated: String,
    notice: Option<String>,
    events: Vec<EventLine>,
    graded_mappings: u64,
    grades: Vec<(String, u64)>,
    grade_chart: Chart,
}

/// `GET /tenants/{tenant}/projects/{project}/report`: the project's events with their figures, and the
/// grade each mapping reached in the latest event that graded it.
pub async fn project(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
) -> Response {
    let loaded = async {
        let (p, frame) = place(&st, &signed, &c, &tenant, &project).await?;
        let frame = frame.here("Report");
        let t = crate::db::load_tenant(&*st.programme, p.tenant).await?;
        let notice = t.eligibility(&st.settings).notice();
        let mut events = project_events(&*st.programme, p.id, &[]).await?;
        events.sort_by_key(|e| e.start);
        // Each event's head and graded mappings, not its whole report (issue 13).
        let mut reports = Vec::with_capacity(events.len());
        for e in events {
            let r = report_source(&st, &p, &e).await?;
            let graded = r.graded(&st, &e).await?;
            reports.push((e, r, graded));
        }
        Ok::<_, ApiError>((p, frame, notice, reports))
    };
    let (p, frame, notice, reports) = match loaded.await {
        Ok(x) => x,
        Err(err) => return api_error_page(err),
    };
    // The latest grade of each mapping: later events (by start) override earlier ones.
    let mut latest: HashMap<String, String> = HashMap::new();
    let base = format!("/tenants/{tenant}/projects/{project}/events");
    let events = reports
        .iter()
        .map(|(e, r, graded)| {
            for (m, g) in graded {
                latest.insert(m.clone(), g.clone());
            }
            let r = r.head();
            let t = &r["totals"];
            EventLine {
                href: format!("{base}/{}/report", e.id),
                name: e.name.clone(),
                kind: kind_text(e.kind).to_owned(),
                pilot: e.pilot,
                start: when(e.start),
                state: e.state.as_str().to_owned(),
                is_final: r["final"].as_bool().unwrap_or(false),
                mappings: e.mappings.len(),
                grade: text(r, "grade"),
                copied: n(t, "copied"),
                skipped: n(t, "skipped"),
                failed: n(t, "failed"),
                moved: bytes(&n(t, "bytes")),
            }
        })
        .collect();
    let grades = grade_counts(latest.values().map(|g| Some(g.as_str())));
    let grades: Vec<(String, u64)> = grades.into_iter().filter(|(g, _)| g != UNGRADED).collect();
    ProjectReportPage {
        frame,
        name: p.name.clone(),
        workload: p.workload.to_string(),
        state: p.state.as_str().to_owned(),
        generated: when(st.clock.now()),
        notice,
        events,
        graded_mappings: latest.len() as u64,
        grade_chart: grade_chart("project-grade-chart", &grades),
        grades,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grade_distribution_counts_each_grade_in_order_and_the_ungraded_last() {
        let g = grade_counts(
            [
                Some("Good"),
                Some("Perfect"),
                None,
                Some("Perfect"),
                Some("Poor"),
            ]
            .into_iter(),
        );
        let want: Vec<(String, u64)> = [
            ("Perfect", 2),
            ("Good", 1),
            ("Investigate", 0),
            ("Poor", 1),
            (UNGRADED, 1),
        ]
        .iter()
        .map(|(g, n)| (g.to_string(), *n))
        .collect();
        assert_eq!(g, want);
    }
}
