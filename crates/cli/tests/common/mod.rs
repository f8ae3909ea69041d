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

    /// `ferry mail <sub>` for one user with plain logins on both sides, extra args appended.
    pub fn command(&self, sub: &str, user: &str, extra: &[&str]) -> Command {
        let src = format!("{}?starttls=never", self.source.url());
        let tgt = format!("{}?starttls=never", self.target.url());
        self.command_at(self.data.path(), &src, &tgt, sub, user, extra)
    }

    /// `ferry mail <sub>` for one user with the store in `data` and the given endpoint URLs, both logins
    /// with [`PASSWORD`], extra args appended.
    pub fn command_at(
        &self,
        data: &Path,
        src: &str,
        tgt: &str,
        sub: &str,
        user: &str,
        extra: &[&str],
    ) -> Command {
        let mut args = vec![
            "mail",
            sub,
            "--source",
            src,
            "--target",
            tgt,
            "--source-user",
            user,
            "--target-user",
            user,
        ];
        args.extend_from_slice(extra);
        ferry_command(
            data,
            &args,
            &[
                ("FERRY_SOURCE_PASSWORD", PASSWORD),
                ("FERRY_TARGET_PASSWORD", PASSWORD),
            ],
        )
    }

    /// `ferry mail migrate`, run to the end.
    pub fn migrate(&self, user: &str, extra: &[&str]) -> Output {
        self.command("migrate", user, extra)
            .output()
            .expect("run ferry")
    }

    /// `ferry mail migrate` as a child process to kill.
    pub fn spawn_migrate(&self, user: &str, extra: &[&str]) -> std::process::Child {
        let mut cmd = self.command("migrate", user, extra);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd.spawn().expect("spawn ferry")
    }

    /// `ferry mail verify`.
    pub fn verify(&self, user: &str, extra: &[&str]) -> Output {
        self.command("verify", user, extra)
            .output()
            .expect("run ferry")
    }
}

/// `ferry --data DIR ARGS...` with only the given secrets in its environment, stdin closed.
pub fn ferry_command(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.arg("--data").arg(data).args(args).stdin(Stdio::null());
    cmd.env_remove("FERRY_SOURCE_PASSWORD")
        .env_remove("FERRY_TARGET_PASSWORD")
        .env_remove("RUST_LOG");
    // The programme commands' settings come only from the test, never from the shell that runs it.
    for var in [
        "FERRY_SERVER",
        "FERRY_TOKEN",
        "FERRY_TENANT",
        "FERRY_PROJECT",
        "FERRY_SECRET",
        "FERRY_BOOTSTRAP_TOKEN",
        "FERRY_CREDENTIAL_KEY",
        "FERRY_LISTEN",
        "FERRY_SETTINGS",
        "FERRY_QUEUE",
        "FERRY_WORKER_SLOTS",
        "FERRY_HEARTBEAT_SECS",
        "FERRY_STORE",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run `ferry --data DIR ARGS...` to the end.
pub fn ferry(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    ferry_command(data, args, env).output().expect("run ferry")
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

/// A Maildir++ INBOX with `n` small messages under `root/login`.
pub fn maildir(root: &Path, login: &str, n: usize) {
    let dir = root.join(login);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for i in 0..n {
        let msg = format!(
            "From: a@example.com\r\nTo: {login}@example.com\r\nSubject: message {i}\r\nMessage-ID: <{login}-{i}@example.com>\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\n\r\nBody {i}\r\n"
        );
        std::fs::write(
            dir.join("cur")
                .join(format!("17000000{i:02}.M{i}P1.test:2,S")),
            msg,
        )
        .unwrap();
    }
}

/// A `ferry serve` child process; killed when dropped.
pub struct Served {
    pub child: std::process::Child,
    pub url: String,
    pub data: std::path::PathBuf,
    pub log: std::path::PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// `ferry ARGS` (a `serve … --listen 127.0.0.1:0`) on `data` with `env`, stdout and stderr into `log`;
    /// returns once the server says where it listens (bounded wait), panics with its output if it exits.
    pub fn spawn(
        data: &Path,
        log: std::path::PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Served {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = ferry_command(data, args, env)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start ferry serve");
        let mut s = Served {
            child,
            url: String::new(),
            data: data.to_path_buf(),
            log,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let text = s.output();
            if let Some(rest) = text.split("Ferry is serving ").nth(1) {
                s.url = rest.split(": ").next().unwrap().to_string();
                return s;
            }
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("ferry serve exited ({status}):\n{text}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "ferry serve did not say where it listens:\n{text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Everything the server printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
