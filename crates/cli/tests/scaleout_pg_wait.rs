//! A server's long wait through real `ferry` processes on PostgreSQL (issue 12 §3): the Exchange Online
//! emulator throttles a mailbox's APPENDs with a "Suggested Backoff Time" longer than
//! `max_wait_in_pass_secs` (2 s against 1 s, from the settings file every process reads); the `ferry
//! worker` running the pass stops it at a checkpoint, gives its lease back until the wait is over (the
//! report shows it queued, still running, with when it resumes), and a `ferry worker` runs it again after
//! the wait from the queue: one pass, one attempt, each message once on the target.
//!
//! The same story runs in-process on both stores in `crates/server/tests/story_mail_exo/wait.rs`. Skipped,
//! with the reason printed, when `FERRY_TEST_POSTGRES` is unset (CI sets it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/scaleout.rs"]
mod kit;

use common::content;
use ferry_testkit::exchange::{ExchangeOptions, ExchangeShim, Throttle};
use ferry_testkit::identity::{App, Identity};
use ferry_testkit::postgres::TestDatabase;
use ferry_testkit::{Dovecot, DovecotOptions, corpus};
use kit::{PW, Setup, Worker, mapping, pilot, project_with, report, serve, wait_succeeded};
use std::time::{Duration, Instant};

const TID: &str = "7d3c1f00-0000-4000-8000-00000000beef";
const APP_SECRET: &str = "app-S3cret-9f2e";

#[test]
fn a_pass_throttled_with_a_long_backoff_is_given_back_and_a_worker_process_runs_it_again_after_the_wait()
 {
    let Some(db) = TestDatabase::create("scaleout_pg_wait").expect("a test database") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let settings = tmp.path().join("settings.toml");
    std::fs::write(&settings, "max_wait_in_pass_secs = 1\n").unwrap();
    let setup = Setup {
        store: Some(db.url().to_string()),
        settings: Some(settings.to_str().unwrap().to_string()),
    };

    // Exchange suggests a 2 s backoff once ann's APPEND budget (8) is spent, and drops the connection.
    let id = Identity::start().unwrap();
    id.add_tenant(TID, &["contoso.onmicrosoft.com"]);
    id.add_app(
        TID,
        App::new("app-1")
            .with_secret(APP_SECRET)
            .with_role("IMAP.AccessAsApp"),
    );
    let shim = ExchangeShim::start(ExchangeOptions {
        jwt_key: id.jwt_key().to_vec(),
        tenant_id: Some(TID.into()),
        throttle: Some(Throttle {
            per_second: 1000.0,
            burst: 8,
            min_backoff: Duration::from_secs(2),
            disconnect: true,
        }),
        ..ExchangeOptions::default()
    })
    .unwrap();
    let source = Dovecot::start(DovecotOptions {
        special_use: false,
        ..DovecotOptions::default()
    })
    .unwrap();
    source.add_user("ann", PW).unwrap();
    source
        .seed("ann", "INBOX", &corpus::seed_messages(21, 30, 2_000))
        .unwrap();
    shim.add_mailbox("ann@x").unwrap();
    shim.allow_app("app-1", &["ann@x"]);
    let before = source.snapshot("ann").unwrap();

    let s = serve(&tmp.path().join("data"), &setup);
    let authority = format!("authority={}", id.authority());
    project_with(
        &s,
        &source.url(),
        &[&shim.url(), "--username", "app-1", "--option", &authority],
        APP_SECRET,
        Some("client-secret"),
        &["ann"],
        tmp.path(),
    );
    let w = Worker::start_with(&tmp.path().join("w1"), "1", &setup, &["--slots", "1"]);
    pilot(&s, &["ann"]);

    // The pass meets the backoff: given back, still running (not failed), queued until the wait is over.
    let deadline = Instant::now() + Duration::from_secs(120);
    let waiting = loop {
        let r = report(&s);
        let m = mapping(&r, "ann@x").clone();
        if !m["last_pass"]["waiting_until"].is_null() {
            break m;
        }
        assert!(
            Instant::now() < deadline && m["last_pass"]["outcome"] != "succeeded",
            "the pass never waited: {m}\n{}",
            w.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(waiting["last_pass"]["outcome"], "running", "{waiting}");
    let next = waiting["next_text"].as_str().unwrap();
    assert!(next.contains("server asked to wait"), "{next}");

    // A worker process runs it again after each wait; it ends Perfect: one pass, one attempt, every
    // message once, no request inside a backoff.
    let logs = || w.output();
    let r = wait_succeeded(&s, "Pilot", &["ann"], 180, &logs);
    let m = mapping(&r, "ann@x");
    assert_eq!(m["grade"], "Perfect", "{m}");
    assert_eq!(m["passes"], 1, "{m}");
    assert_eq!(m["attempts"], 1, "{m}");
    let out = w.output();
    assert!(
        out.contains("pass queued: the server asked to wait"),
        "the worker gave the pass back for the wait:\n{out}"
    );
    assert!(
        out.lines()
            .filter(|l| l.contains("pass started") && l.contains("mapping=ann@x"))
            .count()
            >= 2,
        "the worker ran the pass again after the wait:\n{out}"
    );
    let target = shim.dovecot().snapshot("ann@x").unwrap();
    assert_eq!(content(&target)["INBOX"], content(&before)["INBOX"]);
    let stats = shim.stats("ann@x");
    assert!(stats.throttled >= 1, "{stats:?}");
    assert_eq!(stats.early_requests, 0, "{stats:?}");
    let audit = db
        .psql("SELECT after FROM prog_audit WHERE action = 'pass.wait'")
        .unwrap();
    assert!(audit.contains("Suggested Backoff Time"), "{audit}");
    drop(w);
    drop(s);
}
