//! IMAP4rev1 (RFC 3501) source and target, on our own small client.
//!
//! Why not a client crate: we need exact control over what is sent (never `SELECT`, only `BODY.PEEK`),
//! pipelined `APPEND` with non-synchronising literals, `APPENDUID`, and cheap reconnection. The pieces:
//! - [`proto`]: pure framing and encoding (no I/O), tested by feeding bytes split at every position;
//!   `imap-proto` parses the framed responses,
//! - `client`: one TCP/TLS connection, tags, literals, login,
//! - [`connector`]: [`ImapConnector`], the [`ferry_core::mail::MailConnector`] implementation,
//! - `error`: the one native → [`ferry_core::Error`] mapping.

mod client;
pub mod connector;
mod error;
mod pace;
pub mod proto;

pub use connector::ImapConnector;
