//! Encrypted credentials: stored sealed by the vault, opened only to run a pass or an assessment.

use crate::{ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::id::{MappingId, ProjectId, UserId};
use ferry_store::programme::{CredentialWrite, Programme};
use serde_json::{Value, json};

/// What the API says about a stored credential: never the secret.
pub async fn credential_meta(st: &AppState, owner: &str, project: ProjectId) -> ApiResult<Value> {
    Ok(match st.programme.credential_meta(project, owner).await? {
        None => json!({ "stored": false }),
        Some(m) => {
            let expires = crate::db::parse_ts(&m.expires_at)?;
            json!({ "stored": true, "supplied_by": m.supplied_by, "supplied_at": m.supplied_at, "expires_at": m.expires_at, "expired": expires <= st.clock.now() })
        }
    })
}

/// Store (replace) an encrypted secret for `owner`, inside `tx`. Returns when it expires.
pub async fn store_secret(
    st: &AppState,
    tx: &dyn Programme,
    project: ProjectId,
    owner: &str,
    secret: &str,
    by: UserId,
    now: DateTime<Utc>,
) -> ApiResult<DateTime<Utc>> {
    let c = seal_secret(st, project, owner, secret, by, now)?;
    tx.store_credential(&c).await?;
    Ok(c.expires_at)
}

/// An encrypted secret for `owner`, ready to store (with others: [`Programme::store_credentials`]).
pub fn seal_secret(
    st: &AppState,
    project: ProjectId,
    owner: &str,
    secret: &str,
    by: UserId,
    now: DateTime<Utc>,
) -> ApiResult<CredentialWrite> {
    let (nonce, ciphertext) = st.vault.seal(secret)?;
    Ok(CredentialWrite {
        project,
        owner: owner.to_string(),
        nonce,
        ciphertext,
        supplied_by: by,
        supplied_at: now,
        expires_at: st.settings.credential_expires_at(now),
    })
}

/// The decrypted secret for `owner`, `None` when none is stored or it expired.
pub async fn load_secret(
    st: &AppState,
    project: ProjectId,
    owner: &str,
) -> ApiResult<Option<String>> {
    match st.programme.sealed_credential(project, owner).await? {
        None => Ok(None),
        Some(c) if c.expires_at <= st.clock.now() => Ok(None),
        Some(c) => Ok(Some(st.vault.open(&c.nonce, &c.ciphertext)?)),
    }
}

/// Make the mapping's own `slot` credential (`source` or `target`) `new`: stored when it differs from the
/// one stored (or none is stored, or it expired), deleted when `new` is `None`. Returns whether it changed —
/// a changed credential gives the mapping fresh attempts (see [`crate::programme::passes::decision_records`]).
#[allow(clippy::too_many_arguments)]
pub async fn replace_secret(
    st: &AppState,
    tx: &dyn Programme,
    project: ProjectId,
    mapping: MappingId,
    slot: &str,
    new: Option<&str>,
    by: UserId,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    let owner = format!("mapping:{mapping}:{slot}");
    let old = load_secret(st, project, &owner).await?;
    match (new, old) {
        (Some(n), Some(o)) if n == o => Ok(false),
        (Some(n), _) => {
            store_secret(st, tx, project, &owner, n, by, now).await?;
            Ok(true)
        }
        (None, _) => Ok(tx.delete_credential(project, &owner).await?),
    }
}
