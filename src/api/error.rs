//! Every error the API returns: a status code and an [`ErrorBody`]. Never an
//! empty 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::AuthError;

/// Every error's body, as it is sent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    /// What went wrong, for people.
    pub message: String,
    /// What went wrong, for programs (`bad_request`, `not_found`,
    /// `overloaded`, ...; for a refused credential, the check that failed).
    pub code: &'static str,
    /// For a refused credential: which check refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<&'static str>,
    /// For a 500: the id its cause is logged under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<uuid::Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(AuthError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// Too much work is queued for this request to be run in time.
    #[error("{message}")]
    Overloaded { message: String, retry_after_secs: u64 },
    /// Opaque: the cause is logged under the request id, never sent.
    #[error("internal error")]
    Internal { request_id: uuid::Uuid },
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(e) => e.code(),
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::Internal { .. } => "internal",
        }
    }

    /// For unexpected failures: the cause is logged with a request id, and
    /// the client gets only that id (an opaque 500).
    pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
        let request_id = uuid::Uuid::new_v4();
        tracing::error!(%request_id, error = %e, "request failed");
        ApiError::Internal { request_id }
    }

    /// The database cannot be reached: a 503 that names no host or driver
    /// detail (those are logged).
    pub(crate) fn unavailable(e: impl std::fmt::Display) -> ApiError {
        tracing::warn!(error = %e, "database unavailable");
        ApiError::Unavailable("the database is unavailable; try again shortly".into())
    }

    /// A database error: the database is down (503), or a constraint said
    /// no (422 with its message), or something else (500).
    pub(crate) fn db(e: &tokio_postgres::Error) -> ApiError {
        match e.as_db_error() {
            Some(d) if d.code().code().starts_with("23") => ApiError::Unprocessable(d.message().to_string()),
            Some(d) if d.code().code() == "42501" => ApiError::Forbidden(d.message().to_string()),
            // The connection failed or the server (or a pooler before it)
            // has no room now: 08 connection exception (PgBouncer's
            // query_wait_timeout), 53 insufficient resources, 57P0x
            // shutting down or not accepting connections.
            Some(d) if is_unavailable(d.code().code()) => ApiError::unavailable(crate::error_chain(e)),
            Some(_) => ApiError::internal(crate::error_chain(e)),
            None => ApiError::unavailable(crate::error_chain(e)),
        }
    }
}

/// When to retry after the database or the signing keys were unavailable,
/// or no worker finished a session in time.
pub(crate) const UNAVAILABLE_RETRY_AFTER_S: u64 = 2;

/// SQLSTATEs that mean "not now" rather than "wrong".
fn is_unavailable(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || matches!(code, "57P01" | "57P02" | "57P03")
}

impl ApiError {
    /// What the client is told (also an MCP tool error's content).
    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            message: self.to_string(),
            code: self.code(),
            check: match self {
                ApiError::Unauthorized(e) => Some(e.code()),
                _ => None,
            },
            request_id: match self {
                ApiError::Internal { request_id } => Some(*request_id),
                _ => None,
            },
        }
    }

    /// When to ask again, for a refusal that passes (`Retry-After`).
    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { retry_after_secs, .. } | ApiError::Overloaded { retry_after_secs, .. } => {
                Some((*retry_after_secs).max(1))
            }
            ApiError::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_S),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body, retry_after) = (self.status(), self.body(), self.retry_after());
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// A refused credential is a 401 naming the check that failed; keys that
/// cannot be fetched are the server's trouble, a 503 naming no host or
/// client detail (those are logged).
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::JwksUnavailable(detail) => {
                tracing::warn!(error = %detail, "cannot fetch the project's signing keys");
                ApiError::Unavailable(
                    "cannot verify access tokens now: the project's signing keys are unavailable; try again shortly"
                        .into(),
                )
            }
            e => ApiError::Unauthorized(e),
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ApiError::unavailable(crate::error_chain(&e))
    }
}

impl From<crate::model::RequestError> for ApiError {
    fn from(e: crate::model::RequestError) -> Self {
        match e {
            crate::model::RequestError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            e => ApiError::BadRequest(e.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        ApiError::db(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_capacity_errors_are_unavailable() {
        for (code, unavailable) in [
            ("08P01", true),
            ("08006", true),
            ("53300", true),
            ("57P01", true),
            ("23505", false),
            ("42501", false),
            ("XX000", false),
        ] {
            assert_eq!(is_unavailable(code), unavailable, "{code}");
        }
    }

    async fn parts(e: ApiError) -> (StatusCode, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn unfetchable_signing_keys_are_a_503_that_names_no_host() {
        let detail = "error sending request for url (https://internal.example:9999/auth/v1/.well-known/jwks.json)";
        let (status, v) = parts(AuthError::JwksUnavailable(detail.into()).into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(v["code"], "unavailable");
        assert!(!v.to_string().contains("internal.example"), "{v}");
        let (status, v) = parts(AuthError::Expired.into()).await;
        assert_eq!((status, v["check"].as_str()), (StatusCode::UNAUTHORIZED, Some("expired")));
    }

    #[tokio::test]
    async fn a_500_says_nothing_but_its_request_id() {
        let e = ApiError::internal("relation \"secret_table\" does not exist at db.internal:5432");
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["message"], "internal error");
        assert_eq!(v["code"], "internal");
        assert!(uuid::Uuid::parse_str(v["requestId"].as_str().unwrap()).is_ok());
        assert!(!String::from_utf8_lossy(&body).contains("secret_table"));
    }
}
