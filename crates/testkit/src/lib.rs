//! Ferry's test harness: real servers in temp dirs, seeding and snapshots, fault-injecting proxies (TCP and
//! HTTP), corpus generators and the mail and file connector conformance suites.
//!
//! Key design choice: tests run against **real** servers (Dovecot from Debian's `dovecot-imapd`; for files
//! [`webdav`] = `rclone serve webdav`, [`sftp`] = a per-test `sshd`, [`s3`] = moto's server) started per
//! test on a free loopback port, never against mocks; the harness is synchronous (std::net, threads,
//! processes) so it works from plain `#[test]`s and `#[tokio::test]`s alike, and it has its own tiny IMAP
//! client so the connectors under test never prepare or check their own data.
//!
//! ```no_run
//! use ferry_testkit::{corpus, dovecot::{Dovecot, DovecotOptions}};
//! let server = Dovecot::start(DovecotOptions::default())?;
//! server.add_user("alice", "secret")?;
//! server.seed("alice", "INBOX", &corpus::seed_messages(1, 100, 3_000))?;
//! let before = server.snapshot("alice")?;
//! // ... run the code under test against server.url() ...
//! assert_eq!(server.snapshot("alice")?, before, "the source was changed");
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod browser;
pub mod conformance;
pub mod corpus;
mod daemon;
pub mod dovecot;
pub mod exchange;
pub mod file_conformance;
pub mod graph;
pub mod http;
pub mod http_fault;
pub mod identity;
pub mod imap;
pub mod port;
pub mod postgres;
pub mod postgres_cluster;
pub mod proxy;
pub mod s3;
pub mod sftp;
pub mod snapshot;
pub mod webdav;

pub use dovecot::{Dovecot, DovecotOptions};
pub use imap::{RawImap, SeedMessage};
pub use snapshot::{ContentKey, FolderSnapshot, MailboxSnapshot, MessageSnapshot};

/// Where harnesses put their temp dirs: `$FERRY_TEST_TMPDIR` if set, else `/dev/shm` when it is a writable
/// tmpfs (mail stores on the VM disk are several times slower and vary run to run), else the system temp dir.
pub fn temp_root() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("FERRY_TEST_TMPDIR") {
        return dir.into();
    }
    let shm = std::path::Path::new("/dev/shm");
    let writable = shm.is_dir()
        && std::fs::metadata(shm).is_ok_and(|m| !m.permissions().readonly())
        && tempfile::tempdir_in(shm).is_ok();
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}
