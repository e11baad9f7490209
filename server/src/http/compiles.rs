//! The autonomous server's compiles (`docs/autonomous.md`): the webhook a Git host calls
//! (`notify`, signed with the environment's `webhook_secret`, or with a bearer token of the
//! compiler or admin role), a compile asked for by a person or a script, and the compile
//! reports. Every trigger queues through the store, where it joins a compile already queued.

use super::auth::{authenticate, Principal, ANY_ROLE};
use super::environments::existing;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::state::AppState;
use super::types::{CompileCreate, CompileList, CompileQuery, NotifyAnswer};
use crate::compiles::webhook;
use crate::records::{CompileRecord, Role, Trigger, TriggerKind};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

/// Who may ask for a compile with a token.
const COMPILERS: &[Role] = &[Role::Compiler, Role::Api];

/// Queues a compile of the environment (or joins the queued one) and wakes the workers.
pub async fn queue(state: &AppState, env: &str, kind: TriggerKind, detail: String) -> Result<CompileRecord, ApiError> {
    let id = super::auth::new_uuid().map_err(|e| ApiError::Unavailable(format!("no randomness: {e}")))?;
    let detail: String = detail.chars().take(256).collect();
    let trigger = Trigger { kind, at_ms: crate::store::now_ms(), detail };
    let record = state.store.request_compile(env, &id, &trigger).await?;
    state.compile_kick.notify_one();
    tracing::info!(environment = %env, compile = %record.id, trigger = kind.as_str(), triggers = record.trigger_count, "compile queued");
    Ok(record)
}

/// The environment's repository and branch, or 409 when it has none.
fn repository(record: &crate::records::EnvironmentRecord) -> Result<(String, String), ApiError> {
    let url = record.settings.get("repo_url").and_then(serde_json::Value::as_str).ok_or_else(|| {
        ApiError::Conflict(format!("environment `{}` has no repository: set `repo_url` (cairn env set {} repo_url=URL)", record.name, record.name))
    })?;
    let branch = record.settings.get("repo_branch").and_then(serde_json::Value::as_str).unwrap_or(crate::compiles::DEFAULT_BRANCH);
    Ok((url.to_string(), branch.to_string()))
}

#[utoipa::path(post, path = "/api/v1/environments/{env}/notify", tag = "compiles",
    params(("env" = String, Path, description = "environment name")),
    request_body(content = Object, description = "the Git host's push event (its `ref` and `after` are read when present)"),
    responses((status = 202, body = NotifyAnswer), (status = 200, body = NotifyAnswer, description = "a push to another branch: nothing queued"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security((), ("token" = [])))]
pub async fn notify(State(state): State<AppState>, ApiPath(env): ApiPath<String>, headers: HeaderMap, body: Bytes) -> Result<(StatusCode, Json<NotifyAnswer>), ApiError> {
    let has_token = headers.contains_key(axum::http::header::AUTHORIZATION);
    if has_token || !webhook::is_signed(&headers) {
        let principal = authenticate(&state, &headers).await.map_err(|error| match error {
            ApiError::Unauthorized(_) if !has_token => ApiError::Unauthorized(
                "not signed and no token: a Git host signs with the environment's webhook_secret (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token); a script sends `Authorization: Bearer TOKEN`".into(),
            ),
            other => other,
        })?;
        principal.require(&env, &[Role::Compiler])?;
    }
    let record = existing(&state, &env).await?;
    if !has_token && webhook::is_signed(&headers) {
        let Some(secret) = record.settings.get("webhook_secret").and_then(serde_json::Value::as_str) else {
            return Err(ApiError::Unauthorized(format!("environment `{env}` has no webhook_secret: signed webhooks are refused")));
        };
        webhook::verify(&headers, &body, secret).map_err(ApiError::Unauthorized)?;
    }
    let (_, branch) = repository(&record)?;
    let (pushed_ref, commit) = webhook::pushed(&body);
    if let Some(pushed_ref) = &pushed_ref {
        if pushed_ref != &format!("refs/heads/{branch}") {
            let reason = format!("a push to {pushed_ref}, not to the environment's branch `{branch}`: nothing to compile");
            return Ok((StatusCode::OK, Json(NotifyAnswer { queued: false, compile: None, reason: Some(reason) })));
        }
    }
    let detail = match (pushed_ref, commit) {
        (Some(r), Some(c)) => format!("push to {r} at {c}"),
        (Some(r), None) => format!("push to {r}"),
        _ => "webhook".to_string(),
    };
    let compile = queue(&state, &env, TriggerKind::Webhook, detail).await?;
    Ok((StatusCode::ACCEPTED, Json(NotifyAnswer { queued: true, compile: Some(compile), reason: None })))
}

#[utoipa::path(post, path = "/api/v1/environments/{env}/compiles", tag = "compiles", request_body = CompileCreate,
    params(("env" = String, Path, description = "environment name")),
    responses((status = 202, body = CompileRecord), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(env): ApiPath<String>,
    ApiJson(body): ApiJson<CompileCreate>,
) -> Result<(StatusCode, Json<CompileRecord>), ApiError> {
    principal.require(&env, COMPILERS)?;
    let record = existing(&state, &env).await?;
    repository(&record)?;
    let reason = body.reason.unwrap_or_else(|| "asked for through the API".into());
    if reason.len() > 256 {
        return Err(ApiError::BadRequest("the reason is longer than 256 bytes".into()));
    }
    Ok((StatusCode::ACCEPTED, Json(queue(&state, &env, TriggerKind::Api, reason).await?)))
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/compiles", tag = "compiles",
    params(("env" = String, Path, description = "environment name"), CompileQuery),
    responses((status = 200, body = CompileList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>, ApiQuery(query): ApiQuery<CompileQuery>) -> Result<Json<CompileList>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    let limit = query.limit.unwrap_or(20);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok(Json(CompileList { compiles: state.store.compiles(&env, limit).await? }))
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/compiles/{id}", tag = "compiles",
    params(("env" = String, Path, description = "environment name"), ("id" = String, Path, description = "compile id")),
    responses((status = 200, body = CompileRecord), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(State(state): State<AppState>, principal: Principal, ApiPath((env, id)): ApiPath<(String, String)>) -> Result<Json<CompileRecord>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    state.store.compile(&env, &id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no compile `{id}` in environment `{env}`")))
}
