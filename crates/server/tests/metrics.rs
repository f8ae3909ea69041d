//! `/metrics` is Prometheus text whose request counters and programme gauges follow the requests.

// Test helpers unwrap freely: a panic is a failure with its message (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use chrono::TimeDelta;
use common::{OPERATOR_TOKEN, On, TestServer};
use serde_json::json;
use std::collections::BTreeMap;

/// `name{labels}` → value, for every sample line; asserts the text is well formed on the way.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut typed = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(matches!(kind, "counter" | "gauge" | "summary"), "{line}");
            assert!(typed.insert(name.to_string()), "{name} typed twice");
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let name = series.split('{').next().unwrap();
        // A summary's `_sum` and `_count` belong to its TYPE line.
        let family = ["_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(
            typed.contains(family),
            "{name} has no # TYPE line before its samples"
        );
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        assert!(
            out.insert(series.to_string(), v).is_none(),
            "{series} twice"
        );
    }
    out
}

async fn scrape(s: &TestServer) -> BTreeMap<String, f64> {
    let resp = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    samples(&resp.text().await.unwrap())
}

fn get(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

on_both_stores!(metrics_follow_requests_projects_events_and_credentials);
async fn metrics_follow_requests_projects_events_and_credentials(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let before = scrape(&s).await;
    assert_eq!(get(&before, "ferry_tenants"), 0.0);

    let t = s.tenant("Contoso", 800).await;
    let base = s.project(&t, "mail", "mail").await;
    s.confirm_gates(&base).await;
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source"),
        json!({ "url": "maildir:/srv/mail" }),
    )
    .await
    .ok();
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source/credential"),
        json!({ "secret": "s" }),
    )
    .await
    .ok();
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/mappings"),
        json!({ "csv": "EmailAddress,UserName,Password\na@contoso.com,a,p\nb@contoso.com,b,q\n" }),
    )
    .await
    .ok();
    let mappings = s
        .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
        .await
        .ok();
    let m0 = mappings["mappings"][0]["id"].clone();
    for _ in 0..2 {
        s.post(
            OPERATOR_TOKEN,
            &format!("{base}/events"),
            json!({ "name": "w", "kind": "synchronization", "start": "2025-03-10T10:00:00Z", "mappings": [m0] }),
        )
        .await
        .ok();
    }
    let events = s.get(OPERATOR_TOKEN, &format!("{base}/events")).await.ok();
    let e0 = events["events"][0]["id"].as_str().unwrap();
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/events/{e0}/cancel"),
        json!({}),
    )
    .await
    .ok();
    s.get("", "/api/v1/tenants").await.err(401);
    s.get(OPERATOR_TOKEN, "/api/v1/no-such-route")
        .await
        .err(404);

    let after = scrape(&s).await;
    assert_eq!(get(&after, "ferry_tenants"), 1.0);
    assert_eq!(get(&after, "ferry_projects{state=\"draft\"}"), 1.0);
    assert_eq!(get(&after, "ferry_events{state=\"scheduled\"}"), 1.0);
    assert_eq!(get(&after, "ferry_events{state=\"cancelled\"}"), 1.0);
    assert_eq!(get(&after, "ferry_mappings"), 2.0);
    // The endpoint's secret and a source secret per mapping.
    assert_eq!(get(&after, "ferry_credentials{status=\"valid\"}"), 3.0);
    assert_eq!(get(&after, "ferry_credentials{status=\"expired\"}"), 0.0);
    assert!(get(&after, "ferry_audit_entries_total") >= 10.0);
    assert!(get(&after, "ferry_transactions{status=\"completed\"}") >= 10.0);
    for class in ["2xx", "4xx"] {
        let series = format!("ferry_http_requests_total{{class=\"{class}\"}}");
        assert!(
            get(&after, &series) > get(&before, &series),
            "{series} did not grow"
        );
    }
    // Per route, by pattern (never the ids of a real path).
    let created = "ferry_http_route_requests_total{method=\"POST\",route=\"/api/v1/tenants/{tenant}/projects/{project}/events\",class=\"2xx\"}";
    assert_eq!(get(&after, created), 2.0, "{after:#?}");
    assert_eq!(
        get(
            &after,
            "ferry_http_route_requests_total{method=\"GET\",route=\"/api/v1/tenants\",class=\"4xx\"}"
        ),
        1.0
    );
    assert_eq!(
        get(
            &after,
            "ferry_http_route_requests_total{method=\"GET\",route=\"unmatched\",class=\"4xx\"}"
        ),
        1.0
    );
    assert!(
        !after.keys().any(|k| k.contains(&t)),
        "a tenant id in a label"
    );
    assert!(after.contains_key(
        "ferry_http_route_request_seconds_sum{method=\"POST\",route=\"/api/v1/tenants/{tenant}/projects/{project}/events\"}"
    ));
    for series in [
        "ferry_items_total{result=\"copied\"}",
        "ferry_copied_bytes_total",
    ] {
        assert_eq!(get(&after, series), 0.0, "{series}: no pass ran");
        assert!(after.contains_key(series), "{series} is always exported");
    }

    // Credentials near their expiry show up before they lapse.
    s.advance(TimeDelta::days(64));
    let soon = scrape(&s).await;
    assert_eq!(get(&soon, "ferry_credentials{status=\"expiring_7d\"}"), 3.0);
    assert_eq!(get(&soon, "ferry_credentials{status=\"valid\"}"), 0.0);
    s.advance(TimeDelta::days(7));
    let lapsed = scrape(&s).await;
    assert_eq!(get(&lapsed, "ferry_credentials{status=\"expired\"}"), 3.0);
}

// After a pass ran: passes by kind and outcome, items copied and bytes copied.
on_both_stores!(metrics_count_passes_items_and_bytes_after_a_pass);
async fn metrics_count_passes_items_and_bytes_after_a_pass(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let src = tempfile::tempdir().unwrap();
    let tgt = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("Docs/sub")).unwrap();
    std::fs::write(src.path().join("Docs/a.txt"), b"hello").unwrap();
    std::fs::write(src.path().join("Docs/sub/b.txt"), b"world!!").unwrap();
    let (src_url, tgt_url) = (
        src.path().display().to_string(),
        tgt.path().display().to_string(),
    );
    let t = s.tenant("Contoso", 800).await;
    let base = s.project(&t, "files", "files").await;
    s.confirm_gates(&base).await;
    for (side, url) in [("source", &src_url), ("target", &tgt_url)] {
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/{side}"),
            json!({ "url": url }),
        )
        .await
        .ok();
    }
    let csv = format!(
        "Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder\n{src_url},Docs,,{tgt_url},Documents,\n"
    );
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/mappings"),
        json!({ "csv": csv }),
    )
    .await
    .ok();
    let mappings = s
        .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
        .await
        .ok();
    let ids: Vec<_> = mappings["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    let now = ferry_server::Clock::now(s.clock.as_ref());
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/events"),
        json!({ "name": "Pilot", "kind": "synchronization", "pilot": true, "start": now, "mappings": ids }),
    )
    .await
    .ok();
    ferry_server::scheduler::settle(&s.state).await.unwrap();
    assert_eq!(
        std::fs::read(tgt.path().join("Documents/sub/b.txt")).unwrap(),
        b"world!!"
    );
    let m = scrape(&s).await;
    assert_eq!(
        get(
            &m,
            "ferry_passes_total{kind=\"initial\",outcome=\"succeeded\"}"
        ),
        1.0,
        "{m:#?}"
    );
    assert_eq!(
        get(&m, "ferry_items_total{result=\"copied\"}"),
        2.0,
        "{m:#?}"
    );
    assert_eq!(get(&m, "ferry_items_total{result=\"failed\"}"), 0.0);
    assert_eq!(get(&m, "ferry_copied_bytes_total"), 12.0, "{m:#?}");
    assert_eq!(
        get(&m, "ferry_events{state=\"running\"}") + get(&m, "ferry_events{state=\"done\"}"),
        1.0,
        "{m:#?}"
    );
}
