//! What operators ask of an environment besides versions: deploy and repair runs, dry runs
//! and their reports, and facts (values handlers report, which the next compile reads).
//! A deploy or repair request is a counter in the store that every server's coordinator
//! compares with what its primaries last ran ([`crate::agents::coordinator`]).

use super::auth::{Principal, ANY_ROLE};
use super::environments::existing;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::state::AppState;
use super::types::{Accepted, DeployRequest, DryRunCreate, DryRunList, FactsList, FactsUpdate};
use crate::records::{DryRunRecord, Role};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use cairn_wire::ResourceId;

const OPERATORS: &[Role] = &[Role::Api];

#[utoipa::path(post, path = "/api/v1/environments/{env}/deploy", tag = "operations", request_body = DeployRequest,
    params(("env" = String, Path, description = "environment name")),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub async fn deploy(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(env): ApiPath<String>,
    ApiJson(body): ApiJson<DeployRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    principal.require(&env, OPERATORS)?;
    existing(&state, &env).await?;
    if state.store.released_version(&env).await?.is_none() {
        return Err(ApiError::Conflict(format!("environment `{env}` has no released version to deploy")));
    }
    let what = if body.full { "repair" } else { "deploy" };
    state.store.request_run(&env, body.full).await?;
    state.hub.kick.notify_one();
    tracing::info!(environment = %env, what, "deploy requested");
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: what.into() })))
}

#[utoipa::path(post, path = "/api/v1/environments/{env}/repair", tag = "operations",
    params(("env" = String, Path, description = "environment name")),
    responses((status = 202, body = Accepted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub async fn repair(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    deploy(State(state), principal, ApiPath(env), ApiJson(DeployRequest { full: true })).await
}

#[utoipa::path(post, path = "/api/v1/environments/{env}/dryruns", tag = "operations", request_body = DryRunCreate,
    params(("env" = String, Path, description = "environment name")),
    responses((status = 201, body = DryRunRecord), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn create_dryrun(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(env): ApiPath<String>,
    ApiJson(body): ApiJson<DryRunCreate>,
) -> Result<(StatusCode, Json<DryRunRecord>), ApiError> {
    principal.require(&env, &[Role::Api, Role::Compiler])?;
    existing(&state, &env).await?;
    let version = match body.version {
        Some(version) => version,
        None => state.store.latest_version(&env).await?.ok_or_else(|| ApiError::NotFound(format!("environment `{env}` has no version")))?,
    };
    if !state.store.versions(&env).await?.iter().any(|v| v.version == version) {
        return Err(ApiError::NotFound(format!("environment `{env}` has no version {version}")));
    }
    let id = super::auth::new_uuid().map_err(|e| ApiError::Unavailable(format!("no randomness: {e}")))?;
    let record = DryRunRecord { id, version, created_ms: crate::sqlite::now_ms(), results: Vec::new() };
    state.store.create_dryrun(&env, &record).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/dryruns", tag = "operations",
    params(("env" = String, Path, description = "environment name")),
    responses((status = 200, body = DryRunList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn dryruns(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>) -> Result<Json<DryRunList>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    Ok(Json(DryRunList { dryruns: state.store.dryruns(&env).await? }))
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/dryruns/{id}", tag = "operations",
    params(("env" = String, Path, description = "environment name"), ("id" = String, Path, description = "dry run id")),
    responses((status = 200, body = DryRunRecord), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn dryrun(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((env, id)): ApiPath<(String, String)>,
) -> Result<Json<DryRunRecord>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    state.store.dryrun(&env, &id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("environment `{env}` has no dry run `{id}`")))
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/facts", tag = "facts",
    params(("env" = String, Path, description = "environment name")),
    responses((status = 200, body = FactsList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn facts(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>) -> Result<Json<FactsList>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    let facts = state.store.facts(&env).await?.into_iter().map(|(id, facts)| (id.0, facts)).collect();
    Ok(Json(FactsList { facts }))
}

#[utoipa::path(put, path = "/api/v1/environments/{env}/facts", tag = "facts", request_body = FactsUpdate,
    params(("env" = String, Path, description = "environment name"), super::types::ResourceIdQuery),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn set_facts(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(env): ApiPath<String>,
    super::extract::ApiQuery(query): super::extract::ApiQuery<super::types::ResourceIdQuery>,
    ApiJson(body): ApiJson<FactsUpdate>,
) -> Result<StatusCode, ApiError> {
    principal.require(&env, &[Role::Agent])?;
    existing(&state, &env).await?;
    let id = ResourceId(query.id);
    if cairn_wire::ResourceId::parse(&id.0).is_none() {
        return Err(ApiError::BadRequest(format!("`{id}` is not a resource id")));
    }
    state.store.set_facts(&env, &id, &body.facts).await?;
    Ok(StatusCode::NO_CONTENT)
}
