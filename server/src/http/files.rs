//! The file store over HTTP: which of a list of hashes the server lacks, upload of a body
//! (checked against its hash), and fetch by hash. A body is stored once however many
//! versions use it.

use super::auth::{Principal, ANY_ROLE};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::state::AppState;
use super::types::{FileHashes, MissingFiles};
use crate::records::Role;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

fn check_hash(hash: &str) -> Result<(), ApiError> {
    if hash.len() == 40 && hash.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!("`{}` is not a file hash (40 lower-case hex digits, the SHA-1 of the body)", hash.chars().take(80).collect::<String>())))
    }
}

/// Whoever may upload versions may upload files; any role of any environment may ask.
fn require_any(principal: &Principal) -> Result<(), ApiError> {
    match &principal.environment {
        Some(env) => principal.require(env, ANY_ROLE),
        None => Ok(()),
    }
}

#[utoipa::path(post, path = "/api/v1/files/missing", tag = "files", request_body = FileHashes,
    responses((status = 200, body = MissingFiles), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub async fn missing(State(state): State<AppState>, principal: Principal, ApiJson(body): ApiJson<FileHashes>) -> Result<Json<MissingFiles>, ApiError> {
    require_any(&principal)?;
    if body.hashes.len() > 1_000_000 {
        return Err(ApiError::BadRequest("ask for at most 1,000,000 hashes at once".into()));
    }
    for hash in &body.hashes {
        check_hash(hash)?;
    }
    Ok(Json(MissingFiles { missing: state.store.missing_files(&body.hashes).await? }))
}

#[utoipa::path(put, path = "/api/v1/files/{hash}", tag = "files", request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    params(("hash" = String, Path, description = "hex SHA-1 of the body")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("token" = [])))]
pub async fn put(State(state): State<AppState>, principal: Principal, ApiPath(hash): ApiPath<String>, body: Bytes) -> Result<StatusCode, ApiError> {
    match &principal.environment {
        Some(env) => principal.require(env, &[Role::Compiler, Role::Api])?,
        None if principal.role == Role::Admin => {}
        None => principal.require("", &[Role::Compiler, Role::Api])?,
    }
    check_hash(&hash)?;
    state.store.put_files(&[(hash, body.to_vec())]).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/files/{hash}", tag = "files",
    params(("hash" = String, Path, description = "hex SHA-1 of the body")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(State(state): State<AppState>, principal: Principal, ApiPath(hash): ApiPath<String>) -> Result<Response, ApiError> {
    require_any(&principal)?;
    check_hash(&hash)?;
    match state.store.file(&hash).await? {
        Some(body) => Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()),
        None => Err(ApiError::NotFound(format!("no file with hash {hash}"))),
    }
}
