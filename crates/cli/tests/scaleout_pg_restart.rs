//! PostgreSQL restarted under a running scale-out (issue 12 §4: "PostgreSQL restarted mid-run → workers
//! reconnect, nothing lost"): one `ferry serve --queue --slots 0` and three `ferry worker` processes on a
//! PostgreSQL cluster of the test's own ([`PgCluster`]; the shared test cluster is never restarted), an
//! event of many mailboxes from a Dovecot source to a Dovecot target; the database is stopped while passes
//! run, and started again once every worker said it lost it.
//!
//! Skipped, with the reason printed, when PostgreSQL's server binaries are not installed (an error under
//! `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/scaleout.rs"]
mod kit;

use common::{content, total};
use ferry_testkit::postgres_cluster::PgCluster;
use ferry_testkit::{Dovecot, DovecotOptions, corpus};
use kit::{PW, Setup, Worker, mapping, pilot, project, report, serve, wait_succeeded};
use std::time::{Duration, Instant};

/// A Dovecot source with `users`, each with `n` messages in INBOX and Archive, and an empty target
/// with `u@x` for each.
fn servers(users: &[&str], n: usize) -> (Dovecot, Dovecot) {
    let opts = DovecotOptions {
        special_use: false,
        ..DovecotOptions::default()
    };
    let source = Dovecot::start(opts).unwrap();
    let target = Dovecot::start(opts).unwrap();
    for (i, u) in users.iter().enumerate() {
        source.add_user(u, PW).unwrap();
        target.add_user(&format!("{u}@x"), PW).unwrap();
        for (j, folder) in ["INBOX", "Archive"].iter().enumerate() {
            let seed = 100 * i as u64 + j as u64;
            source
                .seed(u, folder, &corpus::seed_messages(seed, n, 6_000))
                .unwrap();
        }
    }
    (source, target)
}

fn logs(workers: &[Worker]) -> String {
    workers
        .iter()
        .map(|w| format!("--- {}\n{}", w.name, w.output()))
        .collect()
}

/// `psql` against the cluster: one statement, unaligned output.
fn psql(url: &str, sql: &str) -> String {
    let o = std::process::Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("run psql");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn postgresql_restarted_mid_run_the_workers_reconnect_and_every_mailbox_is_copied_once() {
    let Some(pg) = PgCluster::start("scaleout_pg_restart").expect("a private PostgreSQL cluster")
    else {
        return;
    };
    let url = pg.url();
    let setup = Setup {
        store: Some(url.clone()),
        settings: None,
    };
    let users = ["anna", "ben", "cleo", "dan", "eve", "finn"];
    let (source, target) = servers(&users, 300);
    let before: Vec<_> = users.iter().map(|u| source.snapshot(u).unwrap()).collect();
    let tmp = tempfile::tempdir().unwrap();
    let s = serve(&tmp.path().join("data"), &setup);
    project(&s, &source, &target, &users, tmp.path());
    let workers: Vec<Worker> = (1..=3)
        .map(|n| Worker::start(&tmp.path().join(format!("w{n}")), &n.to_string(), &setup))
        .collect();
    pilot(&s, &users);

    // Passes run (per the API) and have copied part of a mailbox: the database goes down under them.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = report(&s);
        let running = users
            .iter()
            .filter(|u| mapping(&r, &format!("{u}@x"))["last_pass"]["outcome"] == "running")
            .count();
        let copied = users.iter().any(|u| {
            target
                .snapshot(&format!("{u}@x"))
                .map(|t| t.message_count())
                .unwrap_or(0)
                > 0
        });
        if running >= 2 && copied {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no passes running: {r}\n{}",
            logs(&workers)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pg.stop().unwrap();
    let partial: usize = users
        .iter()
        .map(|u| target.snapshot(&format!("{u}@x")).unwrap().message_count())
        .sum();
    let all: usize = before.iter().map(|b| b.message_count()).sum();
    assert!(
        partial < all,
        "every pass had finished before the database stopped; the test proves nothing"
    );
    // Down until every worker noticed (its queue poller or heartbeat failed); then up again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !workers
        .iter()
        .all(|w| w.output().contains("lost the pass queue"))
    {
        assert!(
            Instant::now() < deadline,
            "a worker did not notice the database was down:\n{}",
            logs(&workers)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pg.start_again().unwrap();

    // Every pass finishes; the workers ran on (none exited) and reconnected; the API answers throughout.
    let all_logs = || format!("{}\n--- serve\n{}", logs(&workers), s.output());
    let r = wait_succeeded(&s, "Pilot", &users, 300, &all_logs);
    for w in &workers {
        assert!(
            w.output().contains("reconnected to the pass queue"),
            "{} did not reconnect:\n{}",
            w.name,
            w.output()
        );
    }
    let mut workers = workers;
    for w in &mut workers {
        assert!(
            w.child.try_wait().unwrap().is_none(),
            "{} exited:\n{}",
            w.name,
            w.output()
        );
    }
    assert_eq!(
        psql(
            &url,
            "SELECT count(*) FROM prog_pass WHERE outcome = 'running'"
        ),
        "0",
        "no pass left running: {r}"
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
