//! Exchange Online as a programme target (issue 10): an `exo://` endpoint whose credential is the app's
//! client secret or certificate, signed in at the identity platform emulator, and the "targets provisioned
//! and active" gate check that logs in to every mapping's mailbox through the Exchange shim.

use super::common::{OPERATOR_TOKEN, TestServer};
use ferry_testkit::exchange::{ExchangeOptions, ExchangeShim};
use ferry_testkit::identity::{App, Identity, test_certificate};
use serde_json::{Value, json};

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

#[tokio::test]
async fn the_targets_gate_check_logs_in_to_every_exchange_mailbox_with_the_apps_secret_or_certificate()
 {
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

    let s = TestServer::start().await;
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
