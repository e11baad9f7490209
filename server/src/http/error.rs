//! The one error type of the API. Every failure becomes a status and a JSON body
//! `{"error": {"status": 404, "message": "..."}}`. Bad input is a 4xx that says what is
//! wrong; a failing store is a 503 whose cause is logged, never shown (it may name hosts or
//! files); nothing a client sends can produce a 500.

use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    /// No usable token: missing, unknown, expired or malformed.
    Unauthorized(String),
    /// A valid token that may not do this (another environment, a weaker role).
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    PayloadTooLarge(String),
    UnsupportedMediaType(String),
    /// The store failed; the message is logged, not sent.
    Unavailable(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::UnsupportedMediaType(m) => m.clone(),
            ApiError::Unavailable(_) => "the store is not available; try again later".to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::NotFound(format!("not found: {what}")),
            StoreError::Invalid(message) => ApiError::BadRequest(message),
            StoreError::Conflict(what) => ApiError::Conflict(format!("already exists: {what}")),
            // An agent's results of a term that is over: its epoch is not the current one.
            StoreError::Fenced(message) => ApiError::Conflict(format!("fenced: {message}")),
            StoreError::Backend(message) | StoreError::Corrupt(message) => ApiError::Unavailable(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Unavailable(cause) = &self {
            tracing::error!(%cause, "store failure");
        }
        let body = serde_json::json!({ "error": { "status": status.as_u16(), "message": self.message() } });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The body of an error response, for the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub status: u16,
    pub message: String,
}
