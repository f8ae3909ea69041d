//! The mail workload: one pass and one discovery of one mapping, through the engine
//! ([`ferry_engine::run_mail`], [`ferry_engine::plan_mail`]).
//!
//! A mapping row is one line of Exchange's IMAP migration CSV: `source` is the source login, `target` the
//! e-mail address of the target mailbox, `detail` holds `user_root` and `target_user`; the passwords are
//! stored encrypted under the owners `mapping:<id>:source` and `mapping:<id>:target`.
//!
//! **Logins**, in order of preference (the same choices as `ferry mail migrate`):
//! - source: the mapping's own password; else the source endpoint's `username` as a master user acting for
//!   the mailbox (`user*admin`, Dovecot style) with the endpoint's secret; else the mailbox login with the
//!   endpoint's secret;
//! - target: the mapping's `TargetUserName`/`TargetPassword`; else the target endpoint's `username` as an
//!   admin (master user) acting for the e-mail address, with the endpoint's secret; else the e-mail address
//!   with the endpoint's secret.
//!
//! **OAuth endpoints** (`exo://TENANT`, Exchange Online; or `imaps://…?auth=xoauth2` with the `tenant`
//! option): the endpoint's `username` is the app's Application (client) ID and its credential the app's
//! client secret or its certificate (a PEM with the private key and the certificate): the credential kinds
//! `client-secret` and `certificate` (`PUT …/endpoints/{side}/credential` with `kind`). Each mailbox logs
//! in with `XOAUTH2` as the mapping's e-mail address with an app-only token for
//! `https://outlook.office365.com/.default`, from one cached sign-in per app shared by every pass of the
//! process and refreshed before it expires (`ferry_oauth`). The `authority` option names another identity
//! platform (sovereign clouds).
//!
//! Credentials are purged when a project is paused and expire after 70 days; a pass without one fails with a
//! reason that says which credential to supply again.
//!
//! **Endpoint options** (`PUT …/endpoints/{side}` `options`):
//! - `max_message_size` (either side; the smaller wins): messages larger than this are Skipped with that
//!   reason. Bytes as a number, or text such as `"20KB"`, `"35MB"`. Default: the `max_message_size`
//!   setting, 35 MB unless set (Exchange Online's IMAP migration limit). An Exchange Online target never
//!   gets more than 150 MB (the largest `MaxReceiveSize`), and its assessment applies Exchange's profile:
//!   `message_over_exchange_size_limit` (saying what the tenant can change) and Exchange's mailbox folder
//!   limits ([`ferry_mail::exo::folder_limit_problems`]).
//! - `quota_mb` (target): the target mailbox quota the assessment compares a mailbox with. Default 102400
//!   (100 GB, Exchange Online's standard mailbox quota).
//! - `concurrency`, `max_connections`: as `ferry mail migrate --concurrency/--max-connections`.
//! - `disarm_read_receipts` (target, default false): as `ferry mail migrate --disarm-read-receipts`; the
//!   per-item results' `note` names each message changed.

use super::{EndpointConfig, PassResult, ProjectEndpoints, load_endpoints};
use crate::db::Project;
use crate::programme::{MappingView, load_secret};
use crate::{ApiError, ApiResult, AppState};
use ferry_core::folder::FolderPath;
use ferry_core::mail::{Access, Secret};
use ferry_core::programme::PassKind;
use ferry_core::token::TokenSource;
use ferry_engine::progress::Progress;
use ferry_engine::{MailOptions, MappingSpec, plan_mail, run_mail};
use ferry_mail::config::{ImapConfig, MailEndpoint};
use ferry_oauth::{Credential, EXCHANGE_SCOPE, OAuthConfig};
use ferry_store::{PassCounters, RunStatus};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Exchange Online's standard mailbox quota, in MB: the assessment's default target quota.
pub const DEFAULT_QUOTA_MB: u64 = 102_400;

/// Run one pass of `mapping`. A whole-mailbox failure (login refused, server unreachable, a credential
/// missing) comes back as a [`PassResult`] with status Failed and the reason; per-message failures and skips
/// are in the counters.
pub async fn run_pass(
    st: &AppState,
    project: &Project,
    mapping: &MappingView,
    kind: PassKind,
    fence: &ferry_core::fence::Fence,
) -> ApiResult<PassResult> {
    let eps = load_endpoints(st, project).await?;
    let spec = match spec(st, project, &eps, mapping, Some(fence)).await {
        Ok(s) => s,
        Err(e) => return Ok(failed(e.message)),
    };
    let mut opts = options(st, &eps)?;
    opts.final_pass = kind == PassKind::Final;
    let progress = Arc::new(Progress::default());
    let _live = st.workers.track(mapping.id, progress.clone());
    let summary = run_mail(super::journal(st, mapping), vec![spec], opts, progress)
        .await
        .map_err(ApiError::from)?;
    let Some(mb) = summary.mailboxes.into_iter().next() else {
        return Err(ApiError::internal(
            "the engine returned no result for the mailbox",
        ));
    };
    Ok(PassResult {
        run_id: Some(summary.run_id),
        status: mb.status,
        counters: mb.counters,
        error: mb.error,
        server_wait: mb.server_wait,
    })
}

/// Whether `project`'s target endpoint is Exchange Online (`exo://`), whose connector renames reserved
/// folder names ([`ferry_mail::exo::shown_folder`]).
pub async fn exchange_target(st: &AppState, project: ferry_core::id::ProjectId) -> ApiResult<bool> {
    let rows = st.programme.endpoints(project).await?;
    Ok(rows
        .iter()
        .any(|e| e.side == "target" && is_exchange(&e.url)))
}

/// Whether an endpoint URL is Exchange Online (`exo://`).
fn is_exchange(url: &str) -> bool {
    matches!(MailEndpoint::parse(url), Ok(MailEndpoint::Imap(c)) if c.exchange.is_some())
}

/// Discover `mapping`'s source mailbox (folders, counts, sizes; read-only, nothing is written anywhere) and
/// apply the mail pre-flight rules: messages over the size limit, a mailbox over
/// `preflight_quota_fraction` of the target quota, more than `preflight_max_items` messages.
pub async fn assess(st: &AppState, project: &Project, mapping: &MappingView) -> ApiResult<Value> {
    let eps = load_endpoints(st, project).await?;
    let opts = options(st, &eps)?;
    let quota_mb = option_u64(&eps.target.options, "quota_mb")?.unwrap_or(DEFAULT_QUOTA_MB);
    let exchange = is_exchange(&eps.target.url);
    let mut findings = Vec::new();
    let spec = match spec(st, project, &eps, mapping, None).await {
        Ok(s) => s,
        Err(e) => {
            findings.push(json!({ "rule": "credential_missing", "detail": e.message }));
            return Ok(json!({
                "mapping": mapping.id, "label": mapping.label, "ready": false,
                "inventory": Value::Null, "findings": findings,
            }));
        }
    };
    let plan = plan_mail(std::slice::from_ref(&spec), &opts)
        .await
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("discovery returned no plan for the mailbox"))?;
    if let Some(e) = &plan.error {
        let side = failing_side(&spec).await;
        let fix = match side {
            "source" => {
                "check the source endpoint, the mapping's source login (CSV UserName/Password) or the source endpoint's credential"
            }
            _ => {
                "check the target endpoint, its admin username and credential, or the mapping's TargetUserName/TargetPassword"
            }
        };
        findings.push(json!({
            "rule": "discovery_failed",
            "side": side,
            "detail": format!("the {side} could not be read: {e}; {fix}"),
        }));
    }
    let messages: u64 = plan.folders.iter().map(|f| f.messages).sum();
    let bytes: u64 = plan.folders.iter().map(|f| f.bytes).sum();
    for f in plan.folders.iter().filter(|f| f.over_size > 0) {
        findings.push(if exchange {
            // Exchange Online's profile: its own limit, and what the tenant can change.
            json!({
                "rule": "message_over_exchange_size_limit",
                "detail": format!(
                    "{} message(s) in {} are larger than {}, the limit for this Exchange Online target, and will be skipped; Exchange Online takes messages up to each mailbox's MaxReceiveSize (35 MB by default, at most 150 MB): if the tenant raised it (Set-Mailbox -MaxReceiveSize), set the target endpoint option max_message_size to the same value",
                    f.over_size, f.source, human(opts.max_size)
                ),
            })
        } else {
            json!({
                "rule": "message_over_size_limit",
                "detail": format!(
                    "{} message(s) in {} are larger than the {} limit and will be skipped",
                    f.over_size, f.source, human(opts.max_size)
                ),
            })
        });
    }
    if exchange {
        let folders: Vec<(String, u64)> = plan
            .folders
            .iter()
            .map(|f| (f.target.clone(), f.messages))
            .collect();
        for (rule, detail) in ferry_mail::exo::folder_limit_problems(&folders) {
            findings.push(json!({ "rule": rule, "detail": detail }));
        }
    }
    let quota = quota_mb.saturating_mul(1024 * 1024);
    let fraction = st.settings.preflight_quota_fraction;
    if quota > 0 && (bytes as f64) > fraction * quota as f64 {
        findings.push(json!({
            "rule": "mailbox_over_quota_fraction",
            "detail": format!(
                "the mailbox holds {} – more than {:.0} % of the target quota of {} (target endpoint option quota_mb)",
                human(bytes), fraction * 100.0, human(quota)
            ),
        }));
    }
    if messages > st.settings.preflight_max_items {
        findings.push(json!({
            "rule": "too_many_items",
            "detail": format!(
                "the mailbox holds {messages} messages, more than {}: split it or plan for a long migration",
                st.settings.preflight_max_items
            ),
        }));
    }
    Ok(json!({
        "mapping": mapping.id,
        "label": mapping.label,
        "ready": findings.is_empty(),
        "inventory": {
            "source": plan.source,
            "target": plan.target,
            "folders": plan.folders,
            "messages": messages,
            "bytes": bytes,
            "over_size": plan.folders.iter().map(|f| f.over_size).sum::<u64>(),
        },
        "limits": {
            "max_message_size": opts.max_size, "quota_mb": quota_mb,
            "profile": if exchange { "exchange-online" } else { "generic" },
        },
        "findings": findings,
    }))
}

/// Which side made a discovery fail. Discovery reads the source first, so a source that answers means the
/// target refused (a wrong target password must not read "the source could not be read", issue 9 item 16).
/// Connectors log in lazily, so each side is asked for its folder list.
async fn failing_side(spec: &MappingSpec) -> &'static str {
    async fn answers(ep: &dyn ferry_engine::EndpointOpener) -> Result<(), ferry_core::Error> {
        let mut c = ep.open(Access::ReadOnly).await?;
        let r = c.list_folders().await.map(|_| ());
        let _ = c.close().await;
        r
    }
    if answers(spec.source.as_ref()).await.is_err() {
        return "source";
    }
    match answers(spec.target.as_ref()).await {
        // A target mailbox that does not exist yet is not an error: the first pass creates it.
        Err(e) if e.kind() != ferry_core::ErrorKind::NotFound => "target",
        _ => "source",
    }
}

fn failed(reason: String) -> PassResult {
    PassResult {
        run_id: None,
        status: RunStatus::Failed,
        counters: PassCounters::default(),
        error: Some(reason),
        server_wait: None,
    }
}

/// The engine's options from the programme's settings and the endpoints' options.
fn options(st: &AppState, eps: &ProjectEndpoints) -> ApiResult<MailOptions> {
    let mut opts = MailOptions {
        max_size: st.settings.max_message_size,
        ..MailOptions::default()
    };
    // A longer server wait gives the pass's slot back instead of being slept in it (issue 12 §3).
    opts.retry.max_wait_in_pass = Some(std::time::Duration::from_secs(
        st.settings.max_wait_in_pass_secs,
    ));
    for ep in [&eps.source, &eps.target] {
        if let Some(max) = option_size(&ep.options, "max_message_size")? {
            opts.max_size = opts.max_size.min(max);
        }
    }
    if is_exchange(&eps.target.url) {
        // Nothing above the largest MaxReceiveSize reaches Exchange Online, whatever the settings say.
        opts.max_size = opts.max_size.min(ferry_mail::exo::EXO_MAX_MESSAGE_SIZE);
    }
    opts.disarm_read_receipts = option_bool(&eps.target.options, "disarm_read_receipts")?;
    if let Some(n) = option_u64(&eps.source.options, "concurrency")? {
        opts.concurrency = (n as usize).max(1);
    }
    for ep in [&eps.source, &eps.target] {
        if let Some(n) = option_u64(&ep.options, "max_connections")? {
            opts.connections_per_endpoint = opts.connections_per_endpoint.min((n as usize).max(1));
        }
    }
    Ok(opts)
}

fn option_u64(options: &Map<String, Value>, key: &str) -> ApiResult<Option<u64>> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "endpoint option {key} = {v}: write a whole number, e.g. {key}: 4"
            ))
        }),
    }
}

fn option_bool(options: &Map<String, Value>, key: &str) -> ApiResult<bool> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => v.as_bool().ok_or_else(|| {
            ApiError::bad_request(format!("endpoint option {key} = {v}: write true or false"))
        }),
    }
}

/// A size option: bytes as a number, or text with a unit (`"20KB"`, `"35 MB"`, `"1GB"`; 1 KB = 1024 bytes).
fn option_size(options: &Map<String, Value>, key: &str) -> ApiResult<Option<u64>> {
    let bad = |v: &Value| {
        ApiError::bad_request(format!(
            "endpoint option {key} = {v}: write bytes as a number or a size such as \"35MB\""
        ))
    };
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(_)) => v.as_u64().map(Some).ok_or_else(|| bad(v)),
        Some(v @ Value::String(s)) => parse_size(s).map(Some).ok_or_else(|| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1024,
        "M" | "MB" | "MIB" => 1024 * 1024,
        "G" | "GB" | "GIB" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn human(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024 * 1024 * 1024 {
        format!("{:.1} GB", bytes as f64 / (MB * 1024.0))
    } else if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / MB)
    } else if bytes >= 1024 {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

/// How one side logs in for one mailbox.
pub(crate) enum Login {
    Password {
        user: String,
        password: String,
    },
    Master {
        user: String,
        admin: String,
        password: String,
    },
    /// `XOAUTH2` as `user` with the endpoint's app sign-in.
    OAuth {
        user: String,
        tokens: Arc<dyn TokenSource>,
    },
}

fn endpoint_for(ep: &MailEndpoint, login: Option<Login>, subdir: &str) -> ApiResult<MailEndpoint> {
    match ep {
        MailEndpoint::Imap(cfg) => {
            let cfg: ImapConfig = cfg.clone();
            let cfg = match login {
                Some(Login::Password { user, password }) => {
                    cfg.with_login(Some(&user), Secret::new(password))
                }
                Some(Login::Master {
                    user,
                    admin,
                    password,
                }) => cfg.with_master(Some(&user), &admin, Secret::new(password)),
                Some(Login::OAuth { user, tokens }) => cfg.with_token_source(Some(&user), tokens),
                None => return Err(ApiError::internal("an IMAP endpoint without a login")),
            }
            .map_err(ApiError::from)?;
            Ok(MailEndpoint::Imap(cfg))
        }
        MailEndpoint::Maildir { path } => Ok(MailEndpoint::Maildir {
            path: path.join(subdir),
        }),
        MailEndpoint::Mbox { path } => Ok(MailEndpoint::Mbox {
            path: path.join(subdir),
        }),
    }
}

/// The engine's view of one mapping: both endpoints with their logins, and the `UserRoot` prefix.
async fn spec(
    st: &AppState,
    project: &Project,
    eps: &ProjectEndpoints,
    m: &MappingView,
    fence: Option<&ferry_core::fence::Fence>,
) -> ApiResult<MappingSpec> {
    let source = MailEndpoint::parse(&eps.source.url).map_err(ApiError::from)?;
    // The source's problems are reported before the target's (a missing source password first).
    let source_login = if let Some(tokens) = oauth_tokens(&source, &eps.source, "source")? {
        Some(Login::OAuth {
            user: m.source.clone(),
            tokens,
        })
    } else if matches!(source, MailEndpoint::Imap(_)) {
        let own = load_secret(st, project.id, &format!("mapping:{}:source", m.id)).await?;
        Some(
            login(
                own.map(|password| Login::Password {
                    user: m.source.clone(),
                    password,
                }),
                &eps.source,
                &m.source,
            )
            .ok_or_else(|| missing(m, "source"))?,
        )
    } else {
        None
    };
    let s = endpoint_for(&source, source_login, &m.source)?;
    let mut t = target_endpoint(st, project, eps, m).await?;
    // A frozen worker that wakes after its lease ended must not finish a half-sent APPEND: the target's
    // connections check the lease's fence before every write (another worker may hold the pass now).
    if let (MailEndpoint::Imap(cfg), Some(fence)) = (&mut t, fence) {
        cfg.fence = Some(fence.clone());
    }
    Ok(MappingSpec {
        label: m.label.clone(),
        source: Arc::new(s),
        target: Arc::new(t),
        source_root: detail(m, "user_root").map(|r| FolderPath::parse(r.trim_matches('/'), '/')),
    })
}

fn detail(m: &MappingView, k: &str) -> Option<String> {
    m.detail
        .get(k)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The mapping's target mailbox with its login (see the module docs for the order of preference).
async fn target_endpoint(
    st: &AppState,
    project: &Project,
    eps: &ProjectEndpoints,
    m: &MappingView,
) -> ApiResult<MailEndpoint> {
    let target = MailEndpoint::parse(&eps.target.url).map_err(ApiError::from)?;
    if matches!(target, MailEndpoint::Mbox { .. }) {
        return Err(ApiError::refused(
            "the target endpoint is mbox, a source format only: set an imap://, imaps:// or maildir: target",
        ));
    }
    let target_login = if let Some(tokens) = oauth_tokens(&target, &eps.target, "target")? {
        Some(Login::OAuth {
            user: m.target.clone(),
            tokens,
        })
    } else if matches!(target, MailEndpoint::Imap(_)) {
        let own = match detail(m, "target_user") {
            Some(user) => load_secret(st, project.id, &format!("mapping:{}:target", m.id))
                .await?
                .map(|password| Login::Password { user, password }),
            None => None,
        };
        Some(login(own, &eps.target, &m.target).ok_or_else(|| missing(m, "target"))?)
    } else {
        None
    };
    endpoint_for(&target, target_login, &m.target)
}

/// The "targets provisioned and active" check for one mapping: log in to its target mailbox and list its
/// folders (nothing is written). `status` is `active`, `refused` (the login or the mailbox access was
/// refused: for Exchange Online the app's service principal, its FullAccess on the mailbox, or IMAP
/// disabled), `missing` (no such mailbox), `no_credential` or `unreachable`, with the reason in `detail`.
pub async fn check_target(st: &AppState, project: &Project, m: &MappingView) -> ApiResult<Value> {
    let eps = load_endpoints(st, project).await?;
    let answer = |status: &str, detail: Option<String>| json!({ "mapping": m.id, "label": m.label, "mailbox": m.target, "status": status, "detail": detail });
    let target = match target_endpoint(st, project, &eps, m).await {
        Ok(t) => t,
        Err(e) => return Ok(answer("no_credential", Some(e.message))),
    };
    let r = async {
        let mut c = ferry_engine::EndpointOpener::open(&target, Access::ReadOnly).await?;
        let r = c.list_folders().await.map(|_| ());
        let _ = c.close().await;
        r
    }
    .await;
    Ok(match r {
        Ok(()) => answer("active", None),
        Err(e) => answer(super::gate_status(&e), Some(e.to_string())),
    })
}

/// For an OAuth-only endpoint (`exo://`, `?auth=xoauth2`), the shared app sign-in from the endpoint's
/// username (client id), credential (client secret or certificate PEM) and options; `None` for others.
fn oauth_tokens(
    ep: &MailEndpoint,
    cfg: &EndpointConfig,
    side: &str,
) -> ApiResult<Option<Arc<dyn TokenSource>>> {
    let MailEndpoint::Imap(imap) = ep else {
        return Ok(None);
    };
    if !imap.xoauth2_only {
        return Ok(None);
    }
    let option = |k: &str| {
        cfg.options
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let tenant = imap
        .exchange
        .as_ref()
        .map(|x| x.tenant.clone())
        .or_else(|| option("tenant").map(str::to_owned))
        .ok_or_else(|| {
            ApiError::refused(format!(
                "the {side} endpoint takes OAuth only: set its `tenant` option (the Entra tenant) or use exo://TENANT"
            ))
        })?;
    let client_id = cfg
        .username
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::refused(format!(
                "the {side} endpoint takes OAuth only: set its username to the app's Application (client) ID"
            ))
        })?;
    let secret = cfg.secret.as_deref().ok_or_else(|| {
        ApiError::refused(format!(
            "no {side} credential: the app's client secret or certificate is missing or expired (credentials \
             are purged when a project is paused and expire after a while). Supply it again: PUT \
             …/endpoints/{side}/credential with kind client-secret or certificate"
        ))
    })?;
    let credential = oauth_credential(secret);
    let mut config =
        OAuthConfig::new(&tenant, client_id, credential, EXCHANGE_SCOPE).for_side(side);
    if let Some(a) = option("authority") {
        config = config.with_authority(a);
    }
    let tokens = ferry_oauth::token_source(&config).map_err(ApiError::from)?;
    Ok(Some(tokens))
}

/// A stored OAuth credential: a PEM with a private key is a certificate credential, anything else a
/// client secret (see `PUT …/credential` `kind`, which checks the PEM when it is supplied).
pub(crate) fn oauth_credential(secret: &str) -> Credential {
    if secret.contains("-----BEGIN") && secret.contains("PRIVATE KEY-----") {
        Credential::Certificate {
            private_key_pem: Secret::new(secret),
            certificate_pem: secret.to_owned(),
        }
    } else {
        Credential::ClientSecret {
            secret: Secret::new(secret),
        }
    }
}

/// The mapping's own login, else the endpoint's admin (master user) for `mailbox`, else `mailbox` with the
/// endpoint's secret.
fn login(own: Option<Login>, ep: &EndpointConfig, mailbox: &str) -> Option<Login> {
    if own.is_some() {
        return own;
    }
    let secret = ep.secret.clone()?;
    Some(match ep.username.as_deref().map(str::trim) {
        Some(admin) if !admin.is_empty() => Login::Master {
            user: mailbox.to_string(),
            admin: admin.to_string(),
            password: secret,
        },
        _ => Login::Password {
            user: mailbox.to_string(),
            password: secret,
        },
    })
}

fn missing(m: &MappingView, side: &str) -> ApiError {
    let own = if side == "source" {
        "the mapping's source password (CSV Password column)"
    } else {
        "the mapping's target login (CSV TargetUserName,TargetPassword columns)"
    };
    ApiError::refused(format!(
        "no {side} credential for {}: {own} and the {side} endpoint's secret are missing or expired \
         (credentials are purged when a project is paused and expire after a while). Supply it again: \
         PUT …/endpoints/{side}/credential (with the endpoint's username set to an admin or master user), \
         then the pass can run",
        m.label
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_a_unit() {
        assert_eq!(parse_size("20KB"), Some(20 * 1024));
        assert_eq!(parse_size("35 MB"), Some(35 * 1024 * 1024));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("1GB"), Some(1024 * 1024 * 1024));
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }

    #[test]
    fn the_endpoint_admin_logs_in_for_each_mailbox_when_the_mapping_has_no_login() {
        let ep = EndpointConfig {
            url: "imap://127.0.0.1:1".into(),
            username: Some("admin".into()),
            options: Map::new(),
            secret: Some("pw".into()),
        };
        match login(None, &ep, "alice@example.com") {
            Some(Login::Master { user, admin, .. }) => {
                assert_eq!(
                    (user.as_str(), admin.as_str()),
                    ("alice@example.com", "admin")
                )
            }
            _ => panic!("expected a master login"),
        }
        let plain = EndpointConfig {
            username: None,
            ..ep.clone()
        };
        assert!(matches!(
            login(None, &plain, "bob"),
            Some(Login::Password { user, .. }) if user == "bob"
        ));
        let none = EndpointConfig { secret: None, ..ep };
        assert!(login(None, &none, "bob").is_none());
    }
}
