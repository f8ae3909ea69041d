//! `ferry tenant`, `ferry member`, `ferry audit`, `ferry transaction`, `ferry whoami`.

use super::names::{Names, human_names};
use super::{TenantSel, emit, emit_change, is_id, pick, txt, when};
use crate::Ctx;
use crate::client::Client;
use crate::format::Table;
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use ferry_core::{Error, Result};
use serde_json::{Map, Value, json};

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant and show its eligibility decision. Eligible seats: paid seats on a commercial plan,
    /// paid faculty/staff seats on an education plan; trial and student seats never count.
    Create {
        /// The customer organisation's name.
        name: String,
        #[command(flatten)]
        facts: TenantFacts,
        /// When its events may start: any time, or Mon 02:00 to Fri 24:00 UTC.
        #[arg(long, value_enum, default_value = "24x7")]
        window: Window,
    },
    /// Tenants you have a role on (all of them for the operator).
    List,
    /// One tenant with its eligibility decision.
    Show {
        #[command(flatten)]
        sel: TenantSel,
    },
    /// Change a tenant's name, plan, seats, first purchase date or cloud; the decision is re-made.
    Update {
        #[command(flatten)]
        sel: TenantSel,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        facts: TenantFacts,
    },
    /// Set the availability window events must start in.
    Window {
        #[command(flatten)]
        sel: TenantSel,
        #[arg(value_enum)]
        window: Window,
    },
    /// The eligibility decision and its reasons: data-migration service, guidance only (self-service), or
    /// not eligible.
    Eligibility {
        #[command(flatten)]
        sel: TenantSel,
    },
}

/// A tenant's facts, as flags (all optional: `create` needs `--first-purchase` and some seats).
#[derive(Args, Debug, Default)]
pub struct TenantFacts {
    /// Paid seats (commercial plans).
    #[arg(long, value_name = "N")]
    paid: Option<u32>,
    /// Trial seats (never count).
    #[arg(long, value_name = "N")]
    trial: Option<u32>,
    /// Paid faculty/staff seats (education plans: the only seats that count).
    #[arg(long, value_name = "N")]
    faculty_staff: Option<u32>,
    /// Student seats (never count).
    #[arg(long, value_name = "N")]
    students: Option<u32>,
    /// The kind of plan (create: default commercial).
    #[arg(long, value_enum)]
    plan: Option<Plan>,
    /// The day the plan was first bought: before 2017-09-01 the lower legacy threshold applies.
    #[arg(long, value_name = "YYYY-MM-DD")]
    first_purchase: Option<NaiveDate>,
    /// The Microsoft 365 cloud (create: default commercial).
    #[arg(long, value_enum)]
    cloud: Option<Cloud>,
}

impl TenantFacts {
    fn any_seats(&self) -> bool {
        self.paid.is_some()
            || self.trial.is_some()
            || self.faculty_staff.is_some()
            || self.students.is_some()
    }

    /// The seats object: the given kinds over `current`.
    fn seats(&self, current: &Value) -> Value {
        let n = |flag: Option<u32>, key: &str| {
            flag.map(Value::from)
                .unwrap_or_else(|| current.get(key).cloned().unwrap_or(json!(0)))
        };
        json!({
            "paid": n(self.paid, "paid"),
            "trial": n(self.trial, "trial"),
            "faculty_staff": n(self.faculty_staff, "faculty_staff"),
            "students": n(self.students, "students"),
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Plan {
    Commercial,
    Education,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Cloud {
    Commercial,
    Government,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Window {
    /// Any time.
    #[value(name = "24x7")]
    AllWeek,
    /// Monday 02:00 to Friday 24:00 UTC.
    #[value(name = "24x5")]
    Weekdays,
}

fn name_of<T: ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

pub async fn run_tenant(ctx: &Ctx, c: &Client, cmd: TenantCommand) -> Result<Value> {
    match cmd {
        TenantCommand::Create {
            name,
            facts,
            window,
        } => {
            let first = facts.first_purchase.ok_or_else(|| {
                Error::config(
                    "--first-purchase YYYY-MM-DD is needed: the day the plan was first bought decides which seat threshold applies",
                )
            })?;
            if !facts.any_seats() {
                return Err(Error::config(
                    "give the tenant's seats: --paid N (commercial) or --faculty-staff N (education), and --trial/--students if any",
                ));
            }
            let body = json!({
                "name": name,
                "plan": name_of(facts.plan.unwrap_or(Plan::Commercial)),
                "seats": facts.seats(&Value::Null),
                "first_purchase": first,
                "cloud": name_of(facts.cloud.unwrap_or(Cloud::Commercial)),
                "window": name_of(window),
            });
            let v = c.post("/api/v1/tenants", body).await?;
            emit_change(ctx, v, |t| {
                println!("Created tenant {} ({}).", txt(&t["name"]), txt(&t["id"]));
                print_decision(t);
            })
        }
        TenantCommand::List => {
            let v = c.get("/api/v1/tenants").await?;
            emit(ctx, v, |v| {
                let mut t = Table::new(&["Id", "Name", "Plan", "Eligible", "Tier", "Window"]);
                for x in v["tenants"].as_array().into_iter().flatten() {
                    t.row(vec![
                        txt(&x["id"]),
                        txt(&x["name"]),
                        txt(&x["plan"]),
                        txt(&x["eligibility"]["eligible_seats"]),
                        txt(&x["eligibility"]["tier"]),
                        txt(&x["window"]),
                    ]);
                }
                print!("{}", t.render());
            })
        }
        TenantCommand::Show { sel } => {
            let v = c.get(&sel.path(c).await?).await?;
            emit(ctx, v, print_tenant)
        }
        TenantCommand::Update { sel, name, facts } => {
            let path = sel.path(c).await?;
            let mut body = Map::new();
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if let Some(p) = facts.plan {
                body.insert("plan".into(), json!(name_of(p)));
            }
            if let Some(cl) = facts.cloud {
                body.insert("cloud".into(), json!(name_of(cl)));
            }
            if let Some(d) = facts.first_purchase {
                body.insert("first_purchase".into(), json!(d));
            }
            if facts.any_seats() {
                // The API replaces the seats as a whole: keep the kinds not given.
                let current = c.get(&path).await?;
                body.insert("seats".into(), facts.seats(&current["seats"]));
            }
            if body.is_empty() {
                return Err(Error::config(
                    "nothing to change: give --name, --plan, --cloud, --first-purchase or seats (--paid, --trial, --faculty-staff, --students)",
                ));
            }
            let v = c.patch(&path, Value::Object(body)).await?;
            emit_change(ctx, v, |t| {
                println!("Updated tenant {} ({}).", txt(&t["name"]), txt(&t["id"]));
                print_decision(t);
            })
        }
        TenantCommand::Window { sel, window } => {
            let path = format!("{}/window", sel.path(c).await?);
            let v = c.put(&path, json!({ "window": name_of(window) })).await?;
            emit_change(ctx, v, |t| {
                println!(
                    "Events of {} may now start: {}.",
                    txt(&t["name"]),
                    txt(&t["window_description"])
                );
            })
        }
        TenantCommand::Eligibility { sel } => {
            let path = format!("{}/eligibility", sel.path(c).await?);
            let v = c.get(&path).await?;
            emit(ctx, v, print_decision)
        }
    }
}

/// A tenant in a few lines.
fn print_tenant(t: &Value) {
    println!("Tenant {} ({})", txt(&t["name"]), txt(&t["id"]));
    let s = &t["seats"];
    println!(
        "  plan {}, cloud {}, first purchase {}, window {}",
        txt(&t["plan"]),
        txt(&t["cloud"]),
        txt(&t["first_purchase"]),
        txt(&t["window_description"])
    );
    println!(
        "  seats: {} paid, {} trial, {} faculty/staff, {} students",
        txt(&s["paid"]),
        txt(&s["trial"]),
        txt(&s["faculty_staff"]),
        txt(&s["students"])
    );
    print_decision(t);
}

/// The eligibility decision: tier, the reasons, and the self-service notice.
pub fn print_decision(t: &Value) {
    let e = &t["eligibility"];
    let tier = match e["tier"].as_str() {
        Some("data_migration") => "eligible for the data-migration service",
        Some("guidance_only") => "guidance only (self-service)",
        Some("not_eligible") => "not eligible",
        _ => "unknown",
    };
    println!(
        "Eligibility: {tier} — {} eligible seats (the data-migration service needs {}).",
        txt(&e["eligible_seats"]),
        txt(&e["data_migration_min_seats"])
    );
    for r in e["reasons"].as_array().into_iter().flatten() {
        println!("  - {}", txt(r));
    }
    if let Some(n) = t["notice"].as_str() {
        println!("  {n}");
    }
}

// --- members ----------------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct MemberCmd {
    #[command(flatten)]
    sel: TenantSel,
    #[command(subcommand)]
    cmd: MemberCommand,
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Give a user a role on the tenant (a new user is created and gets a token, printed once).
    Add {
        /// The user's name.
        user: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Users with a role on the tenant.
    List,
    /// Take a user's role on the tenant away.
    Remove {
        /// The user's id or name.
        user: String,
    },
}

/// The roles of the programme (who may do what: docs/programme.md).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// The customer's administrator: schedules events, manages users, confirms gates.
    CustomerAdmin,
    /// A partner acting for the customer.
    Partner,
    /// Runs the programme for the customer.
    MigrationManager,
    /// Launches and retries passes, runs assessments.
    Engineer,
    /// Reads everything, changes nothing.
    Viewer,
}

pub async fn run_member(ctx: &Ctx, c: &Client, m: MemberCmd) -> Result<Value> {
    let path = format!("{}/members", m.sel.path(c).await?);
    match m.cmd {
        MemberCommand::Add { user, role } => {
            let v = c
                .post(&path, json!({ "user": user, "role": name_of(role) }))
                .await?;
            emit_change(ctx, v, |r| {
                println!(
                    "{} is {} on this tenant (user {}).",
                    txt(&r["name"]),
                    txt(&r["role"]),
                    txt(&r["user"])
                );
                if let Some(t) = r["token"].as_str() {
                    println!(
                        "New user: their token (save it, it is not shown again):\n\n    {t}\n"
                    );
                }
            })
        }
        MemberCommand::List => {
            let v = c.get(&path).await?;
            emit(ctx, v, |v| {
                let mut t = Table::new(&["User", "Name", "Role", "Since"]);
                for x in v["members"].as_array().into_iter().flatten() {
                    t.row(vec![
                        txt(&x["user"]),
                        txt(&x["name"]),
                        txt(&x["role"]),
                        when(&x["since"]),
                    ]);
                }
                print!("{}", t.render());
            })
        }
        MemberCommand::Remove { user } => {
            let id = if is_id(&user) {
                user
            } else {
                let list = c.get(&path).await?;
                let members: Vec<Value> = list["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| json!({ "id": m["user"], "name": m["name"] }))
                    .collect();
                pick(
                    "member",
                    &user,
                    &Value::Array(members),
                    "name",
                    "ferry member list",
                )?
            };
            let v = c.delete(&format!("{path}/{id}")).await?;
            emit_change(ctx, v, |r| {
                println!(
                    "User {} has no role on this tenant any more.",
                    txt(&r["user"])
                );
            })
        }
    }
}

// --- audit, transactions, whoami --------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    sel: TenantSel,
    /// Only entries after this sequence number (paging: pass the last Seq shown).
    #[arg(long, value_name = "SEQ")]
    after: Option<i64>,
    /// At most this many entries (default 500).
    #[arg(long, value_name = "N")]
    limit: Option<i64>,
}

pub async fn run_audit(ctx: &Ctx, c: &Client, a: AuditArgs) -> Result<Value> {
    let tenant = a.sel.path(c).await?;
    let mut path = format!("{tenant}/audit");
    let mut q = Vec::new();
    if let Some(n) = a.after {
        q.push(format!("after={n}"));
    }
    if let Some(n) = a.limit {
        q.push(format!("limit={n}"));
    }
    if !q.is_empty() {
        path = format!("{path}?{}", q.join("&"));
    }
    let v = c.get(&path).await?;
    let names = human_names(ctx, Names::of_tenant(c, &tenant)).await?;
    emit(ctx, v, |v| {
        let mut t = Table::new(&["Seq", "At", "Who", "Action", "Target"]);
        for x in v["entries"].as_array().into_iter().flatten() {
            t.row(vec![
                txt(&x["seq"]),
                when(&x["at"]),
                txt(&x["who"]),
                txt(&x["action"]),
                names.describe(&txt(&x["target"])),
            ]);
        }
        print!("{}", t.render());
    })
}

#[derive(Subcommand, Debug)]
pub enum TransactionCommand {
    /// A transaction's status: created, in_progress, completed, failed or on_hold.
    Show {
        #[command(flatten)]
        sel: TenantSel,
        /// The transaction id (every change prints it).
        id: String,
    },
}

pub async fn run_transaction(ctx: &Ctx, c: &Client, t: TransactionCommand) -> Result<Value> {
    let TransactionCommand::Show { sel, id } = t;
    if !is_id(&id) {
        return Err(Error::config(format!(
            "{id:?} is not a transaction id: every change prints its id as `Transaction <id>: <status>`"
        )));
    }
    let v = c
        .get(&format!("{}/transactions/{id}", sel.path(c).await?))
        .await?;
    emit(ctx, v, |v| {
        println!(
            "Transaction {}: {} ({} on {})",
            txt(&v["id"]),
            txt(&v["status"]),
            txt(&v["action"]),
            txt(&v["target"])
        );
        println!(
            "  created {}, updated {}",
            when(&v["created_at"]),
            when(&v["updated_at"])
        );
        if !v["detail"].is_null() {
            println!("  {}", txt(&v["detail"]));
        }
    })
}

pub async fn run_whoami(ctx: &Ctx, c: &Client) -> Result<Value> {
    let v = c.get("/api/v1/me").await?;
    emit(ctx, v, |v| {
        let op = if v["operator"].as_bool() == Some(true) {
            " (operator: may do everything)"
        } else {
            ""
        };
        println!("{} ({}){op}", txt(&v["name"]), txt(&v["user"]));
        for r in v["roles"].as_array().into_iter().flatten() {
            println!(
                "  {} on {} ({})",
                txt(&r["role"]),
                txt(&r["tenant_name"]),
                txt(&r["tenant"])
            );
        }
    })
}
