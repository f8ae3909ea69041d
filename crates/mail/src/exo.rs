//! `exo://<tenant>`: Exchange Online as a mail target, reached over IMAP with app-only OAuth (issue 10).
//!
//! Why IMAP: Exchange Web Services is being switched off in Exchange Online (blocked by default from
//! October 2026, shut down April 2027) and Microsoft Graph creates a non-draft message from MIME only through
//! a beta call; IMAP `APPEND` with `AUTHENTICATE XOAUTH2` keeps the whole MIME, the internal date and the
//! flags, and reuses the IMAP engine. A Graph path can later sit behind the same
//! [`ferry_core::mail::MailConnector`] contract.
//!
//! `exo://contoso.onmicrosoft.com` means `imaps://outlook.office365.com:993`, logging in with `XOAUTH2`
//! as each mapping's mailbox (the mapping CSV's `EmailAddress`) with an app-only token for that tenant.
//! Options (query), for sovereign clouds and tests:
//! - `host=NAME` (default `outlook.office365.com`; e.g. `outlook.office365.us` for GCC High,
//!   `partner.outlook.cn` for Office 365 operated by 21Vianet),
//! - `port=N` (default 993),
//! - `tls=implicit|plain` (default `implicit`; `plain` only for a loopback emulator),
//! - `tls_verify=false` (self-signed test servers), `timeout=SECONDS`.
//!
//! The connector then applies Exchange's rules ([`ExchangeProfile`]): its error replies are read for what
//! they mean (throttling with a suggested backoff, "authenticated but not connected", "Command Argument
//! Error. 11"), its reserved folder names are renamed, its well-known folders are the targets of the
//! special-use roles.

use crate::config::{DEFAULT_TIMEOUT, ImapConfig, TlsMode};
use ferry_core::folder::SpecialUse;
use ferry_core::{Error, Result};

/// Exchange Online's IMAP host in the worldwide cloud.
pub const EXO_HOST: &str = "outlook.office365.com";
/// Exchange Online's IMAPS port.
pub const EXO_PORT: u16 = 993;
/// The OAuth scope an app-only IMAP token must be requested for (a Graph token does not work for IMAP).
pub const EXO_SCOPE: &str = "https://outlook.office365.com/.default";

/// Top-level folder names Exchange refuses to create (`NO Folder name is reserved`).
pub const RESERVED_FOLDERS: &[&str] = &["Files"];

/// What a reserved folder name becomes on Exchange: `Files` → `Files (renamed)`. Reversible: a name that
/// ends in this suffix is never produced from anything but its reserved original.
pub const RESERVED_SUFFIX: &str = " (renamed)";

/// Exchange Online's message size limit for a mailbox by default (`MaxReceiveSize`), which also bounds an
/// IMAP `APPEND` (Microsoft Learn, "Exchange Online limits", message limits).
pub const EXO_DEFAULT_MESSAGE_SIZE: u64 = 35 * 1024 * 1024;
/// The largest `MaxReceiveSize` a tenant can set: no message above it reaches Exchange Online.
pub const EXO_MAX_MESSAGE_SIZE: u64 = 150 * 1024 * 1024;
/// Exchange Online's mailbox folder limits (Microsoft Learn, "Exchange Online limits", mailbox folder
/// limits): messages per folder, subfolders per folder, folder hierarchy depth.
pub const EXO_MAX_ITEMS_PER_FOLDER: u64 = 1_000_000;
/// See [`EXO_MAX_ITEMS_PER_FOLDER`].
pub const EXO_MAX_SUBFOLDERS: u64 = 10_000;
/// See [`EXO_MAX_ITEMS_PER_FOLDER`].
pub const EXO_MAX_FOLDER_DEPTH: usize = 300;

/// Which target folders (paths written with `/`, with their message counts) break Exchange Online's
/// mailbox folder limits: `(rule, detail)` per problem, for the assessment.
pub fn folder_limit_problems(folders: &[(String, u64)]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut children: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (path, messages) in folders {
        if *messages > EXO_MAX_ITEMS_PER_FOLDER {
            out.push((
                "folder_over_exchange_item_limit",
                format!(
                    "{path} would hold {messages} messages; Exchange Online takes at most {EXO_MAX_ITEMS_PER_FOLDER} per folder: split it on the source (e.g. by year) before migrating"
                ),
            ));
        }
        let depth = path.split('/').count();
        if depth > EXO_MAX_FOLDER_DEPTH {
            out.push((
                "folder_over_exchange_depth",
                format!(
                    "{path} is {depth} levels deep; Exchange Online's folder hierarchy is at most {EXO_MAX_FOLDER_DEPTH} levels: move it higher on the source"
                ),
            ));
        }
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        *children.entry(parent).or_insert(0) += 1;
    }
    for (parent, n) in children {
        if n > EXO_MAX_SUBFOLDERS {
            let name = if parent.is_empty() {
                "the mailbox's top level"
            } else {
                parent
            };
            out.push((
                "folder_over_exchange_subfolder_limit",
                format!(
                    "{name} would have {n} subfolders; Exchange Online allows at most {EXO_MAX_SUBFOLDERS} per folder: group them on the source"
                ),
            ));
        }
    }
    out
}

/// Exchange's name for the folder of each special-use role (the folders every mailbox has).
pub fn well_known_name(role: SpecialUse) -> &'static str {
    match role {
        SpecialUse::Sent => "Sent Items",
        SpecialUse::Drafts => "Drafts",
        SpecialUse::Trash => "Deleted Items",
        SpecialUse::Junk => "Junk Email",
        SpecialUse::Archive => "Archive",
    }
}

/// The rename of a reserved top-level folder name, if `name` is one (case-insensitive).
pub fn reserved_rename(name: &str) -> Option<String> {
    RESERVED_FOLDERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
        .then(|| format!("{name}{RESERVED_SUFFIX}"))
}

/// How a target folder (its segments, as the journal keeps them) is named on Exchange Online, with a note
/// saying why, when that differs: a reserved top-level name is written renamed ([`reserved_rename`]).
pub fn shown_folder(segments: &[String]) -> Option<(String, String)> {
    let first = segments.first()?;
    let renamed = reserved_rename(first)?;
    let mut shown = vec![renamed.as_str()];
    shown.extend(segments[1..].iter().map(String::as_str));
    Some((
        shown.join("/"),
        format!("folder {first:?} is reserved on Exchange Online: written as {renamed:?}"),
    ))
}

/// The Exchange Online profile of an IMAP endpoint (from `exo://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeProfile {
    /// The tenant's domain or id, as written in the URL (tokens are requested for it).
    pub tenant: String,
}

/// Parse `exo://<tenant>[?host=…&port=…&tls=…&tls_verify=…&timeout=…]` (see the module docs).
pub fn parse_exo(url: &str) -> Result<ImapConfig> {
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::config(format!(
            "endpoint `{url}` is not a URL ({e}); write exo://contoso.onmicrosoft.com"
        ))
    })?;
    let tenant = parsed.host_str().unwrap_or("").to_owned();
    if tenant.is_empty() {
        return Err(Error::config(format!(
            "endpoint `{url}`: the tenant is missing; write exo://<tenant domain or id>, e.g. exo://contoso.onmicrosoft.com"
        )));
    }
    if parsed.password().is_some() {
        return Err(Error::config(
            "endpoint URL: exo:// logs in with OAuth tokens only; no password belongs in the URL",
        ));
    }
    if parsed.port().is_some() || !matches!(parsed.path(), "" | "/") {
        return Err(Error::config(format!(
            "endpoint `{url}`: write only exo://<tenant>; the server is chosen with ?host=…&port=…"
        )));
    }
    let user = match parsed.username() {
        "" => None,
        u => Some(
            percent_encoding::percent_decode_str(u)
                .decode_utf8()
                .map_err(|_| Error::config("endpoint user: not valid UTF-8 after percent-decoding; check the %XX escapes"))?
                .into_owned(),
        ),
    };
    let mut cfg = ImapConfig {
        host: EXO_HOST.to_owned(),
        port: EXO_PORT,
        tls: TlsMode::Implicit,
        tls_verify: true,
        user,
        auth: None,
        timeout: DEFAULT_TIMEOUT,
        exchange: Some(ExchangeProfile { tenant }),
        xoauth2_only: true,
        fence: None,
    };
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "host" => {
                if value.is_empty() {
                    return Err(Error::config(
                        "endpoint option `host=`: write a host name, e.g. host=outlook.office365.us",
                    ));
                }
                cfg.host = value
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
            }
            "port" => {
                cfg.port = value.parse().ok().filter(|&p| p > 0).ok_or_else(|| {
                    Error::config(format!(
                        "endpoint option `port={value}`: write a port number, e.g. port=993"
                    ))
                })?;
            }
            "tls" => {
                cfg.tls = match value.as_ref() {
                    "implicit" => TlsMode::Implicit,
                    "plain" => TlsMode::Plain,
                    v => {
                        return Err(Error::config(format!(
                            "endpoint option `tls={v}`: write tls=implicit (Exchange Online) or tls=plain (a loopback emulator)"
                        )));
                    }
                }
            }
            "tls_verify" => cfg.tls_verify = crate::config::tls_verify_option(&value)?,
            "timeout" => cfg.timeout = crate::config::timeout_option(&value)?,
            k => {
                return Err(Error::config(format!(
                    "endpoint option `{k}` is unknown for exo://; the options are host, port, tls, tls_verify and timeout"
                )));
            }
        }
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MailEndpoint;
    use ferry_core::ErrorKind;

    fn exo(url: &str) -> ImapConfig {
        match MailEndpoint::parse(url) {
            Ok(MailEndpoint::Imap(c)) => c,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn exo_means_imaps_to_outlook_with_the_tenant_kept() {
        let c = exo("exo://contoso.onmicrosoft.com");
        assert_eq!(
            (c.host.as_str(), c.port, c.tls, c.tls_verify),
            (EXO_HOST, 993, TlsMode::Implicit, true)
        );
        assert_eq!(
            c.exchange.as_ref().map(|p| p.tenant.as_str()),
            Some("contoso.onmicrosoft.com")
        );
        assert_eq!(c.describe(), "imaps://outlook.office365.com:993");
        let c = exo("EXO://0f6c4a4e-1d5b-4a5e-9d1e-3b0f2d7c9a11");
        assert_eq!(
            c.exchange.map(|p| p.tenant),
            Some("0f6c4a4e-1d5b-4a5e-9d1e-3b0f2d7c9a11".to_owned())
        );
    }

    #[test]
    fn host_port_and_tls_are_overridable_for_sovereign_clouds_and_emulators() {
        let c = exo("exo://contoso.us?host=outlook.office365.us");
        assert_eq!((c.host.as_str(), c.port), ("outlook.office365.us", 993));
        let c = exo("exo://contoso.onmicrosoft.com?host=127.0.0.1&port=14300&tls=plain&timeout=5");
        assert_eq!(
            (c.host.as_str(), c.port, c.tls, c.timeout),
            (
                "127.0.0.1",
                14300,
                TlsMode::Plain,
                std::time::Duration::from_secs(5)
            )
        );
        assert!(!exo("exo://t?tls_verify=false").tls_verify);
        assert_eq!(
            exo("exo://alice%40contoso.com@contoso.com").user.as_deref(),
            Some("alice@contoso.com")
        );
    }

    #[test]
    fn bad_exo_urls_say_what_to_write() {
        for (url, hint) in [
            ("exo://", "tenant"),
            ("exo://t:99", "?host="),
            ("exo://t/INBOX", "?host="),
            ("exo://a:pw@t", "password"),
            ("exo://t?port=x", "port=993"),
            ("exo://t?tls=starttls", "tls=implicit"),
            ("exo://t?colour=red", "options are host"),
            ("exo://t?timeout=0", "seconds"),
        ] {
            let e = MailEndpoint::parse(url).expect_err(url);
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(e.message().contains(hint), "{url}: {}", e.message());
            assert!(!e.to_string().contains("pw"), "{url}");
        }
    }

    #[test]
    fn reserved_names_are_renamed_reversibly_and_roles_have_exchange_names() {
        assert_eq!(reserved_rename("Files").as_deref(), Some("Files (renamed)"));
        assert_eq!(reserved_rename("files").as_deref(), Some("files (renamed)"));
        assert_eq!(reserved_rename("Work"), None);
        assert_eq!(well_known_name(SpecialUse::Sent), "Sent Items");
        assert_eq!(well_known_name(SpecialUse::Trash), "Deleted Items");
        assert_eq!(well_known_name(SpecialUse::Junk), "Junk Email");
    }

    #[test]
    fn folders_over_exchanges_item_depth_or_subfolder_limits_are_named_and_others_pass() {
        let ok = vec![
            ("INBOX".to_string(), 5),
            ("Archive/2024".to_string(), EXO_MAX_ITEMS_PER_FOLDER),
        ];
        assert!(folder_limit_problems(&ok).is_empty());
        let deep = vec!["d"; EXO_MAX_FOLDER_DEPTH + 1].join("/");
        let mut bad = vec![("Big".to_string(), EXO_MAX_ITEMS_PER_FOLDER + 1), (deep, 1)];
        for i in 0..=EXO_MAX_SUBFOLDERS {
            bad.push((format!("Many/{i}"), 0));
        }
        let rules: Vec<&str> = folder_limit_problems(&bad).iter().map(|p| p.0).collect();
        assert_eq!(
            rules,
            [
                "folder_over_exchange_item_limit",
                "folder_over_exchange_depth",
                "folder_over_exchange_subfolder_limit"
            ]
        );
        let p = folder_limit_problems(&bad);
        assert!(
            p[0].1.contains("Big") && p[0].1.contains("1000000"),
            "{}",
            p[0].1
        );
        assert!(p[2].1.contains("Many"), "{}", p[2].1);
    }

    #[test]
    fn a_reserved_target_folder_is_shown_renamed_with_a_note_and_others_are_not() {
        let seg = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (shown, note) = shown_folder(&seg(&["Files", "2024"])).unwrap();
        assert_eq!(shown, "Files (renamed)/2024");
        assert!(note.contains("reserved on Exchange Online"), "{note}");
        assert_eq!(shown_folder(&seg(&["Work", "Files"])), None);
        assert_eq!(shown_folder(&[]), None);
    }
}
