//! The Exchange Online emulator itself: raw IMAP request → the documented answer, one test per behaviour
//! listed in `ferry_testkit::exchange`'s module docs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use ferry_testkit::exchange::{ExchangeOptions, ExchangeShim, Throttle, token};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const APP: &str = "11111111-2222-3333-4444-555555555555";
const MAILBOX: &str = "alice@contoso.com";

struct Raw {
    r: BufReader<TcpStream>,
    n: u32,
}

impl Raw {
    fn connect(shim: &ExchangeShim) -> (Raw, String) {
        let s = TcpStream::connect(shim.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = Raw {
            r: BufReader::new(s),
            n: 0,
        };
        let greeting = r.line();
        (r, greeting)
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l
    }

    fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).unwrap();
    }

    /// Send `cmd` with a fresh tag; return every line up to and including the tagged one.
    fn cmd(&mut self, cmd: &str) -> Vec<String> {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.send(format!("{tag} {cmd}\r\n").as_bytes());
        self.until(&tag)
    }

    fn until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            if l.is_empty() {
                out.push("<EOF>".into());
                return out;
            }
            let done = l.starts_with(&format!("{tag} "));
            out.push(l.trim_end().to_owned());
            if done {
                return out;
            }
        }
    }

    fn last(&mut self, cmd: &str) -> String {
        self.cmd(cmd).pop().unwrap()
    }

    fn xoauth2(&mut self, user: &str, token: &str) -> String {
        let ir = base64::engine::general_purpose::STANDARD
            .encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"));
        self.last(&format!("AUTHENTICATE XOAUTH2 {ir}"))
    }

    fn append(&mut self, folder: &str, message: &[u8]) -> String {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.send(format!("{tag} APPEND \"{folder}\" () {{{}+}}\r\n", message.len()).as_bytes());
        self.send(message);
        self.send(b"\r\n");
        self.until(&tag).pop().unwrap()
    }

    fn at_eof(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0))
    }
}

fn shim(opts: ExchangeOptions) -> ExchangeShim {
    let shim = ExchangeShim::start(opts).unwrap();
    shim.add_mailbox(MAILBOX).unwrap();
    shim
}

fn logged_in(shim: &ExchangeShim) -> Raw {
    shim.allow_app(APP, &[MAILBOX]);
    let (mut c, _) = Raw::connect(shim);
    let ok = c.xoauth2(MAILBOX, &shim.app_token(APP, 600));
    assert_eq!(ok, "t1 OK AUTHENTICATE completed.");
    c
}

fn message(n: usize) -> Vec<u8> {
    format!("Subject: m{n}\r\nMessage-ID: <m{n}@test>\r\n\r\nbody {n}\r\n").into_bytes()
}

#[test]
fn the_greeting_and_capabilities_are_exchanges_without_condstore_or_special_use() {
    let shim = shim(ExchangeOptions::default());
    let (mut c, greeting) = Raw::connect(&shim);
    assert!(greeting.starts_with("* OK The Microsoft Exchange IMAP4 service is ready."));
    let caps = c.cmd("CAPABILITY");
    assert_eq!(caps[1], "t1 OK CAPABILITY completed.");
    for want in [
        "IMAP4rev1",
        "AUTH=XOAUTH2",
        "SASL-IR",
        "UIDPLUS",
        "LITERAL+",
    ] {
        assert!(caps[0].split(' ').any(|c| c == want), "{want}: {caps:?}");
    }
    let mut c = logged_in(&shim);
    let caps = c.cmd("CAPABILITY");
    assert!(caps[0].contains(" MOVE "), "{caps:?}");
    for absent in [
        "CONDSTORE",
        "QRESYNC",
        "SPECIAL-USE",
        "MULTIAPPEND",
        "APPENDLIMIT",
    ] {
        assert!(!caps[0].contains(absent), "{absent}: {caps:?}");
    }
    assert_eq!(
        c.cmd("LOGOUT"),
        [
            "* BYE Microsoft Exchange Server IMAP4 server signing off.",
            "t3 OK LOGOUT completed."
        ]
    );
}

#[test]
fn basic_auth_and_bad_tokens_get_no_authenticate_failed() {
    let shim = shim(ExchangeOptions::default());
    shim.allow_app(APP, &[MAILBOX]);
    let (mut c, _) = Raw::connect(&shim);
    assert_eq!(c.last("LOGIN alice@contoso.com pw"), "t1 NO LOGIN failed.");
    assert_eq!(
        c.last("AUTHENTICATE PLAIN AGFsaWNlAHB3"),
        "t2 NO AUTHENTICATE failed."
    );
    let now = chrono::Utc::now().timestamp();
    let key = shim.options().jwt_key.clone();
    let good = token::app_claims(APP, "tid", now, 600);
    let mut graph = good.clone();
    graph["aud"] = "https://graph.microsoft.com".into();
    let mut no_role = good.clone();
    no_role["roles"] = serde_json::json!(["Mail.ReadWrite"]);
    for (what, t) in [
        ("wrong key", token::mint(b"another key", &good)),
        ("Graph audience", token::mint(&key, &graph)),
        ("no IMAP.AccessAsApp", token::mint(&key, &no_role)),
        (
            "expired",
            token::mint(&key, &token::app_claims(APP, "tid", now - 7200, 600)),
        ),
        ("not a JWT", "opaque".to_owned()),
    ] {
        let (mut c, _) = Raw::connect(&shim);
        assert_eq!(
            c.xoauth2(MAILBOX, &t),
            "t1 NO AUTHENTICATE failed.",
            "{what}"
        );
    }
}

#[test]
fn a_valid_token_without_principal_full_access_or_imap_is_authenticated_but_not_connected() {
    let shim = shim(ExchangeOptions::default());
    shim.add_mailbox("bob@contoso.com").unwrap();
    shim.add_mailbox("carol@contoso.com").unwrap();
    let token = shim.app_token(APP, 600);
    let not_connected = |user: &str| {
        let (mut c, _) = Raw::connect(&shim);
        assert_eq!(c.xoauth2(user, &token), "t1 OK AUTHENTICATE completed.");
        assert_eq!(
            c.last("LIST \"\" \"*\""),
            "t2 BAD User is authenticated but not connected."
        );
    };
    // No New-ServicePrincipal yet.
    shim.grant_full_access(APP, MAILBOX);
    not_connected(MAILBOX);
    // Principal, but no FullAccess on bob.
    shim.register_service_principal(APP);
    not_connected("bob@contoso.com");
    // FullAccess on carol, but IMAP disabled for her; a mailbox that does not exist.
    shim.grant_full_access(APP, "carol@contoso.com");
    shim.disable_imap("carol@contoso.com");
    not_connected("carol@contoso.com");
    shim.grant_full_access(APP, "nobody@contoso.com");
    not_connected("nobody@contoso.com");
}

#[test]
fn xoauth2_without_sasl_ir_gets_a_continuation_first() {
    let shim = shim(ExchangeOptions::default());
    shim.allow_app(APP, &[MAILBOX]);
    let (mut c, _) = Raw::connect(&shim);
    c.send(b"a AUTHENTICATE XOAUTH2\r\n");
    assert_eq!(c.line(), "+ \r\n");
    let ir = base64::engine::general_purpose::STANDARD.encode(format!(
        "user={MAILBOX}\x01auth=Bearer {}\x01\x01",
        shim.app_token(APP, 600)
    ));
    c.send(format!("{ir}\r\n").as_bytes());
    assert_eq!(c.until("a").pop().unwrap(), "a OK AUTHENTICATE completed.");
}

#[test]
fn a_connected_session_reaches_the_mailbox_with_well_known_folders_marked() {
    let shim = shim(ExchangeOptions::default());
    let mut c = logged_in(&shim);
    let list = c.cmd("LIST \"\" \"*\"");
    let has = |line: &str| list.iter().any(|l| l == line);
    assert!(
        has("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\""),
        "{list:?}"
    );
    assert!(
        has("* LIST (\\HasNoChildren \\Trash) \"/\" \"Deleted Items\""),
        "{list:?}"
    );
    assert!(
        has("* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk Email\""),
        "{list:?}"
    );
    let ok = c.append("Sent Items", &message(1));
    assert!(ok.starts_with("t3 OK [APPENDUID "), "{ok}");
    let snap = shim.dovecot().snapshot(MAILBOX).unwrap();
    assert_eq!(snap.message_count(), 1);
    assert_eq!(shim.stats(MAILBOX).appended, 1);
}

#[test]
fn reserved_folder_names_are_refused() {
    let shim = shim(ExchangeOptions::default());
    let mut c = logged_in(&shim);
    assert_eq!(c.last("CREATE Files"), "t2 NO Folder name is reserved");
    assert_eq!(
        c.last("CREATE \"files/sub\""),
        "t3 NO Folder name is reserved"
    );
    assert!(c.last("CREATE Work").starts_with("t4 OK"));
    assert_eq!(c.last("RENAME Work Files"), "t5 NO Folder name is reserved");
}

#[test]
fn over_size_messages_and_over_long_lines_get_command_argument_error_11() {
    let shim = shim(ExchangeOptions {
        max_message_size: 2_000,
        max_line_length: 300,
        ..ExchangeOptions::default()
    });
    let mut c = logged_in(&shim);
    let mut big = message(1);
    big.extend(std::iter::repeat_n(b"0123456789\r\n".as_slice(), 300).flatten());
    assert_eq!(c.append("INBOX", &big), "t2 BAD Command Argument Error. 11");
    let mut long = message(2);
    long.extend(std::iter::repeat_n(b'x', 400));
    long.extend(b"\r\n");
    assert_eq!(
        c.append("INBOX", &long),
        "t3 BAD Command Argument Error. 11"
    );
    // A synchronising literal over the limit is refused before it is sent.
    c.send(format!("s1 APPEND INBOX {{{}}}\r\n", big.len()).as_bytes());
    assert_eq!(c.line(), "s1 BAD Command Argument Error. 11\r\n");
    assert!(c.append("INBOX", &message(3)).starts_with("t4 OK"));
    assert_eq!(shim.dovecot().snapshot(MAILBOX).unwrap().message_count(), 1);
}

#[test]
fn repeated_errors_end_in_bye() {
    let shim = shim(ExchangeOptions::default());
    let mut c = logged_in(&shim);
    for i in 0..9 {
        let r = c.last("EXAMINE NoSuchFolder");
        assert!(r.starts_with(&format!("t{} NO", i + 2)), "{r}");
    }
    let last = c.cmd("EXAMINE NoSuchFolder");
    assert!(last[0].starts_with("t11 NO"), "{last:?}");
    assert_eq!(c.line(), "* BYE Connection closed. 14\r\n");
    assert!(c.at_eof());
}

#[test]
fn over_budget_appends_are_throttled_with_a_backoff_then_disconnected_and_early_requests_counted() {
    let shim = shim(ExchangeOptions {
        throttle: Some(Throttle {
            per_second: 2.0,
            burst: 2,
            min_backoff: Duration::from_millis(800),
            disconnect: true,
        }),
        ..ExchangeOptions::default()
    });
    let mut c = logged_in(&shim);
    assert!(c.append("INBOX", &message(1)).starts_with("t2 OK"));
    assert!(c.append("INBOX", &message(2)).starts_with("t3 OK"));
    let throttled = c.append("INBOX", &message(3));
    let ms: u64 = throttled
        .strip_prefix("t4 NO Request is throttled. Suggested Backoff Time: ")
        .and_then(|r| r.strip_suffix(" milliseconds"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{throttled}"));
    assert!(ms >= 800, "{ms}");
    assert!(c.at_eof(), "the throttled connection is closed");
    // Coming back before the backoff expired is counted (and answered with the same NO).
    let mut early = logged_in(&shim);
    let r = early.last("NOOP");
    assert!(r.starts_with("t2 NO Request is throttled."), "{r}");
    assert_eq!(
        shim.stats(MAILBOX).early_requests,
        2,
        "the login and the NOOP"
    );
    // After the suggested backoff, the budget has room again.
    std::thread::sleep(Duration::from_millis(ms));
    let mut c = logged_in(&shim);
    assert!(c.append("INBOX", &message(3)).starts_with("t2 OK"));
    let s = shim.stats(MAILBOX);
    assert_eq!((s.appended, s.throttled, s.early_requests), (3, 1, 2));
}
