//! Request handlers, one module per resource. Authorisation happened before any of them runs (see
//! [`crate::auth::authorize`]); each handler loads, calls the programme rule, and stores the result with an
//! audit entry and a transaction.

pub mod assessments;
pub mod events;
pub mod misc;
pub mod projects;
pub mod runs;
pub mod tenants;
pub mod tickets;

use crate::ApiError;
use std::str::FromStr;

/// Parse an id from the path, 404 when it is not one.
pub fn path_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    T::from_str(raw).map_err(|_| ApiError::not_found(format!("no {what} {raw:?}")))
}
