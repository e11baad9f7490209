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
        // The event stream answers a valid request with a stream that never ends (each would
        // wait out the request timeout); its refusals are tested in `tests/agents/events.rs`.
        .args(["--exclude-path", "/api/v1/events"])
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

/// The commands of `docs/agents.md` run as written against a real server, as a reader with
/// several machines would run them (all of them here, from one copy of the workspace, so that
/// `examples/agents` is found and the agents' files land in it). On top of the conventions of
/// `docs_support` (```sh blocks, ```sh,skip not run, ```sh,fails must fail):
/// - a `cairn agent ...` line that runs an agent process gets the agent token that the page's
///   `cairn token create ... --role agent` printed; ending with ` &`, it runs in the
///   background until the end (or until the page stops it); otherwise it must end by itself
///   within 30 s (a refused session);
/// - a `kill -SIGNAL ...` line naming `--host H` sends SIGNAL to the agent process of host H;
/// - every other `cairn` line runs with the admin token.
///
/// Between the commands the test checks what the page says happens: each agent listed; the
/// release deployed (states and files); the standby primary within 15 s of the kill, with the
/// reason; pause, resume and preference; drift repaired by `--full` and by `repair_interval`;
/// the clean stop (exit 0, `released`); the refused session's message as the page quotes it.
#[test]
fn agents_doc_commands_work() {
    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    enum Step {
        Cairn { line: String, succeeds: bool },
        Signal { line: String, signal: String, host: String },
    }
    struct Agent {
        host: String,
        process: support::Background,
    }

    fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
        let started = Instant::now();
        loop {
            match probe() {
                Ok(value) => return value,
                Err(last) if started.elapsed() >= timeout => panic!("{what}: not within {timeout:?}; last seen: {last}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
    fn value_of<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
        words.iter().position(|w| w == flag).and_then(|i| words.get(i + 1)).map(String::as_str)
    }
    fn agent_status(list: &serde_json::Value, name: &str) -> serde_json::Value {
        list["agents"].as_array().and_then(|a| a.iter().find(|s| s["name"] == name)).cloned().unwrap_or(serde_json::Value::Null)
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let document = std::fs::read_to_string(root.join("docs/agents.md")).expect("docs/agents.md");
    // The model the page shows is the example's.
    let shown = document.split("```cf-fragment\n").nth(1).and_then(|rest| rest.split("```").next()).expect("the page shows the model");
    let model = std::fs::read_to_string(root.join("examples/agents/main.cf")).expect("examples/agents/main.cf");
    assert_eq!(shown, model, "docs/agents.md shows examples/agents/main.cf as it is");

    let mut steps = Vec::new();
    let mut block: Option<bool> = None;
    for line in document.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None if info.starts_with("sh") && !info.contains("skip") => Some(!info.contains("fails")),
                None => None,
            };
            continue;
        }
        let Some(succeeds) = block else { continue };
        if let Some(command) = trimmed.strip_prefix("cairn ") {
            steps.push(Step::Cairn { line: command.to_string(), succeeds });
        } else if let Some(rest) = trimmed.strip_prefix("kill -") {
            let signal = rest.split_whitespace().next().unwrap_or_default().to_string();
            let host = rest.split("--host ").nth(1).map(|h| h.chars().take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '.').collect::<String>());
            let host = host.unwrap_or_else(|| panic!("`{trimmed}` names no `--host` whose agent it stops"));
            steps.push(Step::Signal { line: trimmed.to_string(), signal, host });
        }
    }
    let mine: Vec<(String, bool)> = steps.iter().filter_map(|s| if let Step::Cairn { line, succeeds } = s { Some((line.clone(), *succeeds)) } else { None }).collect();
    assert_eq!(mine, docs_support::commands(&document), "the same commands as the other documentation tests see");
    assert!(mine.len() >= 15, "docs/agents.md shows {} commands", mine.len());

    let server = Server::start(Backend::Sqlite, ADMIN);
    let work = support::temp_dir("agents-doc");
    docs_support::copy_dir(&root.join("examples"), &work.join("examples"));
    let admin = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())];
    let page = work.join("data/www/index.html");
    let wanted_page = "Hello from web1\n";
    let read_page = || std::fs::read_to_string(&page).unwrap_or_else(|e| format!("({e})"));
    let agents_json = || {
        let output = cairn(&["agents", "-e", "prod", "--json"], &work, &admin);
        assert!(output.status.success(), "{}", text(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("agents json")
    };
    let started = Instant::now();
    let mut agent_token: Option<String> = None;
    let mut agents: Vec<Agent> = Vec::new();
    let mut checked: BTreeSet<&str> = BTreeSet::new();

    for step in steps {
        let (line, succeeds) = match step {
            Step::Cairn { line, succeeds } => (line, succeeds),
            Step::Signal { line, signal, host } => {
                let index = agents
                    .iter_mut()
                    .rposition(|a| a.host == host && a.process.wait(Duration::ZERO).is_none())
                    .unwrap_or_else(|| panic!("`{line}`: no agent of host {host} runs"));
                let agent = &mut agents[index];
                let pid = agent.process.pid();
                let before = agents_json();
                let held: Vec<(String, String, u64)> = before["agents"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["primary"]["pid"].as_u64() == Some(u64::from(pid)))
                    .map(|s| (s["name"].as_str().unwrap_or_default().to_string(), s["primary"]["session"].as_str().unwrap_or_default().to_string(), s["epoch"].as_u64().unwrap_or(0)))
                    .collect();
                assert!(held.iter().any(|(name, _, _)| name == "web1"), "`{line}` stops web1's primary, but it is not: {before}");
                let signalled = Instant::now();
                agent.process.signal(&signal);
                let status = agent.process.wait(Duration::from_secs(30)).unwrap_or_else(|| panic!("`{line}`: the process still runs after 30 s"));
                let clean = signal == "TERM";
                if clean {
                    assert!(status.success(), "a clean stop exits 0, not {status}:\n{}", agent.process.log_text());
                }
                for (name, session, epoch) in held {
                    let list = wait_for(&format!("after `{line}`, another process is {name}'s primary"), Duration::from_secs(15), || {
                        let list = agents_json();
                        let status = agent_status(&list, &name);
                        match status["primary"]["pid"].as_u64() {
                            Some(other) if other != u64::from(pid) => Ok(list),
                            _ => Err(status.to_string()),
                        }
                    });
                    eprintln!("{name}: a new primary {:?} after kill -{signal}", signalled.elapsed());
                    let status = agent_status(&list, &name);
                    assert!(status["epoch"].as_u64().unwrap_or(0) > epoch, "a new term has a higher epoch: {status}");
                    let expected: &[&str] = if clean { &["released"] } else { &["session_ended", "session_expired", "expired"] };
                    let reasons: Vec<&str> = list["changes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|c| c["agent"] == name.as_str() && c["from_session"] == session.as_str())
                        .filter_map(|c| c["reason"].as_str())
                        .collect();
                    assert!(reasons.iter().any(|r| expected.contains(r)), "{name} left session {session} for one of {expected:?}, not {reasons:?}: {list}");
                }
                checked.insert(if clean { "clean stop" } else { "failover" });
                continue;
            }
        };
        let background = line.ends_with(" &");
        let command = line.trim_end_matches('&').trim_end();
        let words = docs_support::split_words(command);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let context = |output: &std::process::Output| format!("`cairn {line}` in docs/agents.md:\n{}", text(output));
        if args.first() == Some(&"agent") && !matches!(args.get(1), Some(&("pause" | "resume" | "prefer"))) {
            let token = agent_token.clone().expect("the page creates the agent token before it starts an agent");
            let env = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", token)];
            let host = value_of(&words, "--host").unwrap_or("none").to_string();
            let log = work.join(format!("agent-{host}-{}.log", agents.len()));
            let mut process = support::Background::spawn(&args, &work, &env, log);
            if !background {
                // A refused session ends the process at once, with the reason the page quotes.
                let status = process.wait(Duration::from_secs(30)).unwrap_or_else(|| panic!("`cairn {line}` still runs after 30 s:\n{}", process.log_text()));
                let log = process.log_text();
                assert_eq!(status.success(), succeeds, "`cairn {line}` in docs/agents.md: {status}\n{log}");
                let error = log.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("`cairn {line}` says why it stopped:\n{log}"));
                assert!(error.contains("refused the session") && document.contains(error), "the page quotes `{error}`");
                checked.insert("refused");
                continue;
            }
            assert!(succeeds, "`cairn {line}` runs in the background: not in a ```sh,fails block");
            let pid = u64::from(process.pid());
            let names: Vec<&str> = words.iter().enumerate().filter(|(i, _)| *i > 0 && words[i - 1] == "--name").map(|(_, w)| w.as_str()).collect();
            assert!(!names.is_empty(), "`cairn {line}` hosts a name");
            wait_for(&format!("`cairn {line}` is listed for {names:?}"), Duration::from_secs(15), || {
                if let Some(status) = process.wait(Duration::ZERO) {
                    panic!("`cairn {line}` exited with {status}:\n{}", process.log_text());
                }
                let list = agents_json();
                let listed = names.iter().all(|name| {
                    let status = agent_status(&list, name);
                    status["primary"]["pid"].as_u64() == Some(pid) || status["standby"].as_array().is_some_and(|s| s.iter().any(|p| p["pid"].as_u64() == Some(pid)))
                });
                if listed { Ok(()) } else { Err(list.to_string()) }
            });
            agents.push(Agent { host, process });
            checked.insert("agent started");
            continue;
        }
        let repair = args.first() == Some(&"deploy") && args.contains(&"--full");
        if repair {
            assert_eq!(read_page(), wanted_page, "deployed before the repair");
            std::fs::write(&page, "changed by hand\n").expect("drift");
        }
        let output = cairn(&args, &work, &admin);
        assert_eq!(output.status.success(), succeeds, "{}", context(&output));
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
        match args.as_slice() {
            ["token", "create", ..] if value_of(&words, "--role") == Some("agent") => {
                assert!(stdout.starts_with("cairn_") && !stdout.contains('\n'), "only the token: {}", context(&output));
                agent_token = Some(stdout);
                checked.insert("agent token");
            }
            ["export", ..] if args.contains(&"--release") => {
                wait_for("the released version is deployed", Duration::from_secs(60), || {
                    let output = cairn(&["resources", "-e", "prod", "--json"], &work, &admin);
                    let list: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| format!("{e}: {}", text(&output)))?;
                    let states: Vec<&str> = list.as_array().into_iter().flatten().filter_map(|r| r["state"].as_str()).collect();
                    if states.len() == 4 && states.iter().all(|s| *s == "deployed") { Ok(()) } else { Err(list.to_string()) }
                });
                assert_eq!(read_page(), wanted_page, "web1's page");
                let schema = std::fs::read_to_string(work.join("data/db/schema.sql")).unwrap_or_default();
                assert!(schema.starts_with("create table"), "db1's schema: {schema:?}");
                checked.insert("deployed");
            }
            ["agent", "pause", name, ..] => {
                assert!(stdout.contains("paused"), "{}", context(&output));
                wait_for(&format!("{name} is paused, with no primary"), Duration::from_secs(15), || {
                    let status = agent_status(&agents_json(), name);
                    if status["paused"] == true && status["primary"].is_null() { Ok(()) } else { Err(status.to_string()) }
                });
                checked.insert("paused");
            }
            ["agent", "resume", name, ..] => {
                wait_for(&format!("{name} has a primary again"), Duration::from_secs(15), || {
                    let status = agent_status(&agents_json(), name);
                    let preferred_or_any = status["preferred"].is_null() || status["primary"]["session"] == status["preferred"];
                    if status["paused"] == false && !status["primary"].is_null() && preferred_or_any { Ok(()) } else { Err(status.to_string()) }
                });
                checked.insert("resumed");
            }
            ["agent", "prefer", name, ..] if args.contains(&"--clear") => {
                let status = agent_status(&agents_json(), name);
                assert!(status["preferred"].is_null() && !status["primary"].is_null(), "{status}");
                checked.insert("preference cleared");
            }
            ["agent", "prefer", name, ..] => {
                let host = value_of(&words, "--host").expect("the page prefers a host");
                let list = wait_for(&format!("{name}'s primary is on {host}"), Duration::from_secs(15), || {
                    let list = agents_json();
                    let status = agent_status(&list, name);
                    if status["primary"]["host"] == host && status["preferred"] == status["primary"]["session"] { Ok(list) } else { Err(status.to_string()) }
                });
                let newest = list["changes"].as_array().and_then(|c| c.iter().find(|c| c["agent"] == *name)).cloned().unwrap_or_default();
                assert!(newest["to_session"] == agent_status(&list, name)["primary"]["session"], "{list}");
                assert!(matches!(newest["reason"].as_str(), Some("takeover" | "free")), "{newest}");
                checked.insert("preferred");
            }
            ["deploy", ..] if repair => {
                assert_eq!(stdout, "repair requested in prod", "{}", context(&output));
                wait_for("the repair restores web1's page", Duration::from_secs(30), || if read_page() == wanted_page { Ok(()) } else { Err(read_page()) });
                checked.insert("repair");
            }
            ["deploy", ..] => {
                assert_eq!(stdout, "deploy requested in prod", "{}", context(&output));
                checked.insert("deploy");
            }
            _ => {}
        }
    }

    // The periodic repair, set through the API as the page shows (every second here).
    let set = server.request("PUT", "/api/v1/environments/prod/settings", ADMIN, Some(r#"{"settings": {"repair_interval": 1}}"#));
    assert_eq!(set.0, 200, "{}", set.1);
    std::fs::write(&page, "changed by hand\n").expect("drift");
    wait_for("the periodic repair restores web1's page", Duration::from_secs(30), || if read_page() == wanted_page { Ok(()) } else { Err(read_page()) });
    checked.insert("repair interval");

    let expected = [
        "agent token", "agent started", "deployed", "failover", "paused", "resumed", "preferred", "preference cleared", "deploy", "repair",
        "clean stop", "refused", "repair interval",
    ];
    assert_eq!(checked, expected.into_iter().collect::<BTreeSet<_>>(), "what docs/agents.md shows was checked");
    // The processes still running stop cleanly.
    for agent in &mut agents {
        if agent.process.wait(Duration::ZERO).is_some() {
            continue;
        }
        agent.process.signal("TERM");
        let status = agent.process.wait(Duration::from_secs(30));
        assert!(status.is_some_and(|s| s.success()), "{}'s agent stops with 0 on SIGTERM: {status:?}\n{}", agent.host, agent.process.log_text());
    }
    eprintln!("docs/agents.md ran in {:?}", started.elapsed());
}
