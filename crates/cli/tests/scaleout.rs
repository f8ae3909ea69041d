//! Scale-out through real `ferry` processes (issue 12 §3–§4): `ferry serve --queue` schedules and queues
//! passes, `ferry worker` processes on the same store run them under leases; Dovecot source and target.
//! Heartbeats are 1 s in these tests, so a lease expires 3 s after its worker stopped renewing it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/scaleout.rs"]
mod kit;

use common::{content, total};
use ferry_testkit::corpus;
use ferry_testkit::{Dovecot, DovecotOptions};
use kit::{PW, Setup, Worker, cli_at, pilot, project, report, serve};
use std::time::{Duration, Instant};

#[test]
fn a_worker_killed_mid_pass_leaves_its_pass_to_a_restarted_worker_which_resumes_it_with_one_copy_of_everything()
 {
    let opts = DovecotOptions {
        special_use: false,
        ..DovecotOptions::default()
    };
    let source = Dovecot::start(opts).unwrap();
    let target = Dovecot::start(opts).unwrap();
    source.add_user("alice", PW).unwrap();
    target.add_user("alice@x", PW).unwrap();
    for (i, folder) in ["INBOX", "Archive", "Projects"].iter().enumerate() {
        source
            .seed(
                "alice",
                folder,
                &corpus::seed_messages(70 + i as u64, 500, 8_000),
            )
            .unwrap();
    }
    let before = source.snapshot("alice").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let setup = Setup::default();
    let s = serve(&data, &setup);
    project(&s, &source, &target, &["alice"], tmp.path());
    pilot(&s, &["alice"]);

    // The first worker takes the pass and copies part of it; then it is killed (SIGKILL).
    let mut w1 = Worker::start(&data, "1", &setup);
    w1.wait_for("pass started", 60);
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
    w1.child.kill().unwrap();
    let _ = w1.child.wait();
    let r = report(&s);
    let m = &r["mappings"][0];
    assert_eq!(m["passes"], 1, "{m}");
    assert_eq!(
        m["last_pass"]["outcome"], "running",
        "killed mid-pass: the pass is still the killed worker's: {m}"
    );
    assert!(
        target.snapshot("alice@x").unwrap().message_count() < before.message_count(),
        "the pass had finished before the kill; the test proves nothing"
    );

    // A new worker (a new id) takes the same pass over once the dead one's lease expired, and finishes
    // it: one pass, resumed, not a second attempt.
    let mut w2 = Worker::start(&data, "2", &setup);
    w2.wait_for("attempt=2", 60);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = report(&s);
        let m = &r["mappings"][0];
        if m["last_pass"]["outcome"] == "succeeded" {
            assert_eq!(
                m["passes"], 1,
                "the killed pass was resumed, not retried: {m}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pass did not finish: {m}\n{}",
            w2.output()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        source.snapshot("alice").unwrap(),
        before,
        "the source changed"
    );
    let tgt = content(&target.snapshot("alice@x").unwrap());
    assert_eq!(total(&tgt), before.message_count(), "duplicates or losses");
    assert_eq!(tgt, content(&before));
    drop(w2);
    drop(s);
}

#[test]
fn cancelling_an_event_through_ferry_serve_stops_the_pass_that_a_ferry_worker_runs() {
    let opts = DovecotOptions {
        special_use: false,
        ..DovecotOptions::default()
    };
    let source = Dovecot::start(opts).unwrap();
    let target = Dovecot::start(opts).unwrap();
    source.add_user("alice", PW).unwrap();
    target.add_user("alice@x", PW).unwrap();
    // A source that accepts connections and never says a word: the pass hangs until it is stopped.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().flatten() {
            held.push(c);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let setup = Setup::default();
    let s = serve(&data, &setup);
    project(&s, &source, &target, &["alice"], tmp.path());
    let hanging = format!("imap://127.0.0.1:{port}?starttls=never&timeout=120");
    // A new source endpoint drops the mappings' passwords: its own secret (any; the source never asks).
    cli_at(
        &s,
        &["endpoint", "set", "source", &hanging, "--username", "admin"],
        &[],
    );
    cli_at(
        &s,
        &["credential", "set", "source"],
        &[("FERRY_SECRET", "silent-Source-9f2a")],
    );
    cli_at(&s, &["gate", "confirm", "--all"], &[]);
    pilot(&s, &["alice"]);
    let mut w = Worker::start(&data, "1", &setup);
    w.wait_for("pass started", 60);
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the pass never connected:\n{}",
            w.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The cancel is made in `ferry serve`; the pass runs in `ferry worker`, which reads it at its next
    // heartbeat, stops the pass and records it.
    cli_at(&s, &["event", "cancel", "Pilot"], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = report(&s);
        let m = &r["mappings"][0];
        if m["last_pass"]["outcome"] != "running" {
            assert_eq!(m["last_pass"]["outcome"], "failed", "{m}");
            assert_eq!(
                m["last_pass"]["reason"], "stopped: the event was cancelled",
                "{m}"
            );
            assert_eq!(m["passes"], 1, "{m}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not stop the cancelled event's pass: {m}\n{}",
            w.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        w.child.try_wait().unwrap().is_none(),
        "the worker runs on:\n{}",
        w.output()
    );
    drop(w);
    drop(s);
}
