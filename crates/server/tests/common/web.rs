//! A signed-in dashboard session over plain HTTP (no browser): the CSRF cookie from `GET /`, the session
//! cookie from `POST /sign-in`, and requests that carry both. For checks on status codes and HTML; the
//! stories in a real browser use `ferry_testkit::browser`.

use super::TestServer;
use reqwest::StatusCode;

/// A page's answer: status, where a redirect points, and body text.
#[derive(Debug)]
pub struct Html {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Html {
    /// The answer to a request sent with [`client`] (redirects are not followed).
    pub async fn read(r: reqwest::Response) -> Html {
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Html {
            status: r.status(),
            location,
            body: r.text().await.unwrap_or_default(),
        }
    }
}

/// A browser-like session: its cookies and the CSRF token forms repeat.
#[derive(Clone, Debug)]
pub struct WebSession {
    pub csrf: String,
    /// The `Cookie` header to send (CSRF and, once signed in, session).
    pub cookie: String,
}

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (n, v) = pair.split_once('=')?;
            (n.trim() == name).then(|| v.trim().to_owned())
        })
}

/// A client that does not follow redirects (a form's 303 is part of what tests check).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

impl WebSession {
    /// A session with only the CSRF cookie (not signed in).
    pub async fn anonymous(s: &TestServer) -> WebSession {
        let r = client()
            .get(format!("{}/", s.base))
            .send()
            .await
            .expect("GET /");
        let csrf = cookie_value(&r, "ferry_csrf").expect("a CSRF cookie");
        WebSession {
            cookie: format!("ferry_csrf={csrf}"),
            csrf,
        }
    }

    /// Signed in with `token`.
    pub async fn sign_in(s: &TestServer, token: &str) -> WebSession {
        let mut w = Self::anonymous(s).await;
        let r = client()
            .post(format!("{}/sign-in", s.base))
            .header("cookie", &w.cookie)
            .form(&[("csrf", w.csrf.as_str()), ("token", token)])
            .send()
            .await
            .expect("POST /sign-in");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in");
        let session = cookie_value(&r, "ferry_session").expect("a session cookie");
        w.cookie = format!("{}; ferry_session={session}", w.cookie);
        w
    }

    /// `GET path`.
    pub async fn get(&self, s: &TestServer, path: &str) -> Html {
        let r = client()
            .get(format!("{}{path}", s.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("the server answers");
        Html::read(r).await
    }

    /// `POST path` with the urlencoded `fields` (add `("csrf", &w.csrf)` for a genuine form).
    pub async fn post(&self, s: &TestServer, path: &str, fields: &[(&str, &str)]) -> Html {
        let r = client()
            .post(format!("{}{path}", s.base))
            .header("cookie", &self.cookie)
            .form(fields)
            .send()
            .await
            .expect("the server answers");
        Html::read(r).await
    }
}

impl WebSession {
    /// `POST path` as `multipart/form-data`: text `fields`, then one file field `(name, filename, body)`.
    pub async fn post_multipart(
        &self,
        s: &TestServer,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &str),
    ) -> Html {
        let boundary = "ferry-test-boundary-7d3f";
        let mut body = String::new();
        for (k, v) in fields {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        let (name, filename, content) = file;
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n{content}\r\n--{boundary}--\r\n"
        ));
        let r = client()
            .post(format!("{}{path}", s.base))
            .header("cookie", &self.cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("the server answers");
        Html::read(r).await
    }
}
