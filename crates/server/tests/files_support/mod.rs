//! Helpers for the files-workload tests: a files project with its gates met, endpoints, credentials,
//! mapping imports, assessments, and a fingerprint of a directory tree (bytes and mtimes).
#![allow(dead_code)]

use crate::common::{Answer, OPERATOR_TOKEN, TestServer};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// `/api/v1/tenants/{t}/projects/{p}` + `rest`.
pub fn at(t: &str, p: &str, rest: &str) -> String {
    format!("/api/v1/tenants/{t}/projects/{p}{rest}")
}

/// A files project of tenant `t`; every gate confirmed when `gates` is set. Returns its id.
pub async fn files_project(s: &TestServer, t: &str, gates: bool) -> String {
    let base = s.project(t, "File shares", "files").await;
    if gates {
        s.confirm_gates(&base).await;
    }
    base.rsplit('/').next().expect("a project id").to_string()
}

/// Confirm every gate of the project.
pub async fn confirm_gates(s: &TestServer, t: &str, p: &str) {
    s.confirm_gates(&at(t, p, "")).await;
}

/// The project and its first mapping as the workload code sees them (to call `run_pass` directly).
pub async fn first_mapping(
    s: &TestServer,
    t: &str,
    p: &str,
) -> (
    ferry_server::db::Project,
    ferry_server::programme::MappingView,
) {
    use std::str::FromStr;
    let project = ferry_server::db::load_project(
        &*s.state.programme,
        ferry_core::id::TenantId::from_str(t).expect("a tenant id"),
        ferry_core::id::ProjectId::from_str(p).expect("a project id"),
    )
    .await
    .expect("the project");
    let mapping = ferry_server::programme::load_mappings(&s.state, project.id)
        .await
        .expect("its mappings")
        .remove(0);
    (project, mapping)
}

/// Set an endpoint.
pub async fn endpoint(
    s: &TestServer,
    t: &str,
    p: &str,
    side: &str,
    url: &str,
    username: Option<&str>,
    options: Value,
) {
    s.put(
        OPERATOR_TOKEN,
        &at(t, p, &format!("/endpoints/{side}")),
        json!({ "url": url, "username": username, "options": options }),
    )
    .await
    .ok();
}

/// Supply an endpoint's secret.
pub async fn credential(s: &TestServer, t: &str, p: &str, side: &str, secret: &str) {
    s.put(
        OPERATOR_TOKEN,
        &at(t, p, &format!("/endpoints/{side}/credential")),
        json!({ "secret": secret }),
    )
    .await
    .ok();
}

/// Import a mapping CSV.
pub async fn import(s: &TestServer, t: &str, p: &str, csv: &str) -> Answer {
    s.post(
        OPERATOR_TOKEN,
        &at(t, p, "/mappings"),
        json!({ "csv": csv }),
    )
    .await
}

/// The project's mappings.
pub async fn mappings(s: &TestServer, t: &str, p: &str) -> Vec<Value> {
    s.get(OPERATOR_TOKEN, &at(t, p, "/mappings")).await.ok()["mappings"]
        .as_array()
        .expect("mappings")
        .clone()
}

/// Start an assessment, wait for it, and return (the POST answer, the latest assessment).
pub async fn assess(s: &TestServer, t: &str, p: &str) -> (Value, Value) {
    let started = s
        .post(OPERATOR_TOKEN, &at(t, p, "/assessments"), json!({}))
        .await
        .ok();
    ferry_server::api::assessments::wait_assessments(&s.state, Duration::from_secs(60))
        .await
        .expect("the assessment ends");
    let latest = s
        .get(OPERATOR_TOKEN, &at(t, p, "/assessments/latest"))
        .await
        .ok();
    (started, latest)
}

/// The project's state.
pub async fn project_state(s: &TestServer, t: &str, p: &str) -> String {
    s.get(OPERATOR_TOKEN, &at(t, p, "")).await.ok()["state"]
        .as_str()
        .expect("a state")
        .to_string()
}

/// A transaction's status.
pub async fn transaction(s: &TestServer, t: &str, id: &str) -> Value {
    s.get(
        OPERATOR_TOKEN,
        &format!("/api/v1/tenants/{t}/transactions/{id}"),
    )
    .await
    .ok()
}

/// relative path → (bytes, mtime) of every file under `root`; directories → their mtime.
pub fn fingerprint(root: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.expect("a directory entry").path();
            let meta = std::fs::symlink_metadata(&p).expect("metadata");
            let rel = p
                .strip_prefix(root)
                .expect("under the root")
                .to_string_lossy()
                .to_string();
            let mtime = meta.modified().expect("an mtime");
            if meta.is_dir() {
                out.insert(format!("{rel}/"), (Vec::new(), mtime));
                stack.push(p);
            } else {
                out.insert(rel, (std::fs::read(&p).expect("readable"), mtime));
            }
        }
    }
    out
}

/// relative path → bytes of every file under `root`.
pub fn contents(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fingerprint(root)
        .into_iter()
        .filter(|(k, _)| !k.ends_with('/'))
        .map(|(k, (b, _))| (k, b))
        .collect()
}

/// Write `bytes` at `root/rel`, creating parents, with the mtime set to `mtime`.
pub fn write(root: &Path, rel: &str, bytes: &[u8], mtime: SystemTime) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    std::fs::write(&p, bytes).expect("write");
    let f = std::fs::File::options().write(true).open(&p).expect("open");
    f.set_modified(mtime).expect("set mtime");
}

/// 2024-06-01 12:00:00 UTC.
pub fn old_mtime() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_717_243_200)
}
