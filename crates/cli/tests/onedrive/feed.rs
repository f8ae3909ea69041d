//! Passes after the first into OneDrive: the drive's change feed names files edited on the target, and
//! when it cannot (its token expired — Graph's `410 Gone` — or more changes than it carries), the pass
//! compares every file with a listing of the target instead, so no change goes unnoticed.

use super::common::{code, ferry, ferry_command, json, text};
use super::{UPN, sample, target, write};
use ferry_testkit::graph::{DeltaResync, GraphEmulator, GraphOptions, ThrottleOptions};
use std::time::Duration;

/// A drive with the sample tree copied into `Imported` by a first `ferry files migrate --json` (exit 0),
/// ready for the passes a test makes after it.
struct FirstCopy {
    emu: GraphEmulator,
    drive: String,
    src: std::path::PathBuf,
    data: std::path::PathBuf,
    token: String,
    url: String,
    _dir: tempfile::TempDir,
}

impl FirstCopy {
    /// `options` is appended to the target URL (e.g. `&max_changes=2`).
    fn new(options: &str) -> FirstCopy {
        let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
        let drive = emu.add_user(UPN);
        let dir = tempfile::tempdir().unwrap();
        let (src, data) = (dir.path().join("src"), dir.path().join("data"));
        sample(&src);
        let token = emu.token();
        let url = format!("{}{options}", target(&emu, "Imported"));
        let first = FirstCopy {
            emu,
            drive,
            src,
            data,
            token,
            url,
            _dir: dir,
        };
        let out = ferry(&first.data, &first.args(), &first.env());
        assert_eq!(code(&out), 0, "{}", text(&out));
        first
    }

    fn env(&self) -> [(&str, &str); 1] {
        [("FERRY_TARGET_TOKEN", self.token.as_str())]
    }

    fn args(&self) -> [&str; 5] {
        let src = self.src.to_str().unwrap();
        ["files", "migrate", src, &self.url, "--json"]
    }
}

#[test]
fn a_file_edited_in_onedrive_between_passes_is_found_by_the_drives_change_feed_and_not_overwritten()
{
    let first = FirstCopy::new("");
    let FirstCopy {
        emu, drive, data, ..
    } = &first;
    let (env, args) = (first.env(), first.args());
    // Someone edits a copied file in OneDrive; its source does not change.
    emu.seed_file(drive, "Imported/a.txt", b"edited in OneDrive", None)
        .unwrap();
    let before = emu.stats().requests;
    let again = ferry(data, &args, &env);
    assert_eq!(code(&again), 1, "{}", text(&again));
    assert_eq!(counts(&again), (Some(0), Some(1)), "{}", text(&again));
    assert_eq!(
        emu.read_file(drive, "Imported/a.txt").unwrap(),
        b"edited in OneDrive"
    );
    // The feed (one page), one GET for the edited file's path, one listing of its folder, a new
    // feed link: no listing of the tree.
    let spent = emu.stats().requests - before;
    assert!(spent <= 8, "the re-run sent {spent} requests");
}

/// `(copied, skipped)` of a `--json` run.
fn counts(out: &std::process::Output) -> (Option<u64>, Option<u64>) {
    let j = json(out);
    (
        j["totals"]["copied"].as_u64(),
        j["totals"]["skipped"].as_u64(),
    )
}

#[test]
fn a_change_made_while_the_drives_change_feed_expired_is_still_found_and_a_new_feed_is_kept() {
    let first = FirstCopy::new("");
    let FirstCopy {
        emu,
        drive,
        src,
        data,
        ..
    } = &first;
    let (env, args) = (first.env(), first.args());
    // The service drops the feed's tokens (410 Gone, resyncChangesApplyDifferences); meanwhile a
    // copied file is edited in OneDrive (its source unchanged) and another one at the source.
    emu.expire_delta_tokens(drive, DeltaResync::ApplyDifferences);
    emu.seed_file(
        drive,
        "Imported/unicodé/日本語.txt",
        b"edited in OneDrive",
        None,
    )
    .unwrap();
    write(src, "with space/and #%& chars.txt", b"edited at the source");
    let again = ferry(data, &args, &env);
    assert_eq!(code(&again), 1, "{}", text(&again));
    // The target edit is found by the listing (reported, not overwritten); the source edit is copied.
    assert_eq!(counts(&again), (Some(1), Some(1)), "{}", text(&again));
    assert_eq!(
        emu.read_file(drive, "Imported/unicodé/日本語.txt").unwrap(),
        b"edited in OneDrive"
    );
    assert_eq!(
        emu.read_file(drive, "Imported/with space/and #%& chars.txt")
            .unwrap(),
        b"edited at the source"
    );
    // The pass kept a new feed link: the next pass reads the feed again instead of listing the tree
    // (resolve, one look at the root, the feed, the root folder of the file still skipped, a new link).
    let before = emu.stats().requests;
    let third = ferry(data, &args, &env);
    assert_eq!(counts(&third), (Some(0), Some(1)), "{}", text(&third));
    let spent = emu.stats().requests - before;
    assert!(
        spent <= 6,
        "the pass after the resync sent {spent} requests"
    );
}

#[test]
fn more_target_edits_than_the_feed_carries_are_all_found_by_listing() {
    // A feed limit of two changed files (5,000 by default).
    let first = FirstCopy::new("&max_changes=2");
    let FirstCopy {
        emu, drive, data, ..
    } = &first;
    let (env, args) = (first.env(), first.args());
    let edited = [
        "a.txt",
        "unicodé/日本語.txt",
        "with space/and #%& chars.txt",
    ];
    for rel in edited {
        emu.seed_file(
            drive,
            &format!("Imported/{rel}"),
            b"edited in OneDrive",
            None,
        )
        .unwrap();
    }
    let again = ferry(data, &args, &env);
    assert_eq!(code(&again), 1, "{}", text(&again));
    assert_eq!(counts(&again), (Some(0), Some(3)), "{}", text(&again));
    for rel in edited {
        assert_eq!(
            emu.read_file(drive, &format!("Imported/{rel}")).unwrap(),
            b"edited in OneDrive",
            "{rel}"
        );
    }
}

#[test]
fn a_file_edited_in_onedrive_while_a_pass_runs_is_found_by_the_next_pass_and_ferrys_own_writes_are_not()
 {
    let first = FirstCopy::new("");
    let FirstCopy {
        emu,
        drive,
        src,
        data,
        ..
    } = &first;
    let (env, args) = (first.env(), first.args());
    // The second pass copies a source change and, one file at a time, a large new file after it (many
    // upload fragments). A hook edits the first file in OneDrive as soon as Ferry has written it, while
    // the pass is still uploading.
    write(src, "a.txt", b"alpha, changed at the source");
    let big: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    write(src, "zz/big.bin", &big);
    let slow = [&args[..], &["--concurrency", "1"]].concat();
    // A budget of 10 requests a second on the drive makes the big file's ~20 fragments take seconds after
    // a.txt (Ferry waits out each 429's Retry-After), so the edit below lands while the pass runs however
    // slowly this machine schedules the test; the budget is lifted before the later passes count requests.
    emu.set_throttle(vec![ThrottleOptions::per_drive(10, Duration::from_secs(1))]);
    let mut child = ferry_command(data, &slow, &env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while emu.read_file(drive, "Imported/a.txt").as_deref()
        != Some(b"alpha, changed at the source".as_slice())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "Ferry never wrote a.txt"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    emu.seed_file(
        drive,
        "Imported/a.txt",
        b"edited in OneDrive mid-pass",
        None,
    )
    .unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the pass had already ended when the target was edited"
    );
    let second = child.wait_with_output().unwrap();
    emu.set_throttle(Vec::new());
    assert_eq!(code(&second), 0, "{}", text(&second));
    assert_eq!(counts(&second), (Some(2), Some(0)), "{}", text(&second));
    // The source stays as it is: the next pass finds the mid-pass edit in the feed and reports it (a
    // feed link taken when the pass ended would have missed it, and the unchanged source would not
    // have had it compared). Then the source changes: the edit is still not overwritten.
    let third = ferry(data, &args, &env);
    assert_eq!(code(&third), 1, "{}", text(&third));
    assert_eq!(counts(&third), (Some(0), Some(1)), "{}", text(&third));
    write(src, "a.txt", b"alpha, changed at the source again");
    let fourth = ferry(data, &args, &env);
    assert_eq!(code(&fourth), 1, "{}", text(&fourth));
    assert_eq!(counts(&fourth), (Some(0), Some(1)), "{}", text(&fourth));
    assert_eq!(
        emu.read_file(drive, "Imported/a.txt").unwrap(),
        b"edited in OneDrive mid-pass"
    );
    // A pass with nothing new after: the feed is empty (those passes wrote nothing); no listing of the
    // tree.
    let before = emu.stats().requests;
    let fifth = ferry(data, &args, &env);
    assert_eq!(counts(&fifth), (Some(0), Some(1)), "{}", text(&fifth));
    let spent = emu.stats().requests - before;
    assert!(spent <= 6, "the no-op pass sent {spent} requests");
}

#[test]
fn ferrys_own_writes_in_onedrive_are_not_reported_back_as_edits_by_the_drives_change_feed() {
    let first = FirstCopy::new("");
    let FirstCopy { emu, data, .. } = &first;
    let (env, args) = (first.env(), first.args());
    // The first pass's feed starts before its writes; the second pass reads every one of them back.
    // They are Ferry's own (the eTags it recorded): no GET per file, no listing of their folders.
    let before = emu.stats().requests;
    let again = ferry(data, &args, &env);
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert_eq!(counts(&again), (Some(0), Some(0)), "{}", text(&again));
    let spent = emu.stats().requests - before;
    assert!(spent <= 5, "the no-op pass sent {spent} requests");
}
