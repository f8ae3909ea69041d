//! End to end: the real `ferry` binary between two real Dovecot servers (issue 2).
//!
//! Each test starts its own servers on free loopback ports in temp dirs; they run in parallel.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;
mod mail_oauth;

use common::*;
use ferry_testkit::corpus;
use ferry_testkit::{DovecotOptions, SeedMessage};

fn opts(separator: char, special_use: bool) -> DovecotOptions {
    DovecotOptions {
        separator,
        special_use,
        ..DovecotOptions::default()
    }
}

/// A source mailbox with the awkward cases of issue 2.
fn seed_awkward(pair: &Pair, user: &str) {
    let s = &pair.source;
    let sep = s.separator();
    let f = |p: &str| p.replace('/', &sep.to_string());
    s.seed(user, "INBOX", &corpus::seed_messages(1, 12, 3_000))
        .unwrap();
    // Two byte-identical messages in one folder are two messages.
    let dup = SeedMessage::new(corpus::message(9, 0, 2_000)).with_flags(&["\\Seen"]);
    s.seed(user, "INBOX", &[dup.clone(), dup]).unwrap();
    // No Message-ID at all.
    s.seed(
        user,
        "INBOX",
        &[SeedMessage::new(corpus::message_without_message_id(
            3, 1, 1_500,
        ))],
    )
    .unwrap();
    // Nested folders under a parent that is only a parent (\Noselect), and non-ASCII names.
    s.seed(
        user,
        &f("Projets/Données clients"),
        &corpus::seed_messages(2, 5, 4_000),
    )
    .unwrap();
    s.seed(
        user,
        &f("Projets/日本語"),
        &corpus::seed_messages(4, 3, 2_000),
    )
    .unwrap();
    s.seed(user, &f("Work/2024"), &corpus::seed_messages(5, 4, 8_000))
        .unwrap();
    s.seed(user, "Work", &corpus::seed_messages(6, 2, 8_000))
        .unwrap();
    // Keywords and an exact internal date.
    let kw = SeedMessage::new(corpus::message(7, 0, 5_000))
        .with_flags(&["\\Answered", "\\Flagged", "$Label1", "Work", "ProjectX"])
        .with_internal_date("17-Jul-1996 02:44:25 -0700");
    s.seed(user, "INBOX", &[kw]).unwrap();
}

#[test]
fn migrate_copies_every_folder_flag_keyword_and_date_and_never_changes_the_source() {
    // Source uses '.' as delimiter, target '/': names are translated, not mangled.
    let pair = Pair::start(opts('.', false), opts('/', false), &["alice"]);
    seed_awkward(&pair, "alice");
    let before = pair.source.snapshot("alice").unwrap();

    let out = pair.migrate("alice", &["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let summary = json(&out);
    let discovered = summary["totals"]["discovered"].as_u64().unwrap();
    assert_eq!(discovered as usize, before.message_count());
    assert_eq!(summary["totals"]["copied"].as_u64(), Some(discovered));

    // Invariant 1: not one flag, byte or folder changed on the source.
    assert_eq!(pair.source.snapshot("alice").unwrap(), before);
    // Same bytes, flags, keywords and internal dates, folder by folder, duplicates included.
    let target = pair.target.snapshot("alice").unwrap();
    assert_eq!(content(&target), content(&before));
    // The \Noselect parent stayed a parent: no mailbox of its own with invented content.
    assert!(
        target.folder("Projets").is_none(),
        "{:?}",
        target.folder_names()
    );
    assert!(target.folder("Projets/Données clients").is_some());
}

#[test]
fn rerun_copies_only_new_messages_and_creates_no_duplicates() {
    let pair = Pair::start(opts('/', false), opts('/', false), &["bob"]);
    pair.source
        .seed("bob", "INBOX", &corpus::seed_messages(11, 30, 2_000))
        .unwrap();
    pair.source
        .seed("bob", "Old", &corpus::seed_messages(12, 10, 2_000))
        .unwrap();
    let out = pair.migrate("bob", &["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json(&out)["totals"]["copied"].as_u64(), Some(40));

    let again = pair.migrate("bob", &["--json"]);
    assert_eq!(code(&again), 0, "{}", text(&again));
    let j = json(&again);
    assert_eq!(j["totals"]["copied"].as_u64(), Some(0));
    assert_eq!(j["mailboxes"][0]["kind"].as_str(), Some("delta"));

    pair.source
        .seed("bob", "INBOX", &corpus::seed_messages(13, 5, 2_000))
        .unwrap();
    let delta = pair.migrate("bob", &["--json"]);
    assert_eq!(
        json(&delta)["totals"]["copied"].as_u64(),
        Some(5),
        "{}",
        text(&delta)
    );
    let src = content(&pair.source.snapshot("bob").unwrap());
    let tgt = content(&pair.target.snapshot("bob").unwrap());
    assert_eq!(tgt, src);
    assert_eq!(total(&tgt), 45);
}

#[test]
fn a_changed_uidvalidity_on_the_source_matches_by_content_instead_of_copying_again() {
    let pair = Pair::start(opts('/', false), opts('/', false), &["carol"]);
    pair.source
        .seed("carol", "Work", &corpus::seed_messages(21, 20, 3_000))
        .unwrap();
    let dup = SeedMessage::new(corpus::message(22, 0, 1_000));
    pair.source
        .seed("carol", "Work", &[dup.clone(), dup])
        .unwrap();
    assert_eq!(code(&pair.migrate("carol", &[])), 0);

    let (old, new) = pair
        .source
        .recreate_folder_with_new_uidvalidity("carol", "Work")
        .unwrap();
    assert_ne!(old, new);
    pair.source
        .seed("carol", "Work", &corpus::seed_messages(23, 3, 3_000))
        .unwrap();
    let out = pair.migrate("carol", &["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        json(&out)["totals"]["copied"].as_u64(),
        Some(3),
        "only the 3 new messages: {}",
        text(&out)
    );
    let tgt = content(&pair.target.snapshot("carol").unwrap());
    assert_eq!(tgt, content(&pair.source.snapshot("carol").unwrap()));
    assert_eq!(total(&tgt), 25);
}

#[test]
fn kill_9_at_random_moments_then_rerun_leaves_exactly_one_copy_of_everything() {
    let pair = Pair::start(opts('/', false), opts('/', false), &["dave"]);
    for (i, folder) in ["INBOX", "Archive", "Archive/2023", "Projects"]
        .iter()
        .enumerate()
    {
        pair.source
            .seed(
                "dave",
                folder,
                &corpus::seed_messages(30 + i as u64, 400, 6_000),
            )
            .unwrap();
    }
    let before = pair.source.snapshot("dave").unwrap();
    let mut rng = fastrand::Rng::with_seed(0xfe77);
    for round in 0..4 {
        let mut child = pair.spawn_migrate("dave", &["--concurrency", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(150 + rng.u64(0..700)));
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        eprintln!("round {round}: killed while running: {still_running}");
    }
    let out = pair.migrate("dave", &["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        pair.source.snapshot("dave").unwrap(),
        before,
        "the source changed"
    );
    let tgt = content(&pair.target.snapshot("dave").unwrap());
    assert_eq!(
        total(&tgt),
        before.message_count(),
        "duplicates or losses on the target"
    );
    assert_eq!(tgt, content(&before));
    let v = pair.verify("dave", &["--json"]);
    assert_eq!(code(&v), 0, "{}", text(&v));
}

#[test]
fn oversize_messages_are_skipped_with_a_reason_and_the_exit_code_says_so() {
    let pair = Pair::start(opts('/', false), opts('/', false), &["erin"]);
    pair.source
        .seed("erin", "INBOX", &corpus::seed_messages(41, 5, 2_000))
        .unwrap();
    pair.source
        .seed(
            "erin",
            "INBOX",
            &[SeedMessage::new(corpus::message_with_attachment(
                42, 0, 300_000,
            ))],
        )
        .unwrap();
    let out = pair.migrate("erin", &["--max-size", "100KB"]);
    assert_eq!(code(&out), 1, "skipped items exit 1: {}", text(&out));
    let report = ferry(pair.data.path(), &["report", "--format", "json"], &[]);
    let r = &json(&report)["mail"];
    assert_eq!(r[0]["copied"].as_u64(), Some(5));
    assert_eq!(r[0]["skipped"].as_u64(), Some(1));
    let reason = r[0]["problems"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("size limit"), "{reason}");
    // Verify knows the skipped message is not missing.
    let v = pair.verify("erin", &["--json"]);
    assert_eq!(code(&v), 0, "{}", text(&v));
    assert_eq!(json(&v)[0]["folders"][0]["skipped"].as_u64(), Some(1));
    let csv = ferry(pair.data.path(), &["report", "--format", "csv"], &[]);
    let csv = String::from_utf8_lossy(&csv.stdout).to_string();
    assert!(
        csv.starts_with("workload,mapping,source,target,folder,discovered,copied,skipped,failed"),
        "{csv}"
    );
    assert!(csv.lines().any(|l| l.starts_with("mail,erin,")), "{csv}");
}

#[test]
fn verify_reports_missing_messages_and_exits_1() {
    let pair = Pair::start(opts('/', false), opts('/', false), &["frank"]);
    pair.source
        .seed("frank", "INBOX", &corpus::seed_messages(51, 10, 2_000))
        .unwrap();
    assert_eq!(code(&pair.migrate("frank", &[])), 0);
    let ok = pair.verify("frank", &[]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("Perfect"),
        "{}",
        text(&ok)
    );

    // Someone deletes a message on the target.
    let mut raw = pair.target.connect("frank").unwrap();
    raw.select("INBOX").unwrap();
    raw.run("UID STORE 1 +FLAGS (\\Deleted)").unwrap();
    raw.run("EXPUNGE").unwrap();
    let bad = pair.verify("frank", &["--json"]);
    assert_eq!(code(&bad), 1, "{}", text(&bad));
    let j = json(&bad);
    assert_eq!(j[0]["folders"][0]["missing"].as_u64(), Some(1));
    assert_ne!(j[0]["grade"].as_str(), Some("Perfect"));
}

#[test]
fn special_use_folders_land_in_the_targets_folder_with_that_role() {
    // Source without SPECIAL-USE: roles are guessed from well-known names.
    let pair = Pair::start(opts('/', false), opts('/', true), &["gina"]);
    pair.source
        .seed(
            "gina",
            "Sent Messages",
            &corpus::seed_messages(61, 3, 2_000),
        )
        .unwrap();
    pair.source
        .seed(
            "gina",
            "Deleted Items",
            &corpus::seed_messages(62, 2, 2_000),
        )
        .unwrap();
    let out = pair.migrate("gina", &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = pair.target.snapshot("gina").unwrap();
    assert_eq!(
        t.folder("Sent").map(|f| f.messages.len()),
        Some(3),
        "{:?}",
        t.folder_names()
    );
    assert_eq!(t.folder("Trash").map(|f| f.messages.len()), Some(2));
    assert!(t.folder("Sent Messages").is_none());
}

#[test]
fn include_exclude_and_dry_run_select_folders_and_dry_run_writes_nothing() {
    let pair = Pair::start(opts('/', false), opts('/', false), &["hank"]);
    for f in ["INBOX", "Keep", "Keep/Sub", "Spam"] {
        pair.source
            .seed("hank", f, &corpus::seed_messages(70, 2, 1_000))
            .unwrap();
    }
    let dry = pair.migrate(
        "hank",
        &[
            "--dry-run",
            "--json",
            "--include",
            "Keep*",
            "--include",
            "INBOX",
        ],
    );
    assert_eq!(code(&dry), 0, "{}", text(&dry));
    let plan = json(&dry);
    let folders: Vec<&str> = plan[0]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["source"].as_str().unwrap())
        .collect();
    assert_eq!(folders, ["INBOX", "Keep", "Keep/Sub"]);
    assert_eq!(plan[0]["folders"][0]["messages"].as_u64(), Some(2));
    assert_eq!(
        pair.target.snapshot("hank").unwrap().message_count(),
        0,
        "dry run wrote to the target"
    );
    assert!(
        !pair.data.path().join("ferry.db").exists(),
        "dry run wrote a store"
    );

    let out = pair.migrate("hank", &["--exclude", "Spam"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = pair.target.snapshot("hank").unwrap();
    assert_eq!(t.message_count(), 6);
    assert!(t.folder("Spam").is_none());
}

#[test]
fn csv_mapping_moves_many_users_with_an_admin_login_on_the_target() {
    let users = ["u1", "u2", "u3"];
    let pair = Pair::start(opts('/', false), opts('/', false), &users);
    for (i, u) in users.iter().enumerate() {
        pair.source
            .seed(
                u,
                "INBOX",
                &corpus::seed_messages(80 + i as u64, 7 + i, 1_500),
            )
            .unwrap();
    }
    // Exchange IMAP migration format; the target mailbox is named by EmailAddress, here the user name
    // in an address-shaped form is not what Dovecot knows, so the test users are addressed as themselves.
    let csv_path = pair.data.path().join("users.csv");
    let mut csv = String::from("EmailAddress,UserName,Password\n");
    for u in users {
        csv.push_str(&format!("{u}@x,{u},{PASSWORD}\n"));
    }
    std::fs::write(&csv_path, csv).unwrap();
    for u in users {
        pair.target.add_user(&format!("{u}@x"), PASSWORD).unwrap();
    }
    let (admin, admin_pw) = ferry_testkit::Dovecot::master();
    let src = format!("{}?starttls=never", pair.source.url());
    let tgt = format!("{}?starttls=never", pair.target.url());
    let out = ferry(
        pair.data.path(),
        &[
            "mail",
            "migrate",
            "--source",
            &src,
            "--target",
            &tgt,
            "--mapping",
            csv_path.to_str().unwrap(),
            "--target-admin",
            admin,
            "--concurrency",
            "2",
            "--json",
        ],
        &[("FERRY_TARGET_PASSWORD", admin_pw)],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let j = json(&out);
    assert_eq!(j["totals"]["copied"].as_u64(), Some(7 + 8 + 9));
    for u in users {
        let got = content(&pair.target.snapshot(&format!("{u}@x")).unwrap());
        assert_eq!(got, content(&pair.source.snapshot(u).unwrap()), "{u}");
    }
    // The CSV password never shows in output or in the store.
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
    let db = std::fs::read(pair.data.path().join("ferry.db")).unwrap();
    assert!(
        !db.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
        "a password is in the store"
    );
}

#[test]
fn a_bad_mapping_csv_is_refused_naming_the_line_before_anything_runs() {
    let data = tempfile::tempdir().unwrap();
    let csv = data.path().join("bad.csv");
    std::fs::write(&csv, "EmailAddress,UserName,Password\na@x,a,pw\nb@x,,pw\n").unwrap();
    let out = ferry(
        data.path(),
        &[
            "mail",
            "migrate",
            "--source",
            "imap://127.0.0.1:1",
            "--target",
            "maildir:/nonexistent",
            "--mapping",
            csv.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 3: UserName is empty"),
        "{}",
        text(&out)
    );
    assert!(!data.path().join("ferry.db").exists());
}

#[test]
fn a_wrong_password_is_a_clear_error_without_the_password() {
    let pair = Pair::start(opts('/', false), opts('/', false), &["ivan"]);
    let src = format!("{}?starttls=never", pair.source.url());
    let tgt = format!("{}?starttls=never", pair.target.url());
    let out = ferry(
        pair.data.path(),
        &[
            "mail",
            "migrate",
            "--source",
            &src,
            "--target",
            &tgt,
            "--source-user",
            "ivan",
            "--target-user",
            "ivan",
        ],
        &[
            ("FERRY_SOURCE_PASSWORD", "wrong-Password-9"),
            ("FERRY_TARGET_PASSWORD", PASSWORD),
        ],
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    let all = text(&out);
    assert!(
        all.to_lowercase().contains("password") || all.to_lowercase().contains("auth"),
        "{all}"
    );
    assert!(
        !all.contains("wrong-Password-9"),
        "the password leaked: {all}"
    );
}

#[test]
fn master_user_login_reads_the_source_for_each_user() {
    let pair = Pair::start(opts('/', false), opts('/', false), &["judy"]);
    pair.source
        .seed("judy", "INBOX", &corpus::seed_messages(90, 4, 1_000))
        .unwrap();
    let (admin, admin_pw) = ferry_testkit::Dovecot::master();
    let src = format!("{}?starttls=never", pair.source.url());
    let tgt = format!("{}?starttls=never", pair.target.url());
    let out = ferry(
        pair.data.path(),
        &[
            "mail",
            "migrate",
            "--source",
            &src,
            "--target",
            &tgt,
            "--source-user",
            "judy",
            "--source-admin",
            admin,
            "--target-user",
            "judy",
        ],
        &[
            ("FERRY_SOURCE_PASSWORD", admin_pw),
            ("FERRY_TARGET_PASSWORD", PASSWORD),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(pair.target.snapshot("judy").unwrap().message_count(), 4);
}

#[test]
fn a_dropped_connection_mid_run_is_retried_and_nothing_is_lost_or_duplicated() {
    use ferry_testkit::proxy::FaultProxy;
    let pair = Pair::start(opts('/', false), opts('/', false), &["kate"]);
    pair.source
        .seed("kate", "INBOX", &corpus::seed_messages(100, 1_500, 4_000))
        .unwrap();
    pair.source
        .seed("kate", "Work", &corpus::seed_messages(101, 500, 4_000))
        .unwrap();
    let before = pair.source.snapshot("kate").unwrap();
    // Every source connection dies after ~1 MB from the server (mid-fetch); the target's connections are
    // cut four times, 150 ms apart, each time while one is open (mid-append or mid-lookup, wherever it
    // happens to be): the run must reconnect, find what already arrived, and finish with exactly one copy of
    // everything. Four cuts, fewer than a request's attempts (`DEFAULT_RETRY_ATTEMPTS`): a cut every 150 ms
    // for ever would starve a request that takes longer than that on a loaded machine, which is a test of
    // the machine's speed, not of Ferry.
    let src_proxy = FaultProxy::start(pair.source.addr()).unwrap();
    let tgt_proxy = std::sync::Arc::new(FaultProxy::start(pair.target.addr()).unwrap());
    src_proxy.set_cut_after_bytes(Some(1_000_000));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cutter = {
        let (p, stop) = (tgt_proxy.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut cuts = 0;
            while cuts < ferry_core::limits::DEFAULT_RETRY_ATTEMPTS - 1
                && !stop.load(std::sync::atomic::Ordering::Relaxed)
            {
                std::thread::sleep(std::time::Duration::from_millis(150));
                if p.live_connections() > 0 {
                    p.cut_all();
                    cuts += 1;
                }
            }
        })
    };
    let src = format!("{}?starttls=never", src_proxy.url());
    let tgt = format!("{}?starttls=never", tgt_proxy.url());
    let args = [
        "mail",
        "migrate",
        "--source",
        &src,
        "--target",
        &tgt,
        "--source-user",
        "kate",
        "--target-user",
        "kate",
        "--json",
    ];
    let env = [
        ("FERRY_SOURCE_PASSWORD", PASSWORD),
        ("FERRY_TARGET_PASSWORD", PASSWORD),
    ];
    let out = ferry(pair.data.path(), &args, &env);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    cutter.join().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        src_proxy.connections() > 1 && tgt_proxy.connections() > 1,
        "the proxies never cut anything"
    );
    let tgt_content = content(&pair.target.snapshot("kate").unwrap());
    assert_eq!(total(&tgt_content), 2_000, "lost or duplicated messages");
    assert_eq!(tgt_content, content(&before));
    assert_eq!(pair.source.snapshot("kate").unwrap(), before);
}

#[test]
fn a_message_the_target_refuses_fails_alone_with_the_reason_and_the_run_goes_on() {
    let tgt = DovecotOptions {
        max_mail_size: Some(30_000),
        ..opts('/', false)
    };
    let pair = Pair::start(opts('/', false), tgt, &["lena"]);
    pair.source
        .seed("lena", "INBOX", &corpus::seed_messages(110, 20, 2_000))
        .unwrap();
    pair.source
        .seed(
            "lena",
            "INBOX",
            &[SeedMessage::new(corpus::message(111, 0, 60_000))],
        )
        .unwrap();
    pair.source
        .seed("lena", "INBOX", &corpus::seed_messages(112, 20, 2_000))
        .unwrap();
    let out = pair.migrate("lena", &["--json"]);
    assert_eq!(code(&out), 1, "a failed item exits 1: {}", text(&out));
    let j = json(&out);
    assert_eq!(
        (
            j["totals"]["copied"].as_u64(),
            j["totals"]["failed"].as_u64()
        ),
        (Some(40), Some(1)),
        "{}",
        text(&out)
    );
    let report = json(&ferry(pair.data.path(), &["report", "--json"], &[]));
    let problem = &report["mail"][0]["problems"][0];
    assert_eq!(problem["status"].as_str(), Some("failed"));
    assert!(
        problem["reason"]
            .as_str()
            .unwrap()
            .contains("target refused"),
        "{problem}"
    );
    // A re-run tries the failed message again and copies nothing twice.
    let again = pair.migrate("lena", &["--json"]);
    let j = json(&again);
    assert_eq!(
        (
            j["totals"]["copied"].as_u64(),
            j["totals"]["failed"].as_u64()
        ),
        (Some(0), Some(1)),
        "{}",
        text(&again)
    );
    assert_eq!(pair.target.snapshot("lena").unwrap().message_count(), 40);
}

#[test]
fn a_per_server_connection_cap_bounds_mailboxes_in_flight() {
    use ferry_testkit::proxy::FaultProxy;
    let users = ["c1", "c2", "c3", "c4"];
    let pair = Pair::start(opts('/', false), opts('/', false), &users);
    for (i, u) in users.iter().enumerate() {
        pair.source
            .seed(
                u,
                "INBOX",
                &corpus::seed_messages(120 + i as u64, 400, 3_000),
            )
            .unwrap();
        pair.target.add_user(&format!("{u}@x"), PASSWORD).unwrap();
    }
    let proxy = std::sync::Arc::new(FaultProxy::start(pair.target.addr()).unwrap());
    let csv = pair.data.path().join("users.csv");
    let rows: String = users
        .iter()
        .map(|u| format!("{u}@x,{u},{PASSWORD}\n"))
        .collect();
    std::fs::write(&csv, format!("EmailAddress,UserName,Password\n{rows}")).unwrap();
    let (admin, admin_pw) = ferry_testkit::Dovecot::master();
    let src = format!("{}?starttls=never", pair.source.url());
    let tgt = format!("{}?starttls=never", proxy.url());
    let run = |cap: &str| {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (p, stop) = (proxy.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut max = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    max = max.max(p.live_connections());
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                max
            })
        };
        let args = [
            "mail",
            "migrate",
            "--source",
            &src,
            "--target",
            &tgt,
            "--mapping",
            csv.to_str().unwrap(),
            "--target-admin",
            admin,
            "--concurrency",
            "4",
            "--max-connections",
            cap,
        ];
        let out = ferry(
            pair.data.path(),
            &args,
            &[("FERRY_TARGET_PASSWORD", admin_pw)],
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, sampler.join().unwrap())
    };
    let (out, max) = run("1");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        max, 1,
        "{max} target connections at once with --max-connections 1"
    );
    for u in users {
        assert_eq!(
            pair.target
                .snapshot(&format!("{u}@x"))
                .unwrap()
                .message_count(),
            400
        );
    }
}
