//! Environments (create, list, get, settings, delete) and tokens.

use super::auth::{new_token, new_uuid, Principal, ANY_ROLE};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::state::AppState;
use super::types::{EnvironmentCreate, EnvironmentList, SettingsUpdate, TokenCreate, TokenCreated};
use crate::records::{EnvironmentRecord, Role};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// An environment name: what `-e NAME` and API paths use.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if valid {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid environment name `{}`: use lower-case letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most 64 characters",
            name.chars().take(80).collect::<String>()
        )))
    }
}

/// The environment, or 404.
pub async fn existing(state: &AppState, name: &str) -> Result<EnvironmentRecord, ApiError> {
    state.store.environment(name).await?.ok_or_else(|| ApiError::NotFound(format!("no environment `{name}`")))
}

#[utoipa::path(get, path = "/api/v1/environments", tag = "environments",
    responses((status = 200, body = EnvironmentList), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<EnvironmentList>, ApiError> {
    let mut environments = state.store.environments().await?;
    // A token of one environment sees that environment only.
    if let Some(own) = &principal.environment {
        environments.retain(|e| &e.name == own);
    }
    for environment in &mut environments {
        environment.settings = crate::settings::redacted(&environment.settings);
    }
    Ok(Json(EnvironmentList { environments }))
}

#[utoipa::path(post, path = "/api/v1/environments", tag = "environments", request_body = EnvironmentCreate,
    responses((status = 201, body = EnvironmentRecord), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<EnvironmentCreate>,
) -> Result<(StatusCode, Json<EnvironmentRecord>), ApiError> {
    principal.require_admin()?;
    check_name(&body.name)?;
    let id = new_uuid().map_err(|e| ApiError::Unavailable(format!("no randomness: {e}")))?;
    crate::settings::check(&body.settings).map_err(ApiError::BadRequest)?;
    let record = EnvironmentRecord { id, name: body.name, created_ms: crate::sqlite::now_ms(), settings: body.settings };
    state.store.create_environment(&record).await?;
    tracing::info!(environment = %record.name, "environment created");
    if record.settings.contains_key("repo_url") {
        super::compiles::queue(&state, &record.name, crate::records::TriggerKind::Settings, "the environment was created on a repository".into()).await?;
    }
    Ok((StatusCode::CREATED, Json(shown(record))))
}

#[utoipa::path(get, path = "/api/v1/environments/{env}", tag = "environments",
    params(("env" = String, Path, description = "environment name")),
    responses((status = 200, body = EnvironmentRecord), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>) -> Result<Json<EnvironmentRecord>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    Ok(Json(shown(existing(&state, &env).await?)))
}

/// An environment as the API shows it: its secrets redacted.
fn shown(mut record: EnvironmentRecord) -> EnvironmentRecord {
    record.settings = crate::settings::redacted(&record.settings);
    record
}

#[utoipa::path(delete, path = "/api/v1/environments/{env}", tag = "environments",
    params(("env" = String, Path, description = "environment name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn delete(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    if state.store.delete_environment(&env).await? {
        tracing::info!(environment = %env, "environment deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no environment `{env}`")))
    }
}

#[utoipa::path(put, path = "/api/v1/environments/{env}/settings", tag = "environments", request_body = SettingsUpdate,
    params(("env" = String, Path, description = "environment name")),
    responses((status = 200, body = EnvironmentRecord), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn set_settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(env): ApiPath<String>,
    ApiJson(body): ApiJson<SettingsUpdate>,
) -> Result<Json<EnvironmentRecord>, ApiError> {
    principal.require(&env, &[Role::Admin])?;
    let _guard = state.settings_lock.lock().await;
    let stored = existing(&state, &env).await?;
    let settings = crate::settings::keep_secrets(body.settings, &stored.settings);
    crate::settings::check(&settings).map_err(ApiError::BadRequest)?;
    state.store.set_environment_settings(&env, &settings).await?;
    // A new repository or branch is compiled at once (not at the next push).
    let repository = |s: &std::collections::BTreeMap<String, serde_json::Value>| (s.get("repo_url").cloned(), s.get("repo_branch").cloned());
    if settings.contains_key("repo_url") && repository(&settings) != repository(&stored.settings) {
        super::compiles::queue(&state, &env, crate::records::TriggerKind::Settings, "the repository settings changed".into()).await?;
    }
    Ok(Json(shown(existing(&state, &env).await?)))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenCreate,
    responses((status = 201, body = TokenCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<TokenCreate>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    match &body.environment {
        // An admin of an environment may hand out tokens of that environment.
        Some(env) => {
            principal.require(env, &[Role::Admin])?;
            existing(&state, env).await?;
        }
        None => principal.require_admin()?,
    }
    let expires_ms = match body.expires_in_seconds {
        Some(seconds) if seconds == 0 || seconds > 100 * 365 * 86_400 => {
            return Err(ApiError::BadRequest("expires_in_seconds must be between 1 and 100 years".into()))
        }
        Some(seconds) => Some(crate::sqlite::now_ms() + seconds * 1000),
        None => None,
    };
    let description = body.description.unwrap_or_default();
    if description.len() > 1024 {
        return Err(ApiError::BadRequest("the description is longer than 1024 bytes".into()));
    }
    let (token, record) = new_token(body.environment.clone(), body.role, expires_ms, description)
        .map_err(|e| ApiError::Unavailable(format!("no randomness: {e}")))?;
    state.store.create_token(&record).await?;
    tracing::info!(id = %record.id, role = record.role.as_str(), environment = ?record.environment, "token created");
    Ok((StatusCode::CREATED, Json(TokenCreated { id: record.id, token, environment: record.environment, role: record.role, expires_ms })))
}
