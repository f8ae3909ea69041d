//! Issue 9, items 6–9: the journal is a cache and the target is the truth; nothing is doubled or
//! collapsed; flag changes reach the target. The real `ferry` binary between two real Dovecots.

use crate::common::*;
use ferry_testkit::corpus;
use ferry_testkit::{DovecotOptions, SeedMessage};
use std::path::Path;
use std::process::Output;

fn opts() -> DovecotOptions {
    DovecotOptions {
        separator: '/',
        ..DovecotOptions::default()
    }
}

/// `ferry mail <sub>` for `user` with a store in `data` (another store than the pair's own).
fn run_with_store(pair: &Pair, data: &Path, sub: &str, user: &str, extra: &[&str]) -> Output {
    let src = format!("{}?starttls=never", pair.source.url());
    let tgt = format!("{}?starttls=never", pair.target.url());
    pair.command_at(data, &src, &tgt, sub, user, extra)
        .output()
        .expect("run ferry")
}

/// A message with fixed headers whose body is `fill` repeated: same headers and size for any `fill`.
fn same_headers(fill: u8) -> Vec<u8> {
    let mut m = b"Message-ID: <same-headers@example.test>\r\n\
Date: Mon, 01 Mar 2021 10:00:00 +0100\r\n\
From: Sender <sender@example.test>\r\n\
To: Rcpt <rcpt@example.test>\r\n\
Subject: Quarterly figures\r\n\r\n"
        .to_vec();
    m.extend(std::iter::repeat_n(fill, 600));
    m.extend_from_slice(b"\r\n");
    m
}

fn seed_mailbox(pair: &Pair, user: &str) {
    let s = &pair.source;
    s.seed(user, "INBOX", &corpus::seed_messages(101, 20, 2_000))
        .unwrap();
    // Two byte-identical messages are two messages; two with the same headers and size are two too.
    let dup = SeedMessage::new(corpus::message(102, 0, 1_500));
    s.seed(user, "INBOX", &[dup.clone(), dup]).unwrap();
    s.seed(
        user,
        "Work",
        &[
            SeedMessage::new(same_headers(b'a')),
            SeedMessage::new(same_headers(b'b')),
        ],
    )
    .unwrap();
    s.seed(user, "Work", &corpus::seed_messages(103, 8, 3_000))
        .unwrap();
}

#[test]
fn a_fresh_store_recognises_what_the_target_already_holds_and_copies_nothing_twice() {
    let pair = Pair::start(opts(), opts(), &["ann"]);
    seed_mailbox(&pair, "ann");
    let first = pair.migrate("ann", &["--json"]);
    assert_eq!(code(&first), 0, "{}", text(&first));

    // The store is lost (another working directory, a new machine): the target still holds everything.
    pair.source
        .seed("ann", "Work", &corpus::seed_messages(104, 3, 2_000))
        .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let again = run_with_store(&pair, fresh.path(), "migrate", "ann", &["--json"]);
    assert_eq!(code(&again), 0, "{}", text(&again));
    let j = json(&again);
    assert_eq!(j["totals"]["copied"].as_u64(), Some(3), "{}", text(&again));
    assert_eq!(j["mailboxes"][0]["recognised"].as_u64(), Some(32));

    let src = content(&pair.source.snapshot("ann").unwrap());
    let tgt = content(&pair.target.snapshot("ann").unwrap());
    assert_eq!(total(&tgt), total(&src), "duplicates on the target");
    assert_eq!(tgt, src);

    // The fresh store now vouches for the target: a third run copies nothing and is graded Perfect.
    let third = run_with_store(&pair, fresh.path(), "migrate", "ann", &["--json"]);
    assert_eq!(json(&third)["totals"]["copied"].as_u64(), Some(0));
    let v = run_with_store(&pair, fresh.path(), "verify", "ann", &["--json"]);
    assert_eq!(code(&v), 0, "{}", text(&v));
    assert_eq!(json(&v)[0]["grade"].as_str(), Some("Perfect"));
}

#[test]
fn verify_counts_a_second_copy_on_the_target_as_a_duplicate_and_lowers_the_grade() {
    let pair = Pair::start(opts(), opts(), &["ben"]);
    pair.source
        .seed("ben", "INBOX", &corpus::seed_messages(111, 10, 2_000))
        .unwrap();
    assert_eq!(code(&pair.migrate("ben", &[])), 0);
    // A second copy of a source message on the target (what a lost store used to cause).
    pair.target
        .seed(
            "ben",
            "INBOX",
            &[SeedMessage::new(corpus::message(111, 3, 2_000))],
        )
        .unwrap();
    let v = pair.verify("ben", &["--json"]);
    assert_eq!(code(&v), 1, "{}", text(&v));
    let j = json(&v);
    assert_eq!(
        j[0]["folders"][0]["duplicates"].as_u64(),
        Some(1),
        "{}",
        text(&v)
    );
    assert_eq!(j[0]["folders"][0]["missing"].as_u64(), Some(0));
    assert_ne!(j[0]["grade"].as_str(), Some("Perfect"));
}

#[test]
fn a_target_folder_recreated_or_emptied_gets_everything_again_without_duplicates() {
    let pair = Pair::start(opts(), opts(), &["cat"]);
    seed_mailbox(&pair, "cat");
    assert_eq!(code(&pair.migrate("cat", &[])), 0);

    // On the target: INBOX emptied; Work deleted and recreated (new UIDVALIDITY) holding one message.
    let mut raw = pair.target.connect("cat").unwrap();
    raw.select("INBOX").unwrap();
    raw.run("STORE 1:* +FLAGS.SILENT (\\Deleted)").unwrap();
    raw.run("EXPUNGE").unwrap();
    raw.logout();
    let kept = pair
        .target
        .snapshot("cat")
        .unwrap()
        .folder("Work")
        .unwrap()
        .messages
        .len();
    assert_eq!(kept, 10);
    pair.target.delete_folder("cat", "Work").unwrap();
    pair.target
        .seed(
            "cat",
            "Work",
            &[SeedMessage::new(corpus::message(103, 2, 3_000))],
        )
        .unwrap();

    let out = pair.migrate("cat", &["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        json(&out)["totals"]["copied"].as_u64(),
        Some(22 + 9),
        "{}",
        text(&out)
    );
    let src = pair.source.snapshot("cat").unwrap();
    let tgt = pair.target.snapshot("cat").unwrap();
    // Bytes, counts: every message once (the re-seeded one carries no flags, so compare bodies).
    assert_eq!(tgt.bodies_multiset(), src.bodies_multiset());
    let v = pair.verify("cat", &["--json"]);
    assert_eq!(code(&v), 0, "{}", text(&v));
    assert_eq!(json(&v)[0]["grade"].as_str(), Some("Perfect"));
}

#[test]
fn a_message_deleted_on_the_target_stays_deleted_verify_lists_it_and_recopy_missing_brings_it_back()
{
    let pair = Pair::start(opts(), opts(), &["dan"]);
    pair.source
        .seed("dan", "INBOX", &corpus::seed_messages(121, 10, 2_000))
        .unwrap();
    assert_eq!(code(&pair.migrate("dan", &[])), 0);
    let mut raw = pair.target.connect("dan").unwrap();
    raw.select("INBOX").unwrap();
    raw.run("UID STORE 4 +FLAGS.SILENT (\\Deleted)").unwrap();
    raw.run("EXPUNGE").unwrap();
    raw.logout();

    // Today's rule: a message a user deleted on the target during coexistence stays deleted.
    let again = pair.migrate("dan", &["--json"]);
    assert_eq!(json(&again)["totals"]["copied"].as_u64(), Some(0));
    let v = pair.verify("dan", &[]);
    assert_eq!(code(&v), 1, "{}", text(&v));
    let listed = corpus::message_id(121, 3);
    assert!(
        String::from_utf8_lossy(&v.stdout).contains(&listed),
        "verify lists the missing message: {}",
        text(&v)
    );

    let back = pair.migrate("dan", &["--recopy-missing", "--json"]);
    assert_eq!(code(&back), 0, "{}", text(&back));
    assert_eq!(
        json(&back)["totals"]["copied"].as_u64(),
        Some(1),
        "{}",
        text(&back)
    );
    let src = content(&pair.source.snapshot("dan").unwrap());
    assert_eq!(content(&pair.target.snapshot("dan").unwrap()), src);
}

#[test]
fn messages_with_the_same_headers_and_size_but_different_bodies_stay_two_after_a_uidvalidity_change()
 {
    let pair = Pair::start(opts(), opts(), &["eve"]);
    pair.source
        .seed("eve", "Work", &[SeedMessage::new(same_headers(b'a'))])
        .unwrap();
    assert_eq!(code(&pair.migrate("eve", &[])), 0);

    // The source folder is recreated (new UIDVALIDITY) and now holds a second message with the same
    // Message-ID, Date, From, To, Subject and size, but another body — first.
    let old = pair
        .source
        .snapshot("eve")
        .unwrap()
        .folder("Work")
        .unwrap()
        .uid_validity;
    pair.source.delete_folder("eve", "Work").unwrap();
    pair.source
        .seed(
            "eve",
            "Work",
            &[
                SeedMessage::new(same_headers(b'b')),
                SeedMessage::new(same_headers(b'a')),
            ],
        )
        .unwrap();
    let new = pair
        .source
        .snapshot("eve")
        .unwrap()
        .folder("Work")
        .unwrap()
        .uid_validity;
    assert_ne!(old, new, "the folder must have a new UIDVALIDITY");

    let out = pair.migrate("eve", &["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        json(&out)["totals"]["copied"].as_u64(),
        Some(1),
        "{}",
        text(&out)
    );
    let src = pair.source.snapshot("eve").unwrap();
    let tgt = pair.target.snapshot("eve").unwrap();
    assert_eq!(
        tgt.folder("Work").unwrap().bodies_multiset(),
        src.folder("Work").unwrap().bodies_multiset(),
        "one of each body, not one twice"
    );
    let v = pair.verify("eve", &["--json"]);
    assert_eq!(code(&v), 0, "{}", text(&v));
    assert_eq!(json(&v)[0]["grade"].as_str(), Some("Perfect"));
}

/// Copies are hashed only when their identity is in question: a re-key reads the copy of a shared fingerprint
/// from the target. A copy the user deleted there cannot be read, and must not let another body with its
/// headers take its row (that body would never be copied).
#[test]
fn after_a_uidvalidity_change_a_copy_deleted_on_the_target_never_stands_in_for_another_body() {
    let pair = Pair::start(opts(), opts(), &["fay"]);
    pair.source
        .seed("fay", "Work", &[SeedMessage::new(same_headers(b'a'))])
        .unwrap();
    assert_eq!(code(&pair.migrate("fay", &[])), 0);
    let mut raw = pair.target.connect("fay").unwrap();
    raw.select("Work").unwrap();
    raw.run("STORE 1:* +FLAGS.SILENT (\\Deleted)").unwrap();
    raw.run("EXPUNGE").unwrap();
    raw.logout();

    pair.source.delete_folder("fay", "Work").unwrap();
    pair.source
        .seed(
            "fay",
            "Work",
            &[
                SeedMessage::new(same_headers(b'b')),
                SeedMessage::new(same_headers(b'a')),
            ],
        )
        .unwrap();
    let out = pair.migrate("fay", &["--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let src = pair.source.snapshot("fay").unwrap();
    let tgt = pair.target.snapshot("fay").unwrap();
    // Both bodies, each once: the deleted copy's identity could not be vouched for, so it is copied again
    // rather than risk leaving the other body out.
    assert_eq!(
        tgt.folder("Work").unwrap().bodies_multiset(),
        src.folder("Work").unwrap().bodies_multiset(),
        "{}",
        text(&out)
    );
}

/// Sorted flags of each message of `folder`, by Message-ID.
fn flags_by_id(
    d: &ferry_testkit::Dovecot,
    user: &str,
    folder: &str,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut raw = d.connect(user).unwrap();
    raw.examine(folder).unwrap();
    let out = raw
        .fetch_all()
        .unwrap()
        .into_iter()
        .map(|m| {
            let id = ferry_core::fingerprint::parse_headers(&m.bytes)
                .message_id
                .unwrap_or_default();
            let mut f: Vec<String> = m
                .flags
                .into_iter()
                .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                .collect();
            f.sort();
            (id, f)
        })
        .collect();
    raw.logout();
    out
}

#[test]
fn flag_changes_on_the_source_reach_the_target_in_delta_and_final_passes_and_a_target_change_wins()
{
    let pair = Pair::start(opts(), opts(), &["fay"]);
    let plain: Vec<SeedMessage> = (0..6)
        .map(|i| SeedMessage::new(corpus::message(131, i, 2_000)))
        .collect();
    pair.source.seed("fay", "INBOX", &plain).unwrap();
    assert_eq!(code(&pair.migrate("fay", &[])), 0);

    // After the first copy: read, flagged + keyword, answered on the source; a user also marks the
    // third message as a draft on the target.
    let mut raw = pair.source.connect("fay").unwrap();
    raw.select("INBOX").unwrap();
    raw.run("UID STORE 1 +FLAGS.SILENT (\\Seen)").unwrap();
    raw.run("UID STORE 2 +FLAGS.SILENT (\\Flagged $Work)")
        .unwrap();
    raw.run("UID STORE 3 +FLAGS.SILENT (\\Answered)").unwrap();
    raw.logout();
    let mut raw = pair.target.connect("fay").unwrap();
    raw.select("INBOX").unwrap();
    raw.run("UID STORE 3 +FLAGS.SILENT (\\Draft)").unwrap();
    raw.logout();
    let before = pair.source.snapshot("fay").unwrap();

    let delta = pair.migrate("fay", &["--json"]);
    assert_eq!(code(&delta), 0, "{}", text(&delta));
    let j = json(&delta);
    assert_eq!(
        j["mailboxes"][0]["flags_updated"].as_u64(),
        Some(2),
        "{}",
        text(&delta)
    );
    assert_eq!(j["mailboxes"][0]["flag_conflicts"].as_u64(), Some(1));
    assert_eq!(
        pair.source.snapshot("fay").unwrap(),
        before,
        "the source changed"
    );
    let id = |i| corpus::message_id(131, i);
    let t = flags_by_id(&pair.target, "fay", "INBOX");
    assert_eq!(t[&id(0)], ["\\Seen"]);
    assert_eq!(t[&id(1)], ["$Work", "\\Flagged"]);
    // Both sides changed: the target's flags are kept.
    assert_eq!(t[&id(2)], ["\\Draft"]);

    // A change before cut-over reaches the target in the Final pass; a flag removed is removed.
    let mut raw = pair.source.connect("fay").unwrap();
    raw.select("INBOX").unwrap();
    raw.run("UID STORE 1 -FLAGS.SILENT (\\Seen)").unwrap();
    raw.run("UID STORE 5 +FLAGS.SILENT (\\Seen \\Flagged)")
        .unwrap();
    raw.logout();
    let fin = pair.migrate("fay", &["--final", "--json"]);
    assert_eq!(code(&fin), 0, "{}", text(&fin));
    assert_eq!(
        json(&fin)["mailboxes"][0]["flags_updated"].as_u64(),
        Some(2)
    );
    let t = flags_by_id(&pair.target, "fay", "INBOX");
    assert!(t[&id(0)].is_empty(), "{:?}", t[&id(0)]);
    assert_eq!(t[&id(4)], ["\\Flagged", "\\Seen"]);
    // Nothing else changed: a re-run finds nothing to do.
    assert_eq!(
        content(&pair.target.snapshot("fay").unwrap()).len(),
        content(&pair.source.snapshot("fay").unwrap()).len()
    );
}
