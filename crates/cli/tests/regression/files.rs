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
