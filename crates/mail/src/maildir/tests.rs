//! Unit tests for the Maildir connector on hand-made trees (integration tests are in `tests/local.rs`).

use super::*;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, bytes)
}

#[tokio::test]
async fn dovecot_files_are_read_with_crlf_flags_keywords_and_new_without_flags() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    // Dovecot-style name with S= (LF file size) and W= (CRLF size).
    let msg = b"Message-ID: <a@x>\nSubject: hi\n\nbody\n";
    write(&root.join("cur/1000.M1P1.host,S=36,W=40:2,RSa"), msg)?;
    write(&root.join("new/1001.M1P1.host"), b"Subject: new\n\nx\n")?;
    write(&root.join("dovecot-keywords"), b"0 $Label1\n")?;
    fs::create_dir_all(root.join("tmp"))?;

    let mut md = MaildirConnector::open(root, Access::ReadOnly)?;
    let inbox = FolderPath::inbox();
    let status = md.folder_status(&inbox).await?;
    assert_eq!((status.messages, status.uid_next), (2, 3));
    let sums = md.summaries(&inbox, 1, 10).await?;
    assert_eq!(sums.len(), 2);
    assert_eq!(sums[0].flags, ["\\Answered", "\\Seen", "$Label1"]);
    assert_eq!(sums[0].size, 40);
    assert_eq!(sums[0].message_id.as_deref(), Some("a@x"));
    assert!(sums[1].flags.is_empty());
    let fetched = md.fetch(&inbox, &[1, 2, 3]).await?;
    assert_eq!(fetched.len(), 2);
    assert_eq!(
        fetched[0].bytes,
        b"Message-ID: <a@x>\r\nSubject: hi\r\n\r\nbody\r\n"
    );
    assert_eq!(fetched[1].bytes.len() as u64, sums[1].size);
    assert_eq!(md.search_message_id(&inbox, "<a@x>").await?, [1]);
    Ok(())
}

#[tokio::test]
async fn a_wrong_w_size_is_not_trusted_when_s_does_not_match_the_file() -> TestResult {
    let tmp = tempfile::tempdir()?;
    write(&tmp.path().join("cur/1.x,S=999,W=5:2,"), b"a\nb\n")?;
    let mut md = MaildirConnector::open(tmp.path(), Access::ReadOnly)?;
    let sums = md.summaries(&FolderPath::inbox(), 1, 10).await?;
    assert_eq!(sums[0].size, 6);
    Ok(())
}

#[tokio::test]
async fn a_message_renamed_after_listing_is_still_fetched_under_its_uid() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    write(&root.join("new/1.a"), b"Subject: one\n\n1\n")?;
    write(&root.join("new/2.b"), b"Subject: two\n\n2\n")?;
    fs::create_dir_all(root.join("cur"))?;
    let mut md = MaildirConnector::open(root, Access::ReadOnly)?;
    let inbox = FolderPath::inbox();
    let before = md.folder_status(&inbox).await?;
    // A mail client reads message 2: new/ → cur/ with \Seen.
    fs::rename(root.join("new/2.b"), root.join("cur/2.b:2,S"))?;
    let fetched = md.fetch(&inbox, &[2]).await?;
    assert_eq!(fetched[0].bytes, b"Subject: two\r\n\r\n2\r\n");
    let sums = md.summaries(&inbox, 1, 10).await?;
    assert_eq!(sums[1].flags, ["\\Seen"]);
    assert_eq!(
        md.folder_status(&inbox).await?.uid_validity,
        before.uid_validity
    );
    Ok(())
}

#[tokio::test]
async fn read_only_open_of_a_missing_or_non_maildir_root_fails_clearly() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let missing = tmp.path().join("nope");
    let err = MaildirConnector::open(&missing, Access::ReadOnly)
        .err()
        .ok_or("opened a missing dir")?;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(!missing.exists());
    fs::write(tmp.path().join("junk.txt"), b"x")?;
    let err = MaildirConnector::open(tmp.path(), Access::ReadOnly)
        .err()
        .ok_or("opened a non-Maildir")?;
    assert_eq!(err.kind(), ErrorKind::Config);
    Ok(())
}

#[tokio::test]
async fn folder_status_of_a_missing_or_non_selectable_folder_is_not_found() -> TestResult {
    let tmp = tempfile::tempdir()?;
    fs::create_dir_all(tmp.path().join(".A.B/cur"))?;
    let mut md = MaildirConnector::open(tmp.path(), Access::ReadOnly)?;
    let folders = md.list_folders().await?;
    let names: Vec<(String, bool)> = folders
        .iter()
        .map(|f| (f.path.to_string(), f.selectable))
        .collect();
    assert_eq!(
        names,
        [
            ("INBOX".into(), true),
            ("A".into(), false),
            ("A/B".into(), true)
        ]
    );
    for missing in ["A", "Nope"] {
        let err = md
            .folder_status(&FolderPath::parse(missing, '/'))
            .await
            .err()
            .ok_or("status of missing")?;
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
    Ok(())
}

#[tokio::test]
async fn set_flags_renames_the_info_part_keeps_uids_and_a_source_refuses_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    write(&root.join("cur/1000.M1P1.host:2,S"), b"Subject: a\n\nx\n")?;
    write(&root.join("new/1001.M1P1.host"), b"Subject: b\n\ny\n")?;
    let inbox = FolderPath::inbox();
    let flags = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();

    let mut src = MaildirConnector::open(root, Access::ReadOnly)?;
    assert!(!src.capability().set_flags);
    assert!(
        src.set_flags(&inbox, &[1], &flags(&["\\Flagged"]))
            .await
            .is_err()
    );

    let mut md = MaildirConnector::open(root, Access::ReadWrite)?;
    assert!(md.capability().set_flags);
    let before = md.folder_status(&inbox).await?;
    md.set_flags(&inbox, &[1, 2], &flags(&["\\Flagged", "Work"]))
        .await?;
    let now = md.flags(&inbox, None).await?;
    assert_eq!(now.len(), 2);
    assert_eq!(now[0].flags, ["\\Flagged", "Work"]);
    assert_eq!(now[1].flags, ["\\Flagged", "Work"]);
    // Unique names stay, so the uids stay.
    assert_eq!(
        md.folder_status(&inbox).await?.uid_validity,
        before.uid_validity
    );
    md.set_flags(&inbox, &[1], &[]).await?;
    assert!(md.flags(&inbox, None).await?[0].flags.is_empty());
    Ok(())
}
