//! End-to-end tests of the orchestrator server with real processes: `cairn server` on a real
//! store (SQLite, and MongoDB-wire through SecantusDB), the `cairn` commands that push to it
//! and read it, a `kill -9` right after an acknowledged upload, bad input of every kind (a
//! 4xx with a message, never a 5xx), and the commands of `docs/server.md`.

mod support;

use support::{cairn, text, Backend, Server};
use std::path::Path;

const ADMIN: &str = "test-admin-token-0123456789";

fn model(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir).expect("project");
    std::fs::write(dir.join("project.yml"), "name: pushed\n").expect("project.yml");
    let mut main = String::from("import std::testing\n");
    for i in 0..count {
        main.push_str(&format!("std::testing::NullResource(name=\"r{i}\", agentname=\"a{}\", value=\"v{i}\")\n", i % 3));
    }
    std::fs::write(dir.join("main.cf"), main).expect("main.cf");
}

fn push_survives_a_kill(backend: Backend) {
    let mut server = Server::start(backend, ADMIN);
    let work = support::temp_dir(&format!("push-{}", backend.name()));
    let env = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())];
    let created = cairn(&["env", "create", "prod"], &work, &env);
    assert!(created.status.success(), "{}", text(&created));
    let token = cairn(&["token", "create", "-e", "prod", "--role", "compiler"], &work, &env);
    assert!(token.status.success(), "{}", text(&token));
    let compiler = String::from_utf8_lossy(&token.stdout).trim().to_string();
    assert!(compiler.starts_with("cairn_") && !compiler.contains('\n'), "only the token is printed: {compiler:?}");
    let project = work.join("project");
    model(&project, 300);
    let as_compiler = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", compiler.clone())];
    let pushed = cairn(&["export", project.to_str().unwrap_or_default(), "-e", "prod", "--release"], &work, &as_compiler);
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert_eq!(String::from_utf8_lossy(&pushed.stdout).trim(), "1", "the version number alone: {}", text(&pushed));
    // Killed hard right after the acknowledged upload: the version is there whole.
    server.kill_hard();
    server.restart();
    let status = cairn(&["status", "-e", "prod", "--json"], &work, &as_compiler);
    assert!(status.status.success(), "{}", text(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(status["environment"], "prod");
    assert_eq!(status["latest_version"], 1);
    assert_eq!(status["released_version"], 1);
    assert!(status["resources"].is_object() && status["agents"].is_array(), "{status}");
    let versions = cairn(&["versions", "-e", "prod", "--json"], &work, &as_compiler);
    let versions: serde_json::Value = serde_json::from_slice(&versions.stdout).expect("versions json");
    assert_eq!(versions[0]["resource_count"], 300, "{versions}");
    let page = server.get(&format!("/api/v1/environments/prod/versions/1?limit=10000"), &compiler);
    assert_eq!(page.0, 200, "{}", page.1);
    let page: serde_json::Value = serde_json::from_str(&page.1).expect("page");
    let resources = page["resources"].as_array().expect("resources");
    assert_eq!(resources.len(), 300);
    assert!(resources.iter().any(|r| r["id"] == "std::testing::NullResource[a1,name=r7]" && r["attributes"]["value"] == "v7"), "{}", resources[0]);
    // Pushing the same model again is a new version (servers keep what is pushed).
    let again = cairn(&["export", project.to_str().unwrap_or_default(), "-e", "prod"], &work, &as_compiler);
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "2", "{}", text(&again));
    server.stop();
}

#[test]
fn a_pushed_version_survives_a_kill_on_sqlite() {
    push_survives_a_kill(Backend::Sqlite);
}

#[test]
fn a_pushed_version_survives_a_kill_on_mongodb() {
    push_survives_a_kill(Backend::Mongo);
}

#[test]
fn bad_input_gets_a_4xx_with_a_message() {
    let server = Server::start(Backend::Sqlite, ADMIN);
    let admin = ADMIN;
    let created = server.post("/api/v1/environments", admin, r#"{"name": "prod"}"#);
    assert_eq!(created.0, 201, "{}", created.1);
    assert_eq!(server.post("/api/v1/environments", admin, r#"{"name": "other"}"#).0, 201);
    let error = |response: &(u16, String), status: u16, fragment: &str| {
        assert_eq!(response.0, status, "{}", response.1);
        let body: serde_json::Value = serde_json::from_str(&response.1).unwrap_or_else(|_| panic!("a JSON error body: {}", response.1));
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(fragment), "`{fragment}` not in `{message}`");
    };
    error(&server.post("/api/v1/environments", admin, r#"{"name": "#), 400, "invalid JSON");
    error(&server.post("/api/v1/environments", admin, r#"{"name": "Bad Name"}"#), 400, "invalid environment name");
    error(&server.post("/api/v1/environments", admin, r#"{"name": "prod"}"#), 409, "already exists");
    error(&server.post("/api/v1/environments", admin, &format!(r#"{{"name": "{}"}}"#, "x".repeat(2 << 20))), 413, "larger");
    error(&server.get("/api/v1/environments/nope/versions", admin), 404, "no environment `nope`");
    let doc = |id: &str, requires: &str| {
        let parts: Vec<&str> = id.trim_end_matches(']').splitn(2, '[').collect();
        let agent = parts[1].split(',').next().unwrap_or_default();
        format!(
            r#"{{"id": "{id}", "resource_type": "{}", "agent": "{agent}", "attributes": {{}}, "requires": [{requires}], "hash": "h", "undefined": false, "send_event": false, "receive_events": true}}"#,
            parts[0]
        )
    };
    let dangling = format!(r#"{{"resources": [{}]}}"#, doc("t::R[a,k=1]", r#""t::R[a,k=9]""#));
    error(&server.post("/api/v1/environments/prod/versions", admin, &dangling), 400, "not in the version");
    let twice = format!(r#"{{"resources": [{}, {}]}}"#, doc("t::R[a,k=1]", ""), doc("t::R[a,k=1]", ""));
    error(&server.post("/api/v1/environments/prod/versions", admin, &twice), 400, "same id twice");
    error(&server.post("/api/v1/environments/prod/versions", admin, r#"{"resources": "no"}"#), 400, "invalid JSON");
    error(&server.get("/api/v1/environments/prod/versions/abc", admin), 400, "invalid path");
    error(&server.get("/api/v1/environments/prod/resources?limit=0", admin), 400, "out of range");
    error(&server.get("/api/v1/no/such/thing", admin), 404, "no such endpoint");
    // Tokens: missing, wrong, expired, of another environment, of a weaker role.
    error(&server.get("/api/v1/environments/prod", ""), 401, "no token");
    error(&server.get("/api/v1/environments/prod", "cairn_0000"), 401, "unknown token");
    let expired = server.post("/api/v1/tokens", admin, r#"{"environment": "prod", "role": "api", "expires_in_seconds": 1}"#);
    assert_eq!(expired.0, 201, "{}", expired.1);
    let expired: serde_json::Value = serde_json::from_str(&expired.1).expect("token");
    let other = server.post("/api/v1/tokens", admin, r#"{"environment": "other", "role": "api"}"#);
    let other: serde_json::Value = serde_json::from_str(&other.1).expect("token");
    let agent = server.post("/api/v1/tokens", admin, r#"{"environment": "prod", "role": "agent"}"#);
    let agent: serde_json::Value = serde_json::from_str(&agent.1).expect("token");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    error(&server.get("/api/v1/environments/prod", expired["token"].as_str().unwrap_or_default()), 401, "expired");
    error(&server.get("/api/v1/environments/prod", other["token"].as_str().unwrap_or_default()), 403, "for environment `other`");
    let good_version = format!(r#"{{"resources": [{}]}}"#, doc("t::R[a,k=1]", ""));
    error(&server.post("/api/v1/environments/prod/versions", agent["token"].as_str().unwrap_or_default(), &good_version), 403, "role `agent`");
    error(&server.post("/api/v1/environments", other["token"].as_str().unwrap_or_default(), r#"{"name": "x"}"#), 403, "admin");
    assert_eq!(server.post("/api/v1/environments/prod/versions", admin, &good_version).0, 201);
    // The CLI shows a server's error as one line with the status.
    let work = support::temp_dir("bad-cli");
    let shown = cairn(&["status", "-e", "nope"], &work, &[("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())]);
    assert_eq!(shown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("404 Not Found") && stderr.contains("no environment `nope`"), "{stderr}");
}

#[test]
fn the_server_refuses_to_start_without_auth_and_stops_cleanly_on_sigterm() {
    let work = support::temp_dir("no-auth");
    let refused = cairn(&["server", "--store", &format!("sqlite:{}", work.join("s.db").display()), "--bind", "127.0.0.1:0"], &work, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).contains("--admin-token"), "{}", text(&refused));
    let mut server = Server::start(Backend::Sqlite, ADMIN);
    let code = server.terminate();
    assert_eq!(code, Some(0), "SIGTERM ends the server with 0");
}

#[test]
fn health_metrics_and_the_openapi_document_are_served() {
    let server = Server::start(Backend::Sqlite, ADMIN);
    let health = server.get("/health", "");
    assert_eq!(health.0, 200, "{}", health.1);
    let openapi = server.get("/api/v1/openapi.json", "");
    assert_eq!(openapi.0, 200);
    let document: serde_json::Value = serde_json::from_str(&openapi.1).expect("openapi");
    assert!(document["openapi"].as_str().unwrap_or_default().starts_with("3."), "{}", &openapi.1[..200]);
    for path in ["/api/v1/environments", "/api/v1/environments/{env}/versions", "/api/v1/files/missing", "/api/v1/environments/{env}/resources"] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
    assert_eq!(server.post("/api/v1/environments", ADMIN, r#"{"name": "prod"}"#).0, 201);
    let metrics = server.get("/metrics", "");
    assert_eq!(metrics.0, 200);
    assert!(metrics.1.contains("cairn_http_responses_total{class=\"2xx\"}"), "{}", metrics.1);
    assert!(metrics.1.contains("cairn_environments 1"), "{}", metrics.1);
}

/// Schemathesis (from PyPI, in the test virtualenv) generates requests from the served
/// OpenAPI document, valid and not, against a real server: none may get a 5xx.
#[test]
fn schemathesis_finds_no_server_error() {
    let server = Server::start(Backend::Sqlite, ADMIN);
    assert_eq!(server.post("/api/v1/environments", ADMIN, r#"{"name": "prod"}"#).0, 201);
    let st = support::venv_binary("st");
    let output = std::process::Command::new(&st)
        .args(["run", &format!("{}/api/v1/openapi.json", server.url()), "--checks", "not_a_server_error", "--max-examples", "10", "--seed", "7"])
        .args(["--header", &format!("Authorization: Bearer {ADMIN}"), "--request-timeout", "20"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", st.display()));
    let shown = text(&output);
    assert!(output.status.success(), "schemathesis found failures:\n{shown}");
    assert!(shown.contains("passed"), "{shown}");
}

#[path = "../support/docs.rs"]
mod docs_support;

/// The commands of `docs/server.md` run as written against a real server, with
/// `CAIRN_SERVER` and `CAIRN_TOKEN` set as the page says, from the workspace (so
/// `examples/quickstart` is found).
#[test]
fn server_doc_commands_work() {
    let server = Server::start(Backend::Sqlite, ADMIN);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let document = std::fs::read_to_string(root.join("docs/server.md")).expect("docs/server.md");
    let work = support::temp_dir("docs");
    docs_support::copy_dir(&root.join("examples"), &work.join("examples"));
    let list = docs_support::commands(&document);
    assert!(list.len() >= 8, "docs/server.md shows {} commands", list.len());
    let env = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())];
    for (command, succeeds) in list {
        let words = docs_support::split_words(&command);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let output = cairn(&args, &work, &env);
        assert_eq!(output.status.success(), succeeds, "`cairn {command}` in docs/server.md:\n{}", text(&output));
    }
}
