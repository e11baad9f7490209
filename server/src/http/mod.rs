//! The orchestrator's HTTP API: JSON under `/api/v1`, its OpenAPI document (generated from
//! the handlers and their types) at `/api/v1/openapi.json`, the event stream at
//! `/api/v1/events`, `/health`, `/metrics`, and the dashboard at `/` ([`dashboard`]).
//! [`app`] builds the router from a state, so tests call it directly and `serve` binds it.
//!
//! One file per concept: environments and tokens, versions, resources, files, operations
//! (deploy, repair, dry runs, facts), agents, status and monitoring; [`auth`] says who is asking,
//! [`error`] is the one error type, [`extract`] the extractors whose rejections are API
//! errors.

pub mod agent_map;
pub mod agents;
pub mod auth;
pub mod compiles;
pub mod dashboard;
pub mod environments;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod operations;
pub mod resources;
pub mod state;
pub mod status;
pub mod types;
pub mod versions;

pub use state::{AppState, Limits};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Cairn orchestrator", description = "Environments, versions, resource states, files and operations of a Cairn server."),
    modifiers(&BearerToken),
    tags((name = "environments"), (name = "tokens"), (name = "versions"), (name = "resources"), (name = "files"), (name = "operations"), (name = "facts"), (name = "agents"), (name = "compiles"), (name = "events"), (name = "monitoring"))
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("token", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The largest webhook body accepted, in bytes.
const WEBHOOK_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The routes and their OpenAPI document.
fn routes(limits: Limits) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    // A Git host's push event names every commit pushed: GitHub's are up to 25 MB.
    let webhooks = OpenApiRouter::new().routes(routes!(compiles::notify)).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT));
    let uploads = OpenApiRouter::new()
        .routes(routes!(versions::upload, versions::list))
        .routes(routes!(files::put, files::get))
        .layer(DefaultBodyLimit::max(limits.upload));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(environments::list, environments::create))
        .routes(routes!(environments::get, environments::delete))
        .routes(routes!(environments::set_settings))
        .routes(routes!(environments::create_token))
        .routes(routes!(status::status))
        .routes(routes!(versions::get, versions::delete))
        .routes(routes!(versions::release))
        .routes(routes!(versions::diff))
        .routes(routes!(resources::list))
        .routes(routes!(resources::detail))
        .routes(routes!(files::missing))
        .routes(routes!(operations::deploy))
        .routes(routes!(operations::repair))
        .routes(routes!(operations::create_dryrun, operations::dryruns))
        .routes(routes!(operations::dryrun))
        .routes(routes!(operations::facts, operations::set_facts))
        .routes(routes!(agents::list))
        .routes(routes!(agents::pause))
        .routes(routes!(agents::resume))
        .routes(routes!(agents::prefer))
        .routes(routes!(agent_map::get))
        .routes(routes!(agent_map::set, agent_map::unset))
        .routes(routes!(compiles::create, compiles::list))
        .routes(routes!(compiles::get))
        .routes(routes!(events::stream))
        .routes(routes!(status::health))
        .routes(routes!(status::metrics))
        .layer(DefaultBodyLimit::max(limits.body))
        .merge(uploads)
        .merge(webhooks)
        .split_for_parts()
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes(Limits::default()).1
}

/// The API's router over `state`.
pub fn app(state: AppState) -> Router {
    let (router, document) = routes(state.limits);
    let document = std::sync::Arc::new(document.to_pretty_json().unwrap_or_else(|_| "{}".into()));
    router
        // The agent session websocket: not an endpoint of the OpenAPI document (its protocol
        // is `cairn_wire::session`).
        .route("/api/v1/agents/session", get(crate::agents::session::connect))
        .merge(dashboard::routes())
        .route("/api/v1/openapi.json", get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], (*document).clone()) }))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_responses))
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    error::ApiError::NotFound(format!("no such endpoint: {} {}", request.method(), request.uri().path())).into_response()
}

/// Counts every response by status class, for `/metrics`, and logs failures.
async fn count_responses(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.count_response(status);
    if status >= 400 {
        tracing::debug!(%method, %path, status, "request refused");
    }
    response
}
