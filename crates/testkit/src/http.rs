//! Just enough HTTP/1.1 for the harnesses: a blocking keep-alive client ([`RawHttp`]) that tests and the S3
//! harness use to prepare and inspect servers without going through the connector under test, and the
//! message framing (RFC 9112 §6: `Content-Length`, `chunked`, read-until-close) the fault proxy forwards.
//!
//! Bodies are copied in their wire form (a chunked body stays chunked), so a proxy built on these functions
//! never holds a whole body in memory.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A request or response head: the start line and the header fields, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// `GET /x HTTP/1.1` or `HTTP/1.1 200 OK`, without the line end.
    pub start: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header field (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The method of a request head.
    pub fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or("")
    }

    /// The target of a request head (`/path?query`).
    pub fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or("")
    }

    /// The status code of a response head (0 if unparsable).
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Whether the connection closes after this message (`Connection: close`, or HTTP/1.0 without
    /// `keep-alive`).
    pub fn closes(&self) -> bool {
        let conn = self
            .header("connection")
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if conn.split(',').any(|t| t.trim() == "close") {
            return true;
        }
        let http10 = self.start.starts_with("HTTP/1.0") || self.start.ends_with("HTTP/1.0");
        http10 && !conn.split(',').any(|t| t.trim() == "keep-alive")
    }

    /// The head in wire form, ending with the empty line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(self.start.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// How a message body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// A response body that ends when the server closes the connection.
    UntilClose,
}

/// The body framing of a request.
pub fn request_framing(head: &Head) -> io::Result<Framing> {
    if is_chunked(head) {
        return Ok(Framing::Chunked);
    }
    match content_length(head)? {
        Some(0) | None => Ok(Framing::Empty),
        Some(n) => Ok(Framing::Length(n)),
    }
}

/// The body framing of a response to a request with `method`.
pub fn response_framing(head: &Head, method: &str) -> io::Result<Framing> {
    let status = head.status();
    if method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Ok(Framing::Empty);
    }
    if is_chunked(head) {
        return Ok(Framing::Chunked);
    }
    match content_length(head)? {
        Some(0) => Ok(Framing::Empty),
        Some(n) => Ok(Framing::Length(n)),
        None => Ok(Framing::UntilClose),
    }
}

fn is_chunked(head: &Head) -> bool {
    head.header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

fn content_length(head: &Head) -> io::Result<Option<u64>> {
    head.header("content-length")
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| invalid(format!("bad Content-Length {v:?}")))
        })
        .transpose()
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Longest head line accepted (a guard against reading garbage forever).
const MAX_LINE: usize = 64 * 1024;

fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "HTTP line cut short or too long",
        ));
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| invalid("HTTP head is not UTF-8".into()))
}

/// Read a head. `Ok(None)` on a clean end of stream before its first byte (the peer closed an idle
/// keep-alive connection).
pub fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let start = loop {
        match read_line(r)? {
            None => return Ok(None),
            // RFC 9112 §2.2: ignore empty lines before a request line.
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside an HTTP head",
            )
        })?;
        if line.is_empty() {
            break;
        }
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad HTTP header line {line:?}")))?;
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(Some(Head { start, headers }))
}

/// Copy a body in its wire form from `r` to `w` (chunk lines and trailers included for `Chunked`).
/// Returns the bytes copied.
pub fn copy_body(r: &mut impl BufRead, w: &mut dyn Write, framing: Framing) -> io::Result<u64> {
    match framing {
        Framing::Empty => Ok(0),
        Framing::Length(n) => {
            let copied = io::copy(&mut r.by_ref().take(n), w)?;
            if copied < n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("body ended after {copied} of {n} bytes"),
                ));
            }
            Ok(copied)
        }
        Framing::UntilClose => io::copy(r, w),
        Framing::Chunked => {
            let mut total = 0;
            loop {
                let line = read_line(r)?.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "chunked body cut short")
                })?;
                w.write_all(line.as_bytes())?;
                w.write_all(b"\r\n")?;
                total += line.len() as u64 + 2;
                let size_hex = line.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size_hex, 16)
                    .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
                if size == 0 {
                    // Trailer fields, then the empty line.
                    loop {
                        let t = read_line(r)?.ok_or_else(|| {
                            io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "chunked trailer cut short",
                            )
                        })?;
                        w.write_all(t.as_bytes())?;
                        w.write_all(b"\r\n")?;
                        total += t.len() as u64 + 2;
                        if t.is_empty() {
                            return Ok(total);
                        }
                    }
                }
                // The chunk data and its CRLF.
                total += copy_body(r, w, Framing::Length(size + 2))?;
            }
        }
    }
}

/// Read a body and return its decoded content (chunks joined, trailers dropped).
pub fn read_body(r: &mut impl BufRead, framing: Framing) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match framing {
        Framing::Chunked => loop {
            let line = read_line(r)?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "chunked body cut short")
            })?;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_hex, 16)
                .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                while read_line(r)?.is_some_and(|t| !t.is_empty()) {}
                return Ok(out);
            }
            copy_body(r, &mut out, Framing::Length(size))?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        },
        other => {
            copy_body(r, &mut out, other)?;
            Ok(out)
        }
    }
}

/// A response read by [`RawHttp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header field (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request body for [`RawHttp::request`].
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// No body (no `Content-Length` either).
    None,
    /// Sent with `Content-Length`.
    Bytes(&'a [u8]),
    /// Sent with `Transfer-Encoding: chunked`, one chunk per slice (empty slices are skipped).
    Chunked(&'a [&'a [u8]]),
}

/// A blocking HTTP/1.1 client on one keep-alive connection. It adds `Host` and the body framing headers;
/// everything else is the caller's. 30 s read timeout.
pub struct RawHttp {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl std::fmt::Debug for RawHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawHttp").field("addr", &self.addr).finish()
    }
}

impl RawHttp {
    /// Open a connection to `addr`.
    pub fn connect(addr: SocketAddr) -> io::Result<RawHttp> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| io::Error::new(e.kind(), format!("connecting to {addr}: {e}")))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_nodelay(true)?;
        Ok(RawHttp {
            addr,
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Send one request and read its response (interim `1xx` responses are skipped). After a response
    /// with `Connection: close` the connection is unusable; open a new one.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> io::Result<HttpResponse> {
        let mut head = Head {
            start: format!("{method} {target} HTTP/1.1"),
            headers: vec![("Host".into(), self.addr.to_string())],
        };
        head.headers.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        match body {
            Body::None => {}
            Body::Bytes(b) => head
                .headers
                .push(("Content-Length".into(), b.len().to_string())),
            Body::Chunked(_) => head
                .headers
                .push(("Transfer-Encoding".into(), "chunked".into())),
        }
        let mut out = head.to_bytes();
        match body {
            Body::None => {}
            // A large body goes out from where it is, after the head (not copied behind it first).
            Body::Bytes(b) if b.len() > 64 * 1024 => {
                self.writer.write_all(&out)?;
                out.clear();
                self.writer.write_all(b)?;
            }
            Body::Bytes(b) => out.extend_from_slice(b),
            Body::Chunked(chunks) => {
                for c in chunks.iter().filter(|c| !c.is_empty()) {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
        }
        self.writer.write_all(&out)?;
        loop {
            let head = read_head(&mut self.reader)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} closed the connection before answering {method} {target}",
                        self.addr
                    ),
                )
            })?;
            let status = head.status();
            if (100..200).contains(&status) {
                continue;
            }
            let framing = response_framing(&head, method)?;
            let body = read_body(&mut self.reader, framing)?;
            return Ok(HttpResponse {
                status,
                headers: head.headers,
                body,
            });
        }
    }
}

/// One request on a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Body<'_>,
) -> io::Result<HttpResponse> {
    RawHttp::connect(addr)?.request(method, target, headers, body)
}

/// Percent-encode a path for a request target: everything but unreserved characters and `/` is encoded.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode `%XX` escapes (invalid escapes are kept as they are).
pub fn decode_percent(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_body_is_copied_verbatim_and_decoded() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let mut r = BufReader::new(&wire[..]);
        let mut copied = Vec::new();
        copy_body(&mut r, &mut copied, Framing::Chunked).unwrap();
        assert_eq!(copied, &wire[..wire.len() - 4]);
        let mut r = BufReader::new(&wire[..]);
        assert_eq!(read_body(&mut r, Framing::Chunked).unwrap(), b"Wikipedia");
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "NEXT");
    }

    #[test]
    fn percent_encoding_round_trips_awkward_names() {
        for name in ["a b/c#%&?.txt", "日本/\t\n", "%zz", "100%"] {
            assert_eq!(decode_percent(&encode_path(name)), name);
        }
        assert_eq!(decode_percent("%zz%4"), "%zz%4");
    }

    #[test]
    fn response_to_head_has_no_body_even_with_a_length() {
        let head = Head {
            start: "HTTP/1.1 200 OK".into(),
            headers: vec![("Content-Length".into(), "10".into())],
        };
        assert_eq!(response_framing(&head, "HEAD").unwrap(), Framing::Empty);
        assert_eq!(response_framing(&head, "GET").unwrap(), Framing::Length(10));
    }
}
