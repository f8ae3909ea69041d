//! The file mover (issue 3): passes, verify and assess over any [`FileConnector`] pair.
//!
//! Design (DESIGN §5):
//! - **Walk in step**: source and target are listed one directory at a time and compared in memory with
//!   the journal rows of that directory, so memory is flat from 100k to 1M files and a delta pass costs
//!   one listing per directory of the source and at most one of the target, never a request per file.
//! - **Never destructive**: a target file that changed after Ferry wrote it is Skipped ("changed on
//!   target"); a target file Ferry did not write is never overwritten; nothing is deleted.
//! - **Crash safety**: targets write atomically (temp name, then rename) or only show complete objects,
//!   files are journaled `pending` before the copy starts, and a re-run adopts a target file that matches
//!   a pending row instead of copying it twice. A new file on a target that writes atomically and keeps
//!   mtimes skips the pending row: it is either absent or identical to the source (adopted), and a file
//!   changed there since is never overwritten.
//! - **Per-file overhead is the budget** for trees of small files: a few directories are scanned ahead
//!   at once ([`pass`]), a re-run needs no target listing for files the journal shows copied and
//!   unchanged, journal rows go through one writer task (`journal`) so nothing waits on the database
//!   but a copy on its own pending row, and local → local copies go in batches through
//!   [`LocalFiles`](ferry_core::file::LocalFiles) (`copy`).

pub mod assess;
mod copy;
mod journal;
pub mod pass;
mod scan;
pub mod spmt;
pub mod verify;

use crate::pattern::glob;
use crate::retry::RetryPolicy;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::file::FileConnector;
use ferry_core::mail::Access;
use ferry_files::config::FileEndpoint;
use std::sync::Arc;
use std::time::Duration;

pub use pass::{FileMappingResult, FileRunSummary, run_files};
pub use verify::{FileVerify, verify_files};

/// Opens the connector for one side of a file mapping.
#[async_trait]
pub trait FileOpener: Send + Sync {
    /// Stable, without secrets: the mapping's identity in the store.
    fn describe(&self) -> String;
    async fn open(&self, access: Access) -> Result<Arc<dyn FileConnector>>;
    /// True for cloud sources (their 15 GB file limit applies on OneDrive/SharePoint).
    fn is_cloud(&self) -> bool {
        false
    }
    /// What shares a connection cap: the server (host:port), whatever the path.
    fn connection_key(&self) -> String {
        self.describe()
    }
}

#[async_trait]
impl FileOpener for FileEndpoint {
    fn describe(&self) -> String {
        FileEndpoint::describe(self)
    }

    async fn open(&self, access: Access) -> Result<Arc<dyn FileConnector>> {
        ferry_files::open_files(self, access).await
    }

    fn is_cloud(&self) -> bool {
        matches!(self, FileEndpoint::S3(_) | FileEndpoint::Graph(_))
    }

    fn connection_key(&self) -> String {
        match self {
            FileEndpoint::Local { .. } => "local".to_owned(),
            FileEndpoint::WebDav(c) => {
                format!(
                    "webdav:{}:{}",
                    c.base.host_str().unwrap_or(""),
                    c.base.port_or_known_default().unwrap_or(0)
                )
            }
            FileEndpoint::Sftp(c) => format!("sftp:{}:{}", c.host, c.port),
            FileEndpoint::S3(c) => match &c.endpoint {
                Some(e) => format!(
                    "s3:{}:{}",
                    e.host_str().unwrap_or(""),
                    e.port_or_known_default().unwrap_or(0)
                ),
                None => format!("s3:{}", c.region),
            },
            // One drive is one stream of requests; the tenant's pace is kept by the connector.
            FileEndpoint::Graph(c) => format!("graph:{}", c.describe()),
        }
    }
}

/// One tree to move.
#[derive(Clone)]
pub struct FileMappingSpec {
    pub label: String,
    pub source: Arc<dyn FileOpener>,
    pub target: Arc<dyn FileOpener>,
    /// Where under the source root to start (`""` for the root).
    pub source_dir: String,
    /// Where under the target root to put it (`""` for the root).
    pub target_dir: String,
    /// Whether `target_dir` is a document library's root (SharePoint's `forms` rule applies there).
    pub at_library_root: bool,
}

impl FileMappingSpec {
    /// The source as stored for the mapping: the endpoint plus the directory to start from.
    pub fn source_description(&self) -> String {
        with_dir(self.source.describe(), &self.source_dir)
    }

    /// The target as stored for the mapping: the endpoint plus the directory to copy into.
    pub fn target_description(&self) -> String {
        with_dir(self.target.describe(), &self.target_dir)
    }
}

fn with_dir(endpoint: String, dir: &str) -> String {
    if dir.is_empty() {
        endpoint
    } else {
        format!("{}/{dir}", endpoint.trim_end_matches('/'))
    }
}

/// `path` relative to `root` (both relative to a connector's root; `""` is the root itself).
pub(crate) fn relative<'a>(path: &'a str, root: &str) -> &'a str {
    if root.is_empty() {
        path
    } else {
        path.strip_prefix(root)
            .map(|p| p.trim_start_matches('/'))
            .unwrap_or(path)
    }
}

/// Which files a pass considers. Globs match the path relative to the mapping's source directory
/// (`*` crosses `/`); ages compare the source mtime with the time the pass started.
#[derive(Clone, Debug, Default)]
pub struct PathFilter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Only files modified within this long.
    pub max_age: Option<Duration>,
    /// Only files older than this.
    pub min_age: Option<Duration>,
}

impl PathFilter {
    /// Whether a file passes the filter.
    pub fn selects(&self, path: &str, mtime: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        if !self.include.is_empty() && !self.include.iter().any(|p| glob(p, path)) {
            return false;
        }
        if self.exclude.iter().any(|p| glob(p, path)) {
            return false;
        }
        let age = mtime.and_then(|m| (now - m).to_std().ok());
        if let Some(max) = self.max_age
            && age.is_some_and(|a| a > max)
        {
            return false;
        }
        if let Some(min) = self.min_age
            && age.is_none_or(|a| a < min)
        {
            return false;
        }
        true
    }
}

/// Options of a file run.
#[derive(Clone, Debug)]
pub struct FileOptions {
    /// Files copied at once within a mapping.
    pub concurrency: usize,
    /// Mappings at once.
    pub mappings: usize,
    pub rules: ferry_core::rules::TargetRules,
    pub filter: PathFilter,
    /// Compare content hashes, not only size and mtime, to decide what changed.
    pub checksum: bool,
    pub retry: RetryPolicy,
    /// Copies one server (host:port) may serve at once, over all mappings of the run.
    pub connections_per_endpoint: usize,
    /// Verify: pair names by the target rules the mapping's passes used (when the store knows them)
    /// rather than `rules` — set when the user did not name the rules.
    pub rules_from_journal: bool,
    /// Run a Final pass: a Delta recorded as Final that seals the mapping when it ends without errors; a
    /// sealed mapping copies nothing more (the mail engine's rule).
    pub final_pass: bool,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            concurrency: 16,
            mappings: 2,
            rules: ferry_core::rules::TargetRules::default(),
            filter: PathFilter::default(),
            checksum: false,
            retry: RetryPolicy::default(),
            connections_per_endpoint: 16,
            rules_from_journal: false,
            final_pass: false,
        }
    }
}

/// RFC 3339 with nanoseconds: how file mtimes are journaled and compared.
pub(crate) fn stamp(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}

/// Two mtimes are the same when they agree to the second (many services keep only seconds).
pub(crate) fn same_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).num_milliseconds().abs() < 1000,
        _ => false,
    }
}

pub(crate) fn parse_stamp(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine_globs_and_ages() {
        let now = Utc::now();
        let day = Duration::from_secs(86_400);
        let f = PathFilter {
            include: vec!["docs/*".into()],
            exclude: vec!["*.tmp".into()],
            max_age: Some(day * 30),
            min_age: Some(day),
        };
        let old = Some(now - chrono::Duration::days(2));
        assert!(f.selects("docs/a.txt", old, now));
        assert!(!f.selects("docs/a.tmp", old, now));
        assert!(!f.selects("src/a.txt", old, now));
        assert!(
            !f.selects("docs/new.txt", Some(now), now),
            "younger than min-age"
        );
        assert!(
            !f.selects(
                "docs/ancient.txt",
                Some(now - chrono::Duration::days(90)),
                now
            ),
            "older than max-age"
        );
    }

    #[test]
    fn paths_are_made_relative_to_the_mapping_root_and_descriptions_carry_the_dirs() {
        assert_eq!(relative("Finance/2024/a.txt", "Finance"), "2024/a.txt");
        assert_eq!(relative("a.txt", ""), "a.txt");
        assert_eq!(
            with_dir("webdav://h:1/site/".into(), "Documents/In"),
            "webdav://h:1/site/Documents/In"
        );
        assert_eq!(with_dir("/srv/share".into(), ""), "/srv/share");
    }

    #[test]
    fn times_agree_to_the_second() {
        let t = Utc::now();
        assert!(same_time(
            Some(t),
            Some(t + chrono::Duration::milliseconds(400))
        ));
        assert!(!same_time(Some(t), Some(t + chrono::Duration::seconds(2))));
        assert!(!same_time(None, Some(t)));
        assert_eq!(parse_stamp(stamp(Some(t)).as_deref()), Some(t));
    }
}
