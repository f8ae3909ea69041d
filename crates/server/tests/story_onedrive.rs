//! OneDrive and SharePoint as the programme's file target (issue 11): `onedrive://` and `sharepoint://`
//! endpoints signing in with the app's client secret or certificate at the identity platform emulator,
//! the "targets provisioned" gate check on every mapping's drive, and a files project whose events copy a
//! local share into OneDrive and SharePoint on the Graph emulator, graded Perfect. Each story runs on
//! SQLite and on PostgreSQL (`on_postgres` is a printed skip when `FERRY_TEST_POSTGRES` is unset).

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;
mod files_support;

use chrono::TimeDelta;
use common::{OPERATOR_TOKEN, On, TestServer};
use ferry_server::Clock;
use ferry_testkit::graph::{GraphEmulator, GraphOptions};
use ferry_testkit::identity::{App, Identity, test_certificate};
use files_support::*;
use serde_json::{Value, json};
use std::path::Path;

const TID: &str = "5b0e2a00-0000-4000-8000-0000000000aa";
const HEADER: &str = "Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder";

/// The identity platform with the Ferry app (secret and certificate, Graph application permissions) and a
/// Graph emulator that trusts its tokens.
fn tenant() -> (Identity, GraphEmulator) {
    let id = Identity::start().unwrap();
    id.add_tenant(TID, &["contoso.onmicrosoft.com"]);
    let (_, cert) = test_certificate();
    id.add_app(
        TID,
        App::new("ferry-app")
            .with_secret("app-s3cret")
            .with_certificate(cert)
            .with_role("Files.ReadWrite.All")
            .with_role("Sites.ReadWrite.All"),
    );
    let emu = GraphEmulator::start(GraphOptions::trusting(id.jwt_key(), TID)).unwrap();
    (id, emu)
}

/// A files project: `src` as the source, `target_url` as the target signed in as the app.
async fn project(s: &TestServer, t: &str, src: &Path, target_url: &str, id: &Identity) -> String {
    let p = files_project(s, t, true).await;
    endpoint(s, t, &p, "source", src.to_str().unwrap(), None, json!({})).await;
    endpoint(
        s,
        t,
        &p,
        "target",
        target_url,
        Some("ferry-app"),
        json!({ "tenant": TID, "authority": id.authority() }),
    )
    .await;
    p
}

async fn app_credential(s: &TestServer, t: &str, p: &str, secret: &str, kind: &str) -> Value {
    s.put(
        OPERATOR_TOKEN,
        &at(t, p, "/endpoints/target/credential"),
        json!({ "secret": secret, "kind": kind }),
    )
    .await
    .ok()
}

/// The project's mapping ids, in import order.
async fn mapping_ids(s: &TestServer, t: &str, p: &str) -> Vec<String> {
    mappings(s, t, p)
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A pilot synchronization event over `ids` starting now; its id.
async fn pilot_now(s: &TestServer, t: &str, p: &str, ids: &[String]) -> String {
    let pilot = json!({ "name": "Pilot", "kind": "synchronization", "pilot": true, "start": s.clock.now(), "mappings": ids });
    let ev = s
        .post(OPERATOR_TOKEN, &at(t, p, "/events"), pilot)
        .await
        .ok();
    ev["result"]["id"].as_str().unwrap().to_owned()
}

fn statuses(answer: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = answer["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["drive"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

on_both_stores!(the_targets_gate_check_finds_each_mappings_onedrive_provisioned_missing_or_refused);
async fn the_targets_gate_check_finds_each_mappings_onedrive_provisioned_missing_or_refused(
    on: On,
) {
    let (id, emu) = tenant();
    emu.add_user("ann@contoso.com");
    emu.add_unprovisioned_user("cy@contoso.com");
    emu.add_site("contoso.sharepoint.com", "finance");
    let src = tempfile::tempdir().unwrap();
    // On PostgreSQL only when FERRY_TEST_POSTGRES names a test cluster (else a printed skip).
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let t = s.tenant("Contoso", 800).await;
    let graph = emu.base_url();
    let p = project(
        &s,
        &t,
        src.path(),
        &format!("onedrive://ann@contoso.com?graph={graph}"),
        &id,
    )
    .await;

    // A OneDrive endpoint wants to know the kind of its credential, and which kinds fit its username.
    let cred = at(&t, &p, "/endpoints/target/credential");
    let e = s
        .put(OPERATOR_TOKEN, &cred, json!({ "secret": "app-s3cret" }))
        .await
        .err(400);
    assert!(
        e["message"].as_str().unwrap().contains("client-secret"),
        "{e}"
    );
    s.put(
        OPERATOR_TOKEN,
        &cred,
        json!({ "secret": "app-s3cret", "kind": "access-token" }),
    )
    .await
    .err(400);
    s.put(
        OPERATOR_TOKEN,
        &cred,
        json!({ "secret": "x", "kind": "certificate" }),
    )
    .await
    .err(400);
    let stored = app_credential(&s, &t, &p, "app-s3cret", "client-secret").await;
    assert_eq!(stored["result"]["kind"], "client-secret", "{stored}");

    import(
        &s,
        &t,
        &p,
        &format!(
            "{HEADER}\n\
             {src},a,,onedrive://ann@contoso.com,Documents,Imported\n\
             {src},c,,onedrive://cy@contoso.com,Documents,\n\
             {src},d,,onedrive://dan@contoso.com,Documents,\n\
             {src},f,,https://contoso.sharepoint.com/sites/finance,Documents,Archive\n\
             {src},g,,https://contoso.sharepoint.com/sites/finance,Records,\n",
            src = src.path().display()
        ),
    )
    .await
    .ok();
    let check = at(&t, &p, "/gates/targets_provisioned/check");
    let answer = s.post(OPERATOR_TOKEN, &check, json!({})).await.ok();
    assert_eq!(
        statuses(&answer),
        [
            (
                "onedrive://ann@contoso.com/Documents/Imported".into(),
                "active".into()
            ),
            (
                "onedrive://cy@contoso.com/Documents".into(),
                "missing".into()
            ),
            (
                "onedrive://dan@contoso.com/Documents".into(),
                "missing".into()
            ),
            (
                "sharepoint://contoso.sharepoint.com/sites/finance/Documents/Archive".into(),
                "active".into()
            ),
            (
                "sharepoint://contoso.sharepoint.com/sites/finance/Records".into(),
                "missing".into()
            ),
        ],
        "{answer}"
    );
    let cy = answer["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["drive"].as_str().unwrap().contains("cy@"))
        .unwrap();
    let detail = cy["detail"].as_str().unwrap();
    assert!(
        detail.contains("not provisioned") && detail.contains("Request-SPOPersonalSite"),
        "the fix is named: {detail}"
    );
    assert_eq!(
        (answer["checked"].as_u64(), answer["problems"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(
        id.tokens_issued("ferry-app"),
        1,
        "one sign-in for every drive"
    );
    assert!(
        emu.snapshot(&emu.drive_of_user("ann@contoso.com").unwrap())
            .is_empty(),
        "the check wrote"
    );
    assert!(!answer.to_string().contains("app-s3cret"));

    // The certificate works the same way.
    let (key, cert) = test_certificate();
    app_credential(&s, &t, &p, &format!("{key}{cert}"), "certificate").await;
    let answer = s.post(OPERATOR_TOKEN, &check, json!({})).await.ok();
    assert_eq!(answer["problems"].as_u64(), Some(3), "{answer}");
    assert_eq!(id.tokens_issued("ferry-app"), 2);

    // A wrong secret: every drive is refused with the identity platform's reason, never the secret.
    app_credential(&s, &t, &p, "Wr0ng-Value", "client-secret").await;
    let answer = s.post(OPERATOR_TOKEN, &check, json!({})).await.ok();
    let all: Vec<String> = statuses(&answer).into_iter().map(|(_, s)| s).collect();
    assert_eq!(all, ["refused"; 5], "{answer}");
    let text = answer.to_string();
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(!text.contains("Wr0ng-Value"), "{text}");

    // A Graph that does not answer: unreachable.
    s.put(
        OPERATOR_TOKEN,
        &at(&t, &p, "/endpoints/target"),
        json!({ "url": "onedrive://ann@contoso.com?graph=http://127.0.0.1:9/v1.0", "username": "ferry-app",
                "options": { "tenant": TID, "authority": id.authority() } }),
    )
    .await
    .ok();
    app_credential(&s, &t, &p, "app-s3cret", "client-secret").await;
    let answer = s.post(OPERATOR_TOKEN, &check, json!({})).await.ok();
    assert_eq!(answer["mappings"][0]["status"], "unreachable", "{answer}");
}

on_both_stores!(
    a_files_event_into_onedrive_and_sharepoint_reaches_perfect_and_the_final_pass_completes_it
);
async fn a_files_event_into_onedrive_and_sharepoint_reaches_perfect_and_the_final_pass_completes_it(
    on: On,
) {
    let (id, emu) = tenant();
    let ann = emu.add_user("ann@contoso.com");
    let (_, lib) = emu.add_site("contoso.sharepoint.com", "finance");
    let share = tempfile::tempdir().unwrap();
    for (rel, body) in [
        ("Ann/notes.txt", "ann's notes"),
        ("Ann/2024/plan.docx", "plan"),
        ("Ann/what?.txt", "a name OneDrive forbids"),
        ("Finance/ledger.csv", "a,b\n1,2\n"),
    ] {
        write(share.path(), rel, body.as_bytes(), old_mtime());
    }
    // On PostgreSQL only when FERRY_TEST_POSTGRES names a test cluster (else a printed skip).
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let t = s.tenant("Contoso", 800).await;
    let graph = emu.base_url();
    let p = project(
        &s,
        &t,
        share.path(),
        &format!("onedrive://ann@contoso.com?graph={graph}"),
        &id,
    )
    .await;
    let (key, cert) = test_certificate();
    app_credential(&s, &t, &p, &format!("{key}{cert}"), "certificate").await;
    let src = share.path().display();
    import(
        &s,
        &t,
        &p,
        &format!(
            "{HEADER}\n{src},Ann,,onedrive://ann@contoso.com,,Migrated\n\
             {src},Finance,,https://contoso.sharepoint.com/sites/finance,Documents,Ledgers\n"
        ),
    )
    .await
    .ok();
    let ids = mapping_ids(&s, &t, &p).await;
    assert_eq!(ids.len(), 2);
    let before = fingerprint(share.path());

    let pilot_id = pilot_now(&s, &t, &p, &ids).await;
    ferry_server::scheduler::settle(&s.state).await.unwrap();
    let drive = emu.snapshot(&ann);
    let file = |k: &str| {
        drive
            .get(k)
            .map(|e| String::from_utf8_lossy(&e.bytes).into_owned())
    };
    assert_eq!(file("Migrated/notes.txt").as_deref(), Some("ann's notes"));
    assert_eq!(file("Migrated/2024/plan.docx").as_deref(), Some("plan"));
    // OneDrive's name rules apply by themselves: `?` is mapped.
    assert_eq!(
        drive
            .iter()
            .filter(|(k, e)| k.starts_with("Migrated/what") && !e.is_folder)
            .count(),
        1,
        "{:?}",
        drive.keys().collect::<Vec<_>>()
    );
    let modified = drive["Migrated/notes.txt"].fs_modified;
    assert_eq!(
        std::time::SystemTime::from(modified),
        old_mtime(),
        "the mtime is kept"
    );
    let lib_files = emu.snapshot(&lib);
    assert_eq!(
        lib_files
            .get("Ledgers/ledger.csv")
            .map(|e| e.bytes.as_slice()),
        Some(&b"a,b\n1,2\n"[..])
    );
    assert_eq!(fingerprint(share.path()), before, "the source changed");
    let report = s
        .get(
            OPERATOR_TOKEN,
            &at(&t, &p, &format!("/events/{pilot_id}/report")),
        )
        .await
        .ok();
    assert_eq!(report["grade"], "Perfect", "{report}");
    assert!(!report.to_string().contains("PRIVATE KEY"), "{report}");

    // The Completion event runs the Final passes: the last change arrives, and the project completes.
    let cutover = json!({ "name": "Cutover", "kind": "completion", "start": s.clock.now() + TimeDelta::hours(72), "mappings": ids });
    let ev = s
        .post(OPERATOR_TOKEN, &at(&t, &p, "/events"), cutover)
        .await
        .ok();
    let cutover_id = ev["result"]["id"].as_str().unwrap().to_owned();
    write(share.path(), "Ann/late.txt", b"last minute", old_mtime());
    s.advance(TimeDelta::hours(72));
    ferry_server::scheduler::settle(&s.state).await.unwrap();
    assert_eq!(
        emu.read_file(&ann, "Migrated/late.txt").as_deref(),
        Some(&b"last minute"[..])
    );
    let ev = s
        .get(
            OPERATOR_TOKEN,
            &at(&t, &p, &format!("/events/{cutover_id}")),
        )
        .await
        .ok();
    assert_eq!(ev["state"], "completed", "{ev}");
    let report = s
        .get(
            OPERATOR_TOKEN,
            &at(&t, &p, &format!("/events/{cutover_id}/report")),
        )
        .await
        .ok();
    assert_eq!(report["grade"], "Perfect", "{report}");
    assert_eq!(project_state(&s, &t, &p).await, "completed");

    // Sealed: a later change is not copied.
    write(share.path(), "Ann/after.txt", b"too late", old_mtime());
    s.advance(TimeDelta::hours(24));
    ferry_server::scheduler::settle(&s.state).await.unwrap();
    assert!(emu.read_file(&ann, "Migrated/after.txt").is_none());
}

/// A server's long wait gives a files pass back too (issue 12 §3): OneDrive answers `429` with a
/// `Retry-After` (3 s) longer than `max_wait_in_pass_secs` (1); the pass stops at a checkpoint instead of
/// sleeping (a `pass.wait` in the audit log, naming the answer), is run again after
/// the wait — without a queue, by the process itself, holding no slot meanwhile — and ends Perfect: one
/// pass, one attempt, each file once, no request inside a `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_from_onedrive_gives_the_files_pass_back_and_it_resumes_after_the_wait()
{
    let (id, emu) = tenant();
    let ann = emu.add_user("ann@contoso.com");
    let share = tempfile::tempdir().unwrap();
    for n in 0..12 {
        write(
            share.path(),
            &format!("Ann/file-{n:02}.txt"),
            format!("body {n}").as_bytes(),
            old_mtime(),
        );
    }
    let settings = ferry_core::programme::ProgrammeSettings {
        max_wait_in_pass_secs: 1,
        ..Default::default()
    };
    let Some(s) = TestServer::start_on_store(On::Sqlite, settings).await else {
        return;
    };
    let t = s.tenant("Contoso", 800).await;
    let graph = emu.base_url();
    let p = project(
        &s,
        &t,
        share.path(),
        &format!("onedrive://ann@contoso.com?graph={graph}"),
        &id,
    )
    .await;
    app_credential(&s, &t, &p, "app-s3cret", "client-secret").await;
    let src = share.path().display();
    import(
        &s,
        &t,
        &p,
        &format!("{HEADER}\n{src},Ann,,onedrive://ann@contoso.com,,Migrated\n"),
    )
    .await
    .ok();
    let ids = mapping_ids(&s, &t, &p).await;
    // OneDrive answers the pass's first request with 429 and `Retry-After: 3`. (Its budgets would not do:
    // Ferry reads their `RateLimit-*` headers and slows down before it is throttled.)
    emu.fail_next(1, 429, Some(3));
    let pilot_id = pilot_now(&s, &t, &p, &ids).await;
    ferry_server::scheduler::settle(&s.state).await.unwrap();

    let report = s
        .get(
            OPERATOR_TOKEN,
            &at(&t, &p, &format!("/events/{pilot_id}/report")),
        )
        .await
        .ok();
    assert_eq!(report["grade"], "Perfect", "{report}");
    let m = &report["mappings"][0];
    assert_eq!(m["passes"], 1, "{m}");
    assert_eq!(m["attempts"], 1, "{m}");
    let drive = emu.snapshot(&ann);
    for n in 0..12 {
        let k = format!("Migrated/file-{n:02}.txt");
        assert_eq!(
            drive.get(&k).map(|e| e.bytes.clone()),
            Some(format!("body {n}").into_bytes()),
            "{k}"
        );
    }
    assert_eq!(
        drive
            .keys()
            .filter(|k| k.starts_with("Migrated/file-"))
            .count(),
        12,
        "each file once: {:?}",
        drive.keys().collect::<Vec<_>>()
    );
    let stats = emu.stats();
    assert_eq!(stats.injected_failures, 1, "{stats:?}");
    assert_eq!(stats.requests_before_retry_after, 0, "{stats:?}");
    let audit = s
        .get(OPERATOR_TOKEN, &format!("/api/v1/tenants/{t}/audit"))
        .await
        .ok()
        .to_string();
    assert!(audit.contains("pass.wait"), "{audit}");
    assert!(audit.contains("429"), "{audit}");
}
