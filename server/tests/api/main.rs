//! The API's router called directly (no socket), over an in-memory SQLite store: the
//! behaviour of each endpoint, including what the end-to-end tests cannot easily reach
//! (file checks, diffs, paging cursors, resource details).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cairn_server::http::{app, auth::Auth, AppState, Limits};
use cairn_server::SqliteStore;
use std::sync::Arc;
use tower::ServiceExt;

const ADMIN: &str = "router-test-admin-token";

fn router() -> axum::Router {
    let store = Arc::new(SqliteStore::in_memory().expect("store"));
    app(AppState::new(store, Auth::new(Some(ADMIN), false), Limits::default()))
}

async fn call(router: &axum::Router, method: &str, path: &str, body: Option<String>) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {ADMIN}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(body.map(Body::from).unwrap_or_else(Body::empty)).expect("request");
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

fn doc(name: &str, value: &str, requires: &[&str], hash: Option<&str>) -> serde_json::Value {
    let mut attributes = serde_json::json!({"name": name, "value": value});
    if let Some(hash) = hash {
        attributes["hash"] = serde_json::json!(hash);
    }
    serde_json::json!({
        "id": format!("t::R[a,name={name}]"), "resource_type": "t::R", "agent": "a", "attributes": attributes,
        "requires": requires.iter().map(|r| format!("t::R[a,name={r}]")).collect::<Vec<_>>(),
        "hash": format!("{name}-{value}"), "undefined": false, "send_event": false, "receive_events": true
    })
}

fn upload(resources: Vec<serde_json::Value>, release: bool) -> Option<String> {
    Some(serde_json::json!({"resources": resources, "release": release}).to_string())
}

#[tokio::test]
async fn versions_diff_and_page() {
    let router = router();
    assert_eq!(call(&router, "POST", "/api/v1/environments", Some(r#"{"name":"prod"}"#.into())).await.0, StatusCode::CREATED);
    let v1: Vec<_> = (0..25).map(|i| doc(&format!("r{i:02}"), "1", &[], None)).collect();
    let (status, created) = call(&router, "POST", "/api/v1/environments/prod/versions", upload(v1, true)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!((created["version"].as_u64(), created["released"].as_bool()), (Some(1), Some(true)));
    let mut v2: Vec<_> = (1..25).map(|i| doc(&format!("r{i:02}"), if i == 3 { "2" } else { "1" }, &[], None)).collect();
    v2.push(doc("new", "1", &["r01"], None));
    assert_eq!(call(&router, "POST", "/api/v1/environments/prod/versions", upload(v2, false)).await.0, StatusCode::CREATED);
    let (status, diff) = call(&router, "GET", "/api/v1/environments/prod/versions/1/diff/2", None).await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    assert_eq!(diff["added"], serde_json::json!(["t::R[a,name=new]"]));
    assert_eq!(diff["removed"], serde_json::json!(["t::R[a,name=r00]"]));
    assert_eq!(diff["changed"][0]["id"], "t::R[a,name=r03]");
    assert_eq!(diff["changed"][0]["fields"]["value"], serde_json::json!({"from": "1", "to": "2"}));
    // Pages follow their cursor and cover the version once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/environments/prod/versions/2?limit=10".to_string();
    loop {
        let (status, page) = call(&router, "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(page["resources"].as_array().expect("resources").iter().map(|r| r["id"].as_str().unwrap_or_default().to_string()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/environments/prod/versions/2?limit=10&after={}", cairn_server::client::encode(next)),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    let (status, detail) = call(&router, "GET", "/api/v1/environments/prod/resource?id=t%3A%3AR%5Ba%2Cname%3Dr03%5D", None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["desired_version"], 1, "the released version's desired state");
    assert_eq!(detail["desired"]["attributes"]["value"], "1");
    assert_eq!(call(&router, "DELETE", "/api/v1/environments/prod/versions/1", None).await.0, StatusCode::CONFLICT, "the released version stays");
    assert_eq!(call(&router, "POST", "/api/v1/environments/prod/versions/2/release", None).await.0, StatusCode::OK);
    assert_eq!(call(&router, "DELETE", "/api/v1/environments/prod/versions/1", None).await.0, StatusCode::NO_CONTENT);
    let (_, versions) = call(&router, "GET", "/api/v1/environments/prod/versions", None).await;
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn file_bodies_are_checked_and_required() {
    let router = router();
    assert_eq!(call(&router, "POST", "/api/v1/environments", Some(r#"{"name":"prod"}"#.into())).await.0, StatusCode::CREATED);
    let body = b"port=8080\n".to_vec();
    let hash = cairn_wire::digest::sha1_hex(&body);
    let version = upload(vec![doc("conf", "1", &[], Some(&hash))], false);
    let (status, error) = call(&router, "POST", "/api/v1/environments/prod/versions", version.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["error"]["message"].as_str().unwrap_or_default().contains("upload them first"), "{error}");
    let (_, missing) = call(&router, "POST", "/api/v1/files/missing", Some(serde_json::json!({"hashes": [hash]}).to_string())).await;
    assert_eq!(missing["missing"], serde_json::json!([hash]));
    let wrong = Request::builder()
        .method("PUT")
        .uri(format!("/api/v1/files/{hash}"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::from("not the body"))
        .expect("request");
    assert_eq!(router.clone().oneshot(wrong).await.expect("response").status(), StatusCode::BAD_REQUEST);
    let right = Request::builder()
        .method("PUT")
        .uri(format!("/api/v1/files/{hash}"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::from(body.clone()))
        .expect("request");
    assert_eq!(router.clone().oneshot(right).await.expect("response").status(), StatusCode::NO_CONTENT);
    assert_eq!(call(&router, "POST", "/api/v1/environments/prod/versions", version).await.0, StatusCode::CREATED);
    let fetch = Request::builder().uri(format!("/api/v1/files/{hash}")).header("authorization", format!("Bearer {ADMIN}")).body(Body::empty()).expect("request");
    let response = router.clone().oneshot(fetch).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec(), body);
    assert_eq!(call(&router, "GET", "/api/v1/files/nothex", None).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn dry_runs_facts_and_settings() {
    let router = router();
    assert_eq!(call(&router, "POST", "/api/v1/environments", Some(r#"{"name":"prod"}"#.into())).await.0, StatusCode::CREATED);
    assert_eq!(call(&router, "POST", "/api/v1/environments/prod/dryruns", Some("{}".into())).await.0, StatusCode::NOT_FOUND, "no version yet");
    assert_eq!(call(&router, "POST", "/api/v1/environments/prod/deploy", Some("{}".into())).await.0, StatusCode::CONFLICT, "nothing released");
    call(&router, "POST", "/api/v1/environments/prod/versions", upload(vec![doc("a", "1", &[], None)], true)).await;
    let (status, dryrun) = call(&router, "POST", "/api/v1/environments/prod/dryruns", Some("{}".into())).await;
    assert_eq!(status, StatusCode::CREATED, "{dryrun}");
    let id = dryrun["id"].as_str().unwrap_or_default().to_string();
    let (_, read) = call(&router, "GET", &format!("/api/v1/environments/prod/dryruns/{id}"), None).await;
    assert_eq!(read["version"], 1);
    assert_eq!(call(&router, "POST", "/api/v1/environments/prod/deploy", Some(r#"{"full": true}"#.into())).await.0, StatusCode::ACCEPTED);
    let (status, set) = call(&router, "PUT", "/api/v1/environments/prod/settings", Some(r#"{"settings": {"repair_interval": 60}}"#.into())).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["settings"]["repair_interval"], 60);
    let (status, error) = call(&router, "PUT", "/api/v1/environments/prod/settings", Some(r#"{"settings": {"repair_intervall": 60}}"#.into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]["message"].as_str().unwrap_or_default().contains("unknown setting"), "{error}");
    let (status, _) = call(&router, "PUT", "/api/v1/environments/prod/facts?id=t%3A%3AR%5Ba%2Cname%3Da%5D", Some(r#"{"facts": {"serial": 7}}"#.into())).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, facts) = call(&router, "GET", "/api/v1/environments/prod/facts", None).await;
    assert_eq!(facts["facts"]["t::R[a,name=a]"]["serial"], 7);
}

#[tokio::test]
async fn agent_names_are_listed_paused_resumed_and_preferred() {
    use cairn_server::records::{RunRequests, SessionRecord};
    use cairn_server::Store;
    let store = Arc::new(SqliteStore::in_memory().expect("store"));
    let router = app(AppState::new(store.clone(), Auth::new(Some(ADMIN), false), Limits::default()));
    assert_eq!(call(&router, "POST", "/api/v1/environments", Some(r#"{"name":"prod"}"#.into())).await.0, StatusCode::CREATED);
    let (status, list) = call(&router, "GET", "/api/v1/environments/prod/agents", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["agents"], serde_json::json!([]));
    let (status, paused) = call(&router, "POST", "/api/v1/environments/prod/agents/web/pause", None).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["paused"], true);
    let (_, list) = call(&router, "GET", "/api/v1/environments/prod/agents", None).await;
    assert_eq!(list["agents"][0]["name"], "web");
    assert_eq!(list["agents"][0]["paused"], true);
    let (_, resumed) = call(&router, "POST", "/api/v1/environments/prod/agents/web/resume", None).await;
    assert_eq!(resumed["paused"], false);
    // A preference names a live session that offers the name.
    let (status, error) = call(&router, "POST", "/api/v1/environments/prod/agents/web/prefer", Some(r#"{"host": "h1"}"#.into())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    assert!(error["error"]["message"].as_str().unwrap_or_default().contains("no live session on host `h1`"), "{error}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let session = |id: &str, host: &str| SessionRecord {
        id: id.into(),
        server: "s".into(),
        host: host.into(),
        pid: 1,
        agents: vec!["web".into()],
        connected_ms: now,
        last_heartbeat_ms: now,
    };
    store.register_session("prod", &session("s1", "h1")).await.expect("register");
    let (status, preferred) = call(&router, "POST", "/api/v1/environments/prod/agents/web/prefer", Some(r#"{"host": "h1"}"#.into())).await;
    assert_eq!(status, StatusCode::OK, "{preferred}");
    assert_eq!(preferred["preferred"], "s1");
    assert_eq!(preferred["standby"][0]["host"], "h1", "a live session without the lease stands by: {preferred}");
    store.register_session("prod", &session("s2", "h1")).await.expect("register");
    let (status, _) = call(&router, "POST", "/api/v1/environments/prod/agents/web/prefer", Some(r#"{"host": "h1"}"#.into())).await;
    assert_eq!(status, StatusCode::CONFLICT, "two sessions of the host: which one?");
    let (status, _) = call(&router, "POST", "/api/v1/environments/prod/agents/web/prefer", Some(r#"{"host": "h1", "session": "s2"}"#.into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&router, "POST", "/api/v1/environments/prod/agents/web/prefer", Some(r#"{"sesion": "s2"}"#.into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused");
    let (_, cleared) = call(&router, "POST", "/api/v1/environments/prod/agents/web/prefer", Some("{}".into())).await;
    assert_eq!(cleared["preferred"], serde_json::Value::Null);
    let (status, _) = call(&router, "POST", "/api/v1/environments/prod/agents/we%01b/pause", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&router, "POST", "/api/v1/environments/nope/agents/web/pause", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A deploy request is a counter every server's coordinator sees.
    call(&router, "POST", "/api/v1/environments/prod/versions", upload(vec![doc("a", "1", &[], None)], true)).await;
    assert_eq!(call(&router, "POST", "/api/v1/environments/prod/deploy", Some("{}".into())).await.0, StatusCode::ACCEPTED);
    assert_eq!(call(&router, "POST", "/api/v1/environments/prod/repair", None).await.0, StatusCode::ACCEPTED);
    assert_eq!(store.run_requests("prod").await.expect("requests"), RunRequests { deploys: 1, repairs: 1 });
    // The session endpoint is a websocket.
    let (status, error) = call(&router, "GET", "/api/v1/agents/session", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["error"]["message"].as_str().unwrap_or_default().contains("websocket"), "{error}");
}

#[tokio::test]
async fn a_resource_left_out_of_a_version_is_purged_when_it_asks_for_it() {
    let router = router();
    assert_eq!(call(&router, "POST", "/api/v1/environments", Some(r#"{"name":"prod"}"#.into())).await.0, StatusCode::CREATED);
    let mut purged = doc("gone", "1", &[], None);
    purged["attributes"]["purge_on_delete"] = serde_json::json!(true);
    let mut kept = doc("left", "1", &[], None);
    kept["attributes"]["purge_on_delete"] = serde_json::json!(false);
    let (status, _) = call(&router, "POST", "/api/v1/environments/prod/versions", upload(vec![purged, kept, doc("stays", "1", &["gone"], None)], false)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, created) = call(&router, "POST", "/api/v1/environments/prod/versions", upload(vec![doc("stays", "2", &[], None)], false)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["resources"], 2, "the new resource and the purge of the one left out: {created}");
    let (_, page) = call(&router, "GET", "/api/v1/environments/prod/versions/2?limit=100", None).await;
    let resources = page["resources"].as_array().cloned().unwrap_or_default();
    let gone = resources.iter().find(|r| r["id"] == "t::R[a,name=gone]").cloned().unwrap_or_default();
    assert_eq!(gone["attributes"]["purged"], true, "{page}");
    assert_eq!(gone["requires"], serde_json::json!([]));
    assert!(resources.iter().all(|r| r["id"] != "t::R[a,name=left]"), "without purge_on_delete it is left alone: {page}");
    // The next version does not purge it again.
    let (_, third) = call(&router, "POST", "/api/v1/environments/prod/versions", upload(vec![doc("stays", "3", &[], None)], false)).await;
    assert_eq!(third["resources"], 1, "{third}");
}

#[tokio::test]
async fn secret_settings_are_never_shown_and_survive_a_write_back() {
    let router = router();
    assert_eq!(call(&router, "POST", "/api/v1/environments", Some(r#"{"name":"dns"}"#.into())).await.0, StatusCode::CREATED);
    let body = r#"{"settings": {"pdns_api_key": "s3cr3t-key", "repair_interval": 30}}"#;
    let (status, set) = call(&router, "PUT", "/api/v1/environments/dns/settings", Some(body.into())).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["settings"]["pdns_api_key"], "<secret>");
    let (_, read) = call(&router, "GET", "/api/v1/environments/dns", None).await;
    assert_eq!(read["settings"]["pdns_api_key"], "<secret>");
    let (_, list) = call(&router, "GET", "/api/v1/environments", None).await;
    assert!(!list.to_string().contains("s3cr3t"), "{list}");
    // Written back as read, with another change: the secret stays.
    let back = r#"{"settings": {"pdns_api_key": "<secret>", "repair_interval": 60}}"#;
    assert_eq!(call(&router, "PUT", "/api/v1/environments/dns/settings", Some(back.into())).await.0, StatusCode::OK);
    let (status, map) = call(&router, "PUT", "/api/v1/environments/dns/agent-map/local", Some(r#"{"target": "local:"}"#.into())).await;
    assert_eq!(status, StatusCode::OK, "{map}");
    assert_eq!(map["agents"]["local"]["target"], "local:");
    let (status, bad) = call(&router, "PUT", "/api/v1/environments/dns/agent-map/x", Some(r#"{"target": "ssh://u@h:22", "key": "rel"}"#.into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (_, read) = call(&router, "GET", "/api/v1/environments/dns", None).await;
    assert_eq!(read["settings"]["repair_interval"], 60);
    assert_eq!(read["settings"]["pdns_api_key"], "<secret>", "the agent map change kept the secret too");
    assert!(read["settings"]["agent_map"]["local"].is_object(), "{read}");
}

/// A request with the headers given (and no token unless one is among them).
async fn call_with(router: &axum::Router, method: &str, path: &str, headers: &[(&str, String)], body: &str) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = router.clone().oneshot(request.body(Body::from(body.to_string())).expect("request")).await.expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn the_webhook_is_checked_and_triggers_coalesce_into_one_queued_compile() {
    let router = router();
    let secret = "a-webhook-secret-of-the-router-test";
    let created = r#"{"name":"prod","settings":{"repo_url":"file:///srv/models.git","repo_branch":"main"}}"#;
    let (status, environment) = call(&router, "POST", "/api/v1/environments", Some(created.into())).await;
    assert_eq!(status, StatusCode::CREATED, "{environment}");
    // Creating it on a repository queued its first compile.
    let (_, listed) = call(&router, "GET", "/api/v1/environments/prod/compiles", None).await;
    assert_eq!(listed["compiles"][0]["state"], "queued", "{listed}");
    assert_eq!(listed["compiles"][0]["triggers"][0]["kind"], "settings");
    let body = r#"{"ref":"refs/heads/main","after":"0123abc"}"#;
    let signature = cairn_wire::digest::hex(&cairn_wire::digest::hmac_sha256(secret.as_bytes(), body.as_bytes()));
    let github = [("x-hub-signature-256", format!("sha256={signature}"))];
    // No secret set yet: a signed call is refused, as is an unsigned one.
    assert_eq!(call_with(&router, "POST", "/api/v1/environments/prod/notify", &github, body).await.0, StatusCode::UNAUTHORIZED);
    let (status, refused) = call_with(&router, "POST", "/api/v1/environments/prod/notify", &[], body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("webhook_secret"), "{refused}");
    let settings = format!(r#"{{"settings":{{"repo_url":"file:///srv/models.git","repo_branch":"main","webhook_secret":"{secret}"}}}}"#);
    let (status, shown) = call(&router, "PUT", "/api/v1/environments/prod/settings", Some(settings)).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["settings"]["webhook_secret"], "<secret>");
    // Signed by GitHub, by Gitea, with GitLab's token, and with a compiler token: all join
    // the one queued compile.
    let (status, answer) = call_with(&router, "POST", "/api/v1/environments/prod/notify", &github, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["compile"]["trigger_count"], 2, "{answer}");
    assert_eq!(call_with(&router, "POST", "/api/v1/environments/prod/notify", &[("x-gitea-signature", signature.clone())], body).await.0, StatusCode::ACCEPTED);
    assert_eq!(call_with(&router, "POST", "/api/v1/environments/prod/notify", &[("x-gitlab-token", secret.to_string())], body).await.0, StatusCode::ACCEPTED);
    let (_, token) = call(&router, "POST", "/api/v1/tokens", Some(r#"{"environment":"prod","role":"compiler"}"#.into())).await;
    let bearer = [("authorization", format!("Bearer {}", token["token"].as_str().unwrap_or_default()))];
    assert_eq!(call_with(&router, "POST", "/api/v1/environments/prod/notify", &bearer, "").await.0, StatusCode::ACCEPTED);
    // Wrong signatures and an agent's token are refused; a push elsewhere queues nothing.
    let wrong = [("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))];
    assert_eq!(call_with(&router, "POST", "/api/v1/environments/prod/notify", &wrong, body).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call_with(&router, "POST", "/api/v1/environments/prod/notify", &[("x-gitlab-token", "nope".into())], body).await.0, StatusCode::UNAUTHORIZED);
    let (_, agent) = call(&router, "POST", "/api/v1/tokens", Some(r#"{"environment":"prod","role":"agent"}"#.into())).await;
    let agent = [("authorization", format!("Bearer {}", agent["token"].as_str().unwrap_or_default()))];
    assert_eq!(call_with(&router, "POST", "/api/v1/environments/prod/notify", &agent, body).await.0, StatusCode::FORBIDDEN);
    let elsewhere = r#"{"ref":"refs/heads/feature"}"#;
    let signed = cairn_wire::digest::hex(&cairn_wire::digest::hmac_sha256(secret.as_bytes(), elsewhere.as_bytes()));
    let (status, answer) = call_with(&router, "POST", "/api/v1/environments/prod/notify", &[("x-hub-signature-256", format!("sha256={signed}"))], elsewhere).await;
    assert_eq!((status, answer["queued"].as_bool()), (StatusCode::OK, Some(false)), "{answer}");
    let (_, listed) = call(&router, "GET", "/api/v1/environments/prod/compiles", None).await;
    let compiles = listed["compiles"].as_array().cloned().unwrap_or_default();
    assert_eq!(compiles.len(), 1, "{listed}");
    assert_eq!(compiles[0]["trigger_count"], 5, "{listed}");
    let kinds: Vec<&str> = compiles[0]["triggers"].as_array().map(|t| t.iter().filter_map(|t| t["kind"].as_str()).collect()).unwrap_or_default();
    assert_eq!(kinds, ["settings", "webhook", "webhook", "webhook", "webhook"]);
    // The API's own trigger, one compile by id, and bad requests.
    let (status, record) = call(&router, "POST", "/api/v1/environments/prod/compiles", Some(r#"{"reason":"by hand"}"#.into())).await;
    assert_eq!((status, record["trigger_count"].as_u64()), (StatusCode::ACCEPTED, Some(6)), "{record}");
    let id = record["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(call(&router, "GET", &format!("/api/v1/environments/prod/compiles/{id}"), None).await.1["id"], id.as_str());
    assert_eq!(call(&router, "GET", "/api/v1/environments/prod/compiles/nope", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&router, "GET", "/api/v1/environments/prod/compiles?limit=0", None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&router, "POST", "/api/v1/environments/prod/compiles", Some(r#"{"reason":1}"#.into())).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&router, "POST", "/api/v1/environments/nope/notify", Some(String::new())).await.0, StatusCode::NOT_FOUND);
    // An environment without a repository has nothing to compile.
    assert_eq!(call(&router, "POST", "/api/v1/environments", Some(r#"{"name":"plain"}"#.into())).await.0, StatusCode::CREATED);
    assert_eq!(call(&router, "POST", "/api/v1/environments/plain/compiles", Some("{}".into())).await.0, StatusCode::CONFLICT);
    // Settings are checked at creation.
    let bad = r#"{"name":"bad","settings":{"repo_url":"","nonsense":1}}"#;
    assert_eq!(call(&router, "POST", "/api/v1/environments", Some(bad.into())).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&router, "POST", "/api/v1/environments", Some(r#"{"name":"short","settings":{"webhook_secret":"short"}}"#.into())).await.0, StatusCode::BAD_REQUEST);
    for bad in [r#"{"repo_url":"ext::sh -c evil"}"#, r#"{"repo_url":"file:///srv/m.git","repo_branch":"-upload-pack=evil"}"#, r#"{"repo_url":"models"}"#] {
        let body = format!(r#"{{"name":"bad","settings":{bad}}}"#);
        let (status, refused) = call(&router, "POST", "/api/v1/environments", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {refused}");
    }
}

/// Reads server-sent events from a stream until `count` events (blocks with data) came,
/// or 10 s passed; each as (event kind, data).
async fn read_events(router: &axum::Router, path: &str, headers: &[(&str, &str)], count: usize) -> Vec<(String, serde_json::Value)> {
    use futures_util::StreamExt;
    let mut request = Request::builder().method("GET").uri(path).header("authorization", format!("Bearer {ADMIN}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body().into_data_stream();
    let mut text = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while events.len() < count {
        let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, body.next()).await else { break };
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let kind = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("message").to_string();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                events.push((kind, serde_json::from_str(data).expect("data is JSON")));
            }
        }
    }
    events
}

#[tokio::test]
async fn the_event_stream_replays_filters_follows_and_reports_a_gap() {
    let backend = Arc::new(SqliteStore::in_memory().expect("store"));
    let router = app(AppState::new(backend.clone(), Auth::new(Some(ADMIN), false), Limits::default()));
    let (status, _) = call(&router, "POST", "/api/v1/environments", Some(r#"{"name": "ev"}"#.into())).await;
    assert_eq!(status, StatusCode::CREATED);
    for (value, release) in [("one", false), ("two", true)] {
        let (status, body) = call(&router, "POST", "/api/v1/environments/ev/versions", upload(vec![doc("a", value, &[], None)], release)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // From the start: every event of the environment, in order.
    let all = read_events(&router, "/api/v1/events?environment=ev&after=0", &[], 3).await;
    let kinds: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["version.uploaded", "version.uploaded", "version.released"], "{all:?}");
    assert_eq!(all[2].1["data"]["version"], 2);
    assert!(all.windows(2).all(|w| w[0].1["id"].as_u64() < w[1].1["id"].as_u64()));
    // Last-Event-ID wins over `after`, and a kind filter keeps only that kind.
    let first = all[0].1["id"].as_u64().expect("id").to_string();
    let released = read_events(&router, "/api/v1/events?environment=ev&kind=version.released&after=999", &[("last-event-id", &first)], 1).await;
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].0, "version.released");
    // Without an id, a stream starts with the next event: it sees a new version, live.
    let live = {
        let router = router.clone();
        tokio::spawn(async move { read_events(&router, "/api/v1/events?environment=ev", &[], 1).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, _) = call(&router, "POST", "/api/v1/environments/ev/versions", upload(vec![doc("a", "three", &[], None)], false)).await;
    assert_eq!(status, StatusCode::CREATED);
    let live = live.await.expect("reader");
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!((live[0].0.as_str(), &live[0].1["data"]["version"]), ("version.uploaded", &serde_json::json!(3)));
    // Once the events after an id were pruned, a stream resumed from it starts with a gap.
    use cairn_server::Store;
    let pruned = backend.prune_events(u64::MAX / 2).await.expect("prune");
    assert_eq!(pruned, 4);
    let gap = read_events(&router, "/api/v1/events?environment=ev", &[("last-event-id", &first)], 1).await;
    assert_eq!(gap[0].0, "gap", "{gap:?}");
    assert!(gap[0].1["first"].as_u64().is_some_and(|f| f > 4), "{gap:?}");
}

#[tokio::test]
async fn the_dashboard_is_served_to_anyone_with_a_strict_policy() {
    let router = router();
    for (path, kind) in [("/", "text/html"), ("/dashboard/app.js", "text/javascript"), ("/dashboard/graph.js", "text/javascript"), ("/dashboard/app.css", "text/css")] {
        let response = router.clone().oneshot(Request::builder().uri(path).body(Body::empty()).expect("request")).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert!(headers["content-type"].to_str().unwrap_or_default().starts_with(kind), "{path}: {:?}", headers["content-type"]);
        let policy = headers["content-security-policy"].to_str().unwrap_or_default();
        assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe"), "{policy}");
        assert_eq!(headers["x-frame-options"], "DENY");
    }
    // The page holds no data: without a token, the API it reads says 401.
    let response = router.clone().oneshot(Request::builder().uri("/api/v1/environments").body(Body::empty()).expect("request")).await.expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
