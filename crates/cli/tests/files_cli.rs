//! End to end: the real `ferry files …` commands on real trees (issue 3).

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;

use common::{code, ferry, json, text};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// What differs between two trees, for readable failures: (only in a, only in b, different).
fn diff(a: &BTreeMap<String, (u64, u64, i64)>, b: &BTreeMap<String, (u64, u64, i64)>) -> String {
    let only_a: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    let changed: Vec<_> = a
        .iter()
        .filter_map(|(k, v)| b.get(k).filter(|w| *w != v).map(|w| (k, v, w)))
        .collect();
    format!("only in source: {only_a:?}\nonly in target: {only_b:?}\ndifferent: {changed:?}")
}

/// path → (size, sha-ish digest, mtime seconds), for every file under `root` (hidden files included).
fn tree(root: &Path) -> BTreeMap<String, (u64, u64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            // FNV-1a: enough to tell contents apart in a test.
            let digest = bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
            });
            let mtime = md
                .modified()
                .unwrap()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            out.insert(rel, (md.len(), digest, mtime));
        }
    }
    out
}

fn write(root: &Path, rel: &str, bytes: &[u8], age_days: u64) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    let t = SystemTime::now() - Duration::from_secs(age_days * 86_400 + 17);
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn awkward_tree(root: &Path) {
    write(root, "plain.txt", b"hello", 3);
    write(root, "with space/and #%& chars.txt", b"odd", 4);
    write(root, "unicodé/日本語/файл.txt", "ünïcödé".as_bytes(), 5);
    write(root, ".hidden/.dotfile", b"dot", 6);
    write(root, "tab\there.txt", b"tab", 7);
    write(root, "new\nline.txt", b"newline", 8);
    write(root, "empty.bin", b"", 9);
    let deep = (0..20)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/");
    write(root, &format!("{deep}/leaf.txt"), b"deep", 10);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    write(root, "big/blob.bin", &big, 11);
}

#[test]
fn files_migrate_copies_every_name_byte_and_mtime_and_never_touches_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("data"),
    );
    awkward_tree(&src);
    let before = tree(&src);
    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        json(&out)["totals"]["copied"].as_u64(),
        Some(before.len() as u64)
    );
    assert_eq!(tree(&src), before, "the source changed");
    assert_eq!(
        tree(&dst),
        before,
        "target differs (names, bytes or mtimes)"
    );
    let v = ferry(
        &data,
        &[
            "files",
            "verify",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--checksum",
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&v), 0, "{}", text(&v));
    assert_eq!(json(&v)[0]["same"].as_u64(), Some(before.len() as u64));
}

#[test]
fn delta_copies_new_and_changed_files_and_never_overwrites_a_file_changed_on_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("data"),
    );
    write(&src, "a.txt", b"a1", 5);
    write(&src, "c.txt", b"c1", 5);
    write(&src, "keep.txt", b"k", 5);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "files",
            "migrate",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        ferry(&data, &args, &[])
    };
    assert_eq!(code(&run(&[])), 0);
    let again = run(&[]);
    assert_eq!(
        json(&again)["totals"]["copied"].as_u64(),
        Some(0),
        "{}",
        text(&again)
    );

    write(&src, "a.txt", b"a2-changed", 1); // changed on the source
    write(&src, "b.txt", b"b-new", 1); // new on the source
    write(&dst, "c.txt", b"edited by a user on the target", 0); // changed on the target…
    write(&src, "c.txt", b"c2", 1); // …and on the source
    let delta = run(&[]);
    assert_eq!(code(&delta), 1, "a skipped file exits 1: {}", text(&delta));
    let j = json(&delta);
    assert_eq!(j["totals"]["copied"].as_u64(), Some(2));
    assert_eq!(j["totals"]["skipped"].as_u64(), Some(1));
    assert_eq!(std::fs::read(dst.join("a.txt")).unwrap(), b"a2-changed");
    assert_eq!(std::fs::read(dst.join("b.txt")).unwrap(), b"b-new");
    assert_eq!(
        std::fs::read(dst.join("c.txt")).unwrap(),
        b"edited by a user on the target",
        "overwrote a target edit"
    );
    let report = ferry(&data, &["report", "--format", "json"], &[]);
    let r = json(&report);
    let problems = r["files"][0]["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["path"] == "c.txt"
            && p["reason"]
                .as_str()
                .unwrap()
                .contains("changed on the target")),
        "{r}"
    );
    // Deleting on the source never deletes on the target.
    std::fs::remove_file(src.join("keep.txt")).unwrap();
    run(&[]);
    assert!(dst.join("keep.txt").exists());
}

#[test]
fn kill_9_at_random_moments_then_rerun_leaves_the_target_equal_to_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("data"),
    );
    for i in 0..1500 {
        write(
            &src,
            &format!("d{}/f{i}.txt", i % 37),
            format!("file {i} ").repeat(1 + i % 50).as_bytes(),
            2,
        );
    }
    let big: Vec<u8> = (0..8_000_000u32).map(|i| (i % 253) as u8).collect();
    for i in 0..4 {
        write(&src, &format!("big/b{i}.bin"), &big, 2);
    }
    let before = tree(&src);
    let mut rng = fastrand::Rng::with_seed(0xf11e);
    for _ in 0..4 {
        let args = [
            "files",
            "migrate",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--concurrency",
            "4",
        ];
        let mut child = common::ferry_command(&data, &args, &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100 + rng.u64(0..500)));
        child.kill().unwrap();
        let _ = child.wait();
    }
    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(tree(&src), before);
    let after = tree(&dst);
    assert!(
        after == before,
        "target differs, has partial files, or duplicates:\n{}",
        diff(&before, &after)
    );
}

#[test]
fn onedrive_rules_rename_forbidden_names_reversibly_and_skip_what_the_service_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("data"),
    );
    write(&src, "Budget: Q1?.xlsx", b"q1", 2);
    write(&src, "CON.txt", b"con", 2);
    write(&src, "ok.txt", b"ok", 2);
    let long = "x".repeat(200);
    write(&src, &format!("{long}/{long}.txt"), b"too long", 2);
    let assess = ferry(
        &data,
        &[
            "files",
            "assess",
            src.to_str().unwrap(),
            "--target-rules",
            "onedrive",
            "--format",
            "csv",
        ],
        &[],
    );
    assert_eq!(
        code(&assess),
        1,
        "a skip finding exits 1: {}",
        text(&assess)
    );
    let csv = String::from_utf8_lossy(&assess.stdout).to_string();
    assert!(csv.starts_with("path,action,detail\n"), "{csv}");
    assert!(csv.contains("CON.txt,rename,"), "{csv}");
    assert!(csv.contains(",skip,"), "{csv}");

    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--target-rules",
            "onedrive",
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    let j = json(&out);
    assert_eq!(
        (
            j["totals"]["copied"].as_u64(),
            j["totals"]["skipped"].as_u64()
        ),
        (Some(3), Some(1))
    );
    let names: Vec<String> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains(':') && !n.contains('?') && n != "CON.txt"),
        "{names:?}"
    );
    assert_eq!(names.len(), 3, "{names:?}");
    let v = ferry(
        &data,
        &[
            "files",
            "verify",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--target-rules",
            "onedrive",
            "--json",
        ],
        &[],
    );
    let vj = json(&v);
    assert_eq!(
        (
            vj[0]["same"].as_u64(),
            vj[0]["skipped"].as_u64(),
            vj[0]["missing"].as_u64()
        ),
        (Some(3), Some(1), Some(0)),
        "{}",
        text(&v)
    );
}

#[test]
fn an_spmt_mapping_csv_moves_each_subfolder_to_its_library_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("share"),
        dir.path().join("site"),
        dir.path().join("data"),
    );
    write(&src, "Finance/2024/report.txt", b"fin", 2);
    write(&src, "HR/people.txt", b"hr", 2);
    write(&src, "Other/ignored.txt", b"no", 2);
    let csv = dir.path().join("map.csv");
    std::fs::write(
        &csv,
        format!(
            "Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder\n{s},,Finance,{d},Documents,Finance\n{s},,HR,{d},HR Library,\n",
            s = src.display(),
            d = dst.display()
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
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        std::fs::read(dst.join("Documents/Finance/2024/report.txt")).unwrap(),
        b"fin"
    );
    assert_eq!(
        std::fs::read(dst.join("HR Library/people.txt")).unwrap(),
        b"hr"
    );
    assert!(!dst.join("Other").exists());
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{},,,\n", src.display())).unwrap();
    let out = ferry(
        &data,
        &["files", "migrate", "--mapping", bad.to_str().unwrap()],
        &[],
    );
    assert_eq!(code(&out), 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1: TargetWeb"),
        "{}",
        text(&out)
    );
}

#[test]
fn include_exclude_and_age_filters_select_files() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("data"),
    );
    write(&src, "docs/new.txt", b"n", 1);
    write(&src, "docs/old.txt", b"o", 400);
    write(&src, "docs/x.tmp", b"t", 1);
    write(&src, "src/code.rs", b"c", 1);
    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--include",
            "docs/*",
            "--exclude",
            "*.tmp",
            "--max-age",
            "30d",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let got: Vec<String> = tree(&dst).into_keys().collect();
    assert_eq!(got, ["docs/new.txt"]);
}

#[test]
fn a_dry_run_writes_nothing_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("data"),
    );
    write(&src, "a.txt", b"a", 1);
    let out = ferry(
        &data,
        &[
            "files",
            "migrate",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would copy 1 files"),
        "{}",
        text(&out)
    );
    assert!(!dst.exists() && !data.exists());
}

#[test]
fn a_missing_source_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferry(
        &dir.path().join("d"),
        &[
            "files",
            "migrate",
            "/nonexistent/ferry-src",
            dir.path().join("t").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nonexistent"),
        "{}",
        text(&out)
    );
}
