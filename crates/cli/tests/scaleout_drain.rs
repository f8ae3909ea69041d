//! SIGTERM drains (issue 12 §3: "running passes checkpoint and are released; none is left 'running'"),
//! through real processes: a `ferry worker` on PostgreSQL gives its pass back to the queue and exits, and
//! the next worker resumes it at once under the next lease attempt; `ferry serve` on SQLite (its own
//! workers, no queue) gives its pass back and exits, and its next start finishes the mailbox. In both, the
//! journal kept what was copied before the signal: nothing is copied twice. Dovecot source and target.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/scaleout.rs"]
mod kit;

use common::{Served, content, total};
use ferry_testkit::postgres::TestDatabase;
use ferry_testkit::{Dovecot, DovecotOptions, MailboxSnapshot, corpus};
use kit::{PW, Setup, Worker, mapping, pilot, project, report, serve, wait_succeeded};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// A Dovecot source with `alice` large enough to be caught mid-pass, and an empty target with `alice@x`.
fn servers() -> (Dovecot, Dovecot) {
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
    (source, target)
}

/// Wait (bounded) until the target holds part of alice's mailbox: the pass is copying.
fn copying(target: &Dovecot, logs: &dyn Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while target
        .snapshot("alice@x")
        .map(|t| t.message_count())
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < deadline, "nothing was copied:\n{}", logs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `kill -TERM pid`, then wait (bounded) for the process to exit.
fn terminate(child: &mut std::process::Child, logs: &dyn Fn() -> String) -> ExitStatus {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not stop after SIGTERM:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The target is the source: every message once.
fn same(source: &Dovecot, target: &Dovecot, before: &MailboxSnapshot) {
    assert_eq!(
        &source.snapshot("alice").unwrap(),
        before,
        "the source changed"
    );
    let tgt = content(&target.snapshot("alice@x").unwrap());
    assert_eq!(total(&tgt), before.message_count(), "duplicates or losses");
    assert_eq!(tgt, content(before));
}

#[test]
fn sigterm_makes_a_ferry_worker_on_postgresql_give_its_pass_back_and_the_next_worker_resumes_it_at_once()
 {
    let Some(db) = TestDatabase::create("drain_pg").expect("a test database") else {
        return;
    };
    let setup = Setup {
        store: Some(db.url().to_string()),
        settings: None,
    };
    let (source, target) = servers();
    let before = source.snapshot("alice").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = serve(&tmp.path().join("data"), &setup);
    project(&s, &source, &target, &["alice"], tmp.path());
    pilot(&s, &["alice"]);
    let mut w1 = Worker::start(&tmp.path().join("w1"), "1", &setup);
    w1.wait_for("pass started", 90);
    copying(&target, &|| w1.output());

    let log = w1.log.clone();
    let out = move || kit::plain(&std::fs::read_to_string(&log).unwrap_or_default());
    let status = terminate(&mut w1.child, &out);
    assert!(status.success(), "{status}:\n{}", w1.output());
    assert!(
        w1.output()
            .contains("pass given back for another worker (drain)"),
        "{}",
        w1.output()
    );
    assert!(
        target.snapshot("alice@x").unwrap().message_count() < before.message_count(),
        "the pass had finished before the signal; the test proves nothing"
    );
    // Released, not ended: still running, held by nobody, and queued again for the next worker.
    assert_eq!(
        db.psql("SELECT outcome, lease_owner IS NULL, lease_attempt FROM prog_pass")
            .unwrap()
            .trim(),
        "running|t|1"
    );
    let queued = db
        .psql("SELECT count(*) FROM apalis.jobs WHERE status = 'Pending'")
        .unwrap();
    assert_eq!(queued.trim(), "1", "the pass is queued again");

    let mut w2 = Worker::start(&tmp.path().join("w2"), "2", &setup);
    w2.wait_for("attempt=2", 60);
    let logs = || w2.output();
    let r = wait_succeeded(&s, "Pilot", &["alice"], 180, &logs);
    assert_eq!(mapping(&r, "alice@x")["passes"], 1, "resumed, not retried");
    same(&source, &target, &before);
}

#[test]
fn sigterm_makes_ferry_serve_on_sqlite_give_its_pass_back_and_its_next_start_finishes_the_mailbox()
{
    let (source, target) = servers();
    let before = source.snapshot("alice").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let setup = Setup::default();
    let start = |n: u32| {
        Served::spawn(
            &data,
            tmp.path().join(format!("serve-{n}.log")),
            &["-v", "serve", "--listen", "127.0.0.1:0"],
            &setup.env(),
        )
    };
    let mut s = start(1);
    project(&s, &source, &target, &["alice"], tmp.path());
    pilot(&s, &["alice"]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !s.output().contains("pass started") {
        assert!(Instant::now() < deadline, "{}", s.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    copying(&target, &|| s.output());

    let log = s.log.clone();
    let out = move || std::fs::read_to_string(&log).unwrap_or_default();
    let status = terminate(&mut s.child, &out);
    assert!(status.success(), "{status}:\n{}", s.output());
    assert!(
        kit::plain(&s.output()).contains("pass given back for another worker (drain)"),
        "{}",
        s.output()
    );
    assert!(
        target.snapshot("alice@x").unwrap().message_count() < before.message_count(),
        "the pass had finished before the signal; the test proves nothing"
    );
    // Released: no process holds it.
    let held = std::process::Command::new("sqlite3")
        .arg(data.join("ferry.db"))
        .arg("SELECT outcome, lease_owner IS NULL FROM prog_pass")
        .output()
        .expect("sqlite3");
    assert_eq!(String::from_utf8_lossy(&held.stdout).trim(), "running|1");
    drop(s);

    // The next start takes the mailbox up where the journal left it.
    let s = start(2);
    let logs = || s.output();
    let r = wait_succeeded(&s, "Pilot", &["alice"], 180, &logs);
    let m = mapping(&r, "alice@x");
    assert_eq!(m["last_pass"]["outcome"], "succeeded", "{m}");
    same(&source, &target, &before);
    let _ = report(&s);
}
