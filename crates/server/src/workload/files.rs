//! The files workload: one pass and one discovery of one mapping, through the file mover
//! ([`ferry_engine::files`]).
//!
//! A project's endpoints are [`FileEndpoint`] URLs (a path, `webdav(s)://`, `sftp://`, `s3://bucket/prefix`);
//! a mapping is a directory under the source endpoint and one under the target endpoint (see the SPMT
//! import in [`crate::api::mapping_import`]). Credentials come from the credential store, decrypted only here,
//! just before the connector opens:
//! - WebDAV: Basic auth as the endpoint's `username` (or the URL's user) with the secret as password;
//! - SFTP: the `username` (or the URL's user) with the secret as password, or — when the secret is an
//!   OpenSSH private key (`-----BEGIN …`) — that key, written for the pass's duration to a `0600` file
//!   under `DATA/tmp/` and deleted after; the host key is checked against the endpoint option
//!   `known_hosts` (a file path), unless `accept_unknown_host_key` is `true` (test servers only);
//! - S3: the `username` is the access key id and the secret the secret key; the S3 server and region come
//!   from the URL (`?endpoint=…&region=…`) or the options `s3_endpoint`/`endpoint` and `region`.
//!
//! - OneDrive/SharePoint (`onedrive://UPN/path`, `sharepoint://host/sites/S/Library/path`, `?graph=URL` for
//!   another Graph cloud): the `username` is the app's Application (client) ID, the credential its client
//!   secret (kind `client-secret`) or its certificate (kind `certificate`, a PEM with the private key and the
//!   certificate), the option `tenant` the Entra tenant and `authority` another identity platform; one
//!   cached sign-in per app serves every pass of the process and is refreshed before it expires. Without a
//!   username the credential is a Graph access token used as it is (kind `access-token`). A mapping whose
//!   CSV row names a drive of its own (`TargetWeb` = `onedrive://UPN`, or a SharePoint site with
//!   `TargetDocLib`) writes to that drive, with the endpoint's sign-in (`target_drive` in its detail).
//!
//! The options `target_rules` = `onedrive` | `sharepoint` | `none` (default `none`, on the target endpoint,
//! else the source endpoint) choose the name rules of the target, for passes and for the assessment alike.
//!
//! A Final pass is the file engine's own ([`FileOptions::final_pass`]): a Delta recorded as Final (its
//! items say `final`) that seals the mapping when it ends without errors, so no later pass copies anything
//! more; a Final with failed items leaves the mapping open and is retried (the mail engine's rule).

use super::{EndpointConfig, PassResult, load_endpoints};
use crate::db::{Project, parse_ts};
use crate::programme::{MappingView, load_secret};
use crate::{ApiError, ApiResult, AppState};
use ferry_core::mail::Secret;
use ferry_core::programme::PassKind;
use ferry_core::rules::{TargetRoot, TargetRules};
use ferry_core::token::{StaticToken, TokenSource};
use ferry_engine::files::assess::{Finding, assess_files};
use ferry_engine::files::pass::run_files;
use ferry_engine::files::{FileMappingSpec, FileOpener, FileOptions};
use ferry_engine::progress::Progress;
use ferry_files::config::FileEndpoint;
use ferry_files::graph::config::GraphConfig;
use ferry_oauth::{GRAPH_SCOPE, OAuthConfig};
use ferry_store::{FileStore, PassCounters, RunStatus};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// Findings kept in one mapping's readiness report; the rest are counted (`findings_total`).
pub const MAX_FINDINGS: usize = 1000;

/// Extensions kept in one mapping's inventory (largest first).
const MAX_EXTENSIONS: usize = 50;

/// A private key written for one pass; deleted when dropped.
struct KeyFile(PathBuf);

impl Drop for KeyFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot delete a temporary SSH key file");
        }
    }
}

fn write_key_file(st: &AppState, key: &str) -> Result<KeyFile, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = st.data_dir.join("tmp");
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create {} for the SSH key: {e}", dir.display()))?;
    let path = dir.join(format!("sftp-key-{}", uuid::Uuid::now_v7()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot write the SSH key to {}: {e}", path.display()))?;
    let guard = KeyFile(path);
    let mut text = key.trim().to_owned();
    text.push('\n');
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write the SSH key to {}: {e}", guard.0.display()))?;
    Ok(guard)
}

/// An opened endpoint and what must live as long as it is used.
struct Opened {
    endpoint: FileEndpoint,
    _key: Option<KeyFile>,
}

fn option_str<'a>(options: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    options
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn option_bool(options: &Map<String, Value>, name: &str) -> Result<bool, String> {
    match options.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if matches!(s.as_str(), "true" | "yes" | "1") => Ok(true),
        Some(Value::String(s)) if matches!(s.as_str(), "false" | "no" | "0") => Ok(false),
        Some(other) => Err(format!(
            "endpoint option `{name}` is {other}; write true or false"
        )),
    }
}

/// Why the endpoint's credential cannot be used, with what to do.
async fn missing_credential(st: &AppState, project: &Project, side: &str, what: &str) -> String {
    let expired_at: Option<String> = st
        .programme
        .credential_meta(project.id, &format!("endpoint:{side}"))
        .await
        .ok()
        .flatten()
        .map(|m| m.expires_at);
    let state = match expired_at.as_deref().map(parse_ts) {
        Some(Ok(t)) => format!("expired on {}", t.format("%Y-%m-%d %H:%M UTC")),
        _ => "is not stored (never supplied, or purged when the project was paused)".to_owned(),
    };
    format!(
        "the {side} endpoint needs {what} and its credential {state}: supply it again with PUT …/endpoints/{side}/credential"
    )
}

/// The endpoint of `side` with its credential applied; `Err` is the reason a pass or an assessment
/// cannot use it (never a secret).
async fn open_endpoint(
    st: &AppState,
    project: &Project,
    side: &str,
    ep: &EndpointConfig,
) -> Result<Opened, String> {
    let parsed = FileEndpoint::parse(&ep.url).map_err(|e| format!("the {side} endpoint: {e}"))?;
    let user = ep
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let secret = ep.secret.as_deref();
    let at = |e: ferry_core::Error| format!("the {side} endpoint: {}", e.message());
    let mut key = None;
    let endpoint = match parsed {
        FileEndpoint::Local { path, follow_links } => FileEndpoint::Local { path, follow_links },
        FileEndpoint::WebDav(cfg) => match secret {
            Some(s) => {
                FileEndpoint::WebDav(cfg.with_credentials(user, Secret::new(s)).map_err(at)?)
            }
            None if user.is_some() || cfg.user.is_some() => {
                return Err(missing_credential(st, project, side, "a WebDAV password").await);
            }
            // No user, no password: a server without authentication.
            None => FileEndpoint::WebDav(cfg),
        },
        FileEndpoint::Sftp(mut cfg) => {
            let Some(s) = secret else {
                return Err(missing_credential(
                    st,
                    project,
                    side,
                    "an SFTP password or private key",
                )
                .await);
            };
            if s.trim_start().starts_with("-----BEGIN") {
                let k = write_key_file(st, s)?;
                cfg = cfg.with_key_file(user, &k.0).map_err(at)?;
                key = Some(k);
            } else {
                cfg = cfg.with_password(user, Secret::new(s)).map_err(at)?;
            }
            if let Some(kh) = option_str(&ep.options, "known_hosts") {
                cfg = cfg.with_known_hosts(kh);
            }
            let accept = option_bool(&ep.options, "accept_unknown_host_key")
                .map_err(|e| format!("the {side} endpoint: {e}"))?;
            FileEndpoint::Sftp(cfg.accepting_unknown_host_key(accept))
        }
        FileEndpoint::S3(mut cfg) => {
            if let Some(e) = option_str(&ep.options, "s3_endpoint")
                .or_else(|| option_str(&ep.options, "endpoint"))
            {
                cfg = cfg.with_endpoint(e).map_err(at)?;
            }
            if let Some(r) = option_str(&ep.options, "region") {
                cfg = cfg.with_region(r);
            }
            match (user, secret) {
                (Some(id), Some(s)) => FileEndpoint::S3(cfg.with_keys(id, Secret::new(s))),
                (Some(_), None) => {
                    return Err(missing_credential(st, project, side, "an S3 secret key").await);
                }
                (None, Some(_)) => {
                    return Err(format!(
                        "the {side} endpoint has an S3 secret key but no access key id: set the endpoint's username to the access key id"
                    ));
                }
                // Unsigned requests (a public bucket or a test server).
                (None, None) => FileEndpoint::S3(cfg),
            }
        }
        FileEndpoint::Graph(cfg) => {
            FileEndpoint::Graph(graph_tokens(st, project, side, cfg, ep, user, secret).await?)
        }
    };
    Ok(Opened {
        endpoint,
        _key: key,
    })
}

/// A OneDrive/SharePoint endpoint with its tokens: the app's sign-in (`username` = client id, credential =
/// client secret or certificate PEM, `tenant` and `authority` options), shared by every pass of the process;
/// without a username the credential is a Graph access token used as it is.
async fn graph_tokens(
    st: &AppState,
    project: &Project,
    side: &str,
    cfg: GraphConfig,
    ep: &EndpointConfig,
    client_id: Option<&str>,
    secret: Option<&str>,
) -> Result<GraphConfig, String> {
    let Some(secret) = secret else {
        let what = if client_id.is_some() {
            "the app's client secret or certificate"
        } else {
            "a Microsoft Graph access token"
        };
        return Err(missing_credential(st, project, side, what).await);
    };
    let Some(client_id) = client_id else {
        return Ok(cfg.with_token_source(Arc::new(StaticToken::new(Secret::new(secret)))));
    };
    let tenant = option_str(&ep.options, "tenant").ok_or_else(|| {
        format!(
            "the {side} endpoint signs in as the app {client_id}: set its `tenant` option to the Entra tenant \
             (its id or a verified domain such as contoso.onmicrosoft.com)"
        )
    })?;
    let mut config = OAuthConfig::new(
        tenant,
        client_id,
        super::mail::oauth_credential(secret),
        GRAPH_SCOPE,
    )
    .for_side(side);
    if let Some(a) = option_str(&ep.options, "authority") {
        config = config.with_authority(a);
    }
    let tokens: Arc<dyn TokenSource> = ferry_oauth::token_source(&config)
        .map_err(|e| format!("the {side} endpoint: {}", e.message()))?;
    Ok(cfg.with_token_source(tokens))
}

/// The target of `mapping` on the opened target endpoint: for a OneDrive/SharePoint endpoint, the drive
/// the mapping names (`target_drive`, from its CSV row's `TargetWeb`) when it names one, with the endpoint's
/// Graph URL, settings and tokens; otherwise the endpoint itself.
pub(crate) fn mapping_target(
    endpoint: &FileEndpoint,
    mapping: &MappingView,
) -> Result<FileEndpoint, String> {
    let (FileEndpoint::Graph(base), Some(drive)) = (
        endpoint,
        mapping.detail.get("target_drive").and_then(Value::as_str),
    ) else {
        return Ok(endpoint.clone());
    };
    let mut cfg = GraphConfig::parse(drive)
        .map_err(|e| format!("the mapping's target drive: {}", e.message()))?;
    cfg.base.clone_from(&base.base);
    cfg.timeout = base.timeout;
    cfg.chunk = base.chunk;
    cfg.token.clone_from(&base.token);
    Ok(FileEndpoint::Graph(cfg))
}

/// The "targets provisioned" check for one mapping of a files project: open its target (for OneDrive and
/// SharePoint: sign in and resolve the user's drive or the site's library) and look its folder up; nothing
/// is written. `status` is `active`, `missing` (a OneDrive not provisioned yet, a site or library that does
/// not exist — `detail` names the fix), `refused` (sign-in or access refused), `no_credential` or
/// `unreachable`.
pub async fn check_target(st: &AppState, project: &Project, m: &MappingView) -> ApiResult<Value> {
    let answer = |drive: &str, status: &str, detail: Option<String>| json!({ "mapping": m.id, "label": m.label, "drive": drive, "status": status, "detail": detail });
    let eps = match load_endpoints(st, project).await {
        Ok(e) => e,
        Err(e) if e.status.is_server_error() => return Err(e),
        Err(e) => return Ok(answer("", "no_credential", Some(e.message))),
    };
    let opened = match open_endpoint(st, project, "target", &eps.target).await {
        Ok(o) => o,
        Err(e) => return Ok(answer("", "no_credential", Some(e))),
    };
    let target = match mapping_target(&opened.endpoint, m) {
        Ok(t) => t,
        Err(e) => return Ok(answer("", "no_credential", Some(e))),
    };
    let drive = with_dir(&target.describe(), &m.target);
    let r = async {
        let c = ferry_files::open_files(&target, ferry_core::mail::Access::ReadOnly).await?;
        c.stat(&m.target).await.map(|_| ())
    }
    .await;
    drop(opened);
    Ok(match r {
        Ok(()) => answer(&drive, "active", None),
        Err(e) => answer(&drive, super::gate_status(&e), Some(e.to_string())),
    })
}

/// The target rules profile from the endpoints' options (target first, then source; default: the target's
/// own for OneDrive and SharePoint endpoints, else none).
fn target_rules(
    target: Option<&EndpointConfig>,
    source: &EndpointConfig,
) -> Result<TargetRules, String> {
    let raw = target
        .and_then(|t| option_str(&t.options, "target_rules"))
        .or_else(|| option_str(&source.options, "target_rules"));
    // OneDrive and SharePoint targets apply their own rules without being asked.
    let implied = match target.map(|t| t.url.trim_start().to_ascii_lowercase()) {
        Some(u) if u.starts_with("onedrive://") => TargetRules::OneDrive,
        Some(u) if u.starts_with("sharepoint://") => TargetRules::SharePoint,
        _ => TargetRules::None,
    };
    match raw {
        None => Ok(implied),
        Some(r) => {
            TargetRules::from_str(r).map_err(|e| format!("endpoint option target_rules: {e}"))
        }
    }
}

/// Whether the mapping's target directory is a document library's root (SharePoint's `forms` rule).
fn at_library_root(mapping: &MappingView) -> bool {
    mapping
        .detail
        .get("target_sub_folder")
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
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

/// Run one pass of `mapping`. A pass that cannot start (no endpoint, a missing or expired credential, a
/// bad option) is a Failed [`PassResult`] with the reason; only a store failure is an `Err`.
pub async fn run_pass(
    st: &AppState,
    project: &Project,
    mapping: &MappingView,
    kind: PassKind,
) -> ApiResult<PassResult> {
    let eps = match load_endpoints(st, project).await {
        Ok(e) => e,
        Err(e) if e.status.is_server_error() => return Err(e),
        Err(e) => return Ok(failed(e.message)),
    };
    let rules = match target_rules(Some(&eps.target), &eps.source) {
        Ok(r) => r,
        Err(e) => return Ok(failed(e)),
    };
    let source = match open_endpoint(st, project, "source", &eps.source).await {
        Ok(o) => o,
        Err(e) => return Ok(failed(e)),
    };
    let target = match open_endpoint(st, project, "target", &eps.target).await {
        Ok(o) => o,
        Err(e) => return Ok(failed(e)),
    };
    let target_ep = match mapping_target(&target.endpoint, mapping) {
        Ok(t) => t,
        Err(e) => return Ok(failed(e)),
    };
    // A server's wait longer than max_wait_in_pass_secs is not slept in the pass: the pass stops at a
    // checkpoint and is given back until then (issue 12 §3), here as for mail passes. Graph connectors
    // return such a throttling answer at once instead of waiting it out themselves.
    let max_wait = std::time::Duration::from_secs(st.settings.max_wait_in_pass_secs);
    let spec = FileMappingSpec {
        label: mapping.label.clone(),
        source: Arc::new(bounded(source.endpoint.clone(), max_wait)) as Arc<dyn FileOpener>,
        target: Arc::new(bounded(target_ep, max_wait)) as Arc<dyn FileOpener>,
        source_dir: mapping.source.clone(),
        target_dir: mapping.target.clone(),
        at_library_root: at_library_root(mapping),
    };
    // The engine runs the Final pass (a Delta recorded as Final that seals the mapping when it ends
    // without errors) and copies nothing for a sealed mapping.
    let mut opts = FileOptions {
        mappings: 1,
        rules,
        final_pass: kind == PassKind::Final,
        ..FileOptions::default()
    };
    opts.retry.max_wait_in_pass = Some(max_wait);
    let journal = super::journal(st, mapping);
    let store: Arc<dyn FileStore> = journal.clone();
    let summary = run_files(store, vec![spec], opts, Arc::new(Progress::default())).await?;
    // Keep the key file until the run is over.
    drop((source, target));
    let Some(m) = summary.mappings.into_iter().next() else {
        return Err(ApiError::internal(
            "the file engine returned no result for the mapping",
        ));
    };
    Ok(PassResult {
        run_id: Some(summary.run_id),
        status: m.status,
        counters: m.counters,
        error: m.error,
        server_wait: m.server_wait,
    })
}

/// `ep`, its Graph connector (OneDrive, SharePoint) failing a request whose `Retry-After` is longer than
/// `max` rather than waiting it out.
fn bounded(ep: FileEndpoint, max: std::time::Duration) -> FileEndpoint {
    match ep {
        FileEndpoint::Graph(mut cfg) => {
            cfg.max_wait = Some(max);
            FileEndpoint::Graph(cfg)
        }
        other => other,
    }
}

/// One side's endpoint with its secret (the assessment needs the source only).
async fn load_side(st: &AppState, project: &Project, side: &str) -> ApiResult<EndpointConfig> {
    let row = st.programme.endpoint(project.id, side).await?;
    let (url, username, options) =
        row.map(|e| (e.url, e.username, e.options)).ok_or_else(|| {
            ApiError::refused(format!(
                "the project has no {side} endpoint: set it with PUT …/endpoints/{side}"
            ))
        })?;
    Ok(EndpointConfig {
        url,
        username,
        options: serde_json::from_str(&options).unwrap_or_default(),
        secret: load_secret(st, project.id, &format!("endpoint:{side}")).await?,
    })
}

/// A short name for the rule behind a finding.
fn rule_of(f: &Finding) -> &'static str {
    if f.action == "rename" {
        "name_mapped"
    } else if f.detail.contains("full path is") {
        "path_too_long"
    } else if f.detail.contains("the file is") {
        "file_too_large"
    } else if f.detail.contains("empty name") {
        "empty_name"
    } else {
        "skipped"
    }
}

/// Discover the mapping's source tree and apply the target's name/path/size rules. The answer is the
/// mapping's readiness report: `ready` is false when a file would be skipped or a folder cannot be read
/// (renamed files are reported but do not block). At most [`MAX_FINDINGS`] findings are kept, the total
/// is in `findings_total`. A source that cannot be opened or listed is an `Err` with the reason.
pub async fn assess(st: &AppState, project: &Project, mapping: &MappingView) -> ApiResult<Value> {
    let source = load_side(st, project, "source").await?;
    let target = match load_side(st, project, "target").await {
        Ok(t) => Some(t),
        Err(e) if e.status.is_server_error() => return Err(e),
        Err(_) => None,
    };
    let rules = target_rules(target.as_ref(), &source).map_err(ApiError::refused)?;
    let opened = open_endpoint(st, project, "source", &source)
        .await
        .map_err(ApiError::refused)?;
    let opts = FileOptions {
        rules,
        ..FileOptions::default()
    };
    let root = TargetRoot {
        prefix: mapping.target.clone(),
        is_library_root: at_library_root(mapping),
    };
    let mut findings = Vec::new();
    let mut total = 0u64;
    let inv = assess_files(&opened.endpoint, &mapping.source, &root, &opts, |f| {
        total += 1;
        if findings.len() < MAX_FINDINGS {
            findings.push(json!({
                "rule": rule_of(f),
                "action": f.action,
                "path": f.path,
                "detail": f.detail,
            }));
        }
    })
    .await
    .map_err(|e| {
        ApiError::refused(format!(
            "cannot read the source {}: {e}",
            with_dir(&opened.endpoint.describe(), &mapping.source)
        ))
    })?;
    drop(opened);
    let ready = inv.skips == 0 && inv.unreadable.is_empty();
    let extensions: Vec<Value> = inv
        .extensions
        .iter()
        .take(MAX_EXTENSIONS)
        .map(|(e, n, b)| json!({ "extension": e, "files": n, "bytes": b }))
        .collect();
    Ok(json!({
        "mapping": mapping.id,
        "label": mapping.label,
        "ready": ready,
        "target_rules": rules.as_str(),
        "inventory": {
            "files": inv.files,
            "folders": inv.folders,
            "bytes": inv.bytes,
            "max_depth": inv.max_depth,
            "largest": inv.largest.iter().map(|(p, s)| json!({ "path": p, "bytes": s })).collect::<Vec<_>>(),
            "extensions": extensions,
            "oldest": inv.oldest.as_ref().map(|(p, t)| json!({ "path": p, "mtime": t })),
            "newest": inv.newest.as_ref().map(|(p, t)| json!({ "path": p, "mtime": t })),
            "renames": inv.renames,
            "skips": inv.skips,
            "unreadable": inv.unreadable.iter().take(MAX_FINDINGS).map(|(d, e)| json!({ "path": d, "error": e })).collect::<Vec<_>>(),
        },
        "findings": findings,
        "findings_total": total,
        "findings_truncated": total > findings.len() as u64,
    }))
}

fn with_dir(endpoint: &str, dir: &str) -> String {
    if dir.is_empty() {
        endpoint.to_owned()
    } else {
        format!("{}/{dir}", endpoint.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(options: Value) -> EndpointConfig {
        EndpointConfig {
            url: "/srv".into(),
            username: None,
            options: options.as_object().cloned().unwrap_or_default(),
            secret: None,
        }
    }

    #[test]
    fn target_rules_come_from_the_target_then_the_source_and_default_to_none() {
        let none = ep(json!({}));
        assert_eq!(target_rules(None, &none), Ok(TargetRules::None));
        let od = ep(json!({ "target_rules": "OneDrive" }));
        let sp = ep(json!({ "target_rules": "sharepoint" }));
        assert_eq!(target_rules(Some(&sp), &od), Ok(TargetRules::SharePoint));
        assert_eq!(target_rules(Some(&none), &od), Ok(TargetRules::OneDrive));
        let bad = ep(json!({ "target_rules": "dropbox" }));
        let e = target_rules(Some(&bad), &none).unwrap_err();
        assert!(e.contains("onedrive, sharepoint or none"), "{e}");
    }

    #[test]
    fn findings_are_named_after_the_rule_the_target_applies() {
        use ferry_core::rules::Verdict;
        let root = TargetRoot {
            prefix: "Documents".into(),
            is_library_root: true,
        };
        let finding =
            |path: &str, size: u64| match TargetRules::OneDrive.check(&root, path, size, false) {
                Verdict::Skip { reason } => Finding {
                    path: path.into(),
                    action: "skip".into(),
                    detail: reason,
                },
                Verdict::Ok { target_path, .. } => Finding {
                    path: path.into(),
                    action: "rename".into(),
                    detail: format!("written as {target_path:?}"),
                },
            };
        let long = format!("{}/{}", "a".repeat(200), "b".repeat(200));
        assert_eq!(rule_of(&finding(&long, 1)), "path_too_long");
        assert_eq!(rule_of(&finding("big.iso", 300 << 30)), "file_too_large");
        assert_eq!(rule_of(&finding("a//b", 1)), "empty_name");
        assert_eq!(rule_of(&finding("what?.txt", 1)), "name_mapped");
    }

    #[test]
    fn boolean_options_accept_json_and_text() {
        let o = json!({ "a": true, "b": "yes", "c": "0", "d": 3 });
        let o = o.as_object().cloned().unwrap_or_default();
        assert_eq!(option_bool(&o, "a"), Ok(true));
        assert_eq!(option_bool(&o, "b"), Ok(true));
        assert_eq!(option_bool(&o, "c"), Ok(false));
        assert_eq!(option_bool(&o, "missing"), Ok(false));
        assert!(option_bool(&o, "d").is_err());
    }
}
