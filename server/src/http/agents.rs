//! Agent names over HTTP: who is the primary and who stands by, the changes of primary
//! (`cairn agents`), pause and resume, and the preferred primary (`cairn agent
//! pause|resume|prefer`). The election itself runs in the coordinator
//! ([`crate::agents::coordinator`]); these calls change what the store says and wake it.

use super::auth::{Principal, ANY_ROLE};
use super::environments::existing;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::state::AppState;
use super::types::{AgentList, AgentProcess, AgentStatus, PreferRequest};
use crate::records::{Role, SessionRecord};
use crate::store::now_ms;
use axum::extract::State;
use axum::Json;
use std::collections::BTreeSet;

const OPERATORS: &[Role] = &[Role::Api];

/// Changes of primary listed, at most.
const CHANGES_LISTED: usize = 100;

fn process(session: &SessionRecord) -> AgentProcess {
    AgentProcess { session: session.id.clone(), host: session.host.clone(), pid: session.pid, server: session.server.clone(), last_heartbeat_ms: session.last_heartbeat_ms }
}

/// Every agent name of the environment: those the election knows and those live sessions
/// offer, by name.
pub async fn agent_statuses(state: &AppState, env: &str) -> Result<Vec<AgentStatus>, ApiError> {
    let now = now_ms();
    let live_since = now.saturating_sub(state.hub.timeout.as_millis() as u64);
    let sessions = state.store.sessions(env, Some(live_since)).await?;
    let records = state.store.agents(env).await?;
    let mut names: BTreeSet<String> = records.iter().map(|r| r.agent.clone()).collect();
    names.extend(sessions.iter().flat_map(|s| s.agents.iter().cloned()));
    Ok(names
        .into_iter()
        .map(|name| {
            let record = records.iter().find(|r| r.agent == name);
            let holder = record.and_then(|r| r.lease.as_ref()).filter(|l| l.live(now)).map(|l| l.session_id.as_str());
            let offering = sessions.iter().filter(|s| s.agents.contains(&name));
            let primary = sessions.iter().find(|s| Some(s.id.as_str()) == holder).map(process);
            let standby = offering.filter(|s| Some(s.id.as_str()) != holder).map(process).collect();
            AgentStatus {
                name,
                primary,
                standby,
                paused: record.is_some_and(|r| r.paused),
                preferred: record.and_then(|r| r.preferred.clone()),
                epoch: record.map(|r| r.epoch).unwrap_or(0),
            }
        })
        .collect())
}

async fn one(state: &AppState, env: &str, agent: &str) -> Result<AgentStatus, ApiError> {
    agent_statuses(state, env).await?.into_iter().find(|a| a.name == agent).ok_or_else(|| ApiError::NotFound(format!("no agent `{agent}` in environment `{env}`")))
}

fn check_name(agent: &str) -> Result<(), ApiError> {
    if agent.is_empty() || agent.len() > 255 || agent.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("an agent name has 1 to 255 characters, none of them control characters".into()));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/environments/{env}/agents", tag = "agents",
    params(("env" = String, Path, description = "environment name")),
    responses((status = 200, body = AgentList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>) -> Result<Json<AgentList>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    let agents = agent_statuses(&state, &env).await?;
    let changes = state.store.primary_changes(&env, None, CHANGES_LISTED).await?;
    Ok(Json(AgentList { agents, changes }))
}

async fn set_paused(state: AppState, principal: Principal, env: String, agent: String, paused: bool) -> Result<Json<AgentStatus>, ApiError> {
    principal.require(&env, OPERATORS)?;
    check_name(&agent)?;
    existing(&state, &env).await?;
    state.store.set_agent_paused(&env, &agent, paused).await?;
    tracing::info!(environment = %env, %agent, paused, "agent paused or resumed");
    state.hub.kick.notify_one();
    Ok(Json(one(&state, &env, &agent).await?))
}

#[utoipa::path(post, path = "/api/v1/environments/{env}/agents/{agent}/pause", tag = "agents",
    params(("env" = String, Path, description = "environment name"), ("agent" = String, Path, description = "agent name")),
    responses((status = 200, body = AgentStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn pause(State(state): State<AppState>, principal: Principal, ApiPath((env, agent)): ApiPath<(String, String)>) -> Result<Json<AgentStatus>, ApiError> {
    set_paused(state, principal, env, agent, true).await
}

#[utoipa::path(post, path = "/api/v1/environments/{env}/agents/{agent}/resume", tag = "agents",
    params(("env" = String, Path, description = "environment name"), ("agent" = String, Path, description = "agent name")),
    responses((status = 200, body = AgentStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn resume(State(state): State<AppState>, principal: Principal, ApiPath((env, agent)): ApiPath<(String, String)>) -> Result<Json<AgentStatus>, ApiError> {
    set_paused(state, principal, env, agent, false).await
}

#[utoipa::path(post, path = "/api/v1/environments/{env}/agents/{agent}/prefer", tag = "agents", request_body = PreferRequest,
    params(("env" = String, Path, description = "environment name"), ("agent" = String, Path, description = "agent name")),
    responses((status = 200, body = AgentStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub async fn prefer(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((env, agent)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PreferRequest>,
) -> Result<Json<AgentStatus>, ApiError> {
    principal.require(&env, OPERATORS)?;
    check_name(&agent)?;
    existing(&state, &env).await?;
    let live_since = now_ms().saturating_sub(state.hub.timeout.as_millis() as u64);
    let sessions = state.store.sessions(&env, Some(live_since)).await?;
    let offering: Vec<&SessionRecord> = sessions.iter().filter(|s| s.agents.contains(&agent)).collect();
    let chosen = match (&body.session, &body.host) {
        (Some(_), Some(_)) => return Err(ApiError::BadRequest("give a session or a host, not both".into())),
        (None, None) => None,
        (Some(session), None) => match offering.iter().find(|s| &s.id == session) {
            Some(found) => Some(found.id.clone()),
            None => return Err(ApiError::NotFound(format!("no live session `{session}` offers agent `{agent}`"))),
        },
        (None, Some(host)) => {
            let of_host: Vec<&&SessionRecord> = offering.iter().filter(|s| &s.host == host).collect();
            match of_host.as_slice() {
                [one] => Some(one.id.clone()),
                [] => return Err(ApiError::NotFound(format!("no live session on host `{host}` offers agent `{agent}`"))),
                _ => return Err(ApiError::Conflict(format!("{} live sessions on host `{host}` offer agent `{agent}`: choose one by its session id", of_host.len()))),
            }
        }
    };
    state.store.set_preferred(&env, &agent, chosen.as_deref()).await?;
    tracing::info!(environment = %env, %agent, preferred = ?chosen, "preferred primary set");
    state.hub.kick.notify_one();
    Ok(Json(one(&state, &env, &agent).await?))
}
