//! `ferry-bench graph`: Ferry into OneDrive/SharePoint, against the Graph emulator (issue 11, "Performance").
//!
//! A benchmark, not a test. Every scenario starts a fresh `ferry_testkit::graph::GraphEmulator` in this
//! process (its own thread and runtime) and runs the `ferry` binary against it:
//!
//! - **emulator**: the emulator's own single-stream upload rate: this process uploads the big-file set with
//!   one upload session per file, fragments of `--fragment-mb` in order, on one connection — the ceiling
//!   a single Graph stream can reach here.
//! - **big**: Ferry copies the big-file set into a user's drive: MB/s, and the ratio to the emulator's
//!   single-stream rate (issue 11 asks ≥ 0.8).
//! - **small**: Ferry copies a tree of small files (no throttling): files/s.
//! - **webdav**: Ferry copies the same tree into `rclone serve webdav`: the figure "small" is compared
//!   with (issue 11 asks ≥).
//! - **throttled**: Ferry copies the tree with a request budget on (`--budget` requests per
//!   `--window-secs`, per tenant, `429` + `Retry-After` beyond): achieved rate of accepted requests ÷ the
//!   budget's rate (issue 11 asks ≥ 0.9) and the emulator's count of requests sent before a `Retry-After`
//!   expired (must be 0).
//!
//! The scenarios run in the order above in odd runs and in reverse in even ones. Peak RSS of every Ferry
//! run is reported; "small" at `--files` and at 4 × `--files` (after each run's scenarios) shows whether
//! it is flat in the number of files (`--rss-flat`).
//!
//! Ferry finds the emulator through its environment, as docs/onedrive-sharepoint.md documents:
//! `FERRY_GRAPH_URL` (the emulator's `http://127.0.0.1:PORT/v1.0`) and `FERRY_TARGET_TOKEN` (a bearer
//! token valid for the run; in the environment, not on the command line). `--target` (default
//! `onedrive://{upn}/bench`) and every `--ferry-arg` may use `{graph}`, `{token}` and `{upn}`.

use crate::files_tree::{self, Shape, Written};
use crate::measure::{self, Spec};
use crate::{check_interrupted, failure, interrupted};
use clap::ValueEnum;
use ferry_testkit::graph::{GraphEmulator, GraphOptions, ThrottleOptions};
use ferry_testkit::http::{Body, RawHttp};
use ferry_testkit::webdav::WebDavServer;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MB: u64 = 1024 * 1024;
const FRAGMENT_UNIT: u64 = 327_680;
const UPN: &str = "bench@contoso.com";

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Emulator,
    Big,
    Small,
    Webdav,
    Throttled,
}

/// Benchmark Ferry into OneDrive/SharePoint against the Graph emulator (tmpfs, 127.0.0.1).
#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// Files in the small-file tree [default: 5000; 1000 with --quick].
    #[arg(long)]
    files: Option<usize>,
    /// Big files for MB/s.
    #[arg(long, default_value_t = 2)]
    big_files: usize,
    /// Size of each big file in MB [default: 200; 40 with --quick].
    #[arg(long, value_name = "MB")]
    big_size_mb: Option<u64>,
    /// Fragment size of the emulator's own single-stream upload, MB (rounded down to a multiple of
    /// 320 KiB).
    #[arg(long, value_name = "MB", default_value_t = 10)]
    fragment_mb: u64,
    /// Request budget of the throttled scenario (per tenant) …
    #[arg(long, default_value_t = 600)]
    budget: u64,
    /// … per this many seconds.
    #[arg(long, default_value_t = 10)]
    window_secs: u64,
    /// Smoke run: 1,000 small files, 2 × 40 MB.
    #[arg(long)]
    quick: bool,
    /// Runs of each scenario; the table shows medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Only these scenarios (repeatable or comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Also run "small" on 4 × --files to see whether peak RSS is flat in the number of files.
    #[arg(long)]
    rss_flat: bool,
    /// Ferry's --concurrency.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Ferry's target for the emulator; `{upn}` is the bench user.
    #[arg(long, default_value = "onedrive://{upn}/bench")]
    target: String,
    /// Extra argument for `ferry files migrate` (repeatable); `{graph}`, `{token}` and `{upn}` are
    /// replaced, e.g. `--ferry-arg=--graph-url={graph}`.
    #[arg(long = "ferry-arg", value_name = "ARG", allow_hyphen_values = true)]
    ferry_args: Vec<String>,
    /// Also write every number to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Keep every run's output and logs in this directory (else they go with the temp dir).
    #[arg(long, value_name = "DIR")]
    keep_logs: Option<PathBuf>,
    /// The `ferry` binary [default: next to ferry-bench].
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,
    /// Tree seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// One measured run of one scenario.
#[derive(Clone, Debug, serde::Serialize)]
struct Measured {
    scenario: Scenario,
    run: usize,
    files: u64,
    bytes: u64,
    secs: f64,
    peak_rss_kb: Option<u64>,
    /// Emulator counters after the run (Graph scenarios).
    requests: u64,
    throttled: u64,
    requests_before_retry_after: u64,
}

impl Measured {
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / MB as f64 / self.secs.max(1e-9)
    }

    fn files_per_s(&self) -> f64 {
        self.files as f64 / self.secs.max(1e-9)
    }

    /// Accepted requests per second.
    fn accepted_rate(&self) -> f64 {
        (self.requests - self.throttled) as f64 / self.secs.max(1e-9)
    }
}

pub fn bench(args: &GraphArgs) -> io::Result<()> {
    let ferry = match &args.ferry {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("ferry"),
    };
    let scenarios: Vec<Scenario> = if args.only.is_empty() {
        Scenario::value_variants().to_vec()
    } else {
        args.only.clone()
    };
    let needs_ferry = scenarios.iter().any(|s| *s != Scenario::Emulator);
    if needs_ferry && !ferry.is_file() {
        return Err(io::Error::other(format!(
            "no ferry binary at {}: build it with `cargo build --release -p ferry` or pass --ferry",
            ferry.display()
        )));
    }
    let work = tempfile::Builder::new()
        .prefix("ferry-bench-graph-")
        .tempdir_in(ferry_testkit::temp_root())?;
    let logs = match &args.keep_logs {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => work.path().to_path_buf(),
    };
    let files = args.files.unwrap_or(if args.quick { 1000 } else { 5000 });
    let big_size = args
        .big_size_mb
        .unwrap_or(if args.quick { 40 } else { 200 })
        * MB;
    let tree = work.path().join("tree");
    let shape = Shape::new(files, true, 0, args.seed);
    let shape = Shape { large: 0, ..shape };
    let tree_w = files_tree::generate(&tree, &shape, &interrupted)?;
    let big = work.path().join("big");
    let big_w = files_tree::generate_big(&big, args.big_files, big_size, args.seed)?;
    let tree4 = work.path().join("tree4");
    let tree4_w = if args.rss_flat {
        let shape4 = Shape {
            files: files * 4,
            ..shape
        };
        Some(files_tree::generate(&tree4, &shape4, &interrupted)?)
    } else {
        None
    };
    eprintln!(
        "ferry-bench graph: tree {} files / {} MB, big {} × {} MB, {} runs; work dir {}",
        tree_w.files,
        tree_w.bytes / MB,
        big_w.files,
        big_size / MB,
        args.runs,
        work.path().display()
    );
    let fragment = (args.fragment_mb * MB / FRAGMENT_UNIT).max(1) * FRAGMENT_UNIT;
    let mut all: Vec<Measured> = Vec::new();
    for run in 1..=args.runs.max(1) {
        // Every other run takes the scenarios in reverse, so none always runs first (cold caches) or last
        // (the machine's load drifting through a run); `emulator` and `big` stay side by side.
        let mut order = scenarios.clone();
        if run % 2 == 0 {
            order.reverse();
        }
        for s in &order {
            check_interrupted()?;
            let ctx = Ctx {
                args,
                ferry: &ferry,
                logs: &logs,
                work: work.path(),
                run,
            };
            let m = match s {
                Scenario::Emulator => emulator_rate(&big, &big_w, fragment, run)?,
                Scenario::Big => ctx.ferry_graph(Scenario::Big, &big, &big_w, None)?,
                Scenario::Small => ctx.ferry_graph(Scenario::Small, &tree, &tree_w, None)?,
                Scenario::Webdav => ctx.ferry_webdav(&tree, &tree_w)?,
                Scenario::Throttled => {
                    let budget = ThrottleOptions::per_tenant(
                        args.budget,
                        Duration::from_secs(args.window_secs.max(1)),
                    );
                    ctx.ferry_graph(Scenario::Throttled, &tree, &tree_w, Some(budget))?
                }
            };
            eprintln!("ferry-bench graph: {}", line(&m, args));
            all.push(m);
        }
        if let Some(w4) = &tree4_w {
            let ctx = Ctx {
                args,
                ferry: &ferry,
                logs: &logs,
                work: work.path(),
                run,
            };
            let m = ctx.ferry_graph(Scenario::Small, &tree4, w4, None)?;
            eprintln!("ferry-bench graph: (4× tree) {}", line(&m, args));
            all.push(m);
        }
    }
    println!("{}", summary(&all, args, files as u64));
    if let Some(path) = &args.json {
        let v = json!({"runs": all, "summary": summary_json(&all, args, files as u64)});
        std::fs::write(path, serde_json::to_string_pretty(&v).unwrap_or_default())?;
    }
    Ok(())
}

struct Ctx<'a> {
    args: &'a GraphArgs,
    ferry: &'a Path,
    logs: &'a Path,
    work: &'a Path,
    run: usize,
}

impl Ctx<'_> {
    fn spec(
        &self,
        label: &str,
        source: &Path,
        target: String,
        extra: &[String],
        env: Vec<(String, String)>,
    ) -> io::Result<Spec> {
        let data = self.work.join(format!("data-{label}-{}", self.run));
        std::fs::create_dir_all(&data)?;
        let mut args: Vec<OsString> = vec![
            "--data".into(),
            data.into(),
            "--json".into(),
            "files".into(),
            "migrate".into(),
            source.into(),
            target.into(),
            "--concurrency".into(),
            self.args.concurrency.to_string().into(),
        ];
        args.extend(extra.iter().map(Into::into));
        Ok(Spec {
            label: format!("ferry {label} run {}", self.run),
            program: self.ferry.to_path_buf(),
            args,
            env,
            env_remove: vec![
                "FERRY_DATA".into(),
                "FERRY_GRAPH_URL".into(),
                "FERRY_TARGET_TOKEN".into(),
            ],
            stdout: self.logs.join(format!("ferry-{label}-{}.out", self.run)),
            stderr: self.logs.join(format!("ferry-{label}-{}.log", self.run)),
        })
    }

    /// Ferry into a fresh emulator (optionally throttled); checks the drive holds what the source held.
    fn ferry_graph(
        &self,
        scenario: Scenario,
        source: &Path,
        written: &Written,
        budget: Option<ThrottleOptions>,
    ) -> io::Result<Measured> {
        let graph = GraphEmulator::start(GraphOptions::default())?;
        let drive = graph.add_user(UPN);
        let token = graph.token_for(6 * 3600, false);
        let fill = |s: &str| {
            s.replace("{graph}", &graph.base_url())
                .replace("{token}", &token)
                .replace("{upn}", UPN)
        };
        let extra: Vec<String> = self.args.ferry_args.iter().map(|a| fill(a)).collect();
        let label = format!("{scenario:?}-{}", written.files).to_lowercase();
        let env = vec![
            ("FERRY_GRAPH_URL".to_owned(), graph.base_url()),
            ("FERRY_TARGET_TOKEN".to_owned(), token.clone()),
        ];
        let spec = self.spec(&label, source, fill(&self.args.target), &extra, env)?;
        graph.set_throttle(budget.into_iter().collect());
        let (mut done, wall) = measure::run_all(vec![spec], &interrupted)?;
        let f = done.remove(0);
        if !f.status.success() && f.status.code() != Some(1) {
            return Err(io::Error::other(failure(&f)));
        }
        let on_target = graph.items(&drive).iter().filter(|i| !i.is_folder).count() as u64;
        if on_target < written.files {
            eprintln!(
                "ferry-bench graph: WARNING {label}: {on_target} files on the drive, {} in the source \
                 (names OneDrive forbids are skipped or renamed by Ferry's rules; see {})",
                written.files,
                f.stdout.display()
            );
        }
        let s = graph.stats();
        Ok(Measured {
            scenario,
            run: self.run,
            files: written.files,
            bytes: written.bytes,
            secs: wall.as_secs_f64(),
            peak_rss_kb: f.peak_rss_kb,
            requests: s.requests,
            throttled: s.throttled,
            requests_before_retry_after: s.requests_before_retry_after,
        })
    }

    fn ferry_webdav(&self, source: &Path, written: &Written) -> io::Result<Measured> {
        let dav = WebDavServer::start()?;
        let spec = self.spec(
            &format!("webdav-{}", written.files),
            source,
            format!("webdav://127.0.0.1:{}/", dav.addr().port()),
            &[],
            vec![],
        )?;
        let (mut done, wall) = measure::run_all(vec![spec], &interrupted)?;
        let f = done.remove(0);
        if !f.status.success() && f.status.code() != Some(1) {
            return Err(io::Error::other(failure(&f)));
        }
        Ok(Measured {
            scenario: Scenario::Webdav,
            run: self.run,
            files: written.files,
            bytes: written.bytes,
            secs: wall.as_secs_f64(),
            peak_rss_kb: f.peak_rss_kb,
            requests: 0,
            throttled: 0,
            requests_before_retry_after: 0,
        })
    }
}

/// The emulator's own rate for one stream: upload sessions with in-order fragments on one connection.
fn emulator_rate(dir: &Path, written: &Written, fragment: u64, run: usize) -> io::Result<Measured> {
    let graph = GraphEmulator::start(GraphOptions::default())?;
    let drive = graph.add_user(UPN);
    let auth = format!("Bearer {}", graph.token());
    let mut api = RawHttp::connect(graph.addr())?;
    let mut up = RawHttp::connect(graph.addr())?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    let mut buf = vec![0u8; fragment as usize];
    let start = Instant::now();
    for path in &names {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let total = std::fs::metadata(path)?.len();
        let r = api.request(
            "POST",
            &format!("/v1.0/drives/{drive}/root:/{name}:/createUploadSession"),
            &[("Authorization", auth.as_str())],
            Body::Bytes(b"{}"),
        )?;
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let url = v["uploadUrl"].as_str().unwrap_or("");
        let target = url
            .split_once("//")
            .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
            .ok_or_else(|| io::Error::other(format!("no uploadUrl: {}", r.text())))?;
        let mut file = std::fs::File::open(path)?;
        let mut at = 0u64;
        while at < total {
            let n = fragment.min(total - at) as usize;
            file.read_exact(&mut buf[..n])?;
            let range = format!("bytes {at}-{}/{total}", at + n as u64 - 1);
            let r = up.request(
                "PUT",
                &target,
                &[("Content-Range", range.as_str())],
                Body::Bytes(&buf[..n]),
            )?;
            if !(200..=202).contains(&r.status) {
                return Err(io::Error::other(format!("fragment refused: {}", r.text())));
            }
            at += n as u64;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let s = graph.stats();
    Ok(Measured {
        scenario: Scenario::Emulator,
        run,
        files: written.files,
        bytes: written.bytes,
        secs,
        peak_rss_kb: None,
        requests: s.requests,
        throttled: s.throttled,
        requests_before_retry_after: s.requests_before_retry_after,
    })
}

fn line(m: &Measured, args: &GraphArgs) -> String {
    let rss = m
        .peak_rss_kb
        .map_or("-".into(), |k| format!("{} MB", k / 1024));
    match m.scenario {
        Scenario::Emulator | Scenario::Big => format!(
            "run {} {:?}: {:.1} MB/s ({} MB in {:.1} s), peak RSS {rss}",
            m.run,
            m.scenario,
            m.mb_per_s(),
            m.bytes / MB,
            m.secs
        ),
        Scenario::Small | Scenario::Webdav => format!(
            "run {} {:?} ({} files): {:.0} files/s ({:.1} s), peak RSS {rss}",
            m.run,
            m.scenario,
            m.files,
            m.files_per_s(),
            m.secs
        ),
        Scenario::Throttled => format!(
            "run {} Throttled: {:.1} accepted requests/s of a budget of {:.1}/s ({} requests, {} throttled, \
             {} before Retry-After expired), {:.1} s, peak RSS {rss}",
            m.run,
            m.accepted_rate(),
            args.budget as f64 / args.window_secs.max(1) as f64,
            m.requests,
            m.throttled,
            m.requests_before_retry_after,
            m.secs
        ),
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn med(all: &[Measured], s: Scenario, files: Option<u64>, f: fn(&Measured) -> f64) -> Option<f64> {
    median(
        all.iter()
            .filter(|m| m.scenario == s && files.is_none_or(|n| m.files == n))
            .map(f)
            .collect(),
    )
}

fn summary_json(all: &[Measured], args: &GraphArgs, files: u64) -> Value {
    let emulator = med(all, Scenario::Emulator, None, Measured::mb_per_s);
    let big = med(all, Scenario::Big, None, Measured::mb_per_s);
    let small = med(all, Scenario::Small, Some(files), Measured::files_per_s);
    let dav = med(all, Scenario::Webdav, None, Measured::files_per_s);
    let thr = med(all, Scenario::Throttled, None, Measured::accepted_rate);
    let budget_rate = args.budget as f64 / args.window_secs.max(1) as f64;
    let early: u64 = all.iter().map(|m| m.requests_before_retry_after).sum();
    let rss = |n: Option<u64>| {
        median(
            all.iter()
                .filter(|m| m.scenario == Scenario::Small && n.is_none_or(|x| m.files == x))
                .filter_map(|m| m.peak_rss_kb.map(|k| k as f64 / 1024.0))
                .collect(),
        )
    };
    json!({
        "emulator_single_stream_mb_s": emulator,
        "ferry_big_mb_s": big,
        "big_ratio_to_single_stream": big.zip(emulator).map(|(b, e)| b / e),
        "ferry_small_files_s": small,
        "ferry_webdav_files_s": dav,
        "small_ratio_to_webdav": small.zip(dav).map(|(s, d)| s / d),
        "throttled_accepted_requests_s": thr,
        "throttled_ratio_to_budget": thr.map(|t| t / budget_rate),
        "requests_before_retry_after": early,
        "small_peak_rss_mb": rss(Some(files)),
        "small_4x_peak_rss_mb": rss(Some(files * 4)),
    })
}

fn summary(all: &[Measured], args: &GraphArgs, files: u64) -> String {
    let v = summary_json(all, args, files);
    let f = |k: &str| v[k].as_f64().map_or("-".into(), |x| format!("{x:.2}"));
    format!(
        "\nGraph target (medians)\n\
         emulator single stream     {} MB/s\n\
         ferry big files            {} MB/s   ratio {} (issue 11: ≥ 0.8)\n\
         ferry small files          {} files/s   vs WebDAV {} files/s: ratio {} (≥ 1)\n\
         throttled                  {} accepted req/s of {:.1}/s: ratio {} (≥ 0.9)\n\
         requests before Retry-After {} (must be 0)\n\
         peak RSS small             {} MB   (4× files: {} MB)",
        f("emulator_single_stream_mb_s"),
        f("ferry_big_mb_s"),
        f("big_ratio_to_single_stream"),
        f("ferry_small_files_s"),
        f("ferry_webdav_files_s"),
        f("small_ratio_to_webdav"),
        f("throttled_accepted_requests_s"),
        args.budget as f64 / args.window_secs.max(1) as f64,
        f("throttled_ratio_to_budget"),
        v["requests_before_retry_after"],
        f("small_peak_rss_mb"),
        f("small_4x_peak_rss_mb"),
    )
}
