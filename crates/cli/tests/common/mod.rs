//! Helpers for the CLI's end-to-end tests: run the real `ferry` binary against real Dovecot servers.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use ferry_testkit::snapshot::{ContentKey, MailboxSnapshot};
use ferry_testkit::{Dovecot, DovecotOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub const PASSWORD: &str = "pw-Secret-1";

/// A source and a target server with the same users.
pub struct Pair {
    pub source: Dovecot,
    pub target: Dovecot,
    pub data: tempfile::TempDir,
}

impl Pair {
    pub fn start(src: DovecotOptions, tgt: DovecotOptions, users: &[&str]) -> Pair {
        let source = Dovecot::start(src).expect("start source dovecot");
        let target = Dovecot::start(tgt).expect("start target dovecot");
        for u in users {
            source.add_user(u, PASSWORD).expect("add source user");
            target.add_user(u, PASSWORD).expect("add target user");
        }
        Pair {
            source,
            target,
            data: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// `ferry mail migrate` for one user with plain logins on both sides; extra args appended.
    pub fn migrate(&self, user: &str, extra: &[&str]) -> Output {
        let mut args = vec!["mail", "migrate"];
        let src = format!("{}?starttls=never", self.source.url());
        let tgt = format!("{}?starttls=never", self.target.url());
        args.extend_from_slice(&[
            "--source",
            &src,
            "--target",
            &tgt,
            "--source-user",
            user,
            "--target-user",
            user,
        ]);
        args.extend_from_slice(extra);
        ferry(
            self.data.path(),
            &args,
            &[
                ("FERRY_SOURCE_PASSWORD", PASSWORD),
                ("FERRY_TARGET_PASSWORD", PASSWORD),
            ],
        )
    }

    /// The same, as a child process to kill.
    pub fn spawn_migrate(&self, user: &str, extra: &[&str]) -> std::process::Child {
        let src = format!("{}?starttls=never", self.source.url());
        let tgt = format!("{}?starttls=never", self.target.url());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("--data").arg(self.data.path());
        cmd.args([
            "mail",
            "migrate",
            "--source",
            &src,
            "--target",
            &tgt,
            "--source-user",
            user,
            "--target-user",
            user,
        ]);
        cmd.args(extra);
        cmd.env("FERRY_SOURCE_PASSWORD", PASSWORD)
            .env("FERRY_TARGET_PASSWORD", PASSWORD);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.spawn().expect("spawn ferry")
    }

    pub fn verify(&self, user: &str, extra: &[&str]) -> Output {
        let mut args = vec!["mail", "verify"];
        let src = format!("{}?starttls=never", self.source.url());
        let tgt = format!("{}?starttls=never", self.target.url());
        args.extend_from_slice(&[
            "--source",
            &src,
            "--target",
            &tgt,
            "--source-user",
            user,
            "--target-user",
            user,
        ]);
        args.extend_from_slice(extra);
        ferry(
            self.data.path(),
            &args,
            &[
                ("FERRY_SOURCE_PASSWORD", PASSWORD),
                ("FERRY_TARGET_PASSWORD", PASSWORD),
            ],
        )
    }
}

/// Run `ferry --data DIR ARGS...` with extra environment variables.
pub fn ferry(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.arg("--data").arg(data).args(args).stdin(Stdio::null());
    cmd.env_remove("FERRY_SOURCE_PASSWORD")
        .env_remove("FERRY_TARGET_PASSWORD")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ferry")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn text(o: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(o)))
}

/// Per non-empty folder (shown with '/'), the multiset of (bytes hash, flags, internal date).
pub fn content(s: &MailboxSnapshot) -> BTreeMap<String, BTreeMap<ContentKey, usize>> {
    s.folders
        .iter()
        .filter(|f| !f.messages.is_empty())
        .map(|f| (f.path.to_string(), f.content()))
        .collect()
}

/// Every message's count in a content map, summed: duplicates show up as a larger total.
pub fn total(c: &BTreeMap<String, BTreeMap<ContentKey, usize>>) -> usize {
    c.values().flat_map(|m| m.values()).sum()
}
