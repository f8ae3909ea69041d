//! One place where Graph requests are sent: the bearer token asked of the [`TokenSource`] at every
//! request (and asked anew once after a `401`), the `User-Agent` Microsoft's throttling guidance asks ISVs
//! to send, the shared [`Pacer`]s, `429`/`503` retried after exactly their `Retry-After`, and Graph's error
//! bodies (`{"error":{"code","message"}}`) turned into Ferry errors that say what to do.
//!
//! Upload URLs are pre-authenticated: requests to them go out **without** the `Authorization` header
//! (driveItem: createUploadSession, "Remarks"), through the same pacing and retry rules.

use super::pace::Pacer;
use crate::http::{retry_after, status_error, transport_error};
use bytes::{Bytes, BytesMut};
use ferry_core::token::TokenSource;
use ferry_core::{Error, ErrorKind, Result};
use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// `ISV|Company|App/Version`, as the SharePoint Online throttling guidance asks ("decorate your traffic").
pub const USER_AGENT: &str = concat!("ISV|Ferry|Ferry/", env!("CARGO_PKG_VERSION"));
/// Throttled answers retried inside one call before the error goes to the engine's retry.
const THROTTLE_RETRIES: u32 = 8;
/// Largest JSON answer read (a hostile server cannot make Ferry buffer gigabytes).
const MAX_JSON: usize = 16 * 1024 * 1024;

/// A request about to be sent (kept so it can be sent again after throttling or a refused token).
pub struct Req {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    pub body: Option<Bytes>,
    /// Send the bearer token (false for pre-authenticated upload and download URLs).
    pub auth: bool,
}

impl Req {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Req {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            auth: true,
        }
    }

    pub fn json(mut self, v: &serde_json::Value) -> Self {
        self.headers.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        self.body = Some(Bytes::from(v.to_string()));
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn body(mut self, b: Bytes) -> Self {
        self.body = Some(b);
        self
    }

    pub fn without_auth(mut self) -> Self {
        self.auth = false;
        self
    }
}

/// An answer read whole (JSON and error bodies are small).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::Protocol,
                format!("{what}: Graph answered JSON Ferry cannot read ({e})"),
            )
            .permanent()
        })
    }

    /// Graph's error code (`nameAlreadyExists`, `itemNotFound`…), if the body has one.
    pub fn code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("error")?.get("code")?.as_str().map(str::to_owned)
    }

    /// The error for a non-success answer.
    pub fn error(&self, what: &str) -> Error {
        graph_error(self.status, &self.headers, what, &self.body)
    }
}

/// The HTTP side of a Graph connector.
pub struct Graph {
    http: reqwest::Client,
    pub base: String,
    token: Arc<dyn TokenSource>,
    tenant: Arc<Pacer>,
    drive: OnceLock<Arc<Pacer>>,
    pub timeout: Duration,
    /// See [`super::GraphConfig::max_wait`].
    max_wait: Option<Duration>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Graph {{ base: {}, token: {} }}",
            self.base,
            self.token.describe()
        )
    }
}

impl Graph {
    pub fn new(base: &str, token: Arc<dyn TokenSource>, timeout: Duration) -> Result<Graph> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // Downloads answer 302 to a pre-authenticated URL: followed by hand, without the token.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::config(format!("cannot set up the HTTP client: {e}")))?;
        let tenant = Pacer::shared(&format!("{base}|{}", token.describe()));
        Ok(Graph {
            http,
            base: base.to_owned(),
            token,
            tenant,
            drive: OnceLock::new(),
            timeout,
            max_wait: None,
        })
    }

    /// Fail a request at once, rather than wait, when the service asks for a wait longer than `max`
    /// (see [`super::GraphConfig::max_wait`]).
    pub fn with_max_wait(mut self, max: Option<Duration>) -> Self {
        self.max_wait = max;
        self
    }

    /// Pace this connector's requests by drive too, once the drive is known.
    pub fn set_drive(&self, drive_id: &str) {
        let _ = self
            .drive
            .set(Pacer::shared(&format!("{}|drive|{drive_id}", self.base)));
    }

    /// Who the tokens are for (never a secret).
    pub fn identity(&self) -> String {
        self.token.describe()
    }

    /// Wait until a request may leave; an error instead when a `Retry-After` in force (given to any
    /// request of the tenant or drive) runs longer than [`Graph::with_max_wait`] allows.
    async fn pace(&self, what: &str) -> Result<()> {
        if let Some(max) = self.max_wait {
            let ahead = self
                .drive
                .get()
                .map(|d| d.blocked_for())
                .unwrap_or_default()
                .max(self.tenant.blocked_for());
            if ahead > max {
                let secs = ahead.as_secs() + u64::from(ahead.subsec_nanos() > 0);
                return Err(Error::new(
                    ErrorKind::Throttled,
                    format!(
                        "{what}: Graph asked to wait {secs} s (Retry-After) before the next request"
                    ),
                )
                .temporary()
                .with_retry_after(ahead));
            }
        }
        self.tenant.wait().await;
        if let Some(d) = self.drive.get() {
            d.wait().await;
        }
        Ok(())
    }

    fn on_throttle(&self, hint: Option<Duration>) {
        self.tenant.throttled(hint);
        if let Some(d) = self.drive.get() {
            d.throttled(hint);
        }
    }

    fn on_answer(&self, h: &HeaderMap) {
        self.tenant.answered(h);
        if let Some(d) = self.drive.get() {
            d.answered(h);
        }
    }

    /// Send `req` (pacing, token, throttling retries) and return the raw response, whatever its status
    /// other than `429`/`503` (or those, once the retries are spent or when their `Retry-After` is longer
    /// than [`Graph::with_max_wait`] allows).
    pub async fn send_raw(
        &self,
        req: &Req,
        what: &str,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response> {
        let mut refreshed = false;
        let mut throttled = 0u32;
        loop {
            self.pace(what).await?;
            let mut b = self.http.request(req.method.clone(), &req.url);
            for (k, v) in &req.headers {
                b = b.header(k, v.clone());
            }
            if req.auth {
                let token = match self.token.token().await {
                    Ok(t) => t,
                    Err(e) => {
                        self.tenant.unanswered();
                        if let Some(d) = self.drive.get() {
                            d.unanswered();
                        }
                        return Err(e);
                    }
                };
                let mut v =
                    HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                        Error::new(
                            ErrorKind::Auth,
                            "the access token has characters HTTP cannot carry",
                        )
                        .permanent()
                    })?;
                v.set_sensitive(true);
                b = b.header(header::AUTHORIZATION, v);
            }
            if let Some(body) = &req.body {
                b = b.body(body.clone());
            } else if matches!(req.method, Method::POST | Method::PUT | Method::PATCH) {
                b = b.header(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            }
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            let resp = match b.send().await {
                Ok(r) => r,
                Err(e) => {
                    self.tenant.unanswered();
                    if let Some(d) = self.drive.get() {
                        d.unanswered();
                    }
                    return Err(transport_error(e, what));
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && req.auth && !refreshed {
                self.on_answer(resp.headers());
                // The token may have expired mid-pass: ask for a fresh one, once.
                self.token.invalidate();
                refreshed = true;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                let hint = retry_after(resp.headers(), chrono::Utc::now());
                self.on_throttle(hint);
                throttled += 1;
                tracing::debug!(
                    what,
                    status = status.as_u16(),
                    ?hint,
                    "Graph throttled the request; waiting as asked"
                );
                // A wait longer than the caller may wait: the answer goes back (its error carries the
                // Retry-After) instead of being waited out here.
                let too_long = matches!((self.max_wait, hint), (Some(max), Some(h)) if h > max);
                if throttled < THROTTLE_RETRIES && !too_long {
                    continue;
                }
                return Ok(resp);
            }
            self.on_answer(resp.headers());
            return Ok(resp);
        }
    }

    /// Send `req` and read the whole answer.
    pub async fn send(&self, req: &Req, what: &str) -> Result<Answer> {
        let resp = self.send_raw(req, what, Some(self.timeout)).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = read_limited(resp, what).await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Whether `url` (a `@odata.nextLink`, an upload URL) may be sent the bearer token: only URLs of the
    /// Graph base's own origin. A hostile answer cannot steer the token elsewhere.
    pub fn same_origin(&self, url: &str) -> bool {
        match (url::Url::parse(url), url::Url::parse(&self.base)) {
            (Ok(a), Ok(b)) => a.origin() == b.origin(),
            _ => false,
        }
    }
}

async fn read_limited(resp: reqwest::Response, what: &str) -> Result<Bytes> {
    let mut out = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| transport_error(e, what))?;
        if out.len() + chunk.len() > MAX_JSON {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("{what}: Graph's answer is larger than {MAX_JSON} bytes"),
            )
            .permanent());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// A Graph error answer as a Ferry error: kind and retry status from the HTTP status (see
/// [`status_error`]), Graph's `code: message` as the detail, and what to do for the common ones.
pub fn graph_error(status: StatusCode, headers: &HeaderMap, what: &str, body: &[u8]) -> Error {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
            let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
            Some(format!("{code}: {msg}"))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    match status.as_u16() {
        401 | 403 => Error::new(
            ErrorKind::Auth,
            format!(
                "{what}: HTTP {status}: {} (check the app's credentials, and that it has the Files.ReadWrite.All and Sites.ReadWrite.All application permissions with admin consent)",
                detail.chars().take(200).collect::<String>()
            ),
        )
        .permanent(),
        _ => status_error(status, headers, what, &detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_bodies_become_errors_that_say_what_to_do() {
        let h = HeaderMap::new();
        let body = br#"{"error":{"code":"accessDenied","message":"Either scp or roles claim need to be present"}}"#;
        let e = graph_error(StatusCode::FORBIDDEN, &h, "GET drive", body);
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(
            e.message().contains("accessDenied") && e.message().contains("Files.ReadWrite.All"),
            "{e}"
        );
        let e = graph_error(
            StatusCode::CONFLICT,
            &h,
            "PUT a",
            br#"{"error":{"code":"nameAlreadyExists","message":"x"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Rejected);
        assert!(e.message().contains("nameAlreadyExists"));
        let e = graph_error(StatusCode::BAD_GATEWAY, &h, "PUT a", b"<html>");
        assert!(e.is_temporary());
    }

    #[test]
    fn the_user_agent_identifies_ferry_as_microsoft_asks() {
        assert!(USER_AGENT.starts_with("ISV|Ferry|Ferry/"));
    }
}
