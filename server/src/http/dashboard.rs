//! The dashboard: one page, its scripts (`app.js`, and `graph.js` for the dependency graph)
//! and its style, embedded in the binary at build time
//! (`server/dashboard/`, plain files: no JavaScript toolchain is needed to build Cairn).
//! The files hold no data and are served to anyone; everything the page shows it reads from
//! the API with the token the user logs in with. The headers keep the page from running
//! anything but its own script and from being framed.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../../dashboard/index.html");
const SCRIPT: &str = include_str!("../../dashboard/app.js");
const GRAPH: &str = include_str!("../../dashboard/graph.js");
const STYLE: &str = include_str!("../../dashboard/app.css");

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The files change with the binary: a browser asks again each time (cheap, and never stale).
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The dashboard's routes: `/` and `/dashboard/*`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { asset(INDEX, "text/html; charset=utf-8") }))
        .route("/dashboard/app.js", get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/dashboard/graph.js", get(|| async { asset(GRAPH, "text/javascript; charset=utf-8") }))
        .route("/dashboard/app.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
}
