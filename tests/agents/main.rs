//! End-to-end tests of agents on the server with real processes: `cairn server` (on SQLite,
//! and two servers on one SecantusDB), `cairn agent` processes hosting the same agent name,
//! `kill -9`, `SIGSTOP`/`SIGCONT` and `SIGTERM` of agents and servers, repair runs, and
//! sessions refused or ended for bad input. The resources are real commands writing real
//! files; what the store says is checked against them.

mod autonomous;
mod dashboard;
mod events;
mod remote;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::*;

const ENV: &str = "prod";

/// Every resource state of `prod`, by id.
fn states(server: &Server) -> BTreeMap<String, serde_json::Value> {
    let page = server.json(&format!("/api/v1/environments/{ENV}/resources?limit=1000"));
    page["resources"].as_array().cloned().unwrap_or_default().into_iter().map(|s| (s["resource"].as_str().unwrap_or_default().to_string(), s)).collect()
}

/// How many times each resource was changed, by the action logs.
fn changes(server: &Server) -> BTreeMap<String, usize> {
    states(server).keys().map(|id| (id.clone(), server.logs(ENV, id).iter().filter(|l| l["changed"] == true).count())).collect()
}

fn all_written(files: &[std::path::PathBuf]) -> bool {
    files.iter().all(|f| f.exists())
}

fn check_files(files: &[std::path::PathBuf]) {
    for (i, file) in files.iter().enumerate() {
        assert_eq!(std::fs::read_to_string(file).unwrap_or_default(), format!("{i}\n"), "{}", file.display());
    }
}

#[test]
fn one_of_two_processes_deploys_and_the_other_takes_over_after_kill_9() {
    let work = temp_dir("kill");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10");
    let token = environment(&server, &work);
    let mut first = Agent::start(&work, "agent-a", &server, &token, &["-e", ENV, "--name", "web", "--parallelism", "1"]);
    wait_until(Duration::from_secs(30), "a primary for web", || server.primary_pid(ENV, "web") == Some(first.pid));
    let mut second = Agent::start(&work, "agent-b", &server, &token, &["-e", ENV, "--name", "web", "--parallelism", "1"]);
    wait_until(Duration::from_secs(30), "the second process standing by", || {
        server.json(&format!("/api/v1/environments/{ENV}/agents"))["agents"][0]["standby"].as_array().is_some_and(|s| s.len() == 1)
    });
    let count = 40;
    release(&server, &work, &slow_model(&work, count, 0.1));
    let files = slow_files(&work, count);
    wait_until(Duration::from_secs(60), "a few commands done", || files.iter().filter(|f| f.exists()).count() >= 5);
    assert!(second.logged("deploying").is_empty(), "the standby deployed while the primary was alive:\n{}", second.log_text());
    first.kill_hard();
    let takeover = wait_until(Duration::from_secs(12), "the standby becoming primary", || server.primary_pid(ENV, "web") == Some(second.pid));
    eprintln!("takeover after kill -9: {takeover:?}");
    wait_until(Duration::from_secs(60), "every command deployed", || server.count(ENV, "deployed") == count as u64);
    check_files(&files);
    assert!(all_written(&files));
    // The work in flight is redone, never done twice: no resource changed twice.
    let changed = changes(&server);
    assert_eq!(changed.len(), count);
    assert!(changed.values().all(|n| *n <= 1), "a resource changed twice: {changed:?}");
    assert_eq!(second.logged("deploying").len(), 1, "the standby deploys once, when it takes over:\n{}", second.log_text());
    let list = server.json(&format!("/api/v1/environments/{ENV}/agents"));
    let reasons: Vec<&str> = list["changes"].as_array().map(|c| c.iter().filter_map(|c| c["reason"].as_str()).collect()).unwrap_or_default();
    assert!(reasons.contains(&"session_ended") || reasons.contains(&"session_expired"), "the change of primary is recorded: {list}");
    assert_eq!(list["agents"][0]["epoch"], 2, "{list}");
    // SIGTERM is a clean stop.
    second.signal("TERM");
    assert_eq!(second.wait_exit(Duration::from_secs(30)), Some(0), "{}", second.log_text());
}

#[test]
fn a_stopped_primary_is_fenced_when_it_wakes() {
    let work = temp_dir("stop");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "2");
    let token = environment(&server, &work);
    let first = Agent::start(&work, "agent-a", &server, &token, &["-e", ENV, "--name", "web", "--parallelism", "1"]);
    wait_until(Duration::from_secs(30), "a primary for web", || server.primary_pid(ENV, "web") == Some(first.pid));
    let second = Agent::start(&work, "agent-b", &server, &token, &["-e", ENV, "--name", "web", "--parallelism", "1"]);
    let count = 20;
    release(&server, &work, &slow_model(&work, count, 0.4));
    let files = slow_files(&work, count);
    wait_until(Duration::from_secs(60), "a few commands done", || files.iter().filter(|f| f.exists()).count() >= 2);
    // Paused with a command in flight, its socket still open.
    first.signal("STOP");
    wait_until(Duration::from_secs(20), "the standby becoming primary", || server.primary_pid(ENV, "web") == Some(second.pid));
    wait_until(Duration::from_secs(60), "every command deployed", || server.count(ENV, "deployed") == count as u64);
    let before = changes(&server);
    let logs_before: BTreeMap<String, usize> = states(&server).keys().map(|id| (id.clone(), server.logs(ENV, id).len())).collect();
    first.signal("CONT");
    // Its late result is refused by epoch: it says so, and the store has nothing of it.
    wait_until(Duration::from_secs(30), "the woken process told that its term is over", || {
        first.log_text().contains("epoch 1 of agent `web` is over")
    });
    std::thread::sleep(Duration::from_secs(1));
    let logs_after: BTreeMap<String, usize> = states(&server).keys().map(|id| (id.clone(), server.logs(ENV, id).len())).collect();
    assert_eq!(logs_before, logs_after, "a result of the deposed primary was stored");
    assert_eq!(before, changes(&server));
    assert_eq!(server.count(ENV, "deployed"), count as u64);
    assert_eq!(server.primary_pid(ENV, "web"), Some(second.pid), "the woken process took nothing back");
    check_files(&files);
    assert!(std::fs::read_to_string(&server.log).unwrap_or_default().contains("results of a deposed primary refused"));
}

#[test]
fn two_servers_on_one_store_elect_one_primary() {
    let work = temp_dir("two-servers");
    let mongo = Secantus::start(&work);
    let one = Server::start(&work, "server-1", &mongo.uri("cairn_agents"), "10");
    let two = Server::start(&work, "server-2", &mongo.uri("cairn_agents"), "10");
    let token = environment(&one, &work);
    let mut first = Agent::start(&work, "agent-a", &one, &token, &["-e", ENV, "--name", "web", "--name", "db"]);
    let mut second = Agent::start(&work, "agent-b", &two, &token, &["-e", ENV, "--name", "web", "--name", "db"]);
    let count = 12;
    release(&two, &work, &slow_model(&work, count, 0.05));
    let files = slow_files(&work, count);
    wait_until(Duration::from_secs(90), "every command deployed", || one.count(ENV, "deployed") == count as u64);
    check_files(&files);
    for name in ["web", "db"] {
        let primary = one.primary_pid(ENV, name);
        assert!(primary == Some(first.pid) || primary == Some(second.pid), "{name}: {primary:?}");
        assert_eq!(two.primary_pid(ENV, name), primary, "both servers name one primary of {name}");
    }
    let deployers = [&first, &second].iter().filter(|a| a.logged("deploying").iter().any(|l| l["fields"]["agent"] == "web")).count();
    assert_eq!(deployers, 1, "exactly one process deployed web");
    // The primary of web dies: the process on the other server takes over.
    let primary_pid = one.primary_pid(ENV, "web");
    let standby_pid = if primary_pid == Some(first.pid) { second.pid } else { first.pid };
    if primary_pid == Some(first.pid) {
        first.kill_hard();
    } else {
        second.kill_hard();
    }
    wait_until(Duration::from_secs(12), "the standby on the other server becoming primary", || two.primary_pid(ENV, "web") == Some(standby_pid));
    assert_eq!(one.primary_pid(ENV, "web"), Some(standby_pid));
}

#[test]
fn a_server_killed_mid_deploy_loses_no_acknowledged_result() {
    let work = temp_dir("server-kill");
    let mut server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10");
    let token = environment(&server, &work);
    let agent = Agent::start(&work, "agent-a", &server, &token, &["-e", ENV, "--name", "web", "--parallelism", "1"]);
    wait_until(Duration::from_secs(30), "a primary for web", || server.primary_pid(ENV, "web") == Some(agent.pid));
    let count = 30;
    release(&server, &work, &slow_model(&work, count, 0.15));
    wait_until(Duration::from_secs(60), "some results stored", || server.count(ENV, "deployed") >= 5);
    let acknowledged: Vec<String> = states(&server).into_iter().filter(|(_, s)| s["state"] == "deployed").map(|(id, _)| id).collect();
    server.kill_hard();
    std::thread::sleep(Duration::from_secs(1));
    server.restart();
    wait_until(Duration::from_secs(90), "the deploy completing after the restart", || server.count(ENV, "deployed") == count as u64);
    let after = states(&server);
    for id in &acknowledged {
        assert_eq!(after[id]["state"], "deployed", "{id}");
        assert!(!server.logs(ENV, id).is_empty(), "{id} lost its action log");
    }
    check_files(&slow_files(&work, count));
    let changed = changes(&server);
    assert!(changed.values().all(|n| *n <= 1), "a resource changed twice: {changed:?}");
    assert!(agent.logged("session open").len() >= 2, "the agent connected again:\n{}", agent.log_text());
}

#[test]
fn drift_is_repaired_on_request_and_on_the_interval() {
    let work = temp_dir("repair");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10");
    let token = environment(&server, &work);
    let settings = |interval: u64| {
        let body = format!("{{\"settings\": {{\"repair_interval\": {interval}}}}}");
        let (status, text) = server.request("PUT", &format!("/api/v1/environments/{ENV}/settings"), Some(&body));
        assert_eq!(status, 200, "{text}");
    };
    settings(0);
    let _agent = Agent::start(&work, "agent-a", &server, &token, &["-e", ENV, "--name", "web"]);
    let file = work.join("motd");
    let main = format!(
        "import fs\nhost = std::Host(name=\"web\", os=std::linux, ip=\"127.0.0.1\")\nfs::File(host=host, path=\"{}\", content=\"desired\\n\", mode=644)\n",
        file.display()
    );
    release(&server, &work, &main);
    wait_until(Duration::from_secs(60), "the file deployed", || std::fs::read_to_string(&file).ok().as_deref() == Some("desired\n"));
    // Changed by hand: a deploy of the increment does not look at it; a repair does.
    std::fs::write(&file, "changed by hand\n").expect("write");
    let env = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())];
    let asked = cairn(&["deploy", "--server", &server.url(), "-e", ENV, "--full"], &work, &env);
    assert!(asked.status.success(), "{}", text(&asked));
    assert!(text(&asked).contains("repair requested"), "{}", text(&asked));
    wait_until(Duration::from_secs(30), "the repair run on request", || std::fs::read_to_string(&file).ok().as_deref() == Some("desired\n"));
    // Then on the interval, with nobody asking.
    settings(2);
    std::fs::write(&file, "changed again\n").expect("write");
    let repaired = wait_until(Duration::from_secs(30), "the repair run on the interval", || std::fs::read_to_string(&file).ok().as_deref() == Some("desired\n"));
    eprintln!("repaired by the interval after {repaired:?}");
    let id = states(&server).keys().next().cloned().unwrap_or_default();
    assert!(server.logs(ENV, &id).iter().filter(|l| l["changed"] == true).count() >= 3, "deploy and two repairs are logged");
}

#[test]
fn sessions_of_bad_hellos_are_refused_with_a_message() {
    let work = temp_dir("refused");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10");
    let token = environment(&server, &work);
    let admin = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())];
    assert!(cairn(&["env", "create", "other"], &work, &admin).status.success());
    let other = cairn(&["token", "create", "-e", "other", "--role", "agent"], &work, &admin);
    let other = String::from_utf8_lossy(&other.stdout).trim().to_string();
    let cases = [
        (ADMIN.to_string(), "nope", "no environment `nope`"),
        (token.clone(), "nope", "this token is for environment `prod`, not `nope`"),
        (other, ENV, "this token is for environment `other`, not `prod`"),
        ("cairn_not_a_token".to_string(), ENV, "401"),
    ];
    for (token, environment, message) in cases {
        let mut agent = Agent::start(&work, &format!("refused-{environment}"), &server, &token, &["-e", environment, "--name", "web"]);
        let code = agent.wait_exit(Duration::from_secs(30));
        assert_eq!(code, Some(1), "a refused agent stops with 1: {}", agent.log_text());
        assert!(agent.log_text().contains(message), "expected `{message}` in:\n{}", agent.log_text());
    }
    // An API token may not host agents.
    let api = cairn(&["token", "create", "-e", ENV, "--role", "api"], &work, &admin);
    let api = String::from_utf8_lossy(&api.stdout).trim().to_string();
    let mut agent = Agent::start(&work, "refused-api", &server, &api, &["-e", ENV, "--name", "web"]);
    assert_eq!(agent.wait_exit(Duration::from_secs(30)), Some(1));
    assert!(agent.log_text().contains("needs `agent`"), "{}", agent.log_text());
}

#[test]
fn a_malformed_frame_ends_that_session_only() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let work = temp_dir("malformed");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10");
    let token = environment(&server, &work);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let open = |agent: &'static str| {
            let url = format!("ws://127.0.0.1:{}/api/v1/agents/session", server.port);
            let token = token.clone();
            async move {
                let mut request = url.into_client_request().expect("request");
                request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
                let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket");
                let hello = format!(r#"{{"type":"hello","protocol":1,"environment":"prod","agents":["{agent}"],"host":"raw","pid":1}}"#);
                socket.send(Message::Text(hello.into())).await.expect("hello");
                let welcome = socket.next().await.expect("a frame").expect("a frame");
                assert!(welcome.to_text().unwrap_or_default().contains("\"welcome\""), "{welcome:?}");
                socket
            }
        };
        let mut bad = open("web").await;
        let mut good = open("db").await;
        bad.send(Message::Text("{\"type\": \"results\", \"agent\": 7".into())).await.expect("send");
        // The bad session ends, saying why.
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match bad.next().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    Some(Ok(_)) => continue,
                    _ => return String::new(),
                }
            }
        })
        .await
        .expect("the bad session is closed");
        assert!(ended.contains("not a message"), "close reason: {ended}");
        // The good one goes on: it is the primary of db and its heartbeats are taken.
        good.send(Message::Text(r#"{"type":"heartbeat"}"#.into())).await.expect("heartbeat");
        let primary = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match good.next().await {
                    Some(Ok(Message::Text(text))) if text.contains("\"primary\"") => return text.to_string(),
                    Some(Ok(_)) => continue,
                    other => panic!("the good session ended: {other:?}"),
                }
            }
        })
        .await
        .expect("the good session is told it is primary");
        assert!(primary.contains("\"db\""), "{primary}");
        let list = server.json(&format!("/api/v1/environments/{ENV}/agents"));
        let db = list["agents"].as_array().and_then(|a| a.iter().find(|a| a["name"] == "db").cloned()).unwrap_or_default();
        assert_eq!(db["primary"]["host"], "raw", "{list}");
        // A standby that writes under the primary's epoch is refused: only the holder of a
        // term writes in it.
        let mut rogue = open("db").await;
        let result = r#"{"resource":"std::testing::NullResource[db,name=x]","version":1,"action":"deploy","state":"deployed","changed":true,"changes":[],"message":"","deployed_hash":"h","diff":null,"time_ms":1}"#;
        let results = format!(r#"{{"type":"results","agent":"db","epoch":1,"seq":5,"results":[{result}]}}"#);
        rogue.send(Message::Text(results.into())).await.expect("results");
        let ack = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match rogue.next().await {
                    Some(Ok(Message::Text(text))) if text.contains("\"ack\"") => return text.to_string(),
                    Some(Ok(_)) => continue,
                    other => panic!("the rogue session ended: {other:?}"),
                }
            }
        })
        .await
        .expect("an acknowledgement");
        assert!(ack.contains("\"fenced\":true") && ack.contains("\"seq\":5"), "{ack}");
        assert_eq!(server.count(ENV, "deployed"), 0, "nothing of the rogue results was stored");
        drop(good);
    });
}

#[test]
fn pause_resume_and_prefer_move_the_primary() {
    let work = temp_dir("prefer");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10");
    let token = environment(&server, &work);
    let first = Agent::start(&work, "agent-a", &server, &token, &["-e", ENV, "--name", "web"]);
    wait_until(Duration::from_secs(30), "a primary for web", || server.primary_pid(ENV, "web") == Some(first.pid));
    let second = Agent::start(&work, "agent-b", &server, &token, &["-e", ENV, "--name", "web"]);
    let admin = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())];
    wait_until(Duration::from_secs(30), "the second process standing by", || {
        server.json(&format!("/api/v1/environments/{ENV}/agents"))["agents"][0]["standby"].as_array().is_some_and(|s| s.len() == 1)
    });
    let preferred = cairn(&["agent", "prefer", "web", "-e", ENV, "--host", "agent-b"], &work, &admin);
    assert!(preferred.status.success(), "{}", text(&preferred));
    assert!(text(&preferred).contains("prefers session"), "{}", text(&preferred));
    wait_until(Duration::from_secs(10), "the preferred process taking over", || server.primary_pid(ENV, "web") == Some(second.pid));
    let list = server.json(&format!("/api/v1/environments/{ENV}/agents"));
    assert_eq!(list["changes"][0]["reason"], "takeover", "{list}");
    assert_eq!(list["agents"][0]["epoch"], 2, "{list}");
    let paused = cairn(&["agent", "pause", "web", "-e", ENV], &work, &admin);
    assert!(paused.status.success(), "{}", text(&paused));
    wait_until(Duration::from_secs(10), "no primary while paused", || server.primary_pid(ENV, "web").is_none());
    let count = 3;
    release(&server, &work, &slow_model(&work, count, 0.01));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(server.count(ENV, "deployed"), 0, "a paused agent name deploys nothing");
    assert!(second.logged("standby").iter().any(|l| l["fields"]["paused"] == true), "{}", second.log_text());
    let resumed = cairn(&["agent", "resume", "web", "-e", ENV], &work, &admin);
    assert!(resumed.status.success(), "{}", text(&resumed));
    wait_until(Duration::from_secs(30), "the deploy after the resume", || server.count(ENV, "deployed") == count as u64);
    assert_eq!(server.primary_pid(ENV, "web"), Some(second.pid), "the preferred process is primary again");
    let shown = cairn(&["agents", "-e", ENV], &work, &admin);
    assert!(text(&shown).contains("web: primary agent-b"), "{}", text(&shown));
    assert!(text(&shown).contains("standby agent-a"), "{}", text(&shown));
    check_files(&slow_files(&work, count));
}

#[test]
fn the_server_starts_supervises_and_stops_the_agents_of_its_agent_map() {
    let work = temp_dir("autostart");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "3");
    let _ = environment(&server, &work);
    let env = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", support::ADMIN.to_string())];
    // A bad target is refused with a message, before anything is stored.
    let refused = cairn(&["env", "set-agent", ENV, "web", "ssh://deploy@10.0.0.9:22"], &work, &env);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("an SSH target needs a key file"), "{}", text(&refused));
    let set = cairn(&["env", "set-agent", ENV, "web", "local:", "--autostart"], &work, &env);
    assert!(set.status.success(), "{}", text(&set));
    assert_eq!(String::from_utf8_lossy(&set.stdout).trim(), "web -> local: (autostart)");
    let shown = cairn(&["env", "agent-map", ENV, "--json"], &work, &env);
    let map: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(map["agents"]["web"]["target"], "local:");
    // The server's own agent process becomes the primary of `web` and deploys.
    let first = wait_until(Duration::from_secs(30), "a server-side primary for web", || server.primary_pid(ENV, "web").is_some());
    eprintln!("server-side agent primary after {first:?}");
    let count = 3;
    release(&server, &work, &slow_model(&work, count, 0.0));
    wait_until(Duration::from_secs(60), "every command deployed", || server.count(ENV, "deployed") == count as u64);
    check_files(&slow_files(&work, count));
    // Killed, it is started again (a new process, and a new primary).
    let pid = server.primary_pid(ENV, "web").expect("a primary");
    let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    wait_until(Duration::from_secs(40), "a new server-side primary", || server.primary_pid(ENV, "web").is_some_and(|p| p != pid));
    // Removed from the map, its process is stopped and leaves.
    let unset = cairn(&["env", "unset-agent", ENV, "web"], &work, &env);
    assert!(unset.status.success(), "{}", text(&unset));
    assert_eq!(String::from_utf8_lossy(&unset.stdout).trim(), "the agent map is empty");
    wait_until(Duration::from_secs(30), "no primary for web", || server.primary_pid(ENV, "web").is_none());
    let missing = cairn(&["env", "unset-agent", ENV, "web"], &work, &env);
    assert!(!missing.status.success() && text(&missing).contains("not in the agent map"), "{}", text(&missing));
}

#[test]
fn a_server_killed_with_sigkill_leaves_no_server_side_agent_behind() {
    let work = temp_dir("orphans");
    let mut server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "3");
    let _ = environment(&server, &work);
    let env = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", support::ADMIN.to_string())];
    let set = cairn(&["env", "set-agent", ENV, "db", "local:", "--autostart"], &work, &env);
    assert!(set.status.success(), "{}", text(&set));
    wait_until(Duration::from_secs(30), "a server-side primary for db", || server.primary_pid(ENV, "db").is_some());
    let pid = server.primary_pid(ENV, "db").expect("a primary");
    server.kill_hard();
    let alive = || std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ");
    wait_until(Duration::from_secs(10), "the orphaned agent exiting", || !alive());
}

/// One agent process hosting 1,000 agent names (the most a hello may name) gets the work of
/// every one of them in one round, more frames than the session's base queue holds: the
/// session must not be taken for one that reads too slowly.
#[test]
fn one_process_hosting_a_thousand_agent_names_deploys_them_all() {
    let work = temp_dir("thousand-names");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10");
    let token = environment(&server, &work);
    let out = work.join("out");
    std::fs::create_dir_all(&out).expect("out");
    let count = 1000;
    let mut names = vec!["-e".to_string(), ENV.to_string()];
    for i in 0..count {
        names.extend(["--name".to_string(), format!("host{i}")]);
    }
    let args: Vec<&str> = names.iter().map(String::as_str).collect();
    let _agent = Agent::start(&work, "agent", &server, &token, &args);
    let model = format!(
        "import fs\nfor i in std::sequence({count}):\n    h = std::Host(name=f\"host{{i}}\", os=std::linux, ip=\"127.0.0.1\")\n    fs::File(host=h, path=f\"{}/host{{i}}\", content=\"x\\n\", mode=644)\nend\n",
        out.display()
    );
    release(&server, &work, &model);
    wait_until(Duration::from_secs(120), "every agent name's file deployed", || server.count(ENV, "deployed") == count as u64);
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(!log.contains("reads too slowly"), "the session was closed as a slow reader");
    assert_eq!(std::fs::read_dir(&out).expect("out").count(), count);
}
