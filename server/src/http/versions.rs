//! Versions: upload (checked whole before it is stored), list, one page of a version's
//! resources, release, delete, and the diff of two versions by resource.

use super::auth::{Principal, ANY_ROLE};
use super::environments::existing;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::state::AppState;
use super::types::{ChangedResource, FieldChange, PageQuery, VersionCreated, VersionDetail, VersionDiff, VersionList, VersionSummary, VersionUpload};
use crate::records::Role;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use cairn_wire::{ResourceDoc, ResourceId};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// Roles that may upload and release versions.
const PUBLISHERS: &[Role] = &[Role::Compiler, Role::Api];

/// A page's size: asked, or the default; at most the maximum.
pub fn page_limit(asked: Option<usize>) -> Result<usize, ApiError> {
    match asked {
        None => Ok(1000),
        Some(limit) if (1..=10_000).contains(&limit) => Ok(limit),
        Some(limit) => Err(ApiError::BadRequest(format!("limit {limit} is out of range: 1 to 10000"))),
    }
}

async fn summaries(state: &AppState, env: &str) -> Result<Vec<VersionSummary>, ApiError> {
    let released = state.store.released_version(env).await?;
    Ok(state
        .store
        .versions(env)
        .await?
        .into_iter()
        .map(|v| VersionSummary { released: Some(v.version) == released, version: v.version, created_ms: v.created_ms, resource_count: v.resource_count, digest: v.digest })
        .collect())
}

async fn summary(state: &AppState, env: &str, version: u64) -> Result<VersionSummary, ApiError> {
    summaries(state, env).await?.into_iter().find(|v| v.version == version).ok_or_else(|| ApiError::NotFound(format!("environment `{env}` has no version {version}")))
}

#[utoipa::path(post, path = "/api/v1/environments/{env}/versions", tag = "versions", request_body = VersionUpload,
    params(("env" = String, Path, description = "environment name")),
    responses((status = 201, body = VersionCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("token" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(env): ApiPath<String>,
    ApiJson(body): ApiJson<VersionUpload>,
) -> Result<(StatusCode, Json<VersionCreated>), ApiError> {
    principal.require(&env, PUBLISHERS)?;
    existing(&state, &env).await?;
    crate::validate::check_documents(&body.resources).map_err(ApiError::BadRequest)?;
    crate::validate::check_files(&*state.store, &body.resources).await?.map_err(ApiError::BadRequest)?;
    let mut resources = body.resources;
    resources.extend(purges(&state, &env, &resources).await?);
    let version = state.store.create_version(&env, &resources).await?;
    if body.release {
        state.store.release_version(&env, version).await?;
        state.hub.kick.notify_one();
    }
    state.metrics.versions_uploaded.fetch_add(1, Ordering::Relaxed);
    state.metrics.resources_uploaded.fetch_add(resources.len() as u64, Ordering::Relaxed);
    tracing::info!(environment = %env, version, resources = resources.len(), released = body.release, "version stored");
    Ok((StatusCode::CREATED, Json(VersionCreated { version, resources: resources.len(), released: body.release })))
}

/// The resources of the latest version that `resources` no longer has and that have
/// `purge_on_delete`, purged: the new version removes them, as Inmanta's server does.
async fn purges(state: &AppState, env: &str, resources: &[cairn_wire::ResourceDoc]) -> Result<Vec<cairn_wire::ResourceDoc>, ApiError> {
    let Some(latest) = state.store.latest_version(env).await? else { return Ok(Vec::new()) };
    let kept: std::collections::HashSet<&cairn_wire::ResourceId> = resources.iter().map(|r| &r.id).collect();
    let previous = state.store.version_resources(env, latest).await?;
    Ok(previous.iter().filter(|r| !kept.contains(&r.id)).filter_map(cairn_wire::ResourceDoc::purge_on_delete).collect())
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/versions", tag = "versions",
    params(("env" = String, Path, description = "environment name")),
    responses((status = 200, body = VersionList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>) -> Result<Json<VersionList>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    Ok(Json(VersionList { versions: summaries(&state, &env).await? }))
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/versions/{version}", tag = "versions",
    params(("env" = String, Path, description = "environment name"), ("version" = u64, Path, description = "version number"), PageQuery),
    responses((status = 200, body = VersionDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((env, version)): ApiPath<(String, u64)>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<VersionDetail>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    let info = summary(&state, &env, version).await?;
    let limit = page_limit(page.limit)?;
    let after = page.after.map(ResourceId);
    let resources = state.store.version_resources_page(&env, version, after.as_ref(), limit).await?;
    let next = (resources.len() == limit).then(|| resources.last().map(|r| r.id.0.clone())).flatten();
    Ok(Json(VersionDetail { version: info, resources, next }))
}

#[utoipa::path(post, path = "/api/v1/environments/{env}/versions/{version}/release", tag = "versions",
    params(("env" = String, Path, description = "environment name"), ("version" = u64, Path, description = "version number")),
    responses((status = 200, body = VersionSummary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn release(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((env, version)): ApiPath<(String, u64)>,
) -> Result<Json<VersionSummary>, ApiError> {
    principal.require(&env, PUBLISHERS)?;
    existing(&state, &env).await?;
    summary(&state, &env, version).await?;
    state.store.release_version(&env, version).await?;
    state.hub.kick.notify_one();
    tracing::info!(environment = %env, version, "version released");
    Ok(Json(summary(&state, &env, version).await?))
}

#[utoipa::path(delete, path = "/api/v1/environments/{env}/versions/{version}", tag = "versions",
    params(("env" = String, Path, description = "environment name"), ("version" = u64, Path, description = "version number")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((env, version)): ApiPath<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    principal.require(&env, PUBLISHERS)?;
    existing(&state, &env).await?;
    if state.store.released_version(&env).await? == Some(version) {
        return Err(ApiError::Conflict(format!("version {version} is the released version of `{env}`; release another one first")));
    }
    if state.store.delete_version(&env, version).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("environment `{env}` has no version {version}")))
    }
}

/// The fields of a document a diff compares: its attributes and its requires.
fn fields(doc: &ResourceDoc) -> BTreeMap<String, serde_json::Value> {
    let mut fields = doc.attributes.clone();
    let mut requires: Vec<&str> = doc.requires.iter().map(|r| r.0.as_str()).collect();
    requires.sort_unstable();
    fields.insert("requires".into(), serde_json::json!(requires));
    fields
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/versions/{from}/diff/{to}", tag = "versions",
    params(("env" = String, Path, description = "environment name"), ("from" = u64, Path, description = "the older version"),
        ("to" = u64, Path, description = "the newer version")),
    responses((status = 200, body = VersionDiff), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn diff(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((env, from, to)): ApiPath<(String, u64, u64)>,
) -> Result<Json<VersionDiff>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    summary(&state, &env, from).await?;
    summary(&state, &env, to).await?;
    let old: BTreeMap<ResourceId, ResourceDoc> = state.store.version_resources(&env, from).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
    let new: BTreeMap<ResourceId, ResourceDoc> = state.store.version_resources(&env, to).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
    let added = new.keys().filter(|id| !old.contains_key(*id)).cloned().collect();
    let removed = old.keys().filter(|id| !new.contains_key(*id)).cloned().collect();
    let mut changed = Vec::new();
    for (id, after) in &new {
        let Some(before) = old.get(id) else { continue };
        if before.hash == after.hash && before.requires == after.requires {
            continue;
        }
        let (a, b) = (fields(before), fields(after));
        let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let fields: BTreeMap<String, FieldChange> = names
            .into_iter()
            .filter_map(|name| {
                let (x, y) = (a.get(name).cloned().unwrap_or_default(), b.get(name).cloned().unwrap_or_default());
                (x != y).then(|| (name.clone(), FieldChange { from: x, to: y }))
            })
            .collect();
        if !fields.is_empty() {
            changed.push(ChangedResource { id: id.clone(), fields });
        }
    }
    Ok(Json(VersionDiff { from, to, added, removed, changed }))
}
