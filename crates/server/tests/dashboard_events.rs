//! The dashboard's event pages and the live view, end to end: a real `ferry serve`, real Dovecot source and
//! target servers, the pages driven over HTTP as a browser sends them (session and CSRF cookies, forms), and
//! in Chromium (`ferry_testkit::browser`) for the story that needs JavaScript. Screenshots land in
//! `target/screenshots/<test>/`.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;

use common::web::{self, Html, WebSession};
use common::{OPERATOR_TOKEN, TestServer};
use ferry_server::{Clock, scheduler};
use ferry_testkit::{Dovecot, DovecotOptions, corpus};
use reqwest::header::COOKIE;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PW: &str = "pw-Dash-Secret-9";
const WAIT: Duration = Duration::from_secs(60);

/// A tenant with a customer-admin, an engineer and a viewer, one mail project between two Dovecots.
struct Setup {
    s: TestServer,
    source: Dovecot,
    _target: Dovecot,
    tenant: String,
    project: String,
    customer: String,
    viewer: String,
    mappings: BTreeMap<String, String>,
}

impl Setup {
    async fn start(users: &[&str]) -> Setup {
        Setup::start_for(users, None).await
    }

    /// As [`Setup::start`], the tenant made from `tenant` (an API body) when given.
    async fn start_for(users: &[&str], tenant: Option<serde_json::Value>) -> Setup {
        let s = TestServer::start().await;
        let opts = DovecotOptions {
            special_use: false,
            ..DovecotOptions::default()
        };
        let source = Dovecot::start(opts).unwrap();
        let target = Dovecot::start(opts).unwrap();
        for u in users {
            source.add_user(u, PW).unwrap();
            target.add_user(&format!("{u}@x"), PW).unwrap();
        }
        let tenant = match tenant {
            Some(body) => {
                s.post(OPERATOR_TOKEN, "/api/v1/tenants", body).await.ok()["result"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
            None => s.tenant("Contoso", 800).await,
        };
        let customer = s.member(&tenant, "carol", "customer-admin").await;
        let engineer = s.member(&tenant, "eddie", "engineer").await;
        let viewer = s.member(&tenant, "vera", "viewer").await;
        let p = s
            .post(
                &customer,
                &format!("/api/v1/tenants/{tenant}/projects"),
                json!({ "name": "Mail", "workload": "mail" }),
            )
            .await
            .ok();
        let project = p["result"]["id"].as_str().unwrap().to_string();
        let api = format!("/api/v1/tenants/{tenant}/projects/{project}");
        s.put(
            &engineer,
            &format!("{api}/endpoints/source"),
            json!({ "url": format!("{}?starttls=never", source.url()) }),
        )
        .await
        .ok();
        let (admin, admin_pw) = Dovecot::master();
        s.put(
            &engineer,
            &format!("{api}/endpoints/target"),
            json!({ "url": format!("{}?starttls=never", target.url()), "username": admin }),
        )
        .await
        .ok();
        s.put(
            &customer,
            &format!("{api}/endpoints/target/credential"),
            json!({ "secret": admin_pw }),
        )
        .await
        .ok();
        let rows: String = users.iter().map(|u| format!("{u}@x,{u},{PW}\n")).collect();
        let mappings = s
            .import_mail(&engineer, &api, &rows)
            .await
            .iter()
            .map(|m| {
                (
                    m["source"].as_str().unwrap().to_string(),
                    m["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        Setup {
            s,
            source,
            _target: target,
            tenant,
            project,
            customer,
            viewer,
            mappings,
        }
    }

    fn api(&self, rest: &str) -> String {
        format!(
            "/api/v1/tenants/{}/projects/{}{rest}",
            self.tenant, self.project
        )
    }

    fn page(&self, rest: &str) -> String {
        format!("/tenants/{}/projects/{}{rest}", self.tenant, self.project)
    }

    async fn web(&self, token: &str) -> Web {
        Web {
            base: self.s.base.clone(),
            session: WebSession::sign_in(&self.s, token).await,
        }
    }
}

/// A signed-in session on one server, for pages over HTTP: forms get the CSRF field added.
struct Web {
    base: String,
    session: WebSession,
}

impl Web {
    async fn get(&self, path: &str) -> Html {
        let r = web::client()
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.session.cookie)
            .send()
            .await
            .unwrap();
        Html::read(r).await
    }

    /// POST a form; the CSRF field is added.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Html {
        let mut f: Vec<(&str, &str)> = vec![("csrf", self.session.csrf.as_str())];
        f.extend_from_slice(form);
        self.post_raw(path, &f).await
    }

    async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> Html {
        let r = web::client()
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.session.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        Html::read(r).await
    }
}

fn start_input(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_form_shows_each_refusal_inline_then_schedules_changes_and_cancels_an_event() {
    let st = Setup::start(&["alice", "bob"]).await;
    let web = st.web(&st.customer).await;
    let alice = st.mappings["alice"].clone();
    let now = st.s.clock.now();

    let list = web.get(&st.page("/events")).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("id=\"no-events\""), "{}", list.body);
    assert!(
        list.body.contains("March 2025"),
        "the calendar shows the clock's month"
    );

    assert!(list.body.contains("id=\"new-event\""), "the schedule form");
    assert!(
        list.body
            .contains("<span id=\"not-scheduled-count\">2</span> of 2"),
        "the form counts the mappings not in an event: {}",
        list.body
    );

    // Gates open: refused, every open gate named, what was typed kept.
    let start = start_input(now);
    let ask = |name: &'static str, pilot: bool, start: String| {
        let web = &web;
        let alice = alice.clone();
        let path = st.page("/events");
        async move {
            let mut f = vec![
                ("name", name),
                ("kind", "synchronization"),
                ("start", start.as_str()),
                ("mapping", alice.as_str()),
            ];
            if pilot {
                f.push(("pilot", "on"));
            }
            web.post(&path, &f).await
        }
    };
    let refused = ask("Pilot <one>", true, start.clone()).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("id=\"refusal\""), "{}", refused.body);
    for gate in ["core onboarding", "targets provisioned and active"] {
        assert!(refused.body.contains(gate), "{}", refused.body);
    }
    assert!(
        refused.body.contains("value=\"Pilot &#60;one&#62;\"")
            || refused.body.contains("value=\"Pilot &lt;one&gt;\""),
        "the name is kept, HTML-escaped: {}",
        refused.body
    );
    assert!(!refused.body.contains("Pilot <one>"));

    st.s.confirm_gates(&st.api("")).await;

    // Not a pilot: the 72 h lead time refuses a start now, saying the earliest start.
    let refused = ask("Wave 1", false, start.clone()).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("lead time") && refused.body.contains("earliest start"),
        "{}",
        refused.body
    );
    // A start that is not a time.
    let refused = ask("Wave 1", false, "soon".into()).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("date and a time"), "{}", refused.body);

    // A pilot starts now: scheduled, and the browser goes to the event's page.
    let done = ask("Pilot <one>", true, start.clone()).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let event_page = done.location.unwrap();
    let event = event_page.rsplit('/').next().unwrap().to_owned();
    let detail = web.get(&event_page).await;
    assert_eq!(detail.status, 200);
    assert!(
        detail.body.contains("Pilot &#60;one&#62;") || detail.body.contains("Pilot &lt;one&gt;")
    );
    assert!(detail.body.contains("id=\"change-event\""));
    assert!(detail.body.contains("id=\"cancel-event\""));
    let list = web.get(&st.page("/events")).await;
    assert!(
        list.body.contains(&format!("{event}\">10:00 Pilot")),
        "in the calendar: {}",
        list.body
    );

    // Changed: renamed and bob added (a pilot's lead time is 0).
    let bob = st.mappings["bob"].clone();
    let changed = web
        .post(
            &event_page,
            &[
                ("name", "Pilot two"),
                ("start", start.as_str()),
                ("pilot", "on"),
                ("add", bob.as_str()),
            ],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    let e =
        st.s.get(&st.viewer, &st.api(&format!("/events/{event}")))
            .await
            .ok();
    assert_eq!(e["name"], "Pilot two");
    assert_eq!(e["mappings"].as_array().unwrap().len(), 2);
    // Made a production event starting now: refused inline by the lead time, nothing changed.
    let refused = web
        .post(
            &event_page,
            &[("name", "Pilot two"), ("start", start.as_str())],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("lead time"), "{}", refused.body);
    let e =
        st.s.get(&st.viewer, &st.api(&format!("/events/{event}")))
            .await
            .ok();
    assert_eq!(e["pilot"], true);

    // Cancelled: the event says so and offers neither form any more; the audit log names carol.
    let cancelled = web.post(&format!("{event_page}/cancel"), &[]).await;
    assert_eq!(cancelled.status, 303, "{}", cancelled.body);
    let detail = web.get(&event_page).await;
    assert!(
        detail.body.contains("id=\"state\">cancelled"),
        "{}",
        detail.body
    );
    assert!(!detail.body.contains("id=\"change-event\""));
    assert!(!detail.body.contains("id=\"cancel-event\""));
    let again = web.post(&format!("{event_page}/cancel"), &[]).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("cancelled already"), "{}", again.body);
    let audit =
        st.s.get(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{}/audit", st.tenant),
        )
        .await
        .ok();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .or(audit["audit"].as_array())
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for a in ["event.create", "event.change", "event.cancel"] {
        assert!(actions.contains(&a), "{actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_events_without_forms_and_forged_or_unpermitted_posts_are_refused() {
    let st = Setup::start(&["alice"]).await;
    st.s.confirm_gates(&st.api("")).await;
    let now = st.s.clock.now();
    let alice = st.mappings["alice"].clone();
    let e = st
        .s
        .post(
            &st.customer,
            &st.api("/events"),
            json!({ "name": "Pilot", "kind": "synchronization", "pilot": true, "start": now, "mappings": [alice] }),
        )
        .await
        .ok();
    let event = e["result"]["id"].as_str().unwrap().to_owned();
    let viewer = st.web(&st.viewer).await;

    let list = viewer.get(&st.page("/events")).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Pilot"));
    assert!(
        !list.body.contains("id=\"schedule\""),
        "no schedule button for a viewer"
    );
    let detail = viewer.get(&st.page(&format!("/events/{event}"))).await;
    assert_eq!(detail.status, 200);
    assert!(
        !detail
            .body
            .contains("<form method=\"post\" action=\"/tenants"),
        "no action forms: {}",
        detail.body
    );

    // The viewer's role may not create, change or cancel: 403, as on the API.
    assert!(
        !list.body.contains("id=\"new-event\""),
        "no schedule form for a viewer"
    );
    let start = start_input(now);
    let forms: [(String, Vec<(&str, &str)>); 3] = [
        (
            st.page("/events"),
            vec![
                ("name", "x"),
                ("kind", "synchronization"),
                ("start", &start),
                ("pilot", "on"),
                ("mapping", &alice),
            ],
        ),
        (
            st.page(&format!("/events/{event}")),
            vec![("name", "renamed"), ("start", &start)],
        ),
        (st.page(&format!("/events/{event}/cancel")), vec![]),
    ];
    for (path, form) in &forms {
        let r = viewer.post(path, form).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("roles that may"), "{}", r.body);
    }
    // Without the CSRF field, even the customer-admin is refused.
    let customer = st.web(&st.customer).await;
    for (path, form) in &forms {
        let r = customer.post_raw(path, form).await;
        assert_eq!(r.status, 403, "{path}");
        assert!(r.body.contains("CSRF"), "{}", r.body);
    }
    let e =
        st.s.get(&st.viewer, &st.api(&format!("/events/{event}")))
            .await
            .ok();
    assert_eq!(
        (e["name"].as_str(), e["state"].as_str()),
        (Some("Pilot"), Some("scheduled"))
    );

    // Bad or unknown ids are a friendly 404 page, and no session goes to the sign-in page.
    for path in [
        st.page("/events/not-an-id"),
        st.page(&format!("/events/{}", uuid::Uuid::now_v7())),
        st.page("/events/not-an-id/live"),
        format!("/tenants/{}/projects/nope/events", st.tenant),
        format!(
            "/tenants/{}/projects/{}/events",
            uuid::Uuid::now_v7(),
            st.project
        ),
    ] {
        let r = viewer.get(&path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(r.body.contains("Back to Ferry"), "{}", r.body);
    }
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = anon
        .get(format!("{}{}", st.s.base, st.page("/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no session: the sign-in page");
}

/// The `event: live` messages of an SSE response, one at a time.
struct Frames {
    stream: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>,
    >,
    buf: String,
}

impl Frames {
    fn new(resp: reqwest::Response) -> Frames {
        Frames {
            stream: Box::pin(resp.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next fragment (within [`WAIT`]).
    async fn next(&mut self) -> String {
        use futures_util::StreamExt;
        let deadline = Instant::now() + WAIT;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let msg: String = self.buf[..end].to_owned();
                self.buf.drain(..end + 2);
                if !msg.lines().any(|l| l == "event: live") {
                    continue;
                }
                let data: Vec<&str> = msg
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: ").or(l.strip_prefix("data:")))
                    .collect();
                return data.join("\n");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("no fragment within {WAIT:?}"))
                .expect("the stream stays open")
                .unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Fragments until `done` says one is the last wanted (included).
    async fn until(&mut self, mut done: impl FnMut(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let html = self.next().await;
            let last = done(&html);
            out.push(html);
            if last {
                return out;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_sends_the_status_again_as_passes_run_until_the_pilot_is_graded_perfect() {
    let st = Setup::start(&["alice", "bob"]).await;
    for (i, u) in ["alice", "bob"].iter().enumerate() {
        st.source
            .seed(u, "INBOX", &corpus::seed_messages(i as u64 + 1, 30, 2_000))
            .unwrap();
    }
    st.s.confirm_gates(&st.api("")).await;
    let now = st.s.clock.now();
    let ids: Vec<&String> = st.mappings.values().collect();
    let e = st
        .s
        .post(
            &st.customer,
            &st.api("/events"),
            json!({ "name": "Pilot", "kind": "synchronization", "pilot": true, "start": now, "mappings": ids }),
        )
        .await
        .ok();
    let event = e["result"]["id"].as_str().unwrap().to_owned();
    let web = st.web(&st.viewer).await;
    let live = st.page(&format!("/events/{event}/live"));

    // Without JavaScript: the state now and a refresh link.
    let page = web.get(&live).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"queued\">2<"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("href=\"{live}\" id=\"refresh\""))
    );
    assert!(
        page.body
            .contains(&format!("sse-connect=\"{live}/stream\""))
    );

    let resp = web::client()
        .get(format!("{}{live}/stream", web.base))
        .header(COOKIE, &web.session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut frames = Frames::new(resp);
    // The status when the stream opened, before the scheduler runs anything.
    let first = frames.next().await;
    assert!(first.contains("id=\"queued\">2<"), "{first}");
    let state = st.s.state.clone();
    let runner = tokio::spawn(async move {
        // The scheduler starts the event and its passes; a second step records the round done.
        scheduler::settle(&state).await.unwrap();
        scheduler::settle(&state).await.unwrap();
    });
    let frames = frames
        .until(|html| {
            html.contains("id=\"event-grade\" class=\"grade grade-Perfect\"")
                && html.contains("id=\"done\">2<")
        })
        .await;
    runner.await.unwrap();
    let last = frames.last().unwrap();
    assert!(last.contains("id=\"done\">2<"), "{last}");
    assert!(last.contains("id=\"failed\">0<"), "{last}");
    assert!(
        last.contains("60 copied, 0 skipped, 0 failed of 60 discovered"),
        "{last}"
    );
    assert!(!last.contains(PW), "no secret in the live view");
    let report =
        st.s.get(&st.viewer, &st.api(&format!("/events/{event}/report")))
            .await
            .ok();
    assert_eq!(report["grade"], "Perfect", "{report}");

    // Another tenant's member cannot open the stream.
    let other = st.s.tenant("Fabrikam", 100).await;
    let stranger = st.s.member(&other, "sam", "customer-admin").await;
    let web = st.web(&stranger).await;
    let r = web.get(&format!("{live}/stream")).await;
    assert_eq!(r.status, 404);
}

/// A tenant with 200 paid seats first bought in 2025: under the data-migration service's 500, above the
/// guidance tier's 150 — guidance only (self-service).
fn guidance_only_tenant() -> serde_json::Value {
    json!({
        "name": "Tailspin", "plan": "commercial", "seats": { "paid": 200 },
        "first_purchase": "2025-01-01", "cloud": "commercial", "window": "24x7",
    })
}

/// A completion pilot of every mapping of `st`, run by the scheduler until it is completed.
async fn complete_a_pilot(st: &Setup) -> String {
    st.s.confirm_gates(&st.api("")).await;
    let ids: Vec<&String> = st.mappings.values().collect();
    let e = st
        .s
        .post(
            &st.customer,
            &st.api("/events"),
            json!({ "name": "Cutover pilot", "kind": "completion", "pilot": true, "start": st.s.clock.now(), "mappings": ids }),
        )
        .await
        .ok();
    let event = e["result"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + WAIT;
    loop {
        scheduler::settle(&st.s.state).await.unwrap();
        let e =
            st.s.get(&st.viewer, &st.api(&format!("/events/{event}")))
                .await
                .ok();
        if e["state"] == "completed" || e["event"]["state"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "the pilot did not complete: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_events_final_report_page_shows_the_figures_the_charts_and_the_self_service_notice()
 {
    let st = Setup::start_for(&["alice", "bob"], Some(guidance_only_tenant())).await;
    for (i, u) in ["alice", "bob"].iter().enumerate() {
        st.source
            .seed(u, "INBOX", &corpus::seed_messages(i as u64 + 21, 15, 2_000))
            .unwrap();
    }
    let event = complete_a_pilot(&st).await;
    let api =
        st.s.get(&st.viewer, &st.api(&format!("/events/{event}/report")))
            .await
            .ok();
    assert_eq!(api["final"], true, "{api}");
    let notice = api["notice"].as_str().unwrap().to_owned();
    assert!(notice.starts_with("Self-service"), "{notice}");
    let web = st.web(&st.viewer).await;

    // The event's page links to its final report.
    let detail = web.get(&st.page(&format!("/events/{event}"))).await;
    let report_path = st.page(&format!("/events/{event}/report"));
    assert!(
        detail.body.contains(&format!(
            "id=\"report-link\" href=\"{report_path}\">Final report<"
        )),
        "{}",
        detail.body
    );
    let r = web.get(&report_path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert!(
        b.contains("Final report</h1>") || b.contains("Final report: Cutover pilot"),
        "{b}"
    );
    assert!(b.contains("Frozen when the event completed"), "{b}");
    // The self-service notice, exactly as the API gives it (HTML-escaped).
    assert!(b.contains("id=\"notice\""), "{b}");
    assert!(b.contains("Self-service (guidance only)"), "{b}");
    // The figures: the API's totals.
    let copied = api["totals"]["copied"].as_u64().unwrap();
    assert_eq!(copied, 30);
    assert!(b.contains(&format!("id=\"total-copied\">{copied}<")), "{b}");
    assert!(b.contains("id=\"total-failed\">0<"), "{b}");
    // The grade chart, inline SVG with a title, and its figures as a table.
    assert!(
        b.contains("<svg class=\"report-chart\" id=\"grade-chart\""),
        "{b}"
    );
    assert!(
        b.contains("<title id=\"grade-chart-title\">Mappings by grade</title>"),
        "{b}"
    );
    assert!(b.contains("<title>Perfect: 2 mappings</title>"), "{b}");
    assert!(
        b.contains("<tr><td>Perfect</td><td class=\"num\">2</td></tr>"),
        "{b}"
    );
    assert!(
        b.contains("<tr><td>Poor</td><td class=\"num\">0</td></tr>"),
        "{b}"
    );
    // Throughput from the pass ends: both passes, all their items.
    assert!(
        b.contains("<svg class=\"report-chart\" id=\"throughput-chart\""),
        "{b}"
    );
    assert!(b.contains("id=\"throughput-table\""), "{b}");
    assert!(
        b.contains("<td class=\"num\">2</td><td class=\"num\">30</td>"),
        "{b}"
    );
    // Every mapping, sealed; no script needed, no secret shown.
    assert!(b.contains("alice@x") && b.contains("bob@x"), "{b}");
    assert!(b.contains("sealed: its Final pass succeeded"), "{b}");
    assert!(!b.contains(PW), "never a password");

    // The project report: the event with its figures, the grades reached, the notice.
    let pr = web.get(&st.page("/report")).await;
    assert_eq!(pr.status, 200, "{}", pr.body);
    assert!(
        pr.body.contains("Self-service (guidance only)"),
        "{}",
        pr.body
    );
    assert!(
        pr.body
            .contains(&format!("href=\"{report_path}\">Cutover pilot</a>")),
        "{}",
        pr.body
    );
    assert!(pr.body.contains("final report"), "{}", pr.body);
    assert!(
        pr.body.contains("id=\"project-grade-chart\""),
        "{}",
        pr.body
    );
    assert!(pr.body.contains("2 mappings graded"), "{}", pr.body);
    // The navigation has the project's Assessment and Report sections.
    assert!(
        pr.body.contains(&format!(
            "href=\"{}\" class=\"here\" aria-current=\"page\">Report<",
            st.page("/report")
        )),
        "{}",
        pr.body
    );

    // Printing: the stylesheet hides the navigation and the buttons and breaks pages between sections.
    let css = web.get("/assets/ferry.css").await.body;
    let print = &css[css.find("@media print").expect("a print stylesheet")..];
    assert!(print.contains("header.top, nav.sections"), "{print}");
    assert!(print.contains("button"), "{print}");
    assert!(print.contains("break-before: page"), "{print}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assessment_page_lists_each_mappings_findings_with_severity_and_what_to_do() {
    let st = Setup::start(&["alice"]).await;
    st.source
        .seed("alice", "INBOX", &corpus::seed_messages(31, 3, 2_000))
        .unwrap();
    let web = st.web(&st.viewer).await;
    let page = web.get(&st.page("/assessment")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("has not been assessed yet"),
        "{}",
        page.body
    );

    // mallory has no account on the source: her discovery fails.
    st.s.post(
        &st.customer,
        &st.api("/mappings"),
        json!({ "csv": format!("EmailAddress,UserName,Password\nmallory@x,mallory,{PW}\n") }),
    )
    .await
    .ok();
    let all = st.s.get(&st.viewer, &st.api("/mappings")).await.ok();
    let mallory = all["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["source"] == "mallory")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    st.s.post(&st.customer, &st.api("/assessments"), json!({}))
        .await
        .ok();
    ferry_server::api::assessments::wait_assessments(&st.s.state, WAIT)
        .await
        .unwrap();

    let page = web.get(&st.page("/assessment")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let b = &page.body;
    assert!(b.contains("1 of 2 mappings are not ready"), "{b}");
    assert!(b.contains("id=\"blockers\">1<"), "{b}");
    assert!(
        b.contains(&format!(
            "href=\"{}\">mallory@x</a> — not ready",
            st.page(&format!("/mappings/{mallory}"))
        )),
        "{b}"
    );
    assert!(b.contains("alice@x</a> — ready"), "{b}");
    assert!(
        b.contains("<span class=\"badge sev-blocker\">blocker</span>"),
        "{b}"
    );
    assert!(b.contains("discovery_failed"), "{b}");
    assert!(
        b.contains("Correct the login or credential of the side named"),
        "{b}"
    );
    assert!(!b.contains(PW), "never a password");
    // Filtered to the mappings with findings: alice (ready) is gone.
    let only = web.get(&st.page("/assessment?only=findings")).await;
    assert!(only.body.contains("mallory@x"), "{}", only.body);
    assert!(!only.body.contains("alice@x</a>"), "{}", only.body);

    // The mapping's own page shows its findings.
    let detail = web.get(&st.page(&format!("/mappings/{mallory}"))).await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains("id=\"findings\""), "{}", detail.body);
    assert!(detail.body.contains("sev-blocker"), "{}", detail.body);
    assert!(
        detail.body.contains("source could not be read"),
        "{}",
        detail.body
    );
    let alice = &st.mappings["alice"];
    let detail = web.get(&st.page(&format!("/mappings/{alice}"))).await;
    assert!(
        detail.body.contains("No finding in the latest assessment"),
        "{}",
        detail.body
    );
}

/// The story in a real Chromium: a customer-admin sees the gates block the pilot, confirms them, schedules
/// the pilot and watches its live view reach Perfect without the page reloading.
mod story {
    use super::{Setup, WAIT};
    use fantoccini::Locator;
    use ferry_server::{Clock, scheduler};
    use ferry_testkit::browser::Browser;
    use ferry_testkit::corpus;
    use serde_json::json;
    use std::time::{Duration, Instant};

    async fn sign_in(b: &Browser, base: &str, token: &str) {
        b.goto(&format!("{base}/")).await.unwrap();
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::Id("token"))
            .await
            .unwrap()
            .send_keys(token)
            .await
            .unwrap();
        b.find(Locator::Css("#sign-in button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.wait()
            .at_most(WAIT)
            .for_element(Locator::Id("who"))
            .await
            .unwrap();
    }

    /// The element's text; found again when the live view swapped it out between finding and reading
    /// (a stale element), within [`WAIT`].
    async fn text(b: &Browser, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = b
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("{css} on the page: {e}"));
            match found.text().await {
                Ok(t) => return t,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{css}: {e}"),
            }
        }
    }

    /// Fill the schedule form (a pilot starting at the clock's now, every mapping not in an event) and send it.
    async fn schedule_pilot(b: &Browser, start: &str) {
        let name = b
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Id("name"))
            .await
            .unwrap();
        name.clear().await.unwrap();
        name.send_keys("Pilot wave").await.unwrap();
        // A datetime-local field's typing order depends on the browser's locale: set its value instead.
        b.execute(
            "document.getElementById('start').value = arguments[0];",
            vec![json!(start)],
        )
        .await
        .unwrap();
        let pilot = b.find(Locator::Id("pilot")).await.unwrap();
        if pilot.prop("checked").await.unwrap().as_deref() != Some("true") {
            pilot.click().await.unwrap();
        }
        // Every mapping not in an event yet: the form's first choice, all of this project's.
        let all = b.find(Locator::Id("choose-not-scheduled")).await.unwrap();
        if all.prop("checked").await.unwrap().as_deref() != Some("true") {
            all.click().await.unwrap();
        }
        b.find(Locator::Css("#new-event button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_customer_admin_confirms_the_gates_schedules_a_pilot_and_watches_it_reach_perfect_without_reloading()
     {
        let Some(b) = Browser::start("events_live_story")
            .await
            .expect("the browser starts")
        else {
            return;
        };
        let st = Setup::start(&["alice", "bob"]).await;
        for (i, u) in ["alice", "bob"].iter().enumerate() {
            st.source
                .seed(u, "INBOX", &corpus::seed_messages(i as u64 + 7, 40, 2_000))
                .unwrap();
        }
        let start = super::start_input(st.s.clock.now());
        sign_in(&b, &st.s.base, &st.customer).await;

        // The gates block the pilot: the refusal names them on the form.
        b.goto(&format!("{}{}", st.s.base, st.page("/events")))
            .await
            .unwrap();
        schedule_pilot(&b, &start).await;
        let refusal = text(&b, "#refusal").await;
        assert!(
            refusal.contains("core onboarding") && refusal.contains("targets provisioned"),
            "{refusal}"
        );
        b.screenshot("gates-block-the-pilot").await.unwrap();

        // Confirmed one by one on the project's page.
        b.goto(&format!("{}{}", st.s.base, st.page("")))
            .await
            .unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            b.wait()
                .at_most(WAIT)
                .for_element(Locator::Id("gates"))
                .await
                .unwrap();
            let buttons = b
                .find_all(Locator::Css("#gates form button"))
                .await
                .unwrap();
            let n = buttons.len();
            let Some(first) = buttons.into_iter().next() else {
                break;
            };
            first.click().await.unwrap();
            // The next page has one Confirm button fewer.
            loop {
                let left = b
                    .find_all(Locator::Css("#gates form button"))
                    .await
                    .map(|v| v.len())
                    .unwrap_or(n);
                if left < n {
                    break;
                }
                assert!(Instant::now() < deadline, "the gates did not all confirm");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert!(!text(&b, "#gates").await.contains("open"));
        b.screenshot("gates-confirmed").await.unwrap();

        // Scheduled: the event's page, then its live view.
        b.goto(&format!("{}{}", st.s.base, st.page("/events")))
            .await
            .unwrap();
        schedule_pilot(&b, &start).await;
        assert_eq!(text(&b, "#state").await, "scheduled");
        b.find(Locator::Id("live-link"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(text(&b, "#queued").await, "2");
        // A marker that a reload would wipe.
        b.execute("window.ferryMarker = 'not reloaded';", vec![])
            .await
            .unwrap();
        b.screenshot("live-queued").await.unwrap();

        // The scheduler starts the pilot; the page follows by itself.
        let state = st.s.state.clone();
        let runner = tokio::spawn(async move {
            scheduler::settle(&state).await.unwrap();
            scheduler::settle(&state).await.unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let grade = b.find_all(Locator::Id("event-grade")).await.unwrap();
            let graded = match grade.first() {
                Some(g) => g.text().await.unwrap_or_default() == "Perfect",
                None => false,
            };
            if graded && text(&b, "#done").await == "2" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the live view did not reach Perfect"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        runner.await.unwrap();
        let marker = b
            .execute("return window.ferryMarker;", vec![])
            .await
            .unwrap();
        assert_eq!(marker, json!("not reloaded"), "the page was not reloaded");
        assert!(
            text(&b, "#items")
                .await
                .contains("80 copied, 0 skipped, 0 failed of 80 discovered")
        );
        b.screenshot("live-perfect").await.unwrap();
        b.close().await.unwrap();
    }

    /// A completion pilot runs to completion against real Dovecot servers; the viewer opens its final
    /// report from the event's page and sees the grade chart and the figures.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_viewer_opens_a_completed_events_final_report_with_its_grade_chart_and_figures() {
        let Some(b) = Browser::start("event_report_story")
            .await
            .expect("the browser starts")
        else {
            return;
        };
        let st = Setup::start(&["alice", "bob", "carol"]).await;
        for (i, u) in ["alice", "bob", "carol"].iter().enumerate() {
            st.source
                .seed(
                    u,
                    "INBOX",
                    &corpus::seed_messages(i as u64 + 51, 20 + 5 * i, 3_000),
                )
                .unwrap();
        }
        let event = super::complete_a_pilot(&st).await;
        sign_in(&b, &st.s.base, &st.viewer).await;
        b.goto(&format!(
            "{}{}",
            st.s.base,
            st.page(&format!("/events/{event}"))
        ))
        .await
        .unwrap();
        b.find(Locator::Id("report-link"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let title = b
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#grade-chart title"))
            .await
            .unwrap()
            .html(true)
            .await
            .unwrap();
        assert_eq!(title, "Mappings by grade");
        let columns = b
            .find_all(Locator::Css("#grade-chart rect.grade-Perfect"))
            .await
            .unwrap();
        assert_eq!(columns.len(), 1);
        let h: f64 = columns[0]
            .attr("height")
            .await
            .unwrap()
            .unwrap()
            .parse()
            .unwrap();
        assert!(h > 0.0, "the Perfect column is drawn");
        assert!(text(&b, "#grade-table").await.contains("Perfect 3"));
        assert_eq!(text(&b, "#total-copied").await, "75");
        assert_eq!(text(&b, "#total-failed").await, "0");
        assert!(text(&b, "#report-grade").await.contains("Perfect"));
        assert!(
            text(&b, "#report-kind")
                .await
                .contains("Frozen when the event completed")
        );
        assert!(text(&b, "#throughput-table").await.contains("75"));
        b.screenshot("event-report").await.unwrap();
        b.execute(
            "document.getElementById('grades').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
        b.screenshot("event-report-grades").await.unwrap();
        b.goto(&format!("{}{}", st.s.base, st.page("/report")))
            .await
            .unwrap();
        assert!(text(&b, "#report-events").await.contains("Cutover pilot"));
        b.screenshot("project-report").await.unwrap();
        b.close().await.unwrap();
    }
}
