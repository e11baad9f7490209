//! The autonomous server end to end (`docs/autonomous.md`): real Git repositories (bare, over
//! `file://` and over `git daemon` on loopback), a `cairn server` that compiles them in
//! `cairn compile-job` processes, and a `cairn agent` that deploys what it releases. The
//! webhook is called as a Git host calls it, signed with HMAC-SHA256.

use super::support::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SECRET: &str = "webhook-secret-of-the-tests-0123";

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=cairn-tests", "-c", "user.email=tests@localhost", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?} in {}: {}", dir.display(), text(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A bare repository `NAME.git` under `dir` and a working clone of it; the clone's path.
pub(crate) fn repository(dir: &Path, name: &str) -> PathBuf {
    let bare = dir.join(format!("{name}.git"));
    std::fs::create_dir_all(&bare).expect("bare");
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    let clone = dir.join(format!("{name}-work"));
    git(dir, &["clone", "-q", bare.to_str().unwrap_or_default(), clone.to_str().unwrap_or_default()]);
    clone
}

/// Writes `files` into the clone, commits and pushes them; the commit id.
pub(crate) fn commit(clone: &Path, message: &str, files: &[(&str, &str)]) -> String {
    for (path, body) in files {
        let path = clone.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("folders");
        std::fs::write(path, body).expect("write");
    }
    git(clone, &["add", "-A"]);
    git(clone, &["commit", "-q", "-m", message]);
    git(clone, &["push", "-q", "origin", "HEAD:main"]);
    git(clone, &["rev-parse", "HEAD"])
}

/// A model of one file on agent `web`.
pub(crate) fn file_model(path: &Path, content: &str) -> String {
    format!("import fs\nhost = std::Host(name=\"web\", os=std::linux, ip=\"127.0.0.1\")\nfs::File(host=host, path=\"{}\", content=\"{content}\\n\", mode=644)\n", path.display())
}

pub(crate) fn cli_env(server: &Server) -> [(&'static str, String); 2] {
    [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())]
}

fn compiles(server: &Server) -> Vec<serde_json::Value> {
    server.json("/api/v1/environments/prod/compiles?limit=100")["compiles"].as_array().cloned().unwrap_or_default()
}

pub(crate) fn finished(server: &Server) -> Vec<serde_json::Value> {
    compiles(server).into_iter().filter(|c| c["state"] == "succeeded" || c["state"] == "failed").collect()
}

/// POSTs a push event to the webhook, signed as GitHub signs it; the status and body.
fn webhook(server: &Server, body: &str, signature: Option<&str>) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", server.port)) else { return (0, String::new()) };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let signed = signature.map(|s| format!("X-Hub-Signature-256: sha256={s}\r\n")).unwrap_or_default();
    let request = format!(
        "POST /api/v1/environments/prod/notify HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n{signed}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    read_response(&mut stream)
}

fn sign(body: &str) -> String {
    cairn_wire::digest::hex(&cairn_wire::digest::hmac_sha256(SECRET.as_bytes(), body.as_bytes()))
}

fn push_event(commit: &str) -> String {
    format!(r#"{{"ref":"refs/heads/main","after":"{commit}","repository":{{"full_name":"acme/models"}}}}"#)
}

pub(crate) fn sqlite(work: &Path) -> String {
    format!("sqlite:{}", work.join("state.db").display())
}

fn agent_token(server: &Server, work: &Path) -> String {
    let token = cairn(&["token", "create", "-e", "prod", "--role", "agent"], work, &cli_env(server));
    assert!(token.status.success(), "{}", text(&token));
    String::from_utf8_lossy(&token.stdout).trim().to_string()
}

/// The `sh` blocks of docs/autonomous.md (not those marked `skip`), line by line.
fn page_commands() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/autonomous.md")).expect("docs/autonomous.md");
    let mut commands = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if let Some(info) = line.strip_prefix("```") {
            in_block = !in_block && info == "sh";
            continue;
        }
        if in_block && !line.trim().is_empty() {
            commands.push(line.to_string());
        }
    }
    commands
}

#[test]
fn the_autonomous_page_runs_as_written_and_a_webhook_gets_a_commit_deployed() {
    let work = temp_dir("autonomous");
    let clone = repository(&work, "models");
    let target = work.join("out").join("motd");
    std::fs::create_dir_all(target.parent().expect("out")).expect("out");
    let first = commit(&clone, "first", &[("project.yml", "name: models\n"), ("main.cf", &file_model(&target, "version one"))]);
    let server = Server::start(&work, "server", &sqlite(&work), "5");
    let models = format!("file://{}", work.join("models.git").display());
    let cairn_bin = PathBuf::from(env!("CARGO_BIN_EXE_cairn"));
    let path = format!("{}:{}", cairn_bin.parent().expect("bin").display(), std::env::var("PATH").unwrap_or_default());
    let variables = [
        ("CAIRN_SERVER", server.url()),
        ("CAIRN_TOKEN", ADMIN.to_string()),
        ("MODELS", models),
        ("WEBHOOK_SECRET", SECRET.to_string()),
        ("PATH", path),
    ];
    let commands = page_commands();
    assert!(commands.iter().any(|c| c.starts_with("cairn env create")) && commands.iter().any(|c| c.starts_with("cairn reports")), "{commands:?}");
    let mut agent = None;
    for line in &commands {
        if let Some(rest) = line.strip_prefix("cairn agent ") {
            // The agent runs for the rest of the test: started as the page says, in the
            // background, with an agent token.
            let token = agent_token(&server, &work);
            let words: Vec<String> = rest.trim_end_matches('&').split_whitespace().map(|w| w.replace("\"$CAIRN_SERVER\"", &server.url())).collect();
            let args: Vec<&str> = words.iter().map(String::as_str).filter(|w| *w != "--server" && !w.starts_with("http://")).collect();
            agent = Some(Agent::start(&work, "agent", &server, &token, &args));
            continue;
        }
        let output = Command::new("bash").arg("-c").arg(line).current_dir(&work).envs(variables.iter().map(|(k, v)| (*k, v.as_str()))).output().expect("bash");
        assert!(output.status.success(), "`{line}` failed: {}", text(&output));
        if line.starts_with("cairn reports") {
            let shown = String::from_utf8_lossy(&output.stdout);
            assert!(shown.contains("succeeded") && shown.contains(&first[..12]), "the report of the first commit: {shown}");
        }
    }
    let agent = agent.expect("the page starts an agent");
    wait_until(Duration::from_secs(60), "the first commit deployed", || std::fs::read_to_string(&target).unwrap_or_default() == "version one\n");
    // The compile creating the environment queued, and the page's `cairn compile --wait`:
    // two compiles of the first commit, or one when the second trigger came while the first
    // was still queued and joined it.
    let reports = finished(&server);
    assert!((1..=2).contains(&reports.len()), "{reports:?}");
    let kinds: Vec<&str> = reports.iter().rev().flat_map(|r| r["triggers"].as_array().into_iter().flatten()).filter_map(|t| t["kind"].as_str()).collect();
    assert_eq!(kinds, ["settings", "api"], "{reports:?}");
    let first_versions = reports.len() as u64;
    for report in &reports {
        assert_eq!(report["report"]["commit"], first.as_str(), "{reports:?}");
        for phase in ["fetch", "load", "compile", "export", "upload"] {
            assert!(report["report"]["phases"][phase].is_u64(), "phase {phase} timed: {report}");
        }
    }

    // The webhook: refused unsigned or badly signed, ignored for another branch.
    let second = commit(&clone, "second", &[("main.cf", &file_model(&target, "version two"))]);
    let body = push_event(&second);
    assert_eq!(webhook(&server, &body, None).0, 401);
    assert_eq!(webhook(&server, &body, Some(&sign("something else"))).0, 401);
    let other = r#"{"ref":"refs/heads/feature"}"#;
    let (status, answer) = webhook(&server, other, Some(&sign(other)));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"queued\":false"), "{answer}");
    assert_eq!(compiles(&server).len(), reports.len(), "nothing queued for a push elsewhere");
    let (status, answer) = webhook(&server, &body, Some(&sign(&body)));
    assert_eq!(status, 202, "{answer}");
    wait_until(Duration::from_secs(60), "the second commit deployed by the agent", || std::fs::read_to_string(&target).unwrap_or_default() == "version two\n");
    // The report is stored when the compile process has ended, which may be after the agent
    // deployed what it released.
    let before = reports.len();
    wait_until(Duration::from_secs(30), "the webhook's compile reported", || finished(&server).len() == before + 1);
    let reports = finished(&server);
    assert_eq!(reports[0]["report"]["commit"], second.as_str());
    assert_eq!(reports[0]["report"]["version"], first_versions + 1);
    assert_eq!(reports[0]["report"]["released"], true);
    assert_eq!(reports[0]["triggers"][0]["kind"], "webhook");
    assert!(reports[0]["triggers"][0]["detail"].as_str().unwrap_or_default().contains(&second), "{}", reports[0]);
    // The webhook secret is never shown.
    let environment = server.json("/api/v1/environments/prod");
    assert_eq!(environment["settings"]["webhook_secret"], "<secret>", "{environment}");
    drop(agent);
}

#[test]
fn a_broken_commit_fails_with_its_diagnostic_and_the_released_version_stays() {
    let work = temp_dir("autonomous-broken");
    let clone = repository(&work, "models");
    let target = work.join("motd");
    commit(&clone, "good", &[("project.yml", "name: models\n"), ("main.cf", &file_model(&target, "good"))]);
    let server = Server::start(&work, "server", &sqlite(&work), "5");
    let env = cli_env(&server);
    let repo = format!("file://{}", work.join("models.git").display());
    let created = cairn(&["env", "create", "prod", "--repo", &repo, "--auto-release"], &work, &env);
    assert!(created.status.success(), "{}", text(&created));
    wait_until(Duration::from_secs(60), "the good commit compiled", || finished(&server).len() == 1);
    assert_eq!(finished(&server)[0]["state"], "succeeded", "{:?}", finished(&server));
    let broken = commit(&clone, "broken", &[("main.cf", "import fs\n\nx = 1\nentity Broken\n  string name\n")]);
    let waited = cairn(&["compile", "--server", &server.url(), "-e", "prod", "--wait", "--reason", "check the broken commit"], &work, &env);
    assert_eq!(waited.status.code(), Some(1), "a failed compile exits 1: {}", text(&waited));
    let shown = String::from_utf8_lossy(&waited.stdout).to_string();
    assert!(shown.contains("failed") && shown.contains("version 1 stays released"), "{shown}");
    assert!(shown.contains("main.cf:"), "the rendered diagnostic names the file: {shown}");
    let report = &finished(&server)[0];
    assert_eq!(report["report"]["commit"], broken.as_str());
    assert_eq!(report["report"]["success"], false);
    assert_eq!(report["report"]["released_version"], 1);
    let diagnostic = &report["report"]["diagnostics"][0];
    assert_eq!(diagnostic["severity"], "error", "{report}");
    assert_eq!(diagnostic["file"], "main.cf", "{report}");
    assert!(diagnostic["line"].as_u64().is_some_and(|l| l >= 4), "{report}");
    assert!(diagnostic["span"].is_array() && diagnostic["rendered"].as_str().is_some_and(|r| r.contains("main.cf")), "{report}");
    assert_eq!(report["triggers"][0]["detail"], "check the broken commit");
    assert_eq!(server.json("/api/v1/environments/prod/status")["released_version"], 1);
    // The list says the same in one line each.
    let listed = cairn(&["reports", "-e", "prod"], &work, &env);
    assert!(listed.status.success(), "{}", text(&listed));
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed.contains("failed") && listed.contains("succeeded") && listed.contains(&broken[..12]), "{listed}");
}

/// `git daemon` serving `base` on a loopback port, stopped when dropped.
struct GitDaemon(Child, u16);

impl GitDaemon {
    fn start(base: &Path, log: &Path) -> GitDaemon {
        let port = free_port();
        let mut child = Command::new("git")
            .args(["daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1", &format!("--port={port}"), &format!("--base-path={}", base.display())])
            .arg(base)
            .stdout(Stdio::null())
            .stderr(log_file(log))
            .spawn()
            .expect("git daemon starts");
        wait_for_port(port, "git daemon", &mut child, log);
        GitDaemon(child, port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A project over `git daemon` that requires a module from its own repository at a tagged
/// version; a changed constraint fetches another tag, an unchanged one fetches nothing.
#[test]
fn a_module_is_pulled_from_its_own_repository_at_a_tagged_version_over_git_daemon() {
    let work = temp_dir("autonomous-modules");
    let module = repository(&work, "greeting");
    for (version, word) in [("1.0.0", "hello"), ("1.1.0", "hi"), ("2.0.0", "howdy")] {
        commit(&module, &format!("greeting {version}"), &[
            ("module.yml", &format!("name: greeting\nversion: {version}\n")),
            ("model/_init.cf", &format!("word = \"{word}\"\n")),
        ]);
        git(&module, &["tag", &format!("v{version}")]);
        git(&module, &["push", "-q", "origin", &format!("v{version}")]);
    }
    let daemon = GitDaemon::start(&work, &work.join("git-daemon.log"));
    let clone = repository(&work, "models");
    let target = work.join("greeting.txt");
    let project = |constraint: &str| {
        format!("name: models\nmodulepath: libs\ndownloadpath: libs\nrepo:\n  - git://127.0.0.1:{}/\nrequires:\n  - greeting{constraint}\n", daemon.1)
    };
    let main = format!(
        "import fs\nimport greeting\nhost = std::Host(name=\"web\", os=std::linux, ip=\"127.0.0.1\")\nfs::File(host=host, path=\"{}\", content=greeting::word, mode=644)\n",
        target.display()
    );
    commit(&clone, "first", &[("project.yml", &project(">=1.0,<2")), ("main.cf", &main), (".gitignore", "libs/\n")]);
    let server = Server::start(&work, "server", &sqlite(&work), "5");
    let env = cli_env(&server);
    let repo = format!("git://127.0.0.1:{}/models.git", daemon.1);
    let created = cairn(&["env", "create", "prod", "--repo", &repo, "--branch", "main", "--auto-release"], &work, &env);
    assert!(created.status.success(), "{}", text(&created));
    let content = |server: &Server| -> String {
        let versions = server.json("/api/v1/environments/prod/versions");
        let Some(latest) = versions["versions"][0]["version"].as_u64() else { return String::new() };
        let version = server.json(&format!("/api/v1/environments/prod/versions/{latest}"));
        version["resources"][0]["attributes"]["hash"].as_str().unwrap_or_default().to_string()
    };
    wait_until(Duration::from_secs(90), "the first compile", || finished(&server).len() == 1);
    let report = &finished(&server)[0];
    assert_eq!(report["state"], "succeeded", "{report}");
    assert!(report["report"]["log"].as_str().unwrap_or_default().contains("installed module greeting at v1.1.0"), "the newest tag below 2: {report}");
    assert_eq!(content(&server), cairn_wire::digest::sha1_hex(b"hi"));
    // The same constraint again: the cached module is used, nothing is fetched.
    let again = cairn(&["compile", "--server", &server.url(), "-e", "prod", "--wait"], &work, &env);
    assert!(again.status.success(), "{}", text(&again));
    let report = &finished(&server)[0];
    assert!(!report["report"]["log"].as_str().unwrap_or_default().contains("installed module"), "no fetch of a cached module: {report}");
    // A changed constraint fetches the tag that satisfies it.
    commit(&clone, "greeting 2", &[("project.yml", &project(">=2"))]);
    let third = cairn(&["compile", "--server", &server.url(), "-e", "prod", "--wait"], &work, &env);
    assert!(third.status.success(), "{}", text(&third));
    let report = &finished(&server)[0];
    assert!(report["report"]["log"].as_str().unwrap_or_default().contains("installed module greeting at v2.0.0"), "{report}");
    assert_eq!(content(&server), cairn_wire::digest::sha1_hex(b"howdy"));
}

/// A v1 module whose plugin sleeps (or loops), to make compiles last.
fn slow_module(marker: &Path) -> Vec<(String, String)> {
    vec![
        ("libs/slow/module.yml".into(), "name: slow\nversion: 1.0.0\n".into()),
        ("libs/slow/model/_init.cf".into(), "".into()),
        (
            "libs/slow/plugins/__init__.py".into(),
            format!(
                "import os, time\nfrom inmanta.plugins import plugin\n\n@plugin\ndef pause(seconds: \"number\") -> \"number\":\n    with open({marker:?}, \"a\") as f:\n        f.write(str(os.getpid()) + \"\\n\")\n    if seconds < 0:\n        while True:\n            time.sleep(0.01)\n    time.sleep(seconds)\n    return seconds\n",
                marker = marker.display().to_string()
            ),
        ),
    ]
}

fn commit_owned(clone: &Path, message: &str, files: &[(String, String)]) -> String {
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    commit(clone, message, &borrowed)
}

#[test]
fn three_webhooks_during_one_compile_give_one_follow_up_compile() {
    let work = temp_dir("autonomous-coalesce");
    let clone = repository(&work, "models");
    let marker = work.join("plugin-calls");
    let mut files = slow_module(&marker);
    files.push(("project.yml".into(), "name: models\nmodulepath: libs\n".into()));
    files.push(("main.cf".into(), "import slow\nx = slow::pause(3)\n".into()));
    commit_owned(&clone, "slow", &files);
    let server = Server::start(&work, "server", &sqlite(&work), "5");
    let env = cli_env(&server);
    let repo = format!("file://{}", work.join("models.git").display());
    let created = cairn(&["env", "create", "prod", "--repo", &repo], &work, &env);
    assert!(created.status.success(), "{}", text(&created));
    let set = cairn(&["env", "set", "prod", &format!("webhook_secret={SECRET}")], &work, &env);
    assert!(set.status.success(), "{}", text(&set));
    wait_until(Duration::from_secs(60), "the first compile running", || compiles(&server).first().is_some_and(|c| c["state"] == "running"));
    for i in 0..3 {
        let body = format!(r#"{{"ref":"refs/heads/main","after":"push-{i}"}}"#);
        let (status, answer) = webhook(&server, &body, Some(&sign(&body)));
        assert_eq!(status, 202, "{answer}");
    }
    let listed = compiles(&server);
    assert_eq!(listed.len(), 2, "one running, one follow-up queued: {listed:?}");
    assert_eq!(listed[0]["state"], "queued");
    assert_eq!(listed[0]["trigger_count"], 3, "{listed:?}");
    assert_eq!(listed[1]["state"], "running", "{listed:?}");
    wait_until(Duration::from_secs(90), "both compiles done", || finished(&server).len() == 2);
    let done = finished(&server);
    assert!(done.iter().all(|c| c["state"] == "succeeded"), "{done:?}");
    assert_eq!(compiles(&server).len(), 2, "no third compile");
    assert_eq!(std::fs::read_to_string(&marker).unwrap_or_default().lines().count(), 2, "the plugin ran once per compile");
    // The follow-up started after the first one finished: one compile at a time.
    let (follow_up, first) = (&done[0], &done[1]);
    assert!(follow_up["started_ms"].as_u64() >= first["finished_ms"].as_u64(), "{done:?}");
}

#[test]
fn a_model_that_never_finishes_is_stopped_by_the_time_limit() {
    let work = temp_dir("autonomous-timeout");
    let clone = repository(&work, "models");
    let marker = work.join("plugin-pid");
    let mut files = slow_module(&marker);
    files.push(("project.yml".into(), "name: models\nmodulepath: libs\n".into()));
    files.push(("main.cf".into(), "import slow\nx = slow::pause(-1)\n".into()));
    commit_owned(&clone, "loops", &files);
    let mut server = Server::start_with(&work, "server", &sqlite(&work), "5", &["--compile-timeout", "3"]);
    let env = cli_env(&server);
    let repo = format!("file://{}", work.join("models.git").display());
    let created = cairn(&["env", "create", "prod", "--repo", &repo], &work, &env);
    assert!(created.status.success(), "{}", text(&created));
    wait_until(Duration::from_secs(60), "the compile stopped", || finished(&server).len() == 1);
    let report = &finished(&server)[0];
    assert_eq!(report["state"], "failed", "{report}");
    let summary = report["report"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("time limit") && summary.contains("3 s"), "{summary}");
    assert!(summary.contains("no version is released"), "{summary}");
    // The plugin host went with the compile process: its whole process group was killed.
    let pid = std::fs::read_to_string(&marker).unwrap_or_default().lines().next().unwrap_or_default().trim().to_string();
    assert!(!pid.is_empty(), "the plugin ran");
    wait_until(Duration::from_secs(10), "the plugin host gone", || !Path::new(&format!("/proc/{pid}")).exists());
    // The server is still there and answers.
    assert_eq!(server.request("GET", "/health", None).0, 200);
    server.kill_hard();
}

#[test]
fn the_poll_timer_compiles_a_new_commit_once() {
    let work = temp_dir("autonomous-poll");
    let clone = repository(&work, "models");
    let target = work.join("motd");
    commit(&clone, "first", &[("project.yml", "name: models\n"), ("main.cf", &file_model(&target, "one"))]);
    let server = Server::start(&work, "server", &sqlite(&work), "5");
    let env = cli_env(&server);
    let repo = format!("file://{}", work.join("models.git").display());
    let created = cairn(&["env", "create", "prod", "--repo", &repo, "--poll-interval", "1"], &work, &env);
    assert!(created.status.success(), "{}", text(&created));
    wait_until(Duration::from_secs(60), "the first compile", || finished(&server).len() == 1);
    let second = commit(&clone, "second", &[("main.cf", &file_model(&target, "two"))]);
    wait_until(Duration::from_secs(30), "the poll's compile of the new commit", || finished(&server).len() == 2);
    let report = &finished(&server)[0];
    assert_eq!(report["triggers"][0]["kind"], "poll", "{report}");
    assert_eq!(report["report"]["commit"], second.as_str(), "{report}");
    assert_eq!(report["report"]["released"], false, "auto_release is off: {report}");
    // Nothing new on the branch: the next polls compile nothing.
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(compiles(&server).len(), 2, "{:?}", compiles(&server));
    assert_eq!(server.json("/api/v1/environments/prod/status")["released_version"], serde_json::Value::Null);
}

/// Two servers on one MongoDB (SecantusDB) share the compile work: every compile runs on one
/// of them, an environment never runs two at once, and the webhooks sent to either server
/// during a compile join one follow-up.
#[test]
fn two_servers_on_one_store_never_compile_one_environment_twice_at_once() {
    let work = temp_dir("autonomous-two-servers");
    let clone = repository(&work, "models");
    let marker = work.join("plugin-calls");
    let mut files = slow_module(&marker);
    files.push(("project.yml".into(), "name: models\nmodulepath: libs\n".into()));
    files.push(("main.cf".into(), "import slow\nx = slow::pause(2)\n".into()));
    commit_owned(&clone, "slow", &files);
    let mongo = Secantus::start(&work);
    let one = Server::start(&work, "server-1", &mongo.uri("cairn_compiles"), "10");
    let two = Server::start(&work, "server-2", &mongo.uri("cairn_compiles"), "10");
    let repo = format!("file://{}", work.join("models.git").display());
    let created = cairn(&["env", "create", "prod", "--repo", &repo], &work, &cli_env(&one));
    assert!(created.status.success(), "{}", text(&created));
    let set = cairn(&["env", "set", "prod", &format!("webhook_secret={SECRET}")], &work, &cli_env(&two));
    assert!(set.status.success(), "{}", text(&set));
    wait_until(Duration::from_secs(60), "the first compile running", || compiles(&one).first().is_some_and(|c| c["state"] == "running"));
    for (i, server) in [&one, &two, &two].iter().enumerate() {
        let body = format!(r#"{{"ref":"refs/heads/main","after":"push-{i}"}}"#);
        let (status, answer) = webhook(server, &body, Some(&sign(&body)));
        assert_eq!(status, 202, "{answer}");
    }
    let mut most_running = 0;
    wait_until(Duration::from_secs(120), "both compiles done", || {
        let listed = compiles(&two);
        most_running = most_running.max(listed.iter().filter(|c| c["state"] == "running").count());
        listed.len() == 2 && listed.iter().all(|c| c["state"] == "succeeded")
    });
    assert_eq!(most_running, 1, "one compile of the environment at a time");
    let listed = compiles(&one);
    assert_eq!(listed[0]["trigger_count"], 3, "{listed:?}");
    let servers: Vec<&str> = listed.iter().filter_map(|c| c["server"].as_str()).collect();
    assert_eq!(servers.len(), 2, "{listed:?}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap_or_default().lines().count(), 2, "each compile ran once");
    let (first, follow_up) = (&listed[1], &listed[0]);
    assert!(follow_up["started_ms"].as_u64() >= first["finished_ms"].as_u64(), "{listed:?}");
}
