//! Bearer tokens and application permissions.

use crate::common::*;

#[test]
fn requests_without_a_valid_bearer_token_get_401_with_the_error_resource() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    for auth in [
        String::new(),
        "Bearer ".into(),
        "Bearer not.a.jwt".into(),
        format!("Bearer {}", t.g.token_for(-60, false)),
        format!(
            "Bearer {}",
            ferry_testkit::graph::auth::mint(
                b"another key",
                &t.g.tenant_id(),
                "https://graph.microsoft.com",
                600,
                false
            )
        ),
        format!(
            "Bearer {}",
            ferry_testkit::graph::auth::mint(
                &t.g.jwt_key(),
                &t.g.tenant_id(),
                "https://outlook.office365.com",
                600,
                false
            )
        ),
    ] {
        t.auth = auth;
        let r = t.get(&d)?;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(code(&r), "unauthenticated");
        assert!(body(&r)["error"]["innerError"]["request-id"].is_string());
    }
    t.auth = format!("Bearer {}", t.g.token());
    assert_eq!(t.get(&d)?.status, 200);
    assert_eq!(t.g.stats().unauthorized, 6);
    Ok(())
}

#[test]
fn tokens_from_the_identity_emulator_are_accepted_when_the_graph_trusts_its_key() -> R {
    use ferry_testkit::identity::{App, Identity};
    let tenant = "11111111-2222-3333-4444-555555555555";
    let id = Identity::start()?;
    id.add_tenant(tenant, &["contoso.onmicrosoft.com"]);
    id.add_app(
        tenant,
        App::new("ferry")
            .with_secret("s3cret")
            .with_role("Sites.ReadWrite.All"),
    );
    let form = "grant_type=client_credentials&client_id=ferry&client_secret=s3cret\
                &scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";
    let r = RawHttp::connect(id.addr())?.request(
        "POST",
        &format!("/{tenant}/oauth2/v2.0/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Body::Bytes(form.as_bytes()),
    )?;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = body(&r)["access_token"].as_str().unwrap_or("").to_owned();
    let g = GraphEmulator::start(GraphOptions::trusting(id.jwt_key(), tenant))?;
    let drive = g.add_user("alice@contoso.com");
    let auth = format!("Bearer {token}");
    let mut c = RawHttp::connect(g.addr())?;
    let r = c.request(
        "GET",
        &format!("/v1.0/drives/{drive}"),
        &[("Authorization", auth.as_str())],
        Body::None,
    )?;
    assert_eq!(r.status, 200, "{}", r.text());
    // A Graph that trusts another key refuses it.
    let other = GraphEmulator::start(GraphOptions::default())?;
    let d2 = other.add_user("alice@contoso.com");
    let r = RawHttp::connect(other.addr())?.request(
        "GET",
        &format!("/v1.0/drives/{d2}"),
        &[("Authorization", auth.as_str())],
        Body::None,
    )?;
    assert_eq!(r.status, 401);
    Ok(())
}

#[test]
fn app_only_tokens_need_the_documented_application_permissions() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    let with_roles = |t: &T, roles: &[&str]| {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({"aud": "https://graph.microsoft.com", "tid": t.g.tenant_id(), "roles": roles,
                            "nbf": now - 5, "exp": now + 600});
        format!(
            "Bearer {}",
            ferry_testkit::graph::auth::sign(&t.g.jwt_key(), &claims)
        )
    };
    t.auth = with_roles(&t, &[]);
    let r = t.get(&d)?;
    assert_eq!((r.status, code(&r)), (403, "accessDenied".into()));
    t.auth = with_roles(&t, &["Files.Read.All"]);
    assert_eq!(t.get(&d)?.status, 200);
    let r = t.put(&format!("{d}/root:/a.txt:/content"), b"x")?;
    assert_eq!(r.status, 403);
    t.auth = with_roles(&t, &["Files.ReadWrite.All"]);
    assert_eq!(
        t.put(&format!("{d}/root:/a.txt:/content"), b"x")?.status,
        201
    );
    let r = t.json(
        "POST",
        &format!("{d}/root:/b.bin:/createUploadSession"),
        &json!({}),
    )?;
    assert_eq!(
        r.status, 403,
        "createUploadSession lists only Sites.ReadWrite.All for applications"
    );
    t.auth = with_roles(&t, &["Sites.ReadWrite.All"]);
    assert_eq!(
        t.json(
            "POST",
            &format!("{d}/root:/b.bin:/createUploadSession"),
            &json!({})
        )?
        .status,
        200
    );
    // Delegated tokens carry scopes, not roles: not checked here.
    t.auth = format!("Bearer {}", t.g.token_for(600, true));
    assert_eq!(
        t.put(&format!("{d}/root:/c.txt:/content"), b"x")?.status,
        201
    );
    Ok(())
}
