//! The lease watchdog through real `ferry worker` processes (issue 12 §3): a worker whose lease renewals
//! cannot reach PostgreSQL stops its pass before the lease ends — nothing more is sent to the target — and
//! gives the pass back, instead of copying on while another worker may take the pass over.
//!
//! Worker 1 reaches the database through a testkit [`FaultProxy`] the test stalls (connections stay open,
//! no byte goes through: what a database that stopped answering looks like from the worker), while the
//! `ferry serve` and any other worker reach it directly; the source and target Dovecots are reached
//! directly by everyone. Heartbeats are 1 s, so a lease ends 3 s after its last renewal.
//!
//! Each test makes its own database in the cluster named by `FERRY_TEST_POSTGRES` and is skipped, with the
//! reason printed, when it is unset (CI sets it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/scaleout.rs"]
mod kit;

use common::{content, total};
use ferry_testkit::postgres::TestDatabase;
use ferry_testkit::proxy::FaultProxy;
use kit::{Setup, Worker, dovecots, mapping, pilot, project, serve, wait_succeeded};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The test's database, the setup of the processes that reach it directly, and that of a worker that
/// reaches it through a proxy the test can stall.
fn database(test: &str) -> Option<(TestDatabase, Setup, Setup, FaultProxy)> {
    let db = TestDatabase::create(test).expect("a test database")?;
    let url = db.url().to_string();
    let port: u16 = url
        .split("@127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the test cluster is not on 127.0.0.1: {url}"));
    let proxy = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let proxied = url.replacen(
        &format!("@127.0.0.1:{port}/"),
        &format!("@127.0.0.1:{}/", proxy.port()),
        1,
    );
    let direct = Setup {
        store: Some(url),
        settings: None,
    };
    let through = Setup {
        store: Some(proxied),
        settings: None,
    };
    Some((db, direct, through, proxy))
}

/// Messages on `user`'s target mailbox now.
fn copied(target: &ferry_testkit::Dovecot, user: &str) -> usize {
    target
        .snapshot(user)
        .map(|t| t.message_count())
        .unwrap_or(0)
}

/// Wait (bounded) until the pass copied something, so it is caught mid-pass.
fn until_copying(target: &ferry_testkit::Dovecot, w: &Worker) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while copied(target, "alice@x") == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing was copied:\n{}",
            w.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const LOST: &str = "lease could not be renewed before its end";

/// One mailbox's pilot run by worker 1 through the proxy, caught mid-pass; then the database stops
/// answering worker 1 (its renewals hang) and, before its lease ends — while the database is still
/// unreachable to it — worker 1 stops the pass with `at_stop` messages on the target.
struct Stalled {
    w1: Worker,
    s: common::Served,
    at_stop: usize,
    before: ferry_testkit::snapshot::MailboxSnapshot,
    source: ferry_testkit::Dovecot,
    target: ferry_testkit::Dovecot,
    direct: Setup,
    proxy: FaultProxy,
    tmp: tempfile::TempDir,
    db: TestDatabase,
}

const USERS: [&str; 1] = ["alice"];

fn stalled_mid_pass(test: &str) -> Option<Stalled> {
    let (db, direct, through, proxy) = database(test)?;
    let (source, target) = dovecots(&USERS, true, 5);
    let before = source.snapshot("alice").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = serve(&tmp.path().join("data"), &direct);
    project(&s, &source, &target, &USERS, tmp.path());
    pilot(&s, &USERS);
    let mut w1 = Worker::start(&tmp.path().join("w1"), "1", &through);
    w1.wait_for("pass started", 90);
    until_copying(&target, &w1);
    proxy.set_stall(true);
    w1.wait_for(LOST, 30);
    let at_stop = copied(&target, "alice@x");
    assert!(
        at_stop < before.message_count(),
        "the pass had finished before the stall; the test proves nothing"
    );
    Some(Stalled {
        w1,
        s,
        at_stop,
        before,
        source,
        target,
        direct,
        proxy,
        tmp,
        db,
    })
}

impl Stalled {
    /// The target holds the source's messages, each once, and the source is unchanged.
    fn assert_target_is_the_source(&self) {
        assert_eq!(
            self.source.snapshot("alice").unwrap(),
            self.before,
            "the source changed"
        );
        let tgt = content(&self.target.snapshot("alice@x").unwrap());
        assert_eq!(
            total(&tgt),
            self.before.message_count(),
            "duplicates or losses"
        );
        assert_eq!(tgt, content(&self.before));
    }
}

#[test]
fn a_worker_that_cannot_renew_its_lease_stops_its_pass_before_another_takes_it_over_and_nothing_is_copied_twice()
 {
    let Some(mut st) = stalled_mid_pass("scaleout_pg_lease_taken") else {
        return;
    };

    // Another worker takes the pass over once the lease expired (the next lease attempt of the same pass).
    let mut w2 = Worker::start(&st.tmp.path().join("w2"), "2", &st.direct);
    w2.wait_for("attempt=2", 90);
    assert_eq!(
        st.db
            .psql("SELECT lease_attempt FROM prog_pass")
            .unwrap()
            .trim(),
        "2",
        "taken over under the next lease attempt"
    );

    // Worker 1 reaches the database again: its giving back is fenced (the pass is worker 2's now) and it
    // writes nothing; worker 2 finishes the mailbox, each message once.
    st.proxy.set_stall(false);
    st.w1.wait_for(
        "fenced: the pass was taken over before it was given back",
        60,
    );
    let logs = || format!("--- 1\n{}\n--- 2\n{}", st.w1.output(), w2.output());
    let r = wait_succeeded(&st.s, "Pilot", &USERS, 180, &logs);
    let m = mapping(&r, "alice@x");
    assert_eq!(m["passes"], 1, "one pass, taken over, not failed: {m}");
    assert!(
        !st.w1.output().contains("pass ended"),
        "worker 1 recorded no end:\n{}",
        st.w1.output()
    );
    st.assert_target_is_the_source();
    drop(w2);
}

#[test]
fn a_worker_that_cannot_renew_its_lease_gives_the_pass_back_when_the_database_answers_and_it_resumes()
 {
    let Some(mut st) = stalled_mid_pass("scaleout_pg_lease_back") else {
        return;
    };
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        copied(&st.target, "alice@x"),
        st.at_stop,
        "a stopped pass sends nothing"
    );

    // The database answers again: the pass is given back (still running, not failed: no attempt used),
    // queued again, and resumed under the next lease attempt; each message once on the target.
    st.proxy.set_stall(false);
    st.w1
        .wait_for("pass given back after its lease was lost", 60);
    st.w1.wait_for("attempt=2", 60);
    let logs = || st.w1.output();
    let r = wait_succeeded(&st.s, "Pilot", &USERS, 180, &logs);
    let m = mapping(&r, "alice@x");
    assert_eq!(m["passes"], 1, "one pass, given back, not failed: {m}");
    assert_eq!(m["attempts"], 1, "no attempt used: {m}");
    assert_eq!(
        st.db.psql("SELECT outcome FROM prog_pass").unwrap().trim(),
        "succeeded"
    );
    st.assert_target_is_the_source();
}
