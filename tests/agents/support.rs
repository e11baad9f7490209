//! Real processes for the agent tests: SecantusDB, `cairn server` processes on a given
//! store and port, `cairn agent` processes (each with its log in a file, so that a test can
//! read what it did), signals to them, and plain HTTP/1.1 requests. Every wait is bounded.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../support/processes.rs"]
mod processes;
pub use processes::*;

pub const ADMIN: &str = "agents-test-admin-token-0123456789";

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-agents-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Waits until `done` holds, checking every 50 ms; panics with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {} s", limit.as_secs_f64());
}

/// A `cairn server` process on a store.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    pub log: PathBuf,
}

impl Server {
    /// A server on `store` (`sqlite:PATH` or a MongoDB URI) with this agent timeout.
    pub fn start(dir: &Path, name: &str, store: &str, agent_timeout: &str) -> Server {
        Server::start_with(dir, name, store, agent_timeout, &[])
    }

    /// The same, with more arguments of `cairn server`.
    pub fn start_with(dir: &Path, name: &str, store: &str, agent_timeout: &str, extra: &[&str]) -> Server {
        let port = free_port();
        let compile_dir = dir.join(format!("{name}-compiles"));
        let mut args: Vec<String> = ["server", "--bind", &format!("127.0.0.1:{port}"), "--store", store, "--admin-token", ADMIN, "--agent-timeout", agent_timeout]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--compile-dir".to_string(), compile_dir.display().to_string()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = Server { child: None, port, args, log: dir.join(format!("{name}.log")) };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(&self.args)
            .env_remove("CAIRN_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(log_file(&self.log))
            .spawn()
            .expect("cairn server starts");
        wait_for_port(self.port, "cairn server", &mut child, &self.log);
        self.child = Some(child);
    }

    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// One HTTP/1.1 request with the admin token; the status and the body.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return (0, String::new()) };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return (0, String::new());
        }
        read_response(&mut stream)
    }

    /// A GET whose answer is JSON (`Null` when the server does not answer).
    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.request("GET", path, None);
        if status != 200 {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    }

    /// How many resources of `env` are in `state`.
    pub fn count(&self, env: &str, state: &str) -> u64 {
        self.json(&format!("/api/v1/environments/{env}/status"))["resources"][state].as_u64().unwrap_or(0)
    }

    /// The pid of the primary of `agent`, if it has one.
    pub fn primary_pid(&self, env: &str, agent: &str) -> Option<u32> {
        let list = self.json(&format!("/api/v1/environments/{env}/agents"));
        let agents = list["agents"].as_array()?;
        let entry = agents.iter().find(|a| a["name"] == agent)?;
        entry["primary"]["pid"].as_u64().map(|p| p as u32)
    }

    /// The action log of a resource.
    pub fn logs(&self, env: &str, resource: &str) -> Vec<serde_json::Value> {
        let detail = self.json(&format!("/api/v1/environments/{env}/resource?id={}", encode(resource)));
        detail["logs"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A `cairn agent` process; its log (stderr) goes to a file.
pub struct Agent {
    child: Option<Child>,
    pub pid: u32,
    pub log: PathBuf,
}

impl Agent {
    pub fn start(dir: &Path, name: &str, server: &Server, token: &str, args: &[&str]) -> Agent {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["agent", "--server", &server.url(), "--host", name])
            .args(args)
            .current_dir(dir)
            .env("CAIRN_TOKEN", token)
            .env("CAIRN_LOG_FORMAT", "json")
            .env_remove("CAIRN_SERVER")
            .env_remove("CAIRN_ENVIRONMENT")
            .stdout(Stdio::null())
            .stderr(log_file(&log))
            .spawn()
            .expect("cairn agent starts");
        Agent { pid: child.id(), child: Some(child), log }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([&format!("-{signal}"), &self.pid.to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", self.pid);
    }

    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) for the process to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log whose message is `message`.
    pub fn logged(&self, message: &str) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["fields"]["message"] == message)
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // A stopped process cannot die of SIGKILL until it is continued.
        if self.child.is_some() {
            let _ = Command::new("kill").args(["-CONT", &self.pid.to_string()]).status();
        }
        self.kill_hard();
    }
}

/// An environment `prod` on the server with an agent token; the token.
pub fn environment(server: &Server, work: &Path) -> String {
    let env = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())];
    let created = cairn(&["env", "create", "prod"], work, &env);
    assert!(created.status.success(), "{}", text(&created));
    let token = cairn(&["token", "create", "-e", "prod", "--role", "agent"], work, &env);
    assert!(token.status.success(), "{}", text(&token));
    String::from_utf8_lossy(&token.stdout).trim().to_string()
}

/// Compiles `main` as a project and uploads it to `prod`, released.
pub fn release(server: &Server, work: &Path, main: &str) {
    let project = work.join("project");
    std::fs::create_dir_all(&project).expect("project");
    std::fs::write(project.join("project.yml"), "name: agents\n").expect("project.yml");
    std::fs::write(project.join("main.cf"), main).expect("main.cf");
    let env = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())];
    let pushed = cairn(&["export", project.to_str().unwrap_or_default(), "-e", "prod", "--release"], work, &env);
    assert!(pushed.status.success(), "{}", text(&pushed));
}

/// A model of `count` commands on agent `web`, each sleeping `sleep` seconds and then writing
/// `out/rI` under `dir` (and not running again once that file exists).
pub fn slow_model(dir: &Path, count: usize, sleep: f64) -> String {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("out");
    let mut main = String::from("import exec\nhost = std::Host(name=\"web\", os=std::linux, ip=\"127.0.0.1\")\n");
    for i in 0..count {
        let file = out.join(format!("r{i}"));
        main.push_str(&format!(
            "exec::Run(host=host, command=exec::in_shell(\"sleep {sleep}; echo {i} > {path}.part; mv {path}.part {path}\"), creates=\"{path}\")\n",
            path = file.display()
        ));
    }
    main
}

/// The resource id of command `i` of [`slow_model`].
pub fn slow_files(dir: &Path, count: usize) -> Vec<PathBuf> {
    (0..count).map(|i| dir.join("out").join(format!("r{i}"))).collect()
}
