//! `ferry quickstart`: the whole job on the embedded default, with no external server.
//!
//! First the mover: it writes a sample Maildir (folders, nested and non-ASCII names, flags and keywords,
//! dates, a duplicate, a message without Message-ID, a 1 MB attachment), plans, migrates into a local
//! Maildir target with the same engine and SQLite store used for IMAP, re-runs (nothing new is copied),
//! verifies and prints the report. Then the programme ([`programme`]): the service runs in this process and
//! the walk drives it over HTTP from tenant to final report.

mod programme;

use crate::format::human_bytes;
use crate::mail::MailCommand;
use crate::report::ReportArgs;
use crate::{Ctx, Outcome};
use clap::{Args, Parser};
use ferry_core::{Error, Result};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Where to put the sample source, the target and the store. Re-created on each run (only if it was
    /// made by an earlier quickstart).
    #[arg(long, default_value = "ferry-quickstart")]
    dir: PathBuf,
}

const MARKER: &str = ".ferry-quickstart";

fn prepare(dir: &Path) -> Result<()> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            return Err(Error::config(format!(
                "{} exists and was not made by `ferry quickstart`; choose another --dir",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir)
            .map_err(|e| Error::config(format!("cannot clear {}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
    std::fs::write(dir.join(MARKER), b"made by ferry quickstart\n")
        .map_err(|e| Error::config(format!("cannot write in {}: {e}", dir.display())))?;
    Ok(())
}

fn heading(step: &str) {
    println!("\n== {step}");
}

/// Parse the sub-command arguments as a user would type them, so the quickstart runs exactly the
/// commands it tells the user about.
fn mail_args(args: &[&str]) -> Result<MailCommand> {
    #[derive(Parser)]
    struct Wrap {
        #[command(subcommand)]
        cmd: MailCommand,
    }
    let mut v = vec!["ferry"];
    v.extend_from_slice(args);
    Wrap::try_parse_from(v)
        .map(|w| w.cmd)
        .map_err(|e| Error::unexpected(format!("quickstart: {e}")))
}

/// The quickstart keeps its own store under `--dir`, so the global `--data` does not apply to it.
pub async fn run(a: QuickstartArgs) -> Result<Outcome> {
    let dir = a.dir;
    prepare(&dir)?;
    let source = dir.join("source");
    let target = dir.join("target");
    let data = dir.join("data");
    let qctx = Ctx {
        data: data.clone(),
        json: false,
        server: String::new(),
        token: None,
    };
    let (src_url, tgt_url) = (
        format!("maildir:{}", source.display()),
        format!("maildir:{}", target.display()),
    );

    heading("1. A sample mailbox to migrate");
    let info = ferry_mail::sample::write_sample_maildir(&source).await?;
    println!(
        "Wrote {} messages ({}) in {} folders to {}:",
        info.messages,
        human_bytes(info.bytes),
        info.folders.len(),
        source.display()
    );
    for f in &info.folders {
        let note = if f.selectable {
            format!("{} messages", f.messages)
        } else {
            "parent only (\\Noselect)".into()
        };
        println!("  {:<24} {note}", f.path.to_string());
    }

    let base = ["--source", src_url.as_str(), "--target", tgt_url.as_str()];
    let cmd_line = format!(
        "ferry --data {} mail migrate --source {src_url} --target {tgt_url}",
        data.display()
    );

    heading("2. Plan (--dry-run: reads only, writes nothing)");
    let mut v = vec!["migrate"];
    v.extend_from_slice(&base);
    v.push("--dry-run");
    crate::mail::run(&qctx, mail_args(&v)?).await?;

    heading(&format!("3. Migrate: {cmd_line}"));
    let mut v = vec!["migrate"];
    v.extend_from_slice(&base);
    let first = crate::mail::run(&qctx, mail_args(&v)?).await?;

    heading("4. Run it again: only what is new is copied (nothing, here)");
    crate::mail::run(&qctx, mail_args(&v)?).await?;

    heading("5. Verify: compare source and target folder by folder");
    let mut v = vec!["verify"];
    v.extend_from_slice(&base);
    let verified = crate::mail::run(&qctx, mail_args(&v)?).await?;

    heading(&format!(
        "6. Report: ferry --data {} report   (also --format csv|json)",
        data.display()
    ));
    crate::report::run(&qctx, ReportArgs::parse_default()?).await?;

    println!(
        "The source was opened read-only and is unchanged. Everything is in {}.",
        dir.display()
    );

    let completed = programme::walk(&dir, 7).await?;

    println!("\nEverything is in {}. Next:", dir.display());
    println!(
        "  - one-off copies: point --source and --target at real servers, e.g. `ferry mail migrate --source imaps://old.example.com --target imap://new.example.com --mapping users.csv`;"
    );
    println!(
        "  - the programme: `ferry serve` (it prints the operator's token once), then the commands above with FERRY_SERVER and FERRY_TOKEN set. See docs/cli-programme.md."
    );
    Ok(match (first, verified, completed) {
        (Outcome::Ok, Outcome::Ok, true) => Outcome::Ok,
        _ => Outcome::Incomplete,
    })
}

impl ReportArgs {
    fn parse_default() -> Result<ReportArgs> {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            r: ReportArgs,
        }
        Wrap::try_parse_from(["report"])
            .map(|w| w.r)
            .map_err(|e| Error::unexpected(format!("quickstart: {e}")))
    }
}
