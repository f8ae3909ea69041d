//! User-visible limits and their defaults, in one place. Each has a test and a line in `docs/`.

/// Largest message copied by default (Exchange Online's IMAP migration limit); larger ones are Skipped.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 35 * 1024 * 1024;

/// Bytes all mailboxes of one run may hold in flight at once (fetched, not yet appended). 48 MB: on the
/// mail benchmark (10 mailboxes at once) 64 MB bought no speed and cost 16 MB of peak RSS (bench/README.md).
pub const DEFAULT_INFLIGHT_BYTES: u64 = 48 * 1024 * 1024;

/// Mailboxes migrated at once by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Summaries read per page when listing a folder: folders are never held whole in memory.
pub const SUMMARY_PAGE: u32 = 1000;

/// Connections one endpoint may have open at once by default (Dovecot's per-user/IP default is 10).
pub const DEFAULT_CONNECTIONS_PER_ENDPOINT: usize = 16;

/// Attempts for an operation that fails with a temporary error, before the item or folder is Failed.
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 5;

/// Attempts when the server says it is throttling (429 / 503 with Retry-After, `NO [UNAVAILABLE]`).
pub const DEFAULT_THROTTLED_ATTEMPTS: u32 = 12;
