//! Programme rules through the HTTP API that the workload stories don't need a mail or file server for:
//! eligibility (trial, education, legacy purchase), the scope guard, the mapping-row limit, the minimum
//! batch size and the drop cut-off, and transactions — each on its allowed and its refused side.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;

use chrono::TimeDelta;
use common::{OPERATOR_TOKEN, On, TestServer, monday};
use ferry_core::programme::ProgrammeSettings;
use serde_json::{Value, json};

/// A tenant from a full body; returns its eligibility decision and id.
async fn tenant(s: &TestServer, body: Value) -> (String, Value) {
    let r = s.post(OPERATOR_TOKEN, "/api/v1/tenants", body).await.ok();
    (
        r["result"]["id"].as_str().unwrap().to_string(),
        r["result"]["eligibility"].clone(),
    )
}

on_both_stores!(
    eligibility_counts_only_eligible_seats_and_the_legacy_threshold_applies_before_september_2017
);
async fn eligibility_counts_only_eligible_seats_and_the_legacy_threshold_applies_before_september_2017(
    on: On,
) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    // Trial seats never count: 400 paid + 10,000 trial is guidance only.
    let (_, e) = tenant(
        &s,
        json!({ "name": "Trials", "plan": "commercial", "seats": { "paid": 400, "trial": 10000 },
                "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7" }),
    )
    .await;
    assert_eq!(e["tier"], "guidance_only", "{e}");
    assert_eq!(e["eligible_seats"], 400);
    // Education: only paid faculty/staff seats count, not students.
    let (edu, e) = tenant(
        &s,
        json!({ "name": "School", "plan": "education", "seats": { "faculty_staff": 120, "students": 5000 },
                "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7" }),
    )
    .await;
    assert_eq!(e["tier"], "not_eligible", "{e}");
    assert!(e["reasons"].to_string().contains("student"), "{e}");
    // Bought before 2017-09-01: 150 seats are enough for the data-migration service.
    let (_, e) = tenant(
        &s,
        json!({ "name": "Old", "plan": "commercial", "seats": { "paid": 200 },
                "first_purchase": "2017-08-31", "cloud": "government", "window": "24x5" }),
    )
    .await;
    assert_eq!(e["tier"], "data_migration", "{e}");
    let (_, e) = tenant(
        &s,
        json!({ "name": "New", "plan": "commercial", "seats": { "paid": 200 },
                "first_purchase": "2017-09-01", "cloud": "commercial", "window": "24x7" }),
    )
    .await;
    assert_eq!(e["tier"], "guidance_only", "{e}");

    // More faculty seats make the school eligible; the change is audited with before and after.
    let r = s
        .patch(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{edu}"),
            json!({ "seats": { "faculty_staff": 600, "students": 5000 } }),
        )
        .await
        .ok();
    assert_eq!(r["result"]["eligibility"]["tier"], "data_migration");
    let audit = s
        .get(OPERATOR_TOKEN, &format!("/api/v1/tenants/{edu}/audit"))
        .await
        .ok();
    let last = audit["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "tenant.update");
    assert_eq!(last["before"]["eligibility"]["tier"], "not_eligible");
    assert_eq!(last["after"]["eligibility"]["tier"], "data_migration");
    assert_eq!(last["who"], "operator");
}

/// A mail project of an eligible tenant; returns (tenant, project base path).
async fn project(s: &TestServer) -> (String, String) {
    let t = s.tenant("Contoso", 800).await;
    let base = s.project(&t, "Mail", "mail").await;
    (t, base)
}

on_both_stores!(beyond_scope_work_needs_a_services_agreement);
async fn beyond_scope_work_needs_a_services_agreement(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let (_, base) = project(&s).await;
    let ok = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/tasks"),
            json!({ "task": "data move" }),
        )
        .await
        .ok();
    assert_eq!(ok["result"]["in_scope"], true);
    let refused = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/tasks"),
            json!({ "task": "workstation preparation" }),
        )
        .await
        .err(409);
    assert_eq!(refused["kind"], "refused");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("services agreement"),
        "{refused}"
    );
    let covered = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/tasks"),
            json!({ "task": "Remediation", "agreement": "SOW-2025-17" }),
        )
        .await
        .ok();
    assert_eq!(covered["result"]["in_scope"], false);
    let tasks = s.get(OPERATOR_TOKEN, &format!("{base}/tasks")).await.ok();
    let list = tasks["tasks"].as_array().unwrap();
    assert_eq!(list.len(), 2, "the refused task is not recorded: {tasks}");
    assert_eq!(list[1]["agreement"], "SOW-2025-17");
}

fn csv(rows: usize) -> String {
    let mut out = String::from("EmailAddress,UserName,Password\n");
    for i in 0..rows {
        out.push_str(&format!("u{i}@example.com,u{i},pw{i}\n"));
    }
    out
}

#[tokio::test]
async fn a_mapping_import_holds_at_most_the_row_limit_and_a_bad_row_imports_nothing() {
    let settings = ProgrammeSettings {
        max_mapping_rows: 5,
        ..ProgrammeSettings::default()
    };
    let s = TestServer::start_with(settings).await;
    let (_, base) = project(&s).await;
    let e = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/mappings"),
            json!({ "csv": csv(6) }),
        )
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("at most 5"), "{e}");
    let bad = "EmailAddress,UserName,Password\na@x,a,pw\nb@x,,pw\n";
    let e = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/mappings"),
            json!({ "csv": bad }),
        )
        .await
        .err(400);
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("line 3") && msg.contains("UserName"), "{e}");
    let listed = s
        .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
        .await
        .ok();
    assert_eq!(
        listed["mappings"].as_array().unwrap().len(),
        0,
        "nothing half-imported"
    );
    let ok = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/mappings"),
            json!({ "csv": csv(5) }),
        )
        .await
        .ok();
    assert_eq!(ok["result"]["imported"], 5);
}

on_both_stores!(the_default_row_limit_is_fifty_thousand);
async fn the_default_row_limit_is_fifty_thousand(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let (_, base) = project(&s).await;
    let e = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/mappings"),
            json!({ "csv": csv(50_001) }),
        )
        .await
        .err(409);
    assert!(
        e["message"].as_str().unwrap().contains("at most 50000"),
        "{e}"
    );
    let ok = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/mappings"),
            json!({ "csv": csv(50_000) }),
        )
        .await
        .ok();
    assert_eq!(ok["result"]["imported"], 50_000);
}

/// Confirm every gate, import `n` mappings; returns their ids.
async fn ready(s: &TestServer, base: &str, n: usize) -> Vec<Value> {
    s.confirm_gates(base).await;
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/mappings"),
        json!({ "csv": csv(n) }),
    )
    .await
    .ok();
    let m = s
        .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
        .await
        .ok();
    m["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect()
}

#[tokio::test]
async fn a_minimum_batch_size_refuses_small_production_events_but_not_pilots() {
    let settings = ProgrammeSettings {
        min_batch_size: Some(3),
        ..ProgrammeSettings::default()
    };
    let s = TestServer::start_with(settings).await;
    let (_, base) = project(&s).await;
    let ids = ready(&s, &base, 3).await;
    let start = monday() + TimeDelta::days(4);
    let small = json!({ "name": "w1", "kind": "synchronization", "start": start, "mappings": [ids[0], ids[1]] });
    let e = s
        .post(OPERATOR_TOKEN, &format!("{base}/events"), small)
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("at least 3"), "{e}");
    let pilot = json!({ "name": "p", "kind": "synchronization", "pilot": true, "start": monday(), "mappings": [ids[0]] });
    s.post(OPERATOR_TOKEN, &format!("{base}/events"), pilot)
        .await
        .ok();
    let full = json!({ "name": "w1", "kind": "synchronization", "start": start, "mappings": ids });
    s.post(OPERATOR_TOKEN, &format!("{base}/events"), full)
        .await
        .ok();
}

on_both_stores!(mappings_leave_an_event_only_before_the_drop_cut_off_and_every_change_is_a_queryable_transaction);
async fn mappings_leave_an_event_only_before_the_drop_cut_off_and_every_change_is_a_queryable_transaction(
    on: On,
) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let (tenant, base) = project(&s).await;
    let ids = ready(&s, &base, 3).await;
    let start = monday() + TimeDelta::days(4);
    let created = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/events"),
            json!({ "name": "w1", "kind": "synchronization", "start": start, "mappings": ids }),
        )
        .await
        .ok();
    let event = created["result"]["id"].as_str().unwrap().to_string();
    // Two days before the start: dropping a mapping is fine.
    s.advance(TimeDelta::days(2));
    let r = s
        .patch(
            OPERATOR_TOKEN,
            &format!("{base}/events/{event}"),
            json!({ "remove": [ids[0]] }),
        )
        .await
        .ok();
    assert_eq!(r["result"]["mappings"].as_array().unwrap().len(), 2);
    let txn = r["transaction"]["id"].as_str().unwrap();
    let t = s
        .get(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{tenant}/transactions/{txn}"),
        )
        .await
        .ok();
    assert_eq!(t["status"], "completed");
    assert_eq!(t["action"], "event.change");
    // Twelve hours before: refused, with the rule's numbers.
    s.advance(TimeDelta::hours(36));
    let e = s
        .patch(
            OPERATOR_TOKEN,
            &format!("{base}/events/{event}"),
            json!({ "remove": [ids[1]] }),
        )
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("24 h"), "{e}");
    // Renaming is not a schedule change and still works.
    s.patch(
        OPERATOR_TOKEN,
        &format!("{base}/events/{event}"),
        json!({ "name": "wave 1" }),
    )
    .await
    .ok();
    // An unknown transaction is a 404 with the JSON error shape.
    let missing = uuid::Uuid::now_v7();
    s.get(
        OPERATOR_TOKEN,
        &format!("/api/v1/tenants/{tenant}/transactions/{missing}"),
    )
    .await
    .err(404);
}
