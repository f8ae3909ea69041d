//! Issue 9, items 10–13 and 19 (options): the server's surface — secrets in endpoint options, option
//! values, unknown methods and the metrics they made, brute force, and hardening. Every test talks HTTP
//! to a real server on a loopback port.

use crate::common::{OPERATOR_TOKEN, TestServer};
use reqwest::Method;
use serde_json::json;

/// Item 10: a secret never sits in an endpoint's options — refused on the way in (API; the CLI sends the
/// same request), and one stored before the rule is never shown to anyone.
#[tokio::test]
async fn a_secret_in_endpoint_options_is_refused_and_never_shown_to_a_viewer() {
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let viewer = s.member(&t, "vera", "viewer").await;
    let files = s.project(&t, "files", "files").await;
    let mail = s.project(&t, "mail", "mail").await;
    for (base, url, options) in [
        (
            &files,
            "s3://bucket/prefix",
            json!({ "s3_endpoint": "http://127.0.0.1:9000", "secret_key": "hunter2-s3" }),
        ),
        (
            &mail,
            "imap://127.0.0.1:143",
            json!({ "password": "hunter2-imap" }),
        ),
        (&files, "/srv/share", json!({ "api-token": "hunter2-tok" })),
    ] {
        let e = s
            .put(
                OPERATOR_TOKEN,
                &format!("{base}/endpoints/source"),
                json!({ "url": url, "options": options }),
            )
            .await
            .err(400);
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains("credential"), "{msg}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    for base in [&files, &mail] {
        let eps = s.get(&viewer, &format!("{base}/endpoints")).await.ok();
        assert!(!eps.to_string().contains("hunter2"), "{eps}");
    }

    // A row stored before the rule (by an older Ferry): its secret is not shown.
    s.put(
        OPERATOR_TOKEN,
        &format!("{files}/endpoints/target"),
        json!({ "url": "/srv/target", "options": { "target_rules": "onedrive" } }),
    )
    .await
    .ok();
    sqlx::query("UPDATE prog_endpoint SET options = ? WHERE side = 'target'")
        .bind(r#"{"target_rules":"onedrive","password":"hunter2-legacy"}"#)
        .execute(s.sqlite_pool())
        .await
        .unwrap();
    let eps = s.get(&viewer, &format!("{files}/endpoints")).await.ok();
    assert!(!eps.to_string().contains("hunter2"), "{eps}");
    assert_eq!(eps["endpoints"][0]["options"]["target_rules"], "onedrive");
}

/// Item 19 (options): a misspelt key or a bad value is refused, with the keys or values that are allowed;
/// good values are stored normalised.
#[tokio::test]
async fn a_misspelt_endpoint_option_or_a_bad_value_is_refused_with_what_is_allowed() {
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let files = s.project(&t, "files", "files").await;
    let mail = s.project(&t, "mail", "mail").await;
    let put = |base: &str, options: serde_json::Value| {
        let url = if base == files {
            "/srv/target"
        } else {
            "imap://127.0.0.1:143"
        };
        let path = format!("{base}/endpoints/target");
        let body = json!({ "url": url, "options": options });
        let s = &s;
        async move { s.put(OPERATOR_TOKEN, &path, body).await }
    };
    let e = put(&files, json!({ "target_rules": "onedirve" }))
        .await
        .err(400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("onedrive, sharepoint, none"),
        "{e}"
    );
    let e = put(&files, json!({ "target_rule": "onedrive" }))
        .await
        .err(400);
    assert!(
        e["message"].as_str().unwrap().contains("target_rules"),
        "{e}"
    );
    let e = put(&mail, json!({ "max_message_size": "35 parsecs" }))
        .await
        .err(400);
    assert!(e["message"].as_str().unwrap().contains("35MB"), "{e}");
    let e = put(&mail, json!({ "concurrency": 0 })).await.err(400);
    assert!(e["message"].as_str().unwrap().contains("from 1"), "{e}");
    // What the CLI sends (`--option concurrency=4`: text) is stored as the number the engine reads.
    put(
        &mail,
        json!({ "concurrency": "4", "max_message_size": "20MB" }),
    )
    .await
    .ok();
    let eps = s
        .get(OPERATOR_TOKEN, &format!("{mail}/endpoints"))
        .await
        .ok();
    assert_eq!(eps["endpoints"][0]["options"]["concurrency"], 4, "{eps}");
    put(&files, json!({ "target_rules": "SharePoint" }))
        .await
        .ok();
    let eps = s
        .get(OPERATOR_TOKEN, &format!("{files}/endpoints"))
        .await
        .ok();
    assert_eq!(eps["endpoints"][0]["options"]["target_rules"], "sharepoint");
}

/// Item 11: a method the route does not take is 405 with `Allow` (not 500), with or without a token, and
/// invented method names add no `/metrics` series.
#[tokio::test]
async fn an_unknown_http_method_is_answered_405_and_adds_no_metrics_series() {
    let s = TestServer::start().await;
    let brew = |from: usize| {
        let s = &s;
        async move {
            for i in from..from + 100 {
                let m = Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
                let resp = s
                    .http
                    .request(m, format!("{}/api/v1/tenants", s.base))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 405);
                assert_eq!(resp.headers()["allow"], "GET, POST, HEAD");
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body["kind"], "method_not_allowed", "{body}");
            }
        }
    };
    let series = || {
        let s = &s;
        async move {
            let text = s
                .http
                .get(format!("{}/metrics", s.base))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines().count()
        }
    };
    brew(0).await;
    // (The first scrape adds the series of GET /metrics itself.)
    series().await;
    let after_100 = series().await;
    brew(100).await;
    // 100 more invented method names: not one more line.
    assert_eq!(series().await, after_100);
    let a = s
        .call(OPERATOR_TOKEN, Method::DELETE, "/api/v1/me", None)
        .await;
    assert_eq!(a.status, 405, "{:?}", a.body);
    let a = s
        .call(
            OPERATOR_TOKEN,
            Method::from_bytes(b"PROPFIND").unwrap(),
            "/nowhere",
            None,
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    let head = s
        .http
        .head(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);

    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("BREW"), "a method name became a label");
    assert!(text.contains("method=\"other\""), "{text}");
    let methods: std::collections::BTreeSet<&str> = text
        .match_indices("method=\"")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert!(
        methods.iter().all(|m| [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"
        ]
        .contains(m)),
        "{methods:?}"
    );
}

/// Item 12: unknown tokens from one address are slowed down (429 with Retry-After) before any token is
/// looked at; requests with a valid token do not use the allowance, and another address is not affected.
#[tokio::test]
async fn repeated_unknown_tokens_from_one_address_are_throttled_and_others_are_not() {
    let s = TestServer::start().await;
    // Valid requests, many of them, never count.
    for _ in 0..30 {
        s.get(OPERATOR_TOKEN, "/api/v1/me").await.ok();
    }
    let mut throttled = None;
    for i in 0..40 {
        let resp = s
            .http
            .get(format!("{}/api/v1/me", s.base))
            .bearer_auth(format!("fy_guess_{i}"))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            401 => continue,
            429 => {
                throttled = Some(resp);
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let resp = throttled.expect("unknown tokens were never throttled");
    let secs: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    // Blocked means blocked: even the right token teaches nothing from this address now.
    s.get(OPERATOR_TOKEN, "/api/v1/me").await.err(429);
    // A request without a token is not a guess, and public routes stay open.
    s.get("", "/api/v1/me").await.err(401);
    let health = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Another client address (127.0.0.2 is loopback too) is not affected.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let ok = other
        .get(format!("{}/api/v1/me", s.base))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = other
        .get(format!("{}/api/v1/me", s.base))
        .bearer_auth("fy_guess_other")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

/// Item 12: the operator's chosen token must have at least 128 bits of entropy; a short or guessable one
/// is refused at start with what to do, a random one is taken.
#[tokio::test]
async fn a_guessable_bootstrap_token_is_refused_at_start() {
    for weak in [
        "fy_test_operator_token_0123456789",
        "0123456789abcdef0123",
        "0123456789abcdef0123456789abcdef",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "correct horse battery staple",
        "Password1234567!",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let st = ferry_server::open(ferry_server::ServiceConfig {
            data_dir: dir.path().to_path_buf(),
            store: None,
            settings: Default::default(),
            clock: std::sync::Arc::new(ferry_server::SystemClock),
            vault: ferry_server::Vault::ephemeral().unwrap(),
        })
        .await
        .unwrap();
        let e = ferry_server::bootstrap(&st, Some(weak)).await.unwrap_err();
        assert!(
            e.message().contains("FERRY_BOOTSTRAP_TOKEN") && e.message().contains("128"),
            "{weak}: {e}"
        );
        assert!(!e.message().contains(weak), "the token is echoed: {e}");
    }
    // `openssl rand -base64 32`, `openssl rand -hex 32`: taken.
    for strong in [
        "u3kE9vQ0Zr7m2Xc1pL8sYw4nB6tA5dHfJgK0oIiUe1M=",
        "4f1c9a7e2b3d8f60a5c4e1b7d9f2a3c68e0b5d1f7a2c9e4b3d6f8a1c0e5b7d92",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let st = ferry_server::open(ferry_server::ServiceConfig {
            data_dir: dir.path().to_path_buf(),
            store: None,
            settings: Default::default(),
            clock: std::sync::Arc::new(ferry_server::SystemClock),
            vault: ferry_server::Vault::ephemeral().unwrap(),
        })
        .await
        .unwrap();
        assert_eq!(
            ferry_server::bootstrap(&st, Some(strong)).await.unwrap(),
            None,
            "{strong}"
        );
    }
}

/// Item 13: answers carry the security headers; a token-bearing answer is never cached.
#[tokio::test]
async fn answers_carry_security_headers_and_token_answers_are_not_cached() {
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let resp = s
        .http
        .post(format!("{}/api/v1/tenants/{t}/members", s.base))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({ "user": "newbie", "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    assert!(resp.text().await.unwrap().contains("fy_"));
    for path in ["/api/v1/me", "/healthz", "/api/v1/nowhere"] {
        let resp = s
            .http
            .get(format!("{}{path}", s.base))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap();
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
    }
}

/// Item 13: an unknown JSON field is refused naming the field (not silently dropped).
#[tokio::test]
async fn an_unknown_json_field_is_refused_naming_the_field() {
    let s = TestServer::start().await;
    let e = s
        .post(
            OPERATOR_TOKEN,
            "/api/v1/tenants",
            json!({
                "name": "Contoso", "plan": "commercial", "seats": { "paid": 800 },
                "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7",
                "is_admin": true,
            }),
        )
        .await
        .err(422);
    assert!(e["message"].as_str().unwrap().contains("is_admin"), "{e}");
}

/// Item 13: names refuse NUL, CR/LF, other control characters and bidi overrides.
#[tokio::test]
async fn names_refuse_control_and_bidi_override_characters() {
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let project = s.project(&t, "mail", "mail").await;
    for bad in [
        "evil\0name",
        "line\r\nInjected: yes",
        "invoice\u{202E}fdp.exe",
        "isolate\u{2066}x",
        "tab\tname",
    ] {
        let e = s
            .post(
                OPERATOR_TOKEN,
                "/api/v1/tenants",
                json!({
                    "name": bad, "plan": "commercial", "seats": { "paid": 800 },
                    "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7",
                }),
            )
            .await
            .err(400);
        assert!(e["message"].as_str().unwrap().contains("character"), "{e}");
        s.post(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{t}/projects"),
            json!({ "name": bad, "workload": "mail" }),
        )
        .await
        .err(400);
        s.patch(OPERATOR_TOKEN, &project, json!({ "name": bad }))
            .await
            .err(400);
        s.post(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{t}/members"),
            json!({ "user": bad, "role": "viewer" }),
        )
        .await
        .err(400);
    }
    // Names in other scripts are fine.
    s.post(
        OPERATOR_TOKEN,
        &format!("/api/v1/tenants/{t}/projects"),
        json!({ "name": "Курьер — メール", "workload": "mail" }),
    )
    .await
    .ok();
}

/// Item 13: negative or huge paging values are refused with the limit, not clamped silently.
#[tokio::test]
async fn negative_or_huge_paging_values_are_refused() {
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let audit = format!("/api/v1/tenants/{t}/audit");
    for q in [
        "limit=-1",
        "limit=0",
        "limit=5001",
        "limit=99999999999999999999",
        "after=-5",
        "limt=10",
    ] {
        let e = s
            .get(OPERATOR_TOKEN, &format!("{audit}?{q}"))
            .await
            .err(400);
        let msg = e["message"].as_str().unwrap();
        assert!(
            ["5000", "limit", "after", "limt"]
                .iter()
                .any(|w| msg.contains(w)),
            "{q}: {msg}"
        );
    }
    let ok = s
        .get(OPERATOR_TOKEN, &format!("{audit}?limit=5000&after=0"))
        .await
        .ok();
    assert!(ok["entries"].is_array());
    // A misspelt query parameter elsewhere is refused too, not ignored.
    let e = s
        .get(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{t}/projects/00000000-0000-0000-0000-000000000000/events/00000000-0000-0000-0000-000000000000/items?fromat=csv"),
        )
        .await;
    assert_eq!(e.status, 400, "{:?}", e.body);
}

/// Item 13: a customer-admin gets the same answer whether the name it adds is a user of another tenant or
/// nobody's — and never a role for the other tenant's user.
#[tokio::test]
async fn a_customer_admin_cannot_probe_other_tenants_user_names_through_member_add() {
    let s = TestServer::start().await;
    let a = s.tenant("Contoso", 800).await;
    let b = s.tenant("Fabrikam", 800).await;
    let bob_token = s.member(&b, "bob", "customer-admin").await;
    let admin = s.member(&a, "alice", "customer-admin").await;
    let add = |name: &'static str| {
        let path = format!("/api/v1/tenants/{a}/members");
        let (s, admin) = (&s, &admin);
        async move {
            s.post(admin, &path, json!({ "user": name, "role": "viewer" }))
                .await
        }
    };
    let exists_elsewhere = add("bob").await;
    let nobody = add("nobody-at-all").await;
    assert_eq!(exists_elsewhere.status, nobody.status);
    let (x, y) = (exists_elsewhere.body, nobody.body);
    let shape = |v: &serde_json::Value| {
        let mut keys: Vec<String> = v["result"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}:{}", if v.is_null() { "null" } else { "set" }))
                    .collect()
            })
            .unwrap_or_default();
        keys.sort();
        keys
    };
    assert_eq!(shape(&x), shape(&y), "{x} vs {y}");
    assert!(x["result"]["token"].is_string(), "{x}");
    // Tenant B's bob did not get a role on A: his token still sees only B.
    let me = s.get(&bob_token, "/api/v1/me").await.ok();
    assert_eq!(me["roles"].as_array().unwrap().len(), 1, "{me}");
    // The member list of A shows the name A gave.
    let members = s
        .get(&admin, &format!("/api/v1/tenants/{a}/members"))
        .await
        .ok();
    let names: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"bob") && names.contains(&"nobody-at-all"),
        "{names:?}"
    );
}
