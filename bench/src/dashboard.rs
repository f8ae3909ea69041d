//! `ferry-bench dashboard`: how fast the dashboard's pages answer with a big project (issue 13: "pages answer
//! in under 200 ms with 10,000 mappings in a project"). A benchmark, not a test.
//!
//! Starts the `ferry` binary (`ferry serve` on a free loopback port, a fresh data directory, a random
//! operator token in `FERRY_BOOTSTRAP_TOKEN`), creates a tenant and a mail project, imports `--mappings`
//! mappings through the API, signs in as a browser does (CSRF cookie from `GET /`, `POST /sign-in`), then
//! requests each page `--requests` times on one keep-alive connection and reports the median, the 95th
//! percentile and the maximum, against the 200 ms target. The project's gates are confirmed and one
//! synchronization event holds every mapping but the last 100 (so the grid has `not scheduled` rows, and the
//! event's pages a big event). Passes need mail servers, so none runs: instead the server is stopped, three
//! days of pass history are recorded for the event's mappings through the store's operations (the event
//! running since then; `dashboard_seed` says exactly what), and the server is started again on the same
//! data directory (`--no-history`: the event stays a week ahead, without passes). Every
//! page of the dashboard is requested: tenant, project, grid (first, last, searched, by state, by event),
//! mapping detail, events (list and calendar), event, its live view and report, project report,
//! assessment, tickets, approvals, audit log, transactions.

use crate::interrupted;
use ferry_testkit::http::{Body, HttpResponse, RawHttp};
use serde_json::{Value, json};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The target the issue sets.
const TARGET: Duration = Duration::from_millis(200);

#[derive(clap::Args, Debug)]
pub struct DashboardArgs {
    /// Mappings in the project.
    #[arg(long, default_value_t = 10_000)]
    mappings: usize,
    /// Timed requests per page (after one untimed warm-up request).
    #[arg(long, default_value_t = 20)]
    requests: usize,
    /// The `ferry` binary [default: next to ferry-bench].
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,
    /// Also write the numbers to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Leave the event's mappings without passes (the bench before session 7): by default they get three
    /// days of pass history (`dashboard_seed`).
    #[arg(long)]
    no_history: bool,
}

/// `ferry serve`, stopped (by its process id) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn token() -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = fastrand::Rng::new();
    let t: String = (0..43).map(|_| A[rng.usize(..A.len())] as char).collect();
    format!("fy_{t}")
}

fn start_server(ferry: &PathBuf, dir: &Path, operator: &str) -> io::Result<Server> {
    let port = ferry_testkit::port::free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .map_err(|e| err(format!("{e}")))?;
    let child = Command::new(ferry)
        .arg("--data")
        .arg(dir)
        .args(["serve", "--listen", &addr.to_string()])
        .env("FERRY_BOOTSTRAP_TOKEN", operator)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| err(format!("starting {}: {e}", ferry.display())))?;
    let server = Server { child, addr };
    // Poll /healthz (bounded), never sleep for a result.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = ferry_testkit::http::request(addr, "GET", "/healthz", &[], Body::None)
            && r.status == 200
        {
            return Ok(server);
        }
        if Instant::now() > deadline || interrupted() {
            return Err(err("ferry serve did not answer /healthz within 60 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn api(c: &mut RawHttp, token: &str, method: &str, path: &str, body: &Value) -> io::Result<Value> {
    let auth = format!("Bearer {token}");
    let text = body.to_string();
    let r = c.request(
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Body::Bytes(text.as_bytes()),
    )?;
    if !(200..300).contains(&r.status) {
        return Err(err(format!("{method} {path}: {} {}", r.status, r.text())));
    }
    serde_json::from_slice(&r.body).map_err(|e| err(format!("{method} {path}: {e}")))
}

fn cookie(r: &HttpResponse, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| {
            let pair = v.split(';').next()?;
            let (n, v) = pair.split_once('=')?;
            (n.trim() == name).then(|| v.trim().to_owned())
        })
}

/// Median, p95 and max of `d`, in ms.
fn stats(mut d: Vec<Duration>) -> (f64, f64, f64) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(d[((d.len() - 1) as f64 * q).round() as usize]);
    (at(0.5), at(0.95), ms(d[d.len() - 1]))
}

pub fn bench(a: &DashboardArgs) -> io::Result<()> {
    let ferry = match &a.ferry {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("ferry"),
    };
    let operator = token();
    let dir = tempfile::tempdir()?;
    let mut server = start_server(&ferry, dir.path(), &operator)?;
    let mut c = RawHttp::connect(server.addr)?;
    let t = api(
        &mut c,
        &operator,
        "POST",
        "/api/v1/tenants",
        &json!({ "name": "Bench", "plan": "commercial", "seats": { "paid": 20000 },
                 "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7" }),
    )?;
    let tenant = t["result"]["id"].as_str().unwrap_or_default().to_owned();
    let p = api(
        &mut c,
        &operator,
        "POST",
        &format!("/api/v1/tenants/{tenant}/projects"),
        &json!({ "name": "Mail", "workload": "mail" }),
    )?;
    let project = p["result"]["id"].as_str().unwrap_or_default().to_owned();
    let base = format!("/tenants/{tenant}/projects/{project}");
    let started = Instant::now();
    let mut csv = String::from("EmailAddress,UserName,Password\n");
    for i in 0..a.mappings {
        csv.push_str(&format!("user{i:06}@contoso.com,user{i:06},pw-{i}\n"));
    }
    api(
        &mut c,
        &operator,
        "POST",
        &format!("/api/v1{base}/mappings"),
        &json!({ "csv": csv }),
    )?;
    eprintln!(
        "imported {} mappings in {:.1} s",
        a.mappings,
        started.elapsed().as_secs_f64()
    );
    let all = api(
        &mut c,
        &operator,
        "GET",
        &format!("/api/v1{base}/mappings"),
        &json!(null),
    )?;
    let ids: Vec<Value> = all["mappings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["id"].clone())
        .collect();
    let first = ids
        .first()
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let gates = api(
        &mut c,
        &operator,
        "GET",
        &format!("/api/v1{base}/gates"),
        &json!(null),
    )?;
    for g in gates["gates"].as_array().into_iter().flatten() {
        if let Some(kind) = g["kind"].as_str() {
            api(
                &mut c,
                &operator,
                "POST",
                &format!("/api/v1{base}/gates/{kind}/confirm"),
                &json!({}),
            )?;
        }
    }
    // A week away: outside the lead time, never started during the bench.
    let start = (chrono::Utc::now() + chrono::TimeDelta::days(7)).to_rfc3339();
    let held = ids.len().saturating_sub(100).max(1).min(ids.len());
    let ev = api(
        &mut c,
        &operator,
        "POST",
        &format!("/api/v1{base}/events"),
        &json!({ "name": "Wave 1", "kind": "synchronization", "start": start,
                 "mappings": &ids[..held] }),
    )?;
    let event = ev["result"]["id"]
        .as_str()
        .ok_or_else(|| err(format!("no event id in {ev}")))?
        .to_owned();

    if !a.no_history {
        // Stop the server (the store is the data directory's SQLite file), record the history, start again.
        drop(c);
        drop(server);
        let t0 = Instant::now();
        let s = crate::dashboard_seed::seed(dir.path(), &project, &event)?;
        eprintln!(
            "recorded {} passes for the event's {} mappings in {:.1} s: {} Perfect, {} with skipped or failed \
             items, {} failed, {} running, {} queued",
            s.passes,
            s.mappings,
            t0.elapsed().as_secs_f64(),
            s.perfect,
            s.imperfect,
            s.failed,
            s.running,
            s.queued
        );
        server = start_server(&ferry, dir.path(), &operator)?;
        c = RawHttp::connect(server.addr)?;
    }

    // Sign in as a browser does.
    let r = c.request("GET", "/", &[], Body::None)?;
    let csrf = cookie(&r, "ferry_csrf").ok_or_else(|| err("no CSRF cookie from GET /"))?;
    let form = format!("csrf={csrf}&token={operator}");
    let jar = format!("ferry_csrf={csrf}");
    let r = c.request(
        "POST",
        "/sign-in",
        &[
            ("Cookie", &jar),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Body::Bytes(form.as_bytes()),
    )?;
    let session = cookie(&r, "ferry_session").ok_or_else(|| err("sign-in gave no session"))?;
    let jar = format!("ferry_csrf={csrf}; ferry_session={session}");

    let last_page = a.mappings.div_ceil(100).max(1);
    let pages = [
        ("tenant", format!("/tenants/{tenant}")),
        ("project", base.clone()),
        ("grid, page 1", format!("{base}/mappings")),
        (
            "grid, last page",
            format!("{base}/mappings?page={last_page}"),
        ),
        ("grid, searched", format!("{base}/mappings?q=user0099")),
        (
            "grid, not sched.",
            format!("{base}/mappings?state=not+scheduled"),
        ),
        (
            "grid, by event",
            format!("{base}/mappings?event={event}&page=50"),
        ),
        ("mapping detail", format!("{base}/mappings/{first}")),
        ("events", format!("{base}/events")),
        ("event", format!("{base}/events/{event}")),
        ("event live", format!("{base}/events/{event}/live")),
        ("event report", format!("{base}/events/{event}/report")),
        ("project report", format!("{base}/report")),
        ("assessment", format!("{base}/assessment")),
        ("tickets", format!("{base}/tickets")),
        ("approvals", format!("{base}/approvals")),
        ("audit", format!("/tenants/{tenant}/audit")),
        ("transactions", format!("/tenants/{tenant}/transactions")),
    ];
    let mut out = Vec::new();
    println!(
        "{:<18} {:>10} {:>10} {:>10}  (target {} ms, {} mappings, {} requests each)",
        "page",
        "median ms",
        "p95 ms",
        "max ms",
        TARGET.as_millis(),
        a.mappings,
        a.requests
    );
    for (name, path) in &pages {
        let mut times = Vec::with_capacity(a.requests);
        for i in 0..=a.requests {
            if interrupted() {
                return Err(err("interrupted"));
            }
            let t0 = Instant::now();
            let r = c.request("GET", path, &[("Cookie", &jar)], Body::None)?;
            let took = t0.elapsed();
            if r.status != 200 {
                return Err(err(format!("GET {path}: {}", r.status)));
            }
            if i > 0 {
                times.push(took);
            }
        }
        let (median, p95, max) = stats(times);
        let verdict = if p95 <= TARGET.as_secs_f64() * 1000.0 {
            "ok"
        } else {
            "over"
        };
        println!("{name:<18} {median:>10.1} {p95:>10.1} {max:>10.1}  {verdict}");
        out.push(json!({ "page": name, "median_ms": median, "p95_ms": p95, "max_ms": max }));
    }
    if let Some(path) = &a.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(
                &json!({ "mappings": a.mappings, "requests": a.requests, "pages": out }),
            )
            .map_err(|e| err(format!("{e}")))?,
        )?;
    }
    drop(server);
    Ok(())
}
