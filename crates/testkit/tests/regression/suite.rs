//! Issue 9, item 20: no flaky test. A test on a fresh machine once failed because a port its proxy had
//! freed was taken again by a test running beside it, and `cargo test` stopped there. These tests pin the
//! harness rules that make ports and test runs deterministic.

use ferry_testkit::dovecot::{self, Dovecot, DovecotOptions};
use ferry_testkit::port;
use ferry_testkit::proxy::FaultProxy;
use ferry_testkit::webdav::WebDavServer;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

type R = io::Result<()>;

/// The kernel's ephemeral range, read here rather than through the harness under test.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// An upstream that accepts and holds connections until the test process ends.
fn holding_upstream() -> io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    Ok(addr)
}

#[test]
fn harness_ports_never_come_from_the_range_the_kernel_hands_out_for_port_zero() -> R {
    // Proxies, the tests' own little servers and `ferry serve --listen 127.0.0.1:0` get their ports from
    // the kernel's ephemeral range; a harness pick from that range can be a port one of them just freed
    // or is about to take. Picks are below it, and one process never hands the same port out twice.
    let low = ephemeral_low();
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let p = dovecot::free_port()?;
        assert!(
            p < low,
            "free_port gave {p}, inside the ephemeral range starting at {low}"
        );
        assert!(seen.insert(p), "free_port gave {p} twice");
    }
    Ok(())
}

#[test]
fn a_dropped_proxy_is_seen_closed_even_when_a_neighbour_takes_its_port_at_once() -> R {
    // The field failure, made to happen every time: right after the proxy is dropped, a neighbour binds
    // the very port it freed. "A fresh connect fails" is then false although the proxy did everything
    // right; what a test can rely on is that the proxy's connections end and its own socket is closed.
    let proxy = FaultProxy::start(holding_upstream()?)?;
    let port = proxy.port();
    let mut client = TcpStream::connect(proxy.addr())?;
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    client.write_all(b"hello")?;
    let before = port::listening_sockets(port);
    drop(proxy);
    let neighbour = TcpListener::bind((Ipv4Addr::LOCALHOST, port));
    let mut buf = [0u8; 16];
    assert!(
        matches!(client.read(&mut buf), Ok(0) | Err(_)),
        "the proxied connection survived the drop"
    );
    if let (Some(before), Ok(_held)) = (before, &neighbour) {
        assert!(!before.is_empty(), "the proxy never listened on {port}");
        let after = port::listening_sockets(port).unwrap_or_default();
        assert!(
            before.is_disjoint(&after),
            "the proxy's own listener on {port} is still open"
        );
        assert!(
            !after.is_empty(),
            "the neighbour's listener on {port} is not seen"
        );
    }
    Ok(())
}

#[test]
fn servers_started_while_neighbours_churn_ports_are_their_own_and_answer() -> R {
    // Neighbours keep binding and freeing kernel-chosen ports (as proxies in parallel tests do) while
    // Dovecot and WebDAV harnesses start: every server started is listening itself (its own socket on
    // its own port, not a stranger's) and answers.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let held: Vec<_> = (0..20)
                    .filter_map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok())
                    .collect();
                drop(held);
            }
        })
    };
    let result = (|| -> R {
        let low = ephemeral_low();
        let mail = Dovecot::start(DovecotOptions::default())?;
        let dav = WebDavServer::start()?;
        for (what, p) in [("Dovecot", mail.port()), ("WebDAV", dav.port())] {
            assert!(
                p < low,
                "{what} got {p}, a port the kernel hands out for port 0"
            );
        }
        assert_ne!(mail.port(), dav.port());
        mail.add_user("alice", "pw")?;
        let mut c = mail.connect("alice")?;
        c.examine("INBOX")?;
        let r = ferry_testkit::http::request(
            dav.addr(),
            "PROPFIND",
            "/",
            &[("Depth", "0"), ("Connection", "close")],
            ferry_testkit::http::Body::None,
        )?;
        assert_eq!(r.status, 207, "WebDAV PROPFIND: {}", r.text());
        Ok(())
    })();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = churn.join();
    result
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_test_script_runs_every_test_binary_even_after_one_fails() -> R {
    let script = std::fs::read_to_string(repo_root().join("scripts/test.sh"))?;
    assert!(
        script.contains("cargo test --workspace --locked --no-fail-fast"),
        "scripts/test.sh must not stop at the first failing test binary"
    );
    assert!(
        script.contains("scripts/test-summary.sh"),
        "scripts/test.sh prints no summary"
    );
    Ok(())
}

#[test]
fn the_test_summary_names_every_failed_binary_and_test_and_counts_the_rest() -> R {
    let log = "\
     Running unittests src/lib.rs (target/debug/deps/ferry_core-1)
test a ... ok
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

     Running tests/proxy.rs (target/debug/deps/proxy-2)
test dropping_the_proxy_closes_its_port_and_connections ... FAILED
test bytes_flow ... ok
test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.31s

     Running tests/regression/main.rs (target/debug/deps/regression-3)
test suite::x ... ok
test suite::y ... ignored
test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s

error: 1 target failed:
    `-p ferry-testkit --test proxy`
";
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("test-run.log");
    std::fs::write(&path, log)?;
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/test-summary.sh"))
        .arg(&path)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "test binaries: 3\n",
        "\ntests: 3 passed, 1 failed, 1 skipped\n",
        "FAILED tests/proxy.rs",
        "dropping_the_proxy_closes_its_port_and_connections",
        "`-p ferry-testkit --test proxy`",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("bytes_flow"), "{text}");
    Ok(())
}
