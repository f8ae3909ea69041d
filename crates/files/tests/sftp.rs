//! The SFTP connector against a real `sshd` (Debian's `openssh-server`, started per test by
//! `ferry_testkit::sftp`). The server's root is a local directory, so tests prepare and inspect it with
//! `std::fs` — independent of the connector under test.

use chrono::{DateTime, TimeZone, Utc};
use ferry_core::ErrorKind;
use ferry_core::file::{EntryKind, FileConnector, FileReader};
use ferry_core::mail::{Access, Secret};
use ferry_files::config::SftpConfig;
use ferry_files::sftp::SftpConnector;
use ferry_testkit::sftp::SftpServer;
use futures_util::StreamExt;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The conformance suite measures the whole process's memory while it streams a big file, so it runs
/// alone; the other tests of this binary share the lock and run in parallel with each other.
static MEMORY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn config(server: &SftpServer) -> SftpConfig {
    SftpConfig::new("127.0.0.1", server.port(), server.root().to_string_lossy())
        .with_key_file(Some(server.user()), server.client_key_path())
        .expect("user")
        .with_known_hosts(server.known_hosts_path())
}

async fn connect(server: &SftpServer, access: Access) -> SftpConnector {
    match SftpConnector::connect(config(server), access).await {
        Ok(c) => c,
        Err(e) => panic!("connect: {e}\nsshd log:\n{}", server.log()),
    }
}

fn start() -> SftpServer {
    SftpServer::start().expect("sshd starts (apt-get install openssh-server)")
}

fn reader(data: Vec<u8>) -> FileReader {
    Box::new(std::io::Cursor::new(data))
}

async fn read_all(c: &dyn FileConnector, path: &str) -> Vec<u8> {
    let mut r = c.read(path).await.expect("read");
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.expect("read body");
    out
}

fn mtime() -> DateTime<Utc> {
    Utc.timestamp_opt(1_600_000_000, 0).single().expect("valid")
}

fn local_mtime(p: &Path) -> i64 {
    let m = std::fs::metadata(p)
        .expect("metadata")
        .modified()
        .expect("mtime");
    m.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

/// Every path under `root` with its size and mtime (the source fingerprint of invariant 1).
fn fingerprint(root: &Path) -> Vec<(String, u64, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).expect("metadata");
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            let content = if md.is_file() {
                std::fs::read(&p).expect("read")
            } else {
                Vec::new()
            };
            out.push((rel, md.len(), local_mtime(&p), content));
            if md.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn write_then_read_round_trips_bytes_and_mtime() {
    let _shared = MEMORY.read().await;
    let server = start();
    let c = connect(&server, Access::ReadWrite).await;
    let cap = c.capability();
    assert!(cap.write && cap.set_mtime && cap.atomic_write && !cap.resumable_write);
    let data = pseudo_random(300_000, 1);
    let entry = c
        .write(
            "deep/er/a.bin",
            data.len() as u64,
            Some(mtime()),
            reader(data.clone()),
        )
        .await
        .expect("write");
    assert_eq!((entry.size, entry.mtime), (300_000, Some(mtime())));
    assert_eq!(read_all(&c, "deep/er/a.bin").await, data);
    let on_disk = server.root().join("deep/er/a.bin");
    assert_eq!(std::fs::read(&on_disk).expect("on disk"), data);
    assert_eq!(local_mtime(&on_disk), mtime().timestamp());
    let st = c
        .stat("deep/er/a.bin")
        .await
        .expect("stat")
        .expect("exists");
    assert_eq!(
        (st.kind, st.size, st.mtime),
        (EntryKind::File, 300_000, Some(mtime()))
    );
    assert_eq!(
        c.stat("deep").await.expect("stat").map(|e| e.kind),
        Some(EntryKind::Dir)
    );

    // Replacing an existing file leaves exactly the new content and no temporary file.
    c.write("deep/er/a.bin", 3, None, reader(b"new".to_vec()))
        .await
        .expect("overwrite");
    assert_eq!(std::fs::read(&on_disk).expect("on disk"), b"new");
    let names: Vec<_> = std::fs::read_dir(server.root().join("deep/er"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["a.bin".to_owned()]);
}

#[tokio::test]
async fn awkward_names_and_zero_byte_files_round_trip() {
    let _shared = MEMORY.read().await;
    let server = start();
    let c = connect(&server, Access::ReadWrite).await;
    let names = [
        "with space.txt",
        "ünïcödé 日本.txt",
        "#%&.txt",
        ".hidden",
        "tab\there",
        "new\nline",
        "trailing space ",
        "back\\slash",
        "...",
        "empty",
    ];
    for (i, name) in names.iter().enumerate() {
        let data = if *name == "empty" {
            Vec::new()
        } else {
            format!("content {i}").into_bytes()
        };
        c.write(
            &format!("odd dir/{name}"),
            data.len() as u64,
            Some(mtime()),
            reader(data),
        )
        .await
        .expect(name);
    }
    let page = c.list("odd dir", None).await.expect("list");
    assert!(page.next.is_none());
    let listed: BTreeSet<String> = page.entries.iter().map(|e| e.path.clone()).collect();
    let expected: BTreeSet<String> = names.iter().map(|n| format!("odd dir/{n}")).collect();
    assert_eq!(listed, expected);
    for (i, name) in names.iter().enumerate() {
        let want = if *name == "empty" {
            Vec::new()
        } else {
            format!("content {i}").into_bytes()
        };
        assert_eq!(
            read_all(&c, &format!("odd dir/{name}")).await,
            want,
            "{name:?}"
        );
        assert!(
            server.root().join("odd dir").join(name).is_file(),
            "{name:?} on disk"
        );
    }
    let empty = c
        .stat("odd dir/empty")
        .await
        .expect("stat")
        .expect("exists");
    assert_eq!((empty.size, empty.mtime), (0, Some(mtime())));
}

#[tokio::test]
async fn large_folders_list_whole_and_missing_things_are_not_found() {
    let _shared = MEMORY.read().await;
    let server = start();
    let dir = server.root().join("many");
    std::fs::create_dir(&dir).expect("mkdir");
    for i in 0..2500 {
        std::fs::write(dir.join(format!("f{i:05}")), b"x").expect("seed");
    }
    std::fs::create_dir(dir.join("sub")).expect("mkdir");
    std::os::unix::fs::symlink("/etc", dir.join("link")).expect("symlink");
    let c = connect(&server, Access::ReadOnly).await;
    let page = c.list("many", None).await.expect("list");
    assert!(page.next.is_none());
    assert_eq!(
        page.entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .count(),
        2500
    );
    assert!(
        page.entries
            .iter()
            .any(|e| e.path == "many/sub" && e.kind == EntryKind::Dir)
    );
    // A symlink is listed as what it is, so the engine accounts for it (a reported skip), and never
    // followed: it is neither a folder nor a file here.
    let link: Vec<_> = page
        .entries
        .iter()
        .filter(|e| e.path == "many/link")
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        link,
        [EntryKind::Symlink],
        "symlinks are listed, not followed"
    );
    assert_eq!(
        c.stat("many/link").await.expect("stat").map(|e| e.kind),
        Some(EntryKind::Symlink),
        "stat describes the link itself (lstat), never its target"
    );

    assert!(c.stat("nope").await.expect("stat").is_none());
    assert_eq!(
        c.read("nope").await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        c.list("nope", None).await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        c.list("../etc", None).await.err().map(|e| e.kind()),
        Some(ErrorKind::Rejected)
    );
    let root = c.list("", None).await.expect("root");
    assert_eq!(
        root.entries
            .iter()
            .map(|e| e.path.as_str())
            .collect::<Vec<_>>(),
        vec!["many"]
    );
}

#[tokio::test]
async fn create_dir_makes_parents_and_accepts_existing() {
    let _shared = MEMORY.read().await;
    let server = start();
    let c = connect(&server, Access::ReadWrite).await;
    c.create_dir("a/b c/d").await.expect("mkdir -p");
    c.create_dir("a/b c/d").await.expect("again");
    c.create_dir("a").await.expect("existing parent");
    assert!(server.root().join("a/b c/d").is_dir());
    assert!(
        c.list("a/b c/d", None)
            .await
            .expect("list")
            .entries
            .is_empty()
    );
    std::fs::write(server.root().join("file"), b"x").expect("seed");
    assert_eq!(
        c.create_dir("file").await.err().map(|e| e.kind()),
        Some(ErrorKind::Rejected)
    );
}

#[tokio::test]
async fn a_short_or_long_source_fails_and_leaves_nothing_visible() {
    let _shared = MEMORY.read().await;
    let server = start();
    let c = connect(&server, Access::ReadWrite).await;
    let err = c
        .write("d/short", 10, None, reader(b"12345".to_vec()))
        .await
        .expect_err("short");
    assert_eq!(err.kind(), ErrorKind::Io);
    let err = c
        .write("d/long", 3, None, reader(b"12345".to_vec()))
        .await
        .expect_err("long");
    assert_eq!(err.kind(), ErrorKind::Io);
    let left: Vec<_> = std::fs::read_dir(server.root().join("d"))
        .expect("dir")
        .collect();
    assert!(left.is_empty(), "no partial or temporary files: {left:?}");
}

#[tokio::test]
async fn many_tasks_share_one_connector() {
    let _shared = MEMORY.read().await;
    let server = start();
    let c = Arc::new(connect(&server, Access::ReadWrite).await);
    let results: Vec<_> = futures_util::stream::iter(0..64u64)
        .map(|i| {
            let c = c.clone();
            async move {
                let data = pseudo_random(10_000 + i as usize * 1000, i);
                let path = format!("par/{}/f{i}", i % 4);
                c.write(
                    &path,
                    data.len() as u64,
                    Some(mtime()),
                    reader(data.clone()),
                )
                .await?;
                let back = read_all(c.as_ref(), &path).await;
                Ok::<bool, ferry_core::Error>(back == data)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(|r| matches!(r, Ok(true))), "{results:?}");
}

#[tokio::test]
async fn big_files_stream_through_a_pipe() {
    let _shared = MEMORY.read().await;
    let server = start();
    let c = connect(&server, Access::ReadWrite).await;
    let size = 24 * 1024 * 1024 + 17;
    let data = pseudo_random(size, 9);
    let (mut tx, rx) = tokio::io::duplex(64 * 1024);
    let feed = data.clone();
    let feeder = tokio::spawn(async move { tx.write_all(&feed).await });
    c.write("big.bin", size as u64, Some(mtime()), Box::new(rx))
        .await
        .expect("write");
    feeder.await.expect("join").expect("feed");
    assert_eq!(
        std::fs::read(server.root().join("big.bin")).expect("on disk"),
        data
    );
    assert_eq!(read_all(&c, "big.bin").await, data);
}

#[tokio::test]
async fn read_only_refuses_writes_and_changes_nothing() {
    let _shared = MEMORY.read().await;
    let server = start();
    std::fs::create_dir(server.root().join("src")).expect("mkdir");
    std::fs::write(server.root().join("src/keep.txt"), b"source").expect("seed");
    let before = fingerprint(server.root());
    let c = connect(&server, Access::ReadOnly).await;
    assert!(!c.capability().write);
    assert_eq!(
        c.create_dir("x").await.err().map(|e| e.kind()),
        Some(ErrorKind::Unsupported)
    );
    let err = c
        .write("src/keep.txt", 1, None, reader(b"x".to_vec()))
        .await
        .expect_err("read-only");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let _ = c.list("src", None).await.expect("list");
    let _ = c.stat("src/keep.txt").await.expect("stat");
    assert_eq!(read_all(&c, "src/keep.txt").await, b"source");
    assert_eq!(fingerprint(server.root()), before);
}

#[tokio::test]
async fn wrong_credentials_and_unknown_host_keys_are_auth_errors() {
    let _shared = MEMORY.read().await;
    let server = start();
    // A key the server does not know.
    let other = server.temp_dir().join("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let cfg = config(&server).with_key_file(None, &other).expect("cfg");
    let err = SftpConnector::connect(cfg, Access::ReadOnly)
        .await
        .expect_err("wrong key");
    assert_eq!(
        (err.kind(), err.is_temporary()),
        (ErrorKind::Auth, false),
        "{err}"
    );

    // A password the server will not take (password auth is not offered at all).
    let mut cfg = config(&server);
    cfg.key_file = None;
    cfg.password = Some(Secret::new("not-the-password"));
    let err = SftpConnector::connect(cfg, Access::ReadOnly)
        .await
        .expect_err("wrong password");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.to_string().contains("not-the-password"));

    // An empty known_hosts: refused unless unknown keys are accepted.
    let empty = server.temp_dir().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("write");
    let cfg = config(&server).with_known_hosts(&empty);
    let err = SftpConnector::connect(cfg.clone(), Access::ReadOnly)
        .await
        .expect_err("unknown host");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("not in known_hosts"), "{err}");
    let c = SftpConnector::connect(cfg.accepting_unknown_host_key(true), Access::ReadOnly)
        .await
        .expect("accepted");
    assert!(c.list("", None).await.expect("list").entries.is_empty());

    // A different key recorded for this host: always refused.
    let wrong = server.temp_dir().join("wrong_known_hosts");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap_or_default();
    let other_pub =
        std::fs::read_to_string(format!("{}.pub", other.display())).unwrap_or(other_pub);
    let key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    std::fs::write(
        &wrong,
        format!("[127.0.0.1]:{} {}\n", server.port(), key.join(" ")),
    )
    .expect("write");
    let cfg = config(&server)
        .with_known_hosts(&wrong)
        .accepting_unknown_host_key(true);
    let err = SftpConnector::connect(cfg, Access::ReadOnly)
        .await
        .expect_err("changed host key");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
}

/// Processes whose parent is `pid` (sshd forks one per connection).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // Fields after the `(comm)`: state, ppid, ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

#[tokio::test]
async fn a_dropped_connection_is_a_temporary_error_and_the_next_call_reconnects() {
    let _shared = MEMORY.read().await;
    let server = start();
    std::fs::write(server.root().join("f"), b"x").expect("seed");
    let c = connect(&server, Access::ReadOnly).await;
    assert!(c.stat("f").await.expect("stat").is_some());
    // Kill the per-connection sshd processes (ours, by pid): the server drops the connection.
    let sessions = children_of(server.pid());
    assert!(!sessions.is_empty(), "sshd forked for our connection");
    for pid in &sessions {
        let _ = std::process::Command::new("kill")
            .arg("-9")
            .arg(pid.to_string())
            .status();
    }
    let mut errors = Vec::new();
    let mut ok = false;
    for _ in 0..5 {
        match c.stat("f").await {
            Ok(Some(_)) => {
                ok = true;
                break;
            }
            Ok(None) => panic!("file vanished"),
            Err(e) => {
                assert!(e.is_temporary(), "a dropped connection is temporary: {e}");
                errors.push(e.to_string());
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    assert!(ok, "reconnected after {errors:?}");
    let now = children_of(server.pid());
    assert!(
        now.iter().any(|p| !sessions.contains(p)),
        "a new SSH connection serves the call"
    );
}

struct Conformance {
    server: SftpServer,
}

#[async_trait::async_trait]
impl ferry_testkit::file_conformance::FileConformanceFactory for Conformance {
    async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn FileConnector>> {
        Ok(Box::new(
            SftpConnector::connect(config(&self.server), access).await?,
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sftp_connector_passes_the_file_conformance_suite() {
    let _alone = MEMORY.write().await; // measures the whole process: runs alone
    ferry_testkit::file_conformance::run_file_conformance(&Conformance { server: start() }).await;
}

#[tokio::test]
async fn a_read_write_listing_removes_temp_files_an_interrupted_run_left_but_a_read_only_one_does_not()
 {
    let _shared = MEMORY.read().await;
    let server = start();
    let leftover = server.root().join(".ferry-part-0123456789abcdef");
    std::fs::write(&leftover, b"half a file").unwrap();
    std::fs::write(server.root().join("keep.txt"), b"user data").unwrap();
    let ro = connect(&server, Access::ReadOnly).await;
    let page = ro.list("", None).await.unwrap();
    assert_eq!(page.entries.len(), 1, "temp files are never listed");
    assert!(leftover.exists(), "a read-only connector removed something");
    let rw = connect(&server, Access::ReadWrite).await;
    rw.list("", None).await.unwrap();
    assert!(!leftover.exists(), "the leftover temp file is still there");
    assert!(server.root().join("keep.txt").exists());
}
