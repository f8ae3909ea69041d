//! Where OAuth access tokens come from, as connectors see it.
//!
//! A connector that logs in with a bearer token (IMAP `XOAUTH2`, Microsoft Graph) holds a
//! [`TokenSource`] instead of a token: passes last hours and tokens about one, so the connector asks the
//! source again at every (re)connection and every request, and the source answers from its cache or fetches
//! a fresh token before the cached one expires. The flows themselves (client credentials with a secret or a
//! certificate, device code) live in the `ferry-oauth` crate; a token pasted on the command line is a
//! [`StaticToken`].
//!
//! Tokens are [`Secret`]s: they never print, and no error built here or by an implementation may quote one.

use crate::Result;
use crate::mail::Secret;
use async_trait::async_trait;
use std::fmt;

/// A supplier of bearer tokens for one identity and one resource (scope).
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A token that stays valid for a while yet (implementations refresh ahead of expiry). Errors are
    /// `Auth` errors that say which identity failed and what to do, never quoting a secret.
    async fn token(&self) -> Result<Secret>;

    /// The server refused the last token (`401`, `NO AUTHENTICATE failed`): forget the cached one so the
    /// next [`TokenSource::token`] fetches anew. A source that cannot refresh does nothing.
    fn invalidate(&self) {}

    /// Who the tokens are for, for logs and errors: e.g. `app 1f0c… in tenant contoso.onmicrosoft.com`.
    /// Never a secret.
    fn describe(&self) -> String;
}

/// One fixed token, as given with `--target-oauth-token`: it cannot be refreshed.
#[derive(Clone, Debug)]
pub struct StaticToken(Secret);

impl StaticToken {
    pub fn new(token: Secret) -> Self {
        StaticToken(token)
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<Secret> {
        Ok(self.0.clone())
    }

    fn describe(&self) -> String {
        "a token given on the command line".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_static_token_is_handed_out_as_given_and_never_printed() {
        let t = StaticToken::new(Secret::new("eyJ.secret"));
        assert_eq!(
            t.token().await.ok().map(|s| s.expose().to_owned()),
            Some("eyJ.secret".to_owned())
        );
        assert!(!format!("{t:?}").contains("secret"));
        t.invalidate();
        assert!(!t.describe().contains("eyJ"));
    }
}
