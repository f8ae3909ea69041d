//! `ferry mail migrate` and `ferry mail verify`.

use crate::endpoints::{EndpointArgs, specs_signed_in};
use crate::format::{Table, human_bytes, parse_size};
use crate::summary::{RunRow, Words, finish_standing, print_json};
use crate::ui::ProgressUi;
use crate::{Ctx, Outcome};
use clap::{Args, Subcommand};
use ferry_core::{Result, limits};
use ferry_engine::pattern::FolderFilter;
use ferry_engine::progress::Progress;
use ferry_engine::{MailOptions, MappingSpec, plan_mail_with_journal, run_mail, verify_mail};

/// `--inflight`'s default as the user writes it; equal to the engine's [`limits::DEFAULT_INFLIGHT_BYTES`].
const INFLIGHT_DEFAULT: &str = "48MB";
use ferry_store::Store;
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum MailCommand {
    /// Copy mailboxes from the source to the target. Re-running copies only what is new; the source is
    /// never changed; nothing is ever deleted or overwritten on the target.
    Migrate(MigrateArgs),
    /// Compare source and target folder by folder (counts, sizes, content fingerprints) and grade each
    /// mailbox. Exits 1 when anything is missing.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct CommonArgs {
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// Only folders matching this pattern (repeatable). Globs over the folder path written with '/':
    /// `Archive` is that folder only, `Archive/*` its subfolders, `Archive*` both.
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Leave out folders matching this pattern (repeatable); wins over --include.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Mailboxes processed at once.
    #[arg(long, default_value_t = limits::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Connections one server (host:port) may have open at once, counted over all mailboxes.
    #[arg(long, default_value_t = limits::DEFAULT_CONNECTIONS_PER_ENDPOINT)]
    pub max_connections: usize,
    /// Rename each message's read-receipt request (Disposition-Notification-To) on the target, so users'
    /// clients do not ask to send receipts for old mail. Changes those messages' bytes (same size);
    /// `ferry report` lists them. Give it to every run (and to verify) of a migration.
    #[arg(long)]
    pub disarm_read_receipts: bool,
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Plan only: log in to both sides read-only, list folders with counts and sizes, say where each goes,
    /// and, from the store of earlier runs, what a real run would copy now and what it would skip. Writes
    /// nothing; exits as the real run would (1 when something would be skipped, 2 when no mailbox can
    /// be reached).
    #[arg(long)]
    pub dry_run: bool,
    /// Largest message to copy; larger ones are Skipped with that reason (Exchange Online's IMAP
    /// migration limit is 35 MB).
    #[arg(long, default_value = "35MB", value_parser = parse_size)]
    pub max_size: u64,
    /// Memory budget: bytes all mailboxes may hold in flight at once.
    #[arg(long, default_value = INFLIGHT_DEFAULT, value_parser = parse_size)]
    pub inflight: u64,
    /// Final pass: copy what is new, then seal the mapping (later runs copy nothing more).
    #[arg(long = "final")]
    pub final_pass: bool,
    /// Compare every folder with what the target holds and copy again whatever is missing there,
    /// messages deleted on the target included (without this they stay deleted). Never duplicates.
    #[arg(long)]
    pub recopy_missing: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Also print one line per folder.
    #[arg(long)]
    pub folders: bool,
}

fn options(c: &CommonArgs) -> MailOptions {
    MailOptions {
        concurrency: c.concurrency.max(1),
        connections_per_endpoint: c.max_connections.max(1),
        filter: FolderFilter {
            include: c.include.clone(),
            exclude: c.exclude.clone(),
        },
        disarm_read_receipts: c.disarm_read_receipts,
        ..MailOptions::default()
    }
}

pub async fn run(ctx: &Ctx, cmd: MailCommand) -> Result<Outcome> {
    match cmd {
        MailCommand::Migrate(a) => migrate(ctx, a).await,
        MailCommand::Verify(a) => verify(ctx, a).await,
    }
}

async fn migrate(ctx: &Ctx, a: MigrateArgs) -> Result<Outcome> {
    let specs = specs_signed_in(&a.common.endpoints).await?;
    let mut opts = options(&a.common);
    opts.max_size = a.max_size;
    opts.inflight_bytes = a.inflight.max(1024 * 1024);
    opts.final_pass = a.final_pass;
    opts.recopy_missing = a.recopy_missing;
    if a.dry_run {
        return dry_run(ctx, &specs, &opts).await;
    }
    let store: Arc<dyn Store> = Arc::new(ctx.store().await?);
    let progress = Arc::new(Progress::default());
    let ui = ProgressUi::start(progress.clone(), ctx.json, "msgs", "mailboxes");
    let started = std::time::Instant::now();
    let summary = run_mail(store.clone(), specs, opts, progress).await;
    ui.finish().await;
    let summary = summary?;
    let secs = started.elapsed().as_secs_f64();
    if ctx.json {
        print_json(&summary)?;
    }
    let ids: Vec<_> = summary
        .mailboxes
        .iter()
        .filter_map(|m| m.mapping_id)
        .collect();
    let standing = crate::report::standing(store.as_ref(), &ids).await?;
    let rows: Vec<RunRow<'_>> = summary
        .mailboxes
        .iter()
        .map(|m| RunRow {
            label: &m.label,
            kind: m.kind,
            counters: &m.counters,
            extra: None,
            status: m.status,
            error: m.error.as_deref(),
        })
        .collect();
    let words = Words {
        row: "Mailbox",
        extra: None,
        items: "",
        rate: "msg/s",
        noun: "mailbox",
    };
    finish_standing(
        ctx,
        &words,
        &rows,
        &summary.totals,
        summary.status,
        secs,
        Some(standing),
    )
}

/// `--dry-run`: the plan, with the same exit codes as a real run.
async fn dry_run(ctx: &Ctx, specs: &[MappingSpec], opts: &MailOptions) -> Result<Outcome> {
    // Only an existing store is read: a dry run creates nothing.
    let store = if ctx.db_path().exists() {
        Some(ctx.store().await?)
    } else {
        None
    };
    let plans = plan_mail_with_journal(specs, opts, store.as_ref().map(|s| s as &dyn Store)).await;
    if ctx.json {
        print_json(&plans)?;
    } else {
        for p in &plans {
            println!("{} ({} → {})", p.label, p.source, p.target);
            if let Some(e) = &p.error {
                println!("  cannot plan: {e}");
                continue;
            }
            let mut t = Table::new(&[
                "Source folder",
                "Target folder",
                "Messages",
                "Size",
                "Copied before",
                "To copy",
                "Over size limit",
                "Skipped before",
            ]);
            for f in &p.folders {
                let note = if f.selectable {
                    String::new()
                } else {
                    " (parent only)".into()
                };
                t.row(vec![
                    format!("{}{note}", f.source),
                    f.target.clone(),
                    f.messages.to_string(),
                    human_bytes(f.bytes),
                    f.copied_before.to_string(),
                    f.to_copy.to_string(),
                    f.over_size.to_string(),
                    f.skipped_before.to_string(),
                ]);
            }
            for l in t.render().lines() {
                println!("  {l}");
            }
        }
        let sum = |f: fn(&ferry_engine::job::FolderPlanRow) -> u64| {
            plans.iter().flat_map(|p| &p.folders).map(f).sum::<u64>()
        };
        println!(
            "Dry run: nothing was copied. A real run would copy {} messages and skip {} over the size limit; {} were copied and {} skipped before.",
            sum(|f| f.to_copy),
            sum(|f| f.over_size),
            sum(|f| f.copied_before),
            sum(|f| f.skipped_before)
        );
    }
    // As a real run: no mailbox reachable is an error; one unreachable, or a message the run would
    // skip (now or from before), is exit 1.
    if !plans.is_empty() && plans.iter().all(|p| p.error.is_some()) {
        let first = plans
            .iter()
            .find_map(|p| p.error.as_deref())
            .unwrap_or_default();
        return Err(ferry_core::Error::config(format!(
            "no mailbox could be planned; first error: {first}"
        )));
    }
    let skips = plans
        .iter()
        .flat_map(|p| &p.folders)
        .any(|f| f.over_size + f.skipped_before > 0);
    Ok(if skips || plans.iter().any(|p| p.error.is_some()) {
        Outcome::Incomplete
    } else {
        Outcome::Ok
    })
}

async fn verify(ctx: &Ctx, a: VerifyArgs) -> Result<Outcome> {
    let specs = specs_signed_in(&a.common.endpoints).await?;
    let opts = options(&a.common);
    let store: Option<Arc<dyn Store>> = if ctx.db_path().exists() {
        Some(Arc::new(ctx.store().await?))
    } else {
        None
    };
    let results = verify_mail(store, &specs, &opts).await;
    if ctx.json {
        print_json(&results)?;
    } else {
        let mut t = Table::new(&[
            "Mailbox",
            "Folders",
            "Source",
            "Matched",
            "Missing",
            "Duplicates",
            "Extra",
            "Skipped",
            "Grade",
        ]);
        for v in &results {
            let (src, matched, missing, extra, skipped) = v.totals();
            t.row(vec![
                v.label.clone(),
                v.folders.len().to_string(),
                src.to_string(),
                matched.to_string(),
                missing.to_string(),
                v.duplicates().to_string(),
                extra.to_string(),
                skipped.to_string(),
                v.grade
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| "error".into()),
            ]);
        }
        print!("{}", t.render());
        for v in &results {
            if let Some(e) = &v.error {
                println!("{}: cannot verify: {e}", v.label);
            }
            if a.folders || !v.is_complete() {
                for f in v
                    .folders
                    .iter()
                    .filter(|f| a.folders || f.missing > 0 || f.duplicates > 0 || f.error.is_some())
                {
                    println!(
                        "  {} → {}: source {}, matched {}, missing {}, duplicates {}, extra {}, skipped {}",
                        f.source_folder,
                        f.target_folder,
                        f.source_messages,
                        f.matched,
                        f.missing,
                        f.duplicates,
                        f.extra,
                        f.skipped
                    );
                    for m in &f.missing_items {
                        println!(
                            "    missing: uid {} {} ({})",
                            m.uid,
                            m.message_id
                                .as_deref()
                                .map(|id| format!("<{id}>"))
                                .unwrap_or_else(|| "(no Message-ID)".into()),
                            human_bytes(m.size)
                        );
                    }
                    if f.missing as usize > f.missing_items.len() {
                        println!(
                            "    … and {} more missing",
                            f.missing as usize - f.missing_items.len()
                        );
                    }
                }
            }
        }
    }
    Ok(if results.iter().all(|v| v.is_complete()) {
        Outcome::Ok
    } else {
        Outcome::Incomplete
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inflight_flag_defaults_to_the_engine_default() {
        assert_eq!(
            parse_size(INFLIGHT_DEFAULT),
            Ok(limits::DEFAULT_INFLIGHT_BYTES)
        );
    }
}
