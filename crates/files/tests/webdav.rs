//! `WebDavConnector` against a real `rclone serve webdav` (Debian's rclone 1.60, started per test by
//! `ferry_testkit::webdav::WebDavServer`), plus the error paths through `ferry_testkit`'s fault proxy.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

use chrono::{TimeZone, Utc};
use ferry_core::ErrorKind;
use ferry_core::file::{EntryKind, FileConnector, FileEntry, FileReader};
use ferry_core::mail::{Access, Secret};
use ferry_files::config::{FileEndpoint, WebDavConfig};
use ferry_files::webdav::WebDavConnector;
use ferry_testkit::http_fault::HttpFaultProxy;
use ferry_testkit::webdav::WebDavServer;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The conformance suite measures the whole process's memory while it streams a big file, so it runs
/// alone; the other tests of this binary share the lock and run in parallel with each other.
static MEMORY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn reader(bytes: &[u8]) -> FileReader {
    Box::new(std::io::Cursor::new(bytes.to_vec()))
}

fn connector(url: &str, access: Access) -> WebDavConnector {
    WebDavConnector::new(WebDavConfig::new(url).unwrap(), access).unwrap()
}

async fn read_all(c: &dyn FileConnector, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    c.read(path)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
}

async fn list(c: &dyn FileConnector, dir: &str) -> Vec<FileEntry> {
    let page = c.list(dir, None).await.unwrap();
    assert!(page.next.is_none(), "WebDAV listings are one page");
    page.entries
}

const AWKWARD: &[&str] = &[
    "with space.txt",
    "#%&?.txt",
    ".hidden",
    "..double-dot-prefix",
    "unicodé 日本 🦀",
    "trailing space  ",
    "back\\slash",
    "plus+semi;colon:at@",
];

#[tokio::test]
async fn files_round_trip_through_rclone_with_awkward_names() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let c = connector(&server.url(), Access::ReadWrite);
    let cap = c.capability();
    assert!(cap.write && !cap.paged_list);
    for (i, name) in AWKWARD.iter().enumerate() {
        let path = format!("dir {name}/{name}");
        let body = format!("content {i}");
        let e = c
            .write(&path, body.len() as u64, None, reader(body.as_bytes()))
            .await
            .unwrap();
        assert_eq!(
            (e.path.as_str(), e.kind, e.size),
            (path.as_str(), EntryKind::File, body.len() as u64)
        );
        assert_eq!(read_all(&c, &path).await, body.as_bytes(), "{name:?}");
        // The name on disk is the name we sent: nothing was mangled on the wire.
        assert_eq!(
            std::fs::read(server.dir().join(format!("dir {name}")).join(name)).unwrap(),
            body.as_bytes()
        );
        let entries = list(&c, &format!("dir {name}")).await;
        assert_eq!(entries.len(), 1, "{name:?}");
        assert_eq!(entries[0].path, path);
        let s = c.stat(&path).await.unwrap().unwrap();
        assert_eq!((s.size, s.kind), (body.len() as u64, EntryKind::File));
        assert!(s.mtime.is_some());
    }
    let top = list(&c, "").await;
    assert_eq!(top.len(), AWKWARD.len());
    assert!(top.iter().all(|e| e.kind == EntryKind::Dir));
}

/// rclone 1.60 `serve webdav` stores TAB and newline names exactly (checked on disk below), but lists
/// them as U+2409/U+240A control pictures and, once its directory cache has expired (the testkit runs it
/// with `--dir-cache-time 0s`), cannot find them again: they cannot round-trip through *this server*.
/// What we can check is that the bytes on the wire name the file exactly.
#[tokio::test]
async fn tab_and_newline_names_reach_the_server_exactly() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let c = connector(&server.url(), Access::ReadWrite);
    for name in ["tab\there", "new\nline", "\tlead"] {
        c.write(name, 2, None, reader(b"ok")).await.unwrap();
        assert_eq!(
            std::fs::read(server.dir().join(name)).unwrap(),
            b"ok",
            "{name:?}"
        );
    }
}

#[tokio::test]
async fn listing_sees_files_put_on_disk_and_reports_sizes_and_mtimes() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let d = server.dir();
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    std::fs::write(d.join("a/one.txt"), b"1").unwrap();
    std::fs::write(d.join("a/empty"), b"").unwrap();
    let c = connector(&server.url(), Access::ReadOnly);
    let entries = list(&c, "a").await;
    let got: Vec<_> = entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind, e.size))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a/b", EntryKind::Dir, 0),
            ("a/empty", EntryKind::File, 0),
            ("a/one.txt", EntryKind::File, 1)
        ]
    );
    let disk = std::fs::metadata(d.join("a/one.txt"))
        .unwrap()
        .modified()
        .unwrap();
    let disk = chrono::DateTime::<Utc>::from(disk).timestamp();
    assert_eq!(
        entries[2].mtime.map(|t| t.timestamp()),
        Some(disk),
        "second precision"
    );
    assert!(list(&c, "a/b").await.is_empty());
    assert_eq!(c.stat("").await.unwrap().unwrap().kind, EntryKind::Dir);
    assert_eq!(c.stat("a/b").await.unwrap().unwrap().kind, EntryKind::Dir);
    assert_eq!(c.stat("a/none").await.unwrap(), None);
    assert_eq!(
        c.list("nope", None).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        c.list("a/one.txt", None).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        c.read("nope").await.err().unwrap().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn read_only_refuses_writes_without_sending_them() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    std::fs::write(server.dir().join("src.txt"), b"source").unwrap();
    let c = connector(&server.url(), Access::ReadOnly);
    assert!(!c.capability().write);
    assert_eq!(
        c.write("x", 1, None, reader(b"x"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        c.write("src.txt", 1, None, reader(b"x"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        c.create_dir("d").await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        c.move_file("src.txt", "y").await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(read_all(&c, "src.txt").await, b"source");
    let names: Vec<_> = std::fs::read_dir(server.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["src.txt"]);
}

#[tokio::test]
async fn zero_byte_files_directories_and_replacing_work() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let c = connector(&server.url(), Access::ReadWrite);
    c.write("z/empty", 0, None, reader(b"")).await.unwrap();
    assert_eq!(read_all(&c, "z/empty").await, b"");
    c.create_dir("x/y/z").await.unwrap();
    c.create_dir("x/y/z").await.unwrap();
    assert!(server.dir().join("x/y/z").is_dir());
    c.write("z/f", 3, None, reader(b"old")).await.unwrap();
    c.write("z/f", 3, None, reader(b"new")).await.unwrap();
    assert_eq!(read_all(&c, "z/f").await, b"new");
    // A second connector (no folder cache) writes into existing folders too.
    let other = connector(&server.url(), Access::ReadWrite);
    other.write("x/y/z/g", 1, None, reader(b"g")).await.unwrap();
    assert_eq!(std::fs::read(server.dir().join("x/y/z/g")).unwrap(), b"g");
}

#[tokio::test]
async fn a_large_file_streams_both_ways() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let c = connector(&server.url(), Access::ReadWrite);
    let body: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let e = c
        .write("big.bin", body.len() as u64, None, reader(&body))
        .await
        .unwrap();
    assert_eq!(e.size, body.len() as u64);
    assert_eq!(read_all(&c, "big.bin").await, body);
}

#[tokio::test]
async fn short_or_long_bodies_fail_with_a_size_error() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let c = connector(&server.url(), Access::ReadWrite);
    for (path, size, len) in [
        ("s", 10, 5),
        ("l", 2, 5),
        ("bs", 2_000_000, 1_000_000),
        ("bl", 1_000_000, 2_000_000),
    ] {
        let e = c
            .write(path, size, None, reader(&vec![1u8; len]))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{path}: {e}");
        assert!(e.message().contains("bytes expected"), "{path}: {e}");
    }
}

#[tokio::test]
async fn rclone_1_60_keeps_no_mtime_so_the_capability_says_so() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let c = connector(&server.url(), Access::ReadWrite);
    assert!(!c.capability().set_mtime && !c.capability().atomic_write);
    let t = Utc.with_ymd_and_hms(2001, 9, 9, 1, 46, 40).unwrap();
    let e = c.write("m.txt", 1, Some(t), reader(b"m")).await.unwrap();
    assert_eq!(e.mtime, None, "not confirmed by the server, so not claimed");
    let s = c.stat("m.txt").await.unwrap().unwrap();
    assert_ne!(
        s.mtime,
        Some(t),
        "rclone 1.60 now honours X-OC-Mtime: declare set_mtime"
    );
}

#[tokio::test]
async fn move_file_puts_a_temporary_upload_in_place() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let c = connector(&server.url(), Access::ReadWrite);
    c.write("final.txt", 3, None, reader(b"old")).await.unwrap();
    c.write(".tmp-1", 3, None, reader(b"new")).await.unwrap();
    c.move_file(".tmp-1", "final.txt").await.unwrap();
    c.write(".tmp-2", 1, None, reader(b"n")).await.unwrap();
    c.move_file(".tmp-2", "deep/er/n #1.txt").await.unwrap();
    assert_eq!(read_all(&c, "final.txt").await, b"new");
    assert_eq!(read_all(&c, "deep/er/n #1.txt").await, b"n");
    let names: Vec<_> = list(&c, "").await.into_iter().map(|e| e.path).collect();
    assert_eq!(names, vec!["deep", "final.txt"]);
    // rclone answers a MOVE of a missing file with 403.
    assert!(!c.move_file("gone", "x").await.unwrap_err().is_temporary());
}

#[tokio::test]
async fn many_concurrent_writes_share_the_connection_pool() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let proxy = HttpFaultProxy::start(server.addr()).unwrap();
    let c = std::sync::Arc::new(connector(&proxy.url(), Access::ReadWrite));
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (c, limit) = (c.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let body = format!("file {i}");
            c.write(
                &format!("d{}/f{i}", i % 4),
                body.len() as u64,
                None,
                reader(body.as_bytes()),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let puts = proxy
        .request_log()
        .iter()
        .filter(|l| l.starts_with("PUT"))
        .count();
    let mkcols = proxy
        .request_log()
        .iter()
        .filter(|l| l.starts_with("MKCOL"))
        .count();
    assert_eq!(
        (puts, mkcols),
        (200, 4),
        "one PUT per file, one MKCOL per new folder"
    );
    assert_eq!(
        proxy.requests(),
        205,
        "no HEAD or PROPFIND per file: one PROPFIND checks the base folder once"
    );
    assert!(
        proxy.connections() <= 24,
        "{} connections for 200 files, 16 at a time",
        proxy.connections()
    );
    for i in 0..4 {
        assert_eq!(list(&*c, &format!("d{i}")).await.len(), 50);
    }
}

#[tokio::test]
async fn basic_auth_is_sent_and_a_wrong_password_is_a_permanent_auth_error() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::with_auth("alice", "s3cret").unwrap();
    let FileEndpoint::WebDav(cfg) =
        FileEndpoint::parse(&format!("webdav://alice@127.0.0.1:{}/", server.port())).unwrap()
    else {
        panic!()
    };
    let good = WebDavConnector::new(
        cfg.clone()
            .with_credentials(None, Secret::new("s3cret"))
            .unwrap(),
        Access::ReadWrite,
    )
    .unwrap();
    good.write("f", 1, None, reader(b"f")).await.unwrap();
    assert_eq!(list(&good, "").await.len(), 1);
    let bad = WebDavConnector::new(
        cfg.with_credentials(None, Secret::new("wrong")).unwrap(),
        Access::ReadOnly,
    )
    .unwrap();
    let e = bad.list("", None).await.unwrap_err();
    assert_eq!((e.kind(), e.is_temporary()), (ErrorKind::Auth, false));
    assert!(e.message().contains("check the user and password"), "{e}");
    assert!(!e.to_string().contains("wrong"), "{e}");
}

#[tokio::test]
async fn throttling_and_unavailability_are_temporary_with_the_retry_after_hint() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let proxy = HttpFaultProxy::start(server.addr()).unwrap();
    let c = connector(&proxy.url(), Access::ReadWrite);
    proxy.throttle_next(1);
    let e = c.list("", None).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.is_temporary(), e.retry_after()),
        (ErrorKind::Throttled, true, Some(Duration::from_secs(1)))
    );
    proxy.unavailable_next(1, 7);
    let e = c.write("f", 1, None, reader(b"f")).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.is_temporary(), e.retry_after()),
        (ErrorKind::Throttled, true, Some(Duration::from_secs(7)))
    );
    // The connection stays usable: the retry goes through.
    c.write("f", 1, None, reader(b"f")).await.unwrap();
}

#[tokio::test]
async fn dropped_connections_and_refused_connects_are_temporary_io() {
    let _shared = MEMORY.read().await;
    let server = WebDavServer::start().unwrap();
    let proxy = HttpFaultProxy::start(server.addr()).unwrap();
    let c = connector(&proxy.url(), Access::ReadWrite);
    proxy.drop_next(1);
    let e = c.stat("x").await.unwrap_err();
    assert_eq!((e.kind(), e.is_temporary()), (ErrorKind::Io, true), "{e}");
    std::fs::write(server.dir().join("cut.bin"), vec![9u8; 1_000_000]).unwrap();
    proxy.cut_next_responses(1, 5_000);
    let mut r = c.read("cut.bin").await.unwrap();
    let mut out = Vec::new();
    assert!(
        r.read_to_end(&mut out).await.is_err(),
        "a cut body is an error, not a short file"
    );
    let port = proxy.port();
    drop(proxy);
    let gone = connector(&format!("http://127.0.0.1:{port}/"), Access::ReadOnly);
    let e = gone.list("", None).await.unwrap_err();
    assert_eq!((e.kind(), e.is_temporary()), (ErrorKind::Io, true), "{e}");
}

struct Dav {
    server: WebDavServer,
}

#[async_trait::async_trait]
impl ferry_testkit::file_conformance::FileConformanceFactory for Dav {
    async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn FileConnector>> {
        Ok(Box::new(WebDavConnector::new(
            WebDavConfig::new(&self.server.url())?,
            access,
        )?))
    }

    fn excluded_name_chars(&self) -> Vec<(char, String)> {
        let why = "rclone 1.60 serve webdav lists control characters as U+2409-style pictures and cannot find \
                   them again once its directory cache expired (see tab_and_newline_names_reach_the_server_exactly)";
        vec![('\t', why.to_owned()), ('\n', why.to_owned())]
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webdav_connector_passes_the_file_conformance_suite() {
    let _alone = MEMORY.write().await; // measures the whole process: runs alone
    let server = WebDavServer::start().unwrap();
    ferry_testkit::file_conformance::run_file_conformance(&Dav { server }).await;
}
