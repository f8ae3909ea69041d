//! An event's live view: `GET /tenants/{t}/projects/{p}/events/{e}/live` shows the event's status now
//! (running, queued, done, failed; items; grade; a refresh link that works without JavaScript), and
//! `GET …/live/stream` is a server-sent-events stream of the same status fragment, sent again whenever it
//! changes: at once on a pass started/finished notice from the [`crate::feed`], and at most every second
//! while the view is open. The page swaps the fragment in place (htmx's SSE extension), so it updates by
//! itself without reloading. Throughput is measured by the stream from the items handled between its
//! refreshes (wall time), and the time left is estimated from it.
//! Both have the permission of the API's `GET …/events/{event}/report` (see [`super::page`]); the stream
//! checks the session again at every update.

use super::api_error_page;
use super::events::place;
use super::frame::Frame;
use super::page::{self, Signed, path_id};
use super::session;
use crate::auth::{Caller, token_hash};
use crate::db::Project;
use crate::programme::events::{Event, load_event};
use crate::programme::live::{LiveStatus, live_status};
use crate::programme::reports::when;
use crate::{ApiError, ApiResult, AppState};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ferry_core::id::EventId;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// How often an open view refreshes on its own while no notice arrives.
pub const REFRESH: Duration = Duration::from_secs(1);
/// Throughput samples kept (one per refresh that changed something): the chart's width.
const SAMPLES: usize = 60;

type Ids = (String, String, String);

/// `?page=N`: the page of mappings the view lists.
#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<usize>,
}

impl PageQuery {
    /// The page asked for (from 1).
    fn number(&self) -> usize {
        self.page.unwrap_or(1).max(1)
    }
}

/// The live status with its page of mappings; a page past the last shows the last.
async fn status(
    st: &AppState,
    p: &Project,
    e: &Event,
    page: usize,
) -> ApiResult<(LiveStatus, usize)> {
    let now = st.clock.now();
    let offset = (page - 1).saturating_mul(MAPPINGS_PER_PAGE);
    let s = live_status(st, p, e, now, offset, MAPPINGS_PER_PAGE).await?;
    let pages = s.total.div_ceil(MAPPINGS_PER_PAGE).max(1);
    if page <= pages {
        return Ok((s, page));
    }
    let offset = (pages - 1) * MAPPINGS_PER_PAGE;
    Ok((
        live_status(st, p, e, now, offset, MAPPINGS_PER_PAGE).await?,
        pages,
    ))
}

/// The view's links for `page`: the stream, the refresh link, the previous and next pages.
fn view(ids: &Ids, s: LiveStatus, page: usize, rate: Option<f64>, chart: Chart) -> LiveView {
    let (stream, refresh) = paths(ids);
    let at = |n: usize| {
        if n > 1 {
            format!("?page={n}")
        } else {
            String::new()
        }
    };
    let pages = s.total.div_ceil(MAPPINGS_PER_PAGE).max(1);
    LiveView {
        eta: eta(&s, rate),
        prev: (page > 1).then(|| format!("{refresh}{}", at(page - 1))),
        next: (page < pages).then(|| format!("{refresh}{}", at(page + 1))),
        stream: format!("{stream}{}", at(page)),
        refresh: format!("{refresh}{}", at(page)),
        s,
        page,
        rate,
        chart,
    }
}

/// Mappings listed per page of the live view.
pub const MAPPINGS_PER_PAGE: usize = 100;

/// The status as the fragment shows it.
pub struct LiveView {
    pub s: LiveStatus,
    pub stream: String,
    pub refresh: String,
    /// The page of mappings shown (from 1), and the links to the pages around it.
    pub page: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    /// Items per second over the last interval, when measured.
    pub rate: Option<f64>,
    pub eta: String,
    pub chart: Chart,
}

/// Throughput over time as an inline SVG polyline (numbers only).
#[derive(Default)]
pub struct Chart {
    pub points: String,
    pub max: String,
    pub samples: usize,
}

impl LiveView {
    pub fn state(&self) -> &'static str {
        self.s.state.as_str()
    }

    pub fn at(&self) -> String {
        when(self.s.at)
    }

    pub fn moved(&self) -> String {
        bytes(&self.s.bytes)
    }

    /// The pages of the event's mappings.
    pub fn pages(&self) -> usize {
        self.s.total.div_ceil(MAPPINGS_PER_PAGE).max(1)
    }

    /// The positions (from 1) of the page's first and last mappings.
    pub fn first(&self) -> usize {
        self.s.offset + 1
    }

    pub fn last(&self) -> usize {
        self.s.offset + self.s.mappings.len()
    }

    pub fn rate_text(&self) -> String {
        match self.rate {
            Some(r) => format!("{r:.1} items/s"),
            None => "measuring…".into(),
        }
    }
}

/// Human-readable bytes.
pub fn bytes(n: &u64) -> String {
    let n = *n as f64;
    for (unit, size) in [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] {
        if n >= size {
            return format!("{:.1} {unit}", n / size);
        }
    }
    format!("{n} B")
}

#[derive(Template, WebTemplate)]
#[template(path = "events/live.html")]
struct LivePage {
    frame: Frame,
    base: String,
    event: Event,
    v: LiveView,
}

#[derive(Template)]
#[template(path = "events/live_status.html")]
struct LiveFragment<'a> {
    v: &'a LiveView,
}

fn paths((t, p, e): &Ids) -> (String, String) {
    let base = format!("/tenants/{t}/projects/{p}/events/{e}/live");
    (format!("{base}/stream"), base)
}

async fn load(st: &AppState, ids: &Ids) -> ApiResult<(Project, Event)> {
    let t = path_id(&ids.0, "tenant")?;
    let p = path_id(&ids.1, "project")?;
    let p = crate::db::load_project(&*st.programme, t, p).await?;
    let id: EventId = path_id(&ids.2, "event")?;
    let e = load_event(&*st.programme, p.id, id).await?;
    Ok((p, e))
}

/// `GET …/events/{event}/live`
pub async fn page(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path(ids): Path<Ids>,
    Query(q): Query<PageQuery>,
) -> Response {
    let loaded = async {
        let (project, frame) = place(&st, &signed, &c, &ids.0, &ids.1).await?;
        let id: EventId = path_id(&ids.2, "event")?;
        let event = load_event(&*st.programme, project.id, id).await?;
        let (s, page) = status(&st, &project, &event, q.number()).await?;
        Ok::<_, ApiError>((frame, event, s, page))
    };
    let (frame, event, s, page) = match loaded.await {
        Ok(x) => x,
        Err(e) => return api_error_page(e),
    };
    let v = view(&ids, s, page, None, Chart::default());
    LivePage {
        frame,
        base: format!("/tenants/{}/projects/{}/events", ids.0, ids.1),
        event,
        v,
    }
    .into_response()
}

/// The time left, in words: items outstanding in running passes plus, for each queued mapping, the average
/// items of a finished one — at the measured rate.
fn eta(s: &LiveStatus, rate: Option<f64>) -> String {
    if s.settled() || (s.running == 0 && s.queued == 0) {
        return "nothing left to copy in this round".into();
    }
    let Some(rate) = rate.filter(|r| *r > 0.0) else {
        return "estimated once items are moving".into();
    };
    let per_queued = if s.done == 0 {
        s.discovered / (s.running as u64).max(1)
    } else {
        s.done_discovered / s.done as u64
    };
    let left = s.outstanding() + per_queued * s.queued as u64;
    let secs = (left as f64 / rate).ceil() as u64;
    match secs {
        0..60 => "under a minute".into(),
        60..5400 => format!("about {} min", secs.div_ceil(60)),
        _ => format!("about {:.1} h", secs as f64 / 3600.0),
    }
}

/// The rate samples a stream keeps.
struct Meter {
    last: Option<(Instant, u64)>,
    rates: Vec<f64>,
}

impl Meter {
    /// Record `handled` items at `at`; the rate since the previous sample.
    fn sample(&mut self, at: Instant, handled: u64) -> Option<f64> {
        let rate = self.last.and_then(|(t, h)| {
            let dt = at.duration_since(t).as_secs_f64();
            (dt > 0.0).then(|| handled.saturating_sub(h) as f64 / dt)
        });
        self.last = Some((at, handled));
        if let Some(r) = rate {
            self.rates.push(r);
            if self.rates.len() > SAMPLES {
                self.rates.remove(0);
            }
        }
        rate
    }

    fn chart(&self) -> Chart {
        let max = self.rates.iter().copied().fold(0.0_f64, f64::max);
        let scale = if max > 0.0 { 40.0 / max } else { 0.0 };
        let points = self
            .rates
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{},{:.1}", i * 5, 45.0 - r * scale))
            .collect::<Vec<_>>()
            .join(" ");
        Chart {
            points,
            max: format!("{max:.1}"),
            samples: self.rates.len(),
        }
    }
}

struct Stream {
    st: AppState,
    ids: Ids,
    page: usize,
    token: String,
    rx: tokio::sync::broadcast::Receiver<crate::feed::Notice>,
    meter: Meter,
    sent: Option<String>,
    event: Option<EventId>,
}

impl Stream {
    /// Wait for a notice of this event or the refresh interval, whichever comes first.
    async fn wait(&mut self) {
        let deadline = tokio::time::sleep(REFRESH);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                n = self.rx.recv() => match n {
                    Ok(n) if Some(n.event) == self.event => return,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => { (&mut deadline).await; return; }
                },
            }
        }
    }

    /// The next fragment to send, or `None` to end the stream (the session or the permission is gone).
    async fn next(&mut self) -> Option<String> {
        loop {
            if self.sent.is_some() {
                self.wait().await;
            }
            still_allowed(&self.st, &self.token, &self.ids.0).await?;
            let (p, e) = load(&self.st, &self.ids).await.ok()?;
            self.event = Some(e.id);
            let (s, page) = status(&self.st, &p, &e, self.page).await.ok()?;
            let rate = self.meter.sample(Instant::now(), s.handled());
            let v = view(&self.ids, s, page, rate, self.meter.chart());
            let html = LiveFragment { v: &v }.render().ok()?;
            if self.sent.as_deref() != Some(html.as_str()) {
                self.sent = Some(html.clone());
                return Some(html);
            }
        }
    }
}

/// Whether the session's user may still read the live view (a revoked token or a removed member ends
/// the stream at its next update).
async fn still_allowed(st: &AppState, token: &str, tenant: &str) -> Option<()> {
    let user = st
        .programme
        .user_by_token(&token_hash(token))
        .await
        .ok()
        .flatten()?;
    let caller = Caller {
        user: user.id,
        name: user.name,
        operator: user.operator,
        role: None,
        tenant: None,
    };
    let p = page::EVENT_LIVE_STREAM;
    crate::auth::check(st, caller, p.scope(), p.permission(), Some(tenant))
        .await
        .ok()
        .map(|_| ())
}

/// `GET …/events/{event}/live/stream`: `event: live` messages, each the whole status fragment.
pub async fn stream(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(ids): Path<Ids>,
    Query(q): Query<PageQuery>,
) -> Response {
    // The page table's check ran already; the token is kept to check again at every update.
    let Some(token) = session::token(&st, &headers, st.clock.now()) else {
        return super::internal("a live stream without a session passed the page check");
    };
    if let Err(e) = load(&st, &ids).await {
        return api_error_page(e);
    }
    let state = Stream {
        rx: st.feed.subscribe(),
        st,
        ids,
        page: q.number(),
        token,
        meter: Meter {
            last: None,
            rates: Vec::new(),
        },
        sent: None,
        event: None,
    };
    let events = futures_util::stream::unfold(state, |mut s| async move {
        let html = s.next().await?;
        Some((
            Ok::<_, Infallible>(SseEvent::default().event("live").data(html)),
            s,
        ))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_measures_items_per_second_between_samples() {
        let mut m = Meter {
            last: None,
            rates: Vec::new(),
        };
        let t0 = Instant::now();
        assert_eq!(m.sample(t0, 0), None);
        let r = m.sample(t0 + Duration::from_secs(2), 100);
        assert_eq!(r, Some(50.0));
        let c = m.chart();
        assert_eq!(c.samples, 1);
        assert_eq!(c.points, "0,5.0");
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(bytes(&512), "512 B");
        assert_eq!(bytes(&1_500), "1.5 kB");
        assert_eq!(bytes(&2_000_000_000), "2.0 GB");
    }
}
