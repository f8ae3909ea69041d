//! Loopback ports for the servers the harness starts, picked so that tests running side by side never
//! race for one (issue 9, item 20).
//!
//! Dovecot, `rclone serve webdav`, `sshd` and moto bind their own port from their command line, so the
//! harness cannot bind port 0 and pass them the listener: it has to name a port, and the danger is another
//! test — in this process or in another test binary beside it — taking that port between the pick and the
//! server's `bind`. Three rules make that harmless:
//!
//! 1. **Picks come from below the kernel's ephemeral range** (`/proc/sys/net/ipv4/ip_local_port_range`).
//!    The kernel hands ports from that range to every `bind(127.0.0.1:0)` (the fault proxies, the tests'
//!    own little servers, `ferry serve --listen 127.0.0.1:0`) and to outgoing connections, so a port such a
//!    socket just freed is never the harness's next pick, and a harness pick is never given to one of them.
//! 2. **One process hands a port out once**, so two harnesses in one test binary never pick the same port.
//! 3. **A server counts as started only when the listener on its port is its own** ([`owned_by`]: the
//!    socket's inode from `/proc/net/tcp` is among the open files of the server's process tree). A stranger
//!    answering on the port is not mistaken for it; the server fails to bind, exits with "Address already in
//!    use", and the harness starts it again on another port.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Mutex, OnceLock};

/// The lowest port the harness picks from.
const LOWEST: u16 = 10_000;

/// Ports this process has handed out (rule 2).
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static SET: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(HashSet::new()))
}

/// The kernel's ephemeral port range (`ip_local_port_range`); Linux's default when it cannot be read.
pub fn ephemeral_range() -> (u16, u16) {
    let parsed = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        });
    parsed.unwrap_or((32_768, 60_999))
}

/// A loopback port that is free now, below the ephemeral range, and not handed out before by this process.
///
/// Falls back to a kernel-chosen port (`bind` to port 0) only when the range below the ephemeral ports is
/// too small to pick from (an unusual `ip_local_port_range`).
pub fn free_port() -> io::Result<u16> {
    let (ephemeral_low, _) = ephemeral_range();
    if ephemeral_low <= LOWEST + 1_000 {
        return Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port());
    }
    let mut given = handed_out().lock().unwrap_or_else(|p| p.into_inner());
    let span = usize::from(ephemeral_low - LOWEST);
    if given.len() * 2 > span {
        // Half the range used by one process: forget the oldest picks rather than run dry (their servers
        // are long gone in any realistic test binary).
        given.clear();
    }
    for _ in 0..1_000 {
        let port = fastrand::u16(LOWEST..ephemeral_low);
        if given.contains(&port) {
            continue;
        }
        // Free right now? (Another process may still take it before our server binds: rule 3.)
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            given.insert(port);
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("no free loopback port found between {LOWEST} and {ephemeral_low}"),
    ))
}

/// Whether the socket listening on loopback `port` (IPv4 or IPv6, any or loopback address) is open in
/// one of `pids`. `None` when the kernel's socket tables cannot be read (then nobody can tell).
pub fn owned_by(port: u16, pids: &[u32]) -> Option<bool> {
    let inodes = listening_sockets(port)?;
    if inodes.is_empty() {
        return Some(false);
    }
    for pid in pids {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|i| i.parse::<u64>().ok())
                && inodes.contains(&inode)
            {
                return Some(true);
            }
        }
    }
    Some(false)
}

/// The sockets (by inode) in state LISTEN on `port`, from `/proc/net/tcp` and `/proc/net/tcp6`; `None`
/// when neither table can be read.
///
/// An inode names one socket, not the port: a test can tell that *its* listener is closed even when
/// another test beside it binds the same port number a moment later.
pub fn listening_sockets(port: u16) -> Option<HashSet<u64>> {
    let mut found = HashSet::new();
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        readable = true;
        found.extend(listeners_in(&text, port));
    }
    readable.then_some(found)
}

/// Whether one of `sockets` (taken from [`listening_sockets`] earlier) still listens on `port`; `false`
/// when the tables cannot be read. What "the server stopped listening" means in a test: asking whether a
/// fresh connection to the port fails would race with any test beside it that binds the freed port.
pub fn still_listening(port: u16, sockets: &HashSet<u64>) -> bool {
    listening_sockets(port).is_some_and(|now| !now.is_disjoint(sockets))
}

/// Whether the peer of the TCP connection `local` ↔ `peer` has closed its end while this side still holds
/// it (state `CLOSE_WAIT` in the kernel's table): the kernel knows at once, where a thread reading the
/// socket learns it only when it is next scheduled. `false` when unknown.
pub fn peer_has_closed(local: SocketAddr, peer: SocketAddr) -> bool {
    const CLOSE_WAIT: &str = "08";
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        fs::read_to_string(table).is_ok_and(|text| {
            rows(&text).any(|r| {
                r.local_port == local.port()
                    && r.remote_port == peer.port()
                    && r.state == CLOSE_WAIT
            })
        })
    })
}

/// One socket of a `/proc/net/tcp{,6}` table.
struct Row<'a> {
    local_port: u16,
    remote_port: u16,
    state: &'a str,
    inode: u64,
}

/// Parse one `/proc/net/tcp{,6}` table: `sl local_address rem_address st … uid timeout inode …`, addresses
/// as `HEXADDR:HEXPORT`, state `0A` = LISTEN. Lines that do not parse are skipped.
fn rows(table: &str) -> impl Iterator<Item = Row<'_>> {
    table.lines().skip(1).filter_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let port_of = |field: &str| u16::from_str_radix(field.rsplit_once(':')?.1, 16).ok();
        Some(Row {
            local_port: port_of(f.get(1)?)?,
            remote_port: port_of(f.get(2)?)?,
            state: f.get(3)?,
            inode: f.get(9)?.parse().ok()?,
        })
    })
}

/// The inodes of the sockets in state LISTEN on `port` in one table.
fn listeners_in(table: &str, port: u16) -> Vec<u64> {
    rows(table)
        .filter(|r| r.state == "0A" && r.local_port == port)
        .map(|r| r.inode)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_table_line_yields_its_inode_only_for_listen_on_that_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0 20 4 30 10 -1
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12347 1 0 100 0 0 10 0
";
        assert_eq!(listeners_in(table, 8080), vec![12345]);
        assert!(listeners_in(table, 9999).is_empty());
        assert!(listeners_in("garbage\nnot a table line\n", 8080).is_empty());
    }

    #[test]
    fn a_closed_client_is_seen_from_the_accepting_side() -> io::Result<()> {
        if fs::read_to_string("/proc/net/tcp").is_err() {
            return Ok(());
        }
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let client = std::net::TcpStream::connect(l.local_addr()?)?;
        let (accepted, _) = l.accept()?;
        let (local, peer) = (accepted.local_addr()?, accepted.peer_addr()?);
        assert!(!peer_has_closed(local, peer));
        drop(client);
        // Bounded poll: the FIN on loopback is normally there as soon as close() returns.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !peer_has_closed(local, peer) {
            assert!(std::time::Instant::now() < deadline, "close never seen");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(())
    }

    #[test]
    fn a_listener_of_this_process_is_owned_by_it_and_by_no_other_pid() -> io::Result<()> {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = l.local_addr()?.port();
        if let Some(owned) = owned_by(port, &[std::process::id()]) {
            assert!(owned);
            assert_eq!(owned_by(port, &[1]), Some(false));
        }
        Ok(())
    }
}
