//! Issue 9, the programme's items (6, 14, 15, 16, 18, 19): through the HTTP API of a real server against real
//! Dovecot source and target servers, as a tenant's people would use it.

use crate::common::{OPERATOR_TOKEN, TestServer};
use ferry_server::{Clock, scheduler};
use ferry_testkit::{Dovecot, DovecotOptions, corpus};
use serde_json::{Value, json};

const PW: &str = "pw-Regression-Secret-9";

fn dovecot(max_mail_size: Option<u64>) -> Dovecot {
    Dovecot::start(DovecotOptions {
        special_use: false,
        max_mail_size,
        ..DovecotOptions::default()
    })
    .unwrap()
}

/// A mail project on a new tenant of 800 seats, both endpoints set (the target through its master user),
/// every gate confirmed; returns the project's base path.
async fn mail_project(s: &TestServer, tenant: &str, source: &Dovecot, target: &Dovecot) -> String {
    mail_project_with(s, tenant, source, target, Dovecot::master().1).await
}

/// [`mail_project`] with `target_secret` as the target endpoint's (master user's) credential.
async fn mail_project_with(
    s: &TestServer,
    tenant: &str,
    source: &Dovecot,
    target: &Dovecot,
    target_secret: &str,
) -> String {
    let t = s.tenant(tenant, 800).await;
    let base = s.project(&t, "Mail", "mail").await;
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source"),
        json!({ "url": format!("{}?starttls=never", source.url()) }),
    )
    .await
    .ok();
    let (admin, _) = Dovecot::master();
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/target"),
        json!({ "url": format!("{}?starttls=never", target.url()), "username": admin }),
    )
    .await
    .ok();
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/target/credential"),
        json!({ "secret": target_secret }),
    )
    .await
    .ok();
    s.confirm_gates(&base).await;
    base
}

/// Import `csv` (Exchange IMAP format, header included); returns the answer.
async fn import(s: &TestServer, base: &str, csv: &str) -> crate::common::Answer {
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/mappings"),
        json!({ "csv": csv }),
    )
    .await
}

/// The project's mappings as the API lists them.
async fn mappings(s: &TestServer, base: &str) -> Vec<Value> {
    let all = s
        .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
        .await
        .ok();
    all["mappings"].as_array().unwrap().clone()
}

fn id_of(mappings: &[Value], label: &str) -> String {
    mappings
        .iter()
        .find(|m| m["label"] == label)
        .and_then(|m| m["id"].as_str())
        .unwrap_or_else(|| panic!("no mapping {label} in {mappings:?}"))
        .to_string()
}

/// A pilot Synchronization event of `ids` starting now; returns its id.
async fn pilot(s: &TestServer, base: &str, ids: &[&str]) -> String {
    let now = s.clock.now();
    let e = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/events"),
            json!({ "name": format!("pilot {now}"), "kind": "synchronization", "pilot": true, "start": now, "mappings": ids }),
        )
        .await
        .ok();
    e["result"]["id"].as_str().unwrap().to_string()
}

async fn report(s: &TestServer, base: &str, event: &str) -> Value {
    s.get(OPERATOR_TOKEN, &format!("{base}/events/{event}/report"))
        .await
        .ok()
}

fn mapping_report(r: &Value, id: &str) -> Value {
    r["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mapping"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("mapping {id} not in {r}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_moving_the_same_mailbox_to_an_emptied_target_copies_everything() {
    let s = TestServer::start().await;
    let (source, target) = (dovecot(None), dovecot(None));
    source.add_user("alice", PW).unwrap();
    target.add_user("alice@x", PW).unwrap();
    source
        .seed("alice", "INBOX", &corpus::seed_messages(61, 12, 2_000))
        .unwrap();
    let csv = format!("EmailAddress,UserName,Password\nalice@x,alice,{PW}\n");

    // The first tenant moves alice: 12 messages arrive.
    let first = mail_project(&s, "Contoso", &source, &target).await;
    import(&s, &first, &csv).await.ok();
    let a = id_of(&mappings(&s, &first).await, "alice@x");
    let e1 = pilot(&s, &first, &[&a]).await;
    scheduler::settle(&s.state).await.unwrap();
    assert_eq!(target.snapshot("alice@x").unwrap().message_count(), 12);

    // The target mailbox is emptied; another tenant moves the same mailbox to it.
    target
        .doveadm(&["expunge", "-u", "alice@x", "mailbox", "INBOX", "all"])
        .unwrap();
    assert_eq!(target.snapshot("alice@x").unwrap().message_count(), 0);
    let second = mail_project(&s, "Fabrikam", &source, &target).await;
    import(&s, &second, &csv).await.ok();
    let b = id_of(&mappings(&s, &second).await, "alice@x");
    let e2 = pilot(&s, &second, &[&b]).await;
    scheduler::settle(&s.state).await.unwrap();

    // Its own journal: everything is copied again, and its report has its own counts.
    assert_eq!(target.snapshot("alice@x").unwrap().message_count(), 12);
    let m = mapping_report(&report(&s, &second, &e2).await, &b);
    assert_eq!(m["last_pass"]["counters"]["copied"], 12, "{m}");
    assert_eq!(m["last_pass"]["counters"]["journal"]["copied"], 12, "{m}");
    // The first tenant's report is its own too.
    let m = mapping_report(&report(&s, &first, &e1).await, &a);
    assert_eq!(m["last_pass"]["counters"]["copied"], 12, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assessment_with_a_wrong_target_password_blames_the_target() {
    let s = TestServer::start().await;
    let (source, target) = (dovecot(None), dovecot(None));
    source.add_user("alice", PW).unwrap();
    target.add_user("alice@x", PW).unwrap();
    source
        .seed("alice", "INBOX", &corpus::seed_messages(62, 3, 2_000))
        .unwrap();
    let base = mail_project_with(&s, "Contoso", &source, &target, "not-the-admin-password").await;
    import(
        &s,
        &base,
        &format!("EmailAddress,UserName,Password\nalice@x,alice,{PW}\n"),
    )
    .await
    .ok();
    s.post(OPERATOR_TOKEN, &format!("{base}/assessments"), json!({}))
        .await
        .ok();
    ferry_server::api::assessments::wait_assessments(&s.state, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let r = s
        .get(OPERATOR_TOKEN, &format!("{base}/assessments/latest"))
        .await
        .ok();
    let m = &r["report"]["mappings"][0];
    assert_eq!(m["ready"], false, "{r}");
    let f = m["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "discovery_failed")
        .unwrap_or_else(|| panic!("no discovery_failed finding in {m}"));
    let detail = f["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("the target could not be read"),
        "{detail}"
    );
    assert!(!detail.contains("source could not"), "{detail}");
    assert_eq!(f["side"], "target", "{f}");
    assert!(!r.to_string().contains("not-the-admin-password"), "{r}");
}

/// Let `dovecot` (started with a `max_mail_size`) take messages of any size again: rewrite the limit and
/// reload the server (new sessions see it).
fn lift_size_limit(dovecot: &Dovecot) {
    let conf = std::fs::read_to_string(dovecot.config_path()).unwrap();
    let lifted: String = conf
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("quota_max_mail_size") {
                "  quota_max_mail_size = 0".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dovecot.config_path(), lifted + "\n").unwrap();
    dovecot.doveadm(&["reload"]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_successful_retry_the_report_counts_what_is_on_the_target_not_old_failures() {
    let s = TestServer::start().await;
    // The target refuses every message at first: the Final pass fails item by item.
    let (source, target) = (dovecot(None), dovecot(Some(1_000)));
    source.add_user("alice", PW).unwrap();
    target.add_user("alice@x", PW).unwrap();
    source
        .seed("alice", "INBOX", &corpus::seed_messages(63, 7, 3_000))
        .unwrap();
    let base = mail_project(&s, "Contoso", &source, &target).await;
    import(
        &s,
        &base,
        &format!("EmailAddress,UserName,Password\nalice@x,alice,{PW}\n"),
    )
    .await
    .ok();
    let a = id_of(&mappings(&s, &base).await, "alice@x");
    let now = s.clock.now();
    let e = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/events"),
            json!({ "name": "Cut-over", "kind": "completion", "pilot": true, "start": now, "mappings": [a] }),
        )
        .await
        .ok();
    let e = e["result"]["id"].as_str().unwrap().to_string();
    scheduler::tick(&s.state).await.unwrap();
    scheduler::wait_for_workers(&s.state).await;
    let m = mapping_report(&report(&s, &base, &e).await, &a);
    assert_eq!(m["last_pass"]["outcome"], "failed", "{m}");
    assert_eq!(m["counters"]["failed"], 7, "{m}");
    assert_eq!(target.snapshot("alice@x").unwrap().message_count(), 0);

    // The limit is lifted; the retry copies everything.
    lift_size_limit(&target);
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/events/{e}/mappings/{a}/retry"),
        json!({}),
    )
    .await
    .ok();
    scheduler::wait_for_workers(&s.state).await;
    assert_eq!(target.snapshot("alice@x").unwrap().message_count(), 7);

    // The figures say what is on the target and what is outstanding: nothing.
    let r = report(&s, &base, &e).await;
    let m = mapping_report(&r, &a);
    assert_eq!(m["last_pass"]["outcome"], "succeeded", "{m}");
    assert_eq!(m["counters"]["discovered"], 7, "{m}");
    assert_eq!(m["counters"]["copied"], 7, "{m}");
    assert_eq!(m["counters"]["failed"], 0, "{m}");
    assert_eq!(m["outstanding"], 0, "{m}");
    assert_eq!(m["grade"], "Perfect", "{m}");
    assert_eq!(r["totals"]["failed"], 0, "{r}");
    assert_eq!(r["totals"]["copied"], 7, "{r}");
}

/// Start pilot `event`'s passes and wait for them (and the scheduler's automatic retry) to end.
async fn run_until_quiet(s: &TestServer) {
    scheduler::settle(&s.state).await.unwrap();
}

async fn audit(s: &TestServer, base: &str) -> Vec<Value> {
    let tenant = base.split('/').nth(4).unwrap();
    let a = s
        .get(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{tenant}/audit?limit=5000"),
        )
        .await
        .ok();
    a["entries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_corrected_by_importing_the_csv_again_and_the_retry_copies_the_mailbox()
{
    let s = TestServer::start().await;
    let (source, target) = (dovecot(None), dovecot(None));
    for u in ["alice", "bob"] {
        source.add_user(u, PW).unwrap();
        target.add_user(&format!("{u}@x"), PW).unwrap();
    }
    source
        .seed("alice", "INBOX", &corpus::seed_messages(64, 5, 2_000))
        .unwrap();
    let base = mail_project(&s, "Contoso", &source, &target).await;
    let wrong = "not-alices-password-1";
    import(
        &s,
        &base,
        &format!("EmailAddress,UserName,Password\nalice@x,alice,{wrong}\n"),
    )
    .await
    .ok();
    let a = id_of(&mappings(&s, &base).await, "alice@x");
    let e = pilot(&s, &base, &[&a]).await;
    run_until_quiet(&s).await;
    let m = mapping_report(&report(&s, &base, &e).await, &a);
    assert!(
        m["next_text"].as_str().unwrap().starts_with("failed"),
        "{m}"
    );

    // Later, the CSV comes back corrected, with one more row: alice is updated, bob added.
    s.clock.advance(chrono::TimeDelta::minutes(5));
    let r = import(
        &s,
        &base,
        &format!("EmailAddress,UserName,Password\nalice@x,alice,{PW}\nbob@x,bob,{PW}\n"),
    )
    .await
    .ok();
    assert_eq!(r["result"]["added"], 1, "{r}");
    assert_eq!(r["result"]["updated"], 1, "{r}");
    assert_eq!(
        r["result"]["changes"][0]["changed"],
        json!(["source credential"]),
        "{r}"
    );
    let all = mappings(&s, &base).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(id_of(&all, "alice@x"), a);
    // Importing the same file again changes nothing.
    let r = import(
        &s,
        &base,
        &format!("EmailAddress,UserName,Password\nalice@x,alice,{PW}\nbob@x,bob,{PW}\n"),
    )
    .await
    .ok();
    assert_eq!(
        (
            r["result"]["added"].clone(),
            r["result"]["unchanged"].clone()
        ),
        (json!(0), json!(2)),
        "{r}"
    );
    let imports: Vec<Value> = audit(&s, &base)
        .await
        .into_iter()
        .filter(|x| x["action"] == "mapping.import")
        .collect();
    assert_eq!(imports.len(), 3, "{imports:?}");
    assert!(!imports.iter().any(|x| x.to_string().contains(PW)));

    // The changed credential gives fresh attempts: the retry runs and copies the mailbox.
    let r = s
        .post(
            OPERATOR_TOKEN,
            &format!("{base}/events/{e}/mappings/{a}/retry"),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(r["result"]["attempt"], 1, "{r}");
    scheduler::wait_for_workers(&s.state).await;
    assert_eq!(target.snapshot("alice@x").unwrap().message_count(), 5);
    let m = mapping_report(&report(&s, &base, &e).await, &a);
    assert_eq!(m["last_pass"]["outcome"], "succeeded", "{m}");
    assert_eq!(m["grade"], "Perfect", "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_is_corrected_in_place_and_removed_only_outside_a_running_event() {
    let s = TestServer::start().await;
    let (source, target) = (dovecot(None), dovecot(None));
    for u in ["alice", "bob"] {
        source.add_user(u, PW).unwrap();
        target.add_user(&format!("{u}@x"), PW).unwrap();
    }
    source
        .seed("alice", "INBOX", &corpus::seed_messages(65, 4, 2_000))
        .unwrap();
    let base = mail_project(&s, "Contoso", &source, &target).await;
    import(
        &s,
        &base,
        &format!("EmailAddress,UserName,Password\nalice@x,alice,wrong-pw-2\nbob@x,bob,{PW}\n"),
    )
    .await
    .ok();
    let all = mappings(&s, &base).await;
    let (a, b) = (id_of(&all, "alice@x"), id_of(&all, "bob@x"));
    let e = pilot(&s, &base, &[&a]).await;
    run_until_quiet(&s).await;

    // Removing a mapping of a running event is refused; one in no event is removed.
    let refused = s
        .call(
            OPERATOR_TOKEN,
            reqwest::Method::DELETE,
            &format!("{base}/mappings/{a}"),
            None,
        )
        .await
        .err(409);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("running event"),
        "{refused}"
    );
    s.call(
        OPERATOR_TOKEN,
        reqwest::Method::DELETE,
        &format!("{base}/mappings/{b}"),
        None,
    )
    .await
    .ok();
    let all = mappings(&s, &base).await;
    assert_eq!(all.len(), 1, "{all:?}");

    // The password is corrected in place: fresh attempts, the retry copies.
    s.clock.advance(chrono::TimeDelta::minutes(5));
    let r = s
        .patch(
            OPERATOR_TOKEN,
            &format!("{base}/mappings/{a}"),
            json!({ "password": PW }),
        )
        .await
        .ok();
    assert_eq!(r["result"]["changed"], json!(["source credential"]), "{r}");
    assert!(!r.to_string().contains(PW), "{r}");
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/events/{e}/mappings/{a}/retry"),
        json!({}),
    )
    .await
    .ok();
    scheduler::wait_for_workers(&s.state).await;
    assert_eq!(target.snapshot("alice@x").unwrap().message_count(), 4);
    let actions: Vec<String> = audit(&s, &base)
        .await
        .iter()
        .map(|x| x["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.contains(&"mapping.update".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"mapping.remove".to_string()),
        "{actions:?}"
    );
}
