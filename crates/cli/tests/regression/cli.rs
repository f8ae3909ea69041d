//! Issue 9, the CLI's items: where the store lives (7), counters and exit codes that say the current state
//! (15), errors that name the side and the fix (16), reports that identify messages (17), and unattended
//! runs that show progress (18). Everything through the real `ferry` binary against real servers.

use crate::common::*;
use ferry_testkit::webdav::WebDavServer;
use ferry_testkit::{DovecotOptions, SeedMessage, corpus};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `ferry ARGS` without `--data`, as a user types it: the working directory, HOME and XDG_DATA_HOME are
/// the test's, the passwords those of [`PASSWORD`].
fn ferry_as_user(cwd: &Path, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.current_dir(cwd)
        .args(args)
        .stdin(Stdio::null())
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("FERRY_DATA")
        .env_remove("RUST_LOG")
        .env("FERRY_SOURCE_PASSWORD", PASSWORD)
        .env("FERRY_TARGET_PASSWORD", PASSWORD);
    cmd.output().expect("run ferry")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn plain(pair: &Pair) -> (String, String) {
    (
        format!("{}?starttls=never", pair.source.url()),
        format!("{}?starttls=never", pair.target.url()),
    )
}

/// A message with the given From and Subject (raw header values), about `size` bytes.
fn message_from(from: &str, subject: &str, size: usize) -> Vec<u8> {
    let mut m = format!(
        "Message-ID: <find-me@example.test>\r\nDate: Wed, 17 Jul 1996 02:44:25 -0700\r\nFrom: {from}\r\n\
         To: someone@example.test\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    while m.len() < size {
        m.push_str("the quick brown fox jumps over the lazy dog, again and again.\r\n");
    }
    m.into_bytes()
}

#[test]
fn the_default_store_is_per_user_so_a_rerun_from_another_directory_copies_nothing_again() {
    let pair = Pair::start(
        DovecotOptions::default(),
        DovecotOptions::default(),
        &["amy"],
    );
    pair.source
        .seed("amy", "INBOX", &corpus::seed_messages(71, 4, 2_000))
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let (home, here, there) = (
        root.path().join("home"),
        root.path().join("here"),
        root.path().join("there"),
    );
    for d in [&home, &here, &there] {
        std::fs::create_dir_all(d).unwrap();
    }
    let (src, tgt) = plain(&pair);
    let args = [
        "mail",
        "migrate",
        "--source",
        &src,
        "--target",
        &tgt,
        "--source-user",
        "amy",
        "--target-user",
        "amy",
        "--json",
    ];
    let first = ferry_as_user(&here, &home, &args);
    assert_eq!(code(&first), 0, "{}", text(&first));
    let store = home.join(".local/share/ferry/ferry.db");
    assert!(store.exists(), "the store is per user: {}", text(&first));
    assert!(
        stderr(&first).contains(&store.display().to_string()),
        "the run says where its store is: {}",
        text(&first)
    );
    assert!(!here.join("ferry-data").exists());

    // From another directory the same journal is found: nothing is copied a second time.
    let again = ferry_as_user(&there, &home, &args);
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert_eq!(
        json(&again)["totals"]["copied"].as_u64(),
        Some(0),
        "{}",
        text(&again)
    );
    assert_eq!(pair.target.snapshot("amy").unwrap().message_count(), 4);
    let report = ferry_as_user(&there, &home, &["report", "--json"]);
    assert_eq!(
        json(&report)["mail"][0]["copied"].as_u64(),
        Some(4),
        "{}",
        text(&report)
    );
}

#[test]
fn a_rerun_exits_1_while_an_oversize_message_is_still_skipped() {
    let pair = Pair::start(
        DovecotOptions::default(),
        DovecotOptions::default(),
        &["bob"],
    );
    pair.source
        .seed("bob", "INBOX", &corpus::seed_messages(72, 3, 2_000))
        .unwrap();
    pair.source
        .seed(
            "bob",
            "INBOX",
            &[SeedMessage::new(corpus::message_with_attachment(
                72, 9, 60_000,
            ))],
        )
        .unwrap();
    let first = pair.migrate("bob", &["--max-size", "20KB"]);
    assert_eq!(code(&first), 1, "{}", text(&first));
    let again = pair.migrate("bob", &["--max-size", "20KB"]);
    assert_eq!(
        code(&again),
        1,
        "the skip still stands, so the re-run says so too: {}",
        text(&again)
    );
    assert!(
        stdout(&again).contains("1 skipped"),
        "the re-run tells what is still outstanding: {}",
        text(&again)
    );
    let report = ferry(pair.data.path(), &["report", "--json"], &[]);
    assert_eq!(code(&report), 1, "{}", text(&report));
    let m = &json(&report)["mail"][0];
    assert_eq!(
        (
            m["copied"].as_u64(),
            m["skipped"].as_u64(),
            m["failed"].as_u64()
        ),
        (Some(3), Some(1), Some(0)),
        "{}",
        text(&report)
    );
}

#[test]
fn report_names_skipped_messages_by_folder_date_sender_and_subject_in_every_format() {
    let pair = Pair::start(
        DovecotOptions::default(),
        DovecotOptions::default(),
        &["cat"],
    );
    let long_tail = "and more words ".repeat(20);
    let subject = format!("Quarterly\u{7} figures \u{1b}[31mred\u{1b}[0m {long_tail}");
    let big = SeedMessage::new(message_from(
        "Big Sender <big@example.test>",
        &subject,
        40_000,
    ))
    .with_internal_date("17-Jul-1996 02:44:25 -0700");
    pair.source.seed("cat", "Archive", &[big]).unwrap();
    let out = pair.migrate("cat", &["--max-size", "20KB"]);
    assert_eq!(code(&out), 1, "{}", text(&out));

    let table = ferry(pair.data.path(), &["report"], &[]);
    let t = stdout(&table);
    let line = t
        .lines()
        .find(|l| l.contains("skipped Archive"))
        .unwrap_or_else(|| panic!("no skipped line: {}", text(&table)));
    for want in [
        "1996-07-17",
        "big@example.test",
        "Quarterly figures [31mred[0m",
    ] {
        assert!(line.contains(want), "{want:?} missing in {line:?}");
    }
    assert!(
        !t.contains('\u{1b}') && !t.contains('\u{7}'),
        "control characters removed: {t:?}"
    );
    assert!(line.contains('…'), "long subjects are cut: {line:?}");

    let j = ferry(pair.data.path(), &["report", "--format", "json"], &[]);
    let p = &json(&j)["mail"][0]["problems"][0];
    assert_eq!(p["folder"].as_str(), Some("Archive"));
    assert!(
        p["date"].as_str().unwrap_or("").starts_with("1996-07-17"),
        "{p}"
    );
    assert_eq!(p["sender"].as_str(), Some("Big Sender <big@example.test>"));
    let subj = p["subject"].as_str().unwrap_or("");
    assert!(
        subj.starts_with("Quarterly figures") && subj.chars().count() <= 120,
        "{subj:?}"
    );

    let csv = ferry(pair.data.path(), &["report", "--format", "csv"], &[]);
    let c = stdout(&csv);
    assert!(
        c.lines().any(|l| l.contains("Archive")
            && l.contains("skipped")
            && l.contains("big@example.test")
            && l.contains("Quarterly figures")
            && l.contains("1996-07-17")),
        "{c}"
    );
}

#[test]
fn a_wrong_password_names_the_side_that_refused_it() {
    let pair = Pair::start(
        DovecotOptions::default(),
        DovecotOptions::default(),
        &["dan"],
    );
    let out = pair
        .command("migrate", "dan", &[])
        .env("FERRY_TARGET_PASSWORD", "not-the-password")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("target") && err.contains("login"), "{err}");
    assert!(!err.contains("source"), "only the target refused: {err}");
    assert!(!err.contains("not-the-password"), "{err}");
    // Dry run checks the logins too, with the exit code of a real run.
    let dry = pair
        .command("migrate", "dan", &["--dry-run"])
        .env("FERRY_TARGET_PASSWORD", "not-the-password")
        .output()
        .unwrap();
    assert_eq!(code(&dry), 2, "{}", text(&dry));
    assert!(stderr(&dry).contains("target"), "{}", text(&dry));
}

#[test]
fn imaps_on_a_plain_port_suggests_imap() {
    let pair = Pair::start(
        DovecotOptions::default(),
        DovecotOptions::default(),
        &["eve"],
    );
    let src = format!("imaps://127.0.0.1:{}", pair.source.port());
    let (_, tgt) = plain(&pair);
    let out = pair
        .command_at(pair.data.path(), &src, &tgt, "migrate", "eve", &[])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("source"), "{err}");
    assert!(err.contains("imap://"), "suggests the plain scheme: {err}");
    assert!(
        !err.contains("tls_verify"),
        "a certificate is not the problem: {err}"
    );
}

#[test]
fn a_webdav_401_without_a_password_says_no_target_password_was_given() {
    let server = WebDavServer::with_auth("webby", "pw-webdav-1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("src"), dir.path().join("data"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"alpha").unwrap();
    let url = format!("webdav://127.0.0.1:{}/", server.port());
    let out = ferry(
        &data,
        &["files", "migrate", src.to_str().unwrap(), &url],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("target"), "{all}");
    assert!(
        all.contains("no password was given") && all.contains("--target-password"),
        "{all}"
    );
}

#[test]
fn dry_run_counts_only_what_the_journal_has_not_copied_and_exits_like_a_real_run() {
    let pair = Pair::start(
        DovecotOptions::default(),
        DovecotOptions::default(),
        &["fay"],
    );
    pair.source
        .seed("fay", "INBOX", &corpus::seed_messages(73, 5, 2_000))
        .unwrap();
    assert_eq!(code(&pair.migrate("fay", &[])), 0);
    pair.source
        .seed("fay", "INBOX", &corpus::seed_messages(74, 2, 2_000))
        .unwrap();
    let dry = pair
        .command("migrate", "fay", &["--dry-run", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&dry), 0, "{}", text(&dry));
    let inbox = &json(&dry)[0]["folders"][0];
    assert_eq!(inbox["messages"].as_u64(), Some(7), "{inbox}");
    assert_eq!(inbox["copied_before"].as_u64(), Some(5), "{inbox}");
    assert_eq!(inbox["to_copy"].as_u64(), Some(2), "{inbox}");
    // A message over the limit would be skipped by the real run: exit 1, as the real run's.
    pair.source
        .seed(
            "fay",
            "INBOX",
            &[SeedMessage::new(corpus::message_with_attachment(
                74, 9, 60_000,
            ))],
        )
        .unwrap();
    let dry = pair
        .command("migrate", "fay", &["--dry-run", "--max-size", "20KB"])
        .output()
        .unwrap();
    assert_eq!(code(&dry), 1, "{}", text(&dry));
    // Nothing was written: a real run still has the two new ones to copy.
    let real = pair.migrate("fay", &["--json"]);
    assert_eq!(
        json(&real)["totals"]["copied"].as_u64(),
        Some(3),
        "{}",
        text(&real)
    );
}

#[test]
fn an_unattended_run_logs_each_mailbox_start_and_end_to_stderr_and_the_log_file() {
    let pair = Pair::start(
        DovecotOptions::default(),
        DovecotOptions::default(),
        &["gus"],
    );
    pair.source
        .seed("gus", "INBOX", &corpus::seed_messages(75, 3, 2_000))
        .unwrap();
    let log = pair.data.path().join("run.log");
    let out = pair.migrate("gus", &["--log-file", log.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("mailbox gus: started"), "{err}");
    assert!(
        err.contains("mailbox gus: done (initial pass): 3 new, 3 copied"),
        "{err}"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains("mailbox gus: started") && logged.contains("mailbox gus: done"),
        "{logged}"
    );
}

#[test]
fn report_into_a_closed_pipe_exits_quietly() {
    let pair = Pair::start(
        DovecotOptions::default(),
        DovecotOptions::default(),
        &["hal"],
    );
    pair.source
        .seed("hal", "INBOX", &corpus::seed_messages(76, 2, 2_000))
        .unwrap();
    assert_eq!(code(&pair.migrate("hal", &[])), 0);
    for format in ["table", "csv", "json"] {
        // The reader is gone before ferry writes its first byte, as with `ferry report | head -0`.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = ferry_command(pair.data.path(), &["report", "--format", format], &[])
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{format}: {err}");
        assert_eq!(code(&out), 0, "{format}: {err}");
    }
}
