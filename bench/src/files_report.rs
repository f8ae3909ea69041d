//! The files benchmark's results: per-run numbers, medians and ranges, the table and the JSON file.

use crate::files_tree::Written;
use crate::report::Stat;
use serde::Serialize;

/// One tool in one scenario of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Measured {
    /// First copy into an empty target, seconds.
    pub copy_secs: Option<f64>,
    /// Peak RSS of the first copy, MB.
    pub peak_rss_mb: Option<f64>,
    /// Re-run against the filled target with nothing new, seconds (not for cp).
    pub rerun_secs: Option<f64>,
    pub rerun_rss_mb: Option<f64>,
    /// Regular files and bytes found on the target after the first copy.
    pub target_files: Option<u64>,
    pub target_bytes: Option<u64>,
    /// Ferry's `--json` `totals.copied` / `totals.failed` of the first copy and `copied` of the re-run.
    pub reported_copied: Option<u64>,
    pub reported_failed: Option<u64>,
    pub rerun_copied: Option<u64>,
    /// Why numbers are missing or suspect.
    pub errors: Vec<String>,
}

/// The tools in one scenario (None: not run).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Trio {
    pub ferry: Option<Measured>,
    pub rclone: Option<Measured>,
    pub cp: Option<Measured>,
}

/// One run: every scenario, each tool on a fresh target, in the order given.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FilesRun {
    pub index: usize,
    pub order: Vec<&'static str>,
    /// The ~100k-file tree, local → local.
    pub tree: Trio,
    /// The big-file set, local → local.
    pub big: Trio,
    /// The tree, local → WebDAV (`rclone serve webdav`).
    pub webdav: Trio,
}

/// RSS flatness: Ferry alone on 1/10 of a tiny-file tree, then on all of it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Flat {
    pub small_files: u64,
    pub large_files: u64,
    pub small: Measured,
    pub large: Measured,
}

/// What was measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    pub nproc: usize,
    pub kernel: String,
    pub cpu: String,
    pub ferry_version: String,
    pub rclone_version: String,
    pub cp_version: String,
    pub rss_method: &'static str,
    pub concurrency: usize,
    pub rclone_settings: String,
    pub tree: Option<Written>,
    pub dav: Option<Written>,
    pub big: Option<Written>,
    pub notes: Vec<String>,
}

/// Everything `--json` writes.
#[derive(Clone, Debug, Serialize)]
pub struct FilesResults {
    pub setup: Setup,
    pub runs: Vec<FilesRun>,
    pub flat: Option<Flat>,
}

/// Goals from issue 3.
pub const GOAL_TREE_RATIO: f64 = 1.5;
pub const GOAL_WEBDAV_RATIO: f64 = 5.0;
pub const GOAL_BIG_VS_CP: f64 = 0.9;
pub const GOAL_RSS_MB: f64 = 150.0;
pub const GOAL_RERUN_RATIO: f64 = 0.5;

fn rate(secs: Option<f64>, amount: f64) -> Option<f64> {
    secs.filter(|s| *s > 0.0).map(|s| amount / s)
}

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

fn verdict(s: Option<Stat>, ok: impl Fn(f64) -> bool) -> &'static str {
    match s {
        Some(s) if ok(s.median) => "met",
        Some(_) => "NOT MET",
        None => "-",
    }
}

type Pick = fn(&FilesRun) -> &Trio;

/// The table printed at the end.
pub fn table(r: &FilesResults) -> String {
    let runs = &r.runs;
    let s = &r.setup;
    let tree_files = s.tree.map_or(0.0, |w| w.files as f64);
    let tree_mb = s.tree.map_or(0.0, |w| w.bytes as f64 / 1e6);
    let dav_files = s.dav.map_or(0.0, |w| w.files as f64);
    let big_mb = s.big.map_or(0.0, |w| w.bytes as f64 / 1e6);
    // A per-tool statistic of one scenario.
    let stat =
        |pick: Pick, tool: fn(&Trio) -> &Option<Measured>, f: &dyn Fn(&Measured) -> Option<f64>| {
            Stat::of(runs.iter().map(|run| tool(pick(run)).as_ref().and_then(f)))
        };
    // A per-run ratio a/b of one scenario, then the median.
    let ratio = |pick: Pick,
                 a: fn(&Trio) -> &Option<Measured>,
                 b: fn(&Trio) -> &Option<Measured>,
                 f: &dyn Fn(&Measured) -> Option<f64>| {
        Stat::of(runs.iter().map(|run| {
            let (x, y) = (f(a(pick(run)).as_ref()?)?, f(b(pick(run)).as_ref()?)?);
            (y > 0.0).then(|| x / y)
        }))
    };
    let ferry: fn(&Trio) -> &Option<Measured> = |t| &t.ferry;
    let rclone: fn(&Trio) -> &Option<Measured> = |t| &t.rclone;
    let cp: fn(&Trio) -> &Option<Measured> = |t| &t.cp;
    let tree: Pick = |r| &r.tree;
    let big: Pick = |r| &r.big;
    let dav: Pick = |r| &r.webdav;
    let fps = move |m: &Measured| rate(m.copy_secs, tree_files);
    let tree_mbps = move |m: &Measured| rate(m.copy_secs, tree_mb);
    let dav_fps = move |m: &Measured| rate(m.copy_secs, dav_files);
    let big_mbps = move |m: &Measured| rate(m.copy_secs, big_mb);
    let rss = |m: &Measured| m.peak_rss_mb;
    let rerun = |m: &Measured| m.rerun_secs;
    let copy = |m: &Measured| m.copy_secs;

    let row3 = |name: &str, pick: Pick, f: &dyn Fn(&Measured) -> Option<f64>, d: usize| {
        [
            name.to_owned(),
            cell(stat(pick, ferry, f), d),
            cell(stat(pick, rclone, f), d),
            cell(stat(pick, cp, f), d),
            String::new(),
            String::new(),
            String::new(),
        ]
    };
    let mut rows: Vec<[String; 7]> = Vec::new();
    let push_ratio_row = |rows: &mut Vec<[String; 7]>,
                          mut row: [String; 7],
                          rf: Option<Stat>,
                          rc: Option<Stat>,
                          goal: String| {
        row[4] = if rf.is_some() {
            cell(rf, 2)
        } else {
            String::new()
        };
        row[5] = if rc.is_some() {
            cell(rc, 2)
        } else {
            String::new()
        };
        row[6] = goal;
        rows.push(row);
    };
    let has = |pick: Pick| {
        runs.iter()
            .any(|r| pick(r).ferry.is_some() || pick(r).rclone.is_some())
    };

    if has(tree) {
        rows.push(section("tree local → local"));
        rows.push(row3("  copy, s", tree, &copy, 2));
        let rf = ratio(tree, ferry, rclone, &fps);
        push_ratio_row(
            &mut rows,
            row3("  files/s", tree, &fps, 0),
            rf,
            ratio(tree, ferry, cp, &fps),
            format!(
                "Ferry/rclone ≥ {GOAL_TREE_RATIO}: {}",
                verdict(rf, |v| v >= GOAL_TREE_RATIO)
            ),
        );
        rows.push(row3("  MB/s", tree, &tree_mbps, 1));
        let rss_stat = stat(tree, ferry, &rss);
        push_ratio_row(
            &mut rows,
            row3("  peak RSS, MB", tree, &rss, 1),
            None,
            None,
            format!(
                "Ferry ≤ {GOAL_RSS_MB:.0}: {}",
                verdict(rss_stat, |v| v <= GOAL_RSS_MB)
            ),
        );
        let rr = ratio(tree, ferry, rclone, &rerun);
        push_ratio_row(
            &mut rows,
            row3("  no-op re-run, s", tree, &rerun, 2),
            rr,
            None,
            format!(
                "Ferry/rclone ≤ {GOAL_RERUN_RATIO}: {}",
                verdict(rr, |v| v <= GOAL_RERUN_RATIO)
            ),
        );
    }
    if has(big) {
        rows.push(section("big files local → local"));
        rows.push(row3("  copy, s", big, &copy, 2));
        let rc = ratio(big, ferry, cp, &big_mbps);
        push_ratio_row(
            &mut rows,
            row3("  MB/s", big, &big_mbps, 0),
            ratio(big, ferry, rclone, &big_mbps),
            rc,
            format!(
                "Ferry/cp ≥ {GOAL_BIG_VS_CP}: {}",
                verdict(rc, |v| v >= GOAL_BIG_VS_CP)
            ),
        );
        let rss_stat = stat(big, ferry, &rss);
        push_ratio_row(
            &mut rows,
            row3("  peak RSS, MB", big, &rss, 1),
            None,
            None,
            format!(
                "Ferry ≤ {GOAL_RSS_MB:.0}: {}",
                verdict(rss_stat, |v| v <= GOAL_RSS_MB)
            ),
        );
    }
    if has(dav) {
        rows.push(section("WebDAV tree local → WebDAV"));
        rows.push(row3("  copy, s", dav, &copy, 2));
        let rf = ratio(dav, ferry, rclone, &dav_fps);
        push_ratio_row(
            &mut rows,
            row3("  files/s", dav, &dav_fps, 0),
            rf,
            None,
            format!(
                "Ferry/rclone ≥ {GOAL_WEBDAV_RATIO}: {}",
                verdict(rf, |v| v >= GOAL_WEBDAV_RATIO)
            ),
        );
        let rss_stat = stat(dav, ferry, &rss);
        push_ratio_row(
            &mut rows,
            row3("  peak RSS, MB", dav, &rss, 1),
            None,
            None,
            format!(
                "Ferry ≤ {GOAL_RSS_MB:.0}: {}",
                verdict(rss_stat, |v| v <= GOAL_RSS_MB)
            ),
        );
        let rr = ratio(dav, ferry, rclone, &rerun);
        push_ratio_row(
            &mut rows,
            row3("  no-op re-run, s", dav, &rerun, 2),
            rr,
            None,
            format!(
                "Ferry/rclone ≤ {GOAL_RERUN_RATIO}: {}",
                verdict(rr, |v| v <= GOAL_RERUN_RATIO)
            ),
        );
    }
    if let Some(f) = &r.flat {
        rows.push(section("RSS flatness (Ferry, tiny files, local → local)"));
        for (label, files, m) in [
            ("  1/10 of the tree", f.small_files, &f.small),
            ("  whole tree", f.large_files, &f.large),
        ] {
            let one = |v: Option<f64>| v.and_then(|x| Stat::of([Some(x)]));
            rows.push([
                format!("{label}: {files} files"),
                format!(
                    "{} MB RSS, {} files/s",
                    cell(one(m.peak_rss_mb), 1),
                    cell(one(rate(m.copy_secs, files as f64)), 0)
                ),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        let growth = match (f.small.peak_rss_mb, f.large.peak_rss_mb) {
            (Some(a), Some(b)) if a > 0.0 => format!("{:.2}×", b / a),
            _ => "-".into(),
        };
        let ok = f.large.peak_rss_mb.map(|v| v <= GOAL_RSS_MB);
        rows.push([
            "  RSS whole ÷ 1/10".into(),
            growth,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            format!(
                "Ferry ≤ {GOAL_RSS_MB:.0} and flat: {}",
                match ok {
                    Some(true) => "met (see growth)",
                    Some(false) => "NOT MET",
                    None => "-",
                }
            ),
        ]);
    }

    let header = [
        "metric (median [min–max])",
        "Ferry",
        "rclone",
        "cp -a",
        "Ferry/rclone",
        "Ferry/cp",
        "goal",
    ];
    let mut widths = header.map(|h| h.chars().count());
    for row in rows.iter().filter(|r| !r[0].starts_with("== ")) {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(v, w)| format!("{v}{}", " ".repeat(w.saturating_sub(v.chars().count()))))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let describe = |w: Option<Written>| {
        w.map_or("-".into(), |w| {
            format!(
                "{} files, {:.1} MB, {} folders, {} levels deep, {} awkward names",
                w.files,
                w.bytes as f64 / 1e6,
                w.dirs,
                w.deepest,
                w.awkward
            )
        })
    };
    let mut out = format!(
        "Ferry vs rclone copy vs cp -a: files, local → local and local → WebDAV (rclone serve webdav), \
         all on tmpfs and 127.0.0.1\n\
         tree: {}\nWebDAV tree: {}\nbig files: {}\n\
         {} runs, tools alternating; Ferry --concurrency {}, {}\n\
         machine: {} CPUs ({}), Linux {}; {}, {}, {}; peak RSS by {}\n",
        describe(s.tree),
        describe(s.dav),
        s.big.map_or("-".into(), |w| format!(
            "{} × {:.1} MB",
            w.files,
            w.bytes as f64 / 1e6 / w.files.max(1) as f64
        )),
        runs.len(),
        s.concurrency,
        s.rclone_settings,
        s.nproc,
        s.cpu,
        s.kernel,
        s.ferry_version,
        s.rclone_version,
        s.cp_version,
        s.rss_method,
    );
    for n in &s.notes {
        out += &format!("note: {n}\n");
    }
    out += "\n";
    out += &line(&header);
    out += &line(&widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for row in &rows {
        if let Some(title) = row[0].strip_prefix("== ") {
            out += title;
            out += "\n";
        } else {
            out += &line(&row.each_ref().map(String::as_str));
        }
    }
    out += "\nfiles/s and MB/s: the set's size ÷ wall time of the first copy into an empty target. \
            Ratios are per run, then the median.\n";
    out
}

fn section(title: &str) -> [String; 7] {
    [
        format!("== {title}"),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]
}
