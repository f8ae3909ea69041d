//! End to end: `ferry files migrate | verify` into OneDrive and SharePoint, against the Graph emulator
//! in `ferry_testkit::graph` (written from Microsoft's documentation), issue 11.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;
/// The drive's change feed between passes (edits on the target, an expired feed, its change limit).
#[path = "onedrive/feed.rs"]
mod feed;
/// `kill -9` during a big upload, and the re-run that resumes it.
#[path = "onedrive/resume.rs"]
mod resume;

use chrono::{DateTime, Utc};
use common::{code, ferry, json, text};
use ferry_testkit::graph::{GraphEmulator, GraphOptions, SnapshotEntry};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const UPN: &str = "alice@contoso.com";
/// Upload-session fragments of 320 KiB: files of 640 KiB and more take the crash-resumable path.
const CHUNK: u64 = 327_680;

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
}

fn big(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| ((i.wrapping_mul(31) + seed) % 251) as u8)
        .collect()
}

/// relative path → (bytes, mtime in whole seconds) of every file under `root`.
fn local_tree(root: &Path) -> BTreeMap<String, (Vec<u8>, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mtime: DateTime<Utc> =
                    std::fs::metadata(&p).unwrap().modified().unwrap().into();
                out.insert(
                    p.strip_prefix(root).unwrap().to_string_lossy().to_string(),
                    (std::fs::read(&p).unwrap(), mtime.timestamp()),
                );
            }
        }
    }
    out
}

/// The same view of a drive folder in the emulator.
fn drive_tree(emu: &GraphEmulator, drive: &str, under: &str) -> BTreeMap<String, (Vec<u8>, i64)> {
    emu.snapshot(drive)
        .into_iter()
        .filter(|(_, e): &(String, SnapshotEntry)| !e.is_folder)
        .filter_map(|(p, e)| {
            p.strip_prefix(&format!("{under}/"))
                .map(|r| (r.to_owned(), (e.bytes, e.fs_modified.timestamp())))
        })
        .collect()
}

fn target(emu: &GraphEmulator, path: &str) -> String {
    format!(
        "onedrive://{UPN}/{path}?graph={}&chunk={CHUNK}",
        emu.base_url()
    )
}

fn sample(src: &Path) {
    write(src, "a.txt", b"alpha");
    write(src, "with space/and #%& chars.txt", b"odd");
    write(src, "unicodé/日本語.txt", "ünï".as_bytes());
    write(src, "empty.bin", b"");
    write(src, "mid.bin", &big(500_000, 1));
    write(src, "big/blob.bin", &big(3_000_000, 2));
}

#[test]
fn local_to_onedrive_copies_everything_verifies_by_quickxorhash_and_a_rerun_costs_few_requests() {
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    sample(&src);
    let tok = emu.token();
    let env = [("FERRY_TARGET_TOKEN", tok.as_str())];
    let url = target(&emu, "Imported");
    let out = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url, "--json"],
        &env,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        drive_tree(&emu, &drive, "Imported"),
        local_tree(&src),
        "bytes and times"
    );
    let stats = emu.stats();
    assert_eq!(stats.upload_url_with_authorization, 0);
    assert_eq!(stats.undecorated_requests, 0);
    let agents = emu.user_agents();
    assert!(
        !agents.is_empty() && agents.iter().all(|ua| ua.starts_with("ISV|Ferry|Ferry/")),
        "{agents:?}"
    );
    assert!(stats.sessions_created >= 5, "{stats:?}");
    // Verification by QuickXorHash: the target is not downloaded.
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
        &env,
    );
    assert_eq!(code(&v), 0, "{}", text(&v));
    assert_eq!(json(&v)[0]["same"].as_u64(), Some(6), "{}", text(&v));
    assert_eq!(emu.stats().downloads, 0);
    // A no-op re-run: nothing copied, and no more requests than resolving the drive and one look
    // at the target root.
    let before = emu.stats().requests;
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
    let spent = emu.stats().requests - before;
    assert!(spent <= 4, "a no-op re-run sent {spent} requests");
    assert!(!text(&again).contains(&tok), "the token is never printed");
}

#[test]
fn forbidden_names_are_mapped_by_themselves_and_case_collisions_are_reported() {
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    write(&src, "Report.docx", b"upper");
    write(&src, "report.docx", b"lower");
    write(&src, "a:b?.txt", b"forbidden chars");
    let tok = emu.token();
    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            src.to_str().unwrap(),
            &target(&emu, "In"),
            "--json",
        ],
        &[("FERRY_TARGET_TOKEN", tok.as_str())],
    );
    assert_eq!(
        code(&out),
        1,
        "a skipped file makes exit code 1: {}",
        text(&out)
    );
    let j = json(&out);
    assert_eq!(j["totals"]["skipped"].as_u64(), Some(1), "{}", text(&out));
    assert_eq!(j["totals"]["copied"].as_u64(), Some(2), "{}", text(&out));
    let names: Vec<String> = emu.items(&drive).into_iter().map(|i| i.path).collect();
    assert!(names.contains(&"In/Report.docx".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains(':') || n.contains('?')),
        "{names:?}"
    );
    assert_eq!(emu.read_file(&drive, "In/Report.docx").unwrap(), b"upper");
    let report = ferry(&data, &["report", "--json"], &[]);
    let all = text(&report);
    assert!(all.contains("differs only by letter case"), "{all}");
}

#[test]
fn an_unprovisioned_onedrive_fails_with_the_fix_and_a_missing_token_says_what_to_give() {
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    emu.add_unprovisioned_user("bob@contoso.com");
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    write(&src, "a.txt", b"a");
    let tok = emu.token();
    let url = format!("onedrive://bob@contoso.com/x?graph={}", emu.base_url());
    let out = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url],
        &[("FERRY_TARGET_TOKEN", tok.as_str())],
    );
    assert_ne!(code(&out), 0);
    assert!(
        text(&out).contains("not provisioned yet")
            && text(&out).contains("Request-SPOPersonalSite"),
        "{}",
        text(&out)
    );
    let out = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("--target-oauth-token"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_spmt_mapping_row_resolves_the_sharepoint_site_library_and_folder() {
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let (site, _) = emu.add_site("contoso.sharepoint.com", "Marketing");
    let archive = emu.add_library(&site, "Archive").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    write(&src, "Finance/q1.xlsx", b"numbers");
    let csv = dir.path().join("map.csv");
    std::fs::write(
        &csv,
        format!(
            "{},Finance,,https://contoso.sharepoint.com/sites/Marketing,Archive,2024/Q1\n",
            src.display()
        ),
    )
    .unwrap();
    let tok = emu.token();
    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            "--mapping",
            csv.to_str().unwrap(),
            "--graph-url",
            &emu.base_url(),
            "--json",
        ],
        &[("FERRY_TARGET_TOKEN", tok.as_str())],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        emu.read_file(&archive, "2024/Q1/q1.xlsx").unwrap(),
        b"numbers"
    );
}

#[test]
fn an_app_signs_in_with_its_client_secret_and_a_wrong_secret_is_one_clear_error() {
    use ferry_testkit::identity::{App, Identity};
    let tenant = "11111111-2222-3333-4444-555555555555";
    let id = Identity::start().unwrap();
    id.add_tenant(tenant, &["contoso.onmicrosoft.com"]);
    id.add_app(
        tenant,
        App::new("ferry-app")
            .with_secret("s3cret-value")
            .with_role("Files.ReadWrite.All")
            .with_role("Sites.ReadWrite.All"),
    );
    let emu = GraphEmulator::start(GraphOptions::trusting(id.jwt_key(), tenant)).unwrap();
    let drive = emu.add_user(UPN);
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    write(&src, "a.txt", b"signed in");
    let authority = id.authority();
    let run = |secret: &str| {
        ferry(
            &data,
            &[
                "files",
                "migrate",
                src.to_str().unwrap(),
                &target(&emu, "App"),
                "--authority",
                &authority,
                "--target-tenant",
                tenant,
                "--target-client-id",
                "ferry-app",
            ],
            &[("FERRY_TARGET_CLIENT_SECRET", secret)],
        )
    };
    let out = run("s3cret-value");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(emu.read_file(&drive, "App/a.txt").unwrap(), b"signed in");
    assert!(id.tokens_issued("ferry-app") >= 1);
    let bad = run("wrong-value");
    assert_ne!(code(&bad), 0, "{}", text(&bad));
    assert!(!text(&bad).contains("wrong-value"), "{}", text(&bad));
    assert!(text(&bad).contains("target"), "{}", text(&bad));
}

#[test]
fn assess_against_a_onedrive_flags_a_tree_over_75_percent_of_the_storage_left() {
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    write(&src, "a.bin", &big(8_000, 1));
    let tok = emu.token();
    let env = [("FERRY_TARGET_TOKEN", tok.as_str())];
    let url = target(&emu, "x");
    emu.set_quota(&drive, 100_000);
    let ok = ferry(
        &data,
        &[
            "files",
            "assess",
            src.to_str().unwrap(),
            "--target",
            &url,
            "--json",
        ],
        &env,
    );
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    assert_eq!(
        json(&ok)["target"]["over_75_percent"].as_bool(),
        Some(false),
        "{}",
        text(&ok)
    );
    emu.set_quota(&drive, 10_000);
    let over = ferry(
        &data,
        &[
            "files",
            "assess",
            src.to_str().unwrap(),
            "--target",
            &url,
            "--json",
        ],
        &env,
    );
    assert_eq!(code(&over), 1, "{}", text(&over));
    let j = json(&over);
    assert_eq!(
        j["target"]["over_75_percent"].as_bool(),
        Some(true),
        "{}",
        text(&over)
    );
    assert!(j["target"]["detail"].as_str().unwrap().contains("75 %"));
    // Nothing was written by assessing.
    assert!(emu.items(&drive).is_empty());
}

#[test]
fn a_final_pass_copies_the_last_changes_then_seals_so_later_runs_copy_nothing() {
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    write(&src, "a.txt", b"first");
    let tok = emu.token();
    let env = [("FERRY_TARGET_TOKEN", tok.as_str())];
    let url = target(&emu, "Final");
    let run = |extra: &[&str]| {
        let mut args = vec!["files", "migrate", src.to_str().unwrap(), &url, "--json"];
        args.extend_from_slice(extra);
        ferry(&data, &args, &env)
    };
    let out = run(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        json(&out)["mappings"][0]["kind"],
        "initial",
        "{}",
        text(&out)
    );
    write(&src, "b.txt", b"last change");
    let out = run(&["--final"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let m = &json(&out)["mappings"][0];
    assert_eq!(
        (m["kind"].as_str(), m["counters"]["copied"].as_u64()),
        (Some("final"), Some(1)),
        "{m}"
    );
    assert_eq!(
        emu.read_file(&drive, "Final/b.txt").unwrap(),
        b"last change"
    );
    // Sealed: a later run copies nothing and says why.
    write(&src, "c.txt", b"too late");
    let out = run(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("sealed by a final pass"),
        "{}",
        text(&out)
    );
    assert!(emu.read_file(&drive, "Final/c.txt").is_none());
}

#[test]
fn files_keep_the_local_sources_creation_time_in_file_system_info() {
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    write(&src, "made.txt", b"born earlier");
    let p = src.join("made.txt");
    // An older mtime, so the two times differ.
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000))
        .unwrap();
    let meta = std::fs::metadata(&p).unwrap();
    // This machine's file systems report a birth time (statx); the test needs one.
    let born: DateTime<Utc> = meta.created().expect("a birth time from statx").into();
    let tok = emu.token();
    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            src.to_str().unwrap(),
            &target(&emu, "Born"),
        ],
        &[("FERRY_TARGET_TOKEN", tok.as_str())],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let e = &emu.snapshot(&drive)["Born/made.txt"];
    assert_eq!(e.fs_created.timestamp(), born.timestamp(), "creation time");
    assert_eq!(
        e.fs_modified.timestamp(),
        1_600_000_000,
        "modification time"
    );
}

#[test]
fn a_onedrive_to_onedrive_copy_keeps_the_sources_creation_time() {
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let to = emu.add_user(UPN);
    let from = emu.add_user("bob@contoso.com");
    let made = DateTime::from_timestamp(1_550_000_000, 0).unwrap();
    emu.seed_file(&from, "Old/plan.txt", b"from 2019", Some(made))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tok = emu.token();
    let source = format!("onedrive://bob@contoso.com/Old?graph={}", emu.base_url());
    let out = ferry(
        &dir.path().join("data"),
        &["files", "migrate", &source, &target(&emu, "Copied")],
        &[
            ("FERRY_SOURCE_TOKEN", tok.as_str()),
            ("FERRY_TARGET_TOKEN", tok.as_str()),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let e = &emu.snapshot(&to)["Copied/plan.txt"];
    assert_eq!((e.fs_created, e.fs_modified), (made, made), "{e:?}");
}
