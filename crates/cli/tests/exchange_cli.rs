//! `ferry mail migrate --target exo://…` end to end against the Exchange Online emulator
//! (`ferry_testkit::exchange`): one test per behaviour of the emulator the connector must handle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{PASSWORD, code, content, ferry, ferry_command, json, text, total};
use ferry_testkit::corpus;
use ferry_testkit::exchange::{ExchangeOptions, ExchangeShim, Throttle, token};
use ferry_testkit::imap::SeedMessage;
use ferry_testkit::{Dovecot, DovecotOptions};
use std::process::Output;
use std::time::Duration;

const APP: &str = "0a1b2c3d-0000-4000-8000-00000000f00d";
const USER: &str = "alice";
const MAILBOX: &str = "alice@contoso.com";

struct World {
    source: Dovecot,
    shim: ExchangeShim,
    data: tempfile::TempDir,
}

impl World {
    fn start(opts: ExchangeOptions) -> World {
        let source = Dovecot::start(DovecotOptions::default()).unwrap();
        source.add_user(USER, PASSWORD).unwrap();
        let shim = ExchangeShim::start(opts).unwrap();
        shim.add_mailbox(MAILBOX).unwrap();
        World {
            source,
            shim,
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn migrate_with(&self, token: &str, extra: &[&str]) -> Output {
        let src = format!("{}?starttls=never", self.source.url());
        let tgt = self.shim.url();
        let mut args = vec![
            "mail",
            "migrate",
            "--source",
            &src,
            "--target",
            &tgt,
            "--source-user",
            USER,
            "--target-user",
            MAILBOX,
        ];
        args.extend_from_slice(extra);
        ferry_command(
            self.data.path(),
            &args,
            &[
                ("FERRY_SOURCE_PASSWORD", PASSWORD),
                ("FERRY_TARGET_TOKEN", token),
            ],
        )
        .output()
        .unwrap()
    }

    fn migrate(&self, extra: &[&str]) -> Output {
        self.shim.allow_app(APP, &[MAILBOX]);
        self.migrate_with(&self.shim.app_token(APP, 3600), extra)
    }

    fn report(&self) -> serde_json::Value {
        json(&ferry(
            self.data.path(),
            &["report", "--format", "json"],
            &[],
        ))["mail"][0]
            .clone()
    }
}

#[test]
fn migrate_into_exchange_maps_well_known_folders_renames_reserved_ones_and_reruns_copy_nothing() {
    let w = World::start(ExchangeOptions::default());
    for (i, folder) in [
        "INBOX",
        "Sent",
        "Trash",
        "Junk",
        "Drafts",
        "Archive",
        "Files",
        "Projects/2024",
    ]
    .iter()
    .enumerate()
    {
        w.source
            .seed(
                USER,
                folder,
                &corpus::seed_messages(70 + i as u64, 6, 3_000),
            )
            .unwrap();
    }
    let before = w.source.snapshot(USER).unwrap();
    let out = w.migrate(&["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        w.source.snapshot(USER).unwrap(),
        before,
        "the source changed"
    );
    let target = w.shim.dovecot().snapshot(MAILBOX).unwrap();
    let count = |f: &str| target.folder(f).map_or(0, |f| f.messages.len());
    for (src, tgt) in [
        ("Sent", "Sent Items"),
        ("Trash", "Deleted Items"),
        ("Junk", "Junk Email"),
        ("Drafts", "Drafts"),
        ("Archive", "Archive"),
        ("Files", "Files (renamed)"),
        ("Projects/2024", "Projects/2024"),
        ("INBOX", "INBOX"),
    ] {
        assert_eq!(count(tgt), 6, "{src} → {tgt}: {:?}", target.folder_names());
    }
    assert_eq!(count("Sent"), 0, "no second Sent folder beside Sent Items");
    assert_eq!(total(&content(&target)), before.message_count());
    // Counted, not timed: one XOAUTH2 login per connection, not per folder; APPENDs pipelined, so the
    // client's pipeline runs dry far less often than once per message.
    let stats = w.shim.stats(MAILBOX);
    eprintln!("exchange emulator counters: {stats:?}");
    assert_eq!(stats.appended, 48, "{stats:?}");
    assert!(stats.logins < 8, "a login per folder: {stats:?}");
    assert!(
        stats.append_pauses < stats.appended,
        "stop-and-wait APPENDs: {stats:?}"
    );
    // A flag changed on the source reaches Exchange without CONDSTORE; nothing is copied twice.
    let mut c = w.source.connect(USER).unwrap();
    c.select("INBOX").unwrap();
    c.run("UID STORE 1 +FLAGS (\\Flagged)").unwrap();
    let again = w.migrate(&["--json"]);
    assert_eq!(code(&again), 0, "{}", text(&again));
    let target = w.shim.dovecot().snapshot(MAILBOX).unwrap();
    assert_eq!(
        total(&content(&target)),
        before.message_count(),
        "duplicates"
    );
    let flagged = target
        .folder("INBOX")
        .unwrap()
        .messages
        .iter()
        .filter(|m| m.flags.iter().any(|f| f == "\\Flagged"))
        .count();
    let src_flagged = w
        .source
        .snapshot(USER)
        .unwrap()
        .folder("INBOX")
        .unwrap()
        .messages
        .iter()
        .filter(|m| m.flags.iter().any(|f| f == "\\Flagged"))
        .count();
    assert_eq!(flagged, src_flagged, "the flag change was not applied");
}

#[test]
fn a_token_exchange_refuses_is_an_auth_error_naming_scope_and_permission_without_the_token() {
    let w = World::start(ExchangeOptions::default());
    w.source
        .seed(USER, "INBOX", &corpus::seed_messages(1, 2, 1_000))
        .unwrap();
    w.shim.allow_app(APP, &[MAILBOX]);
    let now = chrono::Utc::now().timestamp();
    let mut claims = token::app_claims(APP, "tid", now, 3600);
    claims["aud"] = "https://graph.microsoft.com".into();
    let graph_token = token::mint(&w.shim.options().jwt_key, &claims);
    let out = w.migrate_with(&graph_token, &[]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("target"), "{t}");
    assert!(t.contains("https://outlook.office365.com/.default"), "{t}");
    assert!(t.contains("IMAP.AccessAsApp"), "{t}");
    assert!(!t.contains(&graph_token), "the token was printed");
}

#[test]
fn without_service_principal_or_full_access_the_error_says_which_setup_step_is_missing() {
    let w = World::start(ExchangeOptions::default());
    w.source
        .seed(USER, "INBOX", &corpus::seed_messages(2, 2, 1_000))
        .unwrap();
    // A valid token, but the app was never given FullAccess on the mailbox.
    w.shim.register_service_principal(APP);
    let out = w.migrate_with(&w.shim.app_token(APP, 3600), &[]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let t = text(&out);
    for hint in [
        "New-ServicePrincipal",
        "Add-MailboxPermission",
        "FullAccess",
        "ImapEnabled",
    ] {
        assert!(t.contains(hint), "{hint}: {t}");
    }
}

#[test]
fn throttling_is_waited_out_and_resumed_with_nothing_lost_duplicated_or_sent_early() {
    let w = World::start(ExchangeOptions {
        throttle: Some(Throttle {
            per_second: 40.0,
            burst: 10,
            min_backoff: Duration::from_millis(300),
            disconnect: true,
        }),
        ..ExchangeOptions::default()
    });
    w.source
        .seed(USER, "INBOX", &corpus::seed_messages(3, 80, 2_000))
        .unwrap();
    let before = w.source.snapshot(USER).unwrap();
    let out = w.migrate(&["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stats = w.shim.stats(MAILBOX);
    assert!(stats.throttled >= 1, "the budget was never hit: {stats:?}");
    assert_eq!(
        stats.early_requests, 0,
        "requests before the backoff expired: {stats:?}"
    );
    let target = w.shim.dovecot().snapshot(MAILBOX).unwrap();
    assert_eq!(
        content(&target)["INBOX"],
        before.folder("INBOX").unwrap().content()
    );
    assert_eq!(w.report()["copied"].as_u64(), Some(80));
}

#[test]
fn messages_exchange_refuses_as_too_large_or_with_long_lines_are_skipped_with_what_to_change_and_retried_later()
 {
    let w = World::start(ExchangeOptions {
        max_message_size: 60_000,
        // Low enough that a dozen refusals on one connection end in BYE, which the run survives.
        errors_before_bye: 3,
        ..ExchangeOptions::default()
    });
    w.source
        .seed(USER, "INBOX", &corpus::seed_messages(4, 5, 2_000))
        .unwrap();
    let mut bad = Vec::new();
    for i in 0..4 {
        bad.push(SeedMessage::new(corpus::message_with_attachment(
            5, i, 100_000,
        )));
        let long = format!(
            "Subject: long line {i}\r\nMessage-ID: <long-{i}@test>\r\n\r\n{}\r\n",
            "x".repeat(12_000)
        );
        bad.push(SeedMessage::new(long.into_bytes()));
    }
    w.source.seed(USER, "INBOX", &bad).unwrap();
    let out = w.migrate(&["--max-size", "1MB"]);
    assert_eq!(code(&out), 1, "skipped items exit 1: {}", text(&out));
    let r = w.report();
    assert_eq!(r["copied"].as_u64(), Some(5), "{r}");
    assert_eq!(r["skipped"].as_u64(), Some(8), "{r}");
    let problems = r["problems"].as_array().unwrap();
    assert!(
        problems.iter().all(|p| p["reason"]
            .as_str()
            .unwrap_or("")
            .contains("MaxReceiveSize")),
        "{r}"
    );
    assert_eq!(
        w.shim.dovecot().snapshot(MAILBOX).unwrap().message_count(),
        5
    );
    // The tenant raises MaxReceiveSize: the next run copies the big ones; the long lines stay skipped.
    w.shim.set_max_message_size(1_000_000);
    let out = w.migrate(&["--max-size", "1MB"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert_eq!(
        w.shim.dovecot().snapshot(MAILBOX).unwrap().message_count(),
        9
    );
    let r = w.report();
    assert_eq!(r["skipped"].as_u64(), Some(4), "{r}");
}

#[test]
fn kill_9_during_a_throttled_exchange_migration_then_rerun_leaves_exactly_one_copy() {
    // A budget slows the run to a few seconds so the kills land in the middle of it.
    let w = World::start(ExchangeOptions {
        throttle: Some(Throttle {
            per_second: 250.0,
            burst: 50,
            min_backoff: Duration::from_millis(100),
            disconnect: true,
        }),
        ..ExchangeOptions::default()
    });
    for (i, folder) in ["INBOX", "Sent", "Projects"].iter().enumerate() {
        w.source
            .seed(
                USER,
                folder,
                &corpus::seed_messages(90 + i as u64, 300, 5_000),
            )
            .unwrap();
    }
    let before = w.source.snapshot(USER).unwrap();
    w.shim.allow_app(APP, &[MAILBOX]);
    let token = w.shim.app_token(APP, 3600);
    let mut rng = fastrand::Rng::with_seed(0xe10);
    let mut killed_mid_run = false;
    for round in 0..3 {
        let src = format!("{}?starttls=never", w.source.url());
        let tgt = w.shim.url();
        let mut child = ferry_command(
            w.data.path(),
            &[
                "mail",
                "migrate",
                "--source",
                &src,
                "--target",
                &tgt,
                "--source-user",
                USER,
                "--target-user",
                MAILBOX,
            ],
            &[
                ("FERRY_SOURCE_PASSWORD", PASSWORD),
                ("FERRY_TARGET_TOKEN", &token),
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(200 + rng.u64(0..1500)));
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        let _ = child.wait();
        eprintln!("round {round}: killed while running: {running}");
        killed_mid_run |= running;
    }
    assert!(
        killed_mid_run,
        "every run ended before its kill: the test proved nothing"
    );
    let out = w.migrate(&["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let target = content(&w.shim.dovecot().snapshot(MAILBOX).unwrap());
    assert_eq!(
        total(&target),
        before.message_count(),
        "losses or duplicates"
    );
    assert_eq!(target["INBOX"], before.folder("INBOX").unwrap().content());
    assert_eq!(
        target["Sent Items"],
        before.folder("Sent").unwrap().content()
    );
}

#[test]
fn read_receipt_requests_are_disarmed_only_when_asked_listed_in_the_report_and_not_copied_again() {
    let w = World::start(ExchangeOptions::default());
    let asking = |folder: &str, i: u32| {
        SeedMessage::new(
            format!(
                "From: old@example.com\r\nTo: alice@example.com\r\nSubject: receipt {folder} {i}\r\n\
                 Message-ID: <dnt-{folder}-{i}@test>\r\nDisposition-Notification-To: old@example.com\r\n\
                 \r\nPlease confirm.\r\n"
            )
            .into_bytes(),
        )
    };
    for folder in ["INBOX", "Plain"] {
        w.source
            .seed(USER, folder, &corpus::seed_messages(90, 3, 1_500))
            .unwrap();
        w.source
            .seed(USER, folder, &[asking(folder, 1), asking(folder, 2)])
            .unwrap();
    }
    let before = w.source.snapshot(USER).unwrap();
    let out = w.migrate(&["--include", "INBOX", "--disarm-read-receipts", "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = w.migrate(&["--include", "Plain", "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        w.source.snapshot(USER).unwrap(),
        before,
        "the source changed"
    );

    let bodies = |dovecot: &Dovecot, user: &str, folder: &str| {
        let mut c = dovecot.connect(user).unwrap();
        c.examine(folder).unwrap();
        c.fetch_all()
            .unwrap()
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m.bytes).into_owned())
            .collect::<Vec<String>>()
    };
    let with = |folder: &str, header: &str| {
        bodies(w.shim.dovecot(), MAILBOX, folder)
            .iter()
            .filter(|m| m.contains(&format!("\n{header}:")))
            .count()
    };
    assert_eq!(with("INBOX", "Disposition-Notification-To"), 0);
    assert_eq!(with("INBOX", "X-Ferry-Disarmed-Receipt-To"), 2);
    assert_eq!(
        with("Plain", "Disposition-Notification-To"),
        2,
        "not asked: unchanged"
    );
    let target = w.shim.dovecot().snapshot(MAILBOX).unwrap();
    assert_eq!(
        content(&target)["Plain"],
        before.folder("Plain").unwrap().content()
    );
    // Apart from the header's name, the bytes are the source's (the size too).
    let src = bodies(&w.source, USER, "INBOX");
    let tgt = bodies(w.shim.dovecot(), MAILBOX, "INBOX");
    let renamed: Vec<String> = src
        .iter()
        .map(|m| {
            m.replace(
                "\nDisposition-Notification-To:",
                "\nX-Ferry-Disarmed-Receipt-To:",
            )
        })
        .collect();
    assert_eq!(tgt, renamed);
    let r = w.report();
    let changed = r["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 2, "{r}");
    assert!(
        changed.iter().all(|c| c["folder"] == "INBOX"
            && c["note"]
                .as_str()
                .unwrap()
                .contains("Disposition-Notification-To")),
        "{r}"
    );
    let report = text(&ferry(w.data.path(), &["report"], &[]));
    assert!(report.contains("read-receipt request disarmed"), "{report}");

    // Runs again, with the journal and without it (--recopy-missing reads the target): nothing is "new".
    for extra in [&[][..], &["--recopy-missing"][..]] {
        let mut args = vec!["--include", "INBOX", "--disarm-read-receipts", "--json"];
        args.extend_from_slice(extra);
        let out = w.migrate(&args);
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert_eq!(
            w.shim
                .dovecot()
                .snapshot(MAILBOX)
                .unwrap()
                .folder("INBOX")
                .unwrap()
                .messages
                .len(),
            5,
            "copied again: {extra:?}"
        );
    }
    // verify compares the source as Ferry writes it.
    let src = format!("{}?starttls=never", w.source.url());
    let tgt = w.shim.url();
    let token = w.shim.app_token(APP, 3600);
    let out = ferry_command(
        w.data.path(),
        &[
            "mail",
            "verify",
            "--source",
            &src,
            "--target",
            &tgt,
            "--source-user",
            USER,
            "--target-user",
            MAILBOX,
            "--include",
            "INBOX",
            "--disarm-read-receipts",
        ],
        &[
            ("FERRY_SOURCE_PASSWORD", PASSWORD),
            ("FERRY_TARGET_TOKEN", &token),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
}
