//! The mail programme end to end (issue 4 "Tests that must exist"): through the HTTP API of a real server,
//! against real Dovecot source and target servers, with time moved by the server's manual clock. One story
//! per concern; each rule is hit on its allowed and its refused side.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;
mod story_mail_exo;
mod story_mail_feed;

use chrono::TimeDelta;
use common::{OPERATOR_TOKEN, On, TestServer};
use ferry_core::programme::ProgrammeSettings;
use ferry_server::{Clock, scheduler};
use ferry_testkit::snapshot::{ContentKey, MailboxSnapshot};
use ferry_testkit::{Dovecot, DovecotOptions, SeedMessage, corpus};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PW: &str = "pw-Story-Secret-7";

/// A running programme: the server, a tenant with its people, one mail project, and the two Dovecots.
struct Story {
    s: TestServer,
    source: Dovecot,
    target: Dovecot,
    tenant: String,
    project: String,
    /// customer-admin, engineer, viewer tokens.
    customer: String,
    engineer: String,
    viewer: String,
}

impl Story {
    /// [`Story::start_on`] SQLite.
    async fn start(
        users: &[&str],
        seats: u32,
        settings: ProgrammeSettings,
        target_options: Value,
    ) -> Story {
        Story::start_on(On::Sqlite, users, seats, settings, target_options)
            .await
            .expect("a story on SQLite always starts")
    }

    /// Servers started, source users `users` (password [`PW`]) and target mailboxes `<user>@x` reached through
    /// the target's master user; a tenant of `seats` paid seats (24x7), a mail project with both endpoints.
    /// `None` (a reported skip) on PostgreSQL without a test cluster.
    async fn start_on(
        on: On,
        users: &[&str],
        seats: u32,
        settings: ProgrammeSettings,
        target_options: Value,
    ) -> Option<Story> {
        let s = TestServer::start_on_store(on, settings).await?;
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
        let tenant = s.tenant("Contoso", seats).await;
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
        let st = Story {
            s,
            source,
            target,
            tenant,
            project,
            customer,
            engineer,
            viewer,
        };
        let src = format!("{}?starttls=never", st.source.url());
        let tgt = format!("{}?starttls=never", st.target.url());
        st.s.put(
            &st.engineer,
            &st.path("/endpoints/source"),
            json!({ "url": src }),
        )
        .await
        .ok();
        let (admin, admin_pw) = Dovecot::master();
        st.s.put(
            &st.engineer,
            &st.path("/endpoints/target"),
            json!({ "url": tgt, "username": admin, "options": target_options }),
        )
        .await
        .ok();
        st.s.put(
            &st.customer,
            &st.path("/endpoints/target/credential"),
            json!({ "secret": admin_pw }),
        )
        .await
        .ok();
        Some(st)
    }

    fn path(&self, rest: &str) -> String {
        format!(
            "/api/v1/tenants/{}/projects/{}{rest}",
            self.tenant, self.project
        )
    }

    fn event_path(&self, event: &str, rest: &str) -> String {
        self.path(&format!("/events/{event}{rest}"))
    }

    /// Import `rows` (`user` or `user:password`) as an Exchange CSV; returns the mapping ids by user.
    async fn import(&self, rows: &[&str]) -> BTreeMap<String, String> {
        let mut csv = String::from("EmailAddress,UserName,Password\n");
        for r in rows {
            let (u, pw) = r.split_once(':').unwrap_or((r, PW));
            csv.push_str(&format!("{u}@x,{u},{pw}\n"));
        }
        self.s
            .post(
                &self.engineer,
                &self.path("/mappings"),
                json!({ "csv": csv }),
            )
            .await
            .ok();
        let all = self.s.get(&self.viewer, &self.path("/mappings")).await.ok();
        all["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["source"].as_str().unwrap().to_string(),
                    m["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    async fn confirm_gates(&self) {
        let gates = self.s.get(&self.viewer, &self.path("/gates")).await.ok();
        for g in gates["gates"].as_array().unwrap() {
            let kind = g["kind"].as_str().unwrap();
            self.s
                .post(
                    &self.customer,
                    &self.path(&format!("/gates/{kind}/confirm")),
                    json!({}),
                )
                .await
                .ok();
        }
    }

    /// Ask for an event as the customer; the answer as it comes.
    async fn ask_event(
        &self,
        kind: &str,
        pilot: bool,
        start: chrono::DateTime<chrono::Utc>,
        mappings: &[&String],
    ) -> common::Answer {
        self.s
            .post(
                &self.customer,
                &self.path("/events"),
                json!({ "name": format!("{kind} {start}"), "kind": kind, "pilot": pilot, "start": start, "mappings": mappings }),
            )
            .await
    }

    /// An event the customer schedules; returns its id.
    async fn event(
        &self,
        kind: &str,
        pilot: bool,
        start: chrono::DateTime<chrono::Utc>,
        mappings: &[&String],
    ) -> String {
        let b = self.ask_event(kind, pilot, start, mappings).await.ok();
        b["result"]["id"].as_str().unwrap().to_string()
    }

    async fn settle(&self) {
        scheduler::settle(&self.s.state).await.unwrap();
    }

    async fn advance(&self, d: TimeDelta) {
        self.s.advance(d);
        self.settle().await;
    }

    async fn event_state(&self, event: &str) -> String {
        let e = self
            .s
            .get(&self.viewer, &self.event_path(event, ""))
            .await
            .ok();
        e["state"].as_str().unwrap().to_string()
    }

    async fn project_state(&self) -> String {
        let p = self.s.get(&self.viewer, &self.path("")).await.ok();
        p["state"].as_str().unwrap().to_string()
    }

    async fn report(&self, event: &str) -> Value {
        self.s
            .get(&self.viewer, &self.event_path(event, "/report"))
            .await
            .ok()
    }

    /// The report's entry for mapping `id`.
    async fn mapping_report(&self, event: &str, id: &str) -> Value {
        let r = self.report(event).await;
        r["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mapping"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("mapping {id} not in {r}"))
    }

    async fn items_json(&self, event: &str) -> Value {
        self.s
            .get(&self.viewer, &self.event_path(event, "/items?format=json"))
            .await
            .ok()
    }

    /// The CSV download: (content type, header + rows).
    async fn items_csv(&self, event: &str) -> (String, Vec<Vec<String>>) {
        let resp = self
            .s
            .http
            .get(format!(
                "{}{}",
                self.s.base,
                self.event_path(event, "/items?format=csv")
            ))
            .bearer_auth(&self.viewer)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
        let text = resp.text().await.unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let mut rows = vec![
            r.headers()
                .unwrap()
                .iter()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        ];
        for rec in r.records() {
            rows.push(rec.unwrap().iter().map(str::to_string).collect());
        }
        (ctype, rows)
    }

    async fn audit(&self) -> Vec<Value> {
        let a = self
            .s
            .get(
                OPERATOR_TOKEN,
                &format!("/api/v1/tenants/{}/audit?limit=5000", self.tenant),
            )
            .await
            .ok();
        a["entries"].as_array().unwrap().clone()
    }

    async fn transaction(&self, id: &str) -> Value {
        self.s
            .get(
                &self.viewer,
                &format!("/api/v1/tenants/{}/transactions/{id}", self.tenant),
            )
            .await
            .ok()
    }
}

/// Per non-empty folder, the multiset of (bytes, flags, internal date).
fn content(s: &MailboxSnapshot) -> BTreeMap<String, BTreeMap<ContentKey, usize>> {
    s.folders
        .iter()
        .filter(|f| !f.messages.is_empty())
        .map(|f| (f.path.to_string(), f.content()))
        .collect()
}

fn seed(st: &Story, user: &str, seed: u64, n: usize) {
    st.source
        .seed(user, "INBOX", &corpus::seed_messages(seed, n, 2_000))
        .unwrap();
}

/// A message's status counts in an items download.
fn statuses(items: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for i in items["items"].as_array().unwrap() {
        *out.entry(i["status"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_hold_events_and_a_pilot_runs_its_initial_pass_at_once() {
    let st = Story::start(&["alice"], 800, ProgrammeSettings::default(), json!({})).await;
    seed(&st, "alice", 1, 25);
    st.source
        .seed("alice", "Archive/2024", &corpus::seed_messages(2, 5, 3_000))
        .unwrap();
    let before = st.source.snapshot("alice").unwrap();
    let ids = st.import(&["alice"]).await;
    let alice = &ids["alice"];
    let now = st.s.clock.now();

    // Refused while gates are open: the refusal names every open gate.
    let e = st
        .ask_event("synchronization", true, now, &[alice])
        .await
        .err(409);
    let msg = e["message"].as_str().unwrap();
    for gate in [
        "core onboarding",
        "identity synchronisation",
        "Exchange Online workload onboarding",
        "targets provisioned and active",
    ] {
        assert!(msg.contains(gate), "{msg}");
    }
    st.confirm_gates().await;
    let gates = st.s.get(&st.viewer, &st.path("/gates")).await.ok();
    assert!(
        gates["gates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["met"] == true
                && g["confirmed_by"].is_string()
                && g["confirmed_at"].is_string()),
        "{gates}"
    );

    // A pilot's lead time is 0: it may start now.
    let pilot = st.event("synchronization", true, now, &[alice]).await;

    // A gate that opens again before the start holds the event, with one audit entry saying why.
    sqlx::query("UPDATE prog_gate SET confirmed_by = NULL, confirmed_at = NULL WHERE kind = 'targets_provisioned'")
        .execute(st.s.sqlite_pool())
        .await
        .unwrap();
    st.settle().await;
    st.settle().await;
    assert_eq!(st.event_state(&pilot).await, "scheduled");
    let held: Vec<Value> = st
        .audit()
        .await
        .into_iter()
        .filter(|a| a["action"] == "event.held")
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(
        held[0]["after"]["reason"]
            .as_str()
            .unwrap()
            .contains("targets provisioned and active"),
        "{held:?}"
    );
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 0);

    // Confirmed again: the event starts, the project moves to Migrating, the Initial pass copies all.
    st.s.post(
        &st.customer,
        &st.path("/gates/targets_provisioned/confirm"),
        json!({}),
    )
    .await
    .ok();
    st.settle().await;
    assert_eq!(st.project_state().await, "migrating");
    assert_eq!(st.event_state(&pilot).await, "done");
    assert_eq!(
        content(&st.target.snapshot("alice@x").unwrap()),
        content(&before)
    );

    let m = st.mapping_report(&pilot, alice).await;
    assert_eq!(m["last_pass"]["kind"], "initial", "{m}");
    assert_eq!(m["last_pass"]["outcome"], "succeeded", "{m}");
    assert_eq!(m["last_pass"]["counters"]["discovered"], 30, "{m}");
    assert_eq!(m["last_pass"]["counters"]["copied"], 30, "{m}");
    assert_eq!(m["grade"], "Perfect", "{m}");
    assert_eq!(m["attempts"], 1, "{m}");
    assert_eq!(m["next_text"], "delta due at 2025-03-04 10:00 UTC", "{m}");
    let audit = st.audit().await;
    for action in [
        "event.start",
        "project.state",
        "pass.start",
        "pass.finish",
        "event.round_end",
    ] {
        assert!(
            audit
                .iter()
                .any(|a| a["action"] == action && a["who"] == "scheduler"),
            "no {action} in the audit"
        );
    }

    // Every discovered message is accounted for in both downloads.
    let items = st.items_json(&pilot).await;
    assert_eq!(items["count"], 30, "{items}");
    assert_eq!(
        statuses(&items),
        BTreeMap::from([("copied".to_string(), 30)])
    );
    assert!(
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["folder"] == "Archive/2024" && i["target_uid"].is_u64()),
        "{items}"
    );
    let (ctype, rows) = st.items_csv(&pilot).await;
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    assert_eq!(rows.len(), 31, "{rows:?}");
    assert_eq!(rows[0][0], "mapping");
    assert!(
        rows[1..]
            .iter()
            .all(|r| r[0] == "alice@x" && r[8] == "copied")
    );

    // Invariant 1: the source is unchanged; and no secret reached an answer.
    assert_eq!(st.source.snapshot("alice").unwrap(), before);
    assert!(!st.report(&pilot).await.to_string().contains(PW));
}

on_both_stores!(
    a_synchronization_event_keeps_the_schedule_policy_runs_deltas_and_a_completion_seals
);
async fn a_synchronization_event_keeps_the_schedule_policy_runs_deltas_and_a_completion_seals(
    on: On,
) {
    let Some(st) = Story::start_on(
        on,
        &["alice", "bob"],
        800,
        ProgrammeSettings::default(),
        json!({}),
    )
    .await
    else {
        return;
    };
    seed(&st, "alice", 10, 20);
    seed(&st, "bob", 11, 8);
    let ids = st.import(&["alice", "bob"]).await;
    let (alice, bob) = (&ids["alice"], &ids["bob"]);
    st.confirm_gates().await;
    st.s.put(
        OPERATOR_TOKEN,
        &format!("/api/v1/tenants/{}/window", st.tenant),
        json!({ "window": "24x5" }),
    )
    .await
    .ok();
    let now = st.s.clock.now(); // Monday 10:00

    // Production events need 72 h of lead time and a start inside the 24x5 window.
    let e = st
        .ask_event(
            "synchronization",
            false,
            now + TimeDelta::hours(48),
            &[alice, bob],
        )
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("lead time"), "{e}");
    let e = st
        .ask_event(
            "synchronization",
            false,
            now + TimeDelta::days(5),
            &[alice, bob],
        )
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("24x5"), "{e}");
    let sync = st
        .event(
            "synchronization",
            false,
            now + TimeDelta::days(3),
            &[alice, bob],
        )
        .await;

    // Nothing runs before the start; an engineer cannot launch early.
    st.advance(TimeDelta::days(2)).await;
    assert_eq!(st.event_state(&sync).await, "scheduled");
    let e =
        st.s.post(
            &st.engineer,
            &st.event_path(&sync, &format!("/mappings/{alice}/launch")),
            json!({}),
        )
        .await
        .err(409);
    assert!(
        e["message"].as_str().unwrap().contains("has not started"),
        "{e}"
    );

    // Thursday 10:00: the Initial pass.
    st.advance(TimeDelta::days(1)).await;
    assert_eq!(st.event_state(&sync).await, "done");
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 20);
    assert_eq!(st.target.snapshot("bob@x").unwrap().message_count(), 8);

    // A message arrives; no Delta before the cadence, one at 24 h that copies it.
    seed(&st, "alice", 12, 1);
    st.advance(TimeDelta::hours(23)).await;
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 20);
    let m = st.mapping_report(&sync, alice).await;
    assert_eq!(m["next_text"], "delta due at 2025-03-07 10:00 UTC", "{m}");
    st.advance(TimeDelta::hours(1)).await;
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 21);
    let m = st.mapping_report(&sync, alice).await;
    assert_eq!(m["last_pass"]["kind"], "delta", "{m}");
    assert_eq!(m["last_pass"]["counters"]["copied"], 1, "{m}");
    assert_eq!(m["passes"], 2, "{m}");

    // An engineer may launch a Delta before its cadence: the answer is a transaction in progress that the
    // worker completes.
    seed(&st, "alice", 13, 1);
    let l =
        st.s.post(
            &st.engineer,
            &st.event_path(&sync, &format!("/mappings/{alice}/launch")),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(l["transaction"]["status"], "in_progress", "{l}");
    assert_eq!(l["result"]["kind"], "delta", "{l}");
    scheduler::wait_for_workers(&st.s.state).await;
    let t = st
        .transaction(l["transaction"]["id"].as_str().unwrap())
        .await;
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 22);
    // A customer cannot launch passes.
    st.s.post(
        &st.customer,
        &st.event_path(&sync, &format!("/mappings/{alice}/launch")),
        json!({}),
    )
    .await
    .err(403);

    // The completion event (Monday 10:00) runs alice's Final pass and seals her mapping.
    seed(&st, "alice", 14, 2);
    let cutover = st
        .event(
            "completion",
            false,
            st.s.clock.now() + TimeDelta::days(3),
            &[alice],
        )
        .await;
    st.advance(TimeDelta::days(3)).await;
    assert_eq!(st.event_state(&cutover).await, "completed");
    assert_eq!(
        content(&st.target.snapshot("alice@x").unwrap()),
        content(&st.source.snapshot("alice").unwrap())
    );
    let r = st.report(&cutover).await;
    assert_eq!(r["final"], true, "{r}");
    assert_eq!(r["completion_text"], "completed", "{r}");
    assert_eq!(r["grade"], "Perfect", "{r}");
    assert_eq!(r["mappings"][0]["last_pass"]["kind"], "final", "{r}");
    assert_eq!(
        r["mappings"][0]["next_text"],
        "sealed: its Final pass succeeded; nothing more is copied"
    );
    // Sealed: a later event with alice is refused; bob (not sealed) may still be scheduled.
    let e = st
        .ask_event(
            "completion",
            false,
            st.s.clock.now() + TimeDelta::days(3),
            &[alice],
        )
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("sealed"), "{e}");
    // New mail for alice after the seal is never copied, even by the synchronization event's Deltas.
    seed(&st, "alice", 15, 1);
    assert_eq!(st.project_state().await, "migrating");
    let cutover_bob = st
        .event(
            "completion",
            false,
            st.s.clock.now() + TimeDelta::days(3),
            &[bob],
        )
        .await;

    // Tickets: accepted within 5 days of the mapping's (latest) event completing, refused after. Both
    // mappings' latest completed event is now the synchronization event, completed when bob was sealed.
    st.advance(TimeDelta::days(4)).await; // Friday: bob's cut-over ran on Thursday
    assert_eq!(st.event_state(&cutover_bob).await, "completed");
    let ticket = |mapping: &String, title: &str| json!({ "mapping": mapping, "title": title });
    st.s.post(
        &st.customer,
        &st.path("/tickets"),
        ticket(alice, "a folder looks empty"),
    )
    .await
    .ok();
    st.advance(TimeDelta::days(4)).await;
    st.s.post(&st.customer, &st.path("/tickets"), ticket(bob, "calendar?"))
        .await
        .ok();
    st.advance(TimeDelta::days(1)).await; // exactly 5 days: still inside
    st.s.post(
        &st.customer,
        &st.path("/tickets"),
        ticket(alice, "one more"),
    )
    .await
    .ok();
    st.advance(TimeDelta::minutes(1)).await;
    let e =
        st.s.post(
            &st.customer,
            &st.path("/tickets"),
            ticket(alice, "and another"),
        )
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("5 days"), "{e}");
    let tickets = st.s.get(&st.viewer, &st.path("/tickets")).await.ok();
    assert_eq!(tickets["tickets"].as_array().unwrap().len(), 3, "{tickets}");

    // Every mapping sealed: the synchronization event completes, then the project.
    assert_eq!(st.event_state(&sync).await, "completed");
    assert_eq!(st.project_state().await, "completed");
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 24);
    // The synchronization event's items account for every message its passes discovered.
    let items = st.items_json(&sync).await;
    let r = st.report(&sync).await;
    assert_eq!(items["count"], r["totals"]["discovered"], "{r}");
    assert_eq!(items["count"], 20 + 8 + 1 + 1 + 2, "{r}");
    let (_, rows) = st.items_csv(&sync).await;
    assert_eq!(rows.len(), 1 + 32);
}

on_both_stores!(a_mapping_whose_login_fails_twice_is_failed_and_its_event_cannot_complete);
async fn a_mapping_whose_login_fails_twice_is_failed_and_its_event_cannot_complete(on: On) {
    let Some(st) = Story::start_on(
        on,
        &["alice", "mallory"],
        800,
        ProgrammeSettings::default(),
        json!({}),
    )
    .await
    else {
        return;
    };
    seed(&st, "alice", 20, 6);
    seed(&st, "mallory", 21, 4);
    let wrong = "not-her-password-42";
    let ids = st.import(&["alice", &format!("mallory:{wrong}")]).await;
    let (alice, mallory) = (&ids["alice"], &ids["mallory"]);
    st.confirm_gates().await;
    let cutover = st
        .event("completion", true, st.s.clock.now(), &[alice, mallory])
        .await;

    // One step: both Final passes start; mallory's login is refused.
    scheduler::tick(&st.s.state).await.unwrap();
    scheduler::wait_for_workers(&st.s.state).await;
    let m = st.mapping_report(&cutover, mallory).await;
    assert_eq!(m["last_pass"]["outcome"], "failed", "{m}");
    // Retry is for a failed pass, by an engineer: alice's succeeded, so hers is refused.
    let e =
        st.s.post(
            &st.engineer,
            &st.event_path(&cutover, &format!("/mappings/{alice}/retry")),
            json!({}),
        )
        .await
        .err(409);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("only a failed pass"),
        "{e}"
    );
    st.s.post(
        &st.viewer,
        &st.event_path(&cutover, &format!("/mappings/{mallory}/retry")),
        json!({}),
    )
    .await
    .err(403);
    let r =
        st.s.post(
            &st.engineer,
            &st.event_path(&cutover, &format!("/mappings/{mallory}/retry")),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(r["result"]["attempt"], 2, "{r}");
    assert_eq!(r["transaction"]["status"], "in_progress", "{r}");
    scheduler::wait_for_workers(&st.s.state).await;
    let t = st
        .transaction(r["transaction"]["id"].as_str().unwrap())
        .await;
    assert_eq!(t["status"], "failed", "{t}");
    // Two attempts failed: the limit. A third is refused, with the reason.
    let e =
        st.s.post(
            &st.engineer,
            &st.event_path(&cutover, &format!("/mappings/{mallory}/retry")),
            json!({}),
        )
        .await
        .err(409);
    assert!(
        e["message"].as_str().unwrap().contains("failed 2 times"),
        "{e}"
    );

    st.settle().await;
    assert_eq!(st.event_state(&cutover).await, "done_with_errors");
    let m = st.mapping_report(&cutover, mallory).await;
    assert_eq!(m["attempts"], 2, "{m}");
    assert_eq!(m["passes"], 2, "{m}");
    assert_eq!(m["grade"], "Poor", "{m}");
    assert!(
        m["next_text"]
            .as_str()
            .unwrap()
            .starts_with("failed: the final pass failed 2 times"),
        "{m}"
    );
    let reason = m["last_pass"]["reason"].as_str().unwrap().to_lowercase();
    assert!(
        reason.contains("auth") || reason.contains("login"),
        "{reason}"
    );
    let a = st.mapping_report(&cutover, alice).await;
    assert_eq!(a["grade"], "Perfect", "{a}");

    // It cannot complete, however long one waits; the report says why.
    st.advance(TimeDelta::days(1)).await;
    assert_eq!(st.event_state(&cutover).await, "done_with_errors");
    let r = st.report(&cutover).await;
    assert_eq!(r["final"], false);
    let why = r["completion_text"].as_str().unwrap();
    assert!(
        why.contains("cannot be completed") && why.contains(mallory.as_str()),
        "{why}"
    );
    assert!(!r.to_string().contains(wrong) && !r.to_string().contains(PW));
    assert_eq!(st.target.snapshot("mallory@x").unwrap().message_count(), 0);
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 6);
}

on_both_stores!(a_mapping_graded_investigate_waits_for_a_customer_admin_approval);
async fn a_mapping_graded_investigate_waits_for_a_customer_admin_approval(on: On) {
    // A guidance-only tenant (300 seats): Ferry runs in self-service mode and every report says so.
    let Some(st) = Story::start_on(
        on,
        &["alice"],
        300,
        ProgrammeSettings::default(),
        json!({ "max_message_size": "20KB" }),
    )
    .await
    else {
        return;
    };
    seed(&st, "alice", 30, 59);
    st.source
        .seed(
            "alice",
            "INBOX",
            &[SeedMessage::new(corpus::message(31, 0, 40_000))],
        )
        .unwrap();
    let before = st.source.snapshot("alice").unwrap();
    let ids = st.import(&["alice"]).await;
    let alice = &ids["alice"];
    st.confirm_gates().await;
    let cutover = st
        .event("completion", true, st.s.clock.now(), &[alice])
        .await;
    st.settle().await;

    // 1 of 60 skipped: Investigate, so the event waits for an approval.
    assert_eq!(st.event_state(&cutover).await, "needs_approval");
    let r = st.report(&cutover).await;
    assert_eq!(r["grade"], "Investigate", "{r}");
    assert_eq!(r["self_service"], true, "{r}");
    assert!(
        r["notice"].as_str().unwrap().starts_with("Self-service"),
        "{r}"
    );
    assert!(
        r["completion_text"]
            .as_str()
            .unwrap()
            .contains("needs an approval"),
        "{r}"
    );
    let m = &r["mappings"][0];
    assert_eq!(m["last_pass"]["counters"]["discovered"], 60, "{m}");
    assert_eq!(m["last_pass"]["counters"]["skipped"], 1, "{m}");
    assert_eq!(m["approved"], false, "{m}");

    // Waiting does not complete it; an engineer may not approve; the customer-admin may.
    st.advance(TimeDelta::hours(2)).await;
    assert_eq!(st.event_state(&cutover).await, "needs_approval");
    let approve = st.event_path(&cutover, &format!("/mappings/{alice}/approve"));
    let e = st.s.post(&st.engineer, &approve, json!({})).await.err(403);
    assert!(
        e["message"].as_str().unwrap().contains("customer-admin"),
        "{e}"
    );
    let a = st.s.post(&st.customer, &approve, json!({})).await.ok();
    assert_eq!(a["result"]["role"], "customer-admin", "{a}");
    st.settle().await;
    assert_eq!(st.event_state(&cutover).await, "completed");
    let r = st.report(&cutover).await;
    assert_eq!(r["final"], true, "{r}");
    assert_eq!(r["mappings"][0]["approved"], true, "{r}");
    assert_eq!(r["mappings"][0]["grade"], "Investigate", "{r}");
    assert!(
        r["notice"].as_str().unwrap().starts_with("Self-service"),
        "{r}"
    );
    // Approving again after completion is refused.
    st.s.post(&st.customer, &approve, json!({})).await.err(409);

    // The downloads account for all 60 messages, the skipped one with its reason.
    let items = st.items_json(&cutover).await;
    assert_eq!(items["count"], 60);
    assert_eq!(
        statuses(&items),
        BTreeMap::from([("copied".to_string(), 59), ("skipped".to_string(), 1)])
    );
    let (_, rows) = st.items_csv(&cutover).await;
    assert_eq!(rows.len(), 61);
    let skipped: Vec<&Vec<String>> = rows.iter().filter(|r| r[8] == "skipped").collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0][9].contains("size limit"), "{:?}", skipped[0]);
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 59);
    assert_eq!(st.source.snapshot("alice").unwrap(), before);
}

on_both_stores!(an_idle_project_pauses_offboards_and_resumes_only_with_credentials_and_a_schedule);
async fn an_idle_project_pauses_offboards_and_resumes_only_with_credentials_and_a_schedule(on: On) {
    let Some(st) =
        Story::start_on(on, &["alice"], 800, ProgrammeSettings::default(), json!({})).await
    else {
        return;
    };
    let ids = st.import(&["alice"]).await;
    let alice = &ids["alice"];
    st.confirm_gates().await;
    let creds = st.s.get(&st.viewer, &st.path("/credentials")).await.ok();
    assert_eq!(creds["credentials"].as_array().unwrap().len(), 2, "{creds}");

    // 29 idle days: nothing; the 30th: paused, credentials purged.
    st.advance(TimeDelta::days(29)).await;
    assert_eq!(st.project_state().await, "draft");
    st.advance(TimeDelta::days(1)).await;
    assert_eq!(st.project_state().await, "paused");
    let creds = st.s.get(&st.viewer, &st.path("/credentials")).await.ok();
    assert_eq!(creds["credentials"], json!([]), "{creds}");
    assert!(
        st.audit()
            .await
            .iter()
            .any(|a| a["action"] == "project.pause")
    );

    // Resume needs new credentials and a confirmed schedule: refused with both missing, then one.
    let resume = st.path("/resume");
    let e = st.s.post(&st.customer, &resume, json!({})).await.err(409);
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("new credentials") && msg.contains("confirmed schedule"),
        "{msg}"
    );
    let later = st
        .event(
            "synchronization",
            false,
            st.s.clock.now() + TimeDelta::days(40),
            &[alice],
        )
        .await;
    let e = st.s.post(&st.customer, &resume, json!({})).await.err(409);
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("new credentials") && !msg.contains("schedule"),
        "{msg}"
    );
    // A confirmed schedule keeps a paused project from being offboarded.
    st.advance(TimeDelta::days(30)).await;
    assert_eq!(st.project_state().await, "paused");
    assert_eq!(st.event_state(&later).await, "scheduled");
    st.s.put(
        &st.customer,
        &st.path("/endpoints/target/credential"),
        json!({ "secret": "a-new-admin-secret" }),
    )
    .await
    .ok();
    st.s.post(&st.customer, &resume, json!({})).await.ok();
    assert_eq!(st.project_state().await, "draft");

    // Without the schedule, idle again: paused after 30 days, offboarded 30 days later.
    st.s.post(&st.customer, &st.event_path(&later, "/cancel"), json!({}))
        .await
        .ok();
    st.advance(TimeDelta::days(30)).await;
    assert_eq!(st.project_state().await, "paused");
    st.advance(TimeDelta::days(29)).await;
    assert_eq!(st.project_state().await, "paused");
    st.advance(TimeDelta::days(1)).await;
    assert_eq!(st.project_state().await, "offboarded");
    let creds = st.s.get(&st.viewer, &st.path("/credentials")).await.ok();
    assert_eq!(creds["credentials"], json!([]), "{creds}");
    let archive =
        st.s.dir
            .path()
            .join("archive")
            .join(format!("project-{}.json", st.project));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&archive).unwrap()).unwrap();
    assert_eq!(doc["mappings"][0]["label"], "alice@x", "{doc}");
    assert_eq!(doc["events"][0]["event"]["id"], later.as_str(), "{doc}");
    assert_eq!(
        doc["events"][0]["report"]["event"]["state"], "cancelled",
        "{doc}"
    );
    let text = doc.to_string();
    assert!(!text.contains(PW) && !text.contains("a-new-admin-secret"));
    st.s.post(&st.customer, &resume, json!({})).await.err(409);

    // Close at the end of the programme.
    let c =
        st.s.post(&st.customer, &st.path("/close"), json!({}))
            .await
            .ok();
    assert_eq!(c["result"]["state"], "closed", "{c}");
    st.settle().await;
    assert_eq!(st.project_state().await, "closed");
}

/// A story whose source accepts connections and never says a word, with a pilot event whose pass has
/// started and hangs until it is stopped. Returns the story, the event and the mapping.
async fn hanging_pass() -> (Story, String, String) {
    let (st, alice, accepted) = hanging_story(On::Sqlite)
        .await
        .expect("a story on SQLite always starts");
    let pilot = st
        .event("synchronization", true, st.s.clock.now(), &[&alice])
        .await;
    scheduler::tick(&st.s.state).await.unwrap();
    assert_eq!(st.s.state.workers.running(), 1);
    let m = st.mapping_report(&pilot, &alice).await;
    assert_eq!(m["last_pass"]["outcome"], "running", "{m}");
    assert_eq!(m["next_text"], "its initial pass is running", "{m}");
    // The pass has read its credentials and waits for the source's greeting: a test that moves the clock
    // now does not expire them before (the pass would fail, and its end count as progress).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pass never connected to the source"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (st, pilot, alice)
}

/// A story on `on` whose source accepts connections and never says a word (a pass hangs until it is
/// stopped), with alice imported and every gate confirmed. Returns the story, alice's mapping and how many
/// connections the silent source has accepted; `None` (a reported skip) on PostgreSQL without a test
/// cluster.
async fn hanging_story(
    on: On,
) -> Option<(
    Story,
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
)> {
    let st = Story::start_on(on, &["alice"], 800, ProgrammeSettings::default(), json!({})).await?;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            held.push(c);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    st.s.put(
        &st.engineer,
        &st.path("/endpoints/source"),
        json!({ "url": format!("imap://127.0.0.1:{port}?starttls=never&timeout=60") }),
    )
    .await
    .ok();
    let ids = st.import(&["alice"]).await;
    let alice = ids["alice"].clone();
    st.confirm_gates().await;
    Some((st, alice, accepted))
}

/// Wait (bounded) for the stopped worker, and return the pass's recorded reason.
async fn stopped_reason(st: &Story, event: &str, mapping: &str) -> String {
    let waited = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        scheduler::wait_for_workers(&st.s.state),
    )
    .await
    .expect("a stopped worker ends at once");
    assert_eq!(waited, 1);
    assert_eq!(st.s.state.workers.running(), 0);
    let m = st.mapping_report(event, mapping).await;
    assert_eq!(m["last_pass"]["outcome"], "failed", "{m}");
    m["last_pass"]["reason"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_event_stops_its_running_pass() {
    let (st, pilot, alice) = hanging_pass().await;
    st.s.post(&st.customer, &st.event_path(&pilot, "/cancel"), json!({}))
        .await
        .ok();
    assert_eq!(
        stopped_reason(&st, &pilot, &alice).await,
        "stopped: the event was cancelled"
    );
    st.settle().await;
    assert_eq!(st.event_state(&pilot).await, "cancelled");
    assert_eq!(st.s.state.workers.running(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_an_idle_project_stops_its_running_pass() {
    let (st, pilot, alice) = hanging_pass().await;
    st.s.advance(TimeDelta::days(29));
    scheduler::tick(&st.s.state).await.unwrap();
    assert_eq!(st.s.state.workers.running(), 1, "not idle long enough yet");
    st.s.advance(TimeDelta::days(1));
    scheduler::tick(&st.s.state).await.unwrap();
    assert_eq!(st.project_state().await, "paused");
    let reason = stopped_reason(&st, &pilot, &alice).await;
    assert!(
        reason.starts_with("stopped: the project's workers were stopped"),
        "{reason}"
    );
    // Paused projects run nothing, and engineers cannot launch either.
    st.settle().await;
    assert_eq!(st.s.state.workers.running(), 0);
    let e =
        st.s.post(
            &st.engineer,
            &st.event_path(&pilot, &format!("/mappings/{alice}/launch")),
            json!({}),
        )
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("paused"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_without_a_valid_credential_fails_saying_which_to_supply_again() {
    let settings = ProgrammeSettings {
        credential_expiry_days: 2,
        ..ProgrammeSettings::default()
    };
    let st = Story::start(&["alice"], 800, settings, json!({})).await;
    seed(&st, "alice", 50, 3);
    let ids = st.import(&["alice"]).await;
    let alice = &ids["alice"];
    st.confirm_gates().await;
    let later = st
        .event(
            "synchronization",
            true,
            st.s.clock.now() + TimeDelta::days(3),
            &[alice],
        )
        .await;
    // Day 3: the mapping's password and the target admin's secret expired on day 2.
    st.advance(TimeDelta::days(3)).await;
    assert_eq!(st.event_state(&later).await, "done_with_errors");
    let m = st.mapping_report(&later, alice).await;
    assert_eq!(m["attempts"], 2, "{m}");
    let reason = m["last_pass"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no source credential for alice@x") && reason.contains("Supply it again"),
        "{reason}"
    );
    let creds = st.s.get(&st.viewer, &st.path("/credentials")).await.ok();
    assert!(
        creds["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["expired"] == true),
        "{creds}"
    );

    // Supplied again (the source through its master user), a new event copies the mailbox.
    let (admin, admin_pw) = Dovecot::master();
    let src = format!("{}?starttls=never", st.source.url());
    st.s.put(
        &st.engineer,
        &st.path("/endpoints/source"),
        json!({ "url": src, "username": admin }),
    )
    .await
    .ok();
    for side in ["source", "target"] {
        st.s.put(
            &st.customer,
            &st.path(&format!("/endpoints/{side}/credential")),
            json!({ "secret": admin_pw }),
        )
        .await
        .ok();
    }
    let again = st
        .event("synchronization", true, st.s.clock.now(), &[alice])
        .await;
    st.settle().await;
    assert_eq!(st.event_state(&again).await, "done");
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assessment_discovers_each_mailbox_and_flags_the_pre_flight_rules() {
    let settings = ProgrammeSettings {
        preflight_max_items: 3,
        ..ProgrammeSettings::default()
    };
    // A 1 MB target quota and a 300 KB size limit, so small test mailboxes hit every rule.
    let st = Story::start(
        &["alice", "bob"],
        800,
        settings,
        json!({ "quota_mb": 1, "max_message_size": "300KB" }),
    )
    .await;
    st.source
        .seed("alice", "INBOX", &corpus::seed_messages(40, 4, 320_000))
        .unwrap();
    seed(&st, "bob", 41, 2);
    let before = st.source.snapshot("alice").unwrap();
    let ids = st.import(&["alice", "bob"]).await;
    let a =
        st.s.post(&st.engineer, &st.path("/assessments"), json!({}))
            .await
            .ok();
    assert_eq!(a["transaction"]["status"], "in_progress", "{a}");
    ferry_server::api::assessments::wait_assessments(
        &st.s.state,
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    let r =
        st.s.get(&st.viewer, &st.path("/assessments/latest"))
            .await
            .ok();
    let by = |id: &String| {
        r["report"]["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mapping"] == id.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{r}"))
    };
    let alice = by(&ids["alice"]);
    assert_eq!(alice["ready"], false, "{alice}");
    assert_eq!(alice["inventory"]["messages"], 4, "{alice}");
    assert_eq!(alice["inventory"]["over_size"], 4, "{alice}");
    let rules: Vec<&str> = alice["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "message_over_size_limit",
            "mailbox_over_quota_fraction",
            "too_many_items"
        ],
        "{alice}"
    );
    let bob = by(&ids["bob"]);
    assert_eq!(bob["ready"], true, "{bob}");
    assert_eq!(bob["inventory"]["messages"], 2, "{bob}");
    assert_eq!(bob["findings"], json!([]), "{bob}");
    // Discovery reads only: the source is unchanged and nothing was written to the target.
    assert_eq!(st.source.snapshot("alice").unwrap(), before);
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_left_running_by_a_stopped_server_counts_as_an_attempt_and_is_retried() {
    let st = Story::start(&["alice"], 800, ProgrammeSettings::default(), json!({})).await;
    seed(&st, "alice", 60, 4);
    let ids = st.import(&["alice"]).await;
    let alice = &ids["alice"];
    st.confirm_gates().await;
    let pilot = st
        .event("synchronization", true, st.s.clock.now(), &[alice])
        .await;
    // What a server killed in the middle of a pass leaves behind: the event running, a pass `running`
    // that no worker of this process runs.
    sqlx::query("UPDATE prog_event SET state = 'running' WHERE id = ?")
        .bind(&pilot)
        .execute(st.s.sqlite_pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO prog_pass (id, event_id, mapping_id, kind, attempt, started_at, outcome) VALUES ('left-over', ?, ?, 'initial', 1, ?, 'running')",
    )
    .bind(&pilot)
    .bind(alice)
    .bind(ferry_server::db::ts(st.s.clock.now()))
    .execute(st.s.sqlite_pool())
    .await
    .unwrap();
    st.settle().await;
    assert_eq!(st.event_state(&pilot).await, "done");
    let r = st.report(&pilot).await;
    let m = &r["mappings"][0];
    assert_eq!(m["passes"], 2, "{m}");
    assert_eq!(m["last_pass"]["attempt"], 2, "{m}");
    assert_eq!(m["last_pass"]["outcome"], "succeeded", "{m}");
    assert!(
        st.audit()
            .await
            .iter()
            .any(|a| a["action"] == "pass.interrupted"),
        "no audit entry for the interrupted pass"
    );
    assert_eq!(st.target.snapshot("alice@x").unwrap().message_count(), 4);
}
