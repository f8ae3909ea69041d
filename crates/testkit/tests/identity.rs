//! The identity platform emulator against its documented behaviour (request → documented answer), one test
//! per numbered behaviour in `ferry_testkit::identity`'s module doc.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_testkit::http::{Body, RawHttp};
use ferry_testkit::identity::{App, Identity, other_certificate, test_certificate};
use serde_json::{Value, json};
use sha2::Digest as _;
use std::io;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type R = io::Result<()>;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const DOMAIN: &str = "contoso.onmicrosoft.com";
const EXO: &str = "https://outlook.office365.com/.default";

fn emulator() -> io::Result<Identity> {
    let id = Identity::start()?;
    id.add_tenant(TENANT, &[DOMAIN]);
    id.add_app(
        TENANT,
        App::new("app-1")
            .with_secret("s3cret")
            .with_certificate(test_certificate().1)
            .with_role("IMAP.AccessAsApp"),
    );
    id.add_app(TENANT, App::new("cli-app").public());
    id.add_user(TENANT, "alice@contoso.com");
    Ok(id)
}

fn post(id: &Identity, path: &str, form: &[(&str, &str)]) -> io::Result<(u16, Value)> {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut c = RawHttp::connect(id.addr())?;
    let r = c.request(
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Body::Bytes(body.as_bytes()),
    )?;
    let v = serde_json::from_slice(&r.body).map_err(io::Error::other)?;
    Ok((r.status, v))
}

fn token_path(tenant: &str) -> String {
    format!("/{tenant}/oauth2/v2.0/token")
}

fn claims(token: &str, key: &[u8]) -> Value {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(key), &v)
        .expect("an HS256 token signed with jwt_key")
        .claims
}

/// The documented error shape: `error`, `error_description` starting `AADSTSnnn:`, `error_codes` [nnn].
fn assert_refusal(answer: &(u16, Value), status: u16, error: &str, code: Option<u64>) {
    let (s, v) = answer;
    assert_eq!((*s, v["error"].as_str()), (status, Some(error)), "{v}");
    let desc = v["error_description"].as_str().unwrap_or("");
    assert!(desc.contains("Trace ID: "), "{desc}");
    assert!(
        v["correlation_id"].is_string() && v["timestamp"].is_string(),
        "{v}"
    );
    if let Some(c) = code {
        assert!(desc.starts_with(&format!("AADSTS{c}: ")), "{desc}");
        assert_eq!(v["error_codes"], json!([c]), "{v}");
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A client assertion as Microsoft documents it, with claims overridable.
fn assertion(id: &Identity, key_pem: &str, cert_pem: &str, patch: Value) -> String {
    let der = pem::parse(cert_pem.as_bytes()).expect("cert pem");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der.contents())));
    let t = now();
    let mut c = json!({
        "aud": id.token_endpoint(TENANT), "iss": "app-1", "sub": "app-1",
        "jti": format!("{}", fastrand::u64(..)), "nbf": t, "exp": t + 600,
    });
    if let (Some(obj), Some(p)) = (c.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            obj.insert(k.clone(), v.clone());
        }
    }
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).expect("rsa key");
    jsonwebtoken::encode(&header, &c, &key).expect("sign")
}

fn with_assertion(id: &Identity, a: &str) -> io::Result<(u16, Value)> {
    post(
        id,
        &token_path(TENANT),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("scope", EXO),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", a),
        ],
    )
}

#[test]
fn b1_a_client_secret_gets_a_compact_app_token_by_tenant_id_or_domain() -> R {
    let id = emulator()?;
    for tenant in [TENANT, DOMAIN] {
        let (status, v) = post(
            &id,
            &token_path(tenant),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "app-1"),
                ("client_secret", "s3cret"),
                ("scope", EXO),
            ],
        )?;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3599);
        assert!(
            v.get("refresh_token").is_none(),
            "no refresh token for app-only"
        );
        let c = claims(v["access_token"].as_str().unwrap_or(""), id.jwt_key());
        assert_eq!(c["aud"], "https://outlook.office365.com");
        assert_eq!(c["tid"], TENANT);
        assert_eq!(c["appid"], "app-1");
        assert_eq!(c["roles"], json!(["IMAP.AccessAsApp"]));
        let plain = c
            .as_object()
            .map(|o| o.values().filter(|v| !v.is_array()).count());
        assert!(plain <= Some(7), "compact for Dovecot: {c}");
    }
    assert_eq!(id.tokens_issued("app-1"), 2);
    Ok(())
}

#[test]
fn b1_token_lifetime_is_a_setting_in_seconds() -> R {
    let id = emulator()?;
    id.set_token_lifetime(Duration::from_secs(3));
    let (_, v) = post(
        &id,
        &token_path(TENANT),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("client_secret", "s3cret"),
            ("scope", EXO),
        ],
    )?;
    assert_eq!(v["expires_in"], 3);
    let c = claims(v["access_token"].as_str().unwrap_or(""), id.jwt_key());
    assert_eq!(
        c["exp"]
            .as_u64()
            .map(|e| e - c["nbf"].as_u64().unwrap_or(0)),
        Some(3)
    );
    Ok(())
}

#[test]
fn b2_a_certificate_assertion_gets_a_token_and_bad_ones_are_refused() -> R {
    let id = emulator()?;
    let (key, cert) = test_certificate();
    let ok = with_assertion(&id, &assertion(&id, key, cert, json!({})))?;
    assert_eq!(ok.0, 200, "{}", ok.1);

    // Signed with a key that is not the registered certificate's, but claiming its thumbprint.
    let (other_key, _) = other_certificate();
    let forged = assertion(&id, other_key, cert, json!({}));
    assert_refusal(
        &with_assertion(&id, &forged)?,
        401,
        "invalid_client",
        Some(700027),
    );
    // A certificate the app does not have.
    let (ok2, other_cert) = other_certificate();
    let unknown = assertion(&id, ok2, other_cert, json!({}));
    assert_refusal(
        &with_assertion(&id, &unknown)?,
        401,
        "invalid_client",
        Some(700027),
    );
    // Wrong audience, wrong issuer.
    let aud = assertion(
        &id,
        key,
        cert,
        json!({"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token"}),
    );
    assert_refusal(
        &with_assertion(&id, &aud)?,
        401,
        "invalid_client",
        Some(700027),
    );
    let iss = assertion(&id, key, cert, json!({"iss": "someone-else"}));
    assert_refusal(
        &with_assertion(&id, &iss)?,
        401,
        "invalid_client",
        Some(700027),
    );
    // Expired an hour ago; not valid for another hour.
    let t = now();
    let expired = assertion(&id, key, cert, json!({"nbf": t - 7200, "exp": t - 3600}));
    assert_refusal(
        &with_assertion(&id, &expired)?,
        401,
        "invalid_client",
        Some(700024),
    );
    let early = assertion(&id, key, cert, json!({"nbf": t + 3600, "exp": t + 4000}));
    assert_refusal(
        &with_assertion(&id, &early)?,
        401,
        "invalid_client",
        Some(700024),
    );
    assert_refusal(
        &with_assertion(&id, "not.a.jwt")?,
        401,
        "invalid_client",
        Some(50027),
    );
    assert_eq!(id.tokens_issued("app-1"), 1);
    Ok(())
}

#[test]
fn b3_wrong_secret_missing_credential_unknown_app_tenant_scope_and_grant_are_documented_errors() -> R
{
    let id = emulator()?;
    let cc = |tenant: &str, client: &str, secret: Option<&str>, scope: &str| {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("scope", scope),
        ];
        if let Some(s) = secret {
            form.push(("client_secret", s));
        }
        post(&id, &token_path(tenant), &form)
    };
    let wrong = cc(TENANT, "app-1", Some("nope"), EXO)?;
    assert_refusal(&wrong, 401, "invalid_client", Some(7000215));
    assert!(
        !wrong.1.to_string().contains("nope"),
        "the secret is never echoed"
    );
    assert_refusal(
        &cc(TENANT, "app-1", None, EXO)?,
        401,
        "invalid_client",
        Some(7000218),
    );
    assert_refusal(
        &cc(TENANT, "ghost", Some("s3cret"), EXO)?,
        400,
        "unauthorized_client",
        Some(700016),
    );
    assert_refusal(
        &cc("fabrikam.example", "app-1", Some("s3cret"), EXO)?,
        400,
        "invalid_request",
        Some(90002),
    );
    assert_refusal(
        &cc(
            TENANT,
            "app-1",
            Some("s3cret"),
            "https://outlook.office365.com/IMAP.AccessAsUser.All",
        )?,
        400,
        "invalid_scope",
        Some(1002012),
    );
    let grant = post(
        &id,
        &token_path(TENANT),
        &[("grant_type", "password"), ("client_id", "app-1")],
    )?;
    assert_refusal(&grant, 400, "unsupported_grant_type", Some(70003));
    assert_eq!(id.tokens_issued("app-1"), 0);
    assert!(id.requests() >= 6);
    Ok(())
}

fn start_device(id: &Identity, client: &str) -> io::Result<(u16, Value)> {
    post(
        id,
        &format!("/{TENANT}/oauth2/v2.0/devicecode"),
        &[
            ("client_id", client),
            (
                "scope",
                "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access",
            ),
        ],
    )
}

fn poll(id: &Identity, device_code: &str) -> io::Result<(u16, Value)> {
    post(
        id,
        &token_path(TENANT),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "cli-app"),
            ("device_code", device_code),
        ],
    )
}

/// Wait (bounded) until `interval` has passed since the last poll.
fn wait_interval(since: Instant, interval: Duration) {
    let until = since + interval + Duration::from_millis(50);
    while Instant::now() < until {
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
    }
}

#[test]
fn b4_a_device_code_comes_with_the_message_to_show_and_only_for_public_clients() -> R {
    let id = emulator()?;
    let (status, v) = start_device(&id, "cli-app")?;
    assert_eq!(status, 200, "{v}");
    let code = v["user_code"].as_str().unwrap_or("");
    let uri = v["verification_uri"].as_str().unwrap_or("");
    assert!(!code.is_empty() && !uri.is_empty(), "{v}");
    assert!(
        v["device_code"].is_string() && v["expires_in"] == 900 && v["interval"] == 5,
        "{v}"
    );
    let msg = v["message"].as_str().unwrap_or("");
    assert!(msg.contains(code) && msg.contains(uri), "{msg}");
    assert_eq!(id.pending_device_codes(), vec![code.to_owned()]);
    assert_refusal(
        &start_device(&id, "app-1")?,
        400,
        "unauthorized_client",
        Some(7000218),
    );
    assert_refusal(
        &start_device(&id, "ghost")?,
        400,
        "unauthorized_client",
        Some(700016),
    );
    Ok(())
}

#[test]
fn b5_device_polling_is_pending_then_slow_down_then_declined_or_a_delegated_token() -> R {
    let id = emulator()?;
    id.set_device_timing(Duration::from_secs(1), Duration::from_secs(900));
    let (_, v) = start_device(&id, "cli-app")?;
    let device = v["device_code"].as_str().unwrap_or("").to_owned();
    let first = Instant::now();
    assert_refusal(
        &poll(&id, &device)?,
        400,
        "authorization_pending",
        Some(70016),
    );
    // At once again: too fast.
    assert_refusal(&poll(&id, &device)?, 400, "slow_down", None);
    // The interval grew by 5 s: polling after the old 1 s is still too fast.
    wait_interval(first, Duration::from_secs(1));
    assert_refusal(&poll(&id, &device)?, 400, "slow_down", None);

    // Another sign-in, approved by a user of the tenant before the first poll.
    let (_, v) = start_device(&id, "cli-app")?;
    let device = v["device_code"].as_str().unwrap_or("").to_owned();
    let user_code = v["user_code"].as_str().unwrap_or("").to_owned();
    assert!(
        !id.approve_device_code(&user_code, "mallory@elsewhere"),
        "unknown user"
    );
    assert!(id.approve_device_code(&user_code, "alice@contoso.com"));
    let (status, tok) = poll(&id, &device)?;
    assert_eq!(status, 200, "{tok}");
    let c = claims(tok["access_token"].as_str().unwrap_or(""), id.jwt_key());
    assert_eq!(c["email"], "alice@contoso.com");
    assert_eq!(c["scp"], "IMAP.AccessAsUser.All");
    assert_eq!(c["aud"], "https://outlook.office365.com");
    assert!(
        c.as_object()
            .is_some_and(|o| o.values().all(|v| !v.is_array())),
        "{c}"
    );
    assert!(tok["refresh_token"].is_string(), "offline_access was asked");
    assert_refusal(&poll(&id, &device)?, 400, "bad_verification_code", None);

    // Declined.
    let (_, v) = start_device(&id, "cli-app")?;
    let d2 = v["device_code"].as_str().unwrap_or("").to_owned();
    assert!(id.decline_device_code(v["user_code"].as_str().unwrap_or("")));
    assert_refusal(&poll(&id, &d2)?, 400, "authorization_declined", None);
    Ok(())
}

#[test]
fn b5_an_unused_device_code_expires() -> R {
    let id = emulator()?;
    id.set_device_timing(Duration::from_secs(1), Duration::from_secs(1));
    let (_, v) = start_device(&id, "cli-app")?;
    let device = v["device_code"].as_str().unwrap_or("").to_owned();
    wait_interval(Instant::now(), Duration::from_secs(1));
    assert_refusal(&poll(&id, &device)?, 400, "expired_token", Some(70019));
    Ok(())
}

#[test]
fn b6_a_refresh_token_gets_a_new_access_token_and_an_unknown_one_is_invalid_grant() -> R {
    let id = emulator()?;
    id.set_device_timing(Duration::from_secs(1), Duration::from_secs(900));
    let (_, v) = start_device(&id, "cli-app")?;
    let device = v["device_code"].as_str().unwrap_or("").to_owned();
    assert!(id.approve_device_code(v["user_code"].as_str().unwrap_or(""), "alice@contoso.com"));
    let (_, tok) = poll(&id, &device)?;
    let refresh = tok["refresh_token"].as_str().unwrap_or("").to_owned();
    let form = |r: &str| {
        post(
            &id,
            &token_path(TENANT),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "cli-app"),
                ("refresh_token", r),
                (
                    "scope",
                    "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access",
                ),
            ],
        )
    };
    let (status, again) = form(&refresh)?;
    assert_eq!(status, 200, "{again}");
    let c = claims(again["access_token"].as_str().unwrap_or(""), id.jwt_key());
    assert_eq!(c["email"], "alice@contoso.com");
    assert!(again["refresh_token"].is_string());
    assert_refusal(&form("made-up")?, 400, "invalid_grant", Some(70000));
    assert_eq!(id.tokens_issued("cli-app"), 2);
    Ok(())
}

#[test]
fn dovecot_with_the_oauth2_passdb_accepts_an_emulator_token_and_keeps_password_and_master_logins()
-> R {
    use ferry_testkit::dovecot::{Dovecot, DovecotOptions};
    let id = emulator()?;
    let server = Dovecot::start(DovecotOptions {
        oauth2_hs256_key: Some(id.hs256_key()),
        ..DovecotOptions::default()
    })?;
    server.add_user("alice@contoso.com", "pw")?;
    id.set_device_timing(Duration::from_secs(1), Duration::from_secs(60));
    let (_, v) = start_device(&id, "cli-app")?;
    assert!(id.approve_device_code(v["user_code"].as_str().unwrap_or(""), "alice@contoso.com"));
    let (_, tok) = poll(&id, v["device_code"].as_str().unwrap_or(""))?;
    let token = tok["access_token"].as_str().unwrap_or("");
    let ir = base64::engine::general_purpose::STANDARD.encode(format!(
        "user=alice@contoso.com\x01auth=Bearer {token}\x01\x01"
    ));
    let answer = authenticate(server.addr(), &ir)?;
    assert!(answer.starts_with("a OK"), "{answer}\n{}", server.log());
    // Another user's login name with alice's token: refused.
    let bob = base64::engine::general_purpose::STANDARD.encode(format!(
        "user=bob@contoso.com\x01auth=Bearer {token}\x01\x01"
    ));
    let answer = authenticate(server.addr(), &bob)?;
    assert!(answer.starts_with("a NO"), "{answer}");
    // An expired token: refused (this is what makes a mid-pass refresh necessary).
    id.set_token_lifetime(Duration::from_secs(1));
    let (_, fresh) = post(
        &id,
        &token_path(TENANT),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "cli-app"),
            ("refresh_token", tok["refresh_token"].as_str().unwrap_or("")),
            (
                "scope",
                "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access",
            ),
        ],
    )?;
    let short = fresh["access_token"].as_str().unwrap_or("");
    let exp = claims(short, id.jwt_key())["exp"].as_u64().unwrap_or(0);
    while now() <= exp + 1 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stale = base64::engine::general_purpose::STANDARD.encode(format!(
        "user=alice@contoso.com\x01auth=Bearer {short}\x01\x01"
    ));
    let answer = authenticate(server.addr(), &stale)?;
    assert!(answer.starts_with("a NO"), "{answer}");
    assert!(server.log().contains("expired"), "{}", server.log());
    // Password and master-user logins still work.
    let mut p = ferry_testkit::RawImap::connect(server.addr())?;
    p.login("alice@contoso.com", "pw")?;
    p.logout();
    server.connect("alice@contoso.com")?.logout();
    Ok(())
}

/// `AUTHENTICATE XOAUTH2` with SASL-IR on a fresh connection; answers an error challenge with an empty line
/// (as clients must) and returns the tagged reply.
fn authenticate(addr: std::net::SocketAddr, ir: &str) -> io::Result<String> {
    use std::io::{BufRead, Write};
    let s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut w = s.try_clone()?;
    let mut r = std::io::BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    w.write_all(format!("a AUTHENTICATE XOAUTH2 {ir}\r\n").as_bytes())?;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(String::new());
        }
        if line.starts_with('+') {
            w.write_all(b"\r\n")?;
        } else if line.starts_with("a ") {
            return Ok(line.trim_end().to_owned());
        }
    }
}
