//! End to end with OAuth: the real `ferry` binary signs in at the identity platform emulator and logs in
//! with `XOAUTH2` to a real Dovecot that validates the tokens itself (its `oauth2` passdb), issue 10.

use super::common::*;
use ferry_testkit::identity::{App, Identity};
use ferry_testkit::proxy::FaultProxy;
use ferry_testkit::{Dovecot, DovecotOptions, corpus};
use std::process::Stdio;
use std::time::{Duration, Instant};

const TENANT: &str = "contoso.onmicrosoft.com";
const MAILBOX: &str = "alice@contoso.com";

fn identity() -> Identity {
    let id = Identity::start().unwrap();
    id.add_tenant("9f2b6a52-0000-4000-8000-000000000001", &[TENANT]);
    id.add_app(TENANT, App::new("cli-app").public());
    id.add_app(TENANT, App::new("app-1").with_secret("right-secret"));
    id.add_user(TENANT, MAILBOX);
    id
}

/// Bounded wait for a condition the test does not control the timing of.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_device_sign_in_migrates_a_mailbox_and_a_reconnect_after_expiry_uses_a_fresh_token() {
    let id = identity();
    // Tokens live 3 s; Dovecot refuses an expired one (crates/testkit/tests/identity.rs shows it).
    id.set_token_lifetime(Duration::from_secs(3));
    id.set_device_timing(Duration::from_secs(1), Duration::from_secs(120));
    let source = Dovecot::start(DovecotOptions::default()).unwrap();
    source.add_user("alice", PASSWORD).unwrap();
    source
        .seed("alice", "INBOX", &corpus::seed_messages(1, 300, 3_000))
        .unwrap();
    source
        .seed("alice", "Work", &corpus::seed_messages(2, 50, 3_000))
        .unwrap();
    let before = source.snapshot("alice").unwrap();
    let target = Dovecot::start(DovecotOptions {
        oauth2_hs256_key: Some(id.hs256_key()),
        ..DovecotOptions::default()
    })
    .unwrap();
    target.add_user(MAILBOX, "unused-password").unwrap();
    let proxy = FaultProxy::start(target.addr()).unwrap();
    // Hold the target's first connection until its token has expired.
    proxy.set_stall(true);

    let data = tempfile::tempdir().unwrap();
    let src = format!("{}?starttls=never", source.url());
    let tgt = format!("{}?starttls=never&auth=xoauth2", proxy.url());
    let authority = id.authority();
    let args = [
        "mail",
        "migrate",
        "--source",
        &src,
        "--source-user",
        "alice",
        "--target",
        &tgt,
        "--target-user",
        MAILBOX,
        "--target-tenant",
        TENANT,
        "--target-client-id",
        "cli-app",
        "--target-device-login",
        "--authority",
        &authority,
        "--json",
    ];
    let child = ferry_command(data.path(), &args, &[("FERRY_SOURCE_PASSWORD", PASSWORD)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The user signs in in a browser.
    wait_for("the device sign-in", || {
        !id.pending_device_codes().is_empty()
    });
    let user_code = id.pending_device_codes()[0].clone();
    assert!(id.approve_device_code(&user_code, MAILBOX));
    wait_for("the first token and a target connection", || {
        id.tokens_issued("cli-app") == 1 && proxy.connections() >= 1
    });
    let first_token_at = Instant::now();
    // Let the first token expire, then drop the stalled connection: the reconnect must sign in anew.
    wait_for("the first token's expiry", || {
        first_token_at.elapsed() > Duration::from_secs(4)
    });
    proxy.cut_all();
    proxy.set_stall(false);

    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/devicelogin") && stderr.contains(&user_code),
        "the sign-in message is shown: {stderr}"
    );
    assert!(
        id.tokens_issued("cli-app") >= 2,
        "the reconnect fetched a fresh token"
    );
    assert!(proxy.connections() >= 2, "the target was reconnected");
    let copied = content(&target.snapshot(MAILBOX).unwrap());
    assert_eq!(total(&copied), 350, "nothing lost or doubled");
    assert_eq!(copied, content(&before));
    assert_eq!(
        source.snapshot("alice").unwrap(),
        before,
        "source unchanged"
    );
    for t in ["eyJ", "refresh_token"] {
        assert!(!text(&out).contains(t), "no token in the output: {t}");
    }
}

#[test]
fn a_wrong_client_secret_is_one_clear_error_naming_the_target_and_never_the_secret() {
    let id = identity();
    let target = Dovecot::start(DovecotOptions {
        oauth2_hs256_key: Some(id.hs256_key()),
        ..DovecotOptions::default()
    })
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let tgt = format!("{}?starttls=never&auth=xoauth2", target.url());
    let authority = id.authority();
    maildir(data.path(), "src", 3);
    let src = format!("maildir:{}", data.path().join("src").display());
    let out = ferry(
        data.path(),
        &[
            "mail",
            "migrate",
            "--source",
            &src,
            "--target",
            &tgt,
            "--target-user",
            MAILBOX,
            "--target-tenant",
            TENANT,
            "--target-client-id",
            "app-1",
            "--authority",
            &authority,
        ],
        &[("FERRY_TARGET_CLIENT_SECRET", "Wr0ng-S3cret-Value")],
    );
    let all = text(&out);
    assert_eq!(code(&out), 2, "{all}");
    assert!(
        all.contains("target app app-1 in tenant contoso.onmicrosoft.com"),
        "{all}"
    );
    assert!(
        all.contains("AADSTS7000215") && all.contains("Certificates & secrets"),
        "{all}"
    );
    assert!(
        !all.contains("Wr0ng-S3cret-Value"),
        "the secret is never printed: {all}"
    );
    assert_eq!(id.tokens_issued("app-1"), 0);
}
