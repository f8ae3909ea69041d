//! Helpers of the scale-out tests (`scaleout.rs` on SQLite, `scaleout_pg.rs` on PostgreSQL): `ferry serve
//! --queue` and `ferry worker` children, a mail project from a Dovecot source to a Dovecot target, a pilot
//! event, its report. Included with `#[path]` (it uses `super::common`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::common::{Served, code, ferry, ferry_command, json, text};
use ferry_testkit::{Dovecot, DovecotOptions, corpus};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Random, as `FERRY_BOOTSTRAP_TOKEN` must be.
pub const OPERATOR: &str = "fy_Qm3vT8kP2wX9sLr4Nc7Hj5Db1Fg6Yz0Ae8Uo3Ki2Tq";
pub const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const PW: &str = "source-Pw-5c1d";

/// Where the processes of one test keep their store: `None` is the SQLite default in `--data`; a URL is
/// a PostgreSQL database given as `FERRY_STORE`.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    pub store: Option<String>,
    /// A programme settings file, given to every process as `FERRY_SETTINGS`.
    pub settings: Option<String>,
}

impl Setup {
    pub fn env(&self) -> Vec<(&str, &str)> {
        let mut e = vec![
            ("FERRY_BOOTSTRAP_TOKEN", OPERATOR),
            ("FERRY_CREDENTIAL_KEY", KEY),
            ("FERRY_HEARTBEAT_SECS", "1"),
        ];
        if let Some(url) = &self.store {
            e.push(("FERRY_STORE", url.as_str()));
        }
        if let Some(file) = &self.settings {
            e.push(("FERRY_SETTINGS", file.as_str()));
        }
        e
    }
}

/// A `ferry worker` child; killed when dropped.
pub struct Worker {
    pub child: Child,
    pub log: PathBuf,
    pub name: String,
}

impl Worker {
    /// `ferry worker --slots 2` on `data`.
    pub fn start(data: &Path, name: &str, setup: &Setup) -> Worker {
        Worker::start_with(data, name, setup, &["--slots", "2"])
    }

    pub fn start_with(data: &Path, name: &str, setup: &Setup, extra: &[&str]) -> Worker {
        let log = data.with_file_name(format!("worker-{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut args = vec!["-v", "worker"];
        args.extend_from_slice(extra);
        let child = ferry_command(data, &args, &setup.env())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start ferry worker");
        Worker {
            child,
            log,
            name: name.to_string(),
        }
    }

    /// What the worker printed, without its log's colour codes.
    pub fn output(&self) -> String {
        plain(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Wait (bounded) until the worker's output holds `what`.
    pub fn wait_for(&mut self, what: &str, secs: u64) {
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

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A log without its colour codes.
pub fn plain(raw: &str) -> String {
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

/// `ferry serve --queue --slots 0`: the API and the scheduler; passes only in `ferry worker` processes.
pub fn serve(data: &Path, setup: &Setup) -> Served {
    serve_named(data, "serve", setup)
}

/// As [`serve`], logging to `<name>.log`.
pub fn serve_named(data: &Path, name: &str, setup: &Setup) -> Served {
    let log = data.with_file_name(format!("{name}.log"));
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
        &setup.env(),
    )
}

pub fn cli(s: &Served, args: &[&str], extra: &[(&str, &str)]) -> String {
    let mut all = vec![("FERRY_SERVER", s.url.as_str()), ("FERRY_TOKEN", OPERATOR)];
    all.extend_from_slice(extra);
    let o = ferry(&s.data, args, &all);
    assert_eq!(code(&o), 0, "ferry {}:\n{}", args.join(" "), text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub const AT: [&str; 4] = ["--tenant", "Contoso", "--project", "Mail"];

pub fn cli_at(s: &Served, args: &[&str], extra: &[(&str, &str)]) -> String {
    let mut a = args.to_vec();
    a.extend_from_slice(&AT);
    cli(s, &a, extra)
}

/// A tenant, a mail project from `source` to `target` with every gate confirmed, and `users` imported
/// (source user `u`, target user `u@x`, the mapping labelled `u@x`).
pub fn project(s: &Served, source: &Dovecot, target: &Dovecot, users: &[&str], dir: &Path) {
    project_via(s, &source.url(), target, users, dir);
}

/// As [`project`], with the source endpoint at `source_url` (e.g. a proxy in front of the Dovecot).
pub fn project_via(s: &Served, source_url: &str, target: &Dovecot, users: &[&str], dir: &Path) {
    let tgt = format!("{}?starttls=never", target.url());
    let (admin, admin_pw) = Dovecot::master();
    project_with(
        s,
        source_url,
        &[&tgt, "--username", admin],
        admin_pw,
        None,
        users,
        dir,
    );
}

/// As [`project`], with the source at `source_url` (an `imap://` URL, e.g. a proxy in front of the
/// Dovecot; `?starttls=never` is added) and the target endpoint set with `target` (the arguments of
/// `ferry endpoint set target` after the side) and credential `secret` (of `kind`, when given).
pub fn project_with(
    s: &Served,
    source_url: &str,
    target: &[&str],
    secret: &str,
    kind: Option<&str>,
    users: &[&str],
    dir: &Path,
) {
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
    let src = format!("{source_url}?starttls=never");
    cli_at(s, &["endpoint", "set", "source", &src], &[]);
    let mut set = vec!["endpoint", "set", "target"];
    set.extend_from_slice(target);
    cli_at(s, &set, &[]);
    let mut cred = vec!["credential", "set", "target"];
    if let Some(k) = kind {
        cred.extend_from_slice(&["--kind", k]);
    }
    cli_at(s, &cred, &[("FERRY_SECRET", secret)]);
    let csv = dir.join("users.csv");
    let mut rows = String::from("EmailAddress,UserName,Password\n");
    for u in users {
        rows.push_str(&format!("{u}@x,{u},{PW}\n"));
    }
    std::fs::write(&csv, rows).unwrap();
    cli_at(s, &["mapping", "import", csv.to_str().unwrap()], &[]);
    cli_at(s, &["gate", "confirm", "--all"], &[]);
}

/// A Dovecot source with `users` (with `big`, the first one large enough to be caught mid-pass: 1,500
/// messages in three folders; the others `small` messages each in INBOX) and an empty target with `u@x`
/// for each.
pub fn dovecots(users: &[&str], big: bool, small: usize) -> (Dovecot, Dovecot) {
    let opts = DovecotOptions {
        special_use: false,
        ..DovecotOptions::default()
    };
    let source = Dovecot::start(opts).unwrap();
    let target = Dovecot::start(opts).unwrap();
    for (n, u) in users.iter().enumerate() {
        source.add_user(u, PW).unwrap();
        target.add_user(&format!("{u}@x"), PW).unwrap();
        if n == 0 && big {
            for (i, folder) in ["INBOX", "Archive", "Projects"].iter().enumerate() {
                source
                    .seed(u, folder, &corpus::seed_messages(70 + i as u64, 500, 8_000))
                    .unwrap();
            }
        } else {
            source
                .seed(u, "INBOX", &corpus::seed_messages(n as u64, small, 4_000))
                .unwrap();
        }
    }
    (source, target)
}

/// A pilot synchronization event of `users`, starting in a moment.
pub fn pilot(s: &Served, users: &[&str]) {
    pilot_named(s, "Pilot", users)
}

/// A pilot synchronization event `name` of `users`, starting in a moment.
pub fn pilot_named(s: &Served, name: &str, users: &[&str]) {
    let start = (chrono::Utc::now() + chrono::TimeDelta::seconds(4))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut args = vec![
        "event".to_string(),
        "create".into(),
        name.into(),
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

/// The pilot event's report (`ferry --json event report Pilot`).
pub fn report(s: &Served) -> Value {
    report_of(s, "Pilot")
}

/// Event `name`'s report.
pub fn report_of(s: &Served, name: &str) -> Value {
    let mut all = vec![("FERRY_SERVER", s.url.as_str()), ("FERRY_TOKEN", OPERATOR)];
    all.push(("FERRY_TENANT", "Contoso"));
    let o = ferry(
        &s.data,
        &[
            "--json",
            "event",
            "report",
            name,
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

/// The report's entry of the mapping labelled `label`.
pub fn mapping<'a>(report: &'a Value, label: &str) -> &'a Value {
    report["mappings"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["label"] == label))
        .unwrap_or_else(|| panic!("no mapping {label} in the report: {report}"))
}

/// Wait (bounded) until every mapping labelled `u@x` of event `name` has a succeeded last pass; the report.
pub fn wait_succeeded(
    s: &Served,
    name: &str,
    users: &[&str],
    secs: u64,
    logs: &dyn Fn() -> String,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = report_of(s, name);
        if users
            .iter()
            .all(|u| mapping(&r, &format!("{u}@x"))["last_pass"]["outcome"] == "succeeded")
        {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "the passes of {name} did not finish: {r}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
