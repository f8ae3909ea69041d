//! `ferry-bench files`: Ferry against `rclone copy` and `cp -a`, local → local and local → WebDAV.
//!
//! A benchmark, not a test (issue 3, "Performance"). It writes a realistic tree (default 100,000 files,
//! mostly 1–64 KB, a few 10–200 MB, folders 12 levels deep, awkward names including a TAB and a newline)
//! and a big-file set on tmpfs, then for each run lets every tool copy them into fresh targets of its own:
//! the tree local → local (Ferry, rclone, `cp -a` as the floor), the big files local → local (MB/s), and
//! the tree into a fresh `rclone serve webdav` per tool. Ferry and rclone then re-run against their filled
//! targets (the no-op re-run). The tools alternate which goes first from run to run. `--rss-flat` adds
//! Ferry alone on 1/10 and on the whole of a 1M-file tree of tiny files. See `bench/README.md`.

use crate::files_report::{FilesResults, FilesRun, Flat, Measured, Setup, Trio};
use crate::files_tools::{Movers, Target, Tool};
use crate::files_tree::{self, Shape, Written};
use crate::measure;
use crate::{check_interrupted, failure, interrupted};
use clap::ValueEnum;
use ferry_testkit::webdav::WebDavServer;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const MB: u64 = 1024 * 1024;
/// Room left free on tmpfs beyond the bench's own estimate (servers, logs, Ferry's store).
const MARGIN: u64 = 1024 * MB;

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// The tree, local → local: Ferry, rclone, cp -a.
    Tree,
    /// The big-file set, local → local: Ferry, rclone, cp -a.
    Big,
    /// The tree, local → WebDAV (a fresh rclone serve webdav per tool and run): Ferry, rclone.
    Webdav,
    /// RSS flatness: Ferry on 1/10 and on all of a tiny-file tree (same as --rss-flat).
    Flat,
}

/// Benchmark Ferry's file mover against rclone copy and cp -a (tmpfs, 127.0.0.1).
#[derive(clap::Args, Debug)]
pub struct FilesArgs {
    /// Files in the tree [default: 100000; 5000 with --quick].
    #[arg(long)]
    files: Option<usize>,
    /// Files in the (separate, smaller) WebDAV tree [default: 2000; 1000 with --quick]. `rclone serve
    /// webdav` takes tens of ms per request on 2 shared cores, so rclone copies only ~30 files/s into it:
    /// the full tree would take an hour per run.
    #[arg(long)]
    webdav_files: Option<usize>,
    /// Smoke run: a 5,000-file tree, a 1,000-file WebDAV tree and 4 × 50 MB big files.
    #[arg(long)]
    quick: bool,
    /// Runs of each tool, alternating which goes first; the table shows medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Big files for MB/s.
    #[arg(long, default_value_t = 4)]
    big_files: usize,
    /// Size of each big file in MB [default: 200; 50 with --quick].
    #[arg(long, value_name = "MB")]
    big_size_mb: Option<u64>,
    /// Cap on the tree's large (10–200 MB) files together, MB [default: 600; 60 with --quick].
    #[arg(long, value_name = "MB")]
    large_cap_mb: Option<u64>,
    /// Only these scenarios (repeatable or comma-separated) [default: tree, big, webdav].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Also measure RSS flatness: Ferry on 1/10 and on all of a tree of --rss-flat-files tiny files.
    #[arg(long)]
    rss_flat: bool,
    /// Files in the RSS-flatness tree (scaled down to fit tmpfs).
    #[arg(long, default_value_t = 1_000_000)]
    rss_flat_files: usize,
    /// Ferry's --concurrency; rclone gets the same --transfers and --checkers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Run rclone with its own defaults (--transfers 4 --checkers 8) instead of Ferry's concurrency.
    #[arg(long)]
    rclone_defaults: bool,
    /// Extra argument for `ferry files migrate` (repeatable).
    #[arg(long = "ferry-arg", value_name = "ARG", allow_hyphen_values = true)]
    ferry_args: Vec<String>,
    /// Extra argument for `rclone copy` (repeatable), e.g. `--rclone-arg=--no-check-dest`.
    #[arg(long = "rclone-arg", value_name = "ARG", allow_hyphen_values = true)]
    rclone_args: Vec<String>,
    /// Run Ferry only (for investigating Ferry).
    #[arg(long)]
    ferry_only: bool,
    /// Also write every number (per run and summary) to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Keep every tool's output and logs in this directory (else they go with the temp dir).
    #[arg(long, value_name = "DIR")]
    keep_logs: Option<PathBuf>,
    /// The `ferry` binary [default: next to ferry-bench].
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,
    /// The `rclone` binary.
    #[arg(long, value_name = "PATH", default_value = "rclone")]
    rclone: PathBuf,
    /// Tree seed: the same seed gives the same names and bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

struct Ctx<'a> {
    movers: Movers<'a>,
    ferry_only: bool,
    tree: Option<(PathBuf, Written)>,
    dav: Option<(PathBuf, Written)>,
    big: Option<(PathBuf, Written)>,
    scenarios: Vec<Scenario>,
}

pub fn bench(args: &FilesArgs) -> io::Result<()> {
    let ferry_bin = match &args.ferry {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("ferry"),
    };
    if !ferry_bin.is_file() {
        return Err(io::Error::other(format!(
            "no ferry binary at {}: build it with `cargo build --release -p ferry` or pass --ferry",
            ferry_bin.display()
        )));
    }
    let mut scenarios = if args.only.is_empty() {
        vec![Scenario::Tree, Scenario::Big, Scenario::Webdav]
    } else {
        args.only.clone()
    };
    if args.rss_flat && !scenarios.contains(&Scenario::Flat) {
        scenarios.push(Scenario::Flat);
    }
    let runs = args.runs.max(1);
    let work = tempfile::Builder::new()
        .prefix("ferry-bench-files-")
        .tempdir_in(ferry_testkit::temp_root())?;
    let logs = match &args.keep_logs {
        Some(d) => {
            fs::create_dir_all(d)?;
            if fs::read_dir(d)?.next().is_some() {
                return Err(io::Error::other(format!(
                    "--keep-logs {}: the directory is not empty",
                    d.display()
                )));
            }
            d.clone()
        }
        None => work.path().join("logs"),
    };
    fs::create_dir_all(&logs)?;
    let rclone_config = work.path().join("rclone.conf");
    fs::write(&rclone_config, "")?;
    let mut notes = Vec::new();

    // Sizes: the source plus three copies (one per tool) must fit, with a margin.
    let mut files = args
        .files
        .unwrap_or(if args.quick { 5_000 } else { 100_000 })
        .max(1);
    let mut large_cap = args
        .large_cap_mb
        .unwrap_or(if args.quick { 60 } else { 600 })
        * MB;
    let mut big_size = args
        .big_size_mb
        .unwrap_or(if args.quick { 50 } else { 200 })
        * MB;
    let wants = |s: Scenario| scenarios.contains(&s);
    let need_tree = wants(Scenario::Tree);
    let free = files_tree::free_bytes(work.path());
    if let Some(free) = free {
        let need = |files: usize, cap: u64, big: u64| {
            let tree = if need_tree {
                Shape::new(files, args.quick, cap, args.seed).estimate_bytes()
            } else {
                0
            };
            let big = if wants(Scenario::Big) {
                big * args.big_files as u64
            } else {
                0
            };
            4 * (tree + big) + MARGIN
        };
        let wanted = need(files, large_cap, big_size);
        if wanted > free {
            let f = (free.saturating_sub(MARGIN)) as f64 / (wanted - MARGIN) as f64;
            large_cap = (large_cap as f64 * f) as u64;
            big_size = ((big_size as f64 * f) as u64).max(MB);
            files = ((files as f64 * f) as usize).max(100);
            let msg = format!(
                "tmpfs has {:.1} GB free, the bench wanted {:.1} GB (source + 3 copies): scaled down to \
                 {files} files, large files ≤ {} MB in all, big files of {} MB",
                free as f64 / 1e9,
                wanted as f64 / 1e9,
                large_cap / MB,
                big_size / MB
            );
            eprintln!("ferry-bench: {msg}");
            notes.push(msg);
        }
    }

    eprintln!(
        "ferry-bench files: scenarios {:?}, {runs} runs; work dir {} ({} free)",
        scenarios,
        work.path().display(),
        free.map_or("?".into(), |f| format!("{:.1} GB", f as f64 / 1e9))
    );
    let tree = if need_tree {
        let root = work.path().join("src-tree");
        let shape = Shape::new(files, args.quick, large_cap, args.seed);
        let started = Instant::now();
        let w = files_tree::generate(&root, &shape, &interrupted)?;
        eprintln!(
            "ferry-bench: tree of {} files, {:.1} MB, {} folders ({} levels, {} awkward names) written in {:.1} s",
            w.files,
            w.bytes as f64 / 1e6,
            w.dirs,
            w.deepest,
            w.awkward,
            started.elapsed().as_secs_f64()
        );
        Some((root, w))
    } else {
        None
    };
    let dav = if wants(Scenario::Webdav) {
        let root = work.path().join("src-dav");
        let n = args
            .webdav_files
            .unwrap_or(if args.quick { 1_000 } else { 2_000 })
            .max(1);
        // Same shape as the tree, with one or two large files of 10–40 MB (≤ 40 MB in all).
        let shape = Shape::new(n, true, 40 * MB, args.seed.wrapping_add(1));
        let w = files_tree::generate(&root, &shape, &interrupted)?;
        eprintln!(
            "ferry-bench: WebDAV tree of {} files, {:.1} MB, {} folders ({} levels, {} awkward names)",
            w.files,
            w.bytes as f64 / 1e6,
            w.dirs,
            w.deepest,
            w.awkward
        );
        Some((root, w))
    } else {
        None
    };
    let big = if wants(Scenario::Big) {
        let root = work.path().join("src-big");
        let w = files_tree::generate_big(&root, args.big_files.max(1), big_size, args.seed)?;
        eprintln!(
            "ferry-bench: big-file set {} × {} MB",
            w.files,
            big_size / MB
        );
        Some((root, w))
    } else {
        None
    };
    let movers = Movers {
        ferry: &ferry_bin,
        rclone: &args.rclone,
        concurrency: args.concurrency.max(1),
        rclone_defaults: args.rclone_defaults,
        ferry_args: &args.ferry_args,
        rclone_args: &args.rclone_args,
        rclone_config: &rclone_config,
    };
    let setup = Setup {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into()),
        cpu: fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into()),
        ferry_version: first_line(&ferry_bin, "--version"),
        rclone_version: first_line(&args.rclone, "version"),
        cp_version: first_line(Path::new("cp"), "--version"),
        rss_method: if measure::uses_gnu_time() {
            "GNU time (ru_maxrss)"
        } else {
            "polling /proc VmHWM"
        },
        concurrency: movers.concurrency,
        rclone_settings: movers.rclone_settings(),
        tree: tree.as_ref().map(|t| t.1),
        dav: dav.as_ref().map(|t| t.1),
        big: big.as_ref().map(|b| b.1),
        notes,
    };
    let ctx = Ctx {
        movers,
        ferry_only: args.ferry_only,
        tree,
        dav,
        big,
        scenarios: scenarios.clone(),
    };

    let mut all = Vec::new();
    if scenarios
        .iter()
        .any(|s| matches!(s, Scenario::Tree | Scenario::Big | Scenario::Webdav))
    {
        for index in 0..runs {
            check_interrupted()?;
            let run = one_run(
                &ctx,
                index,
                work.path(),
                &logs.join(format!("run-{}", index + 1)),
            )?;
            eprintln!("ferry-bench: run {}/{runs}: {}", index + 1, run_line(&run));
            all.push(run);
        }
    }
    // The trees of the main runs are not needed any more: free tmpfs for the flatness tree.
    for (root, _) in ctx.tree.iter().chain(&ctx.dav).chain(&ctx.big) {
        let _ = fs::remove_dir_all(root);
    }
    let mut setup = setup;
    let flat = if wants(Scenario::Flat) {
        check_interrupted()?;
        Some(flatness(
            &ctx,
            args,
            work.path(),
            &logs.join("flat"),
            &mut setup.notes,
        )?)
    } else {
        None
    };

    let results = FilesResults {
        setup,
        runs: all,
        flat,
    };
    println!("{}", crate::files_report::table(&results));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&results).map_err(io::Error::other)?;
        fs::write(path, text + "\n")?;
        eprintln!("ferry-bench: results written to {}", path.display());
    }
    Ok(())
}

/// Each scenario in turn; within one, the tools take turns going first (rotated by run index).
fn one_run(ctx: &Ctx, index: usize, work: &Path, logs: &Path) -> io::Result<FilesRun> {
    let mut tools = vec![Tool::Ferry, Tool::Rclone, Tool::Cp];
    if ctx.ferry_only {
        tools.retain(|t| *t == Tool::Ferry);
    }
    let len = tools.len();
    tools.rotate_left(index % len);
    let mut run = FilesRun {
        index: index + 1,
        order: tools.iter().map(|t| t.name()).collect(),
        ..FilesRun::default()
    };
    let dir = work.join(format!("run-{}", index + 1));
    for scenario in &ctx.scenarios {
        let (src, written, trio) = match scenario {
            Scenario::Tree => match &ctx.tree {
                Some((p, w)) => (p, w, &mut run.tree),
                None => continue,
            },
            Scenario::Big => match &ctx.big {
                Some((p, w)) => (p, w, &mut run.big),
                None => continue,
            },
            Scenario::Webdav => match &ctx.dav {
                Some((p, w)) => (p, w, &mut run.webdav),
                None => continue,
            },
            Scenario::Flat => continue,
        };
        let name = format!("{scenario:?}").to_lowercase();
        for &tool in &tools {
            check_interrupted()?;
            if tool == Tool::Cp && *scenario == Scenario::Webdav {
                continue;
            }
            let logs = logs.join(&name);
            fs::create_dir_all(&logs)?;
            let scratch = dir.join(&name).join(tool.name());
            let m = if *scenario == Scenario::Webdav {
                let server = WebDavServer::start()?;
                let m = measure_tool(
                    ctx,
                    tool,
                    src,
                    written,
                    &Target::WebDav(server.port()),
                    server.dir(),
                    &scratch,
                    &logs,
                );
                if m.as_ref().is_ok_and(|m| !m.errors.is_empty()) {
                    let _ = fs::write(
                        logs.join(format!("{}-server.log", tool.name())),
                        server.log(),
                    );
                }
                drop(server);
                m?
            } else {
                let target = scratch.join("target");
                measure_tool(
                    ctx,
                    tool,
                    src,
                    written,
                    &Target::Local(target.clone()),
                    &target,
                    &scratch,
                    &logs,
                )?
            };
            let _ = fs::remove_dir_all(&scratch);
            match tool {
                Tool::Ferry => trio.ferry = Some(m),
                Tool::Rclone => trio.rclone = Some(m),
                Tool::Cp => trio.cp = Some(m),
            }
        }
    }
    Ok(run)
}

/// One tool: the first copy into an empty target, the count check, and (not for cp) the no-op re-run.
/// `on_disk` is where the target's files land (the served dir for WebDAV).
#[allow(clippy::too_many_arguments)]
fn measure_tool(
    ctx: &Ctx,
    tool: Tool,
    source: &Path,
    written: &Written,
    target: &Target,
    on_disk: &Path,
    scratch: &Path,
    logs: &Path,
) -> io::Result<Measured> {
    let data = scratch.join("ferry-data");
    fs::create_dir_all(&data)?;
    if let Target::Local(p) = target {
        fs::create_dir_all(p)?;
    }
    let mut out = Measured::default();
    // Ferry exits 1 when it finished with skipped or failed files (the count check says how many).
    let finished = |s: std::process::ExitStatus| match tool {
        Tool::Ferry => matches!(s.code(), Some(0 | 1)),
        _ => s.success(),
    };
    let spec = ctx.movers.spec(tool, source, target, &data, logs, "copy");
    let (done, wall) = measure::run_all(vec![spec], &interrupted)?;
    let copy = &done[0];
    if !copy.status.success() {
        out.errors.push(failure(copy));
    }
    if finished(copy.status) {
        out.copy_secs = Some(wall.as_secs_f64());
        out.peak_rss_mb = copy.peak_rss_kb.map(|kb| kb as f64 / 1024.0);
    } else {
        return Ok(out);
    }
    if tool == Tool::Ferry
        && let Some(j) = ferry_json(copy)
    {
        out.reported_copied = j["totals"]["copied"].as_u64();
        out.reported_failed = j["totals"]["failed"].as_u64();
    }
    let (files, bytes) = files_tree::count(on_disk)?;
    out.target_files = Some(files);
    out.target_bytes = Some(bytes);
    if (files, bytes) != (written.files, written.bytes) {
        let msg = format!(
            "{} left {files} files ({bytes} bytes) on the target, the source has {} ({} bytes)",
            tool.name(),
            written.files,
            written.bytes
        );
        if tool == Tool::Ferry {
            eprintln!("\n!!!!!!!! WARNING: {msg} !!!!!!!!\n");
        } else {
            eprintln!("ferry-bench: note: {msg}");
        }
        out.errors.push(msg);
    }
    if tool == Tool::Cp {
        return Ok(out);
    }
    let spec = ctx.movers.spec(tool, source, target, &data, logs, "rerun");
    let (done, wall) = measure::run_all(vec![spec], &interrupted)?;
    if !done[0].status.success() {
        out.errors.push(failure(&done[0]));
    }
    if finished(done[0].status) {
        out.rerun_secs = Some(wall.as_secs_f64());
        out.rerun_rss_mb = done[0].peak_rss_kb.map(|kb| kb as f64 / 1024.0);
        if tool == Tool::Ferry {
            out.rerun_copied = ferry_json(&done[0]).and_then(|j| j["totals"]["copied"].as_u64());
        }
    }
    Ok(out)
}

/// RSS flatness: a tree of tiny files in 10 parts; Ferry copies `part-0` alone, then the whole tree.
fn flatness(
    ctx: &Ctx,
    args: &FilesArgs,
    work: &Path,
    logs: &Path,
    notes: &mut Vec<String>,
) -> io::Result<Flat> {
    // A tiny file costs a 4 KB tmpfs page plus about 1 KB of inode and dentry; the source and one copy
    // must fit.
    let per_file = 5 * 1024u64;
    let mut files = args.rss_flat_files.max(10);
    if let Some(free) = files_tree::free_bytes(work) {
        let fits = (free.saturating_sub(MARGIN) / (2 * per_file)) as usize;
        if files > fits {
            let msg = format!(
                "RSS flatness: tmpfs has {:.1} GB free; {files} tiny files (+ a copy) do not fit, using {fits}",
                free as f64 / 1e9
            );
            eprintln!("ferry-bench: {msg}");
            notes.push(msg);
            files = fits.max(10);
        }
    }
    let parts = 10;
    let root = work.join("src-flat");
    let started = Instant::now();
    let w = files_tree::generate_tiny(&root, files, parts, args.seed, &interrupted)?;
    eprintln!(
        "ferry-bench: RSS-flatness tree of {} tiny files written in {:.1} s",
        w.files,
        started.elapsed().as_secs_f64()
    );
    fs::create_dir_all(logs)?;
    let mut flat = Flat::default();
    for (i, src) in [root.join("part-0"), root.clone()].iter().enumerate() {
        check_interrupted()?;
        let (n, b) = files_tree::count(src)?;
        let part = Written {
            files: n,
            bytes: b,
            ..w
        };
        let scratch = work.join(format!("flat-{i}"));
        let target = scratch.join("target");
        let sub = logs.join(if i == 0 { "tenth" } else { "whole" });
        fs::create_dir_all(&sub)?;
        let m = measure_tool(
            ctx,
            Tool::Ferry,
            src,
            &part,
            &Target::Local(target.clone()),
            &target,
            &scratch,
            &sub,
        )?;
        let _ = fs::remove_dir_all(&scratch);
        eprintln!(
            "ferry-bench: RSS flatness, {n} files: copy {} s, {} MB RSS",
            m.copy_secs.map_or("-".into(), |v| format!("{v:.1}")),
            m.peak_rss_mb.map_or("-".into(), |v| format!("{v:.1}"))
        );
        if i == 0 {
            flat.small_files = n;
            flat.small = m;
        } else {
            flat.large_files = n;
            flat.large = m;
        }
    }
    let _ = fs::remove_dir_all(&root);
    Ok(flat)
}

/// Ferry's `--json` summary on stdout.
fn ferry_json(f: &measure::Finished) -> Option<serde_json::Value> {
    let text = fs::read_to_string(&f.stdout).ok()?;
    serde_json::from_str(&text).ok()
}

fn run_line(run: &FilesRun) -> String {
    let m = |name: &str, t: &Option<Measured>| -> Option<String> {
        let t = t.as_ref()?;
        Some(format!(
            "{name} {} s/{} MB{}{}",
            t.copy_secs.map_or("-".into(), |v| format!("{v:.2}")),
            t.peak_rss_mb.map_or("-".into(), |v| format!("{v:.0}")),
            t.rerun_secs
                .map_or(String::new(), |v| format!(", re-run {v:.2} s")),
            if t.errors.is_empty() { "" } else { " (errors)" }
        ))
    };
    let trio = |label: &str, t: &Trio| -> Option<String> {
        let parts: Vec<String> = [m("ferry", &t.ferry), m("rclone", &t.rclone), m("cp", &t.cp)]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| format!("{label}: {}", parts.join("; ")))
    };
    [
        trio("tree", &run.tree),
        trio("big", &run.big),
        trio("webdav", &run.webdav),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" | ")
}

fn first_line(program: &Path, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_else(|| "unknown".into())
}
