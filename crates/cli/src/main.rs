//! `ferry`: the command-line front end to Ferry's engine.
//!
//! Exit codes (for scripts): 0 everything copied / verified; 1 finished, but some items were skipped or
//! failed, or verify found missing messages; 2 an error stopped the command (bad flags, unreadable CSV, the
//! store, or no mailbox could be processed at all) — for the programme commands: the server refused the
//! request (a rule, a role, something missing) or could not be reached.

mod client;
mod datadir;
mod endpoints;
mod files;
mod format;
mod mail;
mod oauth;
mod out;
mod programme;
mod quickstart;
mod report;
mod serve;
mod summary;
mod ui;
mod worker;

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
    max_term_width = 110,
    after_help = EXIT_CODES
)]
struct Cli {
    /// Directory holding Ferry's state (the SQLite store `ferry.db`): re-runs, reports and verify find
    /// earlier passes here. Default: $XDG_DATA_HOME/ferry, else ~/.local/share/ferry — the same from
    /// every working directory. Commands that use it print where it is on stderr.
    #[arg(
        long,
        global = true,
        env = "FERRY_DATA",
        value_name = "DIR",
        help_heading = "Global options"
    )]
    data: Option<PathBuf>,

    /// Also append log and progress lines (with timestamps) to FILE, for unattended runs.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    log_file: Option<PathBuf>,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,

    /// More log output (-v info, -vv debug). Also RUST_LOG.
    #[arg(
        short,
        long,
        global = true,
        action = clap::ArgAction::Count,
        help_heading = "Global options"
    )]
    verbose: u8,

    /// The Ferry server the programme commands (tenant, project, event, …) talk to.
    #[arg(
        long,
        global = true,
        env = "FERRY_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL",
        help_heading = "Programme server"
    )]
    server: String,

    /// The bearer token for --server. Prefer the FERRY_TOKEN variable: a flag shows in process lists.
    #[arg(
        long,
        global = true,
        env = "FERRY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = "Programme server"
    )]
    token: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a sample mailbox, migrate it with the real engine and store, verify it, and show the report;
    /// then walk the migration programme (tenant, gates, assessment, pilot, synchronization, completion,
    /// report) on a service started in this process. Needs no server.
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
    /// Run the programme service: the REST API (/api/v1), /healthz, /metrics and the scheduler with its
    /// workers, on the store in --data. On an empty store it creates the operator account and prints its
    /// token once (or takes it from FERRY_BOOTSTRAP_TOKEN).
    Serve(serve::ServeArgs),
    /// Run passes only (no API, no scheduler): take them from the queue of `ferry serve --queue` on the
    /// store in --data, or on the PostgreSQL database of --store / FERRY_STORE (from any machine), --slots
    /// at once, each under a lease. Several workers may share one store; SIGTERM gives running passes back.
    Worker(worker::WorkerArgs),
    #[command(flatten)]
    Programme(programme::ProgrammeCommand),
}

const EXIT_CODES: &str = "Exit codes: 0 done; 1 finished, but some items were skipped or failed (migrate, verify, \
quickstart); 2 an error stopped the command — bad flags or input, the store, or, for the programme commands, the \
server refused the request (the message names the rule or role, the error kind and the request id) or could not be \
reached.";

/// How a command ended, mapped to the documented exit codes.
pub enum Outcome {
    Ok,
    Incomplete,
}

/// Logs go to stderr, and with `--log-file` also to that file (appended, without colours). The
/// quickstart's default is errors only: its output is the story it tells, and the warnings it would show
/// are expected (e.g. a Maildir source changes its UIDVALIDITY whenever mail arrives, which the Delta pass
/// handles by matching content fingerprints). `ferry serve` logs the programme's own events (event and
/// pass starts, ends, failures) at info by default, as text or, with `--log-format json`, one JSON
/// object per line.
fn init_tracing(
    verbose: u8,
    story: bool,
    serve: Option<serve::LogFormat>,
    log_file: Option<std::fs::File>,
) {
    use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
    let default = match verbose {
        0 if story => "error",
        0 if serve.is_some() => "warn,ferry_server=info",
        0 => "warn",
        1 => "info,sqlx=warn",
        _ => "debug,sqlx=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = log_file.is_none();
    let writer = match log_file {
        Some(f) => BoxMakeWriter::new(std::io::stderr.and(std::sync::Mutex::new(f))),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false);
    if serve == Some(serve::LogFormat::Json) {
        fmt.json().init();
    } else {
        fmt.init();
    }
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
    let story = matches!(cli.command, Command::Quickstart(_));
    let serve_logs = match &cli.command {
        Command::Serve(a) => Some(a.log_format),
        Command::Worker(_) => Some(serve::LogFormat::Text),
        _ => None,
    };
    let log_file = match &cli.log_file {
        Some(path) => match ui::open_log_file(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    if let Some(f) = &log_file {
        ui::set_log_file(f);
    }
    init_tracing(cli.verbose, story, serve_logs, log_file);
    out::exit_quietly_on_closed_pipe();
    let data = match datadir::from_env(cli.data) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if story {
        // The quickstart keeps its own store and tells where; no second line about the default one.
        STORE_ANNOUNCED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
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
        data,
        json: cli.json,
        server: cli.server,
        token: cli.token,
    };
    let result = rt.block_on(dispatch(&ctx, cli.command));
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Incomplete) => ExitCode::from(1),
        Err(e) => {
            ui::log_line(&format!("error: {e}"));
            ExitCode::from(2)
        }
    }
}

async fn dispatch(ctx: &Ctx, command: Command) -> ferry_core::Result<Outcome> {
    match command {
        Command::Quickstart(a) => quickstart::run(a).await,
        Command::Mail(c) => mail::run(ctx, *c).await,
        Command::Files(c) => files::run(ctx, *c).await,
        Command::Report(a) => report::run(ctx, a).await,
        Command::Serve(a) => serve::run(ctx, a).await,
        Command::Worker(a) => worker::run(ctx, a).await,
        Command::Programme(c) => programme::run(ctx, c).await.map(|_| Outcome::Ok),
    }
}

/// Set once the store's location was printed (or must not be: the quickstart).
static STORE_ANNOUNCED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What every command gets from the global flags.
pub struct Ctx {
    pub data: PathBuf,
    pub json: bool,
    /// The programme server's URL and the caller's token (programme commands only).
    pub server: String,
    pub token: Option<String>,
}

impl Ctx {
    /// A client for `--server` with `--token`.
    pub fn client(&self) -> ferry_core::Result<client::Client> {
        client::Client::new(&self.server, self.token.as_deref())
    }

    /// The store file, `DATA/ferry.db`.
    pub fn db_path(&self) -> PathBuf {
        self.data.join("ferry.db")
    }

    /// Say once, on stderr, which store this command uses: with a per-user default, a user who expected
    /// another one must be able to see it (issue 9, item 7).
    pub fn announce_store(&self) {
        if !STORE_ANNOUNCED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            ui::log_line(&format!("ferry: store {}", self.db_path().display()));
        }
    }

    pub async fn store(&self) -> ferry_core::Result<ferry_store::SqliteStore> {
        self.announce_store();
        ferry_store::SqliteStore::open(&self.db_path()).await
    }
}
