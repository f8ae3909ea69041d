//! A project's source and target endpoints and their credentials (supplied separately, encrypted at rest,
//! never returned).

use super::project_of;
use crate::auth::Caller;
use crate::db::{self, Change, changed, parse_ts, ts};
use crate::programme::{credential_meta, store_secret};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use ferry_core::programme::{ProjectState, Workload};
use ferry_engine::endpoint::options;
use ferry_store::programme::EndpointRow;
use serde::Deserialize;
use serde_json::{Value, json};

/// `source` or `target`.
fn side(raw: &str) -> ApiResult<&'static str> {
    match raw {
        "source" => Ok("source"),
        "target" => Ok("target"),
        _ => Err(ApiError::not_found(format!(
            "no endpoint side {raw:?}: use source or target"
        ))),
    }
}

pub async fn endpoints(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let mut out = Vec::new();
    for e in st.programme.endpoints(p.id).await? {
        let cred = credential_meta(&st, &format!("endpoint:{}", e.side), p.id).await?;
        out.push(json!({
            "id": e.id, "side": e.side, "url": e.url, "username": e.username,
            "options": shown_options(&e.options),
            "created_at": e.created_at,
            "credential": cred,
        }));
    }
    Ok(Json(json!({ "endpoints": out })))
}

/// An endpoint's stored options as answers show them. Options are checked when set
/// ([`options::check`]); a key that names a secret in a row stored before that check is never shown.
fn shown_options(stored: &str) -> Value {
    match serde_json::from_str::<Value>(stored) {
        Ok(Value::Object(m)) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !options::is_secret_key(k))
                .collect(),
        ),
        _ => Value::Object(serde_json::Map::new()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutEndpoint {
    /// `imap://host:port`, `imaps://…`, `maildir:PATH`, `mbox:PATH` (mail); a path, `webdav://…`,
    /// `sftp://…`, `s3://…` (files). Never a password: credentials are supplied separately.
    pub url: String,
    /// The login (mail: an admin or master user for the target; files: the SFTP/WebDAV user or S3 key id).
    pub username: Option<String>,
    /// Connector options (e.g. `{"s3_endpoint": "http://127.0.0.1:9000", "region": "us-east-1"}`): only the
    /// known keys of the workload ([`options::OPTIONS`]), never a secret.
    #[serde(default)]
    pub options: serde_json::Map<String, Value>,
}

/// Check an endpoint URL for the workload, refusing one with a password in it.
pub fn check_endpoint_url(workload: Workload, url: &str) -> ApiResult<()> {
    // Looked for in the text too: a URL that does not parse (a bad port) must not reach the connectors'
    // parsers, whose errors quote the URL.
    if has_password(url) || url::Url::parse(url).is_ok_and(|u| u.password().is_some()) {
        return Err(ApiError::bad_request(
            "the endpoint URL holds a password: remove it and supply it with PUT …/endpoints/{side}/credential (it is then encrypted)",
        ));
    }
    match workload {
        Workload::Mail => ferry_mail::config::MailEndpoint::parse(url).map(|_| ()),
        Workload::Files => ferry_files::config::FileEndpoint::parse(url).map(|_| ()),
    }
    .map_err(ApiError::from)
}

/// Whether `url` has `user:password@` in its authority.
fn has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

pub async fn put_endpoint(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, side_raw)): Path<(String, String, String)>,
    Json(b): Json<PutEndpoint>,
) -> ApiResult<Json<Value>> {
    let side = side(&side_raw)?;
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    check_endpoint_url(p.workload, b.url.trim())?;
    let options = Value::Object(options::check(p.workload, &b.options)?).to_string();
    let now = st.clock.now();
    let tx = st.programme.begin().await?;
    let before = tx.endpoint(p.id, side).await?.map(|e| (e.url, e.username));
    tx.upsert_endpoint(
        p.id,
        &EndpointRow {
            id: uuid::Uuid::now_v7().to_string(),
            side: side.to_string(),
            url: b.url.trim().to_string(),
            username: b.username.clone(),
            options,
            created_at: ts(now),
        },
    )
    .await?;
    // The secrets were supplied for the old server and login: re-pointing the endpoint (which roles that
    // may not supply secrets can do) must not send them somewhere else. The customer supplies them again.
    let moved = before
        .as_ref()
        .is_some_and(|(url, user)| url != b.url.trim() || *user != b.username);
    let mut purged = 0;
    if moved {
        purged = tx.delete_side_credentials(p.id, side).await?;
    }
    db::touch_project(&*tx, p.id, now).await?;
    let after = json!({ "side": side, "url": b.url.trim(), "username": b.username, "credentials_purged": purged });
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "endpoint.set",
            target: format!("project/{}/endpoint/{side}", p.id),
            before: before.map(|(u, n)| json!({ "url": u, "username": n })),
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

pub async fn delete_endpoint(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, side_raw)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let side = side(&side_raw)?;
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let tx = st.programme.begin().await?;
    if !tx.delete_endpoint(p.id, side).await? {
        return Err(ApiError::not_found(format!(
            "the project has no {side} endpoint"
        )));
    }
    tx.delete_credential(p.id, &format!("endpoint:{side}"))
        .await?;
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "endpoint.delete",
            target: format!("project/{}/endpoint/{side}", p.id),
            before: Some(json!({ "side": side })),
            after: None,
        },
        now,
    )
    .await?;
    Ok(changed(txn, json!({ "side": side, "deleted": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutCredential {
    pub secret: String,
    /// For OAuth endpoints (`exo://`, `?auth=xoauth2`, `onedrive://`, `sharepoint://`): `client-secret` (the
    /// app's secret Value) or `certificate` (a PEM with the private key and the certificate uploaded to the
    /// app); a OneDrive/SharePoint endpoint without a username takes `access-token` (a Graph bearer token).
    /// Other endpoints take a password and leave it out.
    #[serde(default)]
    pub kind: Option<String>,
}

impl std::fmt::Debug for PutCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PutCredential { secret: <redacted> }")
    }
}

pub async fn put_credential(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, side_raw)): Path<(String, String, String)>,
    Json(b): Json<PutCredential>,
) -> ApiResult<Json<Value>> {
    let side = side(&side_raw)?;
    if b.secret.is_empty() || b.secret.len() > 16 * 1024 {
        return Err(ApiError::bad_request("a secret needs 1 to 16,384 bytes"));
    }
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    if matches!(p.state, ProjectState::Closed | ProjectState::Offboarded) {
        return Err(ApiError::refused(format!(
            "the project is {}: it takes no credentials",
            p.state.as_str()
        )));
    }
    let now = st.clock.now();
    let Some(endpoint) = st.programme.endpoint(p.id, side).await? else {
        return Err(ApiError::not_found(format!(
            "the project has no {side} endpoint: set it first (PUT …/endpoints/{side})"
        )));
    };
    let kind = credential_kind(
        &endpoint.url,
        endpoint.username.as_deref(),
        b.kind.as_deref(),
        &b.secret,
    )?;
    let tx = st.programme.begin().await?;
    let expires = store_secret(
        &st,
        &*tx,
        p.id,
        &format!("endpoint:{side}"),
        &b.secret,
        c.user,
        now,
    )
    .await?;
    db::touch_project(&*tx, p.id, now).await?;
    let after = json!({ "side": side, "kind": kind, "stored": true, "expires_at": expires });
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "credential.supply",
            target: format!("project/{}/endpoint/{side}", p.id),
            before: None,
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

/// The credential kind for an endpoint: `password` for ordinary ones; `client-secret` or `certificate` for
/// OAuth-only ones (a certificate must hold an RSA private key and a certificate). OneDrive/SharePoint
/// endpoints (`onedrive://`, `sharepoint://`) take `client-secret` or `certificate` when their username is
/// the app's client id, and `access-token` (a Microsoft Graph bearer token, used as it is) when they have no
/// username.
fn credential_kind(
    url: &str,
    username: Option<&str>,
    kind: Option<&str>,
    secret: &str,
) -> ApiResult<&'static str> {
    let graph = matches!(
        ferry_files::config::FileEndpoint::parse(url),
        Ok(ferry_files::config::FileEndpoint::Graph(_))
    );
    let oauth = graph
        || matches!(
            ferry_mail::config::MailEndpoint::parse(url),
            Ok(ferry_mail::config::MailEndpoint::Imap(c)) if c.xoauth2_only
        );
    let app = username.is_some_and(|u| !u.trim().is_empty());
    match (oauth, kind) {
        (false, None | Some("password")) => Ok("password"),
        (false, Some(k)) => Err(ApiError::bad_request(format!(
            "credential kind {k:?}: this endpoint takes a password; client-secret and certificate are for \
             OAuth endpoints (exo://, ?auth=xoauth2, onedrive://, sharepoint://)"
        ))),
        (true, None) if graph => Err(ApiError::bad_request(
            "a OneDrive/SharePoint endpoint signs in with OAuth: give kind client-secret (the app's secret Value) \
             or certificate (a PEM with the private key and the certificate), with the endpoint's username set to \
             the app's Application (client) ID; or kind access-token for a Graph token used as it is",
        )),
        (true, None) => Err(ApiError::bad_request(
            "this endpoint signs in with OAuth: give kind client-secret (the app's secret Value) or certificate \
             (a PEM with the private key and the certificate)",
        )),
        (true, Some("access-token")) if graph => {
            if app {
                return Err(ApiError::bad_request(
                    "kind access-token: this endpoint's username is an app's client id, so it signs in with the \
                     app's client-secret or certificate; clear the username to use an access token",
                ));
            }
            Ok("access-token")
        }
        (true, Some(k @ ("client-secret" | "certificate"))) if graph && !app => {
            Err(ApiError::bad_request(format!(
                "kind {k}: set the endpoint's username to the app's Application (client) ID first (PUT \
                 …/endpoints/{{side}} with username), and its `tenant` option to the Entra tenant"
            )))
        }
        (true, Some("client-secret")) => {
            if secret.contains("-----BEGIN") {
                return Err(ApiError::bad_request(
                    "kind client-secret: this looks like a PEM; use kind certificate for a certificate credential",
                ));
            }
            Ok("client-secret")
        }
        (true, Some("certificate")) => {
            ferry_oauth::assertion::Signer::new(&ferry_core::mail::Secret::new(secret), secret)
                .map_err(|e| ApiError::bad_request(format!("kind certificate: {}", e.message())))?;
            Ok("certificate")
        }
        (true, Some(k)) if graph => Err(ApiError::bad_request(format!(
            "credential kind {k:?}: write client-secret, certificate or access-token"
        ))),
        (true, Some(k)) => Err(ApiError::bad_request(format!(
            "credential kind {k:?}: write client-secret or certificate"
        ))),
    }
}

pub async fn credentials(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let mut out = Vec::new();
    for m in st.programme.credentials(p.id).await? {
        let expired = parse_ts(&m.expires_at)? <= now;
        out.push(json!({ "owner": m.owner, "supplied_by": m.supplied_by, "supplied_at": m.supplied_at, "expires_at": m.expires_at, "expired": expired }));
    }
    Ok(Json(json!({ "credentials": out })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_an_endpoint_url_is_refused() {
        let e = check_endpoint_url(Workload::Mail, "imap://u:secret@127.0.0.1:143").unwrap_err();
        assert!(e.message.contains("credential"), "{}", e.message);
        assert!(!e.message.contains("secret@"));
        check_endpoint_url(Workload::Mail, "imap://127.0.0.1:143").unwrap();
        // Not a valid URL (bad port): still refused without quoting it.
        for (w, url) in [
            (Workload::Mail, "imaps://u:hunter2@host:99999"),
            (Workload::Files, "webdav://u:hunter2@host:99999/share"),
        ] {
            let e = check_endpoint_url(w, url).unwrap_err();
            assert!(!e.message.contains("hunter2"), "{}", e.message);
        }
        check_endpoint_url(Workload::Files, "sftp://u@host/share").unwrap();
    }
}
