//! `ferry files migrate | verify | assess`.

use crate::format::{Table, human_bytes};
use crate::summary::{RunRow, Words, finish, print_json};
use crate::ui::ProgressUi;
use crate::{Ctx, Outcome};
use clap::{Args, Subcommand, ValueEnum};
use ferry_core::mail::Secret;
use ferry_core::rules::{TargetRoot, TargetRules};
use ferry_core::{Error, Result};
use ferry_engine::files::assess::assess_files;
use ferry_engine::files::spmt::parse_spmt_csv;
use ferry_engine::files::{
    FileMappingSpec, FileOpener, FileOptions, PathFilter, run_files, verify_files,
};
use ferry_engine::progress::Progress;
use ferry_files::config::FileEndpoint;
use ferry_store::FileStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum FilesCommand {
    /// Copy a file tree from the source to the target. Re-running copies only new or changed files; the
    /// source is never written; nothing on the target is deleted, and a target file changed after Ferry
    /// wrote it is never overwritten.
    Migrate(MigrateArgs),
    /// Walk source and target in step and classify every file: same, different, missing, extra. Exits 1
    /// when anything is missing or different.
    Verify(VerifyArgs),
    /// Inventory a source tree (files, folders, bytes, depth, largest files, extensions, oldest/newest) and
    /// list what the target rules would rename or skip. Reads only.
    Assess(AssessArgs),
}

/// Endpoints and credentials for both sides.
#[derive(Args, Debug, Clone)]
pub struct Sides {
    /// Source: a path (or mounted share), webdav://host:port/path, webdavs://…, sftp://user@host:port/path,
    /// s3://bucket/prefix?endpoint=URL&region=R, onedrive://UPN/path or
    /// sharepoint://HOST/sites/SITE/LIBRARY/path. Not needed with --mapping.
    pub source: Option<String>,
    /// Target: same forms as the source. Not needed with --mapping.
    pub target: Option<String>,
    /// Mapping CSV in the Migration Manager / SPMT format:
    /// Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    #[command(flatten)]
    pub creds: Credentials,
}

/// Credentials, given as flags or (for secrets, preferably) environment variables.
#[derive(Args, Debug, Clone)]
pub struct Credentials {
    /// Source user (WebDAV basic auth, SFTP login).
    #[arg(long)]
    pub source_user: Option<String>,
    /// Source password (WebDAV, SFTP).
    #[arg(long, env = "FERRY_SOURCE_PASSWORD", hide_env_values = true)]
    pub source_password: Option<String>,
    /// SFTP private key file for the source.
    #[arg(long, value_name = "FILE")]
    pub source_key: Option<PathBuf>,
    /// S3 access key for the source (or AWS_ACCESS_KEY_ID).
    #[arg(long)]
    pub source_access_key: Option<String>,
    /// S3 secret key for the source (or AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "FERRY_SOURCE_SECRET_KEY", hide_env_values = true)]
    pub source_secret_key: Option<String>,
    /// Target user (WebDAV basic auth, SFTP login).
    #[arg(long)]
    pub target_user: Option<String>,
    /// Target password (WebDAV, SFTP).
    #[arg(long, env = "FERRY_TARGET_PASSWORD", hide_env_values = true)]
    pub target_password: Option<String>,
    /// SFTP private key file for the target.
    #[arg(long, value_name = "FILE")]
    pub target_key: Option<PathBuf>,
    /// S3 access key for the target (or AWS_ACCESS_KEY_ID).
    #[arg(long)]
    pub target_access_key: Option<String>,
    /// S3 secret key for the target (or AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "FERRY_TARGET_SECRET_KEY", hide_env_values = true)]
    pub target_secret_key: Option<String>,
    /// SFTP known_hosts file to check host keys against (both sides).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Accept an SFTP host key that is not in known_hosts (test servers only).
    #[arg(long)]
    pub accept_unknown_host_key: bool,
    /// Follow symbolic links on a local source and copy what they point to (like rsync -L and
    /// rclone -L). Without it links are listed and skipped with a reason. Broken links and links to a
    /// folder that contains them (a loop) stay skipped either way.
    #[arg(long, short = 'L')]
    pub copy_links: bool,
    /// OAuth2 access token for a OneDrive/SharePoint source (it cannot be refreshed: for long runs use
    /// the app's credentials).
    #[arg(long, env = "FERRY_SOURCE_TOKEN", hide_env_values = true)]
    pub source_oauth_token: Option<String>,
    /// OAuth2 access token for a OneDrive/SharePoint target, for Microsoft Graph.
    #[arg(long, env = "FERRY_TARGET_TOKEN", hide_env_values = true)]
    pub target_oauth_token: Option<String>,
    /// OAuth sign-in for OneDrive/SharePoint (app-only by default with the scope
    /// https://graph.microsoft.com/.default; device sign-in asks for Files.ReadWrite.All).
    #[command(flatten)]
    pub oauth: crate::oauth::OAuthArgs,
    /// Microsoft Graph base URL for onedrive:// and sharepoint:// endpoints that do not set `?graph=`
    /// (sovereign clouds, e.g. https://graph.microsoft.us/v1.0). Default https://graph.microsoft.com/v1.0.
    #[arg(long, env = "FERRY_GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,
}

/// Which files and how.
#[derive(Args, Debug, Clone)]
pub struct Selection {
    /// Name rules of the target: onedrive or sharepoint map forbidden names (reversibly) and skip what
    /// the service refuses (paths of 400+ characters, files over 250 GB / 15 GB from cloud sources);
    /// none for plain storage. Default: none; `verify` uses the rules the mapping was migrated with.
    #[arg(long, value_parser = parse_rules)]
    pub target_rules: Option<TargetRules>,
    /// Only files whose path (relative to the source) matches this glob (repeatable; `*` crosses '/').
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out files whose path matches this glob (repeatable; wins over --include).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Only files modified within this long (e.g. 30d, 12h, 90m, 2w).
    #[arg(long, value_parser = parse_age)]
    pub max_age: Option<Duration>,
    /// Only files older than this.
    #[arg(long, value_parser = parse_age)]
    pub min_age: Option<Duration>,
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub sides: Sides,
    #[command(flatten)]
    pub select: Selection,
    /// Files copied at once within a mapping.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Copies one server (host:port) may serve at once, counted over all mappings.
    #[arg(long, default_value_t = 16)]
    pub max_connections: usize,
    /// Decide what changed by content hash (where the source lists one), not only size and mtime.
    #[arg(long)]
    pub checksum: bool,
    /// Plan only: walk the source and show what would be copied, renamed or skipped. Writes nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Final pass: copy what is new or changed, then seal the mapping (later runs copy nothing more).
    #[arg(long = "final", conflicts_with = "dry_run")]
    pub final_pass: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub sides: Sides,
    #[command(flatten)]
    pub select: Selection,
    /// Read both sides and compare SHA-256 of every file (slow, strongest). On OneDrive/SharePoint only the
    /// source is read: its QuickXorHash is compared with the one the target reports (no download).
    #[arg(long)]
    pub checksum: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct AssessArgs {
    /// The tree to assess (same forms as for migrate).
    pub source: String,
    /// A OneDrive or SharePoint target to assess against: its quota is read and a tree that would use
    /// more than 75 % of the storage left is flagged; its name rules apply unless --target-rules is given.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    #[command(flatten)]
    pub creds: Credentials,
    #[command(flatten)]
    pub select: Selection,
    /// Output: table (summary, then findings), csv (findings as rows, streamed), json (one object).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

fn parse_rules(s: &str) -> std::result::Result<TargetRules, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// `30d`, `12h`, `90m`, `45s`, `2w`.
pub fn parse_age(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not an age; write e.g. 30d, 12h, 90m or 2w"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("unknown unit in {s:?}; use s, m, h, d or w")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

fn filter(sel: &Selection) -> PathFilter {
    PathFilter {
        include: sel.include.clone(),
        exclude: sel.exclude.clone(),
        max_age: sel.max_age,
        min_age: sel.min_age,
    }
}

#[derive(Clone, Copy)]
enum Side {
    Source,
    Target,
}

fn endpoint(text: &str, side: Side, c: &Credentials) -> Result<FileEndpoint> {
    let name = match side {
        Side::Source => "source",
        Side::Target => "target",
    };
    let ep = FileEndpoint::parse(text).map_err(|e| Error::config(format!("{name}: {e}")))?;
    with_credentials(ep, side, c)
}

/// Give an endpoint the credentials of its side.
fn with_credentials(ep: FileEndpoint, side: Side, c: &Credentials) -> Result<FileEndpoint> {
    let name = match side {
        Side::Source => "source",
        Side::Target => "target",
    };
    let (user, password, key, access, secret) = match side {
        Side::Source => (
            &c.source_user,
            &c.source_password,
            &c.source_key,
            &c.source_access_key,
            &c.source_secret_key,
        ),
        Side::Target => (
            &c.target_user,
            &c.target_password,
            &c.target_key,
            &c.target_access_key,
            &c.target_secret_key,
        ),
    };
    Ok(match ep {
        FileEndpoint::Local { path, .. } => FileEndpoint::Local {
            path,
            follow_links: matches!(side, Side::Source) && c.copy_links,
        },
        _ if c.copy_links && matches!(side, Side::Source) => {
            return Err(Error::config(format!(
                "source {}: --copy-links follows links on a local source only; remote sources list links as links, which are skipped with a reason",
                ep.describe()
            )));
        }
        FileEndpoint::WebDav(cfg) => match password {
            Some(p) => FileEndpoint::WebDav(cfg.with_credentials(user.as_deref(), Secret::new(p))?),
            None => FileEndpoint::WebDav(cfg),
        },
        FileEndpoint::Sftp(mut cfg) => {
            if let Some(k) = key {
                cfg = cfg.with_key_file(user.as_deref(), k)?;
            } else if let Some(p) = password {
                cfg = cfg.with_password(user.as_deref(), Secret::new(p))?;
            } else {
                return Err(Error::config(format!(
                    "{name}: SFTP needs --{name}-key FILE or a password (--{name}-password or FERRY_{}_PASSWORD)",
                    name.to_uppercase()
                )));
            }
            if let Some(k) = &c.known_hosts {
                cfg = cfg.with_known_hosts(k);
            }
            FileEndpoint::Sftp(cfg.accepting_unknown_host_key(c.accept_unknown_host_key))
        }
        FileEndpoint::S3(cfg) => {
            let access = access
                .clone()
                .or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok());
            let secret = secret
                .clone()
                .or_else(|| std::env::var("AWS_SECRET_ACCESS_KEY").ok());
            match (access, secret) {
                (Some(a), Some(s)) => FileEndpoint::S3(cfg.with_keys(a, Secret::new(s))),
                (None, None) => FileEndpoint::S3(cfg),
                _ => {
                    return Err(Error::config(format!(
                        "{name}: S3 needs both --{name}-access-key and --{name}-secret-key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                    )));
                }
            }
        }
        FileEndpoint::Graph(cfg) => FileEndpoint::Graph(graph_credentials(cfg, side, c)?),
    })
}

/// The scope of app-only Graph tokens.
const GRAPH_APP_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The scope a device sign-in asks for to write OneDrive/SharePoint files as the person.
const GRAPH_DELEGATED_SCOPE: &str = "https://graph.microsoft.com/Files.ReadWrite.All";

/// A Graph endpoint's token source and base URL.
fn graph_credentials(
    mut cfg: ferry_files::graph::config::GraphConfig,
    side: Side,
    c: &Credentials,
) -> Result<ferry_files::graph::config::GraphConfig> {
    let (name, token) = match side {
        Side::Source => ("source", &c.source_oauth_token),
        Side::Target => ("target", &c.target_oauth_token),
    };
    if let Some(url) = &c.graph_url
        && cfg.base == ferry_files::graph::config::DEFAULT_GRAPH_URL
    {
        cfg = cfg.with_base(url)?;
    }
    let source = c.oauth.token_source_for(
        name,
        token.as_deref(),
        None,
        GRAPH_APP_SCOPE,
        GRAPH_DELEGATED_SCOPE,
    )?;
    match source {
        Some(t) => Ok(cfg.with_token_source(t)),
        None => Err(Error::config(format!(
            "{name}: {} needs OAuth credentials for Microsoft Graph: give --{name}-tenant, --{name}-client-id and --{name}-client-secret or --{name}-certificate (or --{name}-oauth-token / FERRY_{}_TOKEN); see docs/onedrive-sharepoint.md for the Entra app",
            cfg.describe(),
            name.to_uppercase()
        ))),
    }
}

/// A OneDrive/SharePoint target's description and quota, read with the target's credentials.
async fn target_quota(
    text: &str,
    c: &Credentials,
) -> Result<(String, ferry_files::graph::resolve::Quota)> {
    let FileEndpoint::Graph(cfg) = endpoint(text, Side::Target, c)? else {
        return Err(Error::config(
            "--target: only onedrive:// and sharepoint:// targets report a quota to assess against",
        ));
    };
    let conn =
        ferry_files::graph::GraphConnector::open(cfg, ferry_core::mail::Access::ReadOnly).await?;
    Ok((
        ferry_core::file::FileConnector::describe(&conn),
        conn.drive().quota.unwrap_or_default(),
    ))
}

/// The name rules a OneDrive or SharePoint target applies by itself when `--target-rules` is not given.
fn default_rules(specs: &[FileMappingSpec], given: Option<TargetRules>) -> TargetRules {
    given.unwrap_or_else(|| {
        specs
            .iter()
            .find_map(|s| rules_of(&s.target.describe()))
            .unwrap_or_default()
    })
}

fn rules_of(described: &str) -> Option<TargetRules> {
    if described.starts_with("onedrive://") {
        Some(TargetRules::OneDrive)
    } else if described.starts_with("sharepoint://") {
        Some(TargetRules::SharePoint)
    } else {
        None
    }
}

fn specs(s: &Sides) -> Result<Vec<FileMappingSpec>> {
    if let Some(csv) = &s.mapping {
        if s.source.is_some() || s.target.is_some() {
            return Err(Error::config(
                "give either SOURCE and TARGET or --mapping, not both",
            ));
        }
        let text = std::fs::read_to_string(csv).map_err(|e| {
            Error::config(format!(
                "cannot read the mapping file {}: {e}",
                csv.display()
            ))
        })?;
        let rows = parse_spmt_csv(&text)?;
        return rows
            .iter()
            .map(|r| {
                let at = |e: Error| {
                    Error::config(format!("mapping CSV line {}: {}", r.line, e.message()))
                };
                let src = endpoint(&r.source, Side::Source, &s.creds).map_err(at)?;
                // A SharePoint TargetWeb names a site: TargetDocLib is then its library, not a folder.
                let (tgt, target_dir) = match ferry_files::graph::config::GraphConfig::from_spmt(
                    &r.target_web,
                    &r.target_doc_lib,
                ) {
                    Some(cfg) => {
                        let cfg = cfg.map_err(at)?;
                        let ep = with_credentials(FileEndpoint::Graph(cfg), Side::Target, &s.creds)
                            .map_err(at)?;
                        let sub: Vec<&str> = r
                            .target_sub_folder
                            .split(['/', '\\'])
                            .filter(|x| !x.is_empty())
                            .collect();
                        (ep, sub.join("/"))
                    }
                    None => (
                        endpoint(&r.target_web, Side::Target, &s.creds).map_err(at)?,
                        r.target_dir(),
                    ),
                };
                Ok(FileMappingSpec {
                    label: format!("{} → {}", r.source, r.target_web),
                    source: Arc::new(src) as Arc<dyn FileOpener>,
                    target: Arc::new(tgt) as Arc<dyn FileOpener>,
                    source_dir: r.source_dir(),
                    target_dir,
                    at_library_root: r.target_sub_folder.is_empty(),
                })
            })
            .collect();
    }
    let (Some(src), Some(tgt)) = (&s.source, &s.target) else {
        return Err(Error::config("give SOURCE and TARGET (or --mapping FILE)"));
    };
    let se = endpoint(src, Side::Source, &s.creds)?;
    let te = endpoint(tgt, Side::Target, &s.creds)?;
    Ok(vec![FileMappingSpec {
        label: se.describe(),
        source: Arc::new(se),
        target: Arc::new(te),
        source_dir: String::new(),
        target_dir: String::new(),
        at_library_root: true,
    }])
}

pub async fn run(ctx: &Ctx, cmd: FilesCommand) -> Result<Outcome> {
    match cmd {
        FilesCommand::Migrate(a) => migrate(ctx, a).await,
        FilesCommand::Verify(a) => verify(ctx, a).await,
        FilesCommand::Assess(a) => assess(ctx, a).await,
    }
}

async fn migrate(ctx: &Ctx, a: MigrateArgs) -> Result<Outcome> {
    let specs = specs(&a.sides)?;
    let opts = FileOptions {
        concurrency: a.concurrency.max(1),
        connections_per_endpoint: a.max_connections.max(1),
        rules: default_rules(&specs, a.select.target_rules),
        filter: filter(&a.select),
        checksum: a.checksum,
        final_pass: a.final_pass,
        ..FileOptions::default()
    };
    if a.dry_run {
        let mut any = false;
        for spec in &specs {
            println!("{}", spec.label);
            let root = TargetRoot {
                prefix: spec.target_dir.clone(),
                is_library_root: spec.at_library_root,
            };
            let inv = assess_files(spec.source.as_ref(), &spec.source_dir, &root, &opts, |f| {
                println!("  {:<6} {}: {}", f.action, f.path, f.detail);
            })
            .await?;
            any |= inv.skips > 0;
            println!(
                "  would copy {} files ({}) in {} folders; {} renamed, {} skipped by the target rules",
                inv.files - inv.skips,
                human_bytes(inv.bytes),
                inv.folders,
                inv.renames,
                inv.skips
            );
        }
        println!("Dry run: nothing was copied.");
        return Ok(if any {
            Outcome::Incomplete
        } else {
            Outcome::Ok
        });
    }
    let store: Arc<dyn FileStore> = Arc::new(ctx.store().await?);
    let progress = Arc::new(Progress::default());
    let ui = ProgressUi::start(progress.clone(), ctx.json, "files", "mappings");
    let started = std::time::Instant::now();
    let summary = run_files(store, specs, opts, progress).await;
    ui.finish().await;
    let summary = summary?;
    let secs = started.elapsed().as_secs_f64();
    if ctx.json {
        print_json(&summary)?;
    }
    let rows: Vec<RunRow<'_>> = summary
        .mappings
        .iter()
        .map(|m| RunRow {
            label: &m.label,
            kind: m.kind,
            counters: &m.counters,
            extra: Some(m.renamed),
            status: m.status,
            error: m.error.as_deref(),
        })
        .collect();
    let words = Words {
        row: "Mapping",
        extra: Some("Renamed"),
        items: "files ",
        rate: "files/s",
        noun: "mapping",
    };
    finish(ctx, &words, &rows, &summary.totals, summary.status, secs)
}

async fn verify(ctx: &Ctx, a: VerifyArgs) -> Result<Outcome> {
    let specs = specs(&a.sides)?;
    let opts = FileOptions {
        rules: default_rules(&specs, a.select.target_rules),
        rules_from_journal: a.select.target_rules.is_none(),
        filter: filter(&a.select),
        checksum: a.checksum,
        ..FileOptions::default()
    };
    let db = ctx.data.join("ferry.db");
    let store: Option<Arc<dyn FileStore>> = if db.exists() {
        Some(Arc::new(ctx.store().await?))
    } else {
        None
    };
    let results = verify_files(store, &specs, &opts).await;
    if ctx.json {
        print_json(&results)?;
    } else {
        let mut t = Table::new(&[
            "Mapping",
            "Files",
            "Same",
            "Different",
            "Missing",
            "Extra",
            "Skipped",
            "Errors",
            "Grade",
        ]);
        for v in &results {
            t.row(vec![
                v.label.clone(),
                v.files.to_string(),
                v.same.to_string(),
                v.different.to_string(),
                v.missing.to_string(),
                v.extra.to_string(),
                v.skipped.to_string(),
                v.errors.to_string(),
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
            for (kind, path) in &v.problems {
                println!("  {kind:<9} {path}");
            }
        }
    }
    Ok(if results.iter().all(|v| v.is_complete()) {
        Outcome::Ok
    } else {
        Outcome::Incomplete
    })
}

async fn assess(ctx: &Ctx, a: AssessArgs) -> Result<Outcome> {
    let src = endpoint(&a.source, Side::Source, &a.creds)?;
    let quota = match &a.target {
        Some(t) => Some(target_quota(t, &a.creds).await?),
        None => None,
    };
    let opts = FileOptions {
        rules: a
            .select
            .target_rules
            .or_else(|| a.target.as_deref().and_then(rules_of))
            .unwrap_or_default(),
        filter: filter(&a.select),
        ..FileOptions::default()
    };
    let format = if ctx.json { Format::Json } else { a.format };
    let root = TargetRoot {
        prefix: String::new(),
        is_library_root: true,
    };
    let mut findings_json = Vec::new();
    let mut csv_out = csv::Writer::from_writer(std::io::stdout());
    let mut csv_err: Option<csv::Error> = None;
    if matches!(format, Format::Csv)
        && let Err(e) = csv_out.write_record(["path", "action", "detail"])
    {
        csv_err = Some(e);
    }
    let inv = assess_files(&src, "", &root, &opts, |f| match format {
        Format::Table => println!("{:<6} {}: {}", f.action, f.path, f.detail),
        Format::Csv => {
            if let Err(e) = csv_out.write_record([&f.path, &f.action, &f.detail]) {
                csv_err.get_or_insert(e);
            }
        }
        // JSON is one document: findings are kept (they are the exceptions, not the tree).
        Format::Json => findings_json.push(f.clone()),
    })
    .await?;
    csv_out
        .flush()
        .map_err(|e| Error::unexpected(format!("cannot write CSV: {e}")))?;
    if let Some(e) = csv_err {
        return Err(Error::unexpected(format!("cannot write CSV: {e}")));
    }
    // More than 75 % of what the target has left (issue 11): flagged before anything is copied.
    let over = quota.as_ref().and_then(|(t, q)| {
        let left = q.remaining?;
        (u128::from(inv.bytes) * 4 > u128::from(left) * 3).then(|| {
            format!(
                "the tree ({}) would use more than 75 % of the {} left on {t}: ask for more storage before migrating",
                human_bytes(inv.bytes),
                human_bytes(left)
            )
        })
    });
    match format {
        Format::Json => print_json(&serde_json::json!({
            "source": src.describe(),
            "inventory": inv,
            "findings": findings_json,
            "target": quota.as_ref().map(|(t, q)| serde_json::json!({
                "target": t, "quota": q, "over_75_percent": over.is_some(), "detail": over,
            })),
        }))?,
        Format::Csv => {
            if let Some(o) = &over {
                let mut w = csv::Writer::from_writer(std::io::stdout());
                w.write_record(["", "quota", o.as_str()])
                    .and_then(|()| w.flush().map_err(csv::Error::from))
                    .map_err(|e| Error::unexpected(format!("cannot write CSV: {e}")))?;
            }
        }
        Format::Table => {
            println!("\n{}", src.describe());
            println!(
                "  {} files, {} folders, {}, deepest {} levels; {} would be renamed, {} skipped",
                inv.files,
                inv.folders,
                human_bytes(inv.bytes),
                inv.max_depth,
                inv.renames,
                inv.skips
            );
            if let (Some(o), Some(n)) = (&inv.oldest, &inv.newest) {
                println!(
                    "  oldest {} ({}), newest {} ({})",
                    o.1.format("%Y-%m-%d"),
                    o.0,
                    n.1.format("%Y-%m-%d"),
                    n.0
                );
            }
            let mut t = Table::new(&["Largest files", "Size"]);
            for (p, s) in inv.largest.iter().take(10) {
                t.row(vec![p.clone(), human_bytes(*s)]);
            }
            for l in t.render().lines() {
                println!("  {l}");
            }
            let mut t = Table::new(&["Extension", "Files", "Size"]);
            for (e, n, b) in inv.extensions.iter().take(15) {
                t.row(vec![e.clone(), n.to_string(), human_bytes(*b)]);
            }
            for l in t.render().lines() {
                println!("  {l}");
            }
            for (d, e) in &inv.unreadable {
                println!("  cannot read {d}: {e}");
            }
            if let Some((t, q)) = &quota {
                println!(
                    "  target {t}: {} left of {}",
                    q.remaining.map(human_bytes).unwrap_or_else(|| "?".into()),
                    q.total.map(human_bytes).unwrap_or_else(|| "?".into())
                );
            }
            if let Some(o) = &over {
                println!("quota  {o}");
            }
        }
    }
    Ok(
        if inv.skips > 0 || !inv.unreadable.is_empty() || over.is_some() {
            Outcome::Incomplete
        } else {
            Outcome::Ok
        },
    )
}
