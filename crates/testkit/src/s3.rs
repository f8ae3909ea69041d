//! An S3-compatible server per test: moto's standalone server (`python3 -m moto.server`, from PyPI
//! `moto[server]`) on a free loopback port, plus a tiny raw client to create buckets and look at objects
//! without going through the connector under test.
//!
//! moto keeps everything in its own process (large objects spill to temp files, which the harness points
//! into its temp dir) and accepts any access key and secret without checking signatures — but it treats
//! a request *without* an `Authorization` header as anonymous and answers `403` for existing objects. So
//! the harness signs its own requests with AWS Signature V4 (`UNSIGNED-PAYLOAD`, [`sigv4_authorization`]),
//! and the connector under test must sign too, with [`S3Server::access_key`] / [`S3Server::secret_key`].
//! Buckets are addressed path-style (`http://127.0.0.1:PORT/bucket/key`); the region is `us-east-1`.
//!
//! moto's limit: a key containing a line feed (`\n`) cannot be stored (its URL router answers `404`); TAB,
//! CR, trailing spaces, `#%&?\\` and non-ASCII keys work.
//!
//! The Python interpreter is `$FERRY_PYTHON` when set, else `python3`.
//!
//! ```no_run
//! use ferry_testkit::s3::S3Server;
//! let server = S3Server::start()?;
//! server.create_bucket("target")?;
//! // point the connector at server.endpoint() with server.access_key() / server.secret_key()
//! for (key, size) in server.objects("target")? { println!("{key} {size}"); }
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::daemon::{self, Daemon};
use crate::http::{self, Body, HttpResponse};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// moto imports a lot of Python at start-up: about a second here, more on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server; killed, with its temp dir deleted, on drop.
pub struct S3Server {
    daemon: Daemon,
    port: u16,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for S3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Server")
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

impl S3Server {
    /// Start moto's server on a free loopback port and wait until it answers HTTP.
    pub fn start() -> io::Result<S3Server> {
        let dir = daemon::temp_dir("ferry-s3-")?;
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp)?;
        let log = dir.path().join("moto.log");
        let python = std::env::var("FERRY_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let (daemon, port) = daemon::on_free_port(|port| {
            let mut cmd = Command::new(&python);
            cmd.args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
                .arg(port.to_string())
                // moto spools large object bodies to temp files: keep them in our dir.
                .env("TMPDIR", &tmp)
                .env("PYTHONUNBUFFERED", "1");
            let mut d = Daemon::spawn("moto S3 server", cmd, &log)
                .map_err(|e| daemon::not_installed_hint(e, "python3"))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            d.wait_ready(START_TIMEOUT, port, || daemon::answers_http(addr))
                .map_err(|e| {
                    if e.to_string().contains("No module named") {
                        io::Error::new(
                            e.kind(),
                            format!("{e}\n(install it with `{python} -m pip install 'moto[server]'`; scripts/test.sh does)"),
                        )
                    } else {
                        e
                    }
                })?;
            Ok((d, port))
        })?;
        Ok(S3Server { daemon, port, dir })
    }

    /// `http://127.0.0.1:PORT` (path-style addressing).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// An access key the server accepts (moto accepts any).
    pub fn access_key(&self) -> &'static str {
        "ferry-test-access-key"
    }

    /// The matching secret key (moto does not check signatures).
    pub fn secret_key(&self) -> &'static str {
        "ferry-test-secret-key"
    }

    /// The region to sign for.
    pub fn region(&self) -> &'static str {
        "us-east-1"
    }

    /// moto's log so far (one line per request).
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// The moto process id.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The temp dir holding the log and moto's spooled object files.
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Create a bucket (an unsigned `PUT /name`). Creating one that exists is an error.
    pub fn create_bucket(&self, name: &str) -> io::Result<()> {
        let r = self.send("PUT", &format!("/{}", http::encode_path(name)), Body::None)?;
        self.expect_ok(&format!("create bucket {name:?}"), &r)
    }

    /// Store an object directly (for seeding a source).
    pub fn put_object(&self, bucket: &str, key: &str, data: &[u8]) -> io::Result<()> {
        let r = self.send("PUT", &object_path(bucket, key), Body::Bytes(data))?;
        self.expect_ok(&format!("put {bucket}/{key:?}"), &r)
    }

    /// An object's bytes, or `None` when it does not exist.
    pub fn get_object(&self, bucket: &str, key: &str) -> io::Result<Option<Vec<u8>>> {
        let r = self.send("GET", &object_path(bucket, key), Body::None)?;
        if r.status == 404 {
            return Ok(None);
        }
        self.expect_ok(&format!("get {bucket}/{key:?}"), &r)?;
        Ok(Some(r.body))
    }

    /// Every object in the bucket as `(key, size)`, in key order (follows continuation tokens).
    pub fn objects(&self, bucket: &str) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut target = format!(
                "/{}?list-type=2&encoding-type=url&max-keys=1000",
                http::encode_path(bucket)
            );
            if let Some(t) = &token {
                target.push_str("&continuation-token=");
                target.push_str(&http::encode_path(t).replace('/', "%2F"));
            }
            let r = self.send("GET", &target, Body::None)?;
            self.expect_ok(&format!("list {bucket}"), &r)?;
            let xml = r.text();
            for block in elements(&xml, "Contents") {
                let key = elements(block, "Key").next().unwrap_or_default();
                let size = elements(block, "Size")
                    .next()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                out.push((http::decode_percent(&xml_unescape(key)), size));
            }
            let truncated = elements(&xml, "IsTruncated").next() == Some("true");
            token = elements(&xml, "NextContinuationToken")
                .next()
                .map(xml_unescape);
            if !truncated || token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Multipart uploads started and neither completed nor aborted, as `(key, upload_id)`.
    pub fn multipart_uploads(&self, bucket: &str) -> io::Result<Vec<(String, String)>> {
        let r = self.send(
            "GET",
            &format!("/{}?uploads", http::encode_path(bucket)),
            Body::None,
        )?;
        self.expect_ok(&format!("list uploads of {bucket}"), &r)?;
        let xml = r.text();
        Ok(elements(&xml, "Upload")
            .map(|u| {
                (
                    xml_unescape(elements(u, "Key").next().unwrap_or_default()),
                    xml_unescape(elements(u, "UploadId").next().unwrap_or_default()),
                )
            })
            .collect())
    }

    /// Any request, signed like the harness's own (`target` percent-encoded, e.g.
    /// `/bucket/key?uploadId=…&partNumber=1`), on a fresh connection. Non-2xx statuses are returned, not
    /// errors.
    pub fn request(&self, method: &str, target: &str, body: Body<'_>) -> io::Result<HttpResponse> {
        self.send(method, target, body)
    }

    fn send(&self, method: &str, target: &str, body: Body<'_>) -> io::Result<HttpResponse> {
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let host = self.addr().to_string();
        let auth = sigv4_authorization(&SigV4 {
            method,
            target,
            headers: &[
                ("host", &host),
                ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
                ("x-amz-date", &amz_date),
            ],
            payload_hash: UNSIGNED_PAYLOAD,
            amz_date: &amz_date,
            region: self.region(),
            service: "s3",
            access_key: self.access_key(),
            secret_key: self.secret_key(),
        });
        http::request(
            self.addr(),
            method,
            target,
            &[
                // Without a content type, moto's web framework parses the body as a form and stores nothing.
                ("Content-Type", "application/octet-stream"),
                ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
                ("x-amz-date", &amz_date),
                ("Authorization", &auth),
                ("Connection", "close"),
            ],
            body,
        )
    }

    fn expect_ok(&self, what: &str, r: &HttpResponse) -> io::Result<()> {
        if (200..300).contains(&r.status) {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "S3 {what}: HTTP {}: {}",
                r.status,
                r.text()
            )))
        }
    }
}

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// What AWS Signature Version 4 signs for one request.
#[derive(Clone, Copy, Debug)]
pub struct SigV4<'a> {
    pub method: &'a str,
    /// The request target as sent: path percent-encoded once (as [`http::encode_path`] does), then
    /// `?query` with its keys and values percent-encoded.
    pub target: &'a str,
    /// The headers to sign, names lower-case (must include `host` and `x-amz-date`).
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    pub payload_hash: &'a str,
    /// `YYYYMMDDTHHMMSSZ`, the same as the `x-amz-date` header.
    pub amz_date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
}

/// The `Authorization` header value for a request (AWS Signature Version 4, header form).
pub fn sigv4_authorization(r: &SigV4<'_>) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(data.as_bytes());
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    let (path, query) = r.target.split_once('?').unwrap_or((r.target, ""));
    let mut params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    params.sort_unstable();
    let canonical_query = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{}",
        r.method,
        if path.is_empty() { "/" } else { path },
        r.payload_hash
    );
    let date = &r.amz_date[..r.amz_date.len().min(8)];
    let scope = format!("{date}/{}/{}/aws4_request", r.region, r.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        r.amz_date,
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{}", r.secret_key).as_bytes(), date);
    let k_region = hmac(&k_date, r.region);
    let k_service = hmac(&k_region, r.service);
    let k_signing = hmac(&k_service, "aws4_request");
    let signature = hex(&hmac(&k_signing, &string_to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        r.access_key
    )
}

fn object_path(bucket: &str, key: &str) -> String {
    format!("/{}/{}", http::encode_path(bucket), http::encode_path(key))
}

/// The text content of every `<name>…</name>` element, in order (no nesting of the same name).
fn elements<'a>(xml: &'a str, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut rest = xml;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let len = rest[start..].find(&close)?;
        let found = &rest[start..start + len];
        rest = &rest[start + len + close.len()..];
        Some(found)
    })
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#xD;", "\r")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `get-vanilla` case of AWS's Signature Version 4 test suite.
    #[test]
    fn sigv4_matches_the_aws_get_vanilla_test_vector() {
        let auth = sigv4_authorization(&SigV4 {
            method: "GET",
            target: "/",
            headers: &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            payload_hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            amz_date: "20150830T123600Z",
            region: "us-east-1",
            service: "service",
            access_key: "AKIDEXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        });
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn elements_finds_each_block_in_order() {
        let xml = "<R><Contents><Key>a%20b</Key><Size>3</Size></Contents><Contents><Key>c</Key><Size>0</Size></Contents></R>";
        let keys: Vec<_> = elements(xml, "Contents")
            .map(|b| elements(b, "Key").next().unwrap_or_default())
            .collect();
        assert_eq!(keys, ["a%20b", "c"]);
        assert_eq!(xml_unescape("a&amp;lt;&lt;"), "a&lt;<");
    }
}
