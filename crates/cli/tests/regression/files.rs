//! Issue 9, files: every source entry is accounted for, "changed on the target" is decided from what the
//! target reports, the target (not the journal) is the truth, and counters say the current state.

use crate::common::{code, ferry, json, text};
use ferry_testkit::s3::S3Server;
use ferry_testkit::webdav::WebDavServer;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn write(root: &Path, rel: &str, bytes: &[u8], mtime: SystemTime) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

fn an_hour_ago() -> SystemTime {
    SystemTime::now() - Duration::from_secs(3600)
}

fn migrate(data: &Path, src: &str, tgt: &str, env: &[(&str, &str)]) -> std::process::Output {
    ferry(data, &["files", "migrate", src, tgt, "--json"], env)
}

fn totals(out: &std::process::Output, key: &str) -> Option<u64> {
    json(out)["totals"][key].as_u64()
}

#[test]
fn a_file_changed_at_the_source_is_copied_again_to_webdav() {
    let server = WebDavServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    write(&src, "report.txt", b"first version", an_hour_ago());
    write(&src, "sub/notes.txt", b"notes", an_hour_ago());
    let url = format!("webdav://127.0.0.1:{}/", server.port());
    let first = migrate(&data, src.to_str().unwrap(), &url, &[]);
    assert_eq!(code(&first), 0, "{}", text(&first));
    write(
        &src,
        "report.txt",
        b"second, longer version",
        SystemTime::now(),
    );
    write(&src, "sub/notes.txt", b"NOTES", SystemTime::now());
    let again = migrate(&data, src.to_str().unwrap(), &url, &[]);
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert_eq!(totals(&again, "copied"), Some(2), "{}", text(&again));
    assert_eq!(totals(&again, "skipped"), Some(0), "{}", text(&again));
    assert_eq!(
        std::fs::read(server.dir().join("report.txt")).unwrap(),
        b"second, longer version"
    );
    assert_eq!(
        std::fs::read(server.dir().join("sub/notes.txt")).unwrap(),
        b"NOTES"
    );
}

#[test]
fn a_target_edit_that_keeps_size_and_mtime_is_not_overwritten_on_s3() {
    let server = S3Server::start().unwrap();
    server.create_bucket("edits").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    let then = an_hour_ago();
    write(&src, "budget.txt", b"total: 100", then);
    let url = format!(
        "s3://edits/dept?endpoint={}&region={}",
        server.endpoint(),
        server.region()
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", server.access_key()),
        ("AWS_SECRET_ACCESS_KEY", server.secret_key()),
    ];
    let first = migrate(&data, src.to_str().unwrap(), &url, &env);
    assert_eq!(code(&first), 0, "{}", text(&first));
    // Someone edits the copy on the target: same size, same mtime, other bytes (written the way a sync
    // tool that keeps mtimes would, through the same S3 API).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use ferry_core::mail::{Access, Secret};
        use ferry_files::config::FileEndpoint;
        let FileEndpoint::S3(cfg) = FileEndpoint::parse(&url).unwrap() else {
            panic!("not an S3 URL")
        };
        let ep = FileEndpoint::S3(cfg.with_keys(
            server.access_key().to_owned(),
            Secret::new(server.secret_key()),
        ));
        let s3 = ferry_files::open_files(&ep, Access::ReadWrite)
            .await
            .unwrap();
        let data: &[u8] = b"total: 999";
        s3.write(
            "budget.txt",
            data.len() as u64,
            Some(then.into()),
            Box::new(std::io::Cursor::new(data.to_vec())),
        )
        .await
        .unwrap();
    });
    // The source changes too: the target's edit must win, and be reported.
    write(&src, "budget.txt", b"total: 200", SystemTime::now());
    let again = migrate(&data, src.to_str().unwrap(), &url, &env);
    assert_eq!(code(&again), 1, "{}", text(&again));
    assert_eq!(totals(&again, "copied"), Some(0), "{}", text(&again));
    assert_eq!(totals(&again, "skipped"), Some(1), "{}", text(&again));
    assert_eq!(
        server
            .get_object("edits", "dept/budget.txt")
            .unwrap()
            .unwrap(),
        b"total: 999"
    );
}

#[test]
fn a_target_edit_that_keeps_size_and_mtime_is_not_overwritten_on_webdav_with_content_etags() {
    let server = WebDavServer::with_content_etags().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    let then = an_hour_ago();
    write(&src, "budget.txt", b"total: 100", then);
    let url = format!("webdav://127.0.0.1:{}/", server.port());
    let first = migrate(&data, src.to_str().unwrap(), &url, &[]);
    assert_eq!(code(&first), 0, "{}", text(&first));
    // Someone edits the copy on the target: same size, the very same mtime, other bytes.
    let stamp = std::fs::metadata(server.dir().join("budget.txt"))
        .unwrap()
        .modified()
        .unwrap();
    write(server.dir(), "budget.txt", b"total: 999", stamp);
    write(&src, "budget.txt", b"total: 200", SystemTime::now());
    let again = migrate(&data, src.to_str().unwrap(), &url, &[]);
    assert_eq!(code(&again), 1, "{}", text(&again));
    assert_eq!(totals(&again, "copied"), Some(0), "{}", text(&again));
    assert_eq!(totals(&again, "skipped"), Some(1), "{}", text(&again));
    assert_eq!(
        std::fs::read(server.dir().join("budget.txt")).unwrap(),
        b"total: 999"
    );
}

#[test]
fn a_missing_webdav_target_folder_is_created_with_its_parents() {
    let server = WebDavServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    write(&src, "a.txt", b"alpha", an_hour_ago());
    write(&src, "deep/b.txt", b"beta", an_hour_ago());
    let url = format!("webdav://127.0.0.1:{}/new/nested/place", server.port());
    let out = migrate(&data, src.to_str().unwrap(), &url, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(totals(&out, "copied"), Some(2), "{}", text(&out));
    let base = server.dir().join("new/nested/place");
    assert_eq!(std::fs::read(base.join("a.txt")).unwrap(), b"alpha");
    assert_eq!(std::fs::read(base.join("deep/b.txt")).unwrap(), b"beta");
}

#[test]
fn a_target_folder_that_is_gone_gets_everything_again() {
    let dir = tempfile::tempdir().unwrap();
    let (src, tgt, data) = (
        dir.path().join("src"),
        dir.path().join("tgt"),
        dir.path().join("data"),
    );
    write(&src, "a.txt", b"alpha", an_hour_ago());
    write(&src, "d/b.txt", b"beta", an_hour_ago());
    let first = migrate(&data, src.to_str().unwrap(), tgt.to_str().unwrap(), &[]);
    assert_eq!(totals(&first, "copied"), Some(2), "{}", text(&first));
    std::fs::remove_dir_all(&tgt).unwrap();
    let again = migrate(&data, src.to_str().unwrap(), tgt.to_str().unwrap(), &[]);
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert_eq!(totals(&again, "copied"), Some(2), "{}", text(&again));
    assert_eq!(std::fs::read(tgt.join("d/b.txt")).unwrap(), b"beta");
}

#[test]
fn a_rerun_exits_1_while_a_skip_still_stands() {
    let dir = tempfile::tempdir().unwrap();
    let (src, tgt, data) = (
        dir.path().join("src"),
        dir.path().join("tgt"),
        dir.path().join("data"),
    );
    write(&src, "a.txt", b"alpha", an_hour_ago());
    write(&src, "theirs.txt", b"source", an_hour_ago());
    // A file Ferry did not write is already on the target: never overwritten, so Skipped.
    write(&tgt, "theirs.txt", b"target's own", SystemTime::now());
    let first = migrate(&data, src.to_str().unwrap(), tgt.to_str().unwrap(), &[]);
    assert_eq!(code(&first), 1, "{}", text(&first));
    assert_eq!(totals(&first, "skipped"), Some(1), "{}", text(&first));
    let again = migrate(&data, src.to_str().unwrap(), tgt.to_str().unwrap(), &[]);
    assert_eq!(code(&again), 1, "{}", text(&again));
    assert_eq!(totals(&again, "skipped"), Some(1), "{}", text(&again));
    assert_eq!(totals(&again, "copied"), Some(0), "{}", text(&again));
}

/// A source tree with every kind of entry a share holds: names that are not UTF-8 (a file and a whole
/// folder), empty folders, a symbolic link, a FIFO and a socket.
fn awkward_tree(src: &Path) -> std::os::unix::net::UnixListener {
    use std::os::unix::ffi::OsStrExt;
    let latin1 = |b: &[u8]| std::ffi::OsStr::from_bytes(b).to_owned();
    write(src, "a.txt", b"alpha", an_hour_ago());
    std::fs::write(src.join(latin1(b"r\xe9sum\xe9.txt")), b"latin-1 name").unwrap();
    std::fs::create_dir_all(src.join(latin1(b"caf\xe9"))).unwrap();
    std::fs::write(src.join(latin1(b"caf\xe9")).join("menu.txt"), b"menu").unwrap();
    std::fs::create_dir_all(src.join("empty")).unwrap();
    std::fs::create_dir_all(src.join("x/y")).unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(src.join("pipe"))
        .status()
        .unwrap();
    assert!(fifo.success());
    std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap()
}

#[test]
fn every_source_entry_is_accounted_for_and_names_that_are_not_utf8_arrive_byte_for_byte() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let (src, tgt, data) = (
        dir.path().join("src"),
        dir.path().join("tgt"),
        dir.path().join("data"),
    );
    let _socket = awkward_tree(&src);
    let (s, t) = (src.to_str().unwrap(), tgt.to_str().unwrap());
    let first = migrate(&data, s, t, &[]);
    // Three files and two empty folders copied; the link, the FIFO and the socket skipped, with reasons.
    assert_eq!(code(&first), 1, "{}", text(&first));
    assert_eq!(totals(&first, "copied"), Some(5), "{}", text(&first));
    assert_eq!(totals(&first, "skipped"), Some(3), "{}", text(&first));
    assert_eq!(
        std::fs::read(tgt.join(std::ffi::OsStr::from_bytes(b"r\xe9sum\xe9.txt"))).unwrap(),
        b"latin-1 name"
    );
    assert_eq!(
        std::fs::read(
            tgt.join(std::ffi::OsStr::from_bytes(b"caf\xe9"))
                .join("menu.txt")
        )
        .unwrap(),
        b"menu"
    );
    assert!(tgt.join("empty").is_dir() && tgt.join("x/y").is_dir());
    for absent in ["link", "pipe", "sock"] {
        assert!(
            std::fs::symlink_metadata(tgt.join(absent)).is_err(),
            "{absent} was copied"
        );
    }
    // The report lists each skip with its reason.
    let report = ferry(&data, &["report", "--json"], &[]);
    let problems = json(&report)["files"][0]["problems"].clone();
    let reasons: Vec<(String, String)> = problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].0 == "link" && reasons[0].1.contains("symbolic link"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == "pipe" && reasons[1].1.contains("FIFO"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].0 == "sock" && reasons[2].1.contains("special file"),
        "{reasons:?}"
    );
    // A re-run copies nothing and still exits 1: the skips stand.
    let again = migrate(&data, s, t, &[]);
    assert_eq!(code(&again), 1, "{}", text(&again));
    assert_eq!(totals(&again, "copied"), Some(0), "{}", text(&again));
    assert_eq!(totals(&again, "skipped"), Some(3), "{}", text(&again));
    // Verify sees them too: every file the same, the three skipped.
    let v = ferry(&data, &["files", "verify", s, t, "--json"], &[]);
    assert_eq!(code(&v), 0, "{}", text(&v));
    let v = json(&v)[0].clone();
    assert_eq!(
        (
            v["files"].as_u64(),
            v["same"].as_u64(),
            v["skipped"].as_u64()
        ),
        (Some(6), Some(3), Some(3)),
        "{v}"
    );
    assert_ne!(v["grade"], "Perfect", "{v}");
}

#[test]
fn with_copy_links_a_local_source_s_links_are_followed_and_only_broken_or_looping_ones_are_skipped()
{
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let (src, tgt, data, outside) = (
        dir.path().join("src"),
        dir.path().join("tgt"),
        dir.path().join("data"),
        dir.path().join("outside"),
    );
    write(&src, "real/a.txt", b"alpha", an_hour_ago());
    write(&outside, "b.txt", b"beyond the root", an_hour_ago());
    symlink("real/a.txt", src.join("file-link")).unwrap();
    symlink(&outside, src.join("shared")).unwrap();
    symlink(".", src.join("loop")).unwrap();
    symlink("..", src.join("real/up")).unwrap();
    symlink("nowhere", src.join("broken")).unwrap();
    let (s, t) = (src.to_str().unwrap(), tgt.to_str().unwrap());
    let run = ferry(
        &data,
        &["files", "migrate", s, t, "--copy-links", "--json"],
        &[],
    );
    // Followed: the file link and the folder outside the root. Skipped: the two loops and the broken link.
    assert_eq!(code(&run), 1, "{}", text(&run));
    assert_eq!(totals(&run, "copied"), Some(3), "{}", text(&run));
    assert_eq!(totals(&run, "skipped"), Some(3), "{}", text(&run));
    assert_eq!(std::fs::read(tgt.join("file-link")).unwrap(), b"alpha");
    assert_eq!(
        std::fs::read(tgt.join("shared/b.txt")).unwrap(),
        b"beyond the root"
    );
    assert!(
        !std::fs::symlink_metadata(tgt.join("file-link"))
            .unwrap()
            .is_symlink()
    );
    for absent in ["loop", "real/up", "broken"] {
        assert!(
            std::fs::symlink_metadata(tgt.join(absent)).is_err(),
            "{absent} was copied"
        );
    }
    // Verify follows the same links; without --copy-links the links are links again (and skipped).
    let v = ferry(
        &data,
        &["files", "verify", s, t, "--copy-links", "--json"],
        &[],
    );
    let v = json(&v)[0].clone();
    assert_eq!(
        (v["same"].as_u64(), v["skipped"].as_u64()),
        (Some(3), Some(3)),
        "{v}"
    );
    let plain = ferry(&data, &["files", "assess", s, "--json"], &[]);
    assert_eq!(
        json(&plain)["inventory"]["skips"].as_u64(),
        Some(5),
        "{}",
        text(&plain)
    );
    // A remote source cannot follow links: said at once, nothing copied.
    let remote = ferry(
        &data,
        &[
            "files",
            "migrate",
            "webdav://127.0.0.1:1/x",
            t,
            "--copy-links",
        ],
        &[],
    );
    assert_eq!(code(&remote), 2, "{}", text(&remote));
    assert!(text(&remote).contains("--copy-links"), "{}", text(&remote));
}

#[test]
fn a_name_an_sftp_source_sends_that_is_not_utf8_is_a_reported_skip_not_a_loss() {
    use std::os::unix::ffi::OsStrExt;
    let server = ferry_testkit::sftp::SftpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (tgt, data) = (dir.path().join("tgt"), dir.path().join("data"));
    let src = server.root().join("share");
    write(&src, "plain.txt", b"plain", an_hour_ago());
    let odd = src.join(std::ffi::OsStr::from_bytes(b"r\xe9sum\xe9.txt"));
    std::fs::write(&odd, b"latin-1 name").unwrap();
    let odd_dir = src.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir(&odd_dir).unwrap();
    std::fs::write(odd_dir.join("menu.txt"), b"menu").unwrap();
    let url = format!(
        "sftp://{}@127.0.0.1:{}/{}",
        server.user(),
        server.port(),
        src.display()
    );
    let key = server.client_key_path().to_str().unwrap().to_owned();
    let kh = server.known_hosts_path().to_str().unwrap().to_owned();
    let args = [
        "files",
        "migrate",
        &url,
        tgt.to_str().unwrap(),
        "--source-key",
        &key,
        "--known-hosts",
        &kh,
        "--json",
    ];
    let run = ferry(&data, &args, &[]);
    // The plain file arrives; the two names that cannot be carried are skipped with a reason that says so.
    assert_eq!(code(&run), 1, "{}", text(&run));
    assert_eq!(totals(&run, "copied"), Some(1), "{}", text(&run));
    assert_eq!(totals(&run, "skipped"), Some(2), "{}", text(&run));
    assert_eq!(std::fs::read(tgt.join("plain.txt")).unwrap(), b"plain");
    let report = ferry(&data, &["report", "--json"], &[]);
    let problems = json(&report)["files"][0]["problems"].clone();
    let reasons = problems.as_array().unwrap();
    assert_eq!(reasons.len(), 2, "{problems}");
    for p in reasons {
        assert!(
            p["reason"].as_str().unwrap().contains("not UTF-8"),
            "{problems}"
        );
    }
    // Verify sees the same: one file the same, two skipped, and not a Perfect grade.
    let mut verify = args.to_vec();
    verify[1] = "verify";
    let v = ferry(&data, &verify, &[]);
    let v = json(&v)[0].clone();
    assert_eq!(
        (v["same"].as_u64(), v["skipped"].as_u64()),
        (Some(1), Some(2)),
        "{v}"
    );
    assert_ne!(v["grade"], "Perfect", "{v}");
    // Nothing at the source was touched.
    assert_eq!(std::fs::read(&odd).unwrap(), b"latin-1 name");
}

#[test]
fn names_that_are_not_utf8_reach_webdav_and_s3_by_the_documented_mapping() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    std::fs::create_dir_all(src.join(std::ffi::OsStr::from_bytes(b"caf\xe9"))).unwrap();
    std::fs::write(
        src.join(std::ffi::OsStr::from_bytes(b"caf\xe9/m\xe9nu.txt")),
        b"menu",
    )
    .unwrap();
    let s = src.to_str().unwrap();
    let dav = WebDavServer::start().unwrap();
    let url = format!("webdav://127.0.0.1:{}/", dav.port());
    let out = migrate(&data, s, &url, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(totals(&out, "copied"), Some(1), "{}", text(&out));
    let v = ferry(&data, &["files", "verify", s, &url, "--json"], &[]);
    assert_eq!(code(&v), 0, "{}", text(&v));
    let s3 = S3Server::start().unwrap();
    s3.create_bucket("names").unwrap();
    let s3url = format!(
        "s3://names?endpoint={}&region={}",
        s3.endpoint(),
        s3.region()
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", s3.access_key()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_key()),
    ];
    let out = migrate(&data, s, &s3url, &env);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // S3 keys are UTF-8: each byte that is not becomes the private-use character U+10FF00 + byte.
    let keys: Vec<String> = s3
        .objects("names")
        .unwrap()
        .into_iter()
        .map(|o| o.0)
        .collect();
    assert_eq!(keys, ["caf\u{10FFE9}/m\u{10FFE9}nu.txt"]);
    let v = ferry(&data, &["files", "verify", s, &s3url, "--json"], &env);
    assert_eq!(code(&v), 0, "{}", text(&v));
}

#[test]
fn target_rule_renames_show_in_the_report_and_verify_pairs_names_by_the_rules_the_mapping_used() {
    let dir = tempfile::tempdir().unwrap();
    let (src, tgt, data) = (
        dir.path().join("src"),
        dir.path().join("tgt"),
        dir.path().join("data"),
    );
    write(&src, "Q1: plan?.txt", b"plan", an_hour_ago());
    write(&src, "ok.txt", b"ok", an_hour_ago());
    let (s, t) = (src.to_str().unwrap(), tgt.to_str().unwrap());
    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            s,
            t,
            "--target-rules",
            "onedrive",
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(tgt.join("Q1： plan？.txt").is_file());
    let report = ferry(&data, &["report", "--json"], &[]);
    let renames = json(&report)["files"][0]["renames"].clone();
    assert_eq!(
        renames.as_array().map(Vec::len),
        Some(1),
        "{}",
        text(&report)
    );
    assert_eq!(renames[0]["path"], "Q1: plan?.txt", "{renames}");
    assert_eq!(renames[0]["target_path"], "Q1： plan？.txt", "{renames}");
    assert!(
        renames[0]["renamed"]
            .as_str()
            .is_some_and(|r| r.contains("forbidden_character")),
        "{renames}"
    );
    let table = ferry(&data, &["report"], &[]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("renamed \"Q1: plan?.txt\""),
        "{}",
        text(&table)
    );
    // Verify without --target-rules pairs names by the rules the migration used.
    let v = ferry(&data, &["files", "verify", s, t, "--json"], &[]);
    assert_eq!(code(&v), 0, "{}", text(&v));
    let v = json(&v)[0].clone();
    assert_eq!(
        (
            v["same"].as_u64(),
            v["missing"].as_u64(),
            v["extra"].as_u64()
        ),
        (Some(2), Some(0), Some(0)),
        "{v}"
    );
}

/// Item 5 is about a limit of the mail mover (`ferry mail migrate --max-size`); the rule — a skip is
/// re-decided on every pass under that pass's rules — is the files mover's too (see the tests above).
#[test]
fn raising_max_size_and_rerunning_copies_what_the_lower_limit_skipped() {
    use crate::common::Pair;
    use ferry_testkit::{DovecotOptions, SeedMessage, corpus};
    let pair = Pair::start(
        DovecotOptions::default(),
        DovecotOptions::default(),
        &["gina"],
    );
    pair.source
        .seed("gina", "INBOX", &corpus::seed_messages(61, 3, 2_000))
        .unwrap();
    pair.source
        .seed(
            "gina",
            "INBOX",
            &[SeedMessage::new(corpus::message_with_attachment(
                62, 0, 300_000,
            ))],
        )
        .unwrap();
    let low = pair.migrate("gina", &["--max-size", "100KB", "--json"]);
    assert_eq!(code(&low), 1, "{}", text(&low));
    let high = pair.migrate("gina", &["--max-size", "1MB", "--json"]);
    assert_eq!(code(&high), 0, "{}", text(&high));
    let report = ferry(pair.data.path(), &["report", "--format", "json"], &[]);
    let r = &json(&report)["mail"][0];
    assert_eq!(
        (r["copied"].as_u64(), r["skipped"].as_u64()),
        (Some(4), Some(0)),
        "{}",
        text(&report)
    );
    let v = pair.verify("gina", &["--json"]);
    assert_eq!(code(&v), 0, "{}", text(&v));
}
