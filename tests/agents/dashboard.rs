//! The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core
//! (`tests/browser/dashboard.mjs`, installed by `scripts/test.sh` with `npm ci`), against a
//! real `cairn server` and `cairn agent`. The script prints `READY <what>` when the test must
//! act (start the agent, release a version) and waits for a line on stdin; it exits 0 when
//! its checks held. Screenshots are kept in `target/dashboard-screenshots/`.

use crate::autonomous::{cli_env, commit, file_model, finished, repository, sqlite};
use crate::support::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

const ENV: &str = "prod";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots")
}

/// One run of the browser script.
struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: PathBuf,
}

impl Browser {
    fn start(work: &Path, scenario: &str, config: serde_json::Value) -> Browser {
        assert!(
            browser_dir().join("node_modules/playwright-core").is_dir(),
            "playwright-core is not installed: run `npm ci` in tests/browser (scripts/test.sh does)"
        );
        assert!(Path::new("/usr/bin/chromium").exists(), "Debian's chromium is not installed (scripts/test.sh installs it)");
        let stderr = work.join(format!("browser-{scenario}.log"));
        let mut child = Command::new("node")
            .arg(browser_dir().join("dashboard.mjs"))
            .arg(scenario)
            .env("CAIRN_BROWSER", config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file(&stderr))
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Browser { stdin: child.stdin.take(), child, lines, seen: Vec::new(), stderr }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for `READY what`.
    fn ready(&mut self, what: &str, limit: Duration) {
        let wanted = format!("READY {what}");
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == wanted => return,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("the browser never said `{wanted}` (it said {:?}):\n{}", self.seen, self.log()),
            }
        }
    }

    fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "go").expect("the browser reads");
    }

    /// Waits for the script to end; its other stdout lines. Panics with its log unless it
    /// succeeded.
    fn finish(mut self, limit: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                assert!(status.success(), "the browser's checks failed ({status}):\n{}", self.log());
                return self.seen.clone();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the browser did not finish within {} s:\n{}", limit.as_secs(), self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn files_model(work: &Path, first: &str, names: &[usize]) -> String {
    let mut main = String::from("import fs\nhost = std::Host(name=\"web\", os=std::linux, ip=\"127.0.0.1\")\n");
    let mut previous: Option<String> = None;
    for i in names {
        let content = if *i == 0 { first.to_string() } else { format!("file {i}") };
        let requires = previous.as_ref().map(|p| format!(", requires={p}")).unwrap_or_default();
        main.push_str(&format!("f{i} = fs::File(host=host, path=\"{}\", content=\"{content}\\n\", mode=644{requires})\n", work.join(format!("out-{i}")).display()));
        previous = Some(format!("f{i}"));
    }
    // Under a regular file: this one cannot be written.
    main.push_str(&format!("fs::File(host=host, path=\"{}\", content=\"never\\n\", mode=644)\n", work.join("blocker/cannot").display()));
    main
}

fn file_id(work: &Path, name: &str) -> String {
    format!("fs::File[web,path={}]", work.join(name).display())
}

#[test]
fn the_dashboard_logs_in_follows_a_deploy_live_and_shows_logs_diffs_and_the_graph() {
    let work = temp_dir("dashboard");
    std::fs::write(work.join("blocker"), "a file, not a folder\n").expect("blocker");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10");
    let token = environment(&server, &work);
    let count = 6;
    release(&server, &work, &files_model(&work, "first", &(0..count).collect::<Vec<_>>()));
    let failed = file_id(&work, "blocker/cannot");
    let config = serde_json::json!({
        "url": server.url(),
        "token": ADMIN,
        "env": ENV,
        "screenshots": screenshots(),
        "deployed": count,
        "failed": failed,
        "failure_text": "",
        "diff_summary": "1 added, 1 removed, 1 changed",
        "added": file_id(&work, "out-9"),
        "changed_text": "hash",
        "graph_nodes": count + 1,
        "graph_edges": count - 1,
        "graph_click": file_id(&work, "out-2"),
    });
    let mut browser = Browser::start(&work, "deploy", config);
    browser.ready("deploy", Duration::from_secs(90));
    let _agent = Agent::start(&work, "agent-a", &server, &token, &["-e", ENV, "--name", "web"]);
    browser.go();
    browser.ready("second version", Duration::from_secs(90));
    let logs = server.logs(ENV, &failed);
    assert!(logs.iter().any(|l| l["state"] == "failed" && !l["message"].as_str().unwrap_or_default().is_empty()), "{logs:?}");
    // Version 2: out-0 changed, out-5 gone, out-9 new (it ends the chain instead).
    let mut names: Vec<usize> = (0..count - 1).collect();
    names.push(9);
    release(&server, &work, &files_model(&work, "second", &names));
    browser.go();
    browser.finish(Duration::from_secs(120));
    for name in ["01-login.png", "03-deploy-live.png", "04-failed-resource.png", "05-diff.png", "06-graph.png"] {
        assert!(std::fs::metadata(screenshots().join(name)).is_ok_and(|m| m.len() > 1000), "no screenshot {name}");
    }
}

#[test]
fn the_dashboard_shows_a_failed_compile_with_its_rendered_error() {
    let work = temp_dir("dashboard-compile");
    let clone = repository(&work, "models");
    commit(&clone, "good", &[("project.yml", "name: models\n"), ("main.cf", &file_model(&work.join("motd"), "good"))]);
    let server = Server::start(&work, "server", &sqlite(&work), "5");
    let env = cli_env(&server);
    let repo = format!("file://{}", work.join("models.git").display());
    let created = cairn(&["env", "create", ENV, "--repo", &repo, "--auto-release"], &work, &env);
    assert!(created.status.success(), "{}", text(&created));
    wait_until(Duration::from_secs(60), "the good commit compiled", || finished(&server).len() == 1);
    commit(&clone, "broken", &[("main.cf", "import fs\n\nx = 1\nentity Broken\n  string name\n")]);
    let waited = cairn(&["compile", "--server", &server.url(), "-e", ENV, "--wait"], &work, &env);
    assert_eq!(waited.status.code(), Some(1), "{}", text(&waited));
    let report = &finished(&server)[0]["report"];
    let diagnostic = &report["diagnostics"][0];
    let line = diagnostic["line"].as_u64().expect("a line");
    let config = serde_json::json!({
        "url": server.url(),
        "token": ADMIN,
        "env": ENV,
        "screenshots": screenshots(),
        "where": format!("main.cf:{line}"),
        "label": diagnostic["label"].as_str().unwrap_or_default(),
    });
    Browser::start(&work, "compile", config).finish(Duration::from_secs(90));
    assert!(std::fs::metadata(screenshots().join("07-compile-error.png")).is_ok_and(|m| m.len() > 1000));
}

#[test]
fn the_dashboard_needs_no_login_on_a_server_without_authentication() {
    let work = temp_dir("dashboard-insecure");
    let server = Server::start_with(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10", &["--insecure-no-auth"]);
    environment(&server, &work);
    let config = serde_json::json!({ "url": server.url(), "env": ENV });
    Browser::start(&work, "insecure", config).finish(Duration::from_secs(60));
}
