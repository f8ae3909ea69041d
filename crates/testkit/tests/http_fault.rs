//! The HTTP fault proxy in front of a real WebDAV server (rclone): keep-alive forwarding of bodies, and
//! each fault mode.

use ferry_testkit::http::{Body, RawHttp};
use ferry_testkit::http_fault::HttpFaultProxy;
use ferry_testkit::webdav::WebDavServer;
use std::io::{self, Read, Write};
use std::net::TcpStream;

type R = io::Result<()>;

fn setup() -> io::Result<(WebDavServer, HttpFaultProxy)> {
    let server = WebDavServer::start()?;
    let proxy = HttpFaultProxy::start(server.addr())?;
    Ok((server, proxy))
}

#[test]
fn proxy_forwards_keep_alive_requests_with_length_and_chunked_bodies() -> R {
    let (server, proxy) = setup()?;
    assert_eq!(proxy.url(), format!("http://127.0.0.1:{}/", proxy.port()));
    let mut c = RawHttp::connect(proxy.addr())?;
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(
        c.request("PUT", "/len.bin", &[], Body::Bytes(&big))?.status,
        201
    );
    let chunks: [&[u8]; 3] = [b"chunk one, ", &big[..100_000], b" end"];
    assert_eq!(
        c.request("PUT", "/chunked.bin", &[], Body::Chunked(&chunks))?
            .status,
        201
    );
    assert_eq!(c.request("GET", "/len.bin", &[], Body::None)?.body, big);
    let listing = c.request("PROPFIND", "/", &[("Depth", "1")], Body::None)?;
    assert_eq!(listing.status, 207);
    assert_eq!(c.request("HEAD", "/len.bin", &[], Body::None)?.status, 200);
    assert_eq!(std::fs::read(server.dir().join("len.bin"))?, big);
    assert_eq!(
        std::fs::read(server.dir().join("chunked.bin"))?.len(),
        100_000 + 15
    );
    assert_eq!(
        proxy.connections(),
        1,
        "the client connection was kept alive"
    );
    assert_eq!(proxy.requests(), 5);
    assert_eq!(proxy.request_log()[0], "PUT /len.bin");
    Ok(())
}

#[test]
fn throttle_next_answers_429_with_retry_after_then_forwards_on_the_same_connection() -> R {
    let (server, proxy) = setup()?;
    proxy.throttle_next(2);
    let mut c = RawHttp::connect(proxy.addr())?;
    for _ in 0..2 {
        let r = c.request("PUT", "/t.txt", &[], Body::Bytes(b"payload"))?;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(
            !server.dir().join("t.txt").exists(),
            "a throttled request reached the server"
        );
    }
    assert_eq!(
        c.request("PUT", "/t.txt", &[], Body::Bytes(b"payload"))?
            .status,
        201
    );
    assert_eq!(std::fs::read(server.dir().join("t.txt"))?, b"payload");
    assert_eq!(
        (proxy.requests(), proxy.faulted(), proxy.pending_faults()),
        (3, 2, 0)
    );
    assert_eq!(proxy.connections(), 1);
    Ok(())
}

#[test]
fn unavailable_next_answers_503_with_the_given_retry_after() -> R {
    let (_server, proxy) = setup()?;
    proxy.unavailable_next(1, 7);
    let mut c = RawHttp::connect(proxy.addr())?;
    let chunks: [&[u8]; 1] = [b"chunked body drained"];
    let r = c.request("PUT", "/u.txt", &[], Body::Chunked(&chunks))?;
    assert_eq!((r.status, r.header("Retry-After")), (503, Some("7")));
    assert_eq!(
        c.request("PROPFIND", "/", &[("Depth", "0")], Body::None)?
            .status,
        207
    );
    Ok(())
}

#[test]
fn cut_next_responses_closes_the_connection_mid_body_once() -> R {
    let (server, proxy) = setup()?;
    std::fs::write(server.dir().join("big.bin"), vec![1u8; 1_000_000])?;
    proxy.cut_next_responses(1, 10_000);
    let mut s = TcpStream::connect(proxy.addr())?;
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut got = Vec::new();
    s.read_to_end(&mut got)?; // ends: the proxy closed the connection
    assert_eq!(got.len(), 10_000);
    assert!(String::from_utf8_lossy(&got[..200]).contains("Content-Length: 1000000"));
    let full = RawHttp::connect(proxy.addr())?.request("GET", "/big.bin", &[], Body::None)?;
    assert_eq!(full.body.len(), 1_000_000);
    Ok(())
}

#[test]
fn drop_next_closes_without_answering() -> R {
    let (server, proxy) = setup()?;
    proxy.drop_next(1);
    let err = RawHttp::connect(proxy.addr())?
        .request("PUT", "/d.txt", &[], Body::Bytes(b"x"))
        .expect_err("a dropped request was answered");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    assert!(!server.dir().join("d.txt").exists());
    let ok = RawHttp::connect(proxy.addr())?.request("PUT", "/d.txt", &[], Body::Bytes(b"x"))?;
    assert_eq!(ok.status, 201);
    Ok(())
}

#[test]
fn expect_100_continue_is_answered_by_the_proxy() -> R {
    let (server, proxy) = setup()?;
    let mut s = TcpStream::connect(proxy.addr())?;
    s.write_all(
        b"PUT /e.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )?;
    let mut first = [0u8; 25];
    s.read_exact(&mut first)?;
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello")?;
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply)?;
    assert_eq!(&reply, b"HTTP/1.1 201");
    drop(s);
    assert_eq!(std::fs::read(server.dir().join("e.txt"))?, b"hello");
    Ok(())
}
