//! `ferry-bench`: Ferry against mbsync, IMAP to IMAP, on real Dovecot servers on loopback.
//!
//! A benchmark, not a test (issue 2, "Performance"): it seeds one source Dovecot with a realistic
//! multi-user corpus, then for each run starts two fresh, identically configured target Dovecots and lets
//! Ferry (one process, all users via `--mapping`) and mbsync (one process per user, in parallel) copy
//! everything, then re-run with nothing new. Mail stores live on tmpfs with `mail_fsync = never` for every
//! server, and the tools alternate (A B, B A, …) because disk and cache effects on shared VMs otherwise
//! swamp the difference between movers. See `bench/README.md` for how to read the table.

mod ab;
mod corpus;
mod dashboard;
mod dashboard_seed;
mod exchange;
mod files;
mod files_report;
mod files_tools;
mod files_tree;
mod graph;
mod measure;
mod programme;
mod report;
mod scaleout;
mod scaleout_procs;
mod tools;

use clap::{Parser, Subcommand};
use ferry_testkit::{Dovecot, DovecotOptions};
use report::{Machine, Results, Run, ToolRun};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};

/// Benchmark Ferry against its peers: mail (the default, against mbsync on real Dovecot servers) or
/// files (`ferry-bench files`, against rclone and cp -a). Everything runs on 127.0.0.1 and tmpfs.
#[derive(Parser, Debug)]
#[command(
    name = "ferry-bench",
    max_term_width = 110,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    mail: Args,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Ferry against mbsync, IMAP → IMAP (also what `ferry-bench` without a subcommand runs).
    Mail(Args),
    /// Ferry against rclone copy and cp -a: local → local and local → WebDAV (see bench/README.md).
    Files(files::FilesArgs),
    /// Ferry into OneDrive/SharePoint against the Graph emulator: big-file MB/s vs the emulator's own
    /// single stream, small files vs WebDAV, throttled rate vs the budget (see bench/README.md).
    Graph(graph::GraphArgs),
    /// Ferry into Exchange Online against the emulator: unthrottled rate vs IMAP → IMAP, throttled rate
    /// vs the per-mailbox budget, requests before a suggested backoff expired (see bench/README.md).
    Exchange(exchange::ExchangeArgs),
    /// The dashboard's pages with a big project: median and p95 answer times vs the 200 ms target
    /// (see bench/README.md).
    Dashboard(dashboard::DashboardArgs),
    /// The programme service at scale: importing 20,000 mappings, an event over all of them, its report,
    /// and dashboard pages with 10,000 mappings, on SQLite and PostgreSQL (see bench/README.md).
    Programme(programme::ProgrammeArgs),
    /// Pass throughput with 1, 2 and 4 `ferry worker` processes on PostgreSQL against one `ferry serve` on
    /// SQLite (the coordination overhead), and how soon a killed worker's passes run again (see
    /// bench/README.md).
    Scaleout(scaleout::ScaleoutArgs),
}

/// Benchmark Ferry against mbsync on a generated corpus (real Dovecot servers on 127.0.0.1, on tmpfs).
#[derive(clap::Args, Debug)]
struct Args {
    /// Users (mailboxes) in the corpus [default: 10; 3 with --quick].
    #[arg(long)]
    users: Option<usize>,
    /// Messages per user [default: 2000; 300 with --quick].
    #[arg(long)]
    messages: Option<usize>,
    /// Runs of each tool, alternating which goes first; the table shows medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Smoke run: 3 users × 300 messages.
    #[arg(long)]
    quick: bool,
    /// Also write every number (per run and summary) to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// The `ferry` binary [default: next to ferry-bench].
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,
    /// A second `ferry` binary (B) run in every run beside the first (A) on its own fresh target, A and B
    /// alternating which goes first: an extra table gives B/A per metric (median of per-run ratios).
    #[arg(long, value_name = "PATH")]
    ferry_b: Option<PathBuf>,
    /// The `mbsync` binary.
    #[arg(long, value_name = "PATH", default_value = "mbsync")]
    mbsync: PathBuf,
    /// Ferry's --concurrency [default: the number of users].
    #[arg(long)]
    concurrency: Option<usize>,
    /// Extra argument for `ferry mail migrate` (repeatable), e.g. `--ferry-arg=--max-connections=32`.
    #[arg(long = "ferry-arg", value_name = "ARG", allow_hyphen_values = true)]
    ferry_args: Vec<String>,
    /// Keep every tool's output and logs in this directory (else they go with the temp dir).
    #[arg(long, value_name = "DIR")]
    keep_logs: Option<PathBuf>,
    /// Run Ferry only (for investigating Ferry; the table's mbsync column reads "failed").
    #[arg(long)]
    ferry_only: bool,
    /// Skip the untimed warm-up run (both tools once, before the measured runs).
    #[arg(long)]
    no_warmup: bool,
    /// Corpus seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Set by SIGINT/SIGTERM: the bench stops its children and returns, so `Drop` stops every Dovecot.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    watch_signals();
    let result = match &cli.mode {
        None => bench(&cli.mail),
        Some(Mode::Mail(args)) => bench(args),
        Some(Mode::Files(args)) => files::bench(args),
        Some(Mode::Graph(args)) => graph::bench(args),
        Some(Mode::Exchange(args)) => exchange::bench(args),
        Some(Mode::Dashboard(args)) => dashboard::bench(args),
        Some(Mode::Programme(args)) => programme::bench(args),
        Some(Mode::Scaleout(args)) => scaleout::bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Catch SIGINT/SIGTERM on a helper thread instead of dying with servers still running.
fn watch_signals() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("ferry-bench: interrupted; stopping tools and servers");
            INTERRUPTED.store(true, Ordering::Relaxed);
        });
    });
}

fn check_interrupted() -> io::Result<()> {
    if interrupted() {
        return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
    }
    Ok(())
}

/// Same config for every server: `/` separator, special-use folders, no fsync.
fn server_options() -> DovecotOptions {
    DovecotOptions {
        separator: '/',
        special_use: true,
        fsync: false,
        max_mail_size: None,
        oauth2_hs256_key: None,
        multiappend: true,
    }
}

fn bench(args: &Args) -> io::Result<()> {
    let shape = corpus::Shape {
        users: args.users.unwrap_or(if args.quick { 3 } else { 10 }).max(1),
        messages_per_user: args
            .messages
            .unwrap_or(if args.quick { 300 } else { 2_000 }),
        seed: args.seed,
    };
    let runs = args.runs.max(1);
    let concurrency = args.concurrency.unwrap_or(shape.users).max(1);
    let ferry_bin = match &args.ferry {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("ferry"),
    };
    if let Some(b) = args.ferry_b.as_ref().filter(|b| !b.is_file()) {
        return Err(io::Error::other(format!(
            "--ferry-b {}: no such file",
            b.display()
        )));
    }
    if !ferry_bin.is_file() {
        return Err(io::Error::other(format!(
            "no ferry binary at {}: build it with `cargo build --release -p ferry` or pass --ferry",
            ferry_bin.display()
        )));
    }
    let work = tempfile::Builder::new()
        .prefix("ferry-bench-")
        .tempdir_in(ferry_testkit::temp_root())?;
    let logs = match &args.keep_logs {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            if std::fs::read_dir(d)?.next().is_some() {
                return Err(io::Error::other(format!(
                    "--keep-logs {}: the directory is not empty",
                    d.display()
                )));
            }
            d.clone()
        }
        None => work.path().to_path_buf(),
    };
    let machine = machine(&ferry_bin, &args.mbsync);
    eprintln!(
        "ferry-bench: {} users × {} messages, {runs} runs; work dir {}",
        shape.users,
        shape.messages_per_user,
        work.path().display()
    );

    let source = Dovecot::start(server_options())?;
    let started = std::time::Instant::now();
    let seeded = corpus::seed(&source, &shape, &interrupted)?;
    let mut source_counts = Vec::with_capacity(shape.users);
    for u in 0..shape.users {
        source_counts.push(corpus::count_messages(&source, &corpus::user_name(u))?);
    }
    let source_total: u64 = source_counts.iter().sum();
    eprintln!(
        "ferry-bench: seeded {} messages, {:.1} MB in {:.1} s (source holds {source_total})",
        seeded.messages,
        seeded.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if source_total != seeded.messages {
        return Err(io::Error::other(format!(
            "the source holds {source_total} messages, {} were seeded",
            seeded.messages
        )));
    }

    let corpus = report::Corpus {
        users: shape.users,
        messages: seeded.messages,
        bytes: seeded.bytes,
        attachments: seeded.attachments,
        ferry_concurrency: concurrency,
    };
    let ctx = RunCtx {
        args,
        ferry_bin: &ferry_bin,
        source: &source,
        users: shape.users,
        concurrency,
        source_total,
    };
    // The first pass over a freshly seeded source fills Dovecot's caches (index cache fields, the
    // processes' own state): whoever goes first pays for it. An untimed warm-up run of both tools takes
    // that out of the medians.
    let warmup = if args.no_warmup {
        None
    } else {
        check_interrupted()?;
        let run = one_run(&ctx, 0, &logs.join("warmup"))?;
        eprintln!("ferry-bench: warm-up (not counted): {}", run_line(&run));
        Some(run)
    };
    let mut all = Vec::with_capacity(runs);
    for index in 0..runs {
        check_interrupted()?;
        let run = one_run(&ctx, index, &logs.join(format!("run-{}", index + 1)))?;
        eprintln!("ferry-bench: run {}/{runs}: {}", index + 1, run_line(&run));
        all.push(run);
    }

    let summary = report::summarize(&corpus, &all);
    let results = Results {
        machine,
        corpus,
        warmup,
        runs: all,
        summary,
    };
    println!("{}", report::table(&results));
    if let Some(b) = &args.ferry_b {
        println!(
            "{}",
            ab::table(&ferry_bin, b, &results.corpus, &results.runs)
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&results).map_err(io::Error::other)?;
        std::fs::write(path, text + "\n")?;
        eprintln!("ferry-bench: results written to {}", path.display());
    }
    Ok(())
}

struct RunCtx<'a> {
    args: &'a Args,
    ferry_bin: &'a Path,
    source: &'a Dovecot,
    users: usize,
    concurrency: usize,
    source_total: u64,
}

/// A fresh target per tool, all with the same users; tools alternate which goes first (with `--ferry-b`:
/// A, B, mbsync then mbsync, B, A).
fn one_run(ctx: &RunCtx, index: usize, dir: &Path) -> io::Result<Run> {
    let ferry_target = Dovecot::start(server_options())?;
    let mbsync_target = Dovecot::start(server_options())?;
    let b_target = match ctx.args.ferry_b {
        Some(_) => Some(Dovecot::start(server_options())?),
        None => None,
    };
    for u in 0..ctx.users {
        let name = corpus::user_name(u);
        for t in [&ferry_target, &mbsync_target].into_iter().chain(&b_target) {
            t.add_user(&name, &corpus::password(&name))?;
        }
    }
    let mut order = vec!["ferry"];
    if b_target.is_some() {
        order.push("ferry-b");
    }
    order.push("mbsync");
    if !index.is_multiple_of(2) {
        order.reverse();
    }
    let mut run = Run {
        index: index + 1,
        order: order.clone(),
        ferry: ToolRun::default(),
        mbsync: ToolRun::default(),
        ferry_b: None,
    };
    for tool in order {
        check_interrupted()?;
        if tool == "mbsync" && ctx.args.ferry_only {
            continue;
        }
        if tool == "mbsync" {
            let mbsync = tools::Mbsync {
                bin: &ctx.args.mbsync,
                source: ctx.source,
                target: &mbsync_target,
                users: ctx.users,
                dir: dir.join("mbsync"),
            };
            run.mbsync = run_mbsync(&mbsync, ctx.source_total)?;
            continue;
        }
        let (bin, target, sub) = match (tool, &ctx.args.ferry_b, &b_target) {
            ("ferry-b", Some(bin), Some(target)) => (bin.as_path(), target, "ferry-b"),
            _ => (ctx.ferry_bin, &ferry_target, "ferry"),
        };
        let ferry = tools::Ferry {
            bin,
            source: ctx.source,
            target,
            users: ctx.users,
            concurrency: ctx.concurrency,
            extra_args: &ctx.args.ferry_args,
            dir: dir.join(sub),
        };
        let result = run_ferry(&ferry, ctx.source_total)?;
        if tool == "ferry-b" {
            run.ferry_b = Some(result);
        } else {
            run.ferry = result;
        }
    }
    Ok(run)
}

fn run_ferry(ferry: &tools::Ferry, source_total: u64) -> io::Result<ToolRun> {
    std::fs::create_dir_all(&ferry.dir)?;
    let mapping = ferry.write_mapping()?;
    let mut out = ToolRun::default();
    let (done, wall) = measure::run_all(vec![ferry.spec(&mapping, "copy")?], &interrupted)?;
    let copy = &done[0];
    if !copy.status.success() {
        out.errors.push(failure(copy));
    }
    // Exit 1 means "finished, some items skipped or failed" (the count check below says how many);
    // anything else means an error stopped Ferry, and its time is not a throughput.
    let finished = |s: std::process::ExitStatus| matches!(s.code(), Some(0 | 1));
    if finished(copy.status) {
        out.copy_secs = Some(wall.as_secs_f64());
        out.peak_rss_mb = copy.peak_rss_kb.map(|kb| kb as f64 / 1024.0);
        out.copy_cpu_secs = copy.cpu_secs;
    }
    out.reported_copied = reported_copied(copy);
    let on_target = target_total(ferry.target, ferry.users)?;
    out.target_messages = Some(on_target);
    if on_target != source_total {
        let msg =
            format!("Ferry left {on_target} messages on the target, the source has {source_total}");
        eprintln!("\n!!!!!!!! WARNING: {msg} !!!!!!!!\n");
        out.errors.push(msg);
    }
    let (done, wall) = measure::run_all(vec![ferry.spec(&mapping, "rerun")?], &interrupted)?;
    if !done[0].status.success() {
        out.errors.push(failure(&done[0]));
    }
    if finished(done[0].status) {
        out.rerun_secs = Some(wall.as_secs_f64());
        out.rerun_cpu_secs = done[0].cpu_secs;
    }
    Ok(out)
}

fn run_mbsync(mbsync: &tools::Mbsync, source_total: u64) -> io::Result<ToolRun> {
    std::fs::create_dir_all(&mbsync.dir)?;
    let configs = mbsync.write_configs()?;
    let mut out = ToolRun::default();
    let copy = match measure::run_all(mbsync.specs(&configs, "copy"), &interrupted) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
        Err(e) => {
            eprintln!("ferry-bench: mbsync could not run: {e}");
            out.errors.push(e.to_string());
            return Ok(out);
        }
    };
    let failed: Vec<String> = copy
        .0
        .iter()
        .filter(|f| !f.status.success())
        .map(failure)
        .collect();
    if !failed.is_empty() {
        // mbsync's numbers are meaningless when a process failed: mark the column failed.
        out.errors = failed;
        return Ok(out);
    }
    out.copy_secs = Some(copy.1.as_secs_f64());
    out.copy_cpu_secs = copy.0.iter().map(|f| f.cpu_secs).sum::<Option<f64>>();
    out.peak_rss_mb = copy
        .0
        .iter()
        .map(|f| f.peak_rss_kb)
        .sum::<Option<u64>>()
        .map(|kb| kb as f64 / 1024.0);
    let on_target = target_total(mbsync.target, mbsync.users)?;
    out.target_messages = Some(on_target);
    if on_target != source_total {
        let msg = format!(
            "mbsync left {on_target} messages on the target, the source has {source_total}"
        );
        eprintln!("ferry-bench: note: {msg}");
        out.errors.push(msg);
    }
    match measure::run_all(mbsync.specs(&configs, "rerun"), &interrupted) {
        Ok((done, wall)) => {
            let failed: Vec<String> = done
                .iter()
                .filter(|f| !f.status.success())
                .map(failure)
                .collect();
            if failed.is_empty() {
                out.rerun_secs = Some(wall.as_secs_f64());
                out.rerun_cpu_secs = done.iter().map(|f| f.cpu_secs).sum::<Option<f64>>();
            }
            out.errors.extend(failed);
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
        Err(e) => out.errors.push(e.to_string()),
    }
    Ok(out)
}

/// Say what failed, with the end of its stderr, and return it for the JSON.
fn failure(f: &measure::Finished) -> String {
    let msg = format!(
        "{} exited with {}; stderr ({}):\n{}",
        f.label,
        f.status,
        f.stderr.display(),
        f.stderr_tail(15)
    );
    eprintln!("ferry-bench: {msg}");
    msg
}

/// `totals.copied` from `ferry --json` output.
fn reported_copied(f: &measure::Finished) -> Option<u64> {
    let text = std::fs::read_to_string(&f.stdout).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["totals"]["copied"].as_u64()
}

fn target_total(target: &Dovecot, users: usize) -> io::Result<u64> {
    (0..users)
        .map(|u| corpus::count_messages(target, &corpus::user_name(u)))
        .sum()
}

fn run_line(run: &Run) -> String {
    let f = |t: &ToolRun| {
        format!(
            "copy {} s, {} MB RSS, re-run {} s{}",
            t.copy_secs.map_or("-".into(), |v| format!("{v:.2}")),
            t.peak_rss_mb.map_or("-".into(), |v| format!("{v:.0}")),
            t.rerun_secs.map_or("-".into(), |v| format!("{v:.2}")),
            if t.errors.is_empty() {
                ""
            } else {
                " (with errors)"
            }
        )
    };
    let b = run
        .ferry_b
        .as_ref()
        .map_or(String::new(), |b| format!("; ferry-b: {}", f(b)));
    format!(
        "{} first; ferry: {}{b}; mbsync: {}",
        run.order[0],
        f(&run.ferry),
        f(&run.mbsync)
    )
}

fn machine(ferry: &Path, mbsync: &Path) -> Machine {
    let first_line = |program: &Path, arg: &str| {
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
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into()),
        cpu,
        ferry_version: first_line(ferry, "--version"),
        mbsync_version: first_line(mbsync, "--version"),
        dovecot_version: first_line(Path::new("dovecot"), "--version"),
        rss_method: if measure::uses_gnu_time() {
            "GNU time (ru_maxrss)"
        } else {
            "polling /proc VmHWM"
        },
    }
}
