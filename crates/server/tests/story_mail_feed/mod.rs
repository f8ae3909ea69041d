//! Live progress and stops across nodes (issue 12 §3): every pass start and end and every event change
//! reaches the feed whichever path ran the pass (this process's pool, a queue worker); on PostgreSQL a
//! notice published by one node reaches the subscribers of another (through `LISTEN/NOTIFY`, also after
//! the database dropped the listener's connection); cancelling an event or pausing a project on one node
//! stops the pass another node's worker runs, which records it stopped — none is left running.
//!
//! A second node is a second `AppState` opened on the same store and data directory (its own workers,
//! feed and worker id), as a `ferry worker` process is.

use super::common::web::WebSession;
use super::common::{On, TestServer};
use super::{Story, hanging_story};
use chrono::TimeDelta;
use ferry_server::feed::{Notice, NoticeKind};
use ferry_server::queue::LeaseSettings;
use ferry_server::queue::sqlite::{PassHandler, SqliteQueue};
use ferry_server::{AppState, Clock, scheduler};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Heartbeats of 1 s: a stop on another node is read within about a second.
const LEASES: LeaseSettings = LeaseSettings {
    heartbeat: Duration::from_secs(1),
    missed: 3,
};

/// Notices received within `secs` until `done` holds for what was received (bounded; panics naming what
/// was heard).
async fn hear(
    rx: &mut broadcast::Receiver<Notice>,
    secs: u64,
    done: impl Fn(&[Notice]) -> bool,
) -> Vec<Notice> {
    let mut heard = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done(&heard) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(n)) => heard.push(n),
            Ok(Err(e)) => panic!("the feed failed: {e}; heard {heard:?}"),
            Err(_) => panic!("not heard within {secs} s; heard {heard:?}"),
        }
    }
    heard
}

fn has(heard: &[Notice], kind: NoticeKind, mapping: Option<&str>) -> bool {
    heard
        .iter()
        .any(|n| n.kind == kind && n.mapping.map(|m| m.to_string()).as_deref() == mapping)
}

/// Run `node`'s queue worker on the shared `DATA/queue.db` (2 slots), as a task of the current
/// `LocalSet` (apalis' worker future is not `Send`), until the set is dropped.
async fn run_worker(node: &AppState, dir: &std::path::Path) {
    let queue = SqliteQueue::open(dir, LEASES).await.unwrap();
    node.use_queue(Arc::new(queue.clone()), LEASES);
    let st = node.clone();
    let handler: PassHandler = Arc::new(move |job| Box::pin(scheduler::run_job(st.clone(), job)));
    let id = node.worker_id.clone();
    tokio::task::spawn_local(async move {
        let _ = queue
            .run_worker(&id, 2, handler, std::future::pending())
            .await;
    });
}

/// Run `test` in a `LocalSet` (for [`run_worker`]).
async fn local<F: std::future::Future>(test: F) -> F::Output {
    tokio::task::LocalSet::new().run_until(test).await
}

/// Wait (bounded) until `node` runs `n` passes.
async fn running(node: &AppState, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while node.workers.running() != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node runs {} passes, not {n}",
            node.workers.running()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait (bounded) until the mapping's last pass is no longer running; its recorded reason.
async fn stopped_reason(st: &Story, event: &str, mapping: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let m = st.mapping_report(event, mapping).await;
        if m["last_pass"]["outcome"] != "running" {
            assert_eq!(m["last_pass"]["outcome"], "failed", "{m}");
            return m["last_pass"]["reason"].as_str().unwrap().to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pass is still running: {m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_run_in_process_publishes_its_start_and_its_end_and_the_event_its_changes() {
    let (st, alice, _) = hanging_story(On::Sqlite).await.unwrap();
    let mut rx = st.s.state.feed.subscribe();
    let pilot = st
        .event("synchronization", true, st.s.clock.now(), &[&alice])
        .await;
    scheduler::tick(&st.s.state).await.unwrap();
    let heard = hear(&mut rx, 30, |h| {
        has(h, NoticeKind::PassStarted, Some(&alice))
    })
    .await;
    assert!(
        heard.iter().all(|n| n.event.to_string() == pilot),
        "{heard:?}"
    );
    assert!(
        has(&heard, NoticeKind::EventChanged, None),
        "created and started: {heard:?}"
    );
    st.s.post(&st.customer, &st.event_path(&pilot, "/cancel"), json!({}))
        .await
        .ok();
    hear(&mut rx, 30, |h| {
        has(h, NoticeKind::PassFinished, Some(&alice))
    })
    .await;
    assert_eq!(
        stopped_reason(&st, &pilot, &alice).await,
        "stopped: the event was cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_run_by_a_queue_worker_publishes_its_start_and_its_end() {
    local(queued_pass_publishes()).await;
}

async fn queued_pass_publishes() {
    let (st, alice, _) = hanging_story(On::Sqlite).await.unwrap();
    run_worker(&st.s.state, st.s.dir.path()).await;
    let mut rx = st.s.state.feed.subscribe();
    let pilot = st
        .event("synchronization", true, st.s.clock.now(), &[&alice])
        .await;
    scheduler::tick(&st.s.state).await.unwrap();
    hear(&mut rx, 60, |h| {
        has(h, NoticeKind::PassStarted, Some(&alice))
    })
    .await;
    running(&st.s.state, 1).await;
    st.s.post(&st.customer, &st.event_path(&pilot, "/cancel"), json!({}))
        .await
        .ok();
    hear(&mut rx, 60, |h| {
        has(h, NoticeKind::PassFinished, Some(&alice))
    })
    .await;
    assert_eq!(
        stopped_reason(&st, &pilot, &alice).await,
        "stopped: the event was cancelled"
    );
}

/// A story on `on` whose pilot pass runs (hanging) on a second node's queue worker, the first node only
/// scheduling (call in a `LocalSet`). Returns the story, the second node, the event and the mapping.
async fn pass_on_another_node(on: On) -> Option<(Story, TestServer, String, String)> {
    let (st, alice, accepted) = hanging_story(on).await?;
    let queue = SqliteQueue::open(st.s.dir.path(), LEASES).await.unwrap();
    st.s.state.use_queue(Arc::new(queue), LEASES);
    let node = st.s.second_node().await;
    let worker = node.state.clone();
    run_worker(&worker, st.s.dir.path()).await;
    let pilot = st
        .event("synchronization", true, st.s.clock.now(), &[&alice])
        .await;
    scheduler::tick(&st.s.state).await.unwrap();
    running(&worker, 1).await;
    assert_eq!(
        st.s.state.workers.running(),
        0,
        "the first node runs nothing"
    );
    // The pass has read its credentials and waits for the source's greeting (a test that moves the clock
    // must not expire them before).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pass never connected to the source"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some((st, node, pilot, alice))
}

async fn cancelling_an_event_on_one_node_stops_its_pass_on_another_nodes_worker(on: On) {
    local(cancel_on_another_node(on)).await;
}

async fn cancel_on_another_node(on: On) {
    let Some((st, node, pilot, alice)) = pass_on_another_node(on).await else {
        return;
    };
    let worker = &node.state;
    st.s.post(&st.customer, &st.event_path(&pilot, "/cancel"), json!({}))
        .await
        .ok();
    assert_eq!(
        stopped_reason(&st, &pilot, &alice).await,
        "stopped: the event was cancelled"
    );
    running(worker, 0).await;
    st.settle().await;
    assert_eq!(st.event_state(&pilot).await, "cancelled");
    let m = st.mapping_report(&pilot, &alice).await;
    assert_eq!(m["passes"], 1, "{m}");
}
crate::on_both_stores!(cancelling_an_event_on_one_node_stops_its_pass_on_another_nodes_worker);

async fn pausing_a_project_on_one_node_stops_its_pass_on_another_nodes_worker(on: On) {
    local(pause_on_another_node(on)).await;
}

async fn pause_on_another_node(on: On) {
    let Some((st, node, pilot, alice)) = pass_on_another_node(on).await else {
        return;
    };
    let worker = &node.state;
    // Idle for the pause period: the scheduler on the first node pauses the project.
    st.s.advance(TimeDelta::days(30));
    scheduler::tick(&st.s.state).await.unwrap();
    assert_eq!(st.project_state().await, "paused");
    let reason = stopped_reason(&st, &pilot, &alice).await;
    assert!(
        reason.starts_with("stopped: the project's workers were stopped"),
        "{reason}"
    );
    running(worker, 0).await;
    let m = st.mapping_report(&pilot, &alice).await;
    assert_eq!(m["passes"], 1, "{m}");
}
crate::on_both_stores!(pausing_a_project_on_one_node_stops_its_pass_on_another_nodes_worker);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_notice_of_one_node_reaches_another_also_after_its_listener_was_cut_off() {
    let Some((st, alice, _)) = hanging_story(On::Postgres("feed_two_nodes")).await else {
        return;
    };
    let node = st.s.second_node().await;
    let other = &node.state;
    let mut mine = st.s.state.feed.subscribe();
    let mut theirs = other.feed.subscribe();
    let pilot = st
        .event("synchronization", true, st.s.clock.now(), &[&alice])
        .await;
    // The event's creation, published by the first node: heard once by each.
    hear(&mut theirs, 30, |h| has(h, NoticeKind::EventChanged, None)).await;
    hear(&mut mine, 30, |h| has(h, NoticeKind::EventChanged, None)).await;
    let db = st.s.db.as_ref().unwrap();
    // The database drops the listening connections (both nodes'): they listen again by themselves.
    let cut = db
        .psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'ferry-feed' \
             AND query ILIKE 'LISTEN%'",
        )
        .unwrap();
    assert!(cut.trim().parse::<u32>().unwrap_or(0) >= 1, "{cut}");
    // Published again until heard: a notice sent while the listener was reconnecting is lost by design.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        other.feed.event_changed(pilot.parse().unwrap());
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), mine.recv()).await {
            assert_eq!(n.event.to_string(), pilot);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first node never heard the second again"
        );
    }
}

/// The `event: live` fragments of an SSE response, one at a time.
struct Frames {
    stream: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>,
    >,
    buf: String,
}

impl Frames {
    /// The next fragment (within 60 s).
    async fn next(&mut self) -> String {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let msg: String = self.buf[..end].to_owned();
                self.buf.drain(..end + 2);
                if msg.lines().any(|l| l == "event: live") {
                    return msg
                        .lines()
                        .filter_map(|l| l.strip_prefix("data: ").or(l.strip_prefix("data:")))
                        .collect::<Vec<_>>()
                        .join("\n");
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a fragment within 60 s")
                .expect("the stream stays open")
                .unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Fragments until one contains `what` (bounded by [`Frames::next`]'s wait for each).
    async fn until(&mut self, what: &str) -> String {
        loop {
            let html = self.next().await;
            if html.contains(what) {
                return html;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_the_live_view_of_another_node_follows_a_pass_from_its_start_to_its_stop() {
    let Some((st, alice, accepted)) = hanging_story(On::Postgres("feed_live_view")).await else {
        return;
    };
    let other = st.s.second_node().await;
    let web = WebSession::sign_in(&other, &st.viewer).await;
    let pilot = st
        .event("synchronization", true, st.s.clock.now(), &[&alice])
        .await;
    let live = format!(
        "/tenants/{}/projects/{}/events/{pilot}/live/stream",
        st.tenant, st.project
    );
    let resp = super::common::web::client()
        .get(format!("{}{live}", other.base))
        .header("cookie", &web.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut frames = Frames {
        stream: Box::pin(resp.bytes_stream()),
        buf: String::new(),
    };
    assert!(frames.next().await.contains("id=\"queued\">1<"));
    // The first node's scheduler starts the pass and runs it; the second node's view shows it running.
    scheduler::tick(&st.s.state).await.unwrap();
    frames.until("id=\"running\">1<").await;
    assert_eq!(
        other.state.workers.running(),
        0,
        "it runs on the first node"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no connection");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Cancelled on the second node: the first node's worker stops the pass, and the view shows it.
    other
        .post(&st.customer, &st.event_path(&pilot, "/cancel"), json!({}))
        .await
        .ok();
    frames.until("id=\"running\">0<").await;
    assert_eq!(
        stopped_reason(&st, &pilot, &alice).await,
        "stopped: the event was cancelled"
    );
}
