//! Resources of an environment: the states listing (filtered by state, agent, type and id
//! prefix, paged by id), and one resource with its desired state, last deployed state and
//! action log.

use super::auth::{Principal, ANY_ROLE};
use super::environments::existing;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use super::state::AppState;
use super::types::{ResourceDetail, ResourceIdQuery, ResourcePage, ResourceQuery};
use super::versions::page_limit;
use crate::records::StatusFilter;
use axum::extract::State;
use axum::Json;
use cairn_wire::{ResourceId, ResourceState};

#[utoipa::path(get, path = "/api/v1/environments/{env}/resources", tag = "resources",
    params(("env" = String, Path, description = "environment name"), ResourceQuery),
    responses((status = 200, body = ResourcePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(env): ApiPath<String>,
    ApiQuery(query): ApiQuery<ResourceQuery>,
) -> Result<Json<ResourcePage>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    let state_filter = match query.state.as_deref() {
        Some(text) => Some(ResourceState::parse(text).ok_or_else(|| ApiError::BadRequest(format!("unknown state `{text}`")))?),
        None => None,
    };
    let filter = StatusFilter { state: state_filter, agent: query.agent, resource_type: query.resource_type, id_prefix: query.prefix };
    let limit = page_limit(query.limit)?;
    let after = query.after.map(ResourceId);
    let resources = state.store.resource_statuses_page(&env, &filter, after.as_ref(), limit).await?;
    let next = (resources.len() == limit).then(|| resources.last().map(|r| r.resource.0.clone())).flatten();
    Ok(Json(ResourcePage { resources, next }))
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/resource", tag = "resources",
    params(("env" = String, Path, description = "environment name"), ResourceIdQuery),
    responses((status = 200, body = ResourceDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(env): ApiPath<String>,
    ApiQuery(query): ApiQuery<ResourceIdQuery>,
) -> Result<Json<ResourceDetail>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    let id = ResourceId(match query.id.rfind("],v=") {
        Some(end) => query.id[..=end].to_string(),
        None => query.id.clone(),
    });
    let version = match state.store.released_version(&env).await? {
        Some(version) => Some(version),
        None => state.store.latest_version(&env).await?,
    };
    let desired = match version {
        Some(version) => state.store.version_resource(&env, version, &id).await?,
        None => None,
    };
    let status = state.store.resource_status(&env, &id).await?;
    let logs = state.store.action_logs(&env, &id).await?;
    if desired.is_none() && status.is_none() && logs.is_empty() {
        return Err(ApiError::NotFound(format!("environment `{env}` has no resource `{id}`")));
    }
    Ok(Json(ResourceDetail { desired_version: desired.as_ref().and(version), id, desired, status, logs }))
}
