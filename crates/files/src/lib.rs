//! Ferry's file connectors: local paths and mounted shares, WebDAV, SFTP, S3, and OneDrive/SharePoint
//! through Microsoft Graph, each implementing
//! [`ferry_core::file::FileConnector`]; [`open_files`] turns an endpoint (parsed from a path or a URL such
//! as `webdav://127.0.0.1:8080/share` or `s3://bucket/prefix`) into one.
//!
//! Key design choices:
//! - **Access is decided at open.** A source is opened [`Access::ReadOnly`] and then *cannot* write
//!   (every write fails with `Unsupported`): invariant 1, "the source is never changed", holds in code.
//! - **Own thin protocol clients where per-file overhead decides throughput.** WebDAV is a small client
//!   over one pooled reqwest `Client` (one request per file written, folders created once); local files
//!   use few thread hops per file. See each module's docs for the trade-offs.
//! - **Capabilities are declared, not assumed.** What a server cannot do (keep mtimes, atomic writes) is
//!   `false` in its [`FileCapability`](ferry_core::file::FileCapability), checked against the real
//!   servers the tests run.
//!
//! ```no_run
//! # async fn demo() -> ferry_core::Result<()> {
//! use ferry_core::mail::{Access, Secret};
//! use ferry_files::config::FileEndpoint;
//! let FileEndpoint::WebDav(cfg) = FileEndpoint::parse("webdav://alice@127.0.0.1:8080/share")? else {
//!     unreachable!()
//! };
//! let target = FileEndpoint::WebDav(cfg.with_credentials(None, Secret::new("pw"))?);
//! let target = ferry_files::open_files(&target, Access::ReadWrite).await?;
//! let source = ferry_files::open_files(&FileEndpoint::parse("/srv/share")?, Access::ReadOnly).await?;
//! let page = source.list("", None).await?;
//! # let _ = (page, target); Ok(()) }
//! ```

pub mod config;
pub mod fs;
pub mod graph;
pub mod http;
pub mod quickxor;
pub mod s3;
pub mod sftp;
pub mod webdav;

use config::FileEndpoint;
use ferry_core::file::FileConnector;
use ferry_core::mail::Access;
use ferry_core::{Error, ErrorKind};
use std::sync::Arc;

/// Open a connector for `endpoint`. Local directories are checked now (and created for a read-write
/// target); WebDAV and S3 connect on the first call; SFTP connects and logs in now; Graph resolves the
/// drive now (a OneDrive not provisioned yet fails here).
pub async fn open_files(
    endpoint: &FileEndpoint,
    access: Access,
) -> ferry_core::Result<Arc<dyn FileConnector>> {
    Ok(match endpoint {
        FileEndpoint::Local { path, follow_links } => {
            Arc::new(fs::LocalConnector::open(path, access)?.with_follow_links(*follow_links))
        }
        FileEndpoint::WebDav(cfg) => Arc::new(webdav::WebDavConnector::new(cfg.clone(), access)?),
        FileEndpoint::Sftp(cfg) => {
            Arc::new(sftp::SftpConnector::connect(cfg.clone(), access).await?)
        }
        FileEndpoint::S3(cfg) => Arc::new(s3::S3Connector::new(cfg.clone(), access)?),
        FileEndpoint::Graph(cfg) => {
            Arc::new(graph::GraphConnector::open(cfg.clone(), access).await?)
        }
    })
}

/// A relative path must be `/`-separated names, none empty, `.` or `..`, none containing NUL; `""` (the
/// root) only where `root_ok`. This keeps every path inside the connector's root, on every protocol.
pub(crate) fn check_path(path: &str, root_ok: bool, op: &'static str) -> ferry_core::Result<()> {
    if path.is_empty() {
        return if root_ok {
            Ok(())
        } else {
            Err(
                Error::new(ErrorKind::Rejected, "the root is a directory, not a file")
                    .with_operation(op),
            )
        };
    }
    for name in path.split('/') {
        if name.is_empty() || name == "." || name == ".." || name.contains('\0') {
            return Err(Error::new(
                ErrorKind::Rejected,
                "not a relative path of names (an empty name, `.`, `..`, a leading `/` or NUL)",
            )
            .with_operation(op)
            .with_context("path", path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_root_are_rejected() {
        for bad in ["/abs", "a//b", "a/./b", "../x", "a/..", "a/", "nul\0"] {
            let e = check_path(bad, true, "t").expect_err(bad);
            assert_eq!(e.kind(), ErrorKind::Rejected, "{bad}");
        }
        for good in ["a", "a b/c\td", ".hidden/..x", "x\ny", "#%&"] {
            check_path(good, false, "t").unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        assert!(check_path("", true, "t").is_ok());
        assert!(check_path("", false, "t").is_err());
    }
}
