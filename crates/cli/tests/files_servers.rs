//! End to end: `ferry files …` against real WebDAV (rclone serve webdav), SFTP (sshd) and S3 (moto)
//! servers that testkit starts on free loopback ports (issue 3).

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;

use common::{code, ferry, json, text};
use ferry_testkit::http_fault::HttpFaultProxy;
use ferry_testkit::s3::S3Server;
use ferry_testkit::sftp::SftpServer;
use ferry_testkit::webdav::WebDavServer;
use std::collections::BTreeMap;
use std::path::Path;

/// relative path → bytes, for every file under `root`.
fn contents(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_string_lossy().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn sample_tree(root: &Path) {
    let files: [(&str, Vec<u8>); 6] = [
        ("a.txt", b"alpha".to_vec()),
        ("with space/and #%& chars.txt", b"odd".to_vec()),
        ("unicodé/日本語.txt", "ünï".as_bytes().to_vec()),
        (".hidden/.dot", b"dot".to_vec()),
        ("empty.bin", Vec::new()),
        (
            "big/blob.bin",
            (0..20_000_000u32).map(|i| (i % 241) as u8).collect(),
        ),
    ];
    for (rel, bytes) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

#[test]
fn local_to_webdav_copies_everything_verifies_and_a_rerun_copies_nothing() {
    let server = WebDavServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    sample_tree(&src);
    let url = format!("webdav://127.0.0.1:{}/", server.port());
    let out = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url, "--json"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(contents(server.dir()), contents(&src));
    let v = ferry(
        &data,
        &[
            "files",
            "verify",
            src.to_str().unwrap(),
            &url,
            "--checksum",
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&v), 0, "{}", text(&v));
    let again = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url, "--json"],
        &[],
    );
    assert_eq!(
        json(&again)["totals"]["copied"].as_u64(),
        Some(0),
        "{}",
        text(&again)
    );
}

#[test]
fn webdav_429_and_503_with_retry_after_are_waited_out_and_nothing_is_lost() {
    let server = WebDavServer::start().unwrap();
    let proxy = HttpFaultProxy::start(server.addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    for i in 0..40 {
        let p = src.join(format!("d{}/f{i}.txt", i % 4));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("file {i}")).unwrap();
    }
    proxy.throttle_next(3);
    proxy.unavailable_next(2, 1);
    let url = format!("webdav://127.0.0.1:{}/", proxy.port());
    let out = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url, "--json"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        proxy.faulted() >= 5,
        "the proxy answered {} faults",
        proxy.faulted()
    );
    assert_eq!(contents(server.dir()), contents(&src));
}

#[test]
fn sftp_to_local_and_back_keeps_bytes_and_mtimes() {
    let server = SftpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, back, data) = (
        dir.path().join("src"),
        dir.path().join("back"),
        dir.path().join("data"),
    );
    sample_tree(&src);
    // `//` after the port: an absolute path on the server (see docs/files.md).
    let url = format!(
        "sftp://{}@127.0.0.1:{}/{}/up",
        server.user(),
        server.port(),
        server.root().display()
    );
    let key = server.client_key_path().to_str().unwrap().to_owned();
    let kh = server.known_hosts_path().to_str().unwrap().to_owned();
    let up = ferry(
        &data,
        &[
            "files",
            "migrate",
            src.to_str().unwrap(),
            &url,
            "--target-key",
            &key,
            "--known-hosts",
            &kh,
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&up), 0, "{}", text(&up));
    assert_eq!(contents(&server.root().join("up")), contents(&src));
    let down = ferry(
        &data,
        &[
            "files",
            "migrate",
            &url,
            back.to_str().unwrap(),
            "--source-key",
            &key,
            "--known-hosts",
            &kh,
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&down), 0, "{}", text(&down));
    assert_eq!(contents(&back), contents(&src));
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let secs =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(
        secs(mtime(&back.join("a.txt"))),
        secs(mtime(&src.join("a.txt"))),
        "mtime lost through SFTP"
    );
}

#[test]
fn local_to_s3_and_back_with_multipart_and_a_noop_rerun() {
    let server = S3Server::start().unwrap();
    server.create_bucket("ferry-test").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, back, data) = (
        dir.path().join("src"),
        dir.path().join("back"),
        dir.path().join("data"),
    );
    sample_tree(&src);
    let url = format!(
        "s3://ferry-test/migrated?endpoint={}&region={}",
        server.endpoint(),
        server.region()
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", server.access_key()),
        ("AWS_SECRET_ACCESS_KEY", server.secret_key()),
    ];
    let up = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url, "--json"],
        &env,
    );
    assert_eq!(code(&up), 0, "{}", text(&up));
    let objects = server.objects("ferry-test").unwrap();
    assert!(
        objects
            .iter()
            .any(|(k, s)| k == "migrated/big/blob.bin" && *s == 20_000_000),
        "{objects:?}"
    );
    assert!(
        server.multipart_uploads("ferry-test").unwrap().is_empty(),
        "an unfinished multipart upload was left"
    );
    let again = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url, "--json"],
        &env,
    );
    assert_eq!(
        json(&again)["totals"]["copied"].as_u64(),
        Some(0),
        "{}",
        text(&again)
    );
    let down = ferry(
        &data,
        &["files", "migrate", &url, back.to_str().unwrap(), "--json"],
        &env,
    );
    assert_eq!(code(&down), 0, "{}", text(&down));
    assert_eq!(contents(&back), contents(&src));
    let v = ferry(
        &data,
        &["files", "verify", src.to_str().unwrap(), &url, "--json"],
        &env,
    );
    assert_eq!(code(&v), 0, "{}", text(&v));
}

#[test]
fn a_per_server_cap_bounds_connections_over_all_mappings() {
    let server = WebDavServer::start().unwrap();
    let proxy = HttpFaultProxy::start(server.addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    for part in ["one", "two"] {
        for i in 0..60 {
            let p = src.join(part).join(format!("f{i}.txt"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, format!("{part} {i}").repeat(500)).unwrap();
        }
    }
    let url = format!("webdav://127.0.0.1:{}/", proxy.port());
    let csv = dir.path().join("map.csv");
    std::fs::write(
        &csv,
        format!(
            "{s},,one,{url},one,\n{s},,two,{url},two,\n",
            s = src.display()
        ),
    )
    .unwrap();
    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            "--mapping",
            csv.to_str().unwrap(),
            "--concurrency",
            "8",
            "--max-connections",
            "2",
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json(&out)["totals"]["copied"].as_u64(), Some(120));
    // Two copies at a time over both mappings, plus one listing connection per mapping.
    assert!(
        proxy.connections() <= 6,
        "{} connections to one server with --max-connections 2",
        proxy.connections()
    );
}

#[test]
fn a_name_the_server_lists_differently_is_not_written_again_on_a_rerun() {
    // rclone serve webdav stores a TAB in a name but lists it as ␉: Ferry must find its own copy by its
    // exact path instead of writing it again on every pass.
    let server = WebDavServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("tab\there.txt"), b"tab").unwrap();
    std::fs::write(src.join("plain.txt"), b"plain").unwrap();
    let url = format!("webdav://127.0.0.1:{}/", server.port());
    let first = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url, "--json"],
        &[],
    );
    assert_eq!(
        json(&first)["totals"]["copied"].as_u64(),
        Some(2),
        "{}",
        text(&first)
    );
    assert_eq!(
        std::fs::read(server.dir().join("tab\there.txt")).unwrap(),
        b"tab"
    );
    let again = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url, "--json"],
        &[],
    );
    assert_eq!(
        json(&again)["totals"]["copied"].as_u64(),
        Some(0),
        "{}",
        text(&again)
    );
}
