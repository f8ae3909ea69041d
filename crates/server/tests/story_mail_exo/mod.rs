//! Exchange Online as a programme target (issue 10): an `exo://` endpoint whose credential is the app's
//! client secret or certificate, signed in at the identity platform emulator, and the "targets provisioned
//! and active" gate check that logs in to every mapping's mailbox through the Exchange shim.

mod wait;

use super::common::{OPERATOR_TOKEN, On, TestServer};
use ferry_testkit::exchange::{ExchangeOptions, ExchangeShim, Throttle};
use ferry_testkit::identity::{App, Identity, test_certificate};
use ferry_testkit::{SeedMessage, corpus};
use serde_json::{Value, json};
use std::time::Duration;

const TID: &str = "7d3c1f00-0000-4000-8000-00000000beef";

fn statuses(answer: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = answer["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mailbox"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

crate::on_both_stores!(
    the_targets_gate_check_logs_in_to_every_exchange_mailbox_with_the_apps_secret_or_certificate
);
async fn the_targets_gate_check_logs_in_to_every_exchange_mailbox_with_the_apps_secret_or_certificate(
    on: On,
) {
    let id = Identity::start().unwrap();
    id.add_tenant(TID, &["contoso.onmicrosoft.com"]);
    let (key, cert) = test_certificate();
    id.add_app(
        TID,
        App::new("app-1")
            .with_secret("s3cret-value")
            .with_certificate(cert)
            .with_role("IMAP.AccessAsApp"),
    );
    let shim = ExchangeShim::start(ExchangeOptions {
        jwt_key: id.jwt_key().to_vec(),
        tenant_id: Some(TID.into()),
        ..ExchangeOptions::default()
    })
    .unwrap();
    shim.add_mailbox("ann@contoso.com").unwrap();
    shim.add_mailbox("bob@contoso.com").unwrap();
    // ann: the documented setup; bob: no FullAccess for the app; cy: no mailbox at all.
    shim.allow_app("app-1", &["ann@contoso.com"]);

    // On PostgreSQL only when FERRY_TEST_POSTGRES names a test cluster (else a printed skip).
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let tenant = s.tenant("Contoso", 600).await;
    let customer = s.member(&tenant, "carol", "customer-admin").await;
    let base = s.project(&tenant, "Mail", "mail").await;
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source"),
        json!({ "url": "imap://127.0.0.1:1?starttls=never" }),
    )
    .await
    .ok();
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/target"),
        json!({ "url": shim.url(), "username": "app-1", "options": { "authority": id.authority() } }),
    )
    .await
    .ok();
    let cred = format!("{base}/endpoints/target/credential");
    // An OAuth endpoint wants to know which kind of credential it gets; a PEM is no client secret.
    s.put(&customer, &cred, json!({ "secret": "s3cret-value" }))
        .await
        .err(400);
    s.put(
        &customer,
        &cred,
        json!({ "secret": cert, "kind": "client-secret" }),
    )
    .await
    .err(400);
    s.put(
        &customer,
        &cred,
        json!({ "secret": "x", "kind": "certificate" }),
    )
    .await
    .err(400);
    let stored = s
        .put(
            &customer,
            &cred,
            json!({ "secret": "s3cret-value", "kind": "client-secret" }),
        )
        .await
        .ok();
    assert_eq!(stored["result"]["kind"], "client-secret", "{stored}");
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/mappings"),
        json!({ "csv": "EmailAddress,UserName,Password\nann@contoso.com,ann,pw\nbob@contoso.com,bob,pw\ncy@contoso.com,cy,pw\n" }),
    )
    .await
    .ok();

    let check = format!("{base}/gates/targets_provisioned/check");
    let answer = s.post(OPERATOR_TOKEN, &check, json!({})).await.ok();
    assert_eq!(
        statuses(&answer),
        [
            ("ann@contoso.com".into(), "active".into()),
            ("bob@contoso.com".into(), "refused".into()),
            ("cy@contoso.com".into(), "refused".into()),
        ],
        "{answer}"
    );
    assert_eq!(
        (answer["checked"].as_u64(), answer["problems"].as_u64()),
        (Some(3), Some(2))
    );
    // Exchange's IMAP answers alike for a missing mailbox and a refused one: the detail names both causes.
    for m in answer["mappings"].as_array().unwrap() {
        if m["status"] == "refused" {
            let d = m["detail"].as_str().unwrap();
            for hint in ["does not exist", "FullAccess", "New-ServicePrincipal"] {
                assert!(d.contains(hint), "{hint}: {d}");
            }
        }
    }
    assert_eq!(
        id.tokens_issued("app-1"),
        1,
        "one sign-in shared by every mailbox"
    );
    assert!(!answer.to_string().contains("s3cret-value"));
    let gates = s.get(OPERATOR_TOKEN, &format!("{base}/gates")).await.ok();
    assert!(
        gates.to_string().contains("targets_provisioned"),
        "the check confirms nothing: {gates}"
    );

    // The certificate credential works the same way.
    let pem = format!("{key}{cert}");
    s.put(
        &customer,
        &cred,
        json!({ "secret": pem, "kind": "certificate" }),
    )
    .await
    .ok();
    let answer = s.post(OPERATOR_TOKEN, &check, json!({})).await.ok();
    assert_eq!(
        statuses(&answer)[0],
        ("ann@contoso.com".into(), "active".into()),
        "{answer}"
    );
    assert_eq!(id.tokens_issued("app-1"), 2);

    // A wrong secret: every mailbox is refused with the identity platform's reason, never the secret.
    s.put(
        &customer,
        &cred,
        json!({ "secret": "Wr0ng-Value", "kind": "client-secret" }),
    )
    .await
    .ok();
    let answer = s.post(OPERATOR_TOKEN, &check, json!({})).await.ok();
    assert_eq!(answer["problems"].as_u64(), Some(3), "{answer}");
    let text = answer.to_string();
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(!text.contains("Wr0ng-Value"), "{text}");

    // Only the targets gate has a check.
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/gates/core_onboarding/check"),
        json!({}),
    )
    .await
    .err(404);
}

/// A mail project whose target is the Exchange shim, signed in with app `app-1`'s client secret; source
/// users log in with their CSV password.
struct ExoStory {
    s: TestServer,
    id: Identity,
    shim: ExchangeShim,
    source: ferry_testkit::Dovecot,
    base: String,
    viewer: String,
    customer: String,
}

const APP_SECRET: &str = "s3cret-value";

impl ExoStory {
    /// `None` (a printed skip) on PostgreSQL without a test cluster.
    async fn start(
        on: On,
        opts: ExchangeOptions,
        users: &[&str],
        target_options: Value,
    ) -> Option<ExoStory> {
        Self::start_with(on, Default::default(), opts, users, target_options).await
    }

    async fn start_with(
        on: On,
        settings: ferry_core::programme::ProgrammeSettings,
        opts: ExchangeOptions,
        users: &[&str],
        target_options: Value,
    ) -> Option<ExoStory> {
        let id = Identity::start().unwrap();
        id.add_tenant(TID, &["contoso.onmicrosoft.com"]);
        id.add_app(
            TID,
            App::new("app-1")
                .with_secret(APP_SECRET)
                .with_role("IMAP.AccessAsApp"),
        );
        let shim = ExchangeShim::start(ExchangeOptions {
            jwt_key: id.jwt_key().to_vec(),
            tenant_id: Some(TID.into()),
            ..opts
        })
        .unwrap();
        let source = ferry_testkit::Dovecot::start(ferry_testkit::DovecotOptions {
            special_use: false,
            ..ferry_testkit::DovecotOptions::default()
        })
        .unwrap();
        for u in users {
            source.add_user(u, super::PW).unwrap();
            shim.add_mailbox(&format!("{u}@contoso.com")).unwrap();
        }
        let s = TestServer::start_on_store(on, settings).await?;
        let tenant = s.tenant("Contoso", 600).await;
        let customer = s.member(&tenant, "carol", "customer-admin").await;
        let viewer = s.member(&tenant, "vera", "viewer").await;
        let base = s.project(&tenant, "Mail", "mail").await;
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/source"),
            json!({ "url": format!("{}?starttls=never", source.url()) }),
        )
        .await
        .ok();
        let mut options = json!({ "authority": id.authority() });
        if let (Some(o), Some(extra)) = (options.as_object_mut(), target_options.as_object()) {
            o.extend(extra.clone());
        }
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/target"),
            json!({ "url": shim.url(), "username": "app-1", "options": options }),
        )
        .await
        .ok();
        s.put(
            &customer,
            &format!("{base}/endpoints/target/credential"),
            json!({ "secret": APP_SECRET, "kind": "client-secret" }),
        )
        .await
        .ok();
        let mut csv = String::from("EmailAddress,UserName,Password\n");
        for u in users {
            csv.push_str(&format!("{u}@contoso.com,{u},{}\n", super::PW));
        }
        s.post(
            OPERATOR_TOKEN,
            &format!("{base}/mappings"),
            json!({ "csv": csv }),
        )
        .await
        .ok();
        Some(ExoStory {
            s,
            id,
            shim,
            source,
            base,
            viewer,
            customer,
        })
    }

    /// Mapping ids by target mailbox.
    async fn mappings(&self) -> std::collections::BTreeMap<String, String> {
        let all = self
            .s
            .get(&self.viewer, &format!("{}/mappings", self.base))
            .await
            .ok();
        all["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["mailbox"]
                        .as_str()
                        .or(m["target"].as_str())
                        .unwrap()
                        .to_string(),
                    m["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Confirm every gate, ask for a pilot of `mappings` starting now and let the scheduler run it.
    async fn pilot(&self, mappings: &[&String]) -> String {
        self.s.confirm_gates(&self.base).await;
        let e = self
            .s
            .post(
                &self.customer,
                &format!("{}/events", self.base),
                json!({ "name": "pilot", "kind": "synchronization", "pilot": true,
                        "start": ferry_server::Clock::now(&*self.s.clock), "mappings": mappings }),
            )
            .await
            .ok();
        let event = e["result"]["id"].as_str().unwrap().to_string();
        ferry_server::scheduler::settle(&self.s.state)
            .await
            .unwrap();
        event
    }

    async fn mapping_report(&self, event: &str, mapping: &str) -> Value {
        let r = self
            .s
            .get(
                &self.viewer,
                &format!("{}/events/{event}/report", self.base),
            )
            .await
            .ok();
        r["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mapping"] == mapping)
            .cloned()
            .unwrap_or_else(|| panic!("mapping {mapping} not in {r}"))
    }

    /// The event's per-item results of `label` (the mapping's e-mail address).
    async fn items(&self, event: &str, label: &str) -> Vec<Value> {
        let items = self
            .s
            .get(
                &self.viewer,
                &format!("{}/events/{event}/items?format=json", self.base),
            )
            .await
            .ok();
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["mapping"] == label)
            .cloned()
            .collect()
    }
}

crate::on_both_stores!(
    a_pilot_into_exchange_online_copies_each_message_once_under_throttling_and_reports_renames_skips_and_missing_permissions
);
async fn a_pilot_into_exchange_online_copies_each_message_once_under_throttling_and_reports_renames_skips_and_missing_permissions(
    on: On,
) {
    let Some(st) = ExoStory::start(
        on,
        ExchangeOptions {
            max_message_size: 60_000,
            throttle: Some(Throttle {
                per_second: 40.0,
                burst: 10,
                min_backoff: Duration::from_millis(300),
                disconnect: true,
            }),
            ..ExchangeOptions::default()
        },
        &["ann", "bob", "cy"],
        json!({ "disarm_read_receipts": true }),
    )
    .await
    else {
        return;
    };
    // ann: the documented setup, more messages than the burst, and a folder named as Exchange's reserved one.
    st.source
        .seed("ann", "INBOX", &corpus::seed_messages(11, 30, 2_000))
        .unwrap();
    st.source
        .seed("ann", "Files", &corpus::seed_messages(12, 4, 2_000))
        .unwrap();
    // bob: the app was never given FullAccess on his mailbox.
    st.source
        .seed("bob", "INBOX", &corpus::seed_messages(13, 3, 2_000))
        .unwrap();
    // cy: one message over the tenant's MaxReceiveSize, one that asks for a read receipt.
    st.source
        .seed("cy", "INBOX", &corpus::seed_messages(14, 4, 2_000))
        .unwrap();
    st.source
        .seed(
            "cy",
            "INBOX",
            &[SeedMessage::new(
                b"From: old@example.com\r\nSubject: confirm\r\nMessage-ID: <dnt@test>\r\n\
                  Disposition-Notification-To: old@example.com\r\n\r\nPlease confirm.\r\n"
                    .to_vec(),
            )],
        )
        .unwrap();
    st.source
        .seed(
            "cy",
            "INBOX",
            &[SeedMessage::new(corpus::message_with_attachment(
                15, 0, 100_000,
            ))],
        )
        .unwrap();
    st.shim
        .allow_app("app-1", &["ann@contoso.com", "cy@contoso.com"]);
    let before: Vec<_> = ["ann", "bob", "cy"]
        .iter()
        .map(|u| st.source.snapshot(u).unwrap())
        .collect();
    let ids = st.mappings().await;
    let (ann, bob, cy) = (
        &ids["ann@contoso.com"],
        &ids["bob@contoso.com"],
        &ids["cy@contoso.com"],
    );
    let event = st.pilot(&[ann, bob, cy]).await;

    // ann: every message exactly once, the reserved folder renamed; throttled but never early.
    let m = st.mapping_report(&event, ann).await;
    assert_eq!(m["grade"], "Perfect", "{m}");
    assert_eq!(m["last_pass"]["counters"]["copied"], 34, "{m}");
    let target = st.shim.dovecot().snapshot("ann@contoso.com").unwrap();
    let got = super::content(&target);
    let want = super::content(&before[0]);
    assert_eq!(got["INBOX"], want["INBOX"]);
    assert_eq!(got["Files (renamed)"], want["Files"]);
    assert_eq!(got.len(), 2, "{:?}", target.folder_names());
    let stats = st.shim.stats("ann@contoso.com");
    assert!(stats.throttled >= 1, "the budget was never hit: {stats:?}");
    assert_eq!(stats.early_requests, 0, "{stats:?}");
    // The rename is in the per-item results, not only in a log.
    let items = st.items(&event, "ann@contoso.com").await;
    let files: Vec<&Value> = items.iter().filter(|i| i["folder"] == "Files").collect();
    assert_eq!(files.len(), 4, "{items:?}");
    for i in &files {
        assert_eq!(i["target_folder"], "Files (renamed)", "{i}");
        assert!(i["note"].as_str().unwrap_or("").contains("reserved"), "{i}");
    }
    assert!(
        items
            .iter()
            .filter(|i| i["folder"] == "INBOX")
            .all(|i| i["note"].is_null()),
        "{items:?}"
    );

    // bob: that mapping fails with the setup step to do; nothing reached his mailbox.
    let m = st.mapping_report(&event, bob).await;
    assert_eq!(m["last_pass"]["outcome"], "failed", "{m}");
    let t = m.to_string();
    for hint in ["Add-MailboxPermission", "FullAccess"] {
        assert!(t.contains(hint), "{hint}: {t}");
    }
    assert_eq!(
        st.shim
            .dovecot()
            .snapshot("bob@contoso.com")
            .unwrap()
            .message_count(),
        0
    );

    // cy: the big message is a reported skip saying what to change; the rest is copied.
    let m = st.mapping_report(&event, cy).await;
    assert_eq!(m["last_pass"]["counters"]["copied"], 5, "{m}");
    assert_eq!(m["last_pass"]["counters"]["skipped"], 1, "{m}");
    let items = st.items(&event, "cy@contoso.com").await;
    let skipped: Vec<&Value> = items.iter().filter(|i| i["status"] == "skipped").collect();
    assert_eq!(skipped.len(), 1, "{items:?}");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("MaxReceiveSize"),
        "{}",
        skipped[0]
    );
    assert_eq!(
        st.shim
            .dovecot()
            .snapshot("cy@contoso.com")
            .unwrap()
            .message_count(),
        5
    );
    // The read-receipt request was disarmed at the target, and the per-item results say so.
    let changed: Vec<&Value> = items.iter().filter(|i| !i["note"].is_null()).collect();
    assert_eq!(changed.len(), 1, "{items:?}");
    assert_eq!(changed[0]["status"], "copied");
    assert_eq!(changed[0]["message_id"], "dnt@test", "{}", changed[0]);
    assert!(
        changed[0]["note"]
            .as_str()
            .unwrap()
            .contains("read-receipt request disarmed"),
        "{}",
        changed[0]
    );
    let mut c = st.shim.dovecot().connect("cy@contoso.com").unwrap();
    c.examine("INBOX").unwrap();
    let texts: Vec<String> = c
        .fetch_all()
        .unwrap()
        .iter()
        .map(|m| String::from_utf8_lossy(&m.bytes).into_owned())
        .collect();
    assert!(
        texts
            .iter()
            .all(|t| !t.contains("Disposition-Notification-To:")),
        "{texts:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("X-Ferry-Disarmed-Receipt-To: old@example.com"))
            .count(),
        1
    );

    // The source is untouched; one sign-in served every mailbox; no secret in any answer.
    for (u, b) in ["ann", "bob", "cy"].iter().zip(&before) {
        assert_eq!(&st.source.snapshot(u).unwrap(), b, "{u}'s source changed");
    }
    assert_eq!(st.id.tokens_issued("app-1"), 1);
    let report =
        st.s.get(&st.viewer, &format!("{}/events/{event}/report", st.base))
            .await
            .ok();
    assert!(!report.to_string().contains(APP_SECRET));
    assert!(!report.to_string().contains(super::PW));
}

impl ExoStory {
    /// Run an assessment and return the latest report's entry for `mapping`, with the report's limits.
    async fn assess(&self, mapping: &str) -> Value {
        self.s
            .post(
                OPERATOR_TOKEN,
                &format!("{}/assessments", self.base),
                json!({}),
            )
            .await
            .ok();
        ferry_server::api::assessments::wait_assessments(&self.s.state, Duration::from_secs(60))
            .await
            .unwrap();
        let r = self
            .s
            .get(&self.viewer, &format!("{}/assessments/latest", self.base))
            .await
            .ok();
        r["report"]["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mapping"] == mapping)
            .cloned()
            .unwrap_or_else(|| panic!("{r}"))
    }
}

crate::on_both_stores!(
    an_exchange_online_targets_assessment_flags_messages_over_exchanges_limit_and_never_allows_more_than_150_mb
);
async fn an_exchange_online_targets_assessment_flags_messages_over_exchanges_limit_and_never_allows_more_than_150_mb(
    on: On,
) {
    // The server's own limit is set above Exchange's largest MaxReceiveSize.
    let settings = ferry_core::programme::ProgrammeSettings {
        max_message_size: 200 * 1024 * 1024,
        ..Default::default()
    };
    let Some(st) = ExoStory::start_with(
        on,
        settings,
        ExchangeOptions::default(),
        &["dan"],
        json!({ "max_message_size": "60KB" }),
    )
    .await
    else {
        return;
    };
    st.source
        .seed("dan", "INBOX", &corpus::seed_messages(21, 3, 2_000))
        .unwrap();
    st.source
        .seed(
            "dan",
            "INBOX",
            &[SeedMessage::new(corpus::message_with_attachment(
                22, 0, 100_000,
            ))],
        )
        .unwrap();
    st.shim.allow_app("app-1", &["dan@contoso.com"]);
    let dan = st.mappings().await["dan@contoso.com"].clone();

    let m = st.assess(&dan).await;
    let rules: Vec<&str> = m["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["message_over_exchange_size_limit"], "{m}");
    let detail = m["findings"][0]["detail"].as_str().unwrap();
    for hint in [
        "1 message(s) in INBOX",
        "MaxReceiveSize",
        "150 MB",
        "max_message_size",
    ] {
        assert!(detail.contains(hint), "{hint}: {detail}");
    }
    assert_eq!(m["limits"]["profile"], "exchange-online", "{m}");
    assert_eq!(m["inventory"]["over_size"], 1, "{m}");

    // Without the endpoint's lower limit, the server's 200 MB is held to Exchange's 150 MB.
    st.s.put(
        OPERATOR_TOKEN,
        &format!("{}/endpoints/target", st.base),
        json!({ "url": st.shim.url(), "username": "app-1",
                "options": { "authority": st.id.authority() } }),
    )
    .await
    .ok();
    let m = st.assess(&dan).await;
    assert_eq!(m["findings"], json!([]), "{m}");
    assert_eq!(
        m["limits"]["max_message_size"].as_u64(),
        Some(150 * 1024 * 1024),
        "{m}"
    );
}
