//! How the engine opens a mailbox: an [`EndpointOpener`] per side of a mapping.

use async_trait::async_trait;
use ferry_core::Result;
use ferry_core::mail::{Access, MailConnector};
use ferry_mail::config::MailEndpoint;

/// Opens connector sessions for one mailbox on one side.
#[async_trait]
pub trait EndpointOpener: Send + Sync {
    /// A stable description without secrets; the mapping's identity in the store.
    fn describe(&self) -> String;
    /// What shares a connection cap (host:port of a server, or a path).
    fn connection_key(&self) -> String;
    /// Open a new session.
    async fn open(&self, access: Access) -> Result<Box<dyn MailConnector>>;
}

#[async_trait]
impl EndpointOpener for MailEndpoint {
    fn describe(&self) -> String {
        MailEndpoint::describe(self)
    }

    fn connection_key(&self) -> String {
        match self {
            MailEndpoint::Imap(c) => format!("{}:{}", c.host, c.port),
            MailEndpoint::Maildir { path } | MailEndpoint::Mbox { path } => {
                path.display().to_string()
            }
        }
    }

    async fn open(&self, access: Access) -> Result<Box<dyn MailConnector>> {
        ferry_mail::open_mail(self, access).await
    }
}

/// The options a programme endpoint takes (`PUT …/endpoints/{side}` `options`, `ferry endpoint set
/// --option KEY=VALUE`), per workload, and the one check every way in goes through (issue 9, items 10 and 19).
///
/// Options are plain settings, stored as they are and returned to every role that may read the project.
/// So a key that names a secret (`password`, `secret_key`, `token`…) is refused outright — secrets go to the
/// credential vault — and so is any key Ferry does not know (a misspelt option would otherwise be ignored
/// silently). A known key with a bad value is refused with the values it takes.
pub mod options {
    use ferry_core::programme::Workload;
    use ferry_core::{Error, Result};
    use serde_json::{Map, Value};

    /// What values an option takes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind {
        /// Bytes as a whole number, or text with a unit: `"20KB"`, `"35 MB"`, `"1GB"` (1 KB = 1024 bytes).
        Size,
        /// A whole number from 1 up.
        Count,
        /// `true` or `false` (also `"yes"`/`"no"`, `"1"`/`"0"` as text).
        Bool,
        /// A non-empty text (a path or a name).
        Text,
        /// An `http://` or `https://` URL without a password.
        Url,
        /// One of these words (any case).
        Choice(&'static [&'static str]),
    }

    /// One known option.
    #[derive(Clone, Copy, Debug)]
    pub struct Spec {
        pub name: &'static str,
        pub workload: Workload,
        pub kind: Kind,
        /// One line for error messages and docs.
        pub help: &'static str,
    }

    /// Every option Ferry reads, by workload (`crates/server/src/workload/{mail,files}.rs` read them).
    pub const OPTIONS: &[Spec] = &[
        Spec {
            name: "max_message_size",
            workload: Workload::Mail,
            kind: Kind::Size,
            help: "messages larger than this are skipped (either side; the smaller wins)",
        },
        Spec {
            name: "quota_mb",
            workload: Workload::Mail,
            kind: Kind::Count,
            help: "the target mailbox quota in MB the assessment compares with",
        },
        Spec {
            name: "concurrency",
            workload: Workload::Mail,
            kind: Kind::Count,
            help: "mailboxes copied at once",
        },
        Spec {
            name: "max_connections",
            workload: Workload::Mail,
            kind: Kind::Count,
            help: "connections to one server at most",
        },
        Spec {
            name: "disarm_read_receipts",
            workload: Workload::Mail,
            kind: Kind::Bool,
            help: "target: rename each message's read-receipt request (Disposition-Notification-To); the per-item results note each one",
        },
        Spec {
            name: "authority",
            workload: Workload::Mail,
            kind: Kind::Text,
            help: "OAuth sign-in (exo:// and ?auth=xoauth2 endpoints): the identity platform, default https://login.microsoftonline.com",
        },
        Spec {
            name: "tenant",
            workload: Workload::Mail,
            kind: Kind::Text,
            help: "OAuth sign-in for ?auth=xoauth2 endpoints: the Entra tenant (exo://TENANT names it in the URL)",
        },
        Spec {
            name: "target_rules",
            workload: Workload::Files,
            kind: Kind::Choice(&["onedrive", "sharepoint", "none"]),
            help: "the target's name rules",
        },
        Spec {
            name: "known_hosts",
            workload: Workload::Files,
            kind: Kind::Text,
            help: "SFTP: the known_hosts file that holds the server's host key",
        },
        Spec {
            name: "accept_unknown_host_key",
            workload: Workload::Files,
            kind: Kind::Bool,
            help: "SFTP: accept a host key that is not in known_hosts (test servers only)",
        },
        Spec {
            name: "s3_endpoint",
            workload: Workload::Files,
            kind: Kind::Url,
            help: "S3: the server's URL (for S3-compatible services)",
        },
        Spec {
            name: "endpoint",
            workload: Workload::Files,
            kind: Kind::Url,
            help: "S3: the same as s3_endpoint",
        },
        Spec {
            name: "region",
            workload: Workload::Files,
            kind: Kind::Text,
            help: "S3: the bucket's region",
        },
        Spec {
            name: "tenant",
            workload: Workload::Files,
            kind: Kind::Text,
            help: "OneDrive/SharePoint (onedrive://, sharepoint://): the Entra tenant the app signs in to (its id or a verified domain)",
        },
        Spec {
            name: "authority",
            workload: Workload::Files,
            kind: Kind::Text,
            help: "OneDrive/SharePoint: the identity platform, default https://login.microsoftonline.com",
        },
    ];

    /// Parts of a key that say it holds a secret.
    const SECRET_WORDS: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "credential",
        "private",
        "apikey",
        "api_key",
        "access_key",
        "passphrase",
        "bearer",
        "auth",
        "key",
    ];

    /// Whether an option key names a secret (`password`, `secret_key`, `api-token`, `SecretAccessKey`…).
    /// Known options (such as `accept_unknown_host_key`) are never secrets.
    pub fn is_secret_key(key: &str) -> bool {
        if OPTIONS.iter().any(|o| o.name == key) {
            return false;
        }
        let k: String = key
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
            .to_ascii_lowercase();
        SECRET_WORDS.iter().any(|w| k.contains(w))
    }

    /// The known option names of `workload`, for messages.
    pub fn names(workload: Workload) -> Vec<&'static str> {
        OPTIONS
            .iter()
            .filter(|o| o.workload == workload)
            .map(|o| o.name)
            .collect()
    }

    /// A size: bytes, or a number with `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB` (1 KB = 1024 bytes).
    pub fn parse_size(s: &str) -> Option<u64> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num.parse().ok()?;
        let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KB" | "KIB" => 1024,
            "M" | "MB" | "MIB" => 1024 * 1024,
            "G" | "GB" | "GIB" => 1024 * 1024 * 1024,
            _ => return None,
        };
        n.checked_mul(mult)
    }

    /// A short rendering of a value for a message: never a long text (it could be pasted secret).
    fn shown(v: &Value) -> String {
        let s = v.to_string();
        if s.chars().count() > 40 {
            format!("{}…", s.chars().take(40).collect::<String>())
        } else {
            s
        }
    }

    fn check_value(spec: &Spec, v: &Value) -> Result<Value> {
        let bad = |what: &str| {
            Error::config(format!(
                "endpoint option {} = {}: {what} ({})",
                spec.name,
                shown(v),
                spec.help
            ))
        };
        let text = v.as_str().map(str::trim);
        match spec.kind {
            Kind::Size => {
                let ok = match v {
                    Value::Number(n) => n.as_u64().is_some_and(|n| n > 0),
                    Value::String(s) => parse_size(s).is_some_and(|n| n > 0),
                    _ => false,
                };
                if ok {
                    Ok(v.clone())
                } else {
                    Err(bad(
                        "write bytes as a whole number, or a size such as \"20KB\", \"35MB\" or \"1GB\"",
                    ))
                }
            }
            Kind::Count => {
                let n = match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse::<u64>().ok(),
                    _ => None,
                };
                match n {
                    Some(n) if n >= 1 => Ok(Value::from(n)),
                    _ => Err(bad("write a whole number from 1 up")),
                }
            }
            Kind::Bool => match (v, text) {
                (Value::Bool(b), _) => Ok(Value::Bool(*b)),
                (_, Some("true" | "yes" | "1")) => Ok(Value::Bool(true)),
                (_, Some("false" | "no" | "0")) => Ok(Value::Bool(false)),
                _ => Err(bad("write true or false")),
            },
            Kind::Text => match text {
                Some(t) if !t.is_empty() && t.len() <= 4096 && !t.contains('\0') => {
                    if t.starts_with("-----BEGIN") {
                        return Err(Error::config(format!(
                            "endpoint option {} holds a key: supply keys and passwords as the endpoint's credential (PUT …/endpoints/{{side}}/credential, `ferry credential set`), where they are encrypted",
                            spec.name
                        )));
                    }
                    Ok(Value::String(t.to_string()))
                }
                _ => Err(bad("write a text of 1 to 4096 characters")),
            },
            Kind::Url => {
                let Some(t) = text.filter(|t| !t.is_empty()) else {
                    return Err(bad("write an http:// or https:// URL"));
                };
                match url::Url::parse(t) {
                    Ok(u) if u.password().is_some() => Err(Error::config(format!(
                        "endpoint option {} holds a password in its URL: remove it and supply the secret as the endpoint's credential (PUT …/endpoints/{{side}}/credential, `ferry credential set`)",
                        spec.name
                    ))),
                    Ok(u) if matches!(u.scheme(), "http" | "https") => {
                        Ok(Value::String(t.to_string()))
                    }
                    _ => Err(bad("write an http:// or https:// URL")),
                }
            }
            Kind::Choice(words) => {
                match text.and_then(|t| words.iter().find(|w| w.eq_ignore_ascii_case(t))) {
                    Some(w) => Ok(Value::String((*w).to_string())),
                    None => Err(bad(&format!("use one of {}", words.join(", ")))),
                }
            }
        }
    }

    /// Check the options of an endpoint of a `workload` project and return them normalised (numbers as
    /// numbers, booleans as booleans, choices in lower case), ready to store. Refused, with what to do:
    /// a key that names a secret, a key Ferry does not know (the message lists the known ones), and a
    /// known key with a bad value (the message says what it takes). A `null` value removes the option.
    pub fn check(workload: Workload, options: &Map<String, Value>) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for (key, v) in options {
            if is_secret_key(key) {
                return Err(Error::config(format!(
                    "endpoint option {key:?} would hold a secret, and options are stored and shown as they are: supply passwords and keys as the endpoint's credential instead (PUT …/endpoints/{{side}}/credential, `ferry credential set`), where they are encrypted and never shown"
                )));
            }
            let Some(spec) = OPTIONS
                .iter()
                .find(|o| o.name == key && o.workload == workload)
            else {
                let other = OPTIONS.iter().find(|o| o.name == key);
                return Err(Error::config(match other {
                    Some(o) => format!(
                        "endpoint option {key:?} is for {} projects, this is a {} project; its options are: {}",
                        o.workload.as_str(),
                        workload.as_str(),
                        names(workload).join(", ")
                    ),
                    None => format!(
                        "unknown endpoint option {:?}; the options of a {} endpoint are: {}",
                        shown(&Value::String(key.clone())).trim_matches('"'),
                        workload.as_str(),
                        names(workload).join(", ")
                    ),
                }));
            };
            if v.is_null() {
                continue;
            }
            out.insert(key.clone(), check_value(spec, v)?);
        }
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        fn map(v: Value) -> Map<String, Value> {
            v.as_object().cloned().unwrap_or_default()
        }

        #[test]
        fn secret_bearing_keys_are_refused_whatever_their_spelling() {
            for key in [
                "password",
                "secret_key",
                "Password",
                "aws-secret-access-key",
                "SecretAccessKey",
                "api_token",
                "private_key",
                "sas_token",
            ] {
                let e = check(Workload::Files, &map(json!({ key: "hunter2" }))).unwrap_err();
                assert!(e.message().contains("credential"), "{key}: {e}");
                assert!(!e.message().contains("hunter2"), "{e}");
            }
            assert!(!is_secret_key("accept_unknown_host_key"));
        }

        #[test]
        fn unknown_keys_are_refused_with_the_known_ones() {
            let e = check(Workload::Files, &map(json!({ "target_rule": "onedrive" }))).unwrap_err();
            assert!(e.message().contains("target_rules"), "{e}");
            let e = check(Workload::Mail, &map(json!({ "target_rules": "onedrive" }))).unwrap_err();
            assert!(e.message().contains("files projects"), "{e}");
        }

        #[test]
        fn bad_values_are_refused_with_the_allowed_values() {
            let e =
                check(Workload::Files, &map(json!({ "target_rules": "onedrvie" }))).unwrap_err();
            assert!(e.message().contains("onedrive, sharepoint, none"), "{e}");
            for (k, v) in [
                ("max_message_size", json!("35 parsecs")),
                ("concurrency", json!(0)),
                ("quota_mb", json!("-1")),
            ] {
                assert!(check(Workload::Mail, &map(json!({ k: v }))).is_err(), "{k}");
            }
            assert!(
                check(
                    Workload::Files,
                    &map(json!({ "s3_endpoint": "http://u:p@h" }))
                )
                .is_err()
            );
            assert!(
                check(
                    Workload::Files,
                    &map(json!({ "accept_unknown_host_key": "maybe" }))
                )
                .is_err()
            );
        }

        #[test]
        fn good_values_are_normalised() {
            let m = check(
                Workload::Mail,
                &map(json!({ "concurrency": "4", "max_message_size": "20KB", "quota_mb": 5, "max_connections": null })),
            )
            .unwrap();
            assert_eq!(
                Value::Object(m),
                json!({ "concurrency": 4, "max_message_size": "20KB", "quota_mb": 5 })
            );
            let m = check(
                Workload::Files,
                &map(json!({ "target_rules": "OneDrive", "accept_unknown_host_key": "true", "s3_endpoint": "http://127.0.0.1:9000", "region": "us-east-1" })),
            )
            .unwrap();
            assert_eq!(m["target_rules"], "onedrive");
            assert_eq!(m["accept_unknown_host_key"], true);
        }
    }
}
