//! The second half of `ferry quickstart`: the whole migration programme, on the embedded store, with no
//! external server. The programme service runs in this process on `127.0.0.1:0` with a [`ManualClock`]
//! (so the walk moves days and weeks in seconds) and an ephemeral credential key, and the walk talks to it
//! over HTTP with the very commands a user types (`ferry tenant create …`), printing each command first.
//!
//! The story: a tenant and its eligibility → a mail project with Maildir endpoints → a mapping CSV → an
//! event refused while gates are open, then the gates confirmed → an assessment → a pilot event → a
//! synchronization event with a Delta pass for mail that arrived later → a completion event (the Final
//! pass) → the report, a ticket and the audit log. Passes are run by the scheduler
//! ([`ferry_server::scheduler::settle`]) after each move of the clock.

use crate::format::human_bytes;
use crate::{Cli, Command, Ctx};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use clap::Parser;
use ferry_core::folder::FolderPath;
use ferry_core::mail::{Access, AppendRequest, MailConnector};
use ferry_core::{Error, Result};
use ferry_mail::maildir::MaildirConnector;
use ferry_server::{AppState, ManualClock, ServiceConfig, Vault};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

const TENANT: &str = "Contoso";
const PROJECT: &str = "Mail to Exchange Online";
/// Source logins (the Maildir sub-directory of each mailbox) and target addresses.
const USERS: [(&str, &str); 3] = [
    ("alex", "alex@contoso.example"),
    ("blake", "blake@contoso.example"),
    ("casey", "casey@contoso.example"),
];

/// Which of `--tenant`/`--project` a command takes.
#[derive(Clone, Copy)]
enum At {
    Nothing,
    Tenant,
    Project,
}

struct Walk {
    ctx: Ctx,
    state: AppState,
    clock: Arc<ManualClock>,
    /// Steps whose answer was not the one the walk expects.
    problems: Vec<String>,
}

fn quote(a: &str) -> String {
    if a.is_empty()
        || a.chars()
            .any(|c| c.is_whitespace() || "\"'$&|;<>()*?`\\".contains(c))
    {
        format!("\"{}\"", a.replace('"', "\\\""))
    } else {
        a.to_string()
    }
}

fn heading(step: &str) {
    println!("\n== {step}");
}

impl Walk {
    /// Print `$ ferry ARGS` and run it exactly as typed (with `--tenant`/`--project` from the environment
    /// the walk describes).
    async fn run(&self, at: At, args: &[&str]) -> Result<Value> {
        println!(
            "$ ferry {}",
            args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
        );
        let mut argv: Vec<&str> = vec!["ferry"];
        argv.extend_from_slice(args);
        match at {
            At::Nothing => {}
            At::Tenant => argv.extend(["--tenant", TENANT]),
            At::Project => argv.extend(["--tenant", TENANT, "--project", PROJECT]),
        }
        let cli = Cli::try_parse_from(&argv)
            .map_err(|e| Error::unexpected(format!("quickstart: {e}")))?;
        match cli.command {
            Command::Programme(c) => crate::programme::run(&self.ctx, c).await,
            _ => Err(Error::unexpected(
                "quickstart: not a programme command".to_string(),
            )),
        }
    }

    /// [`run`](Self::run), printing a failure instead of stopping (and remembering it).
    async fn step(&mut self, at: At, args: &[&str]) -> Option<Value> {
        match self.run(at, args).await {
            Ok(v) => Some(v),
            Err(e) => {
                println!("  the server answered: {e}");
                self.problems.push(format!("ferry {}: {e}", args.join(" ")));
                None
            }
        }
    }

    fn now(&self) -> DateTime<Utc> {
        use ferry_server::Clock;
        self.clock.now()
    }

    /// Move the clock to `to` and let the scheduler run everything that is due then.
    async fn advance_to(&mut self, to: DateTime<Utc>, why: &str) {
        self.clock.set(to);
        println!("(the clock moves to {}: {why})", fmt(to));
        if let Err(e) = ferry_server::scheduler::settle(&self.state).await {
            println!("  the scheduler answered: {}", e.message);
            self.problems.push(format!("scheduler: {}", e.message));
        }
    }
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%a %Y-%m-%d %H:%M UTC").to_string()
}

fn arg_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Write one sample mailbox per user under `root/<login>`.
async fn write_mailboxes(root: &Path) -> Result<()> {
    for (login, _) in USERS {
        ferry_mail::sample::write_sample_maildir(&root.join(login)).await?;
    }
    Ok(())
}

/// New mail arrives in one source mailbox (for the Delta pass to find).
async fn deliver(mailbox: &Path) -> Result<()> {
    let mut md = MaildirConnector::open(mailbox, Access::ReadWrite)?;
    let bytes = ferry_mail::sample::synth_message(4242, 1, 2_000, true);
    let flags: Vec<String> = Vec::new();
    for r in md
        .append(
            &FolderPath::inbox(),
            &[AppendRequest {
                bytes: &bytes,
                flags: &flags,
                internal_date: None,
            }],
        )
        .await?
    {
        r?;
    }
    Ok(())
}

/// Walk the programme in `dir` (made by the quickstart). Returns whether the migration completed.
pub async fn walk(dir: &Path, first_step: u32) -> Result<bool> {
    let root = dir.join("programme");
    let mailboxes = root.join("mailboxes");
    let target = root.join("target");
    let mut n = first_step;
    let mut next = |title: &str| {
        heading(&format!("{n}. {title}"));
        n += 1;
    };

    next("The migration programme: start the service in this process");
    write_mailboxes(&mailboxes).await?;
    let start = Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap_or_else(|_| Utc::now());
    let clock = Arc::new(ManualClock::new(start));
    let state = ferry_server::open(ServiceConfig {
        data_dir: root.join("data"),
        store: None,
        settings: Default::default(),
        clock: clock.clone(),
        vault: Vault::ephemeral()?,
    })
    .await?;
    let token = ferry_server::bootstrap(&state, None)
        .await?
        .ok_or_else(|| Error::unexpected("quickstart: a new store had users"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::config(format!("cannot listen on 127.0.0.1: {e}")))?;
    let base = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| Error::unexpected(format!("no local address: {e}")))?
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ferry_server::serve(
        state.clone(),
        listener,
        false,
        async move {
            let _ = stop_rx.await;
        },
    ));
    println!(
        "`ferry serve` runs here on {base} with its store in {}, a key that lives only in memory, and a clock \
         the walk moves. Three sample mailboxes are in {}.",
        root.join("data").display(),
        mailboxes.display()
    );
    println!(
        "The commands below are what you would type, with FERRY_SERVER={base}, FERRY_TOKEN=<the operator's \
         token>, FERRY_TENANT=\"{TENANT}\" and FERRY_PROJECT=\"{PROJECT}\" set."
    );
    let mut w = Walk {
        ctx: Ctx {
            data: root.join("data"),
            json: false,
            server: base,
            token: Some(token),
        },
        state,
        clock,
        problems: Vec::new(),
    };
    let result = story(&mut w, &mut next, &mailboxes, &target).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    let completed = result?;
    if !w.problems.is_empty() {
        println!(
            "\n{} step(s) of the programme walk did not go as planned:",
            w.problems.len()
        );
        for p in &w.problems {
            println!("  - {p}");
        }
    }
    Ok(completed && w.problems.is_empty())
}

async fn story(
    w: &mut Walk,
    next: &mut impl FnMut(&str),
    mailboxes: &Path,
    target: &Path,
) -> Result<bool> {
    next(
        "Tenant: the eligibility decision (500 eligible seats for the data-migration service; trial seats never count)",
    );
    w.run(
        At::Nothing,
        &[
            "tenant",
            "create",
            TENANT,
            "--paid",
            "800",
            "--trial",
            "50",
            "--first-purchase",
            "2019-06-01",
        ],
    )
    .await?;

    next("Project: one workload, with its source and target (Maildir here; imap:// in real life)");
    w.run(
        At::Tenant,
        &["project", "create", PROJECT, "--workload", "mail"],
    )
    .await?;
    let src = format!("maildir:{}", mailboxes.display());
    let tgt = format!("maildir:{}", target.display());
    w.run(At::Project, &["endpoint", "set", "source", &src])
        .await?;
    w.run(At::Project, &["endpoint", "set", "target", &tgt])
        .await?;

    next(
        "Mappings: Exchange's IMAP migration CSV (with Maildir endpoints the login names the mailbox's directory)",
    );
    let csv_path = mailboxes.parent().unwrap_or(mailboxes).join("users.csv");
    let mut csv = String::from("EmailAddress,UserName,Password\n");
    for (login, email) in USERS {
        // Maildir needs no password; the column is required, and it is stored encrypted all the same.
        csv.push_str(&format!("{email},{login},not-used\n"));
    }
    std::fs::write(&csv_path, &csv)
        .map_err(|e| Error::config(format!("cannot write {}: {e}", csv_path.display())))?;
    let csv_arg = csv_path.display().to_string();
    w.run(At::Project, &["mapping", "import", &csv_arg]).await?;

    next("Gates: no event may be scheduled while a prerequisite is open");
    let pilot_start = w.now() + TimeDelta::hours(1);
    let pilot_args = [
        "event",
        "create",
        "Pilot",
        "--kind",
        "synchronization",
        "--pilot",
        "--start",
        &arg_time(pilot_start),
        "--mapping",
        USERS[0].1,
    ];
    match w.run(At::Project, &pilot_args).await {
        Err(e) if crate::client::is_refusal(&e) => println!("  refused, as it should be: {e}"),
        Err(e) => return Err(e),
        Ok(_) => w
            .problems
            .push("an event was accepted while gates were open".into()),
    }
    w.step(At::Project, &["gate", "confirm", "--all"]).await;

    next("Assessment: discovery of every mailbox and the pre-flight rules");
    w.step(At::Project, &["assess", "run"]).await;

    next("Pilot: one mailbox first (pilots need no lead time)");
    w.step(At::Project, &pilot_args).await;
    w.advance_to(pilot_start, "the pilot starts; its Initial pass runs")
        .await;
    w.step(At::Project, &["event", "report", "Pilot"]).await;

    next("Synchronization: the other mailboxes (3 days' lead time), then Delta passes every 24 h");
    let wave_start = w.now() + TimeDelta::days(3) + TimeDelta::hours(1);
    w.step(
        At::Project,
        &[
            "event",
            "create",
            "Wave 1",
            "--kind",
            "synchronization",
            "--start",
            &arg_time(wave_start),
            "--mapping",
            USERS[1].1,
            "--mapping",
            USERS[2].1,
        ],
    )
    .await;
    w.advance_to(wave_start, "Wave 1 starts; Initial passes run")
        .await;
    w.step(At::Project, &["event", "report", "Wave 1"]).await;
    deliver(&mailboxes.join(USERS[1].0)).await?;
    println!("(a new message arrives in {}'s source mailbox)", USERS[1].1);
    w.advance_to(
        wave_start + TimeDelta::hours(24),
        "a day later: the Delta passes copy only what is new",
    )
    .await;
    w.step(At::Project, &["event", "report", "Wave 1"]).await;

    next("Completion: the Final pass seals every mailbox");
    let cutover = w.now() + TimeDelta::days(3) + TimeDelta::hours(1);
    w.step(
        At::Project,
        &[
            "event",
            "create",
            "Cutover",
            "--kind",
            "completion",
            "--start",
            &arg_time(cutover),
            "--all-mappings",
        ],
    )
    .await;
    w.advance_to(cutover, "the cutover starts; Final passes run")
        .await;

    next("Report: the final report, a post-migration ticket, the audit log");
    let report = w.step(At::Project, &["event", "report", "Cutover"]).await;
    w.step(
        At::Project,
        &[
            "ticket",
            "create",
            "--mapping",
            USERS[0].1,
            "--title",
            "A shared calendar is missing",
        ],
    )
    .await;
    w.step(At::Project, &["event", "list"]).await;
    let project = w.step(At::Project, &["project", "show"]).await;
    let audit = audit_entries(w).await;
    let copied = target_summary(target);
    println!(
        "\nThe target holds {} messages ({}) in {} mailboxes; Ferry opened the sources read-only. The audit log \
         has {} entries: `ferry audit`. Per-item results: `ferry event items Cutover`.",
        copied.0,
        human_bytes(copied.1),
        copied.2,
        audit.map_or_else(|| "-".to_string(), |n| n.to_string()),
    );
    let state = |v: &Option<Value>, key: &str| {
        v.as_ref()
            .map(|v| crate::programme::txt(&v[key]))
            .unwrap_or_default()
    };
    let event_state = report
        .as_ref()
        .map(|r| {
            let e = if r["event"].is_object() {
                &r["event"]
            } else {
                r
            };
            crate::programme::txt(&e["state"])
        })
        .unwrap_or_default();
    Ok(event_state == "completed" && state(&project, "state") == "completed")
}

/// How many entries the tenant's audit log holds (asked quietly: the walk only prints the count).
async fn audit_entries(w: &Walk) -> Option<usize> {
    let c = w.ctx.client().ok()?;
    let sel = crate::programme::TenantSel {
        tenant: Some(TENANT.to_string()),
    };
    let path = sel.path(&c).await.ok()?;
    let v = c.get(&format!("{path}/audit?limit=5000")).await.ok()?;
    v["entries"].as_array().map(Vec::len)
}

/// Messages, bytes and mailboxes under a Maildir target root (files in `cur/` and `new/`).
fn target_summary(root: &Path) -> (u64, u64, usize) {
    fn walk(dir: &Path, acc: &mut (u64, u64)) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name();
            if p.is_dir() {
                if name == "tmp" {
                    continue;
                }
                walk(&p, acc);
            } else if p
                .parent()
                .and_then(|d| d.file_name())
                .is_some_and(|d| d == "cur" || d == "new")
            {
                acc.0 += 1;
                acc.1 += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    let mut acc = (0, 0);
    walk(root, &mut acc);
    let mailboxes = std::fs::read_dir(root)
        .map(|rd| rd.flatten().filter(|e| e.path().is_dir()).count())
        .unwrap_or(0);
    (acc.0, acc.1, mailboxes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_commands_quote_what_a_shell_would_split() {
        assert_eq!(quote("Contoso"), "Contoso");
        assert_eq!(quote("Wave 1"), "\"Wave 1\"");
        assert_eq!(quote("maildir:/tmp/a"), "maildir:/tmp/a");
        assert_eq!(quote("a\"b c"), "\"a\\\"b c\"");
        assert_eq!(quote(""), "\"\"");
    }
}
