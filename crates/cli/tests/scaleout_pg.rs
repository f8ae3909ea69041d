//! Scale-out on PostgreSQL through real `ferry` processes (issue 12 §3–§4): one `ferry serve --store
//! postgres://… --queue --slots 0` schedules and queues passes in the database's apalis queue; `ferry
//! worker --store postgres://…` processes, each with a data directory of its own (no store in it), run
//! them under leases; Dovecot source and target. Heartbeats are 1 s, so a lease expires 3 s after its
//! worker stopped renewing it.
//!
//! Each test makes its own database in the cluster named by `FERRY_TEST_POSTGRES` and is skipped, with the
//! reason printed, when it is unset (CI sets it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/scaleout.rs"]
mod kit;

use common::{code, content, ferry, text, total};
use ferry_testkit::postgres::TestDatabase;
use ferry_testkit::proxy::FaultProxy;
use kit::{
    Setup, Worker, dovecots, mapping, pilot, pilot_named, plain, project, project_via, report,
    serve, serve_named, wait_succeeded,
};
use std::time::{Duration, Instant};

fn database(test: &str) -> Option<(TestDatabase, Setup)> {
    let db = TestDatabase::create(test).expect("a test database")?;
    let setup = Setup {
        store: Some(db.url().to_string()),
        settings: None,
    };
    Some((db, setup))
}

/// The worker among `workers` that logged the start of `label`'s pass, once one did (bounded wait).
fn runner_of(workers: &[Worker], label: &str, secs: u64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let wanted = format!("mapping={label}");
    loop {
        for (i, w) in workers.iter().enumerate() {
            if w.output()
                .lines()
                .any(|l| l.contains("pass started") && l.contains(&wanted))
            {
                return i;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no worker started {label}'s pass:\n{}",
            workers
                .iter()
                .map(|w| format!("--- {}\n{}", w.name, w.output()))
                .collect::<String>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_workers_on_postgresql_finish_every_pass_once_after_one_of_them_is_killed_mid_pass() {
    let Some((_db, setup)) = database("scaleout_pg_kill") else {
        return;
    };
    let users = ["alice", "bob", "carol", "dave"];
    let (source, target) = dovecots(&users, true, 5);
    let before: Vec<_> = users.iter().map(|u| source.snapshot(u).unwrap()).collect();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = serve(&data, &setup);
    project(&s, &source, &target, &users, tmp.path());
    pilot(&s, &users);

    // Three workers, each with a data directory of its own: the store and the queue are PostgreSQL's.
    let mut workers: Vec<Worker> = (1..=3)
        .map(|n| {
            let dir = tmp.path().join(format!("w{n}"));
            Worker::start(&dir, &n.to_string(), &setup)
        })
        .collect();
    let i = runner_of(&workers, "alice@x", 90);
    let deadline = Instant::now() + Duration::from_secs(60);
    while target
        .snapshot("alice@x")
        .map(|t| t.message_count())
        .unwrap_or(0)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "nothing was copied:\n{}",
            workers[i].output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    workers[i].kill();
    let killed = workers.remove(i);
    let m = report(&s);
    let alice = mapping(&m, "alice@x");
    assert_eq!(
        alice["last_pass"]["outcome"], "running",
        "killed mid-pass: the pass is still the killed worker's: {alice}"
    );
    assert!(
        target.snapshot("alice@x").unwrap().message_count() < before[0].message_count(),
        "the pass had finished before the kill; the test proves nothing"
    );

    // Another worker takes the killed pass over once its lease expired and resumes it (attempt 2 of the
    // same pass, not a second pass); every other pass finishes too.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let r = report(&s);
        let done = users
            .iter()
            .all(|u| mapping(&r, &format!("{u}@x"))["last_pass"]["outcome"] == "succeeded");
        if done {
            for u in users {
                let m = mapping(&r, &format!("{u}@x"));
                assert_eq!(m["passes"], 1, "one pass each, none retried: {m}");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the passes did not finish: {r}\n{}",
            workers
                .iter()
                .map(|w| format!("--- {}\n{}", w.name, w.output()))
                .collect::<String>()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        workers
            .iter()
            .any(|w| w.output().contains("mapping=alice@x") && w.output().contains("attempt=2")),
        "alice's pass was taken over under a new lease attempt:\n{}",
        killed.output()
    );
    for (u, b) in users.iter().zip(&before) {
        assert_eq!(&source.snapshot(u).unwrap(), b, "the source of {u} changed");
        let tgt = content(&target.snapshot(&format!("{u}@x")).unwrap());
        assert_eq!(total(&tgt), b.message_count(), "{u}: duplicates or losses");
        assert_eq!(tgt, content(b), "{u}");
    }
    drop(workers);
    drop(s);
}

#[test]
fn a_worker_on_postgresql_without_the_serves_credential_key_refuses_to_start_and_never_shows_the_password()
 {
    let Some((db, _)) = database("scaleout_pg_nokey") else {
        return;
    };
    // Trust authentication on the test cluster: the password is not checked, only never shown.
    let url = db
        .url()
        .replacen("://postgres@", "://postgres:s3cret-Pw@", 1);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("worker");
    let o = ferry(&data, &["worker"], &[("FERRY_STORE", url.as_str())]);
    let out = text(&o);
    assert_eq!(code(&o), 2, "{out}");
    assert!(out.contains("no credential key"), "{out}");
    assert!(!out.contains("s3cret-Pw"), "{out}");
    assert!(
        !data.join("credential.key").exists(),
        "a worker never makes a key of its own"
    );
}

#[test]
fn two_serve_processes_on_one_postgresql_schedule_each_pass_once_and_the_second_takes_over_when_the_leader_is_killed()
 {
    let Some((db, setup)) = database("scaleout_pg_leader") else {
        return;
    };
    let users = ["alice", "bob", "carol", "dave"];
    let (source, target) = dovecots(&users, false, 5);
    let tmp = tempfile::tempdir().unwrap();
    let a = serve_named(&tmp.path().join("a"), "serve-a", &setup);
    let b = serve_named(&tmp.path().join("b"), "serve-b", &setup);
    let mut nodes = vec![a, b];
    let leads = |s: &common::Served| plain(&s.output()).contains("this process schedules");
    let waits = |s: &common::Served| plain(&s.output()).contains("another process schedules");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(nodes.iter().any(leads) && nodes.iter().any(waits)) {
        assert!(
            Instant::now() < deadline,
            "no leader and follower:\n{}\n{}",
            nodes[0].output(),
            nodes[1].output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(nodes.iter().filter(|s| leads(s)).count(), 1, "one leader");
    let leader = nodes.iter().position(leads).unwrap();
    project(&nodes[0], &source, &target, &users, tmp.path());
    let mut worker = Worker::start(&tmp.path().join("w"), "w", &setup);

    // Both schedulers run while the pilot's passes are due: each pass is recorded and queued once.
    pilot(&nodes[1 - leader], &users[..3]);
    let logs = || worker.output();
    let r = wait_succeeded(&nodes[0], "Pilot", &users[..3], 120, &logs);
    for u in &users[..3] {
        let m = mapping(&r, &format!("{u}@x"));
        assert_eq!(m["passes"], 1, "one pass per mapping: {m}");
    }
    let passes = db.psql("SELECT count(*) FROM prog_pass").unwrap();
    assert_eq!(passes.trim(), "3", "no pass recorded twice");
    let jobs = db
        .psql("SELECT count(*), count(DISTINCT idempotency_key) FROM apalis.jobs")
        .unwrap();
    assert_eq!(jobs.trim(), "3|3", "no pass queued twice");

    // The leader dies: the other takes over and schedules the next event.
    let mut dead = nodes.remove(leader);
    dead.child.kill().unwrap();
    let _ = dead.child.wait();
    let survivor = &nodes[0];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !leads(survivor) {
        assert!(
            Instant::now() < deadline,
            "nobody took over:\n{}",
            survivor.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pilot_named(survivor, "Second", &users[3..]);
    wait_succeeded(survivor, "Second", &users[3..], 120, &logs);
    assert_eq!(
        db.psql("SELECT count(*) FROM prog_pass").unwrap().trim(),
        "4"
    );
    for u in users {
        let src = content(&source.snapshot(u).unwrap());
        let tgt = content(&target.snapshot(&format!("{u}@x")).unwrap());
        assert_eq!(tgt, src, "{u}");
    }
    worker.kill();
}

/// `kill -SIG pid`.
fn signal(w: &Worker, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &w.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

/// The worker id a `ferry worker` printed at its start.
fn worker_id(w: &Worker) -> String {
    let out = w.output();
    out.split("Ferry worker ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no worker id printed:\n{out}"))
        .to_string()
}

#[test]
fn a_worker_frozen_past_its_lease_is_fenced_when_it_wakes_and_a_restarted_worker_has_a_new_id() {
    let Some((_db, setup)) = database("scaleout_pg_fence") else {
        return;
    };
    let users = ["alice"];
    let (source, target) = dovecots(&users, true, 5);
    let before = source.snapshot("alice").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = serve(&tmp.path().join("data"), &setup);
    project(&s, &source, &target, &users, tmp.path());
    pilot(&s, &users);
    let mut w1 = Worker::start(&tmp.path().join("w1"), "1", &setup);
    w1.wait_for("pass started", 90);
    let deadline = Instant::now() + Duration::from_secs(60);
    while target
        .snapshot("alice@x")
        .map(|t| t.message_count())
        .unwrap_or(0)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "nothing was copied:\n{}",
            w1.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Frozen mid-pass: its lease (3 s) expires, the queue gives the job to another worker, which takes
    // the pass over under the next lease attempt.
    signal(&w1, "STOP");
    let mut w2 = Worker::start(&tmp.path().join("w2"), "2", &setup);
    w2.wait_for("attempt=2", 90);
    assert!(
        target.snapshot("alice@x").unwrap().message_count() < before.message_count(),
        "the pass had finished before the freeze; the test proves nothing"
    );
    // Back: its next renewal finds the pass held by another and it abandons the pass, writing nothing.
    signal(&w1, "CONT");
    w1.wait_for("fenced", 60);
    let logs = || format!("{}\n{}", w1.output(), w2.output());
    let r = wait_succeeded(&s, "Pilot", &users, 180, &logs);
    let m = mapping(&r, "alice@x");
    assert_eq!(m["passes"], 1, "one pass, taken over, not retried: {m}");
    assert!(
        !w1.output().contains("pass ended"),
        "the frozen worker recorded no end:\n{}",
        w1.output()
    );
    assert_eq!(
        source.snapshot("alice").unwrap(),
        before,
        "the source changed"
    );
    let tgt = content(&target.snapshot("alice@x").unwrap());
    assert_eq!(total(&tgt), before.message_count(), "duplicates or losses");
    assert_eq!(tgt, content(&before));

    // A worker restarted (here, after a kill) runs under a new id: it never renews a dead start's leases.
    let first = worker_id(&w1);
    w1.kill();
    let w3 = Worker::start(&tmp.path().join("w1"), "3", &setup);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !w3.output().contains("Ferry worker ") {
        assert!(Instant::now() < deadline, "{}", w3.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ne!(worker_id(&w3), first, "a new id per process start");
    drop(w2);
}

/// Passes of the tenant that run under a live lease now (from the store's pass rows).
fn running_leased(db: &TestDatabase) -> usize {
    db.psql("SELECT count(*) FROM prog_pass WHERE outcome = 'running' AND lease_owner IS NOT NULL")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Refusals for the cap the workers logged so far.
fn refusals(workers: &[Worker]) -> usize {
    workers
        .iter()
        .map(|w| w.output().matches("tenant_pass_cap passes already").count())
        .sum()
}

#[test]
fn a_tenant_cap_of_2_holds_across_three_workers() {
    let Some((db, mut setup)) = database("scaleout_pg_cap") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let settings = tmp.path().join("settings.toml");
    std::fs::write(&settings, "tenant_pass_cap = 2\n").unwrap();
    setup.settings = Some(settings.to_str().unwrap().to_string());
    let users = ["anna", "ben", "cleo", "dan", "eve", "finn"];
    let (source, target) = dovecots(&users, false, 20);
    // The test holds every pass open: the source is reached through a proxy that forwards nothing until
    // released, so the passes that got under the cap stay running however fast the machine is.
    let proxy = FaultProxy::start(source.addr()).unwrap();
    proxy.set_stall(true);
    let s = serve(&tmp.path().join("data"), &setup);
    project_via(&s, &proxy.url(), &target, &users, tmp.path());
    let workers: Vec<Worker> = (1..=3)
        .map(|n| Worker::start(&tmp.path().join(format!("w{n}")), &n.to_string(), &setup))
        .collect();
    pilot(&s, &users);
    let logs = || {
        workers
            .iter()
            .map(|w| format!("--- {}\n{}", w.name, w.output()))
            .collect::<String>()
    };

    // Held: six free slots on three workers, two passes run and the others are refused for the cap,
    // again at every heartbeat; never more than 2 run.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut held_since: Option<Instant> = None;
    loop {
        let running = running_leased(&db);
        assert!(running <= 2, "{running} passes of one tenant ran at once");
        if running == 2 && refusals(&workers) >= users.len() - 2 {
            let since = *held_since.get_or_insert_with(Instant::now);
            // Several heartbeats (1 s) of refusals while the two hold their slots.
            if since.elapsed() > Duration::from_secs(4) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the cap was never reached with the passes held:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        db.psql("SELECT count(*) FROM prog_pass WHERE outcome <> 'running'")
            .unwrap()
            .trim(),
        "0",
        "nothing ended while the source was held"
    );

    // Released: every pass runs in turn and ends; still never more than 2 at once.
    proxy.set_stall(false);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let running = running_leased(&db);
        assert!(running <= 2, "{running} passes of one tenant ran at once");
        let left = db
            .psql("SELECT count(*) FROM prog_pass WHERE outcome = 'running'")
            .unwrap();
        let total = db.psql("SELECT count(*) FROM prog_pass").unwrap();
        if left.trim() == "0" && total.trim() == users.len().to_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the passes did not finish:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = wait_succeeded(&s, "Pilot", &users, 30, &logs);
    for u in users {
        assert_eq!(mapping(&r, &format!("{u}@x"))["passes"], 1);
        let src = content(&source.snapshot(u).unwrap());
        assert_eq!(
            content(&target.snapshot(&format!("{u}@x")).unwrap()),
            src,
            "{u}"
        );
    }
}
