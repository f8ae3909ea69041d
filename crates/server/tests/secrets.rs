//! Secrets never leak (DESIGN §2 invariant 4, issue 4 "Endpoints and credentials"): recognisable test
//! secrets go in as endpoint credentials, inside a mail mapping CSV (Password and TargetPassword), inside
//! refused requests (a credential for a missing endpoint, a password in an endpoint URL, a bad CSV, a
//! misspelt field); then no secret may appear in any answer, the audit log, the server's debug logs or the
//! SQLite files (database, WAL and shared memory, read as bytes). Tokens are held to the same rule, except
//! in the one answer that hands a new member their token.

// Test helpers unwrap freely: a panic is a failure with its message (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use chrono::TimeDelta;
use common::{OPERATOR_TOKEN, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything the process logs, at debug level and above.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

/// Calls the server and keeps every answer's body.
struct Recorder<'a> {
    s: &'a TestServer,
    bodies: Vec<(String, String)>,
}

impl Recorder<'_> {
    async fn call(
        &mut self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let what = format!("{method} {path}");
        let mut req = self
            .s
            .http
            .request(method, format!("{}{path}", self.s.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        self.bodies.push((what, text.clone()));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&mut self, path: &str) -> Value {
        let (status, body) = self.call(OPERATOR_TOKEN, Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// An IMAP server that greets, offers no STARTTLS and refuses every login: the secrets really go over the
/// wire and come back as errors through the assessment. Returns its port and what it received.
async fn refusing_imap() -> (u16, Arc<Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let heard = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let heard = heard.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w
                    .write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
                    .await;
                while let Ok(Some(line)) = lines.next_line().await {
                    heard.lock().unwrap().extend_from_slice(line.as_bytes());
                    let tag = line.split(' ').next().unwrap_or("*").to_string();
                    let cmd = line.split(' ').nth(1).unwrap_or("").to_ascii_uppercase();
                    let reply = match cmd.as_str() {
                        "CAPABILITY" => {
                            format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n")
                        }
                        "LOGOUT" => format!("* BYE\r\n{tag} OK bye\r\n"),
                        "LOGIN" | "AUTHENTICATE" => {
                            format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                        }
                        _ => format!("{tag} BAD unknown\r\n"),
                    };
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, seen)
}

const SOURCE_SECRET: &str = "SrcSecret-7f3a91e0";
const TARGET_SECRET: &str = "TgtSecret-c2b8e4d1";
const REPLACED_SECRET: &str = "ReplacedSecret-5d21aa";
const CSV_PASSWORDS: [&str; 4] = [
    "CsvPassword-41d0aa",
    "CsvTargetPassword-9e77b1",
    "CsvPassword-0c13f5",
    "CsvTargetPassword-62be0a",
];
const REFUSED_CSV_PASSWORDS: [&str; 2] = ["RefusedCsv-8841cd", "RefusedCsv-b09f3e"];
const ORPHAN_SECRET: &str = "OrphanSecret-3c3c77";
const URL_SECRETS: [&str; 3] = [
    "UrlSecret-55aa12",
    "UrlSecret-bad-port-71e2",
    "UrlSecret-dav-0af9",
];
const TYPO_SECRET: &str = "TypoSecret-e6d4b2";
/// Sent to the refusing IMAP server by the assessment: a mapping's own password and the target admin's.
const WIRE_SECRETS: [&str; 2] = ["WireCsvPassword-1f6b0d", "WireAdminSecret-a7c5e3"];

fn all_secrets() -> Vec<&'static str> {
    let mut v = vec![
        SOURCE_SECRET,
        TARGET_SECRET,
        REPLACED_SECRET,
        ORPHAN_SECRET,
        TYPO_SECRET,
    ];
    v.extend(CSV_PASSWORDS);
    v.extend(REFUSED_CSV_PASSWORDS);
    v.extend(URL_SECRETS);
    v.extend(WIRE_SECRETS);
    v
}

#[tokio::test]
async fn no_secret_reaches_an_answer_the_audit_log_the_logs_or_the_database() {
    let logs = logs();
    let s = TestServer::start().await;
    let mut r = Recorder {
        s: &s,
        bodies: Vec::new(),
    };
    let t = s.tenant("Contoso", 800).await;
    let (_, p) = r
        .call(
            OPERATOR_TOKEN,
            Method::POST,
            &format!("/api/v1/tenants/{t}/projects"),
            Some(json!({ "name": "mail", "workload": "mail" })),
        )
        .await;
    let pid = p["result"]["id"].as_str().unwrap().to_string();
    let base = format!("/api/v1/tenants/{t}/projects/{pid}");
    let customer = s.member(&t, "carol", "customer-admin").await;

    // Endpoints and their credentials.
    for (side, url) in [
        ("source", "maildir:/srv/mail"),
        ("target", "imaps://mail.contoso.com"),
    ] {
        let (status, body) = r
            .call(
                &customer,
                Method::PUT,
                &format!("{base}/endpoints/{side}"),
                Some(json!({ "url": url, "username": "admin" })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    for (side, secret) in [
        ("source", SOURCE_SECRET),
        ("target", TARGET_SECRET),
        ("target", REPLACED_SECRET),
    ] {
        let (status, body) = r
            .call(
                &customer,
                Method::PUT,
                &format!("{base}/endpoints/{side}/credential"),
                Some(json!({ "secret": secret })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["stored"], true);
    }

    // A mapping CSV with passwords for both sides.
    let csv = format!(
        "EmailAddress,UserName,Password,TargetUserName,TargetPassword\n\
         terry@contoso.com,terry,{},terry.t,{}\n\
         ann@contoso.com,ann,\"{}\",ann.t,{}\n",
        CSV_PASSWORDS[0], CSV_PASSWORDS[1], CSV_PASSWORDS[2], CSV_PASSWORDS[3]
    );
    let (status, body) = r
        .call(
            &customer,
            Method::POST,
            &format!("{base}/mappings"),
            Some(json!({ "csv": csv })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["imported"], 2);

    // Refused requests that carry secrets.
    let refused_csv = format!(
        "EmailAddress,UserName,Password\nbob@contoso.com,bob,{}\nbob@contoso.com,bob2,{}\n",
        REFUSED_CSV_PASSWORDS[0], REFUSED_CSV_PASSWORDS[1]
    );
    let (status, body) = r
        .call(
            &customer,
            Method::POST,
            &format!("{base}/mappings"),
            Some(json!({ "csv": refused_csv })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("line 3"),
        "{body}"
    );
    let short_row = format!(
        "EmailAddress,UserName,Password\neve@contoso.com,{}\n",
        REFUSED_CSV_PASSWORDS[0]
    );
    let (status, body) = r
        .call(
            &customer,
            Method::POST,
            &format!("{base}/mappings"),
            Some(json!({ "csv": short_row })),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let (_, bare) = r
        .call(
            OPERATOR_TOKEN,
            Method::POST,
            &format!("/api/v1/tenants/{t}/projects"),
            Some(json!({ "name": "bare", "workload": "mail" })),
        )
        .await;
    let bare = format!(
        "/api/v1/tenants/{t}/projects/{}",
        bare["result"]["id"].as_str().unwrap()
    );
    let (status, body) = r
        .call(
            &customer,
            Method::PUT,
            &format!("{bare}/endpoints/source/credential"),
            Some(json!({ "secret": ORPHAN_SECRET })),
        )
        .await;
    assert_eq!(status, 404, "a credential for a missing endpoint: {body}");

    for url in [
        format!("imap://admin:{}@mail.contoso.com", URL_SECRETS[0]),
        format!("imaps://admin:{}@mail.contoso.com:99999", URL_SECRETS[1]),
    ] {
        let (status, body) = r
            .call(
                &customer,
                Method::PUT,
                &format!("{bare}/endpoints/target"),
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!(status, 400, "a password in an endpoint URL: {body}");
    }
    let (_, files) = r
        .call(
            OPERATOR_TOKEN,
            Method::POST,
            &format!("/api/v1/tenants/{t}/projects"),
            Some(json!({ "name": "files", "workload": "files" })),
        )
        .await;
    let files = format!(
        "/api/v1/tenants/{t}/projects/{}",
        files["result"]["id"].as_str().unwrap()
    );
    let (status, body) = r
        .call(
            &customer,
            Method::PUT,
            &format!("{files}/endpoints/source"),
            Some(json!({ "url": format!("webdav://u:{}@dav.contoso.com:99999/share", URL_SECRETS[2]) })),
        )
        .await;
    assert_eq!(status, 400, "a password in a WebDAV URL: {body}");
    let (status, body) = r
        .call(
            &customer,
            Method::PUT,
            &format!("{base}/endpoints/source/credential"),
            Some(json!({ "secrte": TYPO_SECRET })),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // An assessment logs in with the secrets, against a server that refuses them.
    let (port, heard) = refusing_imap().await;
    let (_, wire) = r
        .call(
            OPERATOR_TOKEN,
            Method::POST,
            &format!("/api/v1/tenants/{t}/projects"),
            Some(json!({ "name": "imap", "workload": "mail" })),
        )
        .await;
    let wire = format!(
        "/api/v1/tenants/{t}/projects/{}",
        wire["result"]["id"].as_str().unwrap()
    );
    for side in ["source", "target"] {
        let (status, body) = r
            .call(
                &customer,
                Method::PUT,
                &format!("{wire}/endpoints/{side}"),
                Some(json!({ "url": format!("imap://127.0.0.1:{port}"), "username": "admin" })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = r
        .call(
            &customer,
            Method::PUT,
            &format!("{wire}/endpoints/target/credential"),
            Some(json!({ "secret": WIRE_SECRETS[1] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let csv = format!(
        "EmailAddress,UserName,Password\nwendy@contoso.com,wendy,{}\n",
        WIRE_SECRETS[0]
    );
    let (status, body) = r
        .call(
            &customer,
            Method::POST,
            &format!("{wire}/mappings"),
            Some(json!({ "csv": csv })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = r
        .call(
            &customer,
            Method::POST,
            &format!("{wire}/assessments"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    ferry_server::api::assessments::wait_assessments(&s.state, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let latest = r.get(&format!("{wire}/assessments/latest")).await;
    let heard = String::from_utf8_lossy(&heard.lock().unwrap()).to_string();
    assert!(
        heard.contains("LOGIN") || heard.contains("AUTHENTICATE"),
        "the assessment never tried to log in: {heard:?} {latest}"
    );

    // Everything a user can read.
    for path in [
        format!("/api/v1/tenants/{t}"),
        format!("/api/v1/tenants/{t}/projects"),
        base.clone(),
        format!("{base}/endpoints"),
        format!("{base}/credentials"),
        format!("{base}/mappings"),
        format!("{base}/events"),
        format!("/api/v1/tenants/{t}/audit"),
        format!("/api/v1/tenants/{t}/members"),
        "/api/v1/me".to_string(),
        "/metrics".to_string(),
    ] {
        r.get(&path).await;
    }
    let audit = r.get(&format!("/api/v1/tenants/{t}/audit")).await;
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["action"] == "credential.supply"));
    assert!(entries.iter().any(|e| e["action"] == "mapping.import"));
    let txns: Vec<String> = r
        .bodies
        .iter()
        .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
        .filter_map(|b| b["transaction"]["id"].as_str().map(str::to_string))
        .collect();
    for id in txns {
        r.get(&format!("/api/v1/tenants/{t}/transactions/{id}"))
            .await;
    }
    let endpoints = r.get(&format!("{base}/endpoints")).await;
    for e in endpoints["endpoints"].as_array().unwrap() {
        assert_eq!(e["credential"]["stored"], true, "{e}");
    }
    let creds = r.get(&format!("{base}/credentials")).await;
    // Two endpoints and a source and target secret for each of the two mappings.
    assert_eq!(creds["credentials"].as_array().unwrap().len(), 6, "{creds}");

    // Make sure everything the store holds is on disk, in the WAL or in the database file.
    let journal: Option<String> = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_optional(s.sqlite_pool())
        .await
        .unwrap();
    let db_dir = s.dir.path();
    let mut files_read = Vec::new();
    let mut db_bytes = Vec::new();
    for entry in std::fs::read_dir(db_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("ferry.db") {
            db_bytes.push((name.clone(), std::fs::read(&path).unwrap()));
            files_read.push(name);
        }
    }
    assert!(
        files_read.iter().any(|f| f == "ferry.db"),
        "{files_read:?} (journal {journal:?})"
    );
    let log_text = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(
        log_text.contains("request") && log_text.contains("DEBUG"),
        "the debug logs were not captured"
    );

    // The search.
    let member_tokens: Vec<String> = r
        .bodies
        .iter()
        .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
        .filter_map(|b| b["result"]["token"].as_str().map(str::to_string))
        .collect();
    let mut leaks = Vec::new();
    for secret in all_secrets() {
        for (what, body) in &r.bodies {
            if body.contains(secret) {
                leaks.push(format!("{secret} in the answer to {what}: {body}"));
            }
        }
        if log_text.contains(secret) {
            leaks.push(format!("{secret} in the logs"));
        }
        for (name, bytes) in &db_bytes {
            if contains(bytes, secret.as_bytes()) {
                leaks.push(format!("{secret} in {name}"));
            }
        }
    }
    for token in member_tokens
        .iter()
        .map(String::as_str)
        .chain([OPERATOR_TOKEN, customer.as_str()])
    {
        if log_text.contains(token) {
            leaks.push(format!("a token in the logs: {token}"));
        }
        for (name, bytes) in &db_bytes {
            if contains(bytes, token.as_bytes()) {
                leaks.push(format!("a token in {name}"));
            }
        }
        if audit.to_string().contains(token) {
            leaks.push(format!("a token in the audit log: {token}"));
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn credentials_expire_after_seventy_days() {
    let _ = logs();
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let base = s.project(&t, "mail", "mail").await;
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source"),
        json!({ "url": "maildir:/srv/mail" }),
    )
    .await
    .ok();
    let supplied = s
        .put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/source/credential"),
            json!({ "secret": "s" }),
        )
        .await
        .ok();
    let expires: chrono::DateTime<chrono::Utc> = supplied["result"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, common::monday() + TimeDelta::days(70));
    let creds = |b: Value| b["credentials"].as_array().unwrap().clone();
    let now = creds(
        s.get(OPERATOR_TOKEN, &format!("{base}/credentials"))
            .await
            .ok(),
    );
    assert_eq!(now.len(), 1);
    assert_eq!(now[0]["expired"], false);

    s.advance(TimeDelta::days(69));
    let later = creds(
        s.get(OPERATOR_TOKEN, &format!("{base}/credentials"))
            .await
            .ok(),
    );
    assert_eq!(later[0]["expired"], false, "day 69");

    s.advance(TimeDelta::days(1) + TimeDelta::minutes(1));
    let expired = creds(
        s.get(OPERATOR_TOKEN, &format!("{base}/credentials"))
            .await
            .ok(),
    );
    assert_eq!(expired[0]["expired"], true, "past day 70: {expired:?}");
    let endpoints = s
        .get(OPERATOR_TOKEN, &format!("{base}/endpoints"))
        .await
        .ok();
    assert_eq!(endpoints["endpoints"][0]["credential"]["expired"], true);
    // A new secret starts a new 70 days.
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source/credential"),
        json!({ "secret": "t" }),
    )
    .await
    .ok();
    let renewed = creds(
        s.get(OPERATOR_TOKEN, &format!("{base}/credentials"))
            .await
            .ok(),
    );
    assert_eq!(renewed[0]["expired"], false);
}

/// Regression: the store once made a credential's owner (`endpoint:source`) unique across all projects, so
/// one tenant supplying its source secret replaced another tenant's.
#[tokio::test]
async fn a_credential_belongs_to_its_own_project_only() {
    let _ = logs();
    let s = TestServer::start().await;
    let mut bases = Vec::new();
    for name in ["Contoso", "Fabrikam"] {
        let t = s.tenant(name, 800).await;
        let p = s
            .post(
                OPERATOR_TOKEN,
                &format!("/api/v1/tenants/{t}/projects"),
                json!({ "name": "mail", "workload": "mail" }),
            )
            .await
            .ok();
        let base = format!(
            "/api/v1/tenants/{t}/projects/{}",
            p["result"]["id"].as_str().unwrap()
        );
        s.put(
            OPERATOR_TOKEN,
            &format!("{base}/endpoints/source"),
            json!({ "url": "maildir:/srv/mail" }),
        )
        .await
        .ok();
        let admin = s
            .member(&t, &format!("admin of {name}"), "customer-admin")
            .await;
        bases.push((base, admin));
    }
    let supply = |i: usize| {
        let (base, admin) = bases[i].clone();
        let s = &s;
        async move {
            s.put(
                &admin,
                &format!("{base}/endpoints/source/credential"),
                json!({ "secret": format!("secret {i}") }),
            )
            .await
            .ok()
        }
    };
    let listed = |i: usize| {
        let base = bases[i].0.clone();
        let s = &s;
        async move {
            s.get(OPERATOR_TOKEN, &format!("{base}/credentials"))
                .await
                .ok()["credentials"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    supply(0).await;
    let first = listed(0).await;
    s.advance(TimeDelta::days(1));
    supply(1).await;
    assert_eq!(
        listed(0).await,
        first,
        "the other tenant's credential changed"
    );
    let second = listed(1).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second[0]["supplied_by"], first[0]["supplied_by"]);
    assert_ne!(second[0]["supplied_at"], first[0]["supplied_at"]);
}

/// An engineer may re-point an endpoint but not supply or read secrets: the secrets supplied for the old
/// server (the endpoint's and the mappings' for that side) are purged, so they are never sent to the new one.
#[tokio::test]
async fn re_pointing_an_endpoint_purges_the_secrets_supplied_for_it() {
    let _ = logs();
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let base = s.project(&t, "mail", "mail").await;
    let customer = s.member(&t, "carol", "customer-admin").await;
    let engineer = s.member(&t, "eddie", "engineer").await;
    for side in ["source", "target"] {
        s.put(
            &engineer,
            &format!("{base}/endpoints/{side}"),
            json!({ "url": "imaps://mail.contoso.com", "username": "admin" }),
        )
        .await
        .ok();
        s.put(
            &customer,
            &format!("{base}/endpoints/{side}/credential"),
            json!({ "secret": format!("{side} secret") }),
        )
        .await
        .ok();
    }
    s.post(
        &engineer,
        &format!("{base}/mappings"),
        json!({ "csv": "EmailAddress,UserName,Password,TargetUserName,TargetPassword\na@contoso.com,a,p,ta,tp\n" }),
    )
    .await
    .ok();
    let owners = || async {
        let c = s.get(&engineer, &format!("{base}/credentials")).await.ok();
        let mut v: Vec<String> = c["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let o = c["owner"].as_str().unwrap();
                // `mapping:<id>:source` → `mapping:source`
                match o.split(':').collect::<Vec<_>>()[..] {
                    ["mapping", _, slot] => format!("mapping:{slot}"),
                    _ => o.to_string(),
                }
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(owners().await.len(), 4);
    // The same server again (say, to change an option) keeps them.
    s.put(
        &engineer,
        &format!("{base}/endpoints/source"),
        json!({ "url": "imaps://mail.contoso.com", "username": "admin", "options": { "max_connections": 4 } }),
    )
    .await
    .ok();
    assert_eq!(owners().await.len(), 4);
    // Another server drops the source side's secrets, and says so.
    let moved = s
        .put(
            &engineer,
            &format!("{base}/endpoints/source"),
            json!({ "url": "imaps://elsewhere.example", "username": "admin" }),
        )
        .await
        .ok();
    assert_eq!(moved["result"]["credentials_purged"], 2, "{moved}");
    assert_eq!(owners().await, ["endpoint:target", "mapping:target"]);
    // Another login on the target does too.
    s.put(
        &engineer,
        &format!("{base}/endpoints/target"),
        json!({ "url": "imaps://mail.contoso.com", "username": "someone-else" }),
    )
    .await
    .ok();
    assert!(owners().await.is_empty());
}
