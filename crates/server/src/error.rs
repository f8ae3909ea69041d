//! API errors: every error response is JSON `{kind, message, request_id}` with a status that means
//! something (400 bad input, 401 no or unknown token, 403 the role may not, 404 not found, 409 a programme
//! rule refused the change, 500 a bug or the store).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_core::ErrorKind;
use serde::Serialize;

tokio::task_local! {
    /// The id of the request being served (set by the request-id middleware).
    pub static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request.
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".to_string())
}

/// An error as the API returns it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// The body of every error response.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub kind: String,
    pub message: String,
    pub request_id: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// A programme rule refused the change (the message says which and why).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "refused", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<ferry_core::Error> for ApiError {
    fn from(e: ferry_core::Error) -> Self {
        let is_rule = e.context().iter().any(|(k, _)| *k == "rule");
        let message = e.to_string();
        match e.kind() {
            ErrorKind::Config if is_rule => ApiError::refused(message),
            ErrorKind::Config | ErrorKind::TooLarge => ApiError::bad_request(message),
            // 403 means "your role may not": only the role rule's refusal (it names the permission).
            ErrorKind::Auth if e.context().iter().any(|(k, _)| *k == "permission") => {
                ApiError::forbidden(message)
            }
            // A source or target refused a login, or a stored secret cannot be decrypted: the credential
            // needs fixing, the caller's role is fine.
            ErrorKind::Auth => ApiError::new(StatusCode::CONFLICT, "credential_refused", message),
            ErrorKind::NotFound => ApiError::not_found(message),
            ErrorKind::Unsupported | ErrorKind::Rejected => ApiError::refused(message),
            ErrorKind::Store | ErrorKind::Unexpected => {
                tracing::error!(error = %message, "request failed");
                ApiError::internal(message)
            }
            _ => ApiError::new(StatusCode::BAD_GATEWAY, "upstream", message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            kind: self.kind.to_string(),
            message: self.message,
            request_id: request_id(),
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::programme::role::{Permission, Role, require};

    #[test]
    fn only_a_role_refusal_is_forbidden() {
        let role = ApiError::from(require(Role::Viewer, Permission::CreateEvent).unwrap_err());
        assert_eq!(
            (role.status, role.kind),
            (StatusCode::FORBIDDEN, "forbidden")
        );
        let login = ApiError::from(ferry_core::Error::new(
            ErrorKind::Auth,
            "the server refused the login",
        ));
        assert_eq!(
            (login.status, login.kind),
            (StatusCode::CONFLICT, "credential_refused")
        );
    }
}
