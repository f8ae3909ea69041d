//! Ferry's domain core: the types every other crate speaks.
//!
//! This crate has no I/O. It defines
//! - [`Error`]: one error struct with a small [`ErrorKind`] and a [`Retry`] status, so the engine can decide
//!   to retry on the status alone (DESIGN §4),
//! - the mail connector contract ([`mail::MailConnector`]) and its declared [`mail::MailCapability`],
//! - message identity ([`fingerprint`]), folder names ([`folder`], modified UTF-7 in [`utf7`]),
//! - the consistency grade ([`grade::Grade`]) and the user-visible limits ([`limits`]),
//! - the migration programme's rules as pure functions of data and a clock ([`programme`]).
//!
//! ```
//! use ferry_core::folder::FolderPath;
//! let p = FolderPath::parse("Projects/2024", '/');
//! assert_eq!(p.join('.'), "Projects.2024");
//! ```

pub mod error;
pub mod fence;
pub mod file;
pub mod fingerprint;
pub mod folder;
pub mod grade;
pub mod headline;
pub mod id;
pub mod limits;
pub mod mail;
pub mod programme;
pub mod receipts;
pub mod rules;
pub mod token;
pub mod utf7;

pub use error::{Error, ErrorKind, Result, Retry, redact_url};
