//! Progress display: a live bar on a terminal, periodic log lines otherwise.

use crate::format::human_bytes;
use ferry_engine::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Shows progress until dropped (or `finish` is called).
pub struct ProgressUi {
    stop: Arc<tokio::sync::Notify>,
    task: Option<JoinHandle<()>>,
}

impl ProgressUi {
    /// Start showing `progress`, counting `items` ("msgs", "files") in `groups` ("mailboxes",
    /// "mappings"). `quiet` (JSON output) shows nothing.
    pub fn start(
        progress: Arc<Progress>,
        quiet: bool,
        items: &'static str,
        groups: &'static str,
    ) -> Self {
        let stop = Arc::new(tokio::sync::Notify::new());
        if quiet {
            return ProgressUi { stop, task: None };
        }
        let tty = std::io::stderr().is_terminal();
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
            let mut last_log = Instant::now();
            loop {
                let snap = progress.snapshot();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let rate = snap.copied as f64 / secs;
                let remaining = snap.discovered.saturating_sub(snap.done());
                let eta = if rate > 0.0 {
                    format!("ETA {:.0}s", remaining as f64 / rate)
                } else {
                    String::new()
                };
                let msg = format!(
                    "{} at {}/s, {:.0} {items}/s, {groups} {}/{}, skipped {}, failed {} {}",
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
                    b.set_message(msg);
                } else if last_log.elapsed() >= Duration::from_secs(10) {
                    eprintln!(
                        "progress: {}/{} messages, {msg}",
                        snap.done(),
                        snap.discovered
                    );
                    last_log = Instant::now();
                }
                tokio::select! {
                    _ = s.notified() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
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

    pub async fn finish(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}
