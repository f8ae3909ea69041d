//! `ferry-bench scaleout`: pass throughput of the programme service with its passes in one process on
//! SQLite against `ferry worker` processes on PostgreSQL (issue 12 §5), and how long a killed worker's
//! passes take to run again elsewhere.
//!
//! One source Dovecot holds `--users` mailboxes of the bench corpus (`corpus.rs`, as the mail bench). Each
//! run of each setup gets a fresh target Dovecot, a fresh store and fresh processes, imports one mapping per
//! mailbox through the API, and creates one pilot event over all of them; the time is the server's own: from
//! the first pass recorded (the scheduler's step that starts the event) to the last pass ended, read from the
//! event's report. The setups:
//!
//! - `SQLite serve`: one `ferry serve` on SQLite running the passes itself — plain `ferry serve` (its own
//!   pool of 4) when `--slots` is 4, else `ferry serve --queue --slots S` on its SQLite queue. Without a
//!   queue the scheduler starts passes only into free slots at its 5 s steps, so the default corpus has as
//!   many mailboxes as slots (every pass starts at the first step in every setup);
//! - `PG N workers`: `ferry serve --queue --slots 0` on PostgreSQL and N `ferry worker` processes whose
//!   slots sum to `--slots` (each S/N; N must divide S).
//!
//! messages/s = the corpus ÷ that time; the ratio of each PostgreSQL setup to the SQLite one is the
//! coordination overhead (the queue, leases, heartbeats, the shared database). Setups alternate their order
//! from run to run. Then the kill scenario: two workers with `--slots S` each (so either can take the
//! other's passes at once), `kill -9` of the one running passes a moment after they started, and the time
//! until each of its passes has started again in the other; it is governed by the lease: heartbeats every
//! `FERRY_HEARTBEAT_SECS` (`--kill-heartbeat-secs`, Ferry's default 2 s), a lease expires after three missed.

use crate::corpus;
use crate::scaleout_procs::{Finished, Launch, Worker};
use ferry_testkit::{Dovecot, DovecotOptions};
use serde_json::json;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ScaleoutArgs {
    /// Mailboxes in the corpus (one mapping, one pass each) [default: --slots].
    #[arg(long)]
    users: Option<usize>,
    /// Messages per mailbox [default: 4000; 300 with --quick].
    #[arg(long)]
    messages: Option<usize>,
    /// Total pass slots of every setup (the SQLite serve's, and the sum over the workers).
    #[arg(long, default_value_t = 4)]
    slots: usize,
    /// Worker counts on PostgreSQL (each must divide --slots).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    workers: Vec<usize>,
    /// Runs of every setup, alternating their order; the table shows medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Smoke run: 4 mailboxes × 300 messages, 1 run.
    #[arg(long)]
    quick: bool,
    /// Heartbeat seconds of the throughput runs [default: Ferry's, 2].
    #[arg(long, default_value_t = FERRY_HEARTBEAT_SECS)]
    heartbeat_secs: u64,
    /// Heartbeat seconds of the kill scenario: a lease expires after three missed [default: Ferry's, 2].
    #[arg(long, default_value_t = FERRY_HEARTBEAT_SECS)]
    kill_heartbeat_secs: u64,
    /// Runs of the kill scenario (0: none).
    #[arg(long)]
    kill_runs: Option<usize>,
    /// The `ferry` binary [default: next to ferry-bench].
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,
    /// Also write every number (per run and medians) to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Keep every process's log in this directory (else they go with the temp dir).
    #[arg(long, value_name = "DIR")]
    keep_logs: Option<PathBuf>,
    /// Corpus seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `ferry serve`'s and `ferry worker`'s default `--heartbeat-secs`
/// (`ferry_server::queue::LeaseSettings::DEFAULT`).
const FERRY_HEARTBEAT_SECS: u64 = 2;

/// `ferry serve`'s own pool without a queue (`ferry_server::scheduler::PASS_SLOTS`).
const POOL_SLOTS: usize = 4;

/// One setup: the SQLite serve (`workers == 0`) or `workers` workers on PostgreSQL.
#[derive(Clone, Copy, Debug)]
struct Setup {
    workers: usize,
}

impl Setup {
    fn name(&self) -> String {
        match self.workers {
            0 => "SQLite serve".to_string(),
            1 => "PG 1 worker".to_string(),
            n => format!("PG {n} workers"),
        }
    }
}

struct Ctx<'a> {
    ferry: &'a Path,
    source: &'a Dovecot,
    users: usize,
    messages: u64,
    slots: usize,
    cluster: Option<&'a str>,
}

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn server_options() -> DovecotOptions {
    crate::server_options()
}

pub fn bench(args: &ScaleoutArgs) -> io::Result<()> {
    let shape = corpus::Shape {
        users: args.users.unwrap_or(args.slots).max(1),
        messages_per_user: args
            .messages
            .unwrap_or(if args.quick { 300 } else { 4_000 }),
        seed: args.seed,
    };
    let runs = if args.quick { 1 } else { args.runs.max(1) };
    let kill_runs = args.kill_runs.unwrap_or(if args.quick { 1 } else { 3 });
    let slots = args.slots.max(1);
    if let Some(n) = args
        .workers
        .iter()
        .find(|&&n| n == 0 || !slots.is_multiple_of(n))
    {
        return Err(other(format!(
            "--workers {n}: each worker count must divide --slots {slots}"
        )));
    }
    let ferry = match &args.ferry {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("ferry"),
    };
    if !ferry.is_file() {
        return Err(other(format!(
            "no ferry binary at {}: build it with `cargo build --release -p ferry` or pass --ferry",
            ferry.display()
        )));
    }
    // The PostgreSQL setups make a fresh database per run in the cluster this variable names.
    let cluster = std::env::var(ferry_testkit::postgres::URL_ENV).ok();
    if cluster.is_none() {
        eprintln!(
            "ferry-bench scaleout: no PostgreSQL ({} unset): the SQLite setup only",
            ferry_testkit::postgres::URL_ENV
        );
    }
    let work = tempfile::Builder::new()
        .prefix("ferry-bench-scaleout-")
        .tempdir_in(ferry_testkit::temp_root())?;
    let logs = args
        .keep_logs
        .clone()
        .unwrap_or_else(|| work.path().to_path_buf());
    std::fs::create_dir_all(&logs)?;

    let source = Dovecot::start(server_options())?;
    let t = Instant::now();
    let seeded = corpus::seed(&source, &shape, &crate::interrupted)?;
    eprintln!(
        "ferry-bench scaleout: seeded {} mailboxes, {} messages, {:.1} MB in {:.1} s; {} slots, {runs} runs",
        shape.users,
        seeded.messages,
        seeded.bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        slots
    );
    let ctx = Ctx {
        ferry: &ferry,
        source: &source,
        users: shape.users,
        messages: seeded.messages,
        slots,
        cluster: cluster.as_deref(),
    };
    let mut setups = vec![Setup { workers: 0 }];
    if cluster.is_some() {
        setups.extend(args.workers.iter().map(|&workers| Setup { workers }));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // secs[setup] = one entry per run.
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    for run in 1..=runs {
        let mut order: Vec<usize> = (0..setups.len()).collect();
        if run.is_multiple_of(2) {
            order.reverse();
        }
        for i in order {
            crate::check_interrupted()?;
            let dir = logs.join(format!("run-{run}-{}", setups[i].name().replace(' ', "-")));
            let f = rt.block_on(throughput(&ctx, setups[i], args.heartbeat_secs, &dir))?;
            eprintln!(
                "  run {run} {:<14} {:.2} s, {:.0} messages/s",
                setups[i].name(),
                f.secs(),
                ctx.messages as f64 / f.secs()
            );
            secs[i].push(f.secs());
        }
    }
    let mut kills = Vec::new();
    if cluster.is_some() {
        for run in 1..=kill_runs {
            crate::check_interrupted()?;
            let dir = logs.join(format!("kill-{run}"));
            let k = rt.block_on(kill(&ctx, args.kill_heartbeat_secs, &dir))?;
            eprintln!(
                "  kill {run}: {} pass(es) of the killed worker started again after {:.2} s",
                k.passes, k.resumed_secs
            );
            kills.push(k);
        }
    }
    print_table(&ctx, &setups, &secs, &kills, args.kill_heartbeat_secs);
    if let Some(path) = &args.json {
        let results: Vec<_> = setups
            .iter()
            .zip(&secs)
            .map(|(s, xs)| {
                json!({
                    "setup": s.name(), "workers": s.workers, "secs": xs,
                    "median_secs": median(xs.clone()),
                    "median_messages_per_sec": ctx.messages as f64 / median(xs.clone()),
                })
            })
            .collect();
        let kill: Vec<_> = kills
            .iter()
            .map(|k| json!({ "passes": k.passes, "resumed_secs": k.resumed_secs }))
            .collect();
        let doc = json!({
            "mailboxes": ctx.users, "messages": ctx.messages, "bytes": seeded.bytes, "slots": slots,
            "runs": runs, "heartbeat_secs": args.heartbeat_secs,
            "kill_heartbeat_secs": args.kill_heartbeat_secs,
            "results": results, "kill": kill,
        });
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&doc).map_err(|e| other(e.to_string()))?,
        )?;
    }
    Ok(())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// A fresh target Dovecot with every mailbox of the corpus, empty.
fn target(users: usize) -> io::Result<Dovecot> {
    let t = Dovecot::start(server_options())?;
    for u in 0..users {
        let name = corpus::user_name(u);
        t.add_user(&name, &corpus::password(&name))?;
    }
    Ok(t)
}

/// Every message of the source on the target, none twice.
fn check_target(ctx: &Ctx, target: &Dovecot, what: &str) -> io::Result<()> {
    let mut on_target = 0;
    for u in 0..ctx.users {
        on_target += corpus::count_messages(target, &corpus::user_name(u))?;
    }
    if on_target != ctx.messages {
        return Err(other(format!(
            "{what}: the target holds {on_target} messages, the source {}",
            ctx.messages
        )));
    }
    Ok(())
}

/// A fresh database in the cluster (`None` for SQLite).
fn database(
    ctx: &Ctx,
    postgres: bool,
) -> io::Result<Option<ferry_testkit::postgres::TestDatabase>> {
    if !postgres || ctx.cluster.is_none() {
        return Ok(None);
    }
    ferry_testkit::postgres::TestDatabase::create("bench_scaleout")
}

/// One run of one setup: the event's time, checked against the target.
async fn throughput(
    ctx: &Ctx<'_>,
    setup: Setup,
    heartbeat: u64,
    dir: &Path,
) -> io::Result<Finished> {
    std::fs::create_dir_all(dir)?;
    let target = target(ctx.users)?;
    let db = database(ctx, setup.workers > 0)?;
    let launch = Launch {
        ferry: ctx.ferry,
        store: db.as_ref().map(|d| d.url()),
        heartbeat_secs: heartbeat,
        dir,
    };
    let serve = match setup.workers {
        0 if ctx.slots == POOL_SLOTS => launch.serve(None).await?,
        0 => launch.serve(Some(ctx.slots)).await?,
        _ => launch.serve(Some(0)).await?,
    };
    let workers: Vec<Worker> = (1..=setup.workers)
        .map(|n| launch.worker(n, ctx.slots / setup.workers))
        .collect::<io::Result<_>>()?;
    let api = serve.project(ctx.source, &target, ctx.users).await?;
    let event = serve.event(&api).await?;
    let f = serve
        .wait_done(&api, &event, Duration::from_secs(1800))
        .await?;
    if let Some(n) = f.passes.iter().find(|&&n| n != 1) {
        return Err(other(format!(
            "{}: a mapping ran {n} passes, not 1",
            setup.name()
        )));
    }
    check_target(ctx, &target, &setup.name())?;
    drop(workers);
    drop(serve);
    Ok(f)
}

/// What one kill showed.
struct Kill {
    /// Passes the killed worker was running.
    passes: usize,
    /// From the kill to the last of them started again in the other worker.
    resumed_secs: f64,
}

/// Two workers with every slot each; `kill -9` of one running passes; the time until the other has
/// started each of them again; then every pass must succeed with the source's messages, none twice.
async fn kill(ctx: &Ctx<'_>, heartbeat: u64, dir: &Path) -> io::Result<Kill> {
    std::fs::create_dir_all(dir)?;
    let target = target(ctx.users)?;
    let db = database(ctx, true)?;
    let launch = Launch {
        ferry: ctx.ferry,
        store: db.as_ref().map(|d| d.url()),
        heartbeat_secs: heartbeat,
        dir,
    };
    let serve = launch.serve(Some(0)).await?;
    let mut workers = vec![launch.worker(1, ctx.slots)?, launch.worker(2, ctx.slots)?];
    let api = serve.project(ctx.source, &target, ctx.users).await?;
    let event = serve.event(&api).await?;
    // Wait until every pass has started somewhere, then a moment so that they are mid-copy.
    let deadline = Instant::now() + Duration::from_secs(120);
    while workers.iter().map(|w| w.started().len()).sum::<usize>() < ctx.users {
        crate::check_interrupted()?;
        if Instant::now() > deadline {
            return Err(other(format!(
                "the passes did not start within 120 s; see {}",
                dir.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let victim = if workers[0].started().len() >= workers[1].started().len() {
        0
    } else {
        1
    };
    let mut killed = workers.remove(victim);
    killed.kill();
    let t0 = Instant::now();
    let theirs = killed.started();
    let report = serve.report(&api, &event).await?;
    let still_running = report["mappings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["last_pass"]["outcome"] == "running" && theirs.iter().any(|l| m["label"] == *l)
        })
        .count();
    if still_running == 0 {
        return Err(other(
            "the killed worker had finished its passes before the kill: use more --messages",
        ));
    }
    let survivor = &workers[0];
    let deadline = Instant::now() + Duration::from_secs(300);
    let resumed = loop {
        let again = survivor.started();
        if theirs.iter().all(|l| again.contains(l)) {
            break t0.elapsed();
        }
        if Instant::now() > deadline {
            return Err(other(format!(
                "the killed worker's passes did not start again within 300 s; see {}",
                dir.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let f = serve
        .wait_done(&api, &event, Duration::from_secs(1800))
        .await?;
    if let Some(n) = f.passes.iter().find(|&&n| n != 1) {
        return Err(other(format!(
            "kill: a mapping ran {n} passes, not 1 (resumed, not retried)"
        )));
    }
    check_target(ctx, &target, "kill")?;
    Ok(Kill {
        passes: theirs.len(),
        resumed_secs: resumed.as_secs_f64(),
    })
}

fn print_table(ctx: &Ctx, setups: &[Setup], secs: &[Vec<f64>], kills: &[Kill], kill_hb: u64) {
    let base = secs
        .first()
        .map(|xs| median(xs.clone()))
        .unwrap_or(f64::NAN);
    println!();
    println!(
        "corpus: {} mailboxes, {} messages; {} pass slots in every setup; medians of {} runs [min–max]",
        ctx.users,
        ctx.messages,
        ctx.slots,
        secs.first().map_or(0, Vec::len)
    );
    println!(
        "{:<16} {:>8} {:>22} {:>24} {:>14}",
        "setup", "slots", "event, s", "messages/s", "vs SQLite"
    );
    for (s, xs) in setups.iter().zip(secs) {
        let m = median(xs.clone());
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(0.0, f64::max);
        let per = match s.workers {
            0 => format!("{}", ctx.slots),
            n => format!("{n}×{}", ctx.slots / n),
        };
        let rate = |t: f64| ctx.messages as f64 / t;
        let overhead = if s.workers == 0 {
            "-".to_string()
        } else {
            format!("{:+.1} %", (m / base - 1.0) * 100.0)
        };
        println!(
            "{:<16} {:>8} {:>22} {:>24} {:>14}",
            s.name(),
            per,
            format!("{m:.2} [{lo:.2}–{hi:.2}]"),
            format!("{:.0} [{:.0}–{:.0}]", rate(m), rate(hi), rate(lo)),
            overhead
        );
    }
    println!(
        "vs SQLite: the event's time over the SQLite serve's, minus 1 (the coordination overhead; goal ≤ 5 %)"
    );
    if !kills.is_empty() {
        let xs: Vec<f64> = kills.iter().map(|k| k.resumed_secs).collect();
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(0.0, f64::max);
        println!(
            "kill -9 of a worker mid-event: its passes started again in the other after {:.1} s [{lo:.1}–{hi:.1}] \
             (median of {}; heartbeat {kill_hb} s, a lease expires after 3 missed = {} s; goal ≤ 10 s)",
            median(xs.clone()),
            xs.len(),
            3 * kill_hb
        );
    }
}
