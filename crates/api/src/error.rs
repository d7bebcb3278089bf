//! The API's error shape: `{"error": {"code", "message", "details"}}` with a fitting status.
//!
//! Errors are classified by who caused them: the client (4xx, a safe message naming what to
//! fix), a dependency (503, retryable) or stsd itself (500, a generic message; the cause goes
//! to the log only).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stsd_store::StoreError;
use utoipa::ToSchema;

use crate::policy::ReadinessCheck;

/// One problem with one field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct FieldError {
    /// The field, as a JSON pointer-like path (`mx[2]`, `name`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// One entry of an error's `details`: a bad field (422) or a failed readiness check (409).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ErrorDetail {
    /// A field of the request that is invalid.
    Field(FieldError),
    /// A readiness check that blocks `enforce`.
    Check(ReadinessCheck),
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorEnvelope {
    error: ErrorBody,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation_failed`, `not_ready`, `rate_limited`.
    code: &'static str,
    /// A human-readable explanation, safe to show.
    message: String,
    /// Machine-readable specifics; empty when there are none.
    details: Vec<ErrorDetail>,
}

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<ErrorDetail>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status, stable machine-readable code and safe message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// Attaches machine-readable details.
    pub(crate) fn with_details(mut self, details: Vec<ErrorDetail>) -> ApiError {
        self.details = details;
        self
    }

    /// The safe, human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 400: the request cannot be read.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no or invalid credentials.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing, invalid or expired credentials",
        )
    }

    /// 403: authenticated, but the role or token scope does not allow this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such resource, or one the caller may not know about.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    /// 422: the request is well-formed but some fields are invalid.
    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        let summary = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            summary,
        )
        .with_details(errors.into_iter().map(ErrorDetail::Field).collect())
    }

    /// 422 for a single field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    /// 429 saying when to try again, in the message and in `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> ApiError {
        let secs = retry_after_secs.max(1);
        let unit = if secs == 1 { "second" } else { "seconds" };
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many attempts; try again in {secs} {unit}"),
        );
        e.retry_after = Some(secs);
        e
    }

    /// 500: a bug or an unexpected failure. The cause is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }

    /// 503: a dependency is unavailable; retrying later may work.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::warn!(error = %cause, "dependency unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a backing service is unavailable; retry later",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match &e {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(what) => {
                ApiError::conflict("conflict", format!("{what} already exists"))
            }
            StoreError::StateMismatch { .. } => ApiError::conflict("state_conflict", e.to_string()),
            _ if e.is_unavailable() => ApiError::unavailable(&e),
            _ => ApiError::internal(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("endpoint")
}

/// 405 for a method an endpoint does not take, in the envelope like every other error (the
/// router adds the `Allow` header).
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on this endpoint; the Allow header lists the methods that are"
        ),
    )
}
