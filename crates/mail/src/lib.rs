//! Ferry's mail connectors: IMAP (source and target), Maildir (source and target), mbox (source).
//!
//! Every connector implements [`ferry_core::mail::MailConnector`]; [`open_mail`] turns an endpoint
//! (parsed from a URL such as `imaps://mail.example.com` or `maildir:/srv/mail/alice`) into one.

pub mod config;
pub mod imap;
pub mod maildir;
pub mod mbox;
pub mod sample;
