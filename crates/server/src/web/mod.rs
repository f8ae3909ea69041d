//! The dashboard: server-rendered HTML pages (askama templates in `crates/server/templates/`) over the same
//! programme operations and store methods as the API handlers; pages hold no SQL and no query of their own.
//!
//! This slice: `GET /` (the sign-in page, or the frame for a signed-in user), `POST /sign-in` (a Ferry
//! token becomes a session cookie, see [`session`]), `POST /sign-out`, and `GET /assets/ferry.css`. Every
//! form carries the CSRF token; a POST without the matching token is refused (403). Pages work without
//! JavaScript and never show a token or a secret.

mod approvals;
pub mod asset;
mod audit;
mod event_choice;
mod event_lists;
mod events;
pub mod frame;
mod live;
mod mapping;
pub mod page;
mod project;
mod report;
mod report_assessment;
mod report_chart;
pub mod session;
mod tenant;
mod tickets;
mod transactions;

use crate::AppState;
use crate::auth::token_hash;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use ferry_store::programme::rows::UserRole;
use serde::Deserialize;
use std::net::SocketAddr;

/// The dashboard's routes (outside `/api/`): sign-in, sign-out and the static files here, every other
/// page from the page table ([`page::PAGES`]), and a friendly 404 page for any other path.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/assets/ferry.css", get(stylesheet))
        .route(asset::HTMX.path, get(|| async { asset::HTMX.serve() }))
        .route(
            asset::HTMX_SSE.path,
            get(|| async { asset::HTMX_SSE.serve() }),
        )
        .merge(page::router(state))
        .fallback(not_found)
}

#[derive(Template, WebTemplate)]
#[template(path = "sign_in.html")]
struct SignInPage {
    csrf: String,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    csrf: String,
    name: String,
    operator: bool,
    roles: Vec<UserRole>,
}

#[derive(Template, WebTemplate)]
#[template(path = "refused.html")]
struct RefusedPage {
    title: &'static str,
    message: String,
}

/// A page with the CSRF cookie added when the browser had none yet.
fn page(status: StatusCode, set_cookies: Vec<String>, body: impl IntoResponse) -> Response {
    let mut resp = (status, body).into_response();
    for c in set_cookies {
        if let Ok(v) = c.parse() {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
    resp
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "dashboard page failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!(
            "Ferry could not show this page (see the server log, request {}); try again.",
            crate::error::request_id()
        ),
    )
}

/// A friendly error page with `status` and `message` (HTML-escaped by the template).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Refused",
        StatusCode::UNAUTHORIZED => "Signed out",
        StatusCode::CONFLICT => "Not done",
        s if s.is_server_error() => "Something went wrong",
        _ => "Cannot do that",
    };
    page(
        status,
        Vec::new(),
        RefusedPage {
            title,
            message: message.to_owned(),
        },
    )
}

/// An API error (from a programme operation or the permission check) as a page with its status; a
/// server error's detail goes to the log, not to the page.
pub(crate) fn api_error_page(e: crate::ApiError) -> Response {
    if e.status.is_server_error() {
        return internal(e.message);
    }
    let message = match e.status {
        StatusCode::NOT_FOUND if e.message.starts_with("no tenant") => {
            "There is no such tenant, or you have no role on it: ask the tenant's admin to add you."
                .to_owned()
        }
        _ => e.message,
    };
    error_page(e.status, &message)
}

fn refused(status: StatusCode, message: &str) -> Response {
    error_page(status, message)
}

/// The sign-in page for a page request without a (live) session: 401.
pub(crate) fn signed_out(csrf: String) -> Response {
    page(
        StatusCode::UNAUTHORIZED,
        Vec::new(),
        SignInPage {
            csrf,
            error: Some("Sign in to see this page (your session may have ended).".to_owned()),
        },
    )
}

/// Any other path: the API's JSON 404 under `/api/`, a 404 page elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    error_page(
        StatusCode::NOT_FOUND,
        "There is no such page: start again from Ferry's home page.",
    )
}

/// `GET /`: the frame for a signed-in user, else the sign-in page.
async fn home(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, set_csrf) = match session::csrf(&headers) {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let cookies: Vec<String> = set_csrf.into_iter().collect();
    let user = match session::token(&st, &headers, st.clock.now()) {
        Some(token) => match st.programme.user_by_token(&token_hash(&token)).await {
            Ok(u) => u,
            Err(e) => return internal(e),
        },
        None => None,
    };
    let Some(user) = user else {
        return page(StatusCode::OK, cookies, SignInPage { csrf, error: None });
    };
    let roles = match st.programme.roles_of(user.id).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    page(
        StatusCode::OK,
        cookies,
        HomePage {
            csrf,
            name: user.name,
            operator: user.operator,
            roles,
        },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// `POST /sign-in`: a known token becomes a session; an unknown one counts against the address exactly as
/// an unknown bearer token does on the API (too many → 429).
async fn sign_in(
    State(st): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !session::csrf_ok(&headers, &form.csrf) {
        return forged();
    }
    let again = |status, error: &str| {
        page(
            status,
            Vec::new(),
            SignInPage {
                csrf: form.csrf.clone(),
                error: Some(error.to_owned()),
            },
        )
    };
    let ip = peer.map(|Extension(ConnectInfo(a))| a.ip());
    if let Some(ip) = ip
        && let Some(wait) = st.throttle.blocked(ip)
    {
        st.metrics.throttled();
        let secs = crate::throttle::retry_after_secs(wait);
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many unknown tokens from this address: try again in {secs} s."),
        );
    }
    let token = form.token.trim();
    if token.is_empty() {
        return again(
            StatusCode::UNAUTHORIZED,
            "Paste your Ferry token to sign in.",
        );
    }
    let user = match st.programme.user_by_token(&token_hash(token)).await {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    if user.is_none() {
        if let Some(ip) = ip
            && st.throttle.failed(ip).is_some()
        {
            st.metrics.throttled();
        }
        return again(
            StatusCode::UNAUTHORIZED,
            "Unknown or revoked token: check it, or ask your tenant's admin for a new one.",
        );
    }
    match session::start(&st, token, &headers) {
        Ok(cookie) => redirect_home(cookie),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /sign-out`: the session cookie is removed.
async fn sign_out(headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if !session::csrf_ok(&headers, &form.csrf) {
        return forged();
    }
    redirect_home(session::end(&headers))
}

pub(crate) fn forged() -> Response {
    refused(
        StatusCode::FORBIDDEN,
        "This form was not sent from Ferry's own page (its CSRF token is missing or wrong): reload the page and try again.",
    )
}

fn redirect_home(set_cookie: String) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    resp.headers_mut()
        .insert(LOCATION, axum::http::HeaderValue::from_static("/"));
    if let Ok(v) = set_cookie.parse() {
        resp.headers_mut().append(SET_COOKIE, v);
    }
    resp
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../assets/ferry.css"),
    )
}
