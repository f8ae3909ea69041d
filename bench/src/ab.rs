//! `--ferry-b`: two Ferry builds side by side in the same runs (same corpus, same source, fresh targets,
//! alternating order), so a before/after comparison does not depend on what else the machine was doing.
//! Every ratio is taken per run (B and A measured minutes apart), then its median and range are shown.

use crate::report::{Corpus, Run, Stat, ToolRun};
use std::path::Path;

fn cell(s: Option<Stat>, decimals: usize) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.n == 1 => format!("{:.*}", decimals, s.median),
        Some(s) => format!(
            "{:.*} [{:.*}–{:.*}]",
            decimals, s.median, decimals, s.min, decimals, s.max
        ),
    }
}

/// The A/B table: per metric, A, B and mbsync (medians with ranges), and B/A as the median of per-run
/// ratios.
pub fn table(a: &Path, b: &Path, corpus: &Corpus, runs: &[Run]) -> String {
    let msgs = corpus.messages as f64;
    let rate = move |secs: Option<f64>| secs.filter(|s| *s > 0.0).map(|s| msgs / s);
    type Metric<'a> = (&'a str, usize, Box<dyn Fn(&ToolRun) -> Option<f64>>);
    let metrics: Vec<Metric> = vec![
        ("first copy, s", 2, Box::new(|t| t.copy_secs)),
        ("messages/s", 0, Box::new(move |t| rate(t.copy_secs))),
        ("peak RSS, MB", 1, Box::new(|t| t.peak_rss_mb)),
        (
            "first copy CPU (user+sys), s",
            2,
            Box::new(|t| t.copy_cpu_secs),
        ),
        ("no-op re-run, s", 3, Box::new(|t| t.rerun_secs)),
        (
            "re-run CPU (user+sys), s",
            3,
            Box::new(|t| t.rerun_cpu_secs),
        ),
    ];
    let mut rows: Vec<[String; 5]> = Vec::new();
    for (name, decimals, get) in &metrics {
        let of = |pick: &dyn Fn(&Run) -> Option<&ToolRun>| {
            Stat::of(runs.iter().map(|r| pick(r).and_then(get)))
        };
        let ratio = Stat::of(runs.iter().map(|r| {
            let (va, vb) = (get(&r.ferry)?, get(r.ferry_b.as_ref()?)?);
            (va > 0.0).then(|| vb / va)
        }));
        rows.push([
            (*name).to_owned(),
            cell(of(&|r| Some(&r.ferry)), *decimals),
            cell(of(&|r| r.ferry_b.as_ref()), *decimals),
            cell(ratio, 3),
            cell(of(&|r| Some(&r.mbsync)), *decimals),
        ]);
    }
    let per_mbsync = |pick: &dyn Fn(&Run) -> Option<&ToolRun>| {
        Stat::of(
            runs.iter()
                .map(|r| Some(rate(pick(r)?.copy_secs)? / rate(r.mbsync.copy_secs)?)),
        )
    };
    rows.push([
        "messages/s ÷ mbsync's".into(),
        cell(per_mbsync(&|r| Some(&r.ferry)), 2),
        cell(per_mbsync(&|r| r.ferry_b.as_ref()), 2),
        String::new(),
        String::new(),
    ]);
    let header = [
        "metric (median [min–max])",
        "A",
        "B",
        "B/A (per run)",
        "mbsync",
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
        "A/B: A = {}, B = {} ({} runs, same corpus, A and B alternating)\n\n",
        a.display(),
        b.display(),
        runs.len()
    );
    out += &line(&header);
    out += &line(&widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for row in &rows {
        out += &line(&row.each_ref().map(String::as_str));
    }
    out
}
