//! A fault-injecting HTTP/1.1 proxy for the retry paths of the HTTP connectors (WebDAV, S3) (DESIGN §4, §9).
//!
//! [`HttpFaultProxy`] listens on a free loopback port and forwards each client connection to one upstream
//! connection, request by request, keeping both alive (bodies with `Content-Length` or `chunked` are
//! streamed in their wire form, never held in memory). A test queues faults; each *request* that arrives
//! takes the next queued fault, if any:
//!
//! - [`throttle_next(n)`](HttpFaultProxy::throttle_next): answer `429 Too Many Requests` + `Retry-After: 1`
//!   without forwarding (the request body is read and dropped, so the connection stays usable);
//! - [`unavailable_next(n, secs)`](HttpFaultProxy::unavailable_next): `503 Service Unavailable` +
//!   `Retry-After: secs`;
//! - [`cut_next_responses(n, bytes)`](HttpFaultProxy::cut_next_responses): forward, then pass only the
//!   first `bytes` of the response (head included) and close the connection mid-response;
//! - [`drop_next(n)`](HttpFaultProxy::drop_next): read the request, then close without answering.
//!
//! The proxy counts requests (faulted ones included) and keeps a log of `METHOD target` lines. The `Host`
//! header is forwarded unchanged; `Expect: 100-continue` is answered by the proxy itself.
//!
//! ```no_run
//! use ferry_testkit::{http_fault::HttpFaultProxy, webdav::WebDavServer};
//! let server = WebDavServer::start()?;
//! let proxy = HttpFaultProxy::start(server.addr())?;
//! proxy.throttle_next(2);
//! // point the connector at proxy.url(): its first two requests get 429, the third goes through.
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::http::{self, Framing, Head};
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// What happens to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpFault {
    /// Answer with this status (and `Retry-After` when given) without forwarding.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// Forward, then pass only the first `after_bytes` bytes of the response and close the connection.
    CutResponse { after_bytes: u64 },
    /// Read the request, then close the connection without answering.
    Drop,
}

/// An HTTP proxy in front of one upstream; stops (and cuts everything) on drop.
pub struct HttpFaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    faults: Mutex<VecDeque<HttpFault>>,
    requests: AtomicUsize,
    faulted: AtomicUsize,
    accepted: AtomicUsize,
    log: Mutex<Vec<String>>,
    shutdown: AtomicBool,
    next_id: AtomicU64,
    /// Live connections: id → clones of the client and upstream sockets, used only to shut them down.
    live: Mutex<HashMap<u64, Vec<TcpStream>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn cut(&self, id: u64) {
        if let Some(socks) = lock(&self.live).remove(&id) {
            for s in socks {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

impl std::fmt::Debug for HttpFaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("requests", &self.requests())
            .finish()
    }
}

impl HttpFaultProxy {
    /// Listen on `127.0.0.1:0` and forward to `upstream` (must be a loopback address).
    pub fn start(upstream: SocketAddr) -> io::Result<HttpFaultProxy> {
        let shared = Arc::new(Shared::default());
        let (addr, acceptor) = {
            let shared = Arc::clone(&shared);
            crate::proxy::loopback_acceptor("http-fault", upstream, move |listener| {
                accept_loop(listener, upstream, shared)
            })?
        };
        Ok(HttpFaultProxy {
            addr,
            upstream,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.addr.port())
    }

    /// `http://127.0.0.1:PORT` (no trailing slash, as S3 endpoints are written).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The upstream address.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Queue `fault` for the next `n` requests (after any faults already queued).
    pub fn push_fault(&self, fault: HttpFault, n: usize) {
        lock(&self.shared.faults).extend(std::iter::repeat_n(fault, n));
    }

    /// The next `n` requests get `429 Too Many Requests` with `Retry-After: 1`.
    pub fn throttle_next(&self, n: usize) {
        self.push_fault(
            HttpFault::Status {
                status: 429,
                retry_after: Some("1".into()),
            },
            n,
        );
    }

    /// The next `n` requests get `503 Service Unavailable` with `Retry-After: retry_after_secs`.
    pub fn unavailable_next(&self, n: usize, retry_after_secs: u64) {
        self.push_fault(
            HttpFault::Status {
                status: 503,
                retry_after: Some(retry_after_secs.to_string()),
            },
            n,
        );
    }

    /// The next `n` requests are forwarded, but only the first `after_bytes` bytes of each response reach
    /// the client before its connection is closed.
    pub fn cut_next_responses(&self, n: usize, after_bytes: u64) {
        self.push_fault(HttpFault::CutResponse { after_bytes }, n);
    }

    /// The next `n` requests are read and their connections closed without an answer.
    pub fn drop_next(&self, n: usize) {
        self.push_fault(HttpFault::Drop, n);
    }

    /// Forget every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Faults queued and not yet used.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len()
    }

    /// Requests seen so far (faulted ones included).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests that got a fault.
    pub fn faulted(&self) -> usize {
        self.shared.faulted.load(Ordering::SeqCst)
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// `METHOD target` of every request seen, in arrival order.
    pub fn request_log(&self) -> Vec<String> {
        lock(&self.shared.log).clone()
    }

    /// Close every live connection now (clients see EOF). New connections are still accepted.
    pub fn cut_all(&self) {
        let all: Vec<_> = lock(&self.shared.live).drain().collect();
        for (_, socks) in all {
            for s in socks {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for HttpFaultProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.cut_all();
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        let Ok(reg) = client.try_clone() else {
            continue;
        };
        lock(&shared.live).insert(id, vec![reg]);
        let shared = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name(format!("http-fault-conn-{id}"))
            .spawn(move || {
                let _ = serve(client, upstream, id, &shared);
                shared.cut(id);
            });
    }
}

/// The upstream side of one client connection.
struct Upstream {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// Serve one client connection until it or the upstream closes, or a fault cuts it.
fn serve(client: TcpStream, upstream_addr: SocketAddr, id: u64, shared: &Shared) -> io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut from_client = BufReader::with_capacity(64 * 1024, client.try_clone()?);
    let mut to_client = BufWriter::with_capacity(64 * 1024, client.try_clone()?);
    let mut upstream: Option<Upstream> = None;
    loop {
        let Some(mut head) = http::read_head(&mut from_client)? else {
            return Ok(());
        };
        shared.requests.fetch_add(1, Ordering::SeqCst);
        lock(&shared.log).push(format!("{} {}", head.method(), head.target()));
        let framing = http::request_framing(&head)?;
        // Answer `Expect: 100-continue` here, so faults and forwarding both see the body arrive.
        if head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            head.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("expect"));
            to_client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            to_client.flush()?;
        }
        let client_closes = head.closes();
        let fault = lock(&shared.faults).pop_front();
        if fault.is_some() {
            shared.faulted.fetch_add(1, Ordering::SeqCst);
        }
        let budget = match fault {
            Some(HttpFault::Status {
                status,
                retry_after,
            }) => {
                http::copy_body(&mut from_client, &mut io::sink(), framing)?;
                let reason = match status {
                    429 => "Too Many Requests",
                    503 => "Service Unavailable",
                    _ => "Injected Fault",
                };
                let body = format!("{status} {reason} (injected by ferry-testkit)\n");
                let mut reply = Head {
                    start: format!("HTTP/1.1 {status} {reason}"),
                    headers: vec![
                        ("Content-Type".into(), "text/plain".into()),
                        ("Content-Length".into(), body.len().to_string()),
                    ],
                };
                if let Some(r) = retry_after {
                    reply.headers.push(("Retry-After".into(), r));
                }
                if client_closes {
                    reply.headers.push(("Connection".into(), "close".into()));
                }
                to_client.write_all(&reply.to_bytes())?;
                to_client.write_all(body.as_bytes())?;
                to_client.flush()?;
                if client_closes {
                    return Ok(());
                }
                continue;
            }
            Some(HttpFault::Drop) => {
                http::copy_body(&mut from_client, &mut io::sink(), framing)?;
                return Ok(());
            }
            Some(HttpFault::CutResponse { after_bytes }) => Some(after_bytes),
            None => None,
        };

        // Forward the request.
        let up = match upstream.as_mut() {
            Some(u) => u,
            None => {
                let s = TcpStream::connect_timeout(&upstream_addr, Duration::from_secs(5))?;
                let _ = s.set_nodelay(true);
                if let Some(socks) = lock(&shared.live).get_mut(&id) {
                    socks.push(s.try_clone()?);
                }
                upstream.insert(Upstream {
                    reader: BufReader::with_capacity(64 * 1024, s.try_clone()?),
                    writer: s,
                })
            }
        };
        {
            let mut w = BufWriter::with_capacity(64 * 1024, &up.writer);
            w.write_all(&head.to_bytes())?;
            http::copy_body(&mut from_client, &mut w, framing)?;
            w.flush()?;
        }

        // Relay the response (interim 1xx responses too), within the fault's byte budget.
        let mut out = Budget {
            inner: &mut to_client,
            left: budget,
        };
        let relayed = relay_response(&mut up.reader, &mut out, head.method());
        let cut = out.left == Some(0);
        let _ = to_client.flush();
        if cut {
            return Ok(());
        }
        let upstream_closes = relayed?;
        if upstream_closes || client_closes {
            return Ok(());
        }
    }
}

/// Copy one response from upstream to the client; `Ok(true)` when the connection must close after it.
fn relay_response(
    from: &mut BufReader<TcpStream>,
    to: &mut Budget<'_>,
    method: &str,
) -> io::Result<bool> {
    loop {
        let head = http::read_head(from)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upstream closed the connection before answering",
            )
        })?;
        to.write_all(&head.to_bytes())?;
        let status = head.status();
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let framing = http::response_framing(&head, method)?;
        http::copy_body(from, to, framing)?;
        to.flush()?;
        return Ok(head.closes() || framing == Framing::UntilClose || status == 101);
    }
}

/// A writer that passes at most `left` bytes, then fails (the fault proxy's mid-response cut).
struct Budget<'a> {
    inner: &'a mut dyn Write,
    left: Option<u64>,
}

impl Write for Budget<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.left {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "response cut by an injected fault",
                ));
            }
            Some(l) => buf.len().min(usize::try_from(l).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let written = self.inner.write(&buf[..n])?;
        if let Some(l) = self.left.as_mut() {
            *l -= written as u64;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
