//! `ferry report`: what earlier runs did, from the store's journal (every discovered message is counted
//! once: copied, skipped or failed, with reasons).

use crate::format::{Table, human_bytes, human_secs};
use crate::summary::Standing;
use crate::{Ctx, Outcome};
use clap::{Args, ValueEnum};
use ferry_core::grade::{Grade, GradePolicy};
use ferry_core::id::MappingId;
use ferry_core::{Error, Result};
use ferry_store::{FileMappingReport, FileStore, FolderReport, Store};
use serde::Serialize;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Output format (`--json` is the same as `--format json`).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Only mailboxes whose label (e-mail address) contains this text.
    #[arg(long)]
    mailbox: Option<String>,
}

/// A skipped or failed message, with what people need to find it in their mail client (issue 9, item 17).
#[derive(Serialize)]
struct Problem {
    folder: String,
    uid: u32,
    size: u64,
    status: String,
    reason: String,
    /// Internal (arrival) date, RFC 3339; null when the store has none (rows from before this was kept).
    date: Option<String>,
    sender: Option<String>,
    subject: Option<String>,
}

impl Problem {
    /// `1996-07-17 02:44` from the stored RFC 3339 date.
    fn short_date(&self) -> Option<String> {
        let d = self.date.as_deref()?;
        Some(
            chrono::DateTime::parse_from_rfc3339(d)
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|_| d.to_owned()),
        )
    }

    /// `Archive, 1996-07-17 02:44, from Ann <ann@x>, "Subject" (uid 7, 1.2 MB)`.
    fn describe(&self) -> String {
        let mut s = self.folder.clone();
        if let Some(d) = self.short_date() {
            s.push_str(&format!(", {d}"));
        }
        if let Some(f) = &self.sender {
            s.push_str(&format!(", from {f}"));
        }
        if let Some(t) = &self.subject {
            s.push_str(&format!(", \"{t}\""));
        }
        s.push_str(&format!(" (uid {}, {})", self.uid, human_bytes(self.size)));
        s
    }
}

/// What still stands for `mappings` in the journal, whichever pass decided it (issue 9, item 15).
pub async fn standing(store: &dyn Store, mappings: &[MappingId]) -> Result<Standing> {
    let mut s = Standing::default();
    for (m, p) in store.open_problems().await? {
        if mappings.contains(&m) {
            s.skipped += p.skipped;
            s.failed += p.failed + p.folder_errors;
        }
    }
    Ok(s)
}

#[derive(Serialize)]
struct FileReport {
    #[serde(flatten)]
    totals: FileMappingReport,
    grade: Grade,
    problems: Vec<FileProblem>,
    /// Files written under a name the target rules changed (docs/files-target-rules.md).
    renames: Vec<FileRename>,
}

#[derive(Serialize)]
struct FileRename {
    path: String,
    target_path: String,
    /// Each changed name, before → after, with the rules that fired.
    renamed: String,
}

#[derive(Serialize)]
struct FileProblem {
    path: String,
    size: u64,
    status: String,
    reason: String,
}

async fn build_files(store: &dyn FileStore, filter: Option<&str>) -> Result<Vec<FileReport>> {
    let mut out = Vec::new();
    for r in store.file_report().await? {
        if filter.is_some_and(|f| !r.label.contains(f)) {
            continue;
        }
        let grade = GradePolicy::default().grade(r.discovered, r.skipped, r.failed + r.pending);
        let problems = store
            .file_problems(r.mapping_id.parse()?)
            .await?
            .into_iter()
            .map(|p| FileProblem {
                path: p.path,
                size: p.size,
                status: p.status.to_string(),
                reason: p.reason.unwrap_or_default(),
            })
            .collect();
        let renames = store
            .file_renames(r.mapping_id.parse()?)
            .await?
            .into_iter()
            .map(|p| FileRename {
                path: p.path,
                target_path: p.target_path.unwrap_or_default(),
                renamed: p.renamed.unwrap_or_default(),
            })
            .collect();
        out.push(FileReport {
            totals: r,
            grade,
            problems,
            renames,
        });
    }
    Ok(out)
}

#[derive(Serialize)]
struct MailboxReport {
    label: String,
    source: String,
    target: String,
    grade: Grade,
    discovered: u64,
    copied: u64,
    skipped: u64,
    failed: u64,
    pending: u64,
    bytes_copied: u64,
    duration_secs: f64,
    folders: Vec<FolderReport>,
    problems: Vec<Problem>,
    /// Copied messages Ferry changed on the way (e.g. a disarmed read receipt), with what it changed.
    changed: Vec<Changed>,
}

#[derive(Serialize)]
struct Changed {
    folder: String,
    uid: u32,
    note: String,
}

async fn build(store: &dyn Store, filter: Option<&str>) -> Result<Vec<MailboxReport>> {
    let rows = store.report().await?;
    let mut out: Vec<MailboxReport> = Vec::new();
    for r in rows {
        if filter.is_some_and(|f| !r.label.contains(f)) {
            continue;
        }
        if out.last().is_none_or(|m: &MailboxReport| {
            m.folders
                .first()
                .is_none_or(|f| f.mapping_id != r.mapping_id)
        }) {
            out.push(MailboxReport {
                label: r.label.clone(),
                source: r.source.clone(),
                target: r.target.clone(),
                grade: Grade::Perfect,
                discovered: 0,
                copied: 0,
                skipped: 0,
                failed: 0,
                pending: 0,
                bytes_copied: 0,
                duration_secs: r.duration_secs,
                folders: Vec::new(),
                problems: Vec::new(),
                changed: Vec::new(),
            });
        }
        if let Some(m) = out.last_mut() {
            m.discovered += r.discovered;
            m.copied += r.copied;
            m.skipped += r.skipped;
            m.failed += r.failed;
            m.pending += r.pending;
            m.bytes_copied += r.bytes_copied;
            m.folders.push(r);
        }
    }
    for m in &mut out {
        m.folders.sort_by(|a, b| {
            (a.folder != "INBOX", &a.folder).cmp(&(b.folder != "INBOX", &b.folder))
        });
        // Unconfirmed (pending) items count as failed until a re-run settles them.
        let folder_errors = m
            .folders
            .iter()
            .filter(|f| f.folder_error.is_some())
            .count() as u64;
        m.grade = GradePolicy::default().grade(
            m.discovered,
            m.skipped,
            m.failed + m.pending + folder_errors,
        );
        let Some(id) = m.folders.first().map(|f| f.mapping_id.clone()) else {
            continue;
        };
        let id = id.parse()?;
        for p in store.problems(id).await? {
            m.problems.push(Problem {
                folder: p.folder.to_string(),
                uid: p.uid,
                size: p.size,
                status: p.status.to_string(),
                reason: p.reason.unwrap_or_default(),
                date: p.about.date,
                sender: p.about.sender,
                subject: p.about.subject,
            });
        }
        for c in store.changed(id).await? {
            m.changed.push(Changed {
                folder: c.folder.to_string(),
                uid: c.uid,
                note: c.note.unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

pub async fn run(ctx: &Ctx, a: ReportArgs) -> Result<Outcome> {
    let db = ctx.db_path();
    if !db.exists() {
        return Err(Error::config(format!(
            "no store at {}: run `ferry mail migrate` or `ferry files migrate` first, or point --data at the directory it used",
            db.display()
        )));
    }
    let store = ctx.store().await?;
    let mail = build(&store, a.mailbox.as_deref()).await?;
    let files = build_files(&store, a.mailbox.as_deref()).await?;
    let format = if ctx.json { Format::Json } else { a.format };
    match format {
        Format::Json => {
            let v = serde_json::json!({ "mail": mail, "files": files });
            crate::summary::print_json(&v)?;
        }
        Format::Csv => write_csv(&mail, &files)?,
        Format::Table => {
            if mail.is_empty() && files.is_empty() {
                println!("No migrations recorded yet.");
            }
            print_mail(&mail);
            print_files(&files);
        }
    }
    let incomplete = mail.iter().any(|m| m.skipped + m.failed + m.pending > 0)
        || files
            .iter()
            .any(|f| f.totals.skipped + f.totals.failed + f.totals.pending > 0);
    Ok(if incomplete {
        Outcome::Incomplete
    } else {
        Outcome::Ok
    })
}

/// One CSV row: a mail folder, a skipped or failed message, or a file mapping. Columns a kind of row does
/// not have stay empty; the field order is the column order.
#[derive(Serialize, Default)]
struct CsvRow<'a> {
    workload: &'a str,
    mapping: &'a str,
    source: &'a str,
    target: &'a str,
    folder: &'a str,
    discovered: Option<u64>,
    copied: Option<u64>,
    skipped: Option<u64>,
    failed: Option<u64>,
    pending: Option<u64>,
    bytes_copied: Option<u64>,
    duration_secs: Option<String>,
    error: &'a str,
    item_uid: Option<u32>,
    item_date: &'a str,
    item_sender: &'a str,
    item_subject: &'a str,
    item_status: &'a str,
    item_reason: &'a str,
}

/// One row per mail folder, one per skipped or failed message, and one per file mapping, with a
/// `workload` column.
fn write_csv(mail: &[MailboxReport], files: &[FileReport]) -> Result<()> {
    let csv_err = |e: csv::Error| {
        if let csv::ErrorKind::Io(io) = e.kind() {
            crate::out::exit_if_closed(io);
        }
        Error::unexpected(format!("cannot write CSV: {e}"))
    };
    let mut w = csv::Writer::from_writer(std::io::stdout());
    for m in mail {
        let mailbox = || CsvRow {
            workload: "mail",
            mapping: &m.label,
            source: &m.source,
            target: &m.target,
            ..CsvRow::default()
        };
        for f in &m.folders {
            w.serialize(CsvRow {
                folder: &f.folder,
                discovered: Some(f.discovered),
                copied: Some(f.copied),
                skipped: Some(f.skipped),
                failed: Some(f.failed),
                pending: Some(f.pending),
                bytes_copied: Some(f.bytes_copied),
                duration_secs: Some(format!("{:.3}", f.duration_secs)),
                error: f.folder_error.as_deref().unwrap_or(""),
                ..mailbox()
            })
            .map_err(csv_err)?;
        }
        // One row per changed message (status copied, the change as the reason).
        for c in &m.changed {
            w.serialize(CsvRow {
                folder: &c.folder,
                item_uid: Some(c.uid),
                item_status: "copied",
                item_reason: &c.note,
                ..mailbox()
            })
            .map_err(csv_err)?;
        }
        // One row per skipped or failed message, after its mailbox's folders.
        for p in &m.problems {
            w.serialize(CsvRow {
                folder: &p.folder,
                item_uid: Some(p.uid),
                item_date: p.date.as_deref().unwrap_or(""),
                item_sender: p.sender.as_deref().unwrap_or(""),
                item_subject: p.subject.as_deref().unwrap_or(""),
                item_status: &p.status,
                item_reason: &p.reason,
                ..mailbox()
            })
            .map_err(csv_err)?;
        }
    }
    for f in files {
        let t = &f.totals;
        w.serialize(CsvRow {
            workload: "files",
            mapping: &t.label,
            source: &t.source,
            target: &t.target,
            discovered: Some(t.discovered),
            copied: Some(t.copied),
            skipped: Some(t.skipped),
            failed: Some(t.failed),
            pending: Some(t.pending),
            bytes_copied: Some(t.bytes_copied),
            duration_secs: Some(format!("{:.3}", t.duration_secs)),
            ..CsvRow::default()
        })
        .map_err(csv_err)?;
    }
    w.flush().map_err(|e| {
        crate::out::exit_if_closed(&e);
        Error::unexpected(format!("cannot write CSV: {e}"))
    })
}

fn print_files(files: &[FileReport]) {
    for f in files {
        let t = &f.totals;
        println!(
            "{}  ({} → {})  grade {}, time spent {}",
            t.label,
            t.source,
            t.target,
            f.grade,
            human_secs(t.duration_secs)
        );
        println!(
            "  {} files: {} copied ({}), {} skipped, {} failed",
            t.discovered,
            t.copied,
            human_bytes(t.bytes_copied),
            t.skipped,
            t.failed + t.pending
        );
        for p in &f.problems {
            println!(
                "  {} {:?} ({}): {}",
                p.status,
                p.path,
                human_bytes(p.size),
                p.reason
            );
        }
        for r in &f.renames {
            println!(
                "  renamed {:?} → {:?}: {}",
                r.path, r.target_path, r.renamed
            );
        }
        println!();
    }
}

fn print_mail(mail: &[MailboxReport]) {
    for m in mail {
        println!(
            "{}  ({} → {})  grade {}, {} folders, time spent {}",
            m.label,
            m.source,
            m.target,
            m.grade,
            m.folders.len(),
            human_secs(m.duration_secs)
        );
        let mut t = Table::new(&[
            "Folder",
            "Discovered",
            "Copied",
            "Skipped",
            "Failed",
            "Bytes copied",
        ]);
        for f in &m.folders {
            let mut name = f.folder.clone();
            if let Some(e) = &f.folder_error {
                name.push_str(&format!(" (error: {e})"));
            }
            t.row(vec![
                name,
                f.discovered.to_string(),
                f.copied.to_string(),
                f.skipped.to_string(),
                (f.failed + f.pending).to_string(),
                human_bytes(f.bytes_copied),
            ]);
        }
        t.row(vec![
            "total".into(),
            m.discovered.to_string(),
            m.copied.to_string(),
            m.skipped.to_string(),
            (m.failed + m.pending).to_string(),
            human_bytes(m.bytes_copied),
        ]);
        for l in t.render().lines() {
            println!("  {l}");
        }
        for p in &m.problems {
            println!("  {} {}: {}", p.status, p.describe(), p.reason);
        }
        for c in &m.changed {
            println!("  changed {} uid {}: {}", c.folder, c.uid, c.note);
        }
        println!();
    }
}
