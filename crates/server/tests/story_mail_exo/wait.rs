//! A server's long wait gives the pass back (issue 12 §3): Exchange's "Suggested Backoff Time" longer than
//! `max_wait_in_pass_secs` stops the pass at a checkpoint; its lease is released with a run-after time, the
//! queue brings it back then, and it resumes — one pass, one attempt, each message once on the target. With
//! one worker slot, another mapping's pass runs in that slot while the first waits.

use super::super::common::web::WebSession;
use super::super::common::{OPERATOR_TOKEN, On};
use super::ExoStory;
use ferry_server::queue::postgres::PostgresQueue;
use ferry_server::queue::sqlite::SqliteQueue;
use ferry_server::queue::{LeaseSettings, PassHandler, PassQueue};
use ferry_server::{Clock, scheduler};
use ferry_testkit::corpus;
use ferry_testkit::exchange::{ExchangeOptions, Throttle};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const LEASES: LeaseSettings = LeaseSettings {
    heartbeat: Duration::from_secs(1),
    missed: 3,
};

/// Passes through the store's queue (apalis-sqlite or apalis-postgres) and one worker of one slot, as
/// `ferry worker --slots 1`, in the current `LocalSet`.
async fn one_slot_worker(st: &ExoStory) {
    let queue = match &st.s.db {
        Some(db) => PassQueue::Postgres(PostgresQueue::open(db.url(), LEASES).await.unwrap()),
        None => PassQueue::Sqlite(SqliteQueue::open(st.s.dir.path(), LEASES).await.unwrap()),
    };
    let node = st.s.state.clone();
    node.use_queue(Arc::new(queue.clone()), LEASES);
    let handler: PassHandler = Arc::new(move |job| Box::pin(scheduler::run_job(node.clone(), job)));
    let id = st.s.state.worker_id.clone();
    tokio::task::spawn_local(async move {
        let _ = queue
            .run_worker(&id, 1, handler, std::future::pending())
            .await;
    });
}

async fn event(st: &ExoStory, name: &str, mapping: &str) -> String {
    let e =
        st.s.post(
            &st.customer,
            &format!("{}/events", st.base),
            json!({ "name": name, "kind": "synchronization", "pilot": true,
                    "start": Clock::now(&*st.s.clock), "mappings": [mapping] }),
        )
        .await
        .ok();
    let id = e["result"]["id"].as_str().unwrap().to_string();
    scheduler::tick(&st.s.state).await.unwrap();
    id
}

/// Poll `event`'s report of `mapping` (bounded) until `done` holds for it.
async fn report_until(
    st: &ExoStory,
    event: &str,
    mapping: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let m = st.mapping_report(event, mapping).await;
        if done(&m) {
            return m;
        }
        assert!(std::time::Instant::now() < deadline, "never reached: {m}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

crate::on_both_stores!(
    a_server_wait_longer_than_the_setting_releases_the_pass_until_then_frees_its_slot_and_it_resumes_with_one_copy
);
async fn a_server_wait_longer_than_the_setting_releases_the_pass_until_then_frees_its_slot_and_it_resumes_with_one_copy(
    on: On,
) {
    tokio::task::LocalSet::new()
        .run_until(story(on, true))
        .await;
}

/// `ferry serve` without `--queue` (the SQLite default): the process that ran the pass brings it back
/// after the wait, holding no slot meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_queue_the_process_brings_a_pass_given_back_for_a_server_wait_back_itself() {
    story(On::Sqlite, false).await;
}

async fn story(on: On, queued: bool) {
    // Exchange suggests a 2 s backoff once ann's APPEND budget is spent; a pass sleeps at most 1 s.
    let settings = ferry_core::programme::ProgrammeSettings {
        max_wait_in_pass_secs: 1,
        ..Default::default()
    };
    let Some(st) = ExoStory::start_with(
        on,
        settings,
        ExchangeOptions {
            throttle: Some(Throttle {
                per_second: 1000.0,
                burst: 8,
                min_backoff: Duration::from_secs(2),
                disconnect: true,
            }),
            ..ExchangeOptions::default()
        },
        &["ann", "bob"],
        json!({}),
    )
    .await
    else {
        return;
    };
    st.source
        .seed("ann", "INBOX", &corpus::seed_messages(21, 30, 2_000))
        .unwrap();
    st.source
        .seed("bob", "INBOX", &corpus::seed_messages(22, 3, 2_000))
        .unwrap();
    st.shim
        .allow_app("app-1", &["ann@contoso.com", "bob@contoso.com"]);
    let before = st.source.snapshot("ann").unwrap();
    let ids = st.mappings().await;
    let (ann, bob) = (
        ids["ann@contoso.com"].clone(),
        ids["bob@contoso.com"].clone(),
    );
    st.s.confirm_gates(&st.base).await;
    if queued {
        one_slot_worker(&st).await;
    }
    let web = WebSession::sign_in(&st.s, OPERATOR_TOKEN).await;
    let pages = st.base.trim_start_matches("/api/v1").to_owned();
    let first = event(&st, "ann", &ann).await;

    // ann's pass meets the backoff: it is given back, still running (not failed), queued until the wait
    // is over with a run-after time in the future; the report and the live view say so.
    let waiting = report_until(&st, &first, &ann, |m| {
        !m["last_pass"]["waiting_until"].is_null()
    })
    .await;
    assert_eq!(waiting["last_pass"]["outcome"], "running", "{waiting}");
    let next = waiting["next_text"].as_str().unwrap();
    assert!(next.contains("server asked to wait"), "{next}");
    // The dashboard's grid and the mapping's page say it too, not "running" (the wait is 2 s: read at once).
    for page in [
        format!("{pages}/mappings"),
        format!("{pages}/mappings/{ann}"),
    ] {
        let html = web.get(&st.s, &page).await;
        assert!(
            html.body
                .contains("initial queued: the server asked to wait; resumes"),
            "{page}: {}",
            html.body
        );
    }

    // Its slot is free: bob's pass (another event) runs in the only slot while ann's has not ended.
    let second = event(&st, "bob", &bob).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let leases = st.s.state.programme.pass_leases().await.unwrap();
        let waits = leases
            .iter()
            .any(|l| l.event.to_string() == first && l.owner.is_none());
        let runs = leases
            .iter()
            .any(|l| l.event.to_string() == second && l.owner.is_some());
        if waits && runs {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline
                && leases.iter().any(|l| l.event.to_string() == first),
            "bob's pass never ran while ann's waited: {leases:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // ann resumes after each wait the server asks for and ends Perfect: one pass, one attempt, every
    // message once, never a request inside a backoff.
    report_until(&st, &first, &ann, |m| {
        m["last_pass"]["outcome"] != "running"
    })
    .await;
    scheduler::tick(&st.s.state).await.unwrap();
    let m = st.mapping_report(&first, &ann).await;
    assert_eq!(m["last_pass"]["outcome"], "succeeded", "{m}");
    assert_eq!(m["grade"], "Perfect", "{m}");
    assert_eq!(m["passes"], 1, "{m}");
    assert_eq!(m["attempts"], 1, "{m}");
    let target = st.shim.dovecot().snapshot("ann@contoso.com").unwrap();
    assert_eq!(
        super::super::content(&target)["INBOX"],
        super::super::content(&before)["INBOX"]
    );
    let stats = st.shim.stats("ann@contoso.com");
    assert!(stats.throttled >= 1, "{stats:?}");
    assert_eq!(stats.early_requests, 0, "{stats:?}");
    let m = report_until(&st, &second, &bob, |m| {
        m["last_pass"]["outcome"] != "running"
    })
    .await;
    assert_eq!(m["last_pass"]["outcome"], "succeeded", "{m}");

    // The audit says which server asked, and why.
    let tenant = st.base.split("/projects/").next().unwrap();
    let audit =
        st.s.get(OPERATOR_TOKEN, &format!("{tenant}/audit"))
            .await
            .ok();
    let t = audit.to_string();
    assert!(t.contains("pass.wait"), "{t}");
    assert!(t.contains("Suggested Backoff Time"), "{t}");
}
