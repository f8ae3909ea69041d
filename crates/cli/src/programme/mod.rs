//! The programme commands: a client for `ferry serve`'s REST API, one sub-command per resource
//! (`ferry tenant|member|project|task|gate|endpoint|credential|mapping|assess|event|ticket|audit|transaction`).
//!
//! Every command is one or two HTTP requests; the server decides every rule and every permission, so the
//! client checks nothing the server would refuse anyway — it only turns names into ids and answers into
//! tables. `--json` prints the server's answer unchanged. Each command also returns that answer, so
//! `ferry quickstart` runs exactly these commands and reads the ids from what they return.
//!
//! Tenants, projects, events, members and mappings can be named by id or by their exact name (label, for
//! mappings): names are looked up with one list request. Exit codes: 0 done; 2 the server refused
//! (a rule, a role, a missing thing) or could not be reached — the message names the rule and the
//! request id.

pub mod endpoint;
pub mod event;
pub mod mapping;
pub mod names;
pub mod project;
pub mod tenant;
pub mod ticket;

use crate::Ctx;
use crate::client::Client;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use clap::{Args, Subcommand};
use ferry_core::{Error, ErrorKind, Result};
use serde_json::Value;

/// What the programme commands' exit codes mean (shown under each one's `--help`).
pub const EXIT_CODES: &str = "Exit codes: 0 done; 2 the server refused the request — a programme rule (kind \
refused), a role (forbidden), a bad token (unauthenticated), something missing (not_found) — or could not be \
reached, or the flags were wrong. The message ends with (kind, request id …); the server's log has the same \
request id.";

/// The programme's resources, each a sub-command talking to the server at `--server` with `--token`.
#[derive(Subcommand, Debug)]
pub enum ProgrammeCommand {
    /// Tenants (customer organisations): seats, plan, cloud, availability window and the eligibility
    /// decision with its reasons.
    #[command(subcommand, after_help = EXIT_CODES)]
    Tenant(tenant::TenantCommand),
    /// People and their role on a tenant (customer-admin, partner, migration-manager, engineer, viewer).
    #[command(after_help = EXIT_CODES)]
    Member(tenant::MemberCmd),
    /// Projects: one workload (mail or files) of a tenant, with its lifecycle; rename, resume, close.
    #[command(after_help = EXIT_CODES)]
    Project(project::ProjectCmd),
    /// Work recorded against a project; beyond-scope work needs a services-agreement reference.
    #[command(after_help = EXIT_CODES)]
    Task(project::TaskCmd),
    /// The prerequisites that must be confirmed before events can be scheduled or started.
    #[command(after_help = EXIT_CODES)]
    Gate(project::GateCmd),
    /// A project's source and target systems (never a password: see `ferry credential set`).
    #[command(after_help = EXIT_CODES)]
    Endpoint(endpoint::EndpointCmd),
    /// Secrets for endpoints: encrypted at rest, never shown again, expire, purged on pause and close.
    #[command(after_help = EXIT_CODES)]
    Credential(endpoint::CredentialCmd),
    /// What to move: import a mapping CSV (all rows or none), list mappings.
    #[command(after_help = EXIT_CODES)]
    Mapping(mapping::MappingCmd),
    /// Assessments: discovery of the source and pre-flight findings per mapping.
    #[command(after_help = EXIT_CODES)]
    Assess(mapping::AssessCmd),
    /// Events: customer-scheduled batches (synchronization or completion, pilot or not), their passes and
    /// reports.
    #[command(after_help = EXIT_CODES)]
    Event(event::EventCmd),
    /// Post-migration tickets against a mapping (within the reporting window after its event).
    #[command(after_help = EXIT_CODES)]
    Ticket(ticket::TicketCmd),
    /// The audit log of a tenant: who changed what, when, before and after.
    #[command(after_help = EXIT_CODES)]
    Audit(tenant::AuditArgs),
    /// Transactions: the status of a state-changing request.
    #[command(subcommand, after_help = EXIT_CODES)]
    Transaction(tenant::TransactionCommand),
    /// Who the token belongs to: user, operator flag and roles per tenant.
    Whoami,
}

/// Run one programme command; returns the server's answer (already printed).
pub async fn run(ctx: &Ctx, cmd: ProgrammeCommand) -> Result<Value> {
    let c = ctx.client()?;
    match cmd {
        ProgrammeCommand::Tenant(t) => tenant::run_tenant(ctx, &c, t).await,
        ProgrammeCommand::Member(m) => tenant::run_member(ctx, &c, m).await,
        ProgrammeCommand::Audit(a) => tenant::run_audit(ctx, &c, a).await,
        ProgrammeCommand::Transaction(t) => tenant::run_transaction(ctx, &c, t).await,
        ProgrammeCommand::Whoami => tenant::run_whoami(ctx, &c).await,
        ProgrammeCommand::Project(p) => project::run_project(ctx, &c, p).await,
        ProgrammeCommand::Task(t) => project::run_task(ctx, &c, t).await,
        ProgrammeCommand::Gate(g) => project::run_gate(ctx, &c, g).await,
        ProgrammeCommand::Endpoint(e) => endpoint::run_endpoint(ctx, &c, e).await,
        ProgrammeCommand::Credential(e) => endpoint::run_credential(ctx, &c, e).await,
        ProgrammeCommand::Mapping(m) => mapping::run_mapping(ctx, &c, m).await,
        ProgrammeCommand::Assess(a) => mapping::run_assess(ctx, &c, a).await,
        ProgrammeCommand::Event(e) => event::run_event(ctx, &c, e).await,
        ProgrammeCommand::Ticket(t) => ticket::run_ticket(ctx, &c, t).await,
    }
}

// --- which tenant and project -----------------------------------------------------------------------------

/// `--tenant`, for commands about one tenant.
#[derive(Args, Debug, Clone, Default)]
pub struct TenantSel {
    /// The tenant: its id or its exact name.
    #[arg(long, env = "FERRY_TENANT", global = true, value_name = "ID|NAME")]
    pub tenant: Option<String>,
}

impl TenantSel {
    /// The tenant's id (one list request when it was given by name).
    pub async fn id(&self, c: &Client) -> Result<String> {
        let wanted = self.tenant.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::config(
                "which tenant? Pass --tenant ID|NAME or set FERRY_TENANT (`ferry tenant list` shows them)",
            )
        })?;
        if is_id(wanted) {
            return Ok(wanted.to_string());
        }
        let list = c.get("/api/v1/tenants").await?;
        pick(
            "tenant",
            wanted,
            &list["tenants"],
            "name",
            "ferry tenant list",
        )
    }

    /// `/api/v1/tenants/{id}`.
    pub async fn path(&self, c: &Client) -> Result<String> {
        Ok(format!("/api/v1/tenants/{}", self.id(c).await?))
    }
}

/// `--tenant` and `--project`, for commands about one project.
#[derive(Args, Debug, Clone, Default)]
pub struct ProjectSel {
    #[command(flatten)]
    pub tenant: TenantSel,
    /// The project: its id or its exact name.
    #[arg(long, env = "FERRY_PROJECT", global = true, value_name = "ID|NAME")]
    pub project: Option<String>,
}

impl ProjectSel {
    /// `/api/v1/tenants/{tenant}/projects/{project}`.
    pub async fn path(&self, c: &Client) -> Result<String> {
        let tenant = self.tenant.path(c).await?;
        let wanted = self.project.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::config(
                "which project? Pass --project ID|NAME or set FERRY_PROJECT (`ferry project list` shows them)",
            )
        })?;
        if is_id(wanted) {
            return Ok(format!("{tenant}/projects/{wanted}"));
        }
        let list = c.get(&format!("{tenant}/projects")).await?;
        let id = pick(
            "project",
            wanted,
            &list["projects"],
            "name",
            "ferry project list",
        )?;
        Ok(format!("{tenant}/projects/{id}"))
    }
}

/// Whether `s` is an id (a UUID) rather than a name.
pub fn is_id(s: &str) -> bool {
    uuid_like(s.trim())
}

fn uuid_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The id of the one item of `items` whose `key` is `wanted` (exactly, else ignoring case).
pub fn pick(what: &str, wanted: &str, items: &Value, key: &str, hint: &str) -> Result<String> {
    let items = items.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let id_of = |v: &Value| {
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::new(ErrorKind::Protocol, format!("a {what} without an id")))
    };
    let exact: Vec<&Value> = items
        .iter()
        .filter(|v| v.get(key).and_then(Value::as_str) == Some(wanted))
        .collect();
    let found: Vec<&Value> = if exact.is_empty() {
        items
            .iter()
            .filter(|v| {
                v.get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
            })
            .collect()
    } else {
        exact
    };
    match found.as_slice() {
        [one] => id_of(one),
        [] => Err(Error::new(
            ErrorKind::NotFound,
            format!("no {what} named {wanted:?}: `{hint}` shows them"),
        )),
        many => Err(Error::config(format!(
            "{} {what}s are named {wanted:?}: give the id instead (`{hint}`)",
            many.len()
        ))),
    }
}

// --- times ------------------------------------------------------------------------------------------------

/// How far ahead `now` is sent: a start the server finds in the past is refused, and the request takes a
/// moment to arrive.
const NOW_MARGIN_SECS: i64 = 5;

/// A start time: RFC 3339 (`2025-03-06T10:00:00Z`), `YYYY-MM-DD HH:MM` (UTC), `now` (a few seconds ahead,
/// so it is not in the past when the server checks it), or relative to now: `+3d`, `+36h`, `+90m`, `+1w`
/// (also `now+3d`).
pub fn parse_when(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    parse_when_at(s, Utc::now())
}

pub fn parse_when_at(s: &str, now: DateTime<Utc>) -> std::result::Result<DateTime<Utc>, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "{s:?} is not a time: write 2025-03-06T10:00:00Z, \"2025-03-06 10:00\" (UTC), now, or +3d / +36h / +90m"
        )
    };
    let rel = t.strip_prefix("now").unwrap_or(t);
    if rel.is_empty() {
        return Ok(now + TimeDelta::seconds(NOW_MARGIN_SECS));
    }
    if let Some(n) = rel.strip_prefix('+') {
        let (num, unit) = n.split_at(n.find(|c: char| !c.is_ascii_digit()).unwrap_or(n.len()));
        let num: i64 = num.parse().map_err(|_| bad())?;
        let d = match unit {
            "m" => TimeDelta::try_minutes(num),
            "h" => TimeDelta::try_hours(num),
            "d" => TimeDelta::try_days(num),
            "w" => TimeDelta::try_weeks(num),
            _ => None,
        }
        .ok_or_else(bad)?;
        return now.checked_add_signed(d).ok_or_else(bad);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(d.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(d) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(d.and_utc());
    }
    Err(bad())
}

// --- output -----------------------------------------------------------------------------------------------

/// Print `v` as JSON with `--json`, else call `human`. Returns `v`.
pub fn emit(ctx: &Ctx, v: Value, human: impl FnOnce(&Value)) -> Result<Value> {
    if ctx.json {
        crate::summary::print_json(&v)?;
    } else {
        human(&v);
    }
    Ok(v)
}

/// The answer to a change: `{transaction, result}`. Prints `human(result)` and the transaction line.
pub fn emit_change(ctx: &Ctx, v: Value, human: impl FnOnce(&Value)) -> Result<Value> {
    emit(ctx, v, |v| {
        human(&v["result"]);
        let t = &v["transaction"];
        if t.is_object() {
            println!("Transaction {}: {}.", txt(&t["id"]), txt(&t["status"]));
        }
    })
}

/// A JSON value as one cell of text: strings as they are, `-` for null, lists joined with `, `.
pub fn txt(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(txt).collect::<Vec<_>>().join(", "),
        Value::Object(_) => v.to_string(),
    }
}

/// An RFC 3339 time as `2025-03-03 10:00 UTC`; anything else as [`txt`].
pub fn when(v: &Value) -> String {
    match v
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => t
            .with_timezone(&Utc)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        None => txt(v),
    }
}

/// Any JSON as indented `key: value` lines (for answers without a table of their own).
pub fn outline(v: &Value) -> String {
    let mut out = String::new();
    outline_into(v, 0, &mut out);
    out
}

fn scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
        || v.as_array()
            .is_some_and(|a| a.iter().all(|x| !x.is_object() && !x.is_array()))
}

fn outline_into(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if scalar(x) {
                    out.push_str(&format!("{pad}{k}: {}\n", cell(x)));
                } else if x.as_object().is_some_and(|o| o.is_empty()) {
                    out.push_str(&format!("{pad}{k}: -\n"));
                } else {
                    out.push_str(&format!("{pad}{k}:\n"));
                    outline_into(x, indent + 2, out);
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                if scalar(x) {
                    out.push_str(&format!("{pad}- {}\n", cell(x)));
                } else {
                    let mut inner = String::new();
                    outline_into(x, indent + 2, &mut inner);
                    let inner = inner.trim_start().to_string();
                    out.push_str(&format!("{pad}- {inner}"));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", cell(other))),
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) if DateTime::parse_from_rfc3339(s).is_ok() => when(v),
        _ => txt(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn start_times_are_absolute_or_relative_to_now() {
        let now = Utc.with_ymd_and_hms(2025, 3, 3, 10, 0, 0).single().unwrap();
        assert_eq!(
            parse_when_at("now", now).unwrap(),
            now + TimeDelta::seconds(NOW_MARGIN_SECS)
        );
        assert_eq!(parse_when_at("+3d", now).unwrap(), now + TimeDelta::days(3));
        assert_eq!(
            parse_when_at("now+90m", now).unwrap(),
            now + TimeDelta::minutes(90)
        );
        assert_eq!(
            parse_when_at("2025-03-06 12:30", now).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 6, 12, 30, 0)
                .single()
                .unwrap()
        );
        assert_eq!(
            parse_when_at("2025-03-06T12:30:00+01:00", now).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 6, 11, 30, 0)
                .single()
                .unwrap()
        );
        assert!(parse_when_at("soon", now).unwrap_err().contains("+3d"));
        assert!(parse_when_at("+3y", now).is_err());
    }

    #[test]
    fn names_resolve_to_one_id_and_ambiguity_is_an_error() {
        let items = json!([
            {"id": "a", "name": "Contoso"},
            {"id": "b", "name": "contoso"},
            {"id": "c", "name": "Fabrikam"},
        ]);
        assert_eq!(pick("tenant", "Contoso", &items, "name", "h").unwrap(), "a");
        assert_eq!(
            pick("tenant", "fabrikam", &items, "name", "h").unwrap(),
            "c"
        );
        assert!(
            pick("tenant", "CONTOSO", &items, "name", "h")
                .unwrap_err()
                .to_string()
                .contains("2 tenants")
        );
        assert!(
            pick("tenant", "Nope", &items, "name", "h")
                .unwrap_err()
                .to_string()
                .contains("no tenant named")
        );
        assert!(is_id("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        assert!(!is_id("Contoso"));
    }

    #[test]
    fn outlines_show_nested_answers_readably() {
        let v = json!({"state": "done", "counts": {"copied": 3}, "reasons": ["a", "b"], "rows": [{"x": 1}]});
        let o = outline(&v);
        assert!(o.contains("state: done\n"), "{o}");
        assert!(o.contains("counts:\n  copied: 3\n"), "{o}");
        assert!(o.contains("reasons: a, b\n"), "{o}");
        assert!(o.contains("rows:\n  - x: 1\n"), "{o}");
    }
}
