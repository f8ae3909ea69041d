//! The IMAP connector against a real Dovecot (from `ferry-testkit`), one server per test.
//!
//! Test data is seeded and checked with the testkit's own raw client, never with the connector under test.

use chrono::DateTime;
use ferry_core::fingerprint::fingerprint_message;
use ferry_core::folder::{FolderInfo, FolderPath, SpecialUse};
use ferry_core::mail::{Access, AppendRequest, MailConnector, Secret};
use ferry_core::{ErrorKind, Retry};
use ferry_mail::config::{ImapConfig, MailEndpoint};
use ferry_mail::imap::ImapConnector;
use ferry_testkit::corpus;
use ferry_testkit::dovecot::{Dovecot, DovecotOptions};
use ferry_testkit::imap::SeedMessage;

const PASSWORD: &str = "alice-pw";

fn start(separator: char) -> Dovecot {
    let server = Dovecot::start(DovecotOptions {
        separator,
        ..DovecotOptions::default()
    })
    .expect("start Dovecot");
    server.add_user("alice", PASSWORD).expect("add alice");
    server
}

/// A connector built the way users configure one: from the URL, then credentials.
fn connector(server: &Dovecot, password: &str, access: Access) -> ImapConnector {
    let url = format!("imap://alice@127.0.0.1:{}?timeout=20", server.port());
    let MailEndpoint::Imap(cfg) = MailEndpoint::parse(&url).expect("url parses") else {
        panic!("not an IMAP endpoint")
    };
    ImapConnector::new(
        cfg.with_login(None, Secret::new(password))
            .expect("user in url"),
        access,
    )
}

fn path(s: &str) -> FolderPath {
    FolderPath::parse(s, '/')
}

fn find<'a>(list: &'a [FolderInfo], p: &str) -> Option<&'a FolderInfo> {
    list.iter().find(|f| f.path == path(p))
}

#[tokio::test]
async fn login_works_and_a_wrong_password_is_a_permanent_auth_error() {
    let server = start('/');
    let mut ok = connector(&server, PASSWORD, Access::ReadOnly);
    ok.connect().await.expect("login");
    assert!(ok.capability().append_uid, "Dovecot has UIDPLUS");
    assert!(!ok.capability().append, "read-only never appends");
    assert_eq!(
        ok.describe(),
        format!("imap://alice@127.0.0.1:{}", server.port())
    );
    ok.close().await.expect("close");

    let mut bad = connector(&server, "wrong", Access::ReadOnly);
    let e = bad.list_folders().await.expect_err("wrong password");
    assert_eq!(
        (e.kind(), e.retry()),
        (ErrorKind::Auth, Retry::Permanent),
        "{e}"
    );
    assert!(
        e.to_string().contains("check the user name and password"),
        "{e}"
    );
    assert!(!e.to_string().contains("wrong"), "the password leaked: {e}");
}

#[tokio::test]
async fn master_user_logs_in_as_the_user() {
    let server = start('/');
    server
        .seed("alice", "INBOX", &corpus::seed_messages(1, 3, 500))
        .expect("seed");
    let (admin, admin_pw) = Dovecot::master();
    let cfg = ImapConfig::plain("127.0.0.1", server.port())
        .with_master(Some("alice"), admin, Secret::new(admin_pw))
        .expect("master config");
    let mut c = ImapConnector::new(cfg, Access::ReadOnly);
    let st = c
        .folder_status(&FolderPath::inbox())
        .await
        .expect("status as alice");
    assert_eq!(st.messages, 3);
}

#[tokio::test]
async fn list_shows_nested_non_ascii_and_special_use_folders() {
    for sep in ['/', '.'] {
        let server = start(sep);
        let s = sep.to_string();
        server
            .create_folder("alice", &["Projets", "Données", "2024"].join(&s))
            .expect("nested");
        server
            .create_folder("alice", "Entwürfe & Notizen")
            .expect("non-ascii");
        let mut c = connector(&server, PASSWORD, Access::ReadOnly);
        let list = c.list_folders().await.expect("list");
        let inbox = find(&list, "INBOX").expect("INBOX listed");
        assert!(inbox.selectable);
        assert!(
            find(&list, "Projets/Données/2024").is_some(),
            "{sep}: {list:?}"
        );
        assert!(
            find(&list, "Projets/Données").is_some(),
            "{sep}: parents listed: {list:?}"
        );
        assert!(
            find(&list, "Entwürfe & Notizen").is_some(),
            "{sep}: {list:?}"
        );
        assert_eq!(
            find(&list, "Sent").and_then(|f| f.special_use),
            Some(SpecialUse::Sent),
            "{list:?}"
        );
        assert_eq!(
            find(&list, "Junk").and_then(|f| f.special_use),
            Some(SpecialUse::Junk)
        );
        assert!(c.capability().special_use);
        // Every listed selectable folder can be opened.
        for f in list.iter().filter(|f| f.selectable) {
            c.folder_status(&f.path)
                .await
                .unwrap_or_else(|e| panic!("{sep}: status {}: {e}", f.path));
        }
    }
}

#[tokio::test]
async fn append_then_fetch_round_trips_bytes_flags_keywords_and_date() {
    let server = start('/');
    let mut target = connector(&server, PASSWORD, Access::ReadWrite);
    let folder = path("Archiv/2021/Übersicht");
    target
        .create_folder(&folder, None)
        .await
        .expect("create nested");
    target
        .create_folder(&folder, None)
        .await
        .expect("creating an existing folder is fine");

    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|i| corpus::message(7, i, 300 + i * 1000))
        .collect();
    let flags: Vec<Vec<String>> = (0..6).map(corpus::flags_for).collect();
    let dates: Vec<_> = (0..6)
        .map(|i| {
            ferry_mail::imap::proto::parse_internal_date(&corpus::internal_date(7, i))
                .expect("corpus date")
        })
        .collect();
    let reqs: Vec<AppendRequest<'_>> = (0..6)
        .map(|i| AppendRequest {
            bytes: &bodies[i],
            flags: &flags[i],
            internal_date: Some(dates[i]),
        })
        .collect();
    let results = target.append(&folder, &reqs).await.expect("append batch");
    let uids: Vec<u32> = results
        .into_iter()
        .map(|r| r.expect("accepted").expect("APPENDUID"))
        .collect();
    assert_eq!(uids.len(), 6);
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");

    // The target's status is fresh after the append (not the cached EXAMINE of before).
    let st = target.folder_status(&folder).await.expect("status");
    assert_eq!(st.messages, 6);
    let more = target
        .append(
            &folder,
            &[AppendRequest {
                bytes: &bodies[0],
                flags: &[],
                internal_date: None,
            }],
        )
        .await
        .expect("append one");
    assert!(matches!(more[0], Ok(Some(_))));
    assert_eq!(
        target
            .folder_status(&folder)
            .await
            .expect("status")
            .messages,
        7
    );

    // Read back with the connector (bytes) and with the independent raw client (flags, dates).
    let got = target.fetch(&folder, &uids).await.expect("fetch");
    assert_eq!(got.len(), 6);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.uid, uids[i]);
        assert_eq!(m.bytes, bodies[i], "message {i} bytes");
    }
    let snap = server.snapshot("alice").expect("snapshot");
    let f = snap
        .folder("Archiv/2021/Übersicht")
        .expect("folder in snapshot");
    for (i, uid) in uids.iter().enumerate() {
        let m = f
            .messages
            .iter()
            .find(|m| m.uid == *uid)
            .expect("uid in snapshot");
        let mut want = flags[i].clone();
        want.sort();
        assert_eq!(m.flags, want, "message {i} flags");
        assert_eq!(
            m.internal_date_parsed().map(|d| d.timestamp()),
            Some(dates[i].timestamp())
        );
    }

    // Summaries carry the same facts, and the fingerprint equals the one computed from the whole message.
    let sums = target.summaries(&folder, 1, 100).await.expect("summaries");
    assert_eq!(sums.len(), 7);
    for (i, s) in sums.iter().take(6).enumerate() {
        assert_eq!(s.uid, uids[i]);
        assert_eq!(s.size, bodies[i].len() as u64);
        assert_eq!(
            s.fingerprint,
            fingerprint_message(&bodies[i]),
            "message {i}"
        );
        assert_eq!(
            s.message_id.as_deref(),
            Some(corpus::message_id(7, i).as_str())
        );
        assert_eq!(s.internal_date, Some(dates[i]));
        let mut fl = s.flags.clone();
        fl.sort();
        let mut want = flags[i].clone();
        want.sort();
        assert_eq!(fl, want);
    }

    // Search by Message-ID finds the message and its duplicate, exactly.
    let hits = target
        .search_message_id(&folder, &corpus::message_id(7, 0))
        .await
        .expect("search");
    assert_eq!(hits, vec![uids[0], sums[6].uid]);
    assert!(
        target
            .search_message_id(&folder, "nope@example.test")
            .await
            .expect("search")
            .is_empty()
    );
}

#[tokio::test]
async fn an_append_the_server_refuses_fails_alone() {
    let server = start('/');
    let mut target = connector(&server, PASSWORD, Access::ReadWrite);
    let ok = corpus::message(1, 0, 500);
    let bad_date = DateTime::parse_from_rfc3339("2021-03-01T10:00:00+01:00").expect("date");
    let reqs = [
        AppendRequest {
            bytes: &ok,
            flags: &[],
            internal_date: Some(bad_date),
        },
        // An empty message: Dovecot refuses a zero-length APPEND.
        AppendRequest {
            bytes: b"",
            flags: &[],
            internal_date: None,
        },
        AppendRequest {
            bytes: &ok,
            flags: &[],
            internal_date: None,
        },
    ];
    let results = target
        .append(&FolderPath::inbox(), &reqs)
        .await
        .expect("batch");
    assert_eq!(results.len(), 3);
    assert!(matches!(results[0], Ok(Some(_))), "{results:?}");
    let e = results[1].as_ref().expect_err("empty message refused");
    assert!(
        matches!(e.kind(), ErrorKind::Rejected | ErrorKind::Protocol),
        "{e:?}"
    );
    assert!(matches!(results[2], Ok(Some(_))), "{results:?}");
    assert_eq!(
        target
            .folder_status(&FolderPath::inbox())
            .await
            .expect("status")
            .messages,
        2
    );
}

#[tokio::test]
async fn summaries_page_across_pages_in_uid_order() {
    let server = start('/');
    let uids = server
        .seed_uids("alice", "INBOX", &corpus::seed_messages(3, 25, 400))
        .expect("seed");
    let mut c = connector(&server, PASSWORD, Access::ReadOnly);
    let mut seen = Vec::new();
    let mut from = 1;
    let mut pages = 0;
    loop {
        let page = c
            .summaries(&FolderPath::inbox(), from, 10)
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert!(page.len() <= 10);
        from = page.last().map(|m| m.uid + 1).expect("non-empty");
        seen.extend(page.into_iter().map(|m| m.uid));
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, uids);

    // Starting in the middle (a resumed pass) and past the end.
    let mid = c
        .summaries(&FolderPath::inbox(), uids[17], 5)
        .await
        .expect("mid");
    assert_eq!(mid.iter().map(|m| m.uid).collect::<Vec<_>>(), uids[17..22]);
    assert!(
        c.summaries(&FolderPath::inbox(), uids[24] + 1, 5)
            .await
            .expect("end")
            .is_empty()
    );
    // Another session expunges messages before our cursor: the next page still starts at the right uid.
    let mut raw = server.connect("alice").expect("raw");
    raw.select("INBOX").expect("select");
    raw.run(&format!(
        "UID STORE {}:{} +FLAGS.SILENT (\\Deleted)",
        uids[0], uids[4]
    ))
    .expect("store");
    raw.run("EXPUNGE").expect("expunge");
    let after = c
        .summaries(&FolderPath::inbox(), uids[22], 10)
        .await
        .expect("after expunge");
    assert_eq!(after.iter().map(|m| m.uid).collect::<Vec<_>>(), uids[22..]);
}

#[tokio::test]
async fn reading_a_read_only_source_changes_nothing() {
    let server = start('/');
    server
        .seed("alice", "INBOX", &corpus::seed_messages(5, 6, 800))
        .expect("seed");
    server
        .seed("alice", "Work/Q1", &corpus::seed_messages(6, 4, 800))
        .expect("seed");
    let before = server.snapshot("alice").expect("snapshot");
    let mut src = connector(&server, PASSWORD, Access::ReadOnly);
    for f in src
        .list_folders()
        .await
        .expect("list")
        .iter()
        .filter(|f| f.selectable)
    {
        src.folder_status(&f.path).await.expect("status");
        let sums = src.summaries(&f.path, 1, 1000).await.expect("summaries");
        let uids: Vec<u32> = sums.iter().map(|s| s.uid).collect();
        let got = src.fetch(&f.path, &uids).await.expect("fetch");
        assert_eq!(got.len(), uids.len());
        if let Some(s) = sums.first()
            && let Some(id) = &s.message_id
        {
            assert_eq!(
                src.search_message_id(&f.path, id).await.expect("search"),
                vec![s.uid]
            );
        }
    }
    src.close().await.expect("close");
    let after = server.snapshot("alice").expect("snapshot");
    assert_eq!(before, after, "the source changed (\\Seen set?)");
}

#[tokio::test]
async fn a_read_only_connector_refuses_writes_without_sending_them() {
    let server = start('/');
    let mut src = connector(&server, PASSWORD, Access::ReadOnly);
    let e = src
        .create_folder(&path("New"), None)
        .await
        .expect_err("read-only");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let msg = corpus::message(1, 1, 300);
    let e = src
        .append(
            &FolderPath::inbox(),
            &[AppendRequest {
                bytes: &msg,
                flags: &[],
                internal_date: None,
            }],
        )
        .await
        .expect_err("read-only");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(!src.capability().append);
    let snap = server.snapshot("alice").expect("snapshot");
    assert_eq!(snap.message_count(), 0);
    assert!(snap.folder("New").is_none());
}

/// `doveadm kick` signals the user's imap processes and returns; poll `doveadm who` until they are gone.
fn wait_until_no_sessions(server: &Dovecot, user: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = server
            .doveadm(&["who", user])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        match out {
            Ok(text) if !text.lines().any(|l| l.starts_with(user)) => return,
            // doveadm who exits non-zero when nobody is connected.
            Err(_) => return,
            Ok(_) => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{user} still connected after doveadm kick"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_killed_connection_fails_once_temporarily_then_reconnects() {
    let server = start('/');
    server
        .seed("alice", "INBOX", &corpus::seed_messages(2, 3, 300))
        .expect("seed");
    let mut c = connector(&server, PASSWORD, Access::ReadWrite);
    let first = c
        .summaries(&FolderPath::inbox(), 1, 2)
        .await
        .expect("first page");
    server.kick("alice").expect("doveadm kick");
    wait_until_no_sessions(&server, "alice");
    let e = c
        .summaries(&FolderPath::inbox(), first[1].uid + 1, 2)
        .await
        .expect_err("connection was killed");
    assert_eq!(
        (e.kind(), e.retry()),
        (ErrorKind::Io, Retry::Temporary),
        "{e:?}"
    );
    // The engine retries: the next call logs in again and re-opens the folder.
    let again = c
        .summaries(&FolderPath::inbox(), first[1].uid + 1, 2)
        .await
        .expect("reconnected");
    assert_eq!(again.len(), 1);
    let msg = corpus::message(9, 9, 300);
    let r = c
        .append(
            &FolderPath::inbox(),
            &[AppendRequest {
                bytes: &msg,
                flags: &[],
                internal_date: None,
            }],
        )
        .await;
    assert!(matches!(r.as_deref(), Ok([Ok(Some(_))])), "{r:?}");
}

#[tokio::test]
async fn folders_translate_between_dot_and_slash_delimiters() {
    let dot = start('.');
    let mut c = connector(&dot, PASSWORD, Access::ReadWrite);
    c.create_folder(&path("Clients/ACME/2024"), None)
        .await
        .expect("create on '.'");
    // A segment containing the server's delimiter is written with '_'.
    c.create_folder(&FolderPath(vec!["v1.2".into(), "notes".into()]), None)
        .await
        .expect("create");
    let list = c.list_folders().await.expect("list");
    assert!(find(&list, "Clients/ACME/2024").is_some(), "{list:?}");
    assert!(find(&list, "v1_2/notes").is_some(), "{list:?}");
    let raw_names: Vec<String> = dot
        .connect("alice")
        .expect("raw")
        .list()
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        raw_names.iter().any(|n| n == "Clients.ACME.2024"),
        "{raw_names:?}"
    );

    let slash = start('/');
    let mut c = connector(&slash, PASSWORD, Access::ReadWrite);
    c.create_folder(&FolderPath(vec!["v1.2".into(), "notes".into()]), None)
        .await
        .expect("create");
    let list = c.list_folders().await.expect("list");
    assert!(
        find(&list, "v1.2/notes").is_some(),
        "on '/', a dot is just a character: {list:?}"
    );
}

#[tokio::test]
async fn missing_folders_are_not_found() {
    let server = start('/');
    let mut c = connector(&server, PASSWORD, Access::ReadOnly);
    let e = c.folder_status(&path("Nope")).await.expect_err("missing");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    // The session survives a NotFound.
    c.folder_status(&FolderPath::inbox()).await.expect("inbox");
    let mut w = connector(&server, PASSWORD, Access::ReadWrite);
    let msg = corpus::message(1, 1, 300);
    let r = w
        .append(
            &path("Nope"),
            &[AppendRequest {
                bytes: &msg,
                flags: &[],
                internal_date: None,
            }],
        )
        .await
        .expect("batch");
    assert_eq!(
        r[0].as_ref().map_err(|e| e.kind()).expect_err("no folder"),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn open_mail_opens_an_imap_endpoint() {
    let server = start('/');
    server
        .seed(
            "alice",
            "INBOX",
            &[SeedMessage::new(corpus::message(4, 0, 200))],
        )
        .expect("seed");
    let MailEndpoint::Imap(cfg) =
        MailEndpoint::parse(&format!("{}?starttls=never", server.url())).expect("url")
    else {
        panic!("imap")
    };
    let ep = MailEndpoint::Imap(
        cfg.with_login(Some("alice"), Secret::new(PASSWORD))
            .expect("login"),
    );
    let mut c = ferry_mail::open_mail(&ep, Access::ReadOnly)
        .await
        .expect("open");
    assert_eq!(
        c.folder_status(&FolderPath::inbox())
            .await
            .expect("status")
            .messages,
        1
    );
}

/// Issue 9's no-op re-run: every folder's status in one pipelined round trip (more folders than one flush
/// holds), each answer what `folder_status` says, none for a missing folder.
#[tokio::test]
async fn peek_statuses_answers_many_folders_at_once_as_folder_status_does() {
    let server = start('/');
    server
        .seed("alice", "INBOX", &corpus::seed_messages(31, 3, 300))
        .expect("seed INBOX");
    server
        .seed("alice", "Entwürfe", &corpus::seed_messages(32, 2, 300))
        .expect("seed a non-ASCII folder");
    let mut raw = server.connect("alice").expect("raw login");
    let mut folders = vec![path("INBOX"), path("Entwürfe")];
    for i in 0..130 {
        raw.create(&format!("Many/F{i}")).expect("create");
        folders.push(path(&format!("Many/F{i}")));
    }
    raw.logout();
    folders.push(path("Missing"));

    let mut conn = connector(&server, PASSWORD, Access::ReadOnly);
    let peeked = conn.peek_statuses(&folders).await.expect("peek");
    assert_eq!(peeked.len(), folders.len());
    assert_eq!(peeked.last(), Some(&None), "a missing folder has no answer");
    for (f, p) in folders.iter().zip(&peeked).take(folders.len() - 1) {
        let status = conn.folder_status(f).await.expect("status");
        assert_eq!(p.as_ref(), Some(&status), "{f}");
    }
    assert_eq!(peeked[0].map(|s| s.messages), Some(3));
    assert_eq!(peeked[1].map(|s| s.messages), Some(2));
    // With a folder open (the last one examined), it is answered from its EXAMINE; the others still by STATUS.
    let some = [folders[folders.len() - 2].clone(), folders[0].clone()];
    let again = conn.peek_statuses(&some).await.expect("peek again");
    assert_eq!(again, vec![peeked[folders.len() - 2], peeked[0]]);
}

/// A scripted IMAP server on loopback for what Dovecot will not do on demand: no LITERAL+ (synchronising
/// literals), refusals before a literal, `[UNAVAILABLE]`, an oversized literal, `* BYE`.
mod scripted {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// Read one command, answering `+` to each synchronising literal; returns (tag, text with literals).
    async fn read_command<R: tokio::io::AsyncBufRead + Unpin, W: tokio::io::AsyncWrite + Unpin>(
        r: &mut R,
        w: &mut W,
        refuse_big: bool,
    ) -> Option<(String, Vec<u8>, bool)> {
        let mut cmd = Vec::new();
        loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line).await.ok()? == 0 {
                return None;
            }
            cmd.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            let Some(open) = text.rfind('{').filter(|_| text.ends_with('}')) else {
                break;
            };
            let n: usize = text[open + 1..text.len() - 1].parse().ok()?;
            if refuse_big && n > 1000 {
                // Refuse before the literal is sent (RFC 3501 §7.5): the client must not send it.
                return Some((tag_of(&cmd), cmd, true));
            }
            w.write_all(b"+ go ahead\r\n").await.ok()?;
            let mut lit = vec![0; n];
            r.read_exact(&mut lit).await.ok()?;
            cmd.extend_from_slice(&lit);
        }
        Some((tag_of(&cmd), cmd, false))
    }

    fn tag_of(cmd: &[u8]) -> String {
        String::from_utf8_lossy(cmd)
            .split(' ')
            .next()
            .unwrap_or("")
            .to_owned()
    }

    async fn serve(listener: TcpListener) {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(session(
                sock,
                Some("* OK [CAPABILITY IMAP4rev1 UIDPLUS] scripted\r\n"),
            ));
        }
    }

    /// One scripted session over any stream (plain or TLS), optionally greeting first.
    async fn session<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static>(
        sock: S,
        greeting: Option<&'static str>,
    ) {
        let (rd, mut w) = tokio::io::split(sock);
        let mut r = BufReader::new(rd);
        if let Some(g) = greeting {
            let _ = w.write_all(g.as_bytes()).await;
        }
        let mut next_uid = 1;
        while let Some((tag, cmd, refused)) = read_command(&mut r, &mut w, true).await {
            let text = String::from_utf8_lossy(&cmd).into_owned();
            let verb = text.split(' ').nth(1).unwrap_or("").to_ascii_uppercase();
            let reply = if verb == "AUTHENTICATE" {
                // RFC 4616 PLAIN without SASL-IR: empty challenge, then the response.
                let _ = w.write_all(b"+ \r\n").await;
                let mut line = String::new();
                let _ = r.read_line(&mut line).await;
                let xoauth2 = text.to_ascii_uppercase().contains("XOAUTH2");
                if line.trim_end() == ferry_mail::imap::proto::sasl_plain("", "u", "pässword")
                    || xoauth2
                        && line.trim_end() == ferry_mail::imap::proto::sasl_xoauth2("u", "tok")
                {
                    format!("{tag} OK Logged in\r\n")
                } else if xoauth2 {
                    // The XOAUTH2 error challenge (JSON, base64); the client answers with an empty line.
                    let _ = w.write_all(b"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n").await;
                    let mut empty = String::new();
                    let _ = r.read_line(&mut empty).await;
                    format!("{tag} NO [AUTHENTICATIONFAILED] Invalid token\r\n")
                } else {
                    format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                }
            } else if verb == "CAPABILITY\r\n" || verb == "CAPABILITY" {
                format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN LOGINDISABLED\r\n{tag} OK Done\r\n")
            } else if refused {
                format!("{tag} NO [TOOBIG] Message too large\r\n")
            } else if verb == "LOGIN" {
                if cmd.ends_with("u {9}\r\npässword\r\n".as_bytes()) {
                    format!("{tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n")
                } else {
                    format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                }
            } else if verb == "APPEND" {
                if text.contains("reject-me") {
                    format!("{tag} NO [OVERQUOTA] Quota exceeded\r\n")
                } else {
                    next_uid += 1;
                    format!(
                        "{tag} OK [APPENDUID 7 {}] Append completed.\r\n",
                        next_uid - 1
                    )
                }
            } else if verb == "LIST" {
                format!("* LIST () \"/\" \"\"\r\n{tag} OK List completed.\r\n")
            } else if verb == "EXAMINE" && text.contains("Busy") {
                format!("{tag} NO [UNAVAILABLE] Try again later\r\n")
            } else if verb == "EXAMINE" && text.contains("Bye") {
                let _ = w.write_all(b"* BYE Server shutting down.\r\n").await;
                return;
            } else if verb == "EXAMINE" {
                format!(
                    "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] Ok\r\n* OK [UIDNEXT 2] Ok\r\n{tag} OK [READ-ONLY] Examined\r\n"
                )
            } else if verb == "UID" && text.contains("BODY.PEEK[]") {
                // 300 MB announced: over the 256 MiB cap, the client must give up.
                "* 1 FETCH (UID 1 BODY[] {300000000}\r\n".to_owned()
            } else if verb == "LOGOUT" {
                format!("* BYE Logging out\r\n{tag} OK Logout completed.\r\n")
            } else {
                format!("{tag} BAD Unknown command\r\n")
            };
            if w.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    /// Greets with STARTTLS and LOGINDISABLED, upgrades to TLS with a self-signed certificate made by
    /// `openssl`, then serves the script.
    async fn serve_starttls(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
        while let Ok((mut sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let greeting =
                    b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN] tls\r\n";
                if sock.write_all(greeting).await.is_err() {
                    return;
                }
                // Read the STARTTLS line byte by byte: nothing may be buffered past it.
                let mut line = Vec::new();
                let mut b = [0u8; 1];
                while !line.ends_with(b"\r\n") {
                    if sock.read_exact(&mut b).await.is_err() {
                        return;
                    }
                    line.push(b[0]);
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                let tag = text.split(' ').next().unwrap_or("").to_owned();
                if !text.to_ascii_uppercase().contains("STARTTLS") {
                    let _ = sock
                        .write_all(format!("{tag} BAD STARTTLS first\r\n").as_bytes())
                        .await;
                    return;
                }
                let _ = sock
                    .write_all(format!("{tag} OK Begin TLS negotiation now.\r\n").as_bytes())
                    .await;
                if let Ok(tls) = acceptor.accept(sock).await {
                    session(tls, None).await;
                }
            });
        }
    }

    fn self_signed_acceptor(dir: &std::path::Path) -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ])
            .args(["-subj", "/CN=localhost", "-days", "1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            status.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let certs =
            vec![rustls::pki_types::CertificateDer::from_pem_file(&cert).expect("cert pem")];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).expect("key pem");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("tls versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server cert");
        tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
    }

    #[tokio::test]
    async fn starttls_upgrades_and_authenticate_plain_is_used_when_login_is_disabled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let acceptor = self_signed_acceptor(dir.path());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(serve_starttls(listener, acceptor));

        // Verifying against the web PKI fails for a self-signed certificate, with a hint.
        let url = format!("imap://u@localhost:{port}?starttls=require&timeout=10");
        let MailEndpoint::Imap(cfg) = MailEndpoint::parse(&url).expect("url") else {
            panic!("imap")
        };
        let cfg = cfg
            .with_login(None, Secret::new("pässword"))
            .expect("login");
        let e = ImapConnector::new(cfg.clone(), Access::ReadOnly)
            .connect()
            .await
            .expect_err("self-signed");
        assert_eq!(e.kind(), ErrorKind::Config, "{e:?}");
        assert!(e.to_string().contains("tls_verify=false"), "{e}");

        let mut insecure = cfg;
        insecure.tls_verify = false;
        let mut c = ImapConnector::new(insecure, Access::ReadOnly);
        c.connect().await.expect("STARTTLS then AUTHENTICATE PLAIN");
        assert!(c.server_capabilities().contains("LOGINDISABLED"));
        assert_eq!(
            c.folder_status(&FolderPath::inbox())
                .await
                .expect("status over TLS")
                .uid_validity,
            7
        );
    }

    async fn start() -> (u16, ImapConnector) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(serve(listener));
        let mut cfg = ImapConfig::plain("127.0.0.1", port);
        cfg.timeout = std::time::Duration::from_secs(10);
        let cfg = cfg
            .with_login(Some("u"), Secret::new("pässword"))
            .expect("cfg");
        (port, ImapConnector::new(cfg, Access::ReadWrite))
    }

    #[tokio::test]
    async fn without_literal_plus_appends_wait_for_continuations_and_fail_per_message() {
        let (_, mut c) = start().await;
        c.connect()
            .await
            .expect("login with a non-ASCII password as a synchronising literal");
        assert!(!c.capability().batch_append);
        let ok: &[u8] = b"Subject: a\r\n\r\nhello\r\n";
        let rejected: &[u8] = b"Subject: reject-me\r\n\r\nx\r\n";
        let big: &[u8] = &[b'x'; 2000];
        let req = |b| AppendRequest {
            bytes: b,
            flags: &[],
            internal_date: None,
        };
        let r = c
            .append(
                &FolderPath::inbox(),
                &[req(ok), req(rejected), req(big), req(ok)],
            )
            .await
            .expect("batch");
        assert!(matches!(r[0], Ok(Some(1))), "{r:?}");
        let e = r[1].as_ref().expect_err("over quota");
        assert_eq!(
            (e.kind(), e.retry()),
            (ErrorKind::Rejected, Retry::Permanent)
        );
        let e = r[2].as_ref().expect_err("refused before the literal");
        assert_eq!(e.kind(), ErrorKind::Rejected);
        // The stream is still in step after a literal that was never sent.
        assert!(matches!(r[3], Ok(Some(2))), "{r:?}");
    }

    #[tokio::test]
    async fn busy_servers_byes_and_oversized_literals_map_to_retryable_or_protocol_errors() {
        let (_, mut c) = start().await;
        let e = c.folder_status(&path("Busy")).await.expect_err("busy");
        assert_eq!(
            (e.kind(), e.retry()),
            (ErrorKind::Throttled, Retry::Temporary),
            "{e:?}"
        );

        let e = c
            .fetch(&FolderPath::inbox(), &[1])
            .await
            .expect_err("literal over the cap");
        assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}");
        // The connection was dropped; the next call reconnects.
        assert_eq!(
            c.folder_status(&FolderPath::inbox())
                .await
                .expect("reconnected")
                .uid_next,
            2
        );

        let e = c.folder_status(&path("Bye")).await.expect_err("bye");
        assert_eq!(
            (e.kind(), e.retry()),
            (ErrorKind::Io, Retry::Temporary),
            "{e:?}"
        );
        assert_eq!(
            c.folder_status(&FolderPath::inbox())
                .await
                .expect("reconnected")
                .messages,
            1
        );
        c.close().await.expect("logout");
    }

    #[tokio::test]
    async fn a_wrong_password_on_a_plain_login_server_is_an_auth_error() {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(serve(listener));
        let cfg = ImapConfig::plain("127.0.0.1", port)
            .with_login(Some("u"), Secret::new("nope"))
            .expect("cfg");
        let e = ImapConnector::new(cfg, Access::ReadOnly)
            .connect()
            .await
            .expect_err("bad password");
        assert_eq!(e.kind(), ErrorKind::Auth);
    }

    #[tokio::test]
    async fn xoauth2_sends_the_token_and_a_refused_token_is_an_auth_error() {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(serve(listener));
        let cfg = |token: &str| {
            ImapConfig::plain("127.0.0.1", port)
                .with_xoauth2(Some("u"), Secret::new(token))
                .expect("cfg")
        };
        let mut ok = ImapConnector::new(cfg("tok"), Access::ReadOnly);
        ok.connect().await.expect("XOAUTH2 accepted");
        let e = ImapConnector::new(cfg("expired"), Access::ReadOnly)
            .connect()
            .await
            .expect_err("refused token");
        assert_eq!(
            (e.kind(), e.retry()),
            (ErrorKind::Auth, Retry::Permanent),
            "{e:?}"
        );
        assert!(!e.to_string().contains("expired"), "{e}");
    }

    /// Hands out `stale` until invalidated, then `fresh`; counts what it was asked.
    #[derive(Debug)]
    struct Rotating {
        fresh: &'static str,
        invalidated: std::sync::atomic::AtomicUsize,
        asked: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ferry_core::token::TokenSource for Rotating {
        async fn token(&self) -> ferry_core::Result<Secret> {
            use std::sync::atomic::Ordering::SeqCst;
            self.asked.fetch_add(1, SeqCst);
            Ok(Secret::new(if self.invalidated.load(SeqCst) == 0 {
                "expired"
            } else {
                self.fresh
            }))
        }
        fn invalidate(&self) {
            self.invalidated
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn describe(&self) -> String {
            "app test-app in tenant t1".to_owned()
        }
    }

    #[tokio::test]
    async fn a_refused_xoauth2_token_is_invalidated_and_retried_once_with_a_fresh_one() {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(serve(listener));
        let source = std::sync::Arc::new(Rotating {
            fresh: "tok",
            invalidated: Default::default(),
            asked: Default::default(),
        });
        let cfg = ImapConfig::plain("127.0.0.1", port)
            .with_token_source(Some("u"), source.clone())
            .expect("cfg");
        ImapConnector::new(cfg, Access::ReadOnly)
            .connect()
            .await
            .expect("the fresh token is accepted");
        assert_eq!(source.invalidated.load(SeqCst), 1);
        assert_eq!(source.asked.load(SeqCst), 2);

        // A source whose fresh token is refused too: one retry only, then an Auth error naming the app.
        let refused = std::sync::Arc::new(Rotating {
            fresh: "still-bad",
            invalidated: Default::default(),
            asked: Default::default(),
        });
        let cfg = ImapConfig::plain("127.0.0.1", port)
            .with_token_source(Some("u"), refused.clone())
            .expect("cfg");
        let e = ImapConnector::new(cfg, Access::ReadOnly)
            .connect()
            .await
            .expect_err("refused twice");
        assert_eq!((e.kind(), e.retry()), (ErrorKind::Auth, Retry::Permanent));
        assert_eq!(refused.asked.load(SeqCst), 2, "exactly one retry");
        assert!(e.to_string().contains("test-app"), "{e}");
        assert!(!e.to_string().contains("still-bad"), "{e}");
    }
}

/// A worker frozen past its lease must not finish, when it wakes, an APPEND it had half sent (another
/// worker holds the pass and has compared the target): past the connection's fence nothing more is
/// written to the socket, so the server, which never got the command's end, stores nothing.
#[tokio::test]
async fn past_its_fence_a_connection_sends_nothing_more_and_the_server_stores_nothing() {
    use ferry_core::fence::Fence;
    use std::time::{Duration, Instant};
    let server = start('/');
    let fence = Fence::until(Instant::now() + Duration::from_secs(600));
    let url = format!("imap://alice@127.0.0.1:{}?timeout=20", server.port());
    let MailEndpoint::Imap(mut cfg) = MailEndpoint::parse(&url).expect("url parses") else {
        panic!("not an IMAP endpoint")
    };
    cfg.fence = Some(fence.clone());
    let mut c = ImapConnector::new(
        cfg.with_login(None, Secret::new(PASSWORD)).expect("login"),
        Access::ReadWrite,
    );
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|i| format!("Subject: m{i}\r\nMessage-ID: <m{i}@x>\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    fn req(b: &[u8]) -> AppendRequest<'_> {
        AppendRequest {
            bytes: b,
            flags: &[],
            internal_date: None,
        }
    }
    let first: Vec<AppendRequest<'_>> = bodies[..3].iter().map(|b| req(b)).collect();
    let done = c
        .append(&FolderPath::inbox(), &first)
        .await
        .expect("append");
    assert!(done.iter().all(Result::is_ok), "{done:?}");

    // The lease ends (the worker was frozen past it): the next batch is not sent.
    fence.set(Instant::now() - Duration::from_millis(1));
    let rest: Vec<AppendRequest<'_>> = bodies[3..].iter().map(|b| req(b)).collect();
    match c.append(&FolderPath::inbox(), &rest).await {
        Err(e) => assert!(e.to_string().contains("lease"), "{e}"),
        Ok(each) => assert!(each.iter().all(Result::is_err), "{each:?}"),
    }
    assert_eq!(
        server.snapshot("alice").expect("snapshot").message_count(),
        3,
        "only what was sent before the fence is stored"
    );
}
