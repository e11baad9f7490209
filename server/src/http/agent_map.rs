//! The environment's agent map over HTTP (`cairn env set-agent`, `unset-agent`,
//! `agent-map`): read by any role of the environment, changed by its admins. A change is a
//! read, modify and write of the `agent_map` setting under a lock of this server, so two
//! changes through one server never lose each other; the supervisor of server-side agents
//! ([`crate::agents::autostart`]) picks the change up within seconds.

use super::auth::{Principal, ANY_ROLE};
use super::environments::existing;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::state::AppState;
use crate::agent_map::{check_name, from_settings, AgentMapEntry, SETTING};
use crate::records::Role;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An environment's agent map.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentMapBody {
    pub agents: BTreeMap<String, AgentMapEntry>,
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/agent-map", tag = "agents",
    params(("env" = String, Path, description = "environment name")),
    responses((status = 200, body = AgentMapBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>) -> Result<Json<AgentMapBody>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    let record = existing(&state, &env).await?;
    Ok(Json(AgentMapBody { agents: from_settings(&record.settings) }))
}

async fn change(state: &AppState, env: &str, agent: &str, entry: Option<AgentMapEntry>) -> Result<AgentMapBody, ApiError> {
    let _guard = state.settings_lock.lock().await;
    let record = existing(state, env).await?;
    let mut settings = record.settings.clone();
    let mut map = from_settings(&settings);
    match entry {
        Some(entry) => {
            map.insert(agent.to_string(), entry);
        }
        None => {
            if map.remove(agent).is_none() {
                return Err(ApiError::NotFound(format!("agent `{agent}` is not in the agent map of `{env}`")));
            }
        }
    }
    if map.is_empty() {
        settings.remove(SETTING);
    } else {
        let value = serde_json::to_value(&map).map_err(|e| ApiError::Unavailable(e.to_string()))?;
        settings.insert(SETTING.to_string(), value);
    }
    crate::settings::check(&settings).map_err(ApiError::BadRequest)?;
    state.store.set_environment_settings(env, &settings).await?;
    state.hub.kick.notify_one();
    Ok(AgentMapBody { agents: map })
}

#[utoipa::path(put, path = "/api/v1/environments/{env}/agent-map/{agent}", tag = "agents", request_body = AgentMapEntry,
    params(("env" = String, Path, description = "environment name"), ("agent" = String, Path, description = "agent name")),
    responses((status = 200, body = AgentMapBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn set(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((env, agent)): ApiPath<(String, String)>,
    ApiJson(entry): ApiJson<AgentMapEntry>,
) -> Result<Json<AgentMapBody>, ApiError> {
    principal.require(&env, &[Role::Admin])?;
    check_name(&agent).map_err(ApiError::BadRequest)?;
    entry.check().map_err(ApiError::BadRequest)?;
    let body = change(&state, &env, &agent, Some(entry.clone())).await?;
    tracing::info!(environment = %env, %agent, target = %entry.target, autostart = entry.autostart, "agent map entry set");
    Ok(Json(body))
}

#[utoipa::path(delete, path = "/api/v1/environments/{env}/agent-map/{agent}", tag = "agents",
    params(("env" = String, Path, description = "environment name"), ("agent" = String, Path, description = "agent name")),
    responses((status = 200, body = AgentMapBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn unset(State(state): State<AppState>, principal: Principal, ApiPath((env, agent)): ApiPath<(String, String)>) -> Result<Json<AgentMapBody>, ApiError> {
    principal.require(&env, &[Role::Admin])?;
    check_name(&agent).map_err(ApiError::BadRequest)?;
    let body = change(&state, &env, &agent, None).await?;
    tracing::info!(environment = %env, %agent, "agent map entry removed");
    Ok(Json(body))
}
