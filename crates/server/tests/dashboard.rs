//! The dashboard, end to end: a real `ferry serve` and a real headless Chromium over WebDriver
//! (`ferry_testkit::browser`). Screenshots land in `target/screenshots/<test>/`.

mod common;

use chrono::TimeDelta;
use common::{OPERATOR_TOKEN, TestServer};
use fantoccini::Locator;
use ferry_testkit::browser::Browser;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

async fn browser(test: &str) -> Option<Browser> {
    Browser::start(test).await.expect("the browser starts")
}

/// Type `token` into the sign-in form and submit it; waits for the next page.
async fn sign_in(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/")).await.expect("open /");
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("token"))
        .await
        .expect("the sign-in form")
        .send_keys(token)
        .await
        .expect("type the token");
    b.find(Locator::Css("#sign-in button"))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("submit");
}

async fn text_of(b: &Browser, id: &'static str) -> String {
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id} on the page: {e}"))
        .text()
        .await
        .expect("its text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_signs_in_with_a_token_sees_the_frame_with_their_role_and_signs_out() {
    let Some(b) = browser("sign_in_and_out").await else {
        return;
    };
    let server = TestServer::start().await;
    let tenant = server.tenant("Contoso", 600).await;
    let token = server
        .member(&tenant, "alice@contoso.test", "customer-admin")
        .await;

    b.goto(&format!("{}/", server.base)).await.expect("open /");
    assert_eq!(b.title().await.expect("title"), "Sign in · Ferry");
    b.screenshot("sign-in").await.expect("screenshot");

    sign_in(&b, &server.base, &token).await;
    assert_eq!(text_of(&b, "who").await, "alice@contoso.test");
    let roles = text_of(&b, "roles").await;
    assert!(
        roles.contains("Contoso") && roles.contains("customer-admin"),
        "{roles}"
    );
    b.screenshot("signed-in").await.expect("screenshot");

    // The session cookie: HttpOnly and SameSite=Strict, and neither it nor the page holds the token.
    let cookies = b.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "ferry_session")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.same_site(), Some(cookie::SameSite::Strict));
    assert!(!session.value().contains(&token));
    assert!(!b.source().await.expect("source").contains(&token));

    b.find(Locator::Css("#sign-out button"))
        .await
        .expect("the sign-out button")
        .click()
        .await
        .expect("sign out");
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("token"))
        .await
        .expect("back on the sign-in page");
    let cookies = b.get_all_cookies().await.expect("cookies");
    assert!(
        !cookies.iter().any(|c| c.name() == "ferry_session"),
        "the session cookie is gone"
    );
    b.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_token_is_refused_on_the_sign_in_page_without_echoing_it() {
    let Some(b) = browser("unknown_token").await else {
        return;
    };
    let server = TestServer::start().await;
    let guess = "fy_notARealTokenButLongEnoughToLookLikeOne0123456";
    sign_in(&b, &server.base, guess).await;
    let error = text_of(&b, "error").await;
    assert!(error.contains("Unknown or revoked token"), "{error}");
    assert!(!b.source().await.expect("source").contains(guess));
    b.screenshot("refused").await.expect("screenshot");
    b.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_it_expires_and_a_removed_member_no_longer_sees_the_tenant() {
    let Some(b) = browser("session_expiry").await else {
        return;
    };
    let server = TestServer::start().await;
    sign_in(&b, &server.base, OPERATOR_TOKEN).await;
    assert!(text_of(&b, "who").await.contains("(operator)"));

    server.advance(TimeDelta::hours(7));
    b.refresh().await.expect("reload");
    assert!(
        text_of(&b, "who").await.contains("(operator)"),
        "7 h in, still signed in"
    );

    server.advance(TimeDelta::hours(2));
    b.refresh().await.expect("reload");
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("token"))
        .await
        .expect("9 h after sign-in the session has expired: the sign-in page");

    // A member removed from the tenant no longer sees it, on the next page, in the same session.
    let tenant = server.tenant("Fabrikam", 600).await;
    let token = server.member(&tenant, "bob@fabrikam.test", "viewer").await;
    sign_in(&b, &server.base, &token).await;
    assert!(text_of(&b, "roles").await.contains("Fabrikam"));
    let members = server
        .get(OPERATOR_TOKEN, &format!("/api/v1/tenants/{tenant}/members"))
        .await
        .ok();
    let bob = members["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "bob@fabrikam.test"))
        .and_then(|m| m["user"].as_str())
        .expect("bob is a member")
        .to_owned();
    server
        .call(
            OPERATOR_TOKEN,
            reqwest::Method::DELETE,
            &format!("/api/v1/tenants/{tenant}/members/{bob}"),
            None,
        )
        .await
        .ok();
    b.refresh().await.expect("reload");
    assert!(
        text_of(&b, "no-roles")
            .await
            .contains("no role on any tenant")
    );
    assert!(!b.source().await.expect("source").contains("Fabrikam"));
    b.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_post_without_the_matching_csrf_token_is_refused() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = format!("{}/sign-in", server.base);
    // No CSRF cookie at all (a cross-site form).
    let r = http
        .post(&url)
        .form(&[("token", OPERATOR_TOKEN), ("csrf", "x".repeat(43).as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none(), "no session");
    // A cookie, but the form's field does not match it.
    let cookie = format!("ferry_csrf={}", "a".repeat(43));
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&[("token", OPERATOR_TOKEN), ("csrf", "b".repeat(43).as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none(), "no session");
    let body = r.text().await.expect("body");
    assert!(body.contains("CSRF"), "{body}");
    assert!(!body.contains(OPERATOR_TOKEN));
    // The same request with matching cookie and field signs in (303 to / with the session cookie).
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&[("token", OPERATOR_TOKEN), ("csrf", "a".repeat(43).as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 303);
    let set = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(set.starts_with("ferry_session="), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(
        !set.contains("Secure"),
        "plain HTTP: no Secure flag ({set})"
    );
    // Behind a TLS proxy the cookie is Secure.
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .header("x-forwarded-proto", "https")
        .form(&[("token", OPERATOR_TOKEN), ("csrf", "a".repeat(43).as_str())])
        .send()
        .await
        .expect("send");
    let set = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(set.contains("Secure"), "{set}");
    // Sign-out is a form too.
    let r = http
        .post(format!("{}/sign-out", server.base))
        .form(&[("csrf", "a".repeat(43).as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_html_with_the_security_headers_and_a_same_origin_stylesheet() {
    let server = TestServer::start().await;
    let r = server
        .http
        .get(format!("{}/", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(
        h["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert_eq!(
        h["content-security-policy"],
        ferry_server::auth::CONTENT_SECURITY_POLICY
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let csrf = h["set-cookie"].to_str().unwrap_or("");
    assert!(
        csrf.starts_with("ferry_csrf=") && csrf.contains("SameSite=Strict"),
        "{csrf}"
    );
    let body = r.text().await.expect("body");
    assert!(!body.contains("<script"), "reads need no JavaScript");
    assert!(body.contains("href=\"/assets/ferry.css\""));
    let css = server
        .http
        .get(format!("{}/assets/ferry.css", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/css")
    );
}
