//! One server process owned by a harness: started with stdin from `/dev/null` and its output in a log file
//! (a daemon that inherits the test's pipes keeps them open and the caller hangs), waited for by polling,
//! and killed with every process it forked when the harness is dropped — by pid, never by name.

use crate::http::{self, Body};
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process and its log.
pub(crate) struct Daemon {
    what: &'static str,
    child: Child,
    log: PathBuf,
}

/// How a readiness probe went.
pub(crate) enum Probe {
    Ready,
    NotYet,
}

impl Daemon {
    /// Spawn `cmd` with its stdout and stderr appended to `log`.
    pub(crate) fn spawn(what: &'static str, mut cmd: Command, log: &Path) -> io::Result<Daemon> {
        let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("starting {what} ({:?}): {e}", cmd.get_program()),
                )
            })?;
        Ok(Daemon {
            what,
            child,
            log: log.to_path_buf(),
        })
    }

    /// Poll `probe` every 20 ms until it says ready **and** the listener on `port` is this process's (or
    /// one it forked): a stranger that took the port first answers the probe too, and must not be taken
    /// for our server (see [`crate::port`]). Fails with the log when the process exits first (`AddrInUse`
    /// when the log says the port was taken, so the caller can retry on another port) or when `timeout`
    /// passes.
    pub(crate) fn wait_ready(
        &mut self,
        timeout: Duration,
        port: u16,
        mut probe: impl FnMut() -> Probe,
    ) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Probe::Ready = probe()
                && self.listens_on(port)
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log = self.log();
                let lower = log.to_lowercase();
                let kind = if lower.contains("address already in use") {
                    io::ErrorKind::AddrInUse
                } else {
                    io::ErrorKind::Other
                };
                return Err(io::Error::new(
                    kind,
                    format!(
                        "{} exited with {status} before it was ready; log {}:\n{}",
                        self.what,
                        self.log.display(),
                        tail(&log, 30)
                    ),
                ));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} was not ready within {timeout:?}; log {}:\n{}",
                        self.what,
                        self.log.display(),
                        tail(&self.log(), 30)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the listener on loopback `port` is open in this process or one it forked (`true` when the
    /// kernel's socket tables cannot be read: then the probe alone decides, as before).
    fn listens_on(&self, port: u16) -> bool {
        let mut pids = descendants(self.child.id());
        pids.push(self.child.id());
        crate::port::owned_by(port, &pids).unwrap_or(true)
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far (empty if unreadable).
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kill the process and everything it forked (sshd forks one process per connection), then reap it.
    pub(crate) fn stop(&mut self) {
        let mut pids = descendants(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        pids.sort_unstable();
        pids.dedup();
        if !pids.is_empty() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(pids.iter().map(u32::to_string))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every process below `root` in the process tree, from `/proc/*/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may contain spaces and parentheses; take what follows the
            // last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        for &(pid, ppid) in &parent_of {
            if ppid == p && !found.contains(&pid) {
                found.push(pid);
            }
        }
        i += 1;
    }
    found.remove(0);
    found
}

/// The last `n` lines of `s`.
pub(crate) fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Make a fresh temp dir under [`crate::temp_root`] with `prefix`.
pub(crate) fn temp_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(crate::temp_root())
}

/// Retry `launch` on a fresh free port when the chosen one was taken by someone else in the meantime.
pub(crate) fn on_free_port<T>(mut launch: impl FnMut(u16) -> io::Result<T>) -> io::Result<T> {
    let mut attempts = 0;
    loop {
        let port = crate::port::free_port()?;
        match launch(port) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempts < 5 => attempts += 1,
            other => return other,
        }
    }
}

/// Ready once anything answers an HTTP `OPTIONS` (a `401` from an authenticated server counts).
pub(crate) fn answers_http(addr: SocketAddr) -> Probe {
    match http::request(addr, "OPTIONS", "/", &[("Connection", "close")], Body::None) {
        Ok(r) if r.status > 0 => Probe::Ready,
        _ => Probe::NotYet,
    }
}

/// Turn "No such file or directory" from spawning into an install hint.
pub(crate) fn not_installed_hint(e: io::Error, package: &str) -> io::Error {
    if e.kind() == io::ErrorKind::NotFound {
        io::Error::new(
            e.kind(),
            format!(
                "{e} (is the Debian package `{package}` installed? scripts/test.sh installs it)"
            ),
        )
    } else {
        e
    }
}
