//! Results: per-run numbers, their medians and ranges, the printed table and the JSON file.

use serde::Serialize;

/// One mover in one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ToolRun {
    /// First copy into the empty target, seconds (until the last process exited).
    pub copy_secs: Option<f64>,
    /// Peak RSS of the first copy, MB (mbsync: summed over its processes).
    pub peak_rss_mb: Option<f64>,
    /// Re-run against the filled target with nothing new, seconds.
    pub rerun_secs: Option<f64>,
    /// User + system CPU seconds of the first copy and of the re-run (GNU time; mbsync: summed).
    pub copy_cpu_secs: Option<f64>,
    pub rerun_cpu_secs: Option<f64>,
    /// Messages found on the target after the first copy.
    pub target_messages: Option<u64>,
    /// Messages the tool says it copied (Ferry's `--json` `totals.copied`).
    pub reported_copied: Option<u64>,
    /// Why this run's numbers are missing or suspect.
    pub errors: Vec<String>,
}

/// One run: both movers (and Ferry B with `--ferry-b`), in the order they ran.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub index: usize,
    pub order: Vec<&'static str>,
    pub ferry: ToolRun,
    pub mbsync: ToolRun,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ferry_b: Option<ToolRun>,
}

/// Median, min and max of one metric over the runs that produced it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Option<Stat> {
        let mut v: Vec<f64> = values.into_iter().flatten().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

/// The machine and the software measured.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub kernel: String,
    pub cpu: String,
    pub ferry_version: String,
    pub mbsync_version: String,
    pub dovecot_version: String,
    pub rss_method: &'static str,
}

/// What was measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Corpus {
    pub users: usize,
    pub messages: u64,
    pub bytes: u64,
    pub attachments: u64,
    pub ferry_concurrency: usize,
}

/// Everything `--json` writes.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub corpus: Corpus,
    /// The untimed warm-up run, if there was one (not in the summary).
    pub warmup: Option<Run>,
    pub runs: Vec<Run>,
    pub summary: Summary,
}

/// Medians over runs. Ratios are computed per run, then their median taken.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub ferry_msgs_per_sec: Option<Stat>,
    pub mbsync_msgs_per_sec: Option<Stat>,
    pub msgs_per_sec_ratio: Option<Stat>,
    pub ferry_mb_per_sec: Option<Stat>,
    pub mbsync_mb_per_sec: Option<Stat>,
    pub ferry_peak_rss_mb: Option<Stat>,
    pub mbsync_peak_rss_mb: Option<Stat>,
    pub ferry_rerun_secs: Option<Stat>,
    pub mbsync_rerun_secs: Option<Stat>,
    pub rerun_ratio: Option<Stat>,
    pub ferry_copy_secs: Option<Stat>,
    pub mbsync_copy_secs: Option<Stat>,
}

/// Goals from issue 2.
pub const GOAL_RATIO: f64 = 1.0;
pub const GOAL_FERRY_RSS_MB: f64 = 100.0;
pub const GOAL_RERUN_RATIO: f64 = 2.0;

pub fn summarize(corpus: &Corpus, runs: &[Run]) -> Summary {
    let msgs = corpus.messages as f64;
    let mb = corpus.bytes as f64 / 1e6;
    let rate = |secs: Option<f64>, amount: f64| secs.filter(|s| *s > 0.0).map(|s| amount / s);
    Summary {
        ferry_msgs_per_sec: Stat::of(runs.iter().map(|r| rate(r.ferry.copy_secs, msgs))),
        mbsync_msgs_per_sec: Stat::of(runs.iter().map(|r| rate(r.mbsync.copy_secs, msgs))),
        msgs_per_sec_ratio: Stat::of(
            runs.iter()
                .map(|r| Some(rate(r.ferry.copy_secs, msgs)? / rate(r.mbsync.copy_secs, msgs)?)),
        ),
        ferry_mb_per_sec: Stat::of(runs.iter().map(|r| rate(r.ferry.copy_secs, mb))),
        mbsync_mb_per_sec: Stat::of(runs.iter().map(|r| rate(r.mbsync.copy_secs, mb))),
        ferry_peak_rss_mb: Stat::of(runs.iter().map(|r| r.ferry.peak_rss_mb)),
        mbsync_peak_rss_mb: Stat::of(runs.iter().map(|r| r.mbsync.peak_rss_mb)),
        ferry_rerun_secs: Stat::of(runs.iter().map(|r| r.ferry.rerun_secs)),
        mbsync_rerun_secs: Stat::of(runs.iter().map(|r| r.mbsync.rerun_secs)),
        rerun_ratio: Stat::of(runs.iter().map(|r| {
            let (f, m) = (r.ferry.rerun_secs?, r.mbsync.rerun_secs?);
            (m > 0.0).then(|| f / m)
        })),
        ferry_copy_secs: Stat::of(runs.iter().map(|r| r.ferry.copy_secs)),
        mbsync_copy_secs: Stat::of(runs.iter().map(|r| r.mbsync.copy_secs)),
    }
}

fn cell(s: Option<Stat>, decimals: usize) -> String {
    match s {
        None => "failed".into(),
        Some(s) if s.n == 1 => format!("{:.*}", decimals, s.median),
        Some(s) => format!(
            "{:.*} [{:.*}–{:.*}]",
            decimals, s.median, decimals, s.min, decimals, s.max
        ),
    }
}

fn verdict(s: Option<Stat>, ok: impl Fn(f64) -> bool) -> &'static str {
    match s {
        Some(s) if ok(s.median) => "met",
        Some(_) => "NOT MET",
        None => "-",
    }
}

/// The table printed at the end.
pub fn table(r: &Results) -> String {
    let s = &r.summary;
    let m = &r.machine;
    let c = &r.corpus;
    let rows: Vec<[String; 5]> = vec![
        [
            "first copy, s".into(),
            cell(s.ferry_copy_secs, 2),
            cell(s.mbsync_copy_secs, 2),
            String::new(),
            String::new(),
        ],
        [
            "messages/s".into(),
            cell(s.ferry_msgs_per_sec, 0),
            cell(s.mbsync_msgs_per_sec, 0),
            cell(s.msgs_per_sec_ratio, 2),
            format!(
                "ratio ≥ {GOAL_RATIO:.1}: {}",
                verdict(s.msgs_per_sec_ratio, |v| v >= GOAL_RATIO)
            ),
        ],
        [
            "MB/s".into(),
            cell(s.ferry_mb_per_sec, 1),
            cell(s.mbsync_mb_per_sec, 1),
            String::new(),
            String::new(),
        ],
        [
            "peak RSS, MB".into(),
            cell(s.ferry_peak_rss_mb, 1),
            format!("{} (sum of {})", cell(s.mbsync_peak_rss_mb, 1), c.users),
            String::new(),
            format!(
                "Ferry ≤ {GOAL_FERRY_RSS_MB:.0}: {}",
                verdict(s.ferry_peak_rss_mb, |v| v <= GOAL_FERRY_RSS_MB)
            ),
        ],
        [
            "no-op re-run, s".into(),
            cell(s.ferry_rerun_secs, 2),
            cell(s.mbsync_rerun_secs, 2),
            cell(s.rerun_ratio, 2),
            format!(
                "ratio ≤ {GOAL_RERUN_RATIO:.1}: {}",
                verdict(s.rerun_ratio, |v| v <= GOAL_RERUN_RATIO)
            ),
        ],
    ];
    let header = [
        "metric (median [min–max])",
        "Ferry",
        "mbsync",
        "Ferry/mbsync",
        "goal",
    ];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(v, w)| format!("{v}{}", " ".repeat(w - v.chars().count())))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = format!(
        "Ferry vs mbsync, IMAP → IMAP on loopback Dovecot (tmpfs, mail_fsync=never)\n\
         corpus: {} users, {} messages, {:.1} MB ({} attachments of 1–5 MB); {} runs, alternating{}; \
         Ferry --concurrency {}, mbsync one process per user\n\
         machine: {} CPUs ({}), Linux {}; {}, {}, Dovecot {}; peak RSS by {}\n\n",
        c.users,
        c.messages,
        c.bytes as f64 / 1e6,
        c.attachments,
        r.runs.len(),
        if r.warmup.is_some() {
            ", after an untimed warm-up run"
        } else {
            ""
        },
        c.ferry_concurrency,
        m.nproc,
        m.cpu,
        m.kernel,
        m.ferry_version,
        m.mbsync_version,
        m.dovecot_version,
        m.rss_method,
    );
    out += &line(&header);
    out += &line(&widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for row in &rows {
        out += &line(&row.each_ref().map(String::as_str));
    }
    out += "\nmessages/s and MB/s: corpus size ÷ wall time of the first copy into an empty target. \
            Ratios are per run, then the median.\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_takes_the_median_of_what_is_there() {
        let s = Stat::of([Some(3.0), None, Some(1.0), Some(2.0)]).expect("stat");
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(Stat::of([Some(1.0), Some(2.0)]).expect("stat").median, 1.5);
        assert!(Stat::of([None]).is_none());
    }
}
