//! `/metrics`: Prometheus text exposition (format 0.0.4) of what an operator watches, rendered by the
//! `metrics` crate's Prometheus exporter (without its HTTP listener: the API serves the text).
//!
//! Two sources, on purpose: request counters live in memory (since the server started), and the
//! programme's state is read from the store at scrape time (so it is right after a restart and with several
//! processes on one store) and exported as gauges. Labels are bounded (issue 9, item 11): routes are the
//! route table's patterns (never a raw path with ids in it; `unmatched` when none matched), methods one of
//! a fixed set (`other` for any other method name), states and outcomes enum names.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `ferry_http_requests_total` | counter | `class` (2xx/4xx/5xx) |
//! | `ferry_http_route_requests_total` | counter | `method`, `route`, `class` |
//! | `ferry_http_route_request_seconds` | summary (`_sum`, `_count`, quantiles) | `method`, `route` |
//! | `ferry_auth_throttled_total` | counter | |
//! | `ferry_tenants` | gauge | |
//! | `ferry_projects` | gauge | `state` |
//! | `ferry_events` | gauge | `state` |
//! | `ferry_mappings` | gauge | |
//! | `ferry_passes_total` | gauge (read from the store) | `kind`, `outcome` |
//! | `ferry_items_total` | gauge (read from the store) | `result` (copied/skipped/failed) |
//! | `ferry_copied_bytes_total` | gauge (read from the store) | |
//! | `ferry_credentials` | gauge | `status` (valid/expiring_7d/expired) |
//! | `ferry_tickets` | gauge | `status` |
//! | `ferry_transactions` | gauge | `status` |
//! | `ferry_audit_entries_total` | gauge (read from the store) | |

use crate::{ApiResult, AppState};
use chrono::TimeDelta;
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

/// The HTTP methods that get their own label value; any other method name is counted as `other`, so a
/// client cannot add series by inventing methods.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The method label for `method`.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

fn class(status: u16) -> &'static str {
    match status {
        500.. => "5xx",
        400..=499 => "4xx",
        _ => "2xx",
    }
}

/// The server's metrics: a recorder of its own (not the process-global one, so several servers in one
/// process — the tests — count apart) and its exposition handle.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Label values each store gauge was given, so one that disappeared from the store is set to 0
    /// instead of keeping its last value.
    seen: Mutex<BTreeMap<&'static str, BTreeSet<String>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let m = Metrics {
            recorder,
            handle,
            seen: Mutex::new(BTreeMap::new()),
        };
        m.with(describe);
        m
    }
}

impl Metrics {
    /// Run `f` with this server's recorder as the `metrics` macros' recorder.
    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Count one answered request of `route` (the route table's pattern; `None` when no route matched),
    /// with how long it took.
    pub fn record(&self, method: &str, route: Option<&str>, status: u16, took: Duration) {
        let method = method_label(method);
        let route = route.unwrap_or("unmatched").to_string();
        let class = class(status);
        self.with(|| {
            counter!("ferry_http_requests_total", "class" => class).increment(1);
            counter!("ferry_http_route_requests_total", "method" => method, "route" => route.clone(), "class" => class)
                .increment(1);
            histogram!("ferry_http_route_request_seconds", "method" => method, "route" => route)
                .record(took.as_secs_f64());
        });
    }

    /// Count one request refused because its address failed to authenticate too often.
    pub fn throttled(&self) {
        self.with(|| counter!("ferry_auth_throttled_total").increment(1));
    }

    /// Set the gauge `name` with one label `label` to `rows`, and to 0 for label values it had before
    /// that are not in `rows`.
    fn gauges(&self, name: &'static str, label: &'static str, rows: Vec<(String, i64)>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let known = seen.entry(name).or_default();
        let now: BTreeSet<String> = rows.iter().map(|(v, _)| v.clone()).collect();
        self.with(|| {
            for gone in known.difference(&now) {
                gauge!(name, label => gone.clone()).set(0.0);
            }
            for (v, n) in rows {
                gauge!(name, label => v).set(n as f64);
            }
        });
        known.extend(now);
    }

    fn gauge(&self, name: &'static str, n: i64) {
        self.with(|| gauge!(name).set(n as f64));
    }
}

fn describe() {
    describe_counter!(
        "ferry_http_requests_total",
        "HTTP requests answered, by status class."
    );
    describe_counter!(
        "ferry_http_route_requests_total",
        "HTTP requests answered, by method, route pattern and status class."
    );
    describe_histogram!(
        "ferry_http_route_request_seconds",
        Unit::Seconds,
        "Time spent answering requests, by method and route pattern."
    );
    describe_counter!(
        "ferry_auth_throttled_total",
        "Requests refused (429) because their address presented too many unknown tokens."
    );
    describe_gauge!("ferry_tenants", "Tenants.");
    describe_gauge!("ferry_projects", "Projects by state.");
    describe_gauge!("ferry_events", "Events by state.");
    describe_gauge!("ferry_mappings", "Mappings of all projects.");
    describe_gauge!(
        "ferry_passes_total",
        "Passes by kind and outcome (running, succeeded, failed)."
    );
    describe_gauge!(
        "ferry_items_total",
        "Items (messages, files) of finished passes, by result."
    );
    describe_gauge!(
        "ferry_copied_bytes_total",
        "Bytes copied by finished passes."
    );
    describe_gauge!(
        "ferry_credentials",
        "Stored credentials: expired, expiring within 7 days (supply new ones), valid beyond."
    );
    describe_gauge!("ferry_tickets", "Tickets by status.");
    describe_gauge!("ferry_transactions", "Transactions by status.");
    describe_gauge!("ferry_audit_entries_total", "Audit entries written.");
}

/// The exposition text.
pub async fn render(st: &AppState) -> ApiResult<String> {
    let m = &st.metrics;
    let now = st.clock.now();
    let soon = now.checked_add_signed(TimeDelta::days(7)).unwrap_or(now);
    let c = st.programme.counts(now, soon).await?;
    m.gauge("ferry_tenants", c.tenants);
    m.gauges("ferry_projects", "state", c.projects_by_state);
    m.gauges("ferry_events", "state", c.events_by_state);
    m.gauge("ferry_mappings", c.mappings);
    let passes = c.passes;
    {
        // Two labels: remembered as one "kind/outcome" value.
        let mut seen = m.seen.lock().unwrap_or_else(|p| p.into_inner());
        let known = seen.entry("ferry_passes_total").or_default();
        let now: BTreeSet<String> = passes.iter().map(|(k, o, _)| format!("{k}/{o}")).collect();
        m.with(|| {
            for gone in known.difference(&now) {
                let (k, o) = gone.split_once('/').unwrap_or((gone, ""));
                gauge!("ferry_passes_total", "kind" => k.to_string(), "outcome" => o.to_string())
                    .set(0.0);
            }
            for (k, o, n) in passes {
                gauge!("ferry_passes_total", "kind" => k, "outcome" => o).set(n as f64);
            }
        });
        known.extend(now);
    }
    m.gauges(
        "ferry_items_total",
        "result",
        vec![
            ("copied".into(), c.items_copied),
            ("skipped".into(), c.items_skipped),
            ("failed".into(), c.items_failed),
        ],
    );
    m.gauge("ferry_copied_bytes_total", c.bytes_copied);

    m.gauges(
        "ferry_credentials",
        "status",
        vec![
            ("expired".into(), c.credentials_expired),
            ("expiring_7d".into(), c.credentials_expiring),
            ("valid".into(), c.credentials_valid),
        ],
    );
    m.gauges("ferry_tickets", "status", c.tickets_by_status);
    m.gauges("ferry_transactions", "status", c.transactions_by_status);
    m.gauge("ferry_audit_entries_total", c.audit_entries);
    // Summaries keep a rolling window: without the exporter's HTTP listener, upkeep is ours.
    m.handle.run_upkeep();
    Ok(m.handle.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_fixed_set_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("FOO"), "other");
        assert_eq!(method_label("get"), "other");
    }

    #[test]
    fn requests_count_by_class_and_route() {
        let m = Metrics::default();
        m.record("GET", Some("/healthz"), 200, Duration::from_millis(2));
        m.record("GET", Some("/healthz"), 200, Duration::from_millis(3));
        m.record("GET", None, 404, Duration::from_millis(1));
        m.record("BREW", Some("/healthz"), 405, Duration::from_millis(1));
        let text = m.handle.render();
        assert!(
            text.contains("ferry_http_requests_total{class=\"2xx\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "ferry_http_route_requests_total{method=\"GET\",route=\"/healthz\",class=\"2xx\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("ferry_http_route_requests_total{method=\"GET\",route=\"unmatched\",class=\"4xx\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("method=\"other\"") && !text.contains("BREW"),
            "{text}"
        );
    }
}
