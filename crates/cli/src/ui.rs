//! Progress display and log lines.
//!
//! On a terminal: a live bar, with a line above it as each mailbox (or file mapping) starts and ends. Without
//! one (cron, systemd, `nohup … > log`): the same start and end lines, and a summary line every
//! [`SUMMARY_EVERY`], on stderr — an unattended run must show that it is alive and where it is (issue 9,
//! item 18). With `--log-file FILE` every such line is also appended to FILE with a UTC timestamp, as are
//! the tracing logs (see `main::init_tracing`).

use crate::format::human_bytes;
use ferry_core::{Error, Result};
use ferry_engine::progress::{Progress, ProgressEvent};
use ferry_store::RunStatus;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often an unattended run prints a summary line.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);

static LOG_FILE: OnceLock<Mutex<File>> = OnceLock::new();

/// Open (create or append to) the `--log-file`.
pub fn open_log_file(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            Error::config(format!(
                "cannot open the log file {}: {e}; check the directory exists and is writable",
                path.display()
            ))
        })
}

/// Remember the `--log-file` for [`log_line`]; tracing writes to its own handle of the same file.
pub fn set_log_file(f: &File) {
    if let Ok(clone) = f.try_clone() {
        let _ = LOG_FILE.set(Mutex::new(clone));
    }
}

/// Append a line to the `--log-file`, if one was given.
fn to_log_file(line: &str) {
    if let Some(m) = LOG_FILE.get()
        && let Ok(mut f) = m.lock()
    {
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        // A log file that cannot be written must not stop a migration.
        let _ = writeln!(f, "{ts} {line}");
    }
}

/// A line for people: on stderr, and in the `--log-file`.
pub fn log_line(line: &str) {
    eprintln!("{line}");
    to_log_file(line);
}

/// The singular of a `groups` word ("mailboxes" → "mailbox").
fn singular(groups: &str) -> &str {
    groups
        .strip_suffix("es")
        .filter(|s| s.ends_with('x'))
        .or_else(|| groups.strip_suffix('s'))
        .unwrap_or(groups)
}

/// The line for a start or end event.
pub fn event_line(group: &str, e: &ProgressEvent) -> String {
    match e {
        ProgressEvent::Started { label } => format!("{group} {label}: started"),
        ProgressEvent::Finished {
            label,
            kind,
            status,
            counters: c,
            error,
        } => {
            let pass = kind.map(|k| format!(" ({k} pass)")).unwrap_or_default();
            let how = match status {
                RunStatus::Done => "done",
                RunStatus::DoneWithErrors => "done with errors",
                RunStatus::Failed => "failed",
                RunStatus::Running => "stopped",
            };
            let mut s = format!(
                "{group} {label}: {how}{pass}: {} new, {} copied ({}), {} skipped, {} failed",
                c.discovered,
                c.copied,
                human_bytes(c.bytes),
                c.skipped,
                c.failed
            );
            if let Some(e) = error {
                s.push_str(&format!(": {e}"));
            }
            s
        }
    }
}

/// Shows progress until [`ProgressUi::finish`] is called.
pub struct ProgressUi {
    stop: Arc<tokio::sync::Notify>,
    task: Option<JoinHandle<()>>,
}

impl ProgressUi {
    /// Start showing `progress`, counting `items` ("msgs", "files") in `groups` ("mailboxes",
    /// "mappings"). `quiet` (JSON output) shows nothing on the terminal; the `--log-file` still gets
    /// the lines.
    pub fn start(
        progress: Arc<Progress>,
        quiet: bool,
        items: &'static str,
        groups: &'static str,
    ) -> Self {
        let stop = Arc::new(tokio::sync::Notify::new());
        let logging = LOG_FILE.get().is_some();
        if quiet && !logging {
            return ProgressUi { stop, task: None };
        }
        progress.listen();
        let tty = !quiet && std::io::stderr().is_terminal();
        let group = singular(groups);
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let bar = tty.then(|| {
                let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
                let style = ProgressStyle::with_template(
                    &format!("{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {items}  {{msg}}"),
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                b.set_style(style);
                b
            });
            // Lines for people: above the bar on a terminal, plain lines on stderr otherwise (not at all
            // with --json), and always in the log file.
            let say = |line: &str| {
                match &bar {
                    Some(b) => b.println(line),
                    None if !quiet => eprintln!("{line}"),
                    None => {}
                }
                to_log_file(line);
            };
            let mut last_summary = Instant::now();
            loop {
                let finishing = tokio::select! {
                    _ = s.notified() => true,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => false,
                };
                for e in progress.take_events() {
                    say(&event_line(group, &e));
                }
                let snap = progress.snapshot();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let rate = snap.copied as f64 / secs;
                let remaining = snap.discovered.saturating_sub(snap.done());
                let eta = if rate > 0.0 {
                    format!(", ETA {:.0}s", remaining as f64 / rate)
                } else {
                    String::new()
                };
                let msg = format!(
                    "{} at {}/s, {:.0} {items}/s, {groups} {}/{}, skipped {}, failed {}{}",
                    human_bytes(snap.copied_bytes),
                    human_bytes((snap.copied_bytes as f64 / secs) as u64),
                    rate,
                    snap.mailboxes_done,
                    snap.mailboxes_total,
                    snap.skipped,
                    snap.failed,
                    eta
                );
                if let Some(b) = &bar {
                    b.set_length(snap.discovered);
                    b.set_position(snap.done());
                    b.set_message(msg.clone());
                }
                if finishing {
                    break;
                }
                if last_summary.elapsed() >= SUMMARY_EVERY {
                    let line = format!(
                        "progress: {}/{} {items}, {msg}",
                        snap.done(),
                        snap.discovered
                    );
                    if bar.is_none() && !quiet {
                        eprintln!("{line}");
                    }
                    to_log_file(&line);
                    last_summary = Instant::now();
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        ProgressUi {
            stop,
            task: Some(task),
        }
    }

    /// Print what is left to say (the last end lines) and stop.
    pub async fn finish(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_store::{PassCounters, PassKind};

    #[test]
    fn start_and_end_lines_name_the_mailbox_and_say_how_it_ended() {
        assert_eq!(singular("mailboxes"), "mailbox");
        assert_eq!(singular("mappings"), "mapping");
        let started = ProgressEvent::Started {
            label: "alice@example.com".into(),
        };
        assert_eq!(
            event_line("mailbox", &started),
            "mailbox alice@example.com: started"
        );
        let done = ProgressEvent::Finished {
            label: "alice@example.com".into(),
            kind: Some(PassKind::Delta),
            status: RunStatus::DoneWithErrors,
            counters: PassCounters {
                discovered: 3,
                copied: 2,
                failed: 1,
                bytes: 2048,
                ..PassCounters::default()
            },
            error: None,
        };
        assert_eq!(
            event_line("mailbox", &done),
            "mailbox alice@example.com: done with errors (delta pass): 3 new, 2 copied (2.0 KB), 0 skipped, 1 failed"
        );
    }
}
