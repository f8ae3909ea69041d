//! A fault-injecting TCP proxy for retry-path tests (DESIGN §9).
//!
//! [`FaultProxy`] listens on a free loopback port and forwards every connection to an upstream address
//! (normally a [`crate::dovecot::Dovecot`]). While it runs, a test can cut every live connection, make each
//! new connection die after N bytes from upstream, refuse connections (accept, then close at once) or stall
//! traffic. Plain threads: two pump threads per connection, one accept thread.
//!
//! ```no_run
//! use ferry_testkit::{Dovecot, DovecotOptions, proxy::FaultProxy};
//! let server = Dovecot::start(DovecotOptions::default())?;
//! let proxy = FaultProxy::start(server.addr())?;
//! // point the connector at proxy.url() ... then, mid-transfer:
//! proxy.cut_all();
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// A TCP proxy in front of one upstream address; stops (and cuts everything) on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    cut_after: Mutex<Option<u64>>,
    refuse: AtomicBool,
    stall: AtomicBool,
    shutdown: AtomicBool,
    accepted: AtomicUsize,
    next_id: AtomicU64,
    /// Live connections: id → (client side, upstream side), clones used only to shut them down.
    live: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, HashMap<u64, (TcpStream, TcpStream)>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cut(&self, id: u64) {
        if let Some((client, upstream)) = self.live().remove(&id) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
}

/// Bind a listener on a free loopback port and run `serve` on it in a named thread, after checking that
/// the upstream is a loopback address: test traffic never leaves this machine. Shared by both proxies.
pub(crate) fn loopback_acceptor(
    name: &str,
    upstream: SocketAddr,
    serve: impl FnOnce(TcpListener) + Send + 'static,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    if !upstream.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name} forwards to loopback addresses only, not {upstream}"),
        ));
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let handle = std::thread::Builder::new()
        .name(format!("{name}-{}", addr.port()))
        .spawn(move || serve(listener))?;
    Ok((addr, handle))
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("connections", &self.connections())
            .finish()
    }
}

impl FaultProxy {
    /// Listen on `127.0.0.1:0` and forward to `upstream` (must be a loopback address).
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let shared = Arc::new(Shared::default());
        let (addr, acceptor) = {
            let shared = Arc::clone(&shared);
            loopback_acceptor("fault-proxy", upstream, move |listener| {
                accept_loop(listener, upstream, shared)
            })?
        };
        Ok(FaultProxy {
            addr,
            upstream,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `imap://127.0.0.1:PORT` (for IMAP upstreams).
    pub fn url(&self) -> String {
        format!("imap://127.0.0.1:{}", self.port())
    }

    /// The upstream address.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Close every live connection now (both sides see EOF). New connections are still accepted.
    pub fn cut_all(&self) {
        let all: Vec<_> = self.shared.live().drain().collect();
        for (_, (client, upstream)) in all {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }

    /// Each connection accepted from now on is cut after `n` bytes from upstream (`None`: never).
    /// Connections already open keep the setting they started with.
    pub fn set_cut_after_bytes(&self, n: Option<u64>) {
        *self
            .shared
            .cut_after
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = n;
    }

    /// While true, new connections are accepted and immediately closed.
    pub fn set_refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    /// While true, no byte is forwarded in either direction (connections stay open; data waits).
    pub fn set_stall(&self, stall: bool) {
        self.shared.stall.store(stall, Ordering::SeqCst);
    }

    /// Connections accepted so far (including refused ones).
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections open right now: accepted, not cut, and not closed by the client. A client's close is
    /// read from the kernel's table rather than waited for in the pump thread, so a client that closes one
    /// connection and then opens the next is never seen holding both (issue 9, item 20: a cap test sampling
    /// this count must not depend on which proxy thread the scheduler runs first).
    pub fn live_connections(&self) -> usize {
        self.shared
            .live()
            .values()
            .filter(
                |(client, _)| match (client.local_addr(), client.peer_addr()) {
                    (Ok(local), Ok(peer)) => !crate::port::peer_has_closed(local, peer),
                    _ => false,
                },
            )
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.set_stall(false);
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
        if shared.refuse.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        let cut_after = *shared.cut_after.lock().unwrap_or_else(|p| p.into_inner());
        let clones = (|| {
            Ok::<_, io::Error>((
                client.try_clone()?,
                server.try_clone()?,
                client.try_clone()?,
                server.try_clone()?,
            ))
        })();
        let Ok((client_reg, server_reg, client_w, server_w)) = clones else {
            continue;
        };
        shared.live().insert(id, (client_reg, server_reg));
        let up = Arc::clone(&shared);
        let down = Arc::clone(&shared);
        // client → upstream
        let _ = std::thread::Builder::new()
            .name(format!("fault-proxy-up-{id}"))
            .spawn(move || pump(client, server_w, None, id, &up));
        // upstream → client, counted for `cut_after`
        let _ = std::thread::Builder::new()
            .name(format!("fault-proxy-down-{id}"))
            .spawn(move || pump(server, client_w, cut_after, id, &down));
    }
}

/// Copy `from` → `to` until EOF, an error, a cut or the byte budget; then cut the whole connection.
fn pump(mut from: TcpStream, mut to: TcpStream, budget: Option<u64>, id: u64, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = budget;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while shared.stall.load(Ordering::SeqCst) && shared.live().contains_key(&id) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !shared.live().contains_key(&id) {
            break;
        }
        let n = match left {
            Some(l) => (n as u64).min(l) as usize,
            None => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some(l) = left.as_mut() {
            *l -= n as u64;
            if *l == 0 {
                break;
            }
        }
    }
    shared.cut(id);
}
