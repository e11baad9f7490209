//! What monitoring reads: an environment's status summary, `/health` (is the store
//! reachable) and `/metrics` (Prometheus text format).

use super::auth::{Principal, ANY_ROLE};
use super::environments::existing;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;
use super::state::AppState;
use super::types::{EnvironmentStatus, Health};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::fmt::Write;
use std::sync::atomic::Ordering;

#[utoipa::path(get, path = "/api/v1/environments/{env}/status", tag = "environments",
    params(("env" = String, Path, description = "environment name")),
    responses((status = 200, body = EnvironmentStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn status(State(state): State<AppState>, principal: Principal, ApiPath(env): ApiPath<String>) -> Result<Json<EnvironmentStatus>, ApiError> {
    principal.require(&env, ANY_ROLE)?;
    existing(&state, &env).await?;
    let resources = state.store.count_by_state(&env).await?.into_iter().map(|(s, n)| (s.as_str().to_string(), n)).collect();
    let agents = super::agents::agent_statuses(&state, &env).await?;
    Ok(Json(EnvironmentStatus {
        latest_version: state.store.latest_version(&env).await?,
        released_version: state.store.released_version(&env).await?,
        environment: env,
        resources,
        agents,
    }))
}

#[utoipa::path(get, path = "/health", tag = "monitoring",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.environments().await?;
    Ok(Json(Health { status: "ok".into() }))
}

#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    responses((status = 200, content_type = "text/plain", body = String), (status = 503, body = ErrorBody)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::new();
    let m = &state.metrics;
    let _ = writeln!(out, "# HELP cairn_http_responses_total HTTP responses by status class.\n# TYPE cairn_http_responses_total counter");
    for (i, count) in m.responses.iter().enumerate() {
        let _ = writeln!(out, "cairn_http_responses_total{{class=\"{}xx\"}} {}", i + 1, count.load(Ordering::Relaxed));
    }
    let _ = writeln!(out, "# HELP cairn_versions_uploaded_total Versions stored through the API.\n# TYPE cairn_versions_uploaded_total counter");
    let _ = writeln!(out, "cairn_versions_uploaded_total {}", m.versions_uploaded.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP cairn_resources_uploaded_total Resources in the versions stored through the API.\n# TYPE cairn_resources_uploaded_total counter");
    let _ = writeln!(out, "cairn_resources_uploaded_total {}", m.resources_uploaded.load(Ordering::Relaxed));
    let environments = state.store.environments().await?;
    let _ = writeln!(out, "# HELP cairn_environments Environments.\n# TYPE cairn_environments gauge\ncairn_environments {}", environments.len());
    let _ = writeln!(out, "# HELP cairn_versions Versions stored, by environment.\n# TYPE cairn_versions gauge");
    let mut by_state = String::new();
    for environment in &environments {
        let versions = state.store.versions(&environment.name).await?.len();
        let _ = writeln!(out, "cairn_versions{{environment=\"{}\"}} {versions}", environment.name);
        for (resource_state, count) in state.store.count_by_state(&environment.name).await? {
            let _ = writeln!(by_state, "cairn_resources{{environment=\"{}\",state=\"{}\"}} {count}", environment.name, resource_state.as_str());
        }
    }
    let _ = writeln!(out, "# HELP cairn_resources Resources by environment and state.\n# TYPE cairn_resources gauge");
    out.push_str(&by_state);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
