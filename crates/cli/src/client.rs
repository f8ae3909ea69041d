//! A small JSON client for the programme server's REST API (`/api/v1`), used by the programme commands
//! and by `ferry quickstart`'s programme walk.
//!
//! Every answer is JSON. An error answer is `{kind, message, request_id}` and becomes one line the user
//! can act on: `<message> (<kind>, request id <id>)` — the request id is what the server's log shows, so an
//! operator can find the request. The bearer token is never printed, not even in `Debug`.

use ferry_core::{Error, ErrorKind, Result};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// Talks to one server with one token.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client for the server at `server` (`http://host:port`, with or without a trailing `/`).
    pub fn new(server: &str, token: Option<&str>) -> Result<Client> {
        let base = server.trim().trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&base).map_err(|e| {
            Error::config(format!(
                "--server {base:?} is not a URL ({e}); write e.g. http://127.0.0.1:8080"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::config(format!(
                "--server {base:?}: use an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::unexpected(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            base,
            token: token
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            http,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.json(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.json(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value> {
        self.json(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Value> {
        self.json(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.json(Method::DELETE, path, None).await
    }

    /// A route that answers plain text on success (per-item CSV downloads).
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let (status, text) = self.send(Method::GET, path, None).await?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(api_error(status, &text))
        }
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, text) = self.send(method, path, body).await?;
        if !status.is_success() {
            return Err(api_error(status, &text));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| {
            Error::new(
                ErrorKind::Protocol,
                format!(
                    "the server at {} answered {path} with something that is not JSON ({e}); is it a Ferry server?",
                    self.base
                ),
            )
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, String)> {
        let public = path == "/healthz" || path == "/metrics" || path.ends_with("/openapi.json");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req = req.bearer_auth(t),
            None if !public => {
                return Err(Error::new(
                    ErrorKind::Auth,
                    "no token: pass --token or set FERRY_TOKEN (`ferry serve` prints the operator's token on its first start; `ferry member add` prints a new user's)",
                ));
            }
            None => {}
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| {
            let why = if e.is_connect() {
                "cannot connect".to_string()
            } else if e.is_timeout() {
                "timed out".to_string()
            } else {
                e.to_string()
            };
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot reach the Ferry server at {} ({why}): is `ferry serve` running there? Set --server or FERRY_SERVER",
                    self.base
                ),
            )
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("the server at {} broke off its answer: {e}", self.base),
            )
        })?;
        Ok((status, text))
    }
}

/// `{kind, message, request_id}` → one line: `<message> (<kind>, request id <id>)`.
fn api_error(status: StatusCode, text: &str) -> Error {
    let body: Option<Value> = serde_json::from_str(text).ok();
    let field = |k: &str| {
        body.as_ref()
            .and_then(|b| b.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let kind = field("kind").unwrap_or_else(|| format!("http {}", status.as_u16()));
    let message = field("message").unwrap_or_else(|| {
        let t = text.trim();
        if t.is_empty() {
            status.to_string()
        } else {
            t.chars().take(300).collect()
        }
    });
    let request = field("request_id").unwrap_or_else(|| "-".into());
    let error_kind = match status.as_u16() {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        400 | 409 | 422 => ErrorKind::Config,
        _ => ErrorKind::Unexpected,
    };
    Error::new(
        error_kind,
        format!("{message} ({kind}, request id {request})"),
    )
}

/// Whether an error came from the server refusing a programme rule (HTTP 409, kind `refused`).
pub fn is_refusal(e: &Error) -> bool {
    e.message().contains("(refused, request id ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_as_one_line_with_kind_and_request_id() {
        let e = api_error(
            StatusCode::CONFLICT,
            r#"{"kind":"refused","message":"gates are open: core onboarding","request_id":"r-1"}"#,
        );
        assert_eq!(
            e.to_string(),
            "gates are open: core onboarding (refused, request id r-1)"
        );
        assert!(is_refusal(&e));
        let e = api_error(StatusCode::BAD_GATEWAY, "<html>proxy</html>");
        assert_eq!(e.to_string(), "<html>proxy</html> (http 502, request id -)");
        assert!(!is_refusal(&e));
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let c = Client::new("http://127.0.0.1:1/", Some("fy_very_secret")).unwrap();
        assert_eq!(c.base(), "http://127.0.0.1:1");
        assert!(!format!("{c:?}").contains("very_secret"));
        assert!(Client::new("ftp://x", None).is_err());
    }
}
