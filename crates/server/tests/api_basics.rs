//! The API's basics end to end over HTTP: auth, errors, tenants and eligibility, projects, gates,
//! scope, endpoints and credentials, mappings, events and the schedule policy, audit and transactions.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;

use common::{OPERATOR_TOKEN, On, TestServer};
use serde_json::json;

on_both_stores!(requests_without_a_good_token_are_refused_with_json_errors);
async fn requests_without_a_good_token_are_refused_with_json_errors(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let e = s.get("", "/api/v1/tenants").await.err(401);
    assert_eq!(e["kind"], "unauthenticated");
    s.get("fy_wrong", "/api/v1/tenants").await.err(401);
    s.get(OPERATOR_TOKEN, "/api/v1/nothing-here").await.err(404);
    assert_eq!(s.get("", "/healthz").await.ok()["status"], "ok");
    let doc = s.get("", "/api/v1/openapi.json").await.ok();
    assert_eq!(doc["openapi"], "3.1.0");
    let bad = s
        .post(OPERATOR_TOKEN, "/api/v1/tenants", json!({ "name": "x" }))
        .await;
    let e = bad.err(422);
    assert_eq!(e["kind"], "invalid_request");
}

on_both_stores!(eligibility_tiers_and_the_project_refusal_for_a_small_tenant);
async fn eligibility_tiers_and_the_project_refusal_for_a_small_tenant(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let big = s.tenant("Contoso", 800).await;
    let mid = s.tenant("Fabrikam", 300).await;
    let small = s.tenant("Tiny", 20).await;
    let e = s
        .get(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{big}/eligibility"),
        )
        .await
        .ok();
    assert_eq!(e["eligibility"]["tier"], "data_migration");
    let e = s
        .get(OPERATOR_TOKEN, &format!("/api/v1/tenants/{mid}"))
        .await
        .ok();
    assert_eq!(e["eligibility"]["tier"], "guidance_only");
    assert!(e["notice"].as_str().unwrap().starts_with("Self-service"));
    let refused = s
        .post(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{small}/projects"),
            json!({ "name": "m", "workload": "mail" }),
        )
        .await
        .err(409);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("not eligible"),
        "{refused}"
    );
    let p = s
        .post(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{mid}/projects"),
            json!({ "name": "m", "workload": "mail" }),
        )
        .await
        .ok();
    assert_eq!(p["result"]["self_service"], true);
    assert_eq!(p["result"]["state"], "draft");
    assert_eq!(p["transaction"]["status"], "completed");
}

on_both_stores!(a_viewer_reads_but_cannot_change_and_the_refusal_names_who_can);
async fn a_viewer_reads_but_cannot_change_and_the_refusal_names_who_can(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let t = s.tenant("Contoso", 800).await;
    let viewer = s.member(&t, "vera", "viewer").await;
    s.get(&viewer, &format!("/api/v1/tenants/{t}")).await.ok();
    let e = s
        .post(
            &viewer,
            &format!("/api/v1/tenants/{t}/projects"),
            json!({ "name": "m", "workload": "mail" }),
        )
        .await
        .err(403);
    assert!(
        e["message"].as_str().unwrap().contains("customer-admin"),
        "{e}"
    );
    // Another tenant does not exist for her.
    let other = s.tenant("Other", 800).await;
    s.get(&viewer, &format!("/api/v1/tenants/{other}"))
        .await
        .err(404);
}

on_both_stores!(an_event_cancels_once);
async fn an_event_cancels_once(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let t = s.tenant("Contoso", 800).await;
    let base = s.project(&t, "m", "mail").await;
    s.confirm_gates(&base).await;
    let csv = "EmailAddress,UserName,Password\nann@example.com,ann,pw-ann\n";
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/mappings"),
        json!({ "csv": csv }),
    )
    .await
    .ok();
    let m = s
        .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
        .await
        .ok()["mappings"][0]["id"]
        .clone();
    let e = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/events"),
            json!({ "name": "pilot", "kind": "synchronization", "pilot": true, "start": common::monday(), "mappings": [m] }),
        )
        .await
        .ok()["result"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/events/{e}/cancel"),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(done["result"]["state"], "cancelled");
    let again = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/events/{e}/cancel"),
            json!({}),
        )
        .await
        .err(409);
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("cancelled already"),
        "{again}"
    );
}
