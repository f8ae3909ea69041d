//! `ferry`: the command-line front end to Ferry's engine.
//!
//! Exit codes (for scripts): 0 everything copied / verified; 1 finished, but some items were skipped or
//! failed, or verify found missing messages; 2 an error stopped the command (bad flags, unreadable CSV, the
//! store, or no mailbox could be processed at all).

mod endpoints;
mod files;
mod format;
mod mail;
mod quickstart;
mod report;
mod summary;
mod ui;

use clap::{Parser, Subcommand};

use std::path::PathBuf;
use std::process::ExitCode;

/// Ferry moves mail and files from the systems an organisation is leaving into its new home:
/// resumable, verified, and never touching the source.
#[derive(Parser, Debug)]
#[command(
    name = "ferry",
    version,
    propagate_version = true,
    max_term_width = 110
)]
struct Cli {
    /// Directory holding Ferry's state (the SQLite store `ferry.db`): re-runs, reports and verify find
    /// earlier passes here.
    #[arg(long, global = true, env = "FERRY_DATA", default_value = "ferry-data")]
    data: PathBuf,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,

    /// More log output (-v info, -vv debug). Also RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a sample mailbox, migrate it with the real engine and store, verify it, and show the report.
    /// Needs no server.
    Quickstart(quickstart::QuickstartArgs),
    /// Mail migrations: migrate and verify.
    #[command(subcommand)]
    Mail(Box<mail::MailCommand>),
    /// File migrations: migrate, verify and assess file trees (local paths and shares, WebDAV, SFTP, S3).
    #[command(subcommand)]
    Files(Box<files::FilesCommand>),
    /// Show what earlier runs did: per mailbox and folder, discovered, copied, skipped, failed (with
    /// reasons), bytes and duration.
    Report(report::ReportArgs),
}

/// How a command ended, mapped to the documented exit codes.
pub enum Outcome {
    Ok,
    Incomplete,
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,sqlx=warn",
        _ => "debug,sqlx=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// glibc raises its mmap threshold each time a large buffer is freed, after which every message buffer
/// below that size comes from heap arenas that fragment and are not returned: on the 10-mailbox benchmark
/// that is ~25 MB of peak RSS (124 MB vs 99 MB with the threshold pinned; mimalloc was worse, 162 MB).
/// The threshold can only be pinned before the allocator starts, so `ferry` replaces itself once (same
/// pid: `kill -9` and exit codes are unchanged) with `MALLOC_MMAP_THRESHOLD_` set. Set the variable
/// yourself (any value) to skip this.
#[cfg(target_os = "linux")]
fn pin_malloc_threshold() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        // `exec` only returns on failure; then we simply run untuned.
        let _ = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("MALLOC_MMAP_THRESHOLD_", "131072")
            .exec();
    }
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    pin_malloc_threshold();
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let ctx = Ctx {
        data: cli.data,
        json: cli.json,
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Quickstart(a) => quickstart::run(a).await,
            Command::Mail(c) => mail::run(&ctx, *c).await,
            Command::Files(c) => files::run(&ctx, *c).await,
            Command::Report(a) => report::run(&ctx, a).await,
        }
    });
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Incomplete) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// What every command gets from the global flags.
pub struct Ctx {
    pub data: PathBuf,
    pub json: bool,
}

impl Ctx {
    pub async fn store(&self) -> ferry_core::Result<ferry_store::SqliteStore> {
        ferry_store::SqliteStore::open(&self.data.join("ferry.db")).await
    }
}
