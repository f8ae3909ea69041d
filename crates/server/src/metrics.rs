//! `/metrics`: Prometheus text exposition (format 0.0.4) of what an operator watches.
//!
//! Two sources, on purpose: request counters live in memory (since the server started), and the
//! programme's state is read from the store at scrape time (so it is right after a restart and with several
//! processes on one store). Labels are bounded: routes are the route table's patterns (never a raw path
//! with ids in it), states and outcomes are enum names.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `ferry_http_requests_total` | counter | `class` (2xx/4xx/5xx) |
//! | `ferry_http_route_requests_total` | counter | `method`, `route`, `class` |
//! | `ferry_http_route_request_seconds_sum` | counter | `method`, `route` |
//! | `ferry_tenants` | gauge | |
//! | `ferry_projects` | gauge | `state` |
//! | `ferry_events` | gauge | `state` |
//! | `ferry_mappings` | gauge | |
//! | `ferry_passes_total` | counter | `kind`, `outcome` |
//! | `ferry_items_total` | counter | `result` (copied/skipped/failed) |
//! | `ferry_copied_bytes_total` | counter | |
//! | `ferry_credentials` | gauge | `status` (valid/expiring_7d/expired) |
//! | `ferry_tickets` | gauge | `status` |
//! | `ferry_transactions` | gauge | `status` |
//! | `ferry_audit_entries_total` | counter | |

use crate::{ApiResult, AppState};
use chrono::TimeDelta;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// (method, route pattern, status class).
type RouteKey = (String, String, &'static str);

/// Counters kept in memory since the server started.
#[derive(Default)]
pub struct Metrics {
    requests_2xx: AtomicU64,
    requests_4xx: AtomicU64,
    requests_5xx: AtomicU64,
    /// (method, route pattern, class) → (count, total microseconds).
    routes: Mutex<BTreeMap<RouteKey, (u64, u64)>>,
}

fn class(status: u16) -> &'static str {
    match status {
        500.. => "5xx",
        400..=499 => "4xx",
        _ => "2xx",
    }
}

impl Metrics {
    /// Count one answered request.
    pub fn request(&self, status: u16) {
        let c = match class(status) {
            "5xx" => &self.requests_5xx,
            "4xx" => &self.requests_4xx,
            _ => &self.requests_2xx,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Count one answered request of `route` (the route table's pattern; `None` when no route matched),
    /// with how long it took.
    pub fn record(&self, method: &str, route: Option<&str>, status: u16, took: Duration) {
        self.request(status);
        let key = (
            method.to_string(),
            route.unwrap_or("unmatched").to_string(),
            class(status),
        );
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let e = routes.entry(key).or_insert((0, 0));
        e.0 += 1;
        e.1 += u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    }
}

/// Prometheus label values escape `\`, `"` and newlines.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The exposition text.
pub async fn render(st: &AppState) -> ApiResult<String> {
    let mut out = String::new();
    let m = &st.metrics;
    header(
        &mut out,
        "ferry_http_requests_total",
        "counter",
        "HTTP requests answered, by status class.",
    );
    for (class, c) in [
        ("2xx", &m.requests_2xx),
        ("4xx", &m.requests_4xx),
        ("5xx", &m.requests_5xx),
    ] {
        let _ = writeln!(
            out,
            "ferry_http_requests_total{{class=\"{class}\"}} {}",
            c.load(Ordering::Relaxed)
        );
    }
    let routes: Vec<_> = m
        .routes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    header(
        &mut out,
        "ferry_http_route_requests_total",
        "counter",
        "HTTP requests answered, by method, route pattern and status class.",
    );
    for ((method, route, class), (n, _)) in &routes {
        let _ = writeln!(
            out,
            "ferry_http_route_requests_total{{method=\"{method}\",route=\"{}\",class=\"{class}\"}} {n}",
            label(route)
        );
    }
    header(
        &mut out,
        "ferry_http_route_request_seconds_sum",
        "counter",
        "Seconds spent answering requests, by method and route pattern (divide by the request count for the mean).",
    );
    let mut seconds: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for ((method, route, _), (_, micros)) in &routes {
        *seconds.entry((method, route)).or_default() += micros;
    }
    for ((method, route), micros) in seconds {
        let _ = writeln!(
            out,
            "ferry_http_route_request_seconds_sum{{method=\"{method}\",route=\"{}\"}} {:.6}",
            label(route),
            micros as f64 / 1e6
        );
    }

    let pool = st.pool();
    let scalar = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).fetch_one(pool);
    header(&mut out, "ferry_tenants", "gauge", "Tenants.");
    let _ = writeln!(
        out,
        "ferry_tenants {}",
        scalar("SELECT COUNT(*) FROM prog_tenant").await?
    );

    let by = |sql: &'static str| sqlx::query_as::<_, (String, i64)>(sql).fetch_all(pool);
    header(&mut out, "ferry_projects", "gauge", "Projects by state.");
    for (state, n) in
        by("SELECT state, COUNT(*) FROM prog_project GROUP BY state ORDER BY state").await?
    {
        let _ = writeln!(out, "ferry_projects{{state=\"{}\"}} {n}", label(&state));
    }
    header(&mut out, "ferry_events", "gauge", "Events by state.");
    for (state, n) in
        by("SELECT state, COUNT(*) FROM prog_event GROUP BY state ORDER BY state").await?
    {
        let _ = writeln!(out, "ferry_events{{state=\"{}\"}} {n}", label(&state));
    }
    header(
        &mut out,
        "ferry_mappings",
        "gauge",
        "Mappings of all projects.",
    );
    let _ = writeln!(
        out,
        "ferry_mappings {}",
        scalar("SELECT COUNT(*) FROM prog_mapping").await?
    );

    header(
        &mut out,
        "ferry_passes_total",
        "counter",
        "Passes by kind and outcome (running, succeeded, failed).",
    );
    let passes: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, outcome, COUNT(*) FROM prog_pass GROUP BY kind, outcome ORDER BY kind, outcome",
    )
    .fetch_all(pool)
    .await?;
    for (kind, outcome, n) in passes {
        let _ = writeln!(
            out,
            "ferry_passes_total{{kind=\"{}\",outcome=\"{}\"}} {n}",
            label(&kind),
            label(&outcome)
        );
    }
    let items: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(json_extract(counters, '$.copied')), 0), COALESCE(SUM(json_extract(counters, '$.skipped')), 0),
                COALESCE(SUM(json_extract(counters, '$.failed')), 0), COALESCE(SUM(json_extract(counters, '$.bytes')), 0)
         FROM prog_pass WHERE counters IS NOT NULL AND json_valid(counters)",
    )
    .fetch_one(pool)
    .await?;
    header(
        &mut out,
        "ferry_items_total",
        "counter",
        "Items (messages, files) of finished passes, by result.",
    );
    for (result, n) in [
        ("copied", items.0),
        ("skipped", items.1),
        ("failed", items.2),
    ] {
        let _ = writeln!(out, "ferry_items_total{{result=\"{result}\"}} {n}");
    }
    header(
        &mut out,
        "ferry_copied_bytes_total",
        "counter",
        "Bytes copied by finished passes.",
    );
    let _ = writeln!(out, "ferry_copied_bytes_total {}", items.3);

    let now = st.clock.now();
    let soon = now.checked_add_signed(TimeDelta::days(7)).unwrap_or(now);
    let creds: (i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(expires_at <= ?1), 0), COALESCE(SUM(expires_at > ?1 AND expires_at <= ?2), 0), COALESCE(SUM(expires_at > ?2), 0) FROM prog_credential",
    )
    .bind(crate::db::ts(now))
    .bind(crate::db::ts(soon))
    .fetch_one(pool)
    .await?;
    header(
        &mut out,
        "ferry_credentials",
        "gauge",
        "Stored credentials: expired, expiring within 7 days (supply new ones), valid beyond.",
    );
    for (status, n) in [
        ("expired", creds.0),
        ("expiring_7d", creds.1),
        ("valid", creds.2),
    ] {
        let _ = writeln!(out, "ferry_credentials{{status=\"{status}\"}} {n}");
    }
    header(&mut out, "ferry_tickets", "gauge", "Tickets by status.");
    for (status, n) in
        by("SELECT status, COUNT(*) FROM prog_ticket GROUP BY status ORDER BY status").await?
    {
        let _ = writeln!(out, "ferry_tickets{{status=\"{}\"}} {n}", label(&status));
    }
    header(
        &mut out,
        "ferry_transactions",
        "gauge",
        "Transactions by status.",
    );
    for (status, n) in
        by("SELECT status, COUNT(*) FROM prog_transaction GROUP BY status ORDER BY status").await?
    {
        let _ = writeln!(
            out,
            "ferry_transactions{{status=\"{}\"}} {n}",
            label(&status)
        );
    }
    header(
        &mut out,
        "ferry_audit_entries_total",
        "counter",
        "Audit entries written.",
    );
    let _ = writeln!(
        out,
        "ferry_audit_entries_total {}",
        scalar("SELECT COUNT(*) FROM prog_audit").await?
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn requests_count_by_class_and_route() {
        let m = Metrics::default();
        m.record("GET", Some("/healthz"), 200, Duration::from_millis(2));
        m.record("GET", Some("/healthz"), 200, Duration::from_millis(3));
        m.record("GET", None, 404, Duration::from_millis(1));
        assert_eq!(m.requests_2xx.load(Ordering::Relaxed), 2);
        assert_eq!(m.requests_4xx.load(Ordering::Relaxed), 1);
        let routes = m.routes.lock().unwrap();
        assert_eq!(
            routes[&("GET".to_string(), "/healthz".to_string(), "2xx")],
            (2, 5_000)
        );
        assert!(routes.contains_key(&("GET".to_string(), "unmatched".to_string(), "4xx")));
    }
}
