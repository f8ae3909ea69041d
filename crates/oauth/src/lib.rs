//! OAuth 2.0 for Ferry's connectors: tokens from the Microsoft identity platform (v2.0 endpoints) for IMAP
//! `XOAUTH2` (Exchange Online) and Microsoft Graph, behind [`ferry_core::token::TokenSource`].
//!
//! Flows:
//! - **client credentials** (app-only) with a client secret, or with a certificate: a signed JWT client
//!   assertion (RFC 7523) in Microsoft's format ([`assertion`]);
//! - **device code** (delegated, RFC 8628): the sign-in message (URL and code) goes to stderr, the token
//!   endpoint is polled at the server's `interval` (`authorization_pending`, `slow_down`, `expired_token`,
//!   `authorization_declined` handled), then the refresh token keeps the sign-in alive.
//!
//! Key design choice: **one cached source per (authority, tenant, client, scope) for the whole process**
//! ([`token_source`]). Every connection of a run asks it at each (re)connection; it answers from its cache,
//! fetches a fresh token a margin before expiry (so a pass of many hours crosses token lifetimes), lets only
//! one caller fetch at a time, and forgets a token a server refused ([`TokenSource::invalidate`]). The
//! requests are made with the `oauth2` crate, assertions signed with `jsonwebtoken` (ring backend).
//! Tokens and secrets never appear in `Debug`, logs or errors; errors are `Auth` errors naming the identity
//! and, for the AADSTS codes Microsoft documents, what to change.
//!
//! ```no_run
//! use ferry_core::{mail::Secret, token::TokenSource};
//! use ferry_oauth::{OAuthConfig, EXCHANGE_SCOPE};
//! # async fn f() -> ferry_core::Result<()> {
//! let cfg = OAuthConfig::client_secret("contoso.onmicrosoft.com", "1f0c…", Secret::new("…"), EXCHANGE_SCOPE)
//!     .for_side("target");
//! let tokens = ferry_oauth::token_source(&cfg)?;
//! let bearer = tokens.token().await?; // cached; refreshed ahead of expiry
//! # Ok(()) }
//! ```
//!
//! [`TokenSource::invalidate`]: ferry_core::token::TokenSource::invalidate

pub mod assertion;
pub mod config;
mod flow;
pub mod source;

pub use config::{Credential, DEFAULT_AUTHORITY, EXCHANGE_SCOPE, GRAPH_SCOPE, OAuthConfig};
pub use source::{OAuthSource, Prompt, refresh_margin, token_source};
