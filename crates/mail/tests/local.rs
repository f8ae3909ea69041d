//! Integration tests of the local connectors (Maildir, mbox) and the quickstart sample, through the public
//! `MailConnector` contract only. One binary, topic modules.

use ferry_core::ErrorKind;
use ferry_core::folder::{FolderPath, SpecialUse};
use ferry_core::mail::{Access, AppendRequest, MailConnector};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn folder(s: &str) -> FolderPath {
    FolderPath::parse(s, '/')
}

fn date(s: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, chrono::ParseError> {
    chrono::DateTime::parse_from_rfc3339(s)
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Relative path → (is a directory, bytes, mtime).
type TreeFingerprint = BTreeMap<String, (bool, Vec<u8>, Option<SystemTime>)>;

/// Everything observable about a directory tree: each entry's relative path, kind, bytes and mtime
/// (directories too, so a created or removed entry shows as a changed parent mtime as well).
fn tree_fingerprint(root: &Path) -> std::io::Result<TreeFingerprint> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let meta = fs::metadata(&dir)?;
        let rel = dir
            .strip_prefix(root)
            .unwrap_or(&dir)
            .to_string_lossy()
            .into_owned();
        out.insert(rel, (true, Vec::new(), meta.modified().ok()));
        for item in fs::read_dir(&dir)? {
            let path = item?.path();
            let meta = fs::metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, (false, fs::read(&path)?, meta.modified().ok()));
            }
        }
    }
    Ok(out)
}

/// Read everything a source pass would read, and try every write.
async fn exercise_as_source(conn: &mut dyn MailConnector) -> TestResult {
    for f in conn.list_folders().await? {
        if !f.selectable {
            continue;
        }
        let status = conn.folder_status(&f.path).await?;
        let sums = conn.summaries(&f.path, 1, u32::MAX).await?;
        let uids: Vec<u32> = sums.iter().map(|s| s.uid).collect();
        let fetched = conn.fetch(&f.path, &uids).await?;
        assert_eq!(fetched.len() as u32, status.messages);
        for s in &sums {
            if let Some(id) = &s.message_id {
                assert!(conn.search_message_id(&f.path, id).await?.contains(&s.uid));
            }
        }
        let err = conn
            .create_folder(&f.path, None)
            .await
            .err()
            .ok_or("create_folder on a source")?;
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let flags = strings(&["\\Seen"]);
        let req = AppendRequest {
            bytes: b"Subject: x\r\n\r\nx\r\n",
            flags: &flags,
            internal_date: None,
        };
        let err = conn
            .append(&f.path, &[req])
            .await
            .err()
            .ok_or("append on a source")?;
        assert_eq!(err.kind(), ErrorKind::Unsupported);
    }
    conn.close().await?;
    Ok(())
}

mod maildir {
    use super::*;
    use ferry_mail::maildir::MaildirConnector;

    fn msg(i: usize) -> Vec<u8> {
        format!("Message-ID: <m{i}@test>\r\nSubject: message {i}\r\nFrom: a@b\r\n\r\nbody {i}\r\nline two\r\n")
            .into_bytes()
    }

    #[tokio::test]
    async fn appended_messages_fetch_back_byte_for_byte_with_flags_keywords_and_dates() -> TestResult
    {
        let tmp = tempfile::tempdir()?;
        let mut md = MaildirConnector::open(tmp.path(), Access::ReadWrite)?;
        let caps = md.capability();
        assert!(
            caps.append
                && caps.keywords
                && caps.internal_date
                && !caps.append_uid
                && !caps.special_use
        );
        let inbox = FolderPath::inbox();
        let bytes = [
            msg(1),
            msg(2),
            b"Subject: no id\r\n\r\n\r\n".to_vec(),
            Vec::new(),
        ];
        let flags = [
            strings(&["\\Seen", "$Label1"]),
            strings(&["\\Flagged", "\\Answered", "Work", "\\Draft", "\\Deleted"]),
            strings(&[]),
            strings(&["\\Seen"]),
        ];
        let dates = [
            Some(date("2023-03-04T05:06:07+00:00")?),
            Some(date("1999-12-31T23:59:59+02:00")?),
            None,
            None,
        ];
        let reqs: Vec<AppendRequest<'_>> = (0..4)
            .map(|i| AppendRequest {
                bytes: &bytes[i],
                flags: &flags[i],
                internal_date: dates[i],
            })
            .collect();
        let results = md.append(&inbox, &reqs).await?;
        assert_eq!(results.len(), 4);
        for r in results {
            assert_eq!(r?, None);
        }

        let status = md.folder_status(&inbox).await?;
        assert_eq!((status.messages, status.uid_next), (4, 5));
        let sums = md.summaries(&inbox, 1, 10).await?;
        let fetched = md.fetch(&inbox, &[1, 2, 3, 4]).await?;
        for i in 0..4 {
            assert_eq!(fetched[i].bytes, bytes[i], "bytes of message {i}");
            assert_eq!(sums[i].size, bytes[i].len() as u64);
            let mut want = flags[i].clone();
            want.sort();
            let mut got = sums[i].flags.clone();
            got.sort();
            assert_eq!(got, want, "flags of message {i}");
            if let Some(d) = dates[i] {
                assert_eq!(
                    sums[i].internal_date.map(|t| t.timestamp()),
                    Some(d.timestamp())
                );
            }
            assert_eq!(
                sums[i].fingerprint,
                ferry_core::fingerprint::fingerprint_message(&bytes[i])
            );
        }
        assert_eq!(sums[0].message_id.as_deref(), Some("m1@test"));
        assert_eq!(md.search_message_id(&inbox, "m2@test").await?, [2]);
        assert_eq!(md.search_message_id(&inbox, "<m2@test>").await?, [2]);
        assert!(md.search_message_id(&inbox, "nope@test").await?.is_empty());
        // Keywords are in Dovecot's table, with a letter each.
        let table = fs::read_to_string(tmp.path().join("dovecot-keywords"))?;
        assert_eq!(table, "0 $Label1\n1 Work\n");
        // No leftovers in tmp/.
        assert_eq!(fs::read_dir(tmp.path().join("tmp"))?.count(), 0);
        Ok(())
    }

    #[tokio::test]
    async fn nested_and_non_ascii_folders_round_trip_with_non_selectable_parents() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let mut md = MaildirConnector::open(tmp.path(), Access::ReadWrite)?;
        let names = [
            "Archive/2023",
            "Données clients",
            "日本語/子",
            "Sent",
            "A&B",
            "INBOX/Sub",
        ];
        for n in names {
            md.create_folder(&folder(n), None).await?;
            md.create_folder(&folder(n), None).await?; // existing is fine
            let flags = strings(&["\\Seen"]);
            let m = msg(n.len());
            md.append(
                &folder(n),
                &[AppendRequest {
                    bytes: &m,
                    flags: &flags,
                    internal_date: None,
                }],
            )
            .await?;
        }
        assert!(tmp.path().join(".Donn&AOk-es clients/cur").is_dir());
        assert!(tmp.path().join(".&ZeVnLIqe-.&W1A-/cur").is_dir());
        let listed: Vec<(String, bool, Option<SpecialUse>)> = md
            .list_folders()
            .await?
            .into_iter()
            .map(|f| (f.path.to_string(), f.selectable, f.special_use))
            .collect();
        let want = [
            ("INBOX", true, None),
            ("A&B", true, None),
            ("Archive", false, Some(SpecialUse::Archive)),
            ("Archive/2023", true, None),
            ("Données clients", true, None),
            ("INBOX/Sub", true, None),
            ("Sent", true, Some(SpecialUse::Sent)),
            ("日本語", false, None),
            ("日本語/子", true, None),
        ];
        let want: Vec<(String, bool, Option<SpecialUse>)> = want
            .iter()
            .map(|(n, s, u)| ((*n).to_owned(), *s, *u))
            .collect();
        assert_eq!(listed, want);
        for n in names {
            assert_eq!(md.folder_status(&folder(n)).await?.messages, 1, "{n}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn summaries_page_through_25_messages_ten_at_a_time() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let mut md = MaildirConnector::open(tmp.path(), Access::ReadWrite)?;
        let inbox = FolderPath::inbox();
        let bytes: Vec<Vec<u8>> = (0..25).map(msg).collect();
        let flags = Vec::new();
        let reqs: Vec<AppendRequest<'_>> = bytes
            .iter()
            .map(|b| AppendRequest {
                bytes: b,
                flags: &flags,
                internal_date: None,
            })
            .collect();
        md.append(&inbox, &reqs).await?;
        md.folder_status(&inbox).await?;
        let mut uid_from = 1;
        let mut pages = Vec::new();
        loop {
            let page = md.summaries(&inbox, uid_from, 10).await?;
            if page.is_empty() {
                break;
            }
            pages.push(page.len());
            let uids: Vec<u32> = page.iter().map(|s| s.uid).collect();
            assert!(uids.windows(2).all(|w| w[0] < w[1]) && uids[0] >= uid_from);
            uid_from = uids[uids.len() - 1] + 1;
        }
        assert_eq!(pages, [10, 10, 5]);
        assert!(md.summaries(&inbox, 1, 0).await?.is_empty());
        // Appended in order, so the unique names sort in append order: uid n is message n-1.
        let all = md.fetch(&inbox, &(1..=25).collect::<Vec<_>>()).await?;
        assert!(all.iter().zip(&bytes).all(|(f, b)| &f.bytes == b));
        Ok(())
    }

    #[tokio::test]
    async fn uid_validity_changes_when_a_message_is_added_or_removed_but_not_on_a_flag_change()
    -> TestResult {
        let tmp = tempfile::tempdir()?;
        let mut md = MaildirConnector::open(tmp.path(), Access::ReadWrite)?;
        let inbox = FolderPath::inbox();
        let (a, b) = (msg(1), msg(2));
        let none = Vec::new();
        md.append(
            &inbox,
            &[AppendRequest {
                bytes: &a,
                flags: &none,
                internal_date: None,
            }],
        )
        .await?;
        let v1 = md.folder_status(&inbox).await?.uid_validity;
        assert_eq!(
            md.folder_status(&inbox).await?.uid_validity,
            v1,
            "stable when nothing changed"
        );
        md.append(
            &inbox,
            &[AppendRequest {
                bytes: &b,
                flags: &none,
                internal_date: None,
            }],
        )
        .await?;
        let v2 = md.folder_status(&inbox).await?.uid_validity;
        assert_ne!(v1, v2);
        // Someone else changes flags (a rename keeping the unique name): same uids.
        let cur = tmp.path().join("cur");
        let names: Vec<_> = fs::read_dir(&cur)?.collect::<Result<Vec<_>, _>>()?;
        let first = names
            .iter()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .min()
            .ok_or("no file")?;
        let renamed = first.replace(":2,", ":2,S");
        fs::rename(cur.join(&first), cur.join(&renamed))?;
        assert_eq!(md.folder_status(&inbox).await?.uid_validity, v2);
        // Someone else deletes it: re-keyed.
        fs::remove_file(cur.join(&renamed))?;
        let v3 = md.folder_status(&inbox).await?;
        assert_ne!(v3.uid_validity, v2);
        assert_ne!(v3.uid_validity, v1);
        assert_eq!(v3.messages, 1);
        // A message delivered by someone else (new/) is seen by the next status.
        fs::write(
            tmp.path().join("new/0000000001.delivered"),
            b"Subject: d\n\nx\n",
        )?;
        let v4 = md.folder_status(&inbox).await?;
        assert_eq!(v4.messages, 2);
        assert_ne!(v4.uid_validity, v3.uid_validity);
        Ok(())
    }

    #[tokio::test]
    async fn a_read_only_source_refuses_writes_and_leaves_the_tree_byte_and_mtime_identical()
    -> TestResult {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        // A hand-made Dovecot tree: no tmp/ anywhere, a message in new/, keywords, a folder whose parent
        // does not exist.
        fs::create_dir_all(root.join("cur"))?;
        fs::create_dir_all(root.join("new"))?;
        fs::write(
            root.join("cur/100.M1P1.host,S=38,W=41:2,Sa"),
            b"Message-ID: <x@y>\nSubject: a\n\nbody\n",
        )?;
        fs::write(
            root.join("new/101.M1P1.host"),
            b"Subject: unread\n\nnot yet seen\n",
        )?;
        fs::write(root.join("dovecot-keywords"), b"0 Work\n")?;
        fs::create_dir_all(root.join(".Archive.2023/cur"))?;
        fs::write(
            root.join(".Archive.2023/cur/200.x:2,RS"),
            b"Subject: old\n\nold\n",
        )?;
        fs::create_dir_all(root.join(".Sent/new"))?;
        fs::create_dir_all(root.join(".Sent/cur"))?;
        let before = tree_fingerprint(root)?;

        let mut md = MaildirConnector::open(root, Access::ReadOnly)?;
        assert!(!md.capability().append);
        exercise_as_source(&mut md).await?;
        let err = md
            .create_folder(&folder("Brand new"), None)
            .await
            .err()
            .ok_or("created a folder")?;
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        drop(md);

        assert_eq!(
            tree_fingerprint(root)?,
            before,
            "the read-only source changed"
        );
        Ok(())
    }

    #[tokio::test]
    async fn append_to_a_missing_folder_is_not_found_and_creates_nothing() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let mut md = MaildirConnector::open(tmp.path(), Access::ReadWrite)?;
        let m = msg(1);
        let none = Vec::new();
        let err = md
            .append(
                &folder("Missing"),
                &[AppendRequest {
                    bytes: &m,
                    flags: &none,
                    internal_date: None,
                }],
            )
            .await
            .err()
            .ok_or("appended to a missing folder")?;
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(!tmp.path().join(".Missing").exists());
        Ok(())
    }

    #[tokio::test]
    async fn a_folder_name_with_a_dot_is_written_with_an_underscore() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let mut md = MaildirConnector::open(tmp.path(), Access::ReadWrite)?;
        md.create_folder(&FolderPath(vec!["v1.2".into()]), None)
            .await?;
        assert!(tmp.path().join(".v1_2/cur").is_dir());
        let names: Vec<String> = md
            .list_folders()
            .await?
            .into_iter()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(names, ["INBOX", "v1_2"]);
        Ok(())
    }

    #[tokio::test]
    async fn the_27th_keyword_of_a_folder_is_dropped_and_the_message_kept() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let mut md = MaildirConnector::open(tmp.path(), Access::ReadWrite)?;
        let inbox = FolderPath::inbox();
        let many: Vec<String> = (0..27).map(|i| format!("kw{i:02}")).collect();
        let m = msg(1);
        let r = md
            .append(
                &inbox,
                &[AppendRequest {
                    bytes: &m,
                    flags: &many,
                    internal_date: None,
                }],
            )
            .await?;
        assert!(r[0].is_ok());
        let sums = md.summaries(&inbox, 1, 10).await?;
        assert_eq!(sums[0].flags.len(), 26);
        assert!(!sums[0].flags.contains(&"kw26".to_owned()));
        Ok(())
    }

    #[tokio::test]
    async fn a_missing_read_only_root_is_not_found_and_is_not_created() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("alice");
        let err = MaildirConnector::open(&path, Access::ReadOnly)
            .err()
            .ok_or("opened")?;
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("alice"), "{err}");
        assert!(!path.exists());
        MaildirConnector::open(&path, Access::ReadWrite)?;
        assert!(
            path.join("cur").is_dir() && path.join("new").is_dir() && path.join("tmp").is_dir()
        );
        Ok(())
    }
}

mod mbox {
    use super::*;
    use ferry_mail::mbox::MboxConnector;

    const MBOX: &[u8] = b"From alice@example.com Mon Jan  1 10:00:00 2024\n\
Message-ID: <one@x>\n\
Subject: first\n\
Status: RO\n\
X-Status: AF\n\
X-Keywords: $Label1 Work\n\
\n\
Hello\n\
>From the escaped line\n\
>>From doubly escaped\n\
\n\
From bob@example.com Tue Feb 13 14:15:16 2024 +0100\n\
Message-ID: <two@x>\n\
Subject: second\n\
X-Status: T\n\
\n\
Second body\n\
\n\
From carol@example.com Thu Mar 14 09:00:00 2024\n\
Subject: third, no id\n\
X-Mozilla-Status: 0001\n\
X-Mozilla-Keys: later\n\
\n\
Third\n\
\n";

    #[tokio::test]
    async fn a_multi_message_file_is_one_inbox_with_dates_flags_and_unescaped_crlf_bytes()
    -> TestResult {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("mail.mbox");
        fs::write(&path, MBOX)?;
        let mut mb = MboxConnector::open(&path, Access::ReadOnly)?;
        let caps = mb.capability();
        assert!(!caps.append && caps.search_message_id);
        let folders = mb.list_folders().await?;
        assert_eq!(folders.len(), 1);
        assert!(folders[0].path.is_inbox());
        let inbox = FolderPath::inbox();
        let status = mb.folder_status(&inbox).await?;
        assert_eq!((status.messages, status.uid_next), (3, 4));
        let sums = mb.summaries(&inbox, 1, 100).await?;
        assert_eq!(
            sums[0].flags,
            ["\\Seen", "\\Answered", "\\Flagged", "$Label1", "Work"]
        );
        assert_eq!(sums[1].flags, ["\\Draft"]);
        assert_eq!(sums[2].flags, ["\\Seen", "later"]);
        assert_eq!(
            sums[0].internal_date,
            Some(date("2024-01-01T10:00:00+00:00")?)
        );
        assert_eq!(
            sums[1].internal_date,
            Some(date("2024-02-13T14:15:16+01:00")?)
        );
        assert_eq!(sums[2].message_id, None);
        let fetched = mb.fetch(&inbox, &[1, 2, 3, 4]).await?;
        assert_eq!(fetched.len(), 3);
        assert_eq!(
            fetched[0].bytes,
            b"Message-ID: <one@x>\r\nSubject: first\r\nStatus: RO\r\nX-Status: AF\r\nX-Keywords: $Label1 Work\r\n\r\n\
Hello\r\nFrom the escaped line\r\n>From doubly escaped\r\n"
        );
        assert_eq!(fetched[2].bytes, b"Subject: third, no id\r\nX-Mozilla-Status: 0001\r\nX-Mozilla-Keys: later\r\n\r\nThird\r\n");
        for (f, s) in fetched.iter().zip(&sums) {
            assert_eq!(f.bytes.len() as u64, s.size);
            assert_eq!(
                s.fingerprint,
                ferry_core::fingerprint::fingerprint_message(&f.bytes)
            );
        }
        assert_eq!(mb.fetch(&inbox, &[2]).await?[0].uid, 2);
        assert_eq!(mb.search_message_id(&inbox, "<two@x>").await?, [2]);
        assert_eq!(mb.summaries(&inbox, 3, 10).await?.len(), 1);
        assert!(mb.summaries(&inbox, 4, 10).await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_directory_tree_maps_files_sbd_dirs_and_skips_junk() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        fs::write(root.join("Inbox"), MBOX)?;
        fs::write(
            root.join("Inbox.msf"),
            b"// <!-- <mdb:mork:z v=\"1.4\"/> -->",
        )?;
        fs::write(root.join(".DS_Store"), [0u8, 0, 0, 1, 66, 117, 100, 49])?;
        fs::write(root.join("Sent"), b"")?;
        fs::create_dir_all(root.join("Archive.sbd"))?;
        fs::write(root.join("Archive.sbd/2023"), MBOX)?;
        fs::write(root.join("Archive.sbd/2023.msf"), b"junk")?;
        fs::create_dir_all(root.join("Projects.mbox"))?;
        fs::write(root.join("Projects.mbox/mbox"), MBOX)?;
        fs::write(root.join("Projects.mbox/Info.plist"), b"<?xml?>")?;
        fs::write(root.join("Données"), MBOX)?;

        let mut mb = MboxConnector::open(root, Access::ReadOnly)?;
        let listed: Vec<(String, bool)> = mb
            .list_folders()
            .await?
            .into_iter()
            .map(|f| (f.path.to_string(), f.selectable))
            .collect();
        let want: Vec<(String, bool)> = [
            ("INBOX", true),
            ("Archive", false),
            ("Archive/2023", true),
            ("Données", true),
            ("Projects", true),
            ("Sent", true),
        ]
        .iter()
        .map(|(n, s)| ((*n).to_owned(), *s))
        .collect();
        assert_eq!(listed, want);
        assert_eq!(mb.folder_status(&folder("Sent")).await?.messages, 0);
        assert_eq!(mb.folder_status(&folder("Archive/2023")).await?.messages, 3);
        assert_eq!(mb.folder_status(&folder("Projects")).await?.messages, 3);
        let err = mb
            .folder_status(&folder("Archive"))
            .await
            .err()
            .ok_or("status of a parent")?;
        assert_eq!(err.kind(), ErrorKind::NotFound);
        Ok(())
    }

    #[tokio::test]
    async fn a_file_with_junk_before_the_first_from_line_is_read_best_effort() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("odd");
        fs::write(&path, b"Subject: orphan\n\nno From_ line\n\nFrom x Mon Jan  1 00:00:00 2024\nSubject: real\n\nr\n")?;
        let mut mb = MboxConnector::open(&path, Access::ReadOnly)?;
        let sums = mb.summaries(&FolderPath::inbox(), 1, 10).await?;
        assert_eq!(sums.len(), 2);
        assert_eq!(sums[0].internal_date, None);
        let fetched = mb.fetch(&FolderPath::inbox(), &[1]).await?;
        assert_eq!(
            fetched[0].bytes,
            b"Subject: orphan\r\n\r\nno From_ line\r\n"
        );
        // Pure binary junk: no panic, a result either way.
        let junk = tmp.path().join("junk");
        fs::write(
            &junk,
            (0..100_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect::<Vec<_>>(),
        )?;
        let mut mb = MboxConnector::open(&junk, Access::ReadOnly)?;
        let _ = mb.folder_status(&FolderPath::inbox()).await;
        // CR-only: a clear error.
        let cr = tmp.path().join("cr");
        fs::write(
            &cr,
            b"From x Mon Jan  1 00:00:00 2024\rSubject: mac\r\rbody\r",
        )?;
        let mut mb = MboxConnector::open(&cr, Access::ReadOnly)?;
        let err = mb
            .folder_status(&FolderPath::inbox())
            .await
            .err()
            .ok_or("indexed a CR-only file")?;
        assert!(err.to_string().contains("CR-only"), "{err}");
        Ok(())
    }

    #[tokio::test]
    async fn uid_validity_changes_when_the_file_changes_and_stale_uids_are_left_out() -> TestResult
    {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("inbox");
        fs::write(&path, MBOX)?;
        let mut mb = MboxConnector::open(&path, Access::ReadOnly)?;
        let inbox = FolderPath::inbox();
        let v1 = mb.folder_status(&inbox).await?.uid_validity;
        assert_eq!(mb.folder_status(&inbox).await?.uid_validity, v1);
        // A mail client expunges the first message (rewrites the file).
        let second = MBOX
            .windows(9)
            .position(|w| w == b"From bob@")
            .ok_or("no second message")?;
        fs::write(&path, &MBOX[second..])?;
        // The uids the caller holds refer to the old file: uid 1 (was "first") is now another message.
        let fetched = mb.fetch(&inbox, &[1, 2]).await?;
        assert!(
            fetched.is_empty(),
            "stale uids must not return other messages: {fetched:?}"
        );
        let status = mb.folder_status(&inbox).await?;
        assert_ne!(status.uid_validity, v1);
        assert_eq!(status.messages, 2);
        Ok(())
    }

    #[tokio::test]
    async fn an_mbox_source_is_never_changed_and_refuses_writes() -> TestResult {
        let tmp = tempfile::tempdir()?;
        fs::write(tmp.path().join("Inbox"), MBOX)?;
        fs::create_dir_all(tmp.path().join("Work.sbd"))?;
        fs::write(tmp.path().join("Work.sbd/Clients"), MBOX)?;
        let before = tree_fingerprint(tmp.path())?;
        for access in [Access::ReadOnly, Access::ReadWrite] {
            let mut mb = MboxConnector::open(tmp.path(), access)?;
            exercise_as_source(&mut mb).await?;
        }
        assert_eq!(tree_fingerprint(tmp.path())?, before);
        let missing = MboxConnector::open(&tmp.path().join("nope"), Access::ReadOnly)
            .err()
            .ok_or("opened")?;
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        Ok(())
    }
}

mod sample {
    use super::*;
    use ferry_mail::maildir::MaildirConnector;
    use ferry_mail::sample::write_sample_maildir;

    #[tokio::test]
    async fn the_sample_has_every_promised_feature_and_reads_back_as_reported() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path().join("sample");
        let info = write_sample_maildir(&root).await?;
        let counts: Vec<(String, bool, u32)> = info
            .folders
            .iter()
            .map(|f| (f.path.to_string(), f.selectable, f.messages))
            .collect();
        assert_eq!(counts[0], ("INBOX".to_owned(), true, 15));
        assert!(counts.contains(&("Archive".to_owned(), false, 0)));
        for name in [
            "Sent",
            "Drafts",
            "Archive/2023",
            "Archive/2024",
            "Données clients",
            "日本語",
        ] {
            assert!(
                counts.iter().any(|(n, s, c)| n == name && *s && *c > 0),
                "{name} missing: {counts:?}"
            );
        }
        let before = tree_fingerprint(&root)?;

        // Read it back as a source: folders, roles and counts match the report.
        let mut md = MaildirConnector::open(&root, Access::ReadOnly)?;
        let listed = md.list_folders().await?;
        assert_eq!(listed.len(), info.folders.len());
        let role = |n: &str| {
            listed
                .iter()
                .find(|f| f.path.to_string() == n)
                .and_then(|f| f.special_use)
        };
        assert_eq!(role("Sent"), Some(SpecialUse::Sent));
        assert_eq!(role("Drafts"), Some(SpecialUse::Drafts));
        assert!(
            listed
                .iter()
                .any(|f| f.path == folder("Archive") && !f.selectable)
        );

        let mut total = 0;
        let mut bytes = 0;
        let mut keywords = std::collections::BTreeSet::new();
        let mut years = std::collections::BTreeSet::new();
        for f in info.folders.iter().filter(|f| f.selectable) {
            let sums = md.summaries(&f.path, 1, 1000).await?;
            assert_eq!(sums.len() as u32, f.messages, "{}", f.path);
            total += sums.len() as u32;
            bytes += sums.iter().map(|s| s.size).sum::<u64>();
            for s in &sums {
                keywords.extend(s.flags.iter().filter(|f| !f.starts_with('\\')).cloned());
                years.extend(s.internal_date.map(|d| d.format("%Y").to_string()));
            }
        }
        assert_eq!((total, bytes), (info.messages, info.bytes));
        assert_eq!(
            keywords.into_iter().collect::<Vec<_>>(),
            ["$Label1", "Work"]
        );
        assert_eq!(years.into_iter().collect::<Vec<_>>(), ["2023", "2024"]);

        let inbox = FolderPath::inbox();
        let sums = md.summaries(&inbox, 1, 100).await?;
        let all = md
            .fetch(&inbox, &sums.iter().map(|s| s.uid).collect::<Vec<_>>())
            .await?;
        let mut seen: BTreeMap<&[u8], usize> = BTreeMap::new();
        for m in &all {
            *seen.entry(&m.bytes).or_default() += 1;
        }
        assert_eq!(
            seen.values().filter(|&&n| n == 2).count(),
            1,
            "exactly one byte-identical pair"
        );
        assert_eq!(
            sums.iter().filter(|s| s.message_id.is_none()).count(),
            1,
            "one message without Message-ID"
        );
        let big = all.iter().map(|m| m.bytes.len()).max().unwrap_or(0);
        assert!(
            (1_000_000..1_200_000).contains(&big),
            "largest message is {big} bytes"
        );
        let drafts = md.summaries(&folder("Drafts"), 1, 10).await?;
        assert!(
            drafts
                .iter()
                .all(|s| s.flags.contains(&"\\Draft".to_owned()))
        );
        md.close().await?;
        assert_eq!(
            tree_fingerprint(&root)?,
            before,
            "reading the sample changed it"
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_sample_is_written_only_into_an_empty_directory_and_is_deterministic() -> TestResult
    {
        let tmp = tempfile::tempdir()?;
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let (ia, ib) = (
            write_sample_maildir(&a).await?,
            write_sample_maildir(&b).await?,
        );
        assert_eq!(
            (ia.folders, ia.messages, ia.bytes),
            (ib.folders, ib.messages, ib.bytes)
        );
        let err = write_sample_maildir(&a)
            .await
            .err()
            .ok_or("wrote a second sample over the first")?;
        assert_eq!(err.kind(), ErrorKind::Config);
        // Same contents in both (file names differ by design).
        let (mut ma, mut mb) = (
            MaildirConnector::open(&a, Access::ReadOnly)?,
            MaildirConnector::open(&b, Access::ReadOnly)?,
        );
        for f in ma
            .list_folders()
            .await?
            .into_iter()
            .filter(|f| f.selectable)
        {
            let sa = ma.summaries(&f.path, 1, 100).await?;
            let sb = mb.summaries(&f.path, 1, 100).await?;
            let fa: Vec<_> = sa
                .iter()
                .map(|s| (&s.fingerprint, &s.flags, s.internal_date))
                .collect();
            let fb: Vec<_> = sb
                .iter()
                .map(|s| (&s.fingerprint, &s.flags, s.internal_date))
                .collect();
            assert_eq!(fa, fb, "{}", f.path);
        }
        Ok(())
    }
}

/// Interoperability with a real Dovecot (Maildir++, `.` separator) on the same directory: what Dovecot
/// serves over IMAP and what the connector reads must be the same mail.
mod dovecot {
    use super::*;
    use ferry_mail::maildir::MaildirConnector;
    use ferry_testkit::corpus;
    use ferry_testkit::dovecot::{Dovecot, DovecotOptions};
    use ferry_testkit::snapshot::{ContentKey, sha256_hex};

    type Content = BTreeMap<FolderPath, BTreeMap<ContentKey, usize>>;

    fn start() -> std::io::Result<Dovecot> {
        let server = Dovecot::start(DovecotOptions {
            separator: '.',
            special_use: false,
            fsync: false,
            max_mail_size: None,
            oauth2_hs256_key: None,
            multiappend: true,
        })?;
        server.add_user("alice", "pw")?;
        Ok(server)
    }

    /// The same shape as `MailboxSnapshot::content`, read through the connector.
    async fn content_via_connector(
        md: &mut MaildirConnector,
    ) -> Result<Content, Box<dyn std::error::Error>> {
        let mut out = BTreeMap::new();
        for f in md
            .list_folders()
            .await?
            .into_iter()
            .filter(|f| f.selectable)
        {
            let sums = md.summaries(&f.path, 1, u32::MAX).await?;
            let uids: Vec<u32> = sums.iter().map(|s| s.uid).collect();
            let fetched = md.fetch(&f.path, &uids).await?;
            assert_eq!(fetched.len(), sums.len());
            let mut keys: BTreeMap<ContentKey, usize> = BTreeMap::new();
            for (s, m) in sums.iter().zip(&fetched) {
                assert_eq!(s.size, m.bytes.len() as u64, "{} uid {}", f.path, s.uid);
                assert_eq!(
                    s.fingerprint,
                    ferry_core::fingerprint::fingerprint_message(&m.bytes)
                );
                let mut flags = s.flags.clone();
                flags.sort();
                let key = ContentKey {
                    sha256: sha256_hex(&m.bytes),
                    flags,
                    internal_date_unix: s.internal_date.map(|d| d.timestamp()),
                };
                *keys.entry(key).or_default() += 1;
            }
            out.insert(f.path, keys);
        }
        Ok(out)
    }

    /// Give a tree written by this (root) test to the user Dovecot runs the mail processes as.
    fn chown_like(root: &Path, owner_of: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(owner_of)?;
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            std::os::unix::fs::chown(&p, Some(meta.uid()), Some(meta.gid()))?;
            if fs::metadata(&p)?.is_dir() {
                for item in fs::read_dir(&p)? {
                    stack.push(item?.path());
                }
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn dovecot_serves_the_sample_written_by_the_connector_unchanged() -> TestResult {
        let server = start()?;
        let home = server.home("alice");
        let maildir = home.join("Maildir");
        ferry_mail::sample::write_sample_maildir(&maildir).await?;
        chown_like(&maildir, &home)?;
        let mut md = MaildirConnector::open(&maildir, Access::ReadOnly)?;
        let ours = content_via_connector(&mut md).await?;
        let theirs = server.snapshot("alice")?.content();
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>()
        );
        assert_eq!(ours, theirs);
        Ok(())
    }

    #[tokio::test]
    async fn a_maildir_written_by_dovecot_reads_back_with_bytes_flags_keywords_and_dates()
    -> TestResult {
        let server = start()?;
        let mut seed = corpus::seed_messages(11, 20, 2_500);
        seed.push(ferry_testkit::imap::SeedMessage::new(
            corpus::message_without_message_id(11, 99, 800),
        ));
        server.seed("alice", "INBOX", &seed)?;
        server.seed(
            "alice",
            "Projets.Données",
            &corpus::seed_messages(12, 5, 1_000),
        )?;
        server.seed("alice", "日本語", &corpus::seed_messages(13, 3, 600))?;
        let theirs = server.snapshot("alice")?.content();

        let maildir = server.home("alice").join("Maildir");
        let before = tree_fingerprint(&maildir)?;
        let mut md = MaildirConnector::open(&maildir, Access::ReadOnly)?;
        let ours = content_via_connector(&mut md).await?;
        assert_eq!(ours, theirs);
        let listed: Vec<String> = md
            .list_folders()
            .await?
            .into_iter()
            .map(|f| f.path.to_string())
            .collect();
        assert!(listed.contains(&"Projets/Données".to_owned()), "{listed:?}");
        assert_eq!(
            tree_fingerprint(&maildir)?,
            before,
            "reading changed Dovecot's Maildir"
        );
        Ok(())
    }
}
