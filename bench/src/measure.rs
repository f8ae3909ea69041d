//! Run child processes and measure their wall time and peak resident memory.
//!
//! Peak RSS comes from the kernel's own accounting of the child: each child runs under GNU
//! `/usr/bin/time -f %M` (the `ru_maxrss` that `wait4` returns, in KB). Without it (Debian package `time`),
//! `/proc/PID/status` `VmHWM` is polled while the child runs — good enough for a process whose peak lasts
//! longer than the poll interval. No `unsafe`, no libc.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const GNU_TIME: &str = "/usr/bin/time";
const POLL: Duration = Duration::from_millis(10);

/// A command to run: program, arguments, environment and where its output goes.
#[derive(Clone, Debug)]
pub struct Spec {
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
    pub env_remove: Vec<String>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// How one process ended.
#[derive(Debug)]
pub struct Finished {
    pub label: String,
    pub status: ExitStatus,
    pub wall: Duration,
    /// Peak resident set size in KB, if it could be measured.
    pub peak_rss_kb: Option<u64>,
    /// User + system CPU time of the process (and its waited-for children), seconds, from GNU time.
    pub cpu_secs: Option<f64>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Finished {
    /// The last `n` lines of the process's stderr.
    pub fn stderr_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

struct Running {
    spec: Spec,
    child: Child,
    /// `/usr/bin/time -o` file, when running under GNU time.
    time_file: Option<PathBuf>,
    /// Highest `VmHWM` seen, when polling.
    polled_kb: u64,
    done: Option<Finished>,
}

/// Whether peak RSS is measured by GNU time (exact) rather than by polling `/proc`.
pub fn uses_gnu_time() -> bool {
    Path::new(GNU_TIME).is_file()
}

/// Start every spec at once and wait for all of them. Returns them in order, plus the wall time until the
/// last one finished. If `interrupted()` turns true, the children are killed and an error returned.
pub fn run_all(
    specs: Vec<Spec>,
    interrupted: &dyn Fn() -> bool,
) -> io::Result<(Vec<Finished>, Duration)> {
    let start = Instant::now();
    let mut running = Vec::with_capacity(specs.len());
    for spec in specs {
        match spawn(spec) {
            Ok(r) => running.push(r),
            Err(e) => {
                kill_all(&mut running);
                return Err(e);
            }
        }
    }
    while running.iter().any(|r| r.done.is_none()) {
        if interrupted() {
            kill_all(&mut running);
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        for r in running.iter_mut().filter(|r| r.done.is_none()) {
            if r.time_file.is_none() {
                r.polled_kb = r.polled_kb.max(vm_hwm_kb(r.child.id()).unwrap_or(0));
            }
            if let Some(status) = r.child.try_wait()? {
                let (peak_rss_kb, cpu_secs) = match &r.time_file {
                    Some(f) => read_time_file(f).map_or((None, None), |(kb, cpu)| (Some(kb), cpu)),
                    None => ((r.polled_kb > 0).then_some(r.polled_kb), None),
                };
                r.done = Some(Finished {
                    label: r.spec.label.clone(),
                    status,
                    wall: start.elapsed(),
                    peak_rss_kb,
                    cpu_secs,
                    stdout: r.spec.stdout.clone(),
                    stderr: r.spec.stderr.clone(),
                });
            }
        }
        std::thread::sleep(POLL);
    }
    let finished: Vec<Finished> = running.into_iter().filter_map(|r| r.done).collect();
    let wall = finished.iter().map(|f| f.wall).max().unwrap_or_default();
    Ok((finished, wall))
}

fn spawn(spec: Spec) -> io::Result<Running> {
    let time_file = uses_gnu_time().then(|| spec.stderr.with_extension("rss"));
    let mut cmd = match &time_file {
        Some(f) => {
            let mut c = Command::new(GNU_TIME);
            c.arg("-f")
                .arg("%M %U %S")
                .arg("-o")
                .arg(f)
                .arg(&spec.program);
            c
        }
        None => Command::new(&spec.program),
    };
    cmd.args(&spec.args);
    for k in &spec.env_remove {
        cmd.env_remove(k);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&spec.stdout)?)
        .stderr(fs::File::create(&spec.stderr)?);
    let child = cmd.spawn().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("starting {}: {e}", spec.program.display()),
        )
    })?;
    Ok(Running {
        spec,
        child,
        time_file,
        polled_kb: 0,
        done: None,
    })
}

fn kill_all(running: &mut [Running]) {
    for r in running.iter_mut().filter(|r| r.done.is_none()) {
        let _ = r.child.kill();
        let _ = r.child.wait();
    }
}

/// `%M %U %S`: peak RSS in KB, then user + system CPU seconds. GNU time writes `Command exited with
/// non-zero status N` before the values on failure: take the last line.
fn read_time_file(path: &Path) -> Option<(u64, Option<f64>)> {
    let text = fs::read_to_string(path).ok()?;
    let mut fields = text.lines().last()?.split_whitespace();
    let kb = fields.next()?.parse().ok()?;
    let user: Option<f64> = fields.next().and_then(|v| v.parse().ok());
    let sys: Option<f64> = fields.next().and_then(|v| v.parse().ok());
    Some((kb, user.zip(sys).map(|(u, s)| u + s)))
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_all_measures_a_process_that_allocates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = Spec {
            label: "sh".into(),
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "head -c 20000000 /dev/zero | tail -c 1 >/dev/null".into(),
            ],
            env: vec![],
            env_remove: vec![],
            stdout: dir.path().join("out"),
            stderr: dir.path().join("err"),
        };
        let (done, wall) = run_all(vec![spec], &|| false).expect("run");
        assert!(done[0].status.success());
        assert!(wall > Duration::ZERO);
        if uses_gnu_time() {
            assert!(done[0].peak_rss_kb.is_some());
            assert!(done[0].cpu_secs.is_some());
        }
    }
}
