//! Scale-out through real `ferry` processes (issue 12 §3–§4): `ferry serve --queue` schedules and queues
//! passes, `ferry worker` processes on the same store run them under leases; Dovecot source and target.
//! Heartbeats are 1 s in these tests, so a lease expires 3 s after its worker stopped renewing it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Served, code, content, ferry, ferry_command, json, text, total};
use ferry_testkit::corpus;
use ferry_testkit::{Dovecot, DovecotOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Random, as `FERRY_BOOTSTRAP_TOKEN` must be.
const OPERATOR: &str = "fy_Qm3vT8kP2wX9sLr4Nc7Hj5Db1Fg6Yz0Ae8Uo3Ki2Tq";
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const PW: &str = "source-Pw-5c1d";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("FERRY_BOOTSTRAP_TOKEN", OPERATOR),
        ("FERRY_CREDENTIAL_KEY", KEY),
        ("FERRY_HEARTBEAT_SECS", "1"),
    ]
}

/// A `ferry worker` child; killed when dropped.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(data: &Path, name: &str) -> Worker {
        let log = data.with_file_name(format!("worker-{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = ferry_command(data, &["-v", "worker", "--slots", "2"], &env())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start ferry worker");
        Worker { child, log }
    }

    /// What the worker printed, without its log's colour codes.
    fn output(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // ESC [ ... letter
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Wait (bounded) until the worker's output holds `what`.
    fn wait_for(&mut self, what: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.output().contains(what) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ferry worker exited ({status}):\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "the worker never logged {what:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ferry serve --queue --slots 0`: the API and the scheduler; passes only in `ferry worker` processes.
fn serve(data: &Path) -> Served {
    let log = data.with_file_name("serve.log");
    Served::spawn(
        data,
        log,
        &[
            "-v",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--queue",
            "--slots",
            "0",
        ],
        &env(),
    )
}

fn cli(s: &Served, args: &[&str], extra: &[(&str, &str)]) -> String {
    let mut all = vec![("FERRY_SERVER", s.url.as_str()), ("FERRY_TOKEN", OPERATOR)];
    all.extend_from_slice(extra);
    let o = ferry(&s.data, args, &all);
    assert_eq!(code(&o), 0, "ferry {}:\n{}", args.join(" "), text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const AT: [&str; 4] = ["--tenant", "Contoso", "--project", "Mail"];

fn cli_at(s: &Served, args: &[&str], extra: &[(&str, &str)]) -> String {
    let mut a = args.to_vec();
    a.extend_from_slice(&AT);
    cli(s, &a, extra)
}

/// A tenant, a mail project from `source` to `target` with every gate confirmed, and `users` imported.
fn project(s: &Served, source: &Dovecot, target: &Dovecot, users: &[&str], dir: &Path) {
    cli(
        s,
        &[
            "tenant",
            "create",
            "Contoso",
            "--paid",
            "800",
            "--first-purchase",
            "2019-06-01",
        ],
        &[],
    );
    cli(
        s,
        &[
            "project",
            "create",
            "Mail",
            "--workload",
            "mail",
            "--tenant",
            "Contoso",
        ],
        &[],
    );
    let src = format!("{}?starttls=never", source.url());
    let tgt = format!("{}?starttls=never", target.url());
    cli_at(s, &["endpoint", "set", "source", &src], &[]);
    let (admin, admin_pw) = Dovecot::master();
    cli_at(
        s,
        &["endpoint", "set", "target", &tgt, "--username", admin],
        &[],
    );
    cli_at(
        s,
        &["credential", "set", "target"],
        &[("FERRY_SECRET", admin_pw)],
    );
    let csv = dir.join("users.csv");
    let mut rows = String::from("EmailAddress,UserName,Password\n");
    for u in users {
        rows.push_str(&format!("{u}@x,{u},{PW}\n"));
    }
    std::fs::write(&csv, rows).unwrap();
    cli_at(s, &["mapping", "import", csv.to_str().unwrap()], &[]);
    cli_at(s, &["gate", "confirm", "--all"], &[]);
}

/// A pilot synchronization event of `users`, starting in a moment.
fn pilot(s: &Served, users: &[&str]) {
    let start = (chrono::Utc::now() + chrono::TimeDelta::seconds(4))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut args = vec![
        "event".to_string(),
        "create".into(),
        "Pilot".into(),
        "--kind".into(),
        "synchronization".into(),
        "--pilot".into(),
        "--start".into(),
        start,
    ];
    for u in users {
        args.push("--mapping".into());
        args.push(format!("{u}@x"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    cli_at(s, &refs, &[]);
}

fn report(s: &Served) -> Value {
    let mut all = vec![("FERRY_SERVER", s.url.as_str()), ("FERRY_TOKEN", OPERATOR)];
    all.push(("FERRY_TENANT", "Contoso"));
    let o = ferry(
        &s.data,
        &[
            "--json",
            "event",
            "report",
            "Pilot",
            "--tenant",
            "Contoso",
            "--project",
            "Mail",
        ],
        &all,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    json(&o)
}

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
    let s = serve(&data);
    project(&s, &source, &target, &["alice"], tmp.path());
    pilot(&s, &["alice"]);

    // The first worker takes the pass and copies part of it; then it is killed (SIGKILL).
    let mut w1 = Worker::start(&data, "1");
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
    let mut w2 = Worker::start(&data, "2");
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
