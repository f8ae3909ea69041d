//! Ferry's mail connectors: IMAP (source and target; Exchange Online as `exo://`), Maildir (source and
//! target), mbox (source).
//!
//! Every connector implements [`ferry_core::mail::MailConnector`]; [`open_mail`] turns an endpoint
//! (parsed from a URL such as `imaps://mail.example.com` or `maildir:/srv/mail/alice`) into one.
//!
//! The key design choice is that access is decided when a connector is opened: a source is opened
//! [`Access::ReadOnly`] and then *cannot* write (IMAP folders are only `EXAMINE`d, bodies fetched with
//! `BODY.PEEK[]`), which is how invariant 1 ("the source is never changed") holds in code.
//!
//! ```no_run
//! # async fn demo() -> ferry_core::Result<()> {
//! use ferry_core::mail::{Access, Secret};
//! use ferry_mail::config::MailEndpoint;
//! let MailEndpoint::Imap(cfg) = MailEndpoint::parse("imap://alice@127.0.0.1:1143?starttls=never")? else {
//!     unreachable!()
//! };
//! let endpoint = MailEndpoint::Imap(cfg.with_login(None, Secret::new("pw"))?);
//! let mut source = ferry_mail::open_mail(&endpoint, Access::ReadOnly).await?;
//! let folders = source.list_folders().await?;
//! # let _ = folders; Ok(()) }
//! ```

pub mod config;
pub mod exo;
pub mod imap;
pub mod maildir;
pub mod mbox;
pub mod sample;

use config::MailEndpoint;
use ferry_core::mail::{Access, MailConnector};

/// Open a connector for `endpoint`. IMAP connects lazily (on the first call); Maildir and mbox open
/// their directory or file now.
pub async fn open_mail(
    endpoint: &MailEndpoint,
    access: Access,
) -> ferry_core::Result<Box<dyn MailConnector>> {
    Ok(match endpoint {
        MailEndpoint::Imap(cfg) => Box::new(imap::ImapConnector::new(cfg.clone(), access)),
        MailEndpoint::Maildir { path } => Box::new(maildir::MaildirConnector::open(path, access)?),
        MailEndpoint::Mbox { path } => Box::new(mbox::MboxConnector::open(path, access)?),
    })
}
