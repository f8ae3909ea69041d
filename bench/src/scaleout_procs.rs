//! The processes of `ferry-bench scaleout` and the API calls it makes: one `ferry serve` (on SQLite, or
//! `--queue` on PostgreSQL with passes only in workers), `ferry worker` children, a mail project from the
//! source Dovecot to a target Dovecot, an event over every mapping, and its report.

use crate::corpus;
use chrono::{DateTime, TimeDelta, Utc};
use ferry_testkit::Dovecot;
use serde_json::{Value, json};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The credential key every process of one run shares (`FERRY_CREDENTIAL_KEY`, base64 of 32 bytes).
const KEY: &str = "YmVuY2gtc2NhbGVvdXQta2V5LTMyLWJ5dGVzLWxvbmc=";

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// How the processes of one run are started.
pub struct Launch<'a> {
    pub ferry: &'a Path,
    /// The PostgreSQL URL (`FERRY_STORE`), or `None` for the SQLite store in the serve's `--data`.
    pub store: Option<&'a str>,
    pub heartbeat_secs: u64,
    pub dir: &'a Path,
}

impl Launch<'_> {
    fn command(&self, data: &Path, args: &[&str], log: &Path) -> io::Result<Command> {
        std::fs::create_dir_all(data)?;
        let out = std::fs::File::create(log)?;
        let mut cmd = Command::new(self.ferry);
        cmd.arg("--data")
            .arg(data)
            .args(args)
            .env("FERRY_CREDENTIAL_KEY", KEY)
            .env("FERRY_HEARTBEAT_SECS", self.heartbeat_secs.to_string())
            .env_remove("FERRY_STORE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out));
        if let Some(url) = self.store {
            // The variable rather than the flag: a flag shows in process lists.
            cmd.env("FERRY_STORE", url);
        }
        Ok(cmd)
    }

    /// `ferry serve`: with `queue`, `--queue --slots <own_slots>` (0: passes only in workers); without, its
    /// own pool of `PASS_SLOTS` (4) passes.
    pub async fn serve(&self, queue: Option<usize>) -> io::Result<Serve> {
        let port = ferry_testkit::port::free_port()?;
        let token = crate::programme::random_token();
        let log = self.dir.join("serve.log");
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["-v", "serve", "--listen", listen.as_str()];
        let slots = queue.map(|s| s.to_string());
        if let Some(s) = &slots {
            args.extend(["--queue", "--slots", s.as_str()]);
        }
        let child = self
            .command(&self.dir.join("serve"), &args, &log)?
            .env("FERRY_BOOTSTRAP_TOKEN", &token)
            .spawn()?;
        let serve = Serve {
            child,
            base: format!("http://127.0.0.1:{port}"),
            token,
            http: reqwest::Client::new(),
            log,
        };
        crate::programme::wait_healthy(&serve.http, &serve.base, "ferry serve", &serve.log).await?;
        Ok(serve)
    }

    /// `ferry worker --slots <slots>`, named `n`, with a data directory of its own (no store in it).
    pub fn worker(&self, n: usize, slots: usize) -> io::Result<Worker> {
        let log = self.dir.join(format!("worker-{n}.log"));
        let s = slots.to_string();
        let child = self
            .command(
                &self.dir.join(format!("w{n}")),
                &["-v", "worker", "--slots", s.as_str()],
                &log,
            )?
            .spawn()?;
        Ok(Worker { child, log })
    }
}

/// A child process killed when dropped.
pub struct Worker {
    pub child: Child,
    pub log: PathBuf,
}

impl Worker {
    /// The labels of the mappings whose passes this process logged as started (each once, in order).
    pub fn started(&self) -> Vec<String> {
        started_in(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The mapping labels of the `pass started` lines of a log, each once, in order.
pub fn started_in(log: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in log.lines().filter(|l| l.contains("pass started")) {
        // Strip the colour codes `-v` may add around field names.
        let plain: String = strip_ansi(line);
        if let Some(label) = plain
            .split_whitespace()
            .find_map(|w| w.strip_prefix("mapping="))
            && !out.iter().any(|l| l == label)
        {
            out.push(label.to_string());
        }
    }
    out
}

fn strip_ansi(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One `ferry serve` and an operator's API client.
pub struct Serve {
    child: Child,
    base: String,
    token: String,
    http: reqwest::Client,
    pub log: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one event took: the span from its first pass recorded to its last pass ended (the server's
/// timestamps), and each mapping's passes.
pub struct Finished {
    pub first_started: DateTime<Utc>,
    pub last_finished: DateTime<Utc>,
    /// Passes recorded per mapping (1 when none was retried).
    pub passes: Vec<u64>,
}

impl Finished {
    pub fn secs(&self) -> f64 {
        (self.last_finished - self.first_started).as_seconds_f64()
    }
}

impl Serve {
    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> io::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).map_err(|e| other(e.to_string()))?);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| other(format!("{method} {path}: {e}")))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| other(format!("{method} {path}: {e}")))?;
        if !status.is_success() {
            let excerpt: String = text.chars().take(400).collect();
            return Err(other(format!("{method} {path}: {status}: {excerpt}")));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A tenant, a mail project from `source` to `target` (Dovecot's master user on the target) with
    /// `users` imported and every gate confirmed; returns the project's API path.
    pub async fn project(
        &self,
        source: &Dovecot,
        target: &Dovecot,
        users: usize,
    ) -> io::Result<String> {
        use reqwest::Method;
        let t = self
            .api(
                Method::POST,
                "/tenants",
                Some(json!({
                    "name": "Scale-out", "plan": "commercial", "seats": { "paid": users.max(500) },
                    "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7",
                })),
            )
            .await?;
        let tenant = t["result"]["id"]
            .as_str()
            .ok_or_else(|| other(format!("no tenant id in {t}")))?;
        let p = self
            .api(
                Method::POST,
                &format!("/tenants/{tenant}/projects"),
                Some(json!({ "name": "Mail", "workload": "mail" })),
            )
            .await?;
        let project = p["result"]["id"]
            .as_str()
            .ok_or_else(|| other(format!("no project id in {p}")))?;
        let api = format!("/tenants/{tenant}/projects/{project}");
        let (admin, admin_pw) = Dovecot::master();
        self.api(
            Method::PUT,
            &format!("{api}/endpoints/source"),
            Some(json!({ "url": format!("{}?starttls=never", source.url()) })),
        )
        .await?;
        self.api(
            Method::PUT,
            &format!("{api}/endpoints/target"),
            Some(json!({ "url": format!("{}?starttls=never", target.url()), "username": admin })),
        )
        .await?;
        self.api(
            Method::PUT,
            &format!("{api}/endpoints/target/credential"),
            Some(json!({ "secret": admin_pw })),
        )
        .await?;
        let mut csv = String::from("EmailAddress,UserName,Password\n");
        for u in 0..users {
            let name = corpus::user_name(u);
            csv.push_str(&format!("{name},{name},{}\n", corpus::password(&name)));
        }
        self.api(
            Method::POST,
            &format!("{api}/mappings"),
            Some(json!({ "csv": csv })),
        )
        .await?;
        let gates = self.api(Method::GET, &format!("{api}/gates"), None).await?;
        for g in gates["gates"].as_array().into_iter().flatten() {
            if let Some(kind) = g["kind"].as_str() {
                self.api(
                    Method::POST,
                    &format!("{api}/gates/{kind}/confirm"),
                    Some(json!({})),
                )
                .await?;
            }
        }
        Ok(api)
    }

    /// A pilot synchronization event over every mapping of the project, starting in two seconds; its id.
    pub async fn event(&self, api: &str) -> io::Result<String> {
        let all = self
            .api(reqwest::Method::GET, &format!("{api}/mappings"), None)
            .await?;
        let ids: Vec<Value> = all["mappings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["id"].clone())
            .collect();
        let start = (Utc::now() + TimeDelta::seconds(2)).to_rfc3339();
        let ev = self
            .api(
                reqwest::Method::POST,
                &format!("{api}/events"),
                Some(json!({
                    "name": "Scale-out", "kind": "synchronization", "pilot": true,
                    "start": start, "mappings": ids,
                })),
            )
            .await?;
        Ok(ev["result"]["id"]
            .as_str()
            .ok_or_else(|| other(format!("no event id in {ev}")))?
            .to_string())
    }

    /// The event's report.
    pub async fn report(&self, api: &str, event: &str) -> io::Result<Value> {
        self.api(
            reqwest::Method::GET,
            &format!("{api}/events/{event}/report"),
            None,
        )
        .await
    }

    /// Wait (polling the report every 200 ms, at most `limit`) until every mapping's last pass has
    /// succeeded; a failed pass is an error.
    pub async fn wait_done(&self, api: &str, event: &str, limit: Duration) -> io::Result<Finished> {
        let deadline = Instant::now() + limit;
        loop {
            crate::check_interrupted()?;
            let r = self.report(api, event).await?;
            let ms = r["mappings"].as_array().cloned().unwrap_or_default();
            let outcome = |m: &Value| m["last_pass"]["outcome"].as_str().unwrap_or("").to_string();
            if let Some(m) = ms.iter().find(|m| outcome(m) == "failed") {
                return Err(other(format!(
                    "the pass of {} failed: {}; see {}",
                    m["label"],
                    m["last_pass"]["reason"],
                    self.log.display()
                )));
            }
            if !ms.is_empty() && ms.iter().all(|m| outcome(m) == "succeeded") {
                return finished(&ms);
            }
            if Instant::now() > deadline {
                return Err(other(format!(
                    "the event's passes did not all succeed within {} s; see {}",
                    limit.as_secs(),
                    self.log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn finished(ms: &[Value]) -> io::Result<Finished> {
    let at = |v: &Value| -> io::Result<DateTime<Utc>> {
        v.as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| other(format!("not a time in the report: {v}")))
    };
    let mut first: Option<DateTime<Utc>> = None;
    let mut last: Option<DateTime<Utc>> = None;
    let mut passes = Vec::new();
    for m in ms {
        let s = at(&m["last_pass"]["started_at"])?;
        let f = at(&m["last_pass"]["finished_at"])?;
        first = Some(first.map_or(s, |x| x.min(s)));
        last = Some(last.map_or(f, |x| x.max(f)));
        passes.push(m["passes"].as_u64().unwrap_or(0));
    }
    match (first, last) {
        (Some(first_started), Some(last_finished)) => Ok(Finished {
            first_started,
            last_finished,
            passes,
        }),
        _ => Err(other("the report lists no mapping")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_in_reads_each_mapping_once_through_colour_codes() {
        let log = "2026 INFO pass queued mapping=a@x\n\
                   2026 INFO ferry_server: pass started project=Mail \u{1b}[3mmapping\u{1b}[0m\u{1b}[2m=\u{1b}[0ma@x kind=initial\n\
                   2026 INFO pass started project=Mail mapping=b@x kind=initial attempt=1\n\
                   2026 INFO pass started project=Mail mapping=a@x kind=initial attempt=2\n";
        assert_eq!(started_in(log), vec!["a@x".to_string(), "b@x".to_string()]);
    }
}
