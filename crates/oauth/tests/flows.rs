//! The OAuth flows against the identity platform emulator (`ferry_testkit::identity`): real HTTP, real
//! signatures, the emulator's counters as the witness of how many requests Ferry made.

use ferry_core::ErrorKind;
use ferry_core::mail::Secret;
use ferry_core::token::TokenSource;
use ferry_oauth::{Credential, EXCHANGE_SCOPE, OAuthConfig, OAuthSource, Prompt};
use ferry_testkit::identity::{App, Identity, other_certificate, test_certificate};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TENANT: &str = "contoso.onmicrosoft.com";

fn emulator() -> Identity {
    let id = Identity::start().expect("start the identity emulator");
    id.add_tenant("tid-1", &[TENANT]);
    id.add_app(
        "tid-1",
        App::new("app-1")
            .with_secret("s3cret")
            .with_certificate(test_certificate().1)
            .with_role("IMAP.AccessAsApp"),
    );
    id.add_app("tid-1", App::new("cli-app").public());
    id.add_user("tid-1", "alice@contoso.com");
    id
}

fn silent() -> Prompt {
    Arc::new(|_: &str| {})
}

fn secret_source(id: &Identity, secret: &str) -> OAuthSource {
    let cfg = OAuthConfig::client_secret(TENANT, "app-1", Secret::new(secret), EXCHANGE_SCOPE)
        .with_authority(&id.authority())
        .for_side("target");
    OAuthSource::new(cfg, silent()).expect("valid config")
}

/// Poll `f` until it is true or 20 s pass.
async fn eventually(mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_client_secret_token_is_cached_and_fetched_once_for_many_concurrent_callers() {
    let id = emulator();
    let source = Arc::new(secret_source(&id, "s3cret"));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = source.clone();
        tasks.push(tokio::spawn(async move {
            s.token().await.map(|t| t.expose().to_owned())
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("join").expect("token"));
    }
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "one token for all");
    assert_eq!(id.tokens_issued("app-1"), 1, "single flight: one request");
    source.token().await.expect("cached");
    assert_eq!(id.tokens_issued("app-1"), 1, "answered from the cache");
    source.invalidate();
    source.token().await.expect("fetched anew");
    assert_eq!(
        id.tokens_issued("app-1"),
        2,
        "invalidate forgets the cached token"
    );
}

#[tokio::test]
async fn a_short_lived_token_is_replaced_before_it_expires() {
    let id = emulator();
    id.set_token_lifetime(Duration::from_secs(2));
    let source = secret_source(&id, "s3cret");
    let first = source.token().await.expect("token");
    let fetched_at = Instant::now();
    assert!(
        eventually(async || source.token().await.ok().is_some_and(|t| t != first)).await,
        "a fresh token within the deadline"
    );
    // Replaced a fifth of its lifetime (0.4 s) before its 2 s expiry, never after it.
    assert!(
        fetched_at.elapsed() < Duration::from_secs(2),
        "replaced before expiry"
    );
    assert_eq!(id.tokens_issued("app-1"), 2);
}

#[tokio::test]
async fn a_certificate_credential_signs_an_assertion_the_platform_accepts() {
    let id = emulator();
    let (key, cert) = test_certificate();
    let cfg = OAuthConfig::new(
        "tid-1",
        "app-1",
        Credential::Certificate {
            private_key_pem: Secret::new(key),
            certificate_pem: cert.to_owned(),
        },
        EXCHANGE_SCOPE,
    )
    .with_authority(&id.authority());
    let source = OAuthSource::new(cfg.clone(), silent()).expect("valid");
    source.token().await.expect("assertion accepted");
    assert_eq!(id.tokens_issued("app-1"), 1);
    assert!(
        !format!("{source:?}").contains("PRIVATE"),
        "no key in Debug"
    );

    // A certificate the app does not have: a clear Auth error about the certificate.
    let (other_key, other_cert) = other_certificate();
    let mut bad = cfg;
    bad.credential = Credential::Certificate {
        private_key_pem: Secret::new(other_key),
        certificate_pem: other_cert.to_owned(),
    };
    let e = OAuthSource::new(bad, silent())
        .expect("valid")
        .token()
        .await
        .expect_err("unknown certificate");
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(e.to_string().contains("upload this certificate"), "{e}");
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_naming_side_app_and_tenant_without_the_secret() {
    let id = emulator();
    let e = secret_source(&id, "wrong-secret-value")
        .token()
        .await
        .expect_err("refused");
    let text = e.to_string();
    assert_eq!(
        (e.kind(), e.is_temporary()),
        (ErrorKind::Auth, false),
        "{text}"
    );
    assert!(
        text.contains("target app app-1 in tenant contoso.onmicrosoft.com"),
        "{text}"
    );
    assert!(
        text.contains("AADSTS7000215") && text.contains("Certificates & secrets"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-value"), "{text}");

    let cfg = OAuthConfig::client_secret(
        "fabrikam.example",
        "app-1",
        Secret::new("s3cret"),
        EXCHANGE_SCOPE,
    )
    .with_authority(&id.authority());
    let e = OAuthSource::new(cfg, silent())
        .expect("valid")
        .token()
        .await
        .expect_err("no tenant");
    assert!(
        e.to_string()
            .contains("tenant fabrikam.example was not found"),
        "{e}"
    );
}

#[tokio::test]
async fn an_unreachable_identity_platform_is_a_temporary_error() {
    let port = ferry_testkit::port::free_port().expect("port");
    let cfg = OAuthConfig::client_secret(TENANT, "app-1", Secret::new("s3cret"), EXCHANGE_SCOPE)
        .with_authority(&format!("http://127.0.0.1:{port}"));
    let e = OAuthSource::new(cfg, silent())
        .expect("valid")
        .token()
        .await
        .expect_err("nothing listens");
    assert_eq!((e.kind(), e.is_temporary()), (ErrorKind::Io, true), "{e}");
}

fn device_source(id: &Identity, shown: Arc<Mutex<Vec<String>>>) -> OAuthSource {
    let cfg = OAuthConfig::new(
        TENANT,
        "cli-app",
        Credential::DeviceCode,
        "https://outlook.office365.com/IMAP.AccessAsUser.All",
    )
    .with_authority(&id.authority());
    let prompt: Prompt = Arc::new(move |m: &str| shown.lock().expect("lock").push(m.to_owned()));
    OAuthSource::new(cfg, prompt).expect("valid")
}

/// Plays the user: approves (or declines) the first pending sign-in in a background thread.
fn user_answers(id: &Arc<Identity>, approve: bool) -> std::thread::JoinHandle<bool> {
    let id = id.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(code) = id.pending_device_codes().first() {
                return if approve {
                    id.approve_device_code(code, "alice@contoso.com")
                } else {
                    id.decline_device_code(code)
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
}

#[tokio::test]
async fn a_device_sign_in_shows_the_message_polls_until_approved_then_refreshes_without_asking_again()
 {
    let id = Arc::new(emulator());
    id.set_device_timing(Duration::from_secs(1), Duration::from_secs(60));
    let shown = Arc::new(Mutex::new(Vec::new()));
    let source = device_source(&id, shown.clone());
    let user = user_answers(&id, true);
    let first = source.token().await.expect("signed in");
    assert!(user.join().expect("join"), "the user approved");
    {
        let shown = shown.lock().expect("lock");
        assert_eq!(shown.len(), 1);
        assert!(
            shown[0].contains("/devicelogin") && shown[0].contains("enter the code"),
            "{shown:?}"
        );
    }
    source.invalidate();
    let second = source.token().await.expect("refreshed");
    assert_ne!(first.expose(), second.expose());
    assert_eq!(
        shown.lock().expect("lock").len(),
        1,
        "the refresh token was used, no new sign-in"
    );
    assert_eq!(id.tokens_issued("cli-app"), 2);
}

#[tokio::test]
async fn a_declined_device_sign_in_is_an_auth_error_that_says_to_sign_in_again() {
    let id = Arc::new(emulator());
    id.set_device_timing(Duration::from_secs(1), Duration::from_secs(60));
    let source = device_source(&id, Arc::new(Mutex::new(Vec::new())));
    let user = user_answers(&id, false);
    let e = source.token().await.expect_err("declined");
    assert!(user.join().expect("join"));
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(e.to_string().contains("declined"), "{e}");
}
