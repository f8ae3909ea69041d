//! Bearer tokens, callers and the authorisation middleware.
//!
//! A token is `fy_` + 43 base64url characters (256 random bits); only its SHA-256 is stored. Every route
//! of [`ROUTES`](crate::routes::ROUTES) names a permission; the middleware finds the caller's role on the
//! tenant in the path and asks [`ferry_core::programme::role::allowed`] before the handler runs, so no
//! handler can forget a check. The operator account (created on an empty store) may do everything.

use crate::AppState;
use crate::crypto::random_bytes;
use crate::db::Actor;
use crate::error::{ApiError, REQUEST_ID};
use crate::routes::{ROUTES, Scope, find_route};
use crate::throttle;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_core::Result;
use ferry_core::id::{TenantId, UserId};
use ferry_core::programme::role::{Permission, Role, allowed, roles_with};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::str::FromStr;

/// Who is calling, and with which role on the tenant in the path.
#[derive(Clone, Debug, Serialize)]
pub struct Caller {
    pub user: UserId,
    pub name: String,
    pub operator: bool,
    /// The caller's role on the tenant of the path (tenant routes only; `None` for the operator).
    pub role: Option<Role>,
    pub tenant: Option<TenantId>,
}

impl Caller {
    /// The scheduler, when it changes state on its own.
    pub fn scheduler() -> Caller {
        Caller {
            user: UserId(uuid::Uuid::nil()),
            name: "scheduler".into(),
            operator: true,
            role: None,
            tenant: None,
        }
    }

    /// Who the audit log names for this caller's changes.
    pub fn actor(&self) -> Actor {
        if self.user.0.is_nil() {
            Actor::Scheduler
        } else {
            Actor::User(self.user)
        }
    }
}

/// A new random token.
pub fn new_token() -> Result<String> {
    Ok(format!(
        "fy_{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// The bits of entropy a chosen token needs (`FERRY_BOOTSTRAP_TOKEN`).
pub const MIN_TOKEN_BITS: f64 = 128.0;

/// How many bits of entropy `token` has, estimated conservatively with zxcvbn: the parts an attacker
/// would guess first (words, names, dates, keyboard walks, repeats, sequences) count what zxcvbn says
/// they cost, every other character log2(10) ≈ 3.3 bits (zxcvbn's brute-force rate). So 128 bits take
/// about 40 random characters: `openssl rand -base64 32`, `openssl rand -hex 32` and Ferry's own tokens
/// (`fy_` + 43 base64url characters) pass; `fy_test_token_0123456789`, a passphrase of common words or 32
/// hex digits do not. (Only the first 100 characters are looked at; that is plenty.)
pub fn token_bits(token: &str) -> f64 {
    zxcvbn::zxcvbn(token, &["ferry", "token", "operator", "bootstrap"])
        .sequence()
        .iter()
        .map(|m| match m.pattern {
            zxcvbn::matching::patterns::MatchPattern::BruteForce => {
                m.token.chars().count() as f64 * std::f64::consts::LOG2_10
            }
            // Summed as logs: zxcvbn's own total saturates at 2^64.
            _ => (m.guesses.unwrap_or(1).max(1) as f64).log2(),
        })
        .sum()
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Gives every request an id (in the `x-request-id` response header and every error body), turns the
/// plain-text rejections of extractors and the router (bad JSON, bad path, unknown route) into JSON
/// errors, and counts requests.
pub async fn request_id(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().to_string();
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // The route table's pattern (bounded label values for the metrics), not the path with its ids.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let mut resp = REQUEST_ID
        .scope(id.clone(), async move {
            let resp = next.run(req).await;
            if resp.status().is_client_error() || resp.status().is_server_error() {
                // JSON errors and the dashboard's HTML pages are answered as they are.
                let own = resp
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| {
                        v.starts_with("application/json") || v.starts_with("text/html")
                    });
                if !own {
                    return json_rejection(resp).await;
                }
            }
            resp
        })
        .await;
    state.metrics.record(
        method.as_str(),
        route.as_deref(),
        resp.status().as_u16(),
        started.elapsed(),
    );
    tracing::debug!(%method, %path, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, request_id = %id, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    security_headers(resp.headers_mut());
    resp
}

/// The Content-Security-Policy of every answer: nothing but the server's own scripts, styles, images and
/// connections (ready for the dashboard: no inline script, no framing, no form posting elsewhere).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// Headers on every answer (issue 9, item 13). Answers may carry tokens (a new member's) or a tenant's
/// data, so nothing is cached; browsers must not guess content types, frame the pages or leak the URL.
fn security_headers(h: &mut axum::http::HeaderMap) {
    use axum::http::header;
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
}

async fn json_rejection(resp: Response) -> Response {
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let (kind, message) = match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            "no such route: see /api/v1/openapi.json".to_string(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method: see /api/v1/openapi.json".to_string(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "too_large",
            format!("the request body is too large: {text}"),
        ),
        s if s.is_server_error() => ("internal", text),
        _ => ("invalid_request", text),
    };
    let mut e = ApiError::new(status, kind, message).into_response();
    *e.status_mut() = status;
    e
}

/// Authenticates the bearer token and checks the route's permission against the caller's role.
pub async fn authorize(
    State(state): State<AppState>,
    matched: MatchedPath,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().as_str();
    // HEAD is answered like GET (without a body), as axum's `get` routes do.
    let route = find_route(method, matched.as_str())
        .or_else(|| (method == "HEAD").then(|| find_route("GET", matched.as_str()))?);
    let Some(route) = route else {
        // Another method on a route that exists: 405 with the methods it takes, before any token check
        // (the route table is public, in the OpenAPI document).
        return method_not_allowed(matched.as_str());
    };
    if route.scope == Scope::Public {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("").to_string());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // Whether the request makes a guess: an empty `Bearer ` or no header at all is not one.
    let guess = header.as_deref().is_some_and(|h| {
        let h = h.trim();
        let t = h
            .strip_prefix("Bearer")
            .or_else(|| h.strip_prefix("bearer"))
            .unwrap_or(h);
        !t.trim().is_empty()
    });
    // An address that presented too many unknown tokens gets 429 before its token is looked at.
    if guess
        && let Some(ip) = peer
        && let Some(wait) = state.throttle.blocked(ip)
    {
        state.metrics.throttled();
        return too_many_failures(wait);
    }
    let path = req.uri().path().to_string();
    let caller = match authenticate(&state, header.as_deref()).await {
        Ok(c) => c,
        Err(e) => {
            if guess
                && let Some(ip) = peer
                && let Some(wait) = state.throttle.failed(ip)
            {
                tracing::warn!(%ip, "too many unknown tokens from one address: throttled");
                state.metrics.throttled();
                return too_many_failures(wait);
            }
            return e.into_response();
        }
    };
    let tenant = tenant_in_path(&path);
    let caller = match check(&state, caller, route.scope, route.permission, tenant).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// 405 with `Allow`: the methods the route table has for `pattern`.
fn method_not_allowed(pattern: &str) -> Response {
    let mut methods: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.path == pattern)
        .map(|r| r.method)
        .collect();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    let allow = methods.join(", ");
    let mut resp = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this route takes {allow}: see /api/v1/openapi.json"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&allow) {
        resp.headers_mut().insert(ALLOW, v);
    }
    resp
}

/// 429 with `Retry-After`.
fn too_many_failures(wait: std::time::Duration) -> Response {
    let secs = throttle::retry_after_secs(wait);
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!(
            "too many unknown tokens from this address: try again in {secs} s with a valid token"
        ),
    )
    .into_response();
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    resp
}

async fn authenticate(state: &AppState, header: Option<&str>) -> Result<Caller, ApiError> {
    let header = header.ok_or_else(|| {
            ApiError::unauthenticated(
                "no bearer token: send `Authorization: Bearer <token>` (ferry serve prints the operator's token on first start)",
            )
        })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthenticated("the Authorization header must be `Bearer <token>`")
        })?;
    let user = state
        .programme
        .user_by_token(&token_hash(token))
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unknown or revoked token"))?;
    Ok(Caller {
        user: user.id,
        name: user.name,
        operator: user.operator,
        role: None,
        tenant: None,
    })
}

/// The tenant id in a tenant route's path (`/api/v1/tenants/{tenant}/…`).
pub fn tenant_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("/api/v1/tenants/")
        .map(|rest| rest.split('/').next().unwrap_or(rest))
}

/// Whether `caller` may use `permission` in `scope` (`tenant`: the tenant id as written in the path of a
/// tenant-scoped route). The API's middleware and the dashboard's pages both decide with this function.
pub(crate) async fn check(
    state: &AppState,
    mut caller: Caller,
    scope: Scope,
    permission: Permission,
    tenant: Option<&str>,
) -> Result<Caller, ApiError> {
    match scope {
        Scope::Public => Ok(caller),
        Scope::Global => {
            if caller.operator || permission == Permission::Read {
                return Ok(caller);
            }
            let roles = state.programme.roles_anywhere(caller.user).await?;
            if roles
                .iter()
                .filter_map(|r| Role::from_str(r).ok())
                .any(|r| allowed(r, permission))
            {
                Ok(caller)
            } else {
                Err(refusal(None, permission))
            }
        }
        Scope::Tenant => {
            let raw = tenant.unwrap_or("");
            let tenant = TenantId::from_str(raw)
                .map_err(|_| ApiError::not_found(format!("no tenant {raw:?}")))?;
            if !state.programme.tenant_exists(tenant).await? {
                return Err(ApiError::not_found(format!("no tenant {tenant}")));
            }
            caller.tenant = Some(tenant);
            if caller.operator {
                return Ok(caller);
            }
            let role = state.programme.member_role(tenant, caller.user).await?;
            // A user without a role on the tenant learns nothing about it.
            let role = role
                .and_then(|r| Role::from_str(&r).ok())
                .ok_or_else(|| ApiError::not_found(format!("no tenant {tenant}")))?;
            caller.role = Some(role);
            if allowed(role, permission) {
                Ok(caller)
            } else {
                Err(refusal(Some(role), permission))
            }
        }
    }
}

fn refusal(role: Option<Role>, permission: Permission) -> ApiError {
    let who: Vec<&str> = roles_with(permission).iter().map(|r| r.as_str()).collect();
    let holder = match role {
        Some(r) => format!("the {r} role"),
        None => "none of your roles".to_string(),
    };
    ApiError::forbidden(format!(
        "{holder} may not {permission}; roles that may: {}",
        if who.is_empty() {
            "operator only".to_string()
        } else {
            who.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_only_their_hash_is_kept() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("fy_") && a.len() == 46, "{a}");
        assert_eq!(token_hash(&a).len(), 64);
        assert!(!token_hash(&a).contains(&a[3..]));
    }

    #[test]
    fn guessable_tokens_have_fewer_than_128_bits_and_random_ones_more() {
        for weak in [
            "fy_test_operator_token_0123456789",
            "0123456789abcdef0123",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "correct horse battery staple",
            "Password1234567!",
            "abcdefghijklmnopqrstuvwxyz0123456789",
            "0123456789abcdef0123456789abcdef",
        ] {
            let bits = token_bits(weak);
            assert!(bits < MIN_TOKEN_BITS, "{weak}: {bits}");
        }
        for _ in 0..20 {
            let t = new_token().unwrap();
            assert!(token_bits(&t) >= MIN_TOKEN_BITS, "{t}: {}", token_bits(&t));
        }
        for strong in [
            "u3kE9vQ0Zr7m2Xc1pL8sYw4nB6tA5dHfJgK0oIiUe1M=",
            "4f1c9a7e2b3d8f60a5c4e1b7d9f2a3c68e0b5d1f7a2c9e4b3d6f8a1c0e5b7d92",
        ] {
            let bits = token_bits(strong);
            assert!(bits >= MIN_TOKEN_BITS, "{strong}: {bits}");
        }
    }

    #[test]
    fn the_tenant_comes_from_the_path() {
        assert_eq!(tenant_in_path("/api/v1/tenants/abc/projects"), Some("abc"));
        assert_eq!(tenant_in_path("/api/v1/tenants/abc"), Some("abc"));
        assert_eq!(tenant_in_path("/api/v1/me"), None);
    }
}
