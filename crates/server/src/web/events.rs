//! Events: the project's list and a month calendar of the scheduled windows, scheduling one, changing and
//! cancelling it. Each page and form stands for an API route and has its permission; the forms call the
//! API's own handlers, so the schedule policy and the gates refuse exactly as on the API, and the refusal
//! is shown on the form with what was typed kept.

use super::api_error_page;
use super::event_choice::{self, ChoiceValues};
use super::event_lists::{DetailQuery, Pager, mapping_list};
use super::frame::Frame;
use super::page::{self, Signed, may, path_id};
use crate::api::events::{self as api, ChangeEvent, CreateEvent};
use crate::auth::Caller;
use crate::db::{self, Project};
use crate::programme::events::{Event, load_event, project_events};
use crate::programme::grid::{NOT_SCHEDULED, STATES, grid_page};
use crate::programme::reports::when;
use crate::{ApiError, ApiResult, AppState};
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Extension, Json, Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, Utc};
use ferry_core::id::{EventId, MappingId, ProjectId, TenantId};
use ferry_core::programme::event::{EventKind, EventState};
use ferry_store::programme::GridFilter;
use ferry_store::programme::Membership;
use serde::Deserialize;
use std::collections::HashMap;

/// An event as a row.
pub struct Row {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub pilot: bool,
    pub start: String,
    pub state: &'static str,
    pub mappings: usize,
}

impl From<&Event> for Row {
    fn from(e: &Event) -> Row {
        Row {
            id: e.id.to_string(),
            name: e.name.clone(),
            kind: match e.kind {
                EventKind::Synchronization => "synchronization",
                EventKind::Completion => "completion",
            }
            .to_owned(),
            pilot: e.pilot,
            start: when(e.start),
            state: e.state.as_str(),
            mappings: e.mappings.len(),
        }
    }
}

/// One day of the calendar.
pub struct Day {
    pub date: String,
    pub day: u32,
    pub in_month: bool,
    pub events: Vec<(String, String, String, &'static str)>,
}

/// A month of the calendar, Monday first.
pub struct Calendar {
    pub title: String,
    pub prev: String,
    pub next: String,
    pub weeks: Vec<Vec<Day>>,
}

#[derive(Template, WebTemplate)]
#[template(path = "events/list.html")]
struct ListPage {
    frame: Frame,
    base: String,
    rows: Vec<Row>,
    calendar: Calendar,
    /// The schedule form, for roles that may create events.
    form: Option<NewForm>,
}

/// The schedule form: how many mappings the project has and how many are in no event, the grid's states
/// (a choice), what was typed, and the refusal of the last try.
pub struct NewForm {
    /// The mappings grid's page.
    pub grid: String,
    pub total: u64,
    pub not_scheduled: u64,
    pub states: &'static [&'static str],
    pub f: FormValues,
    pub refusal: Option<String>,
}

/// What the schedule form shows (again, with a refusal, after a refused POST).
pub struct FormValues {
    pub name: String,
    pub kind: String,
    pub pilot: bool,
    pub start: String,
    /// Which mappings ([`super::event_choice`]).
    pub choice: ChoiceValues,
}

#[derive(Template, WebTemplate)]
#[template(path = "events/detail.html")]
struct DetailPage {
    frame: Frame,
    base: String,
    e: Row,
    in_event: Vec<(String, String)>,
    others: Vec<(String, String)>,
    /// Where the two lists are: "Mappings a–b of n", and the links to their other pages.
    in_pager: Pager,
    others_pager: Pager,
    start_input: String,
    may_change: bool,
    may_cancel: bool,
    changeable: bool,
    over: bool,
    refusal: Option<String>,
}

fn page_base(t: &str, p: &str) -> String {
    format!("/tenants/{t}/projects/{p}/events")
}

fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

/// The project of a page path, with the frame around its pages (tenant → project, the Events section).
pub async fn place(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    tenant: &str,
    project: &str,
) -> ApiResult<(Project, Frame)> {
    let t: TenantId = path_id(tenant, "tenant")?;
    let p: ProjectId = path_id(project, "project")?;
    let p = db::load_project(&*st.programme, t, p).await?;
    let tenant_doc = db::load_tenant(&*st.programme, t).await?;
    let frame = Frame::new(signed, c)
        .tenant(t, &tenant_doc.name)
        .project(p.id, &p.name)
        .here("Events");
    Ok((p, frame))
}

#[derive(Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

/// The first day of `month` (`YYYY-MM`), or of the month of `now` when absent or unreadable.
fn month_start(month: Option<&str>, now: DateTime<Utc>) -> NaiveDate {
    month
        .and_then(|m| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok())
        .unwrap_or_else(|| now.date_naive().with_day(1).unwrap_or(now.date_naive()))
}

fn calendar(first: NaiveDate, events: &[Event], base: &str) -> Calendar {
    let mut by_day: HashMap<NaiveDate, Vec<&Event>> = HashMap::new();
    for e in events {
        by_day.entry(e.start.date_naive()).or_default().push(e);
    }
    let back = first.weekday().num_days_from_monday() as u64;
    let mut day = first.checked_sub_days(Days::new(back)).unwrap_or(first);
    let next_month = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    let prev_month = first
        .checked_sub_months(chrono::Months::new(1))
        .unwrap_or(first);
    let mut weeks = Vec::new();
    while day < next_month {
        let mut week = Vec::new();
        for _ in 0..7 {
            let mut evs: Vec<_> = by_day.get(&day).cloned().unwrap_or_default();
            evs.sort_by_key(|e| e.start);
            week.push(Day {
                date: day.format("%Y-%m-%d").to_string(),
                day: day.day(),
                in_month: day.month() == first.month(),
                events: evs
                    .iter()
                    .map(|e| {
                        (
                            e.id.to_string(),
                            e.name.clone(),
                            e.start.format("%H:%M").to_string(),
                            e.state.as_str(),
                        )
                    })
                    .collect(),
            });
            day = day.succ_opt().unwrap_or(day);
        }
        weeks.push(week);
    }
    Calendar {
        title: first.format("%B %Y").to_string(),
        prev: format!("{base}?month={}", prev_month.format("%Y-%m")),
        next: format!("{base}?month={}", next_month.format("%Y-%m")),
        weeks,
    }
}

/// `GET /tenants/{t}/projects/{p}/events[?month=YYYY-MM]`: the list, the month's calendar and, for the
/// roles that may, the schedule form.
pub async fn list(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((t, p)): Path<(String, String)>,
    Query(q): Query<MonthQuery>,
) -> Response {
    let first = month_start(q.month.as_deref(), st.clock.now());
    let f = FormValues {
        name: String::new(),
        kind: "synchronization".into(),
        pilot: false,
        start: String::new(),
        choice: ChoiceValues::fresh(),
    };
    list_page(&st, &signed, &c, (&t, &p), first, f, None).await
}

async fn list_page(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    (t, p): (&str, &str),
    first: NaiveDate,
    f: FormValues,
    refusal: Option<ApiError>,
) -> Response {
    let with_form = may(c, &page::EVENT_CREATE);
    let loaded = async {
        let (project, frame) = place(st, signed, c, t, p).await?;
        let events = project_events(&*st.programme, project.id, &[]).await?;
        // The form counts the mappings (a page of none), not lists them: thousands of checkboxes help nobody.
        let counts = if with_form {
            let f = GridFilter {
                state: Some(NOT_SCHEDULED.into()),
                ..GridFilter::default()
            };
            let g = grid_page(st, &project, &f, 0, 0).await?;
            (g.total, g.matching)
        } else {
            (0, 0)
        };
        Ok::<_, ApiError>((frame, events, counts))
    };
    let (frame, events, (total, not_scheduled)) = match loaded.await {
        Ok(x) => x,
        Err(e) => return api_error_page(e),
    };
    let base = page_base(t, p);
    let status = refusal.as_ref().map_or(StatusCode::OK, |e| e.status);
    let form = with_form.then(|| NewForm {
        grid: format!("/tenants/{t}/projects/{p}/mappings"),
        total,
        not_scheduled,
        states: &STATES,
        f,
        refusal: refusal.map(|e| e.message),
    });
    let body = ListPage {
        frame,
        calendar: calendar(first, &events, &base),
        rows: events.iter().map(Row::from).collect(),
        base,
        form,
    };
    (status, body).into_response()
}

/// The pairs of a form body (a field may repeat, as checkboxes do).
fn fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(f: &'a [(String, String)], name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn all(f: &[(String, String)], name: &str) -> Vec<String> {
    f.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// A `datetime-local` value, read as UTC.
fn parse_start(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map(|t| t.and_utc())
        .map_err(|_| {
            ApiError::bad_request("the start needs a date and a time (UTC), e.g. 2025-03-10 09:00")
        })
}

fn parse_ids(raw: &[String]) -> Result<Vec<MappingId>, ApiError> {
    raw.iter()
        .map(|m| {
            m.parse::<MappingId>()
                .map_err(|_| ApiError::bad_request(format!("{m:?} is not a mapping id")))
        })
        .collect()
}

fn parse_kind(raw: &str) -> Result<EventKind, ApiError> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned()))
        .map_err(|_| ApiError::bad_request(format!("no event kind {raw:?}")))
}

/// `POST /tenants/{t}/projects/{p}/events`: schedule it; a refusal is shown on the form.
pub async fn create(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((t, p)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let values = FormValues {
        name: field(&f, "name").to_owned(),
        kind: field(&f, "kind").to_owned(),
        pilot: field(&f, "pilot") == "on",
        start: field(&f, "start").to_owned(),
        choice: ChoiceValues {
            choose: field(&f, "choose").to_owned(),
            state: field(&f, "state").to_owned(),
            q: field(&f, "q").to_owned(),
            names: field(&f, "names").to_owned(),
            ids: all(&f, "mapping"),
        },
    };
    // The choice is read only for a role that may schedule (any other is refused by the API, as there).
    let chosen = if may(&c, &page::EVENT_CREATE) && !values.choice.choose.is_empty() {
        match place(&st, &signed, &c, &t, &p).await {
            Ok((project, _)) => event_choice::resolve(&st, &project, &values.choice)
                .await
                .map(|ids| ids.iter().map(ToString::to_string).collect()),
            Err(e) => Err(e),
        }
    } else {
        Ok(values.choice.ids.clone())
    };
    let parsed = (|| {
        Ok::<_, ApiError>(CreateEvent {
            name: values.name.clone(),
            kind: parse_kind(&values.kind)?,
            pilot: values.pilot,
            start: parse_start(&values.start)?,
            mappings: parse_ids(&chosen?)?,
        })
    })();
    let answer = match parsed {
        Ok(b) => {
            api::create(
                State(st.clone()),
                Extension(c.clone()),
                Path((t.clone(), p.clone())),
                Json(b),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match answer {
        Ok(Json(v)) => {
            let id = v["result"]["id"].as_str().unwrap_or_default();
            see_other(&format!("{}/{id}", page_base(&t, &p)))
        }
        Err(e) if e.status.is_server_error() || e.status == StatusCode::NOT_FOUND => {
            api_error_page(e)
        }
        Err(e) => {
            // The calendar shows the month of the start that was asked for, when it reads.
            let first = parse_start(&values.start)
                .map(|s| month_start(None, s))
                .unwrap_or_else(|_| month_start(None, st.clock.now()));
            list_page(&st, &signed, &c, (&t, &p), first, values, Some(e)).await
        }
    }
}

async fn detail_page(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    (t, p, e): (&str, &str, &str),
    q: DetailQuery,
    refusal: Option<ApiError>,
) -> Response {
    let here = format!("{}/{e}", page_base(t, p));
    let loaded = async {
        let (project, frame) = place(st, signed, c, t, p).await?;
        let id: EventId = path_id(e, "event")?;
        let event = load_event(&*st.programme, project.id, id).await?;
        // A page of each list: an event may hold tens of thousands of the project's mappings (issue 13).
        let add = q.add.map(|a| format!("&add={a}")).unwrap_or_default();
        let (in_event, in_pager) = mapping_list(st, &project, id, Membership::In, q.page, |n| {
            format!("{here}?page={n}{add}")
        })
        .await?;
        let page = q.page.map(|n| format!("page={n}&")).unwrap_or_default();
        let (others, others_pager) =
            mapping_list(st, &project, id, Membership::NotIn, q.add, |n| {
                format!("{here}?{page}add={n}")
            })
            .await?;
        Ok::<_, ApiError>((frame, event, in_event, in_pager, others, others_pager))
    };
    let (frame, event, in_event, in_pager, others, others_pager) = match loaded.await {
        Ok(x) => x,
        Err(e) => return api_error_page(e),
    };
    let status = refusal.as_ref().map_or(StatusCode::OK, |e| e.status);
    let body = DetailPage {
        frame,
        base: page_base(t, p),
        e: Row::from(&event),
        in_event,
        others,
        in_pager,
        others_pager,
        start_input: event.start.format("%Y-%m-%dT%H:%M").to_string(),
        may_change: may(c, &page::EVENT_CHANGE),
        may_cancel: may(c, &page::EVENT_CANCEL),
        changeable: event.state.check_changeable().is_ok(),
        over: matches!(event.state, EventState::Completed | EventState::Cancelled),
        refusal: refusal.map(|e| e.message),
    };
    (status, body).into_response()
}

/// `GET /tenants/{t}/projects/{p}/events/{e}`: the event, its mappings, the change and cancel forms.
pub async fn detail(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((t, p, e)): Path<(String, String, String)>,
    Query(q): Query<DetailQuery>,
) -> Response {
    detail_page(&st, &signed, &c, (&t, &p, &e), q, None).await
}

/// After a change: the event's page, or the refusal on it.
async fn after_change(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    ids: (&str, &str, &str),
    answer: ApiResult<Json<serde_json::Value>>,
) -> Response {
    match answer {
        Ok(_) => see_other(&format!("{}/{}", page_base(ids.0, ids.1), ids.2)),
        Err(e) if e.status.is_server_error() || e.status == StatusCode::NOT_FOUND => {
            api_error_page(e)
        }
        Err(e) => detail_page(st, signed, c, ids, DetailQuery::default(), Some(e)).await,
    }
}

/// `POST /tenants/{t}/projects/{p}/events/{e}`: change name, start, pilot flag or mappings.
pub async fn change(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((t, p, e)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let parsed = (|| {
        Ok::<_, ApiError>(ChangeEvent {
            name: Some(field(&f, "name").to_owned()).filter(|n| !n.trim().is_empty()),
            start: Some(parse_start(field(&f, "start"))?),
            pilot: Some(field(&f, "pilot") == "on"),
            add: parse_ids(&all(&f, "add"))?,
            remove: parse_ids(&all(&f, "remove"))?,
        })
    })();
    let answer = match parsed {
        Ok(b) => {
            api::change(
                State(st.clone()),
                Extension(c.clone()),
                Path((t.clone(), p.clone(), e.clone())),
                Json(b),
            )
            .await
        }
        Err(e) => Err(e),
    };
    after_change(&st, &signed, &c, (&t, &p, &e), answer).await
}

/// `POST /tenants/{t}/projects/{p}/events/{e}/cancel`
pub async fn cancel(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((t, p, e)): Path<(String, String, String)>,
) -> Response {
    let answer = api::cancel(
        State(st.clone()),
        Extension(c.clone()),
        Path((t.clone(), p.clone(), e.clone())),
    )
    .await;
    after_change(&st, &signed, &c, (&t, &p, &e), answer).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_calendar_starts_on_monday_and_covers_the_whole_month() {
        let now = Utc.with_ymd_and_hms(2025, 3, 3, 10, 0, 0).single().unwrap();
        let first = month_start(None, now);
        assert_eq!(first.to_string(), "2025-03-01");
        let c = calendar(first, &[], "/x");
        assert_eq!(
            c.weeks[0][0].date, "2025-02-24",
            "March 2025 starts on a Saturday"
        );
        assert!(!c.weeks[0][0].in_month);
        assert!(
            c.weeks
                .last()
                .unwrap()
                .iter()
                .any(|d| d.date == "2025-03-31")
        );
        assert_eq!(c.prev, "/x?month=2025-02");
        assert_eq!(c.next, "/x?month=2025-04");
        assert_eq!(month_start(Some("nonsense"), now), first);
        assert_eq!(month_start(Some("2025-12"), now).to_string(), "2025-12-01");
    }

    #[test]
    fn a_start_is_read_as_utc_and_a_bad_one_is_refused_in_words() {
        assert_eq!(
            parse_start("2025-03-10T09:00").unwrap().to_rfc3339(),
            "2025-03-10T09:00:00+00:00"
        );
        assert!(
            parse_start("tomorrow")
                .unwrap_err()
                .message
                .contains("date and a time")
        );
    }
}
