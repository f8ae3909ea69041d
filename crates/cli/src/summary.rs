//! What `ferry mail migrate` and `ferry files migrate` print when a run ends, and the exit code it means:
//! one table row per mailbox or mapping, the run's totals, and the documented exit codes.

use crate::format::{Table, human_bytes};
use crate::{Ctx, Outcome};
use ferry_core::{Error, Result};
use ferry_store::{PassCounters, PassKind, RunStatus};

/// Print any value as pretty JSON on stdout (`--json`).
pub fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    use std::io::Write;
    let s = serde_json::to_string_pretty(v)
        .map_err(|e| Error::unexpected(format!("cannot write JSON: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").and_then(|_| out.flush()).map_err(|e| {
        crate::out::exit_if_closed(&e);
        Error::unexpected(format!("cannot write to standard output: {e}"))
    })
}

/// One mailbox or mapping of a finished run.
pub struct RunRow<'a> {
    pub label: &'a str,
    pub kind: Option<PassKind>,
    pub counters: &'a PassCounters,
    /// An extra column (files: how many were renamed by the target rules).
    pub extra: Option<u64>,
    pub status: RunStatus,
    pub error: Option<&'a str>,
}

/// The words a run's table and totals use.
pub struct Words {
    /// Header of the first column: `Mailbox`, `Mapping`.
    pub row: &'static str,
    /// Header of the extra column, if any.
    pub extra: Option<&'static str>,
    /// `messages`-like noun for the totals line: `` (mail) or `files `.
    pub items: &'static str,
    /// Rate unit: `msg/s`, `files/s`.
    pub rate: &'static str,
    /// Plural of the rows, for the all-failed error: `mailbox`, `mapping`.
    pub noun: &'static str,
}

/// What the journal says is still not on the target for the mappings of a run, whichever pass left it:
/// a message skipped by the first run and left alone by a re-run still stands (issue 9, item 15).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    pub skipped: u64,
    /// Failed, unconfirmed, or in a folder that could not be read.
    pub failed: u64,
}

/// Print the table and totals (unless `--json`), then turn the run into an exit outcome: an error when
/// no row could be processed at all, `Incomplete` when anything was skipped or failed.
pub fn finish(
    ctx: &Ctx,
    w: &Words,
    rows: &[RunRow<'_>],
    totals: &PassCounters,
    status: RunStatus,
    secs: f64,
) -> Result<Outcome> {
    finish_standing(ctx, w, rows, totals, status, secs, None)
}

/// [`finish`], with what still stands in the journal: the exit code is 1 while anything the run's
/// mappings discovered, in this run or an earlier one, is skipped or failed.
pub fn finish_standing(
    ctx: &Ctx,
    w: &Words,
    rows: &[RunRow<'_>],
    totals: &PassCounters,
    status: RunStatus,
    secs: f64,
    standing: Option<Standing>,
) -> Result<Outcome> {
    if !ctx.json {
        let mut header = vec![w.row, "Pass", "New", "Copied", "Skipped", "Failed"];
        header.extend(w.extra);
        header.extend(["Bytes", "Status"]);
        let mut t = Table::new(&header);
        for r in rows {
            let c = r.counters;
            let mut cells = vec![
                r.label.to_owned(),
                r.kind.map(|k| k.to_string()).unwrap_or_else(|| "-".into()),
                c.discovered.to_string(),
                c.copied.to_string(),
                c.skipped.to_string(),
                c.failed.to_string(),
            ];
            cells.extend(r.extra.map(|n| n.to_string()));
            cells.extend([human_bytes(c.bytes), r.status.to_string()]);
            t.row(cells);
        }
        print!("{}", t.render());
        for r in rows {
            if let Some(e) = r.error {
                println!("{}: {e}", r.label);
            }
        }
        println!(
            "{} {}copied ({}), {} skipped, {} failed in {secs:.1}s ({:.0} {}). Details: ferry report --data {}",
            totals.copied,
            w.items,
            human_bytes(totals.bytes),
            totals.skipped,
            totals.failed,
            totals.copied as f64 / secs.max(0.001),
            w.rate,
            ctx.data.display()
        );
        if let Some(s) = standing
            && (s.skipped > totals.skipped || s.failed > totals.failed)
        {
            println!(
                "Still not on the target, from this run and earlier ones: {} skipped, {} failed (ferry report lists them).",
                s.skipped, s.failed
            );
        }
    }
    if !rows.is_empty() && rows.iter().all(|r| r.status == RunStatus::Failed) {
        let first = rows.iter().find_map(|r| r.error).unwrap_or_default();
        return Err(Error::unexpected(format!(
            "no {} could be migrated; first error: {first}",
            w.noun
        )));
    }
    let stands = standing.is_some_and(|s| s.skipped + s.failed > 0);
    Ok(
        if stands || totals.skipped > 0 || totals.failed > 0 || status != RunStatus::Done {
            Outcome::Incomplete
        } else {
            Outcome::Ok
        },
    )
}
