//! `ferry-bench programme`: the programme service at scale (issue 12 §5, issue 13's page budget).
//!
//! Starts the real `ferry serve` binary on a free loopback port with a temp data dir — on SQLite, and on
//! PostgreSQL (`--store`) when `--postgres URL` or `FERRY_TEST_POSTGRES` is given — and, through the HTTP
//! API as any client would, times for each run on a fresh tenant and project: importing a CSV of 20,000
//! mappings, creating one event over all of them, and that event's report; then, on a second project of
//! 10,000 mappings in an event, the dashboard's mappings grid and project page, fetched with a signed-in
//! session cookie. Runs alternate which store goes first; the table shows medians and the goal.
//!
//! Each store keeps one server for every run, so run N finds the projects of runs 1..N-1 in its database
//! (a store that slows down as it fills shows it). Times are wall-clock from the request's first byte
//! sent to the answer's last byte read, on loopback.

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ProgrammeArgs {
    /// Mappings in the import / event / report project.
    #[arg(long, default_value_t = 20_000)]
    mappings: usize,
    /// Mappings in the project whose dashboard pages are timed.
    #[arg(long, default_value_t = 10_000)]
    page_mappings: usize,
    /// Runs per store, alternating which store goes first; the table shows medians.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Smoke run: 2,000 and 1,000 mappings, 2 runs.
    #[arg(long)]
    quick: bool,
    /// A PostgreSQL database to run the server on as well (its contents are kept; use an empty one).
    /// Default: a fresh database in the cluster `FERRY_TEST_POSTGRES` names, if set.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// The `ferry` binary [default: next to ferry-bench].
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,
    /// Also write every number (per run and medians) to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// What is timed, with its goal in milliseconds.
const OPS: [(&str, f64); 5] = [
    ("import CSV", 1000.0),
    ("create event", 1000.0),
    ("event report", 1000.0),
    ("mappings grid page", 200.0),
    ("project page", 200.0),
];

/// One `ferry serve` on one store.
struct Server {
    store: &'static str,
    base: String,
    child: Child,
    token: String,
    http: reqwest::Client,
    log: PathBuf,
    /// A fresh PostgreSQL database (dropped after the server stops).
    _db: Option<ferry_testkit::postgres::TestDatabase>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// An operator token as `FERRY_BOOTSTRAP_TOKEN` needs it: `fy_` and 43 random base64url characters.
pub(crate) fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = fastrand::Rng::new();
    let tail: String = (0..43)
        .map(|_| char::from(ALPHABET[rng.usize(..ALPHABET.len())]))
        .collect();
    format!("fy_{tail}")
}

impl Server {
    async fn start(
        ferry: &Path,
        work: &Path,
        store: &'static str,
        url: Option<String>,
        db: Option<ferry_testkit::postgres::TestDatabase>,
    ) -> io::Result<Server> {
        let data = work.join(store);
        std::fs::create_dir_all(&data)?;
        let port = ferry_testkit::port::free_port()?;
        let token = random_token();
        let log = data.join("serve.log");
        let mut cmd = Command::new(ferry);
        cmd.arg("--data")
            .arg(&data)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("FERRY_BOOTSTRAP_TOKEN", &token)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(data.join("serve.out"))?)
            .stderr(std::fs::File::create(&log)?);
        if let Some(url) = url {
            // The variable rather than the flag: a flag shows in process lists.
            cmd.env("FERRY_STORE", url);
        }
        let child = cmd.spawn()?;
        let server = Server {
            store,
            base: format!("http://127.0.0.1:{port}"),
            child,
            token,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| other(format!("an HTTP client: {e}")))?,
            log,
            _db: db,
        };
        wait_healthy(
            &server.http,
            &server.base,
            &format!("ferry serve on {store}"),
            &server.log,
        )
        .await?;
        Ok(server)
    }

    /// An API call as the operator; returns the answer's JSON and the time it took.
    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> io::Result<(Value, Duration)> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).map_err(|e| other(e.to_string()))?);
        }
        let t = Instant::now();
        let resp = req
            .send()
            .await
            .map_err(|e| other(format!("{method} {path} on {}: {e}", self.store)))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| other(format!("{method} {path} on {}: {e}", self.store)))?;
        let took = t.elapsed();
        if !status.is_success() {
            let excerpt: String = text.chars().take(400).collect();
            return Err(other(format!(
                "{method} {path} on {}: {status}: {excerpt}",
                self.store
            )));
        }
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((v, took))
    }

    /// A tenant (24x7, enough seats) and a mail project with every gate confirmed; returns the project's
    /// API path and its dashboard path.
    async fn project(&self, name: &str, seats: usize) -> io::Result<(String, String)> {
        let (t, _) = self
            .api(
                reqwest::Method::POST,
                "/api/v1/tenants",
                Some(&json!({
                    "name": name, "plan": "commercial", "seats": { "paid": seats.max(500) },
                    "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7",
                })),
            )
            .await?;
        let tenant = t["result"]["id"]
            .as_str()
            .ok_or_else(|| other(format!("no tenant id in {t}")))?
            .to_string();
        let (p, _) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/tenants/{tenant}/projects"),
                Some(&json!({ "name": "Mail", "workload": "mail" })),
            )
            .await?;
        let project = p["result"]["id"]
            .as_str()
            .ok_or_else(|| other(format!("no project id in {p}")))?
            .to_string();
        let api = format!("/api/v1/tenants/{tenant}/projects/{project}");
        let (gates, _) = self
            .api(reqwest::Method::GET, &format!("{api}/gates"), None)
            .await?;
        for g in gates["gates"].as_array().into_iter().flatten() {
            if let Some(kind) = g["kind"].as_str() {
                self.api(
                    reqwest::Method::POST,
                    &format!("{api}/gates/{kind}/confirm"),
                    Some(&json!({})),
                )
                .await?;
            }
        }
        Ok((api, format!("/tenants/{tenant}/projects/{project}")))
    }

    /// Import `n` mappings, create one event over all of them, read its report: the three times.
    async fn load(&self, api: &str, n: usize, run: usize) -> io::Result<[Duration; 3]> {
        let mut csv = String::from("EmailAddress,UserName,Password\n");
        for i in 0..n {
            csv.push_str(&format!("user{i}@run{run}.example,user{i},pw-{run}-{i}\n"));
        }
        let (_, import) = self
            .api(
                reqwest::Method::POST,
                &format!("{api}/mappings"),
                Some(&json!({ "csv": csv })),
            )
            .await?;
        let (all, _) = self
            .api(reqwest::Method::GET, &format!("{api}/mappings"), None)
            .await?;
        let ids: Vec<Value> = all["mappings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["id"].clone())
            .collect();
        if ids.len() != n {
            return Err(other(format!(
                "{}: the project lists {} mappings after importing {n}",
                self.store,
                ids.len()
            )));
        }
        // A week away: outside the lead time, never started by the scheduler during the bench.
        let start = (Utc::now() + TimeDelta::days(7)).to_rfc3339();
        let (ev, create) = self
            .api(
                reqwest::Method::POST,
                &format!("{api}/events"),
                Some(&json!({
                    "name": format!("all {run}"), "kind": "synchronization",
                    "start": start, "mappings": ids,
                })),
            )
            .await?;
        let event = ev["result"]["id"]
            .as_str()
            .ok_or_else(|| other(format!("no event id in {ev}")))?
            .to_string();
        let (_, report) = self
            .api(
                reqwest::Method::GET,
                &format!("{api}/events/{event}/report"),
                None,
            )
            .await?;
        Ok([import, create, report])
    }

    /// A signed-in dashboard session's `Cookie` header (CSRF cookie from `GET /`, session from sign-in).
    async fn sign_in(&self) -> io::Result<String> {
        let r = self
            .http
            .get(format!("{}/", self.base))
            .send()
            .await
            .map_err(|e| other(format!("GET / on {}: {e}", self.store)))?;
        let csrf = cookie(&r, "ferry_csrf")
            .ok_or_else(|| other(format!("GET / on {}: no ferry_csrf cookie", self.store)))?;
        let r = self
            .http
            .post(format!("{}/sign-in", self.base))
            .header("cookie", format!("ferry_csrf={csrf}"))
            .form(&[("csrf", csrf.as_str()), ("token", self.token.as_str())])
            .send()
            .await
            .map_err(|e| other(format!("POST /sign-in on {}: {e}", self.store)))?;
        let session = cookie(&r, "ferry_session").ok_or_else(|| {
            other(format!(
                "POST /sign-in on {}: {} and no session cookie",
                self.store,
                r.status()
            ))
        })?;
        Ok(format!("ferry_csrf={csrf}; ferry_session={session}"))
    }

    /// `GET path` with the session cookie; the time it took (a non-200 answer is an error).
    async fn page(&self, cookies: &str, path: &str) -> io::Result<Duration> {
        let t = Instant::now();
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookies)
            .send()
            .await
            .map_err(|e| other(format!("GET {path} on {}: {e}", self.store)))?;
        let status = r.status();
        let body = r
            .text()
            .await
            .map_err(|e| other(format!("GET {path} on {}: {e}", self.store)))?;
        let took = t.elapsed();
        if status != reqwest::StatusCode::OK {
            let excerpt: String = body.chars().take(300).collect();
            return Err(other(format!(
                "GET {path} on {}: {status}: {excerpt}",
                self.store
            )));
        }
        Ok(took)
    }
}

fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (n, v) = pair.split_once('=')?;
            (n.trim() == name).then(|| v.trim().to_owned())
        })
}

fn median_ms(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// One run on one store: the five times, in [`OPS`] order.
async fn one_run(s: &Server, args: (usize, usize), run: usize) -> io::Result<[Duration; 5]> {
    let (n, pages_n) = args;
    let (api, _) = s.project(&format!("Bench {run}"), n).await?;
    let [import, create, report] = s.load(&api, n, run).await?;
    let (api2, page) = s.project(&format!("Pages {run}"), pages_n).await?;
    s.load(&api2, pages_n, 1000 + run).await?;
    let cookies = s.sign_in().await?;
    // One untimed fetch of each page first: the timed ones are the steady state a user clicking sees.
    s.page(&cookies, &format!("{page}/mappings")).await?;
    s.page(&cookies, &page).await?;
    let grid = s.page(&cookies, &format!("{page}/mappings")).await?;
    let project = s.page(&cookies, &page).await?;
    Ok([import, create, report, grid, project])
}

pub fn bench(args: &ProgrammeArgs) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: &ProgrammeArgs) -> io::Result<()> {
    let (n, pages_n, runs) = if args.quick {
        (2_000, 1_000, 2)
    } else {
        (args.mappings, args.page_mappings, args.runs.max(1))
    };
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
    let work = tempfile::Builder::new()
        .prefix("ferry-bench-programme-")
        .tempdir_in(ferry_testkit::temp_root())?;
    let mut servers = vec![Server::start(&ferry, work.path(), "SQLite", None, None).await?];
    let pg = match &args.postgres {
        Some(url) => Some((url.clone(), None)),
        None if std::env::var_os(ferry_testkit::postgres::URL_ENV).is_some() => {
            ferry_testkit::postgres::TestDatabase::create("bench_programme")?
                .map(|db| (db.url().to_string(), Some(db)))
        }
        None => None,
    };
    match pg {
        Some((url, db)) => {
            servers.push(Server::start(&ferry, work.path(), "PostgreSQL", Some(url), db).await?)
        }
        None => eprintln!(
            "ferry-bench programme: no PostgreSQL (give --postgres URL or set {}): SQLite only",
            ferry_testkit::postgres::URL_ENV
        ),
    }
    eprintln!(
        "ferry-bench programme: {n} mappings (import, event, report), {pages_n} for the pages, {runs} runs on {}",
        servers
            .iter()
            .map(|s| s.store)
            .collect::<Vec<_>>()
            .join(" and ")
    );
    // times[store][op] = one entry per run, in ms.
    let mut times = vec![vec![Vec::new(); OPS.len()]; servers.len()];
    for run in 1..=runs {
        crate::check_interrupted()?;
        let mut order: Vec<usize> = (0..servers.len()).collect();
        if run % 2 == 0 {
            order.reverse();
        }
        for i in order {
            let t = one_run(&servers[i], (n, pages_n), run).await?;
            let ms: Vec<f64> = t.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
            eprintln!(
                "  run {run} {:<10} {}",
                servers[i].store,
                OPS.iter()
                    .zip(&ms)
                    .map(|((name, _), v)| format!("{name} {v:.0} ms"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for (k, v) in ms.into_iter().enumerate() {
                times[i][k].push(v);
            }
        }
    }
    println!();
    print!("{:<36} {:>8}", "operation (median ms)", "goal");
    for s in &servers {
        print!(" {:>12}", s.store);
    }
    println!();
    let mut summary = Vec::new();
    for (k, (name, goal)) in OPS.iter().enumerate() {
        let rows = if k < 3 { n } else { pages_n };
        let label = format!("{name} ({rows} mappings)");
        print!("{label:<36} {:>8}", format!("< {goal:.0}"));
        for (i, s) in servers.iter().enumerate() {
            let m = median_ms(times[i][k].clone());
            let mark = if m < *goal { "" } else { " MISS" };
            print!(" {:>12}", format!("{m:.0}{mark}"));
            summary.push(json!({
                "store": s.store, "operation": name, "mappings": rows, "goal_ms": goal,
                "median_ms": m, "runs_ms": times[i][k], "met": m < *goal,
            }));
        }
        println!();
    }
    if let Some(path) = &args.json {
        let doc =
            json!({ "mappings": n, "page_mappings": pages_n, "runs": runs, "results": summary });
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&doc).map_err(|e| other(e.to_string()))?,
        )?;
    }
    Ok(())
}

/// Wait until `base`'s `/healthz` answers 200 (at most 60 s); else an error naming `what` and its log.
pub(crate) async fn wait_healthy(
    http: &reqwest::Client,
    base: &str,
    what: &str,
    log: &std::path::Path,
) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(other(format!(
                "{what} did not answer /healthz within 60 s; see {}",
                log.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
