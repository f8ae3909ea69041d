//! `/metrics`: Prometheus text exposition of request counts and the programme's state.

use crate::{ApiResult, AppState};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters kept in memory since the server started.
#[derive(Default)]
pub struct Metrics {
    requests_2xx: AtomicU64,
    requests_4xx: AtomicU64,
    requests_5xx: AtomicU64,
}

impl Metrics {
    /// Count one answered request.
    pub fn request(&self, status: u16) {
        let c = match status {
            500.. => &self.requests_5xx,
            400..=499 => &self.requests_4xx,
            _ => &self.requests_2xx,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The exposition text.
pub async fn render(st: &AppState) -> ApiResult<String> {
    let mut out = String::new();
    let m = &st.metrics;
    let _ = writeln!(
        out,
        "# HELP ferry_http_requests_total HTTP requests answered, by status class."
    );
    let _ = writeln!(out, "# TYPE ferry_http_requests_total counter");
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
    let projects: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM prog_project GROUP BY state ORDER BY state")
            .fetch_all(st.pool())
            .await?;
    let _ = writeln!(out, "# HELP ferry_projects Projects by state.");
    let _ = writeln!(out, "# TYPE ferry_projects gauge");
    for (state, n) in projects {
        let _ = writeln!(out, "ferry_projects{{state=\"{state}\"}} {n}");
    }
    let events: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM prog_event GROUP BY state ORDER BY state")
            .fetch_all(st.pool())
            .await?;
    let _ = writeln!(out, "# HELP ferry_events Events by state.");
    let _ = writeln!(out, "# TYPE ferry_events gauge");
    for (state, n) in events {
        let _ = writeln!(out, "ferry_events{{state=\"{state}\"}} {n}");
    }
    let passes: Vec<(String, i64)> =
        sqlx::query_as("SELECT outcome, COUNT(*) FROM prog_pass GROUP BY outcome ORDER BY outcome")
            .fetch_all(st.pool())
            .await?;
    let _ = writeln!(out, "# HELP ferry_passes_total Passes by outcome.");
    let _ = writeln!(out, "# TYPE ferry_passes_total counter");
    for (outcome, n) in passes {
        let _ = writeln!(out, "ferry_passes_total{{outcome=\"{outcome}\"}} {n}");
    }
    Ok(out)
}
