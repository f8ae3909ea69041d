//! The OpenAPI document: the served one equals the checked-in `docs/openapi.json`, covers every route of
//! the route table with its permission, and its request-body examples are bodies the server accepts.

// Test helpers unwrap freely: a panic is a failure with its message (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use common::{OPERATOR_TOKEN, TestServer};
use ferry_core::programme::role::{Permission, roles_with};
use ferry_server::routes::{ROUTES, Scope};
use serde_json::{Value, json};
use std::path::PathBuf;

const UPDATE_ENV: &str = "FERRY_UPDATE_OPENAPI";

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

fn pretty(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap();
    s.push('\n');
    s
}

#[tokio::test]
async fn the_served_document_is_the_checked_in_one() {
    let s = TestServer::start().await;
    let served = s.get("", "/api/v1/openapi.json").await.ok();
    let path = checked_in();
    if std::env::var_os(UPDATE_ENV).is_some() {
        std::fs::write(&path, pretty(&served)).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let file: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(
        file == served,
        "docs/openapi.json differs from GET /api/v1/openapi.json (a route, a schema or the version changed).\n\
         Regenerate it with:\n    {UPDATE_ENV}=1 cargo test -p ferry-server --test openapi\n\
         and commit the result."
    );
    assert_eq!(
        text,
        pretty(&served),
        "docs/openapi.json is not formatted as generated: regenerate it with {UPDATE_ENV}=1 cargo test -p ferry-server --test openapi"
    );
}

#[test]
fn every_route_is_in_the_document_with_its_permission_and_parameters() {
    let doc = ferry_server::openapi::document();
    let mut operations = 0;
    let mut ids = std::collections::BTreeSet::new();
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is not in the document",
            r.method,
            r.path
        );
        operations += 1;
        let id = op["operationId"].as_str().unwrap();
        assert!(ids.insert(id.to_string()), "operationId {id} twice");
        assert_eq!(op["summary"], r.summary);
        assert_eq!(
            op["x-ferry-permission"],
            r.permission.as_str(),
            "{}",
            r.path
        );
        let desc = op["description"].as_str().unwrap();
        if r.scope == Scope::Public {
            assert_eq!(op["security"], json!([]), "{}", r.path);
        } else {
            assert!(desc.contains(r.permission.as_str()), "{desc}");
            let roles: Vec<&str> = roles_with(r.permission)
                .iter()
                .map(|x| x.as_str())
                .collect();
            assert_eq!(op["x-ferry-roles"], json!(roles), "{}", r.path);
            if !(r.scope == Scope::Global && r.permission == Permission::Read) {
                for role in roles {
                    assert!(desc.contains(role), "{}: {desc}", r.path);
                }
            }
            assert!(op["responses"]["401"].is_object(), "{}", r.path);
        }
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let in_path: Vec<&str> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        assert_eq!(params, in_path, "{}", r.path);
        for p in op["parameters"].as_array().unwrap() {
            assert!(
                !p["description"].as_str().unwrap_or("").is_empty(),
                "{} parameter {} has no description",
                r.path,
                p["name"]
            );
        }
        if matches!(r.method, "PUT" | "PATCH") {
            assert!(
                op["requestBody"].is_object(),
                "{} {} takes a body",
                r.method,
                r.path
            );
        }
    }
    let in_doc: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        in_doc, operations,
        "the document has operations not in ROUTES"
    );
    // Every reference resolves.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/").skip(1) {
        let pointer = format!("/{}", &part[..part.find('"').unwrap()]);
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
    }
}

/// Each request-body example is a body of the right shape: the server gets past deserialising it (no
/// 422), whatever its rules then say about it.
#[tokio::test]
async fn every_request_body_example_has_the_shape_the_server_takes() {
    let s = TestServer::start().await;
    let doc = ferry_server::openapi::document();
    let mut checked = 0;
    for r in ROUTES {
        let Some(schema) = ferry_server::openapi::request_body(r) else {
            continue;
        };
        let example = doc["components"]["schemas"][schema]["example"].clone();
        assert!(example.is_object(), "{schema} has no example");
        let tenant = s.tenant(&format!("Example {checked}"), 800).await;
        let p = s
            .post(
                OPERATOR_TOKEN,
                &format!("/api/v1/tenants/{tenant}/projects"),
                json!({ "name": "mail", "workload": "mail" }),
            )
            .await
            .ok();
        let project = p["result"]["id"].as_str().unwrap();
        let path: Vec<String> = r
            .path
            .split('/')
            .map(|seg| match seg {
                "{tenant}" => tenant.clone(),
                "{project}" => project.to_string(),
                "{side}" => "source".into(),
                "{gate}" => "core_onboarding".into(),
                s if s.starts_with('{') => uuid::Uuid::now_v7().to_string(),
                s => s.into(),
            })
            .collect();
        let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
        let a = s
            .call(
                OPERATOR_TOKEN,
                method,
                &path.join("/"),
                Some(example.clone()),
            )
            .await;
        assert_ne!(
            a.status.as_u16(),
            422,
            "{} {}: the {schema} example {example} does not deserialise: {}",
            r.method,
            r.path,
            a.body
        );
        assert!(
            a.status.as_u16() < 500,
            "{} {}: {}",
            r.method,
            r.path,
            a.body
        );
        // A property the schema does not list is refused where the schema says so.
        if doc["components"]["schemas"][schema]["additionalProperties"] == json!(false) {
            let mut extra = example.clone();
            extra["no_such_field"] = json!(1);
            let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
            let a = s
                .call(OPERATOR_TOKEN, method, &path.join("/"), Some(extra))
                .await;
            assert_eq!(
                a.status.as_u16(),
                422,
                "{} {}: {}",
                r.method,
                r.path,
                a.body
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} request bodies");
}

/// `docs/api.md` lists every route with its permission, so the user documentation cannot lose one.
#[test]
fn the_user_docs_list_every_route() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
    let docs = std::fs::read_to_string(&path).unwrap();
    let missing: Vec<String> = ROUTES
        .iter()
        .map(|r| {
            format!(
                "| `{}` | `{}` | `{}` |",
                r.method,
                r.path,
                r.permission.as_str()
            )
        })
        .filter(|row| !docs.contains(row.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/api.md § Routes lacks (or has another permission for):\n{}",
        missing.join("\n")
    );
}
