//! Real processes for the server tests: a `cairn server` on a free loopback port (on SQLite
//! in a temporary folder, or on a SecantusDB started for it), plain HTTP/1.1 requests to it,
//! and the `cairn` binary with an environment. Every wait is bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-server-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn cairn(args: &[&str], dir: &Path, env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command.args(args).current_dir(dir).env("CAIRN_COLOR", "never");
    for variable in ["CAIRN_SERVER", "CAIRN_TOKEN", "CAIRN_ENVIRONMENT"] {
        command.env_remove(variable);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("cairn runs")
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("{what} exited with {status} before listening: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what} did not listen on port {port} within 30 s");
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Mongo,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Mongo => "mongo",
        }
    }
}

/// A program of the test virtualenv (SecantusDB, schemathesis), which `scripts/test.sh` makes.
pub fn venv_binary(name: &str) -> PathBuf {
    let venv = std::env::var_os("CAIRN_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test"));
    let binary = venv.join("bin").join(name);
    assert!(binary.exists(), "{} is missing: run `bash scripts/test.sh` (it makes the test virtualenv .venv-test), or set CAIRN_TEST_VENV", binary.display());
    binary
}

/// A SecantusDB (MongoDB wire protocol) server of the test's own.
pub struct Secantus {
    child: Child,
    pub port: u16,
    _dir: PathBuf,
}

impl Secantus {
    pub fn start(dir: &Path) -> Secantus {
        let binary = venv_binary("secantusd-py");
        let port = free_port();
        let storage = dir.join("secantus");
        std::fs::create_dir_all(&storage).expect("storage");
        let mut child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path"])
            .arg(&storage)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("secantusd-py starts");
        wait_for_port(port, "secantusd-py", &mut child);
        Secantus { child, port, _dir: storage }
    }
}

impl Drop for Secantus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `cairn server` process.
pub struct Server {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    _mongo: Option<Secantus>,
    _dir: PathBuf,
}

impl Server {
    pub fn start(backend: Backend, admin_token: &str) -> Server {
        let dir = temp_dir(&format!("store-{}-{}", backend.name(), free_port()));
        let mongo = (backend == Backend::Mongo).then(|| Secantus::start(&dir));
        let store = match &mongo {
            Some(mongo) => format!("mongodb://127.0.0.1:{}/cairn_test", mongo.port),
            None => format!("sqlite:{}", dir.join("state.db").display()),
        };
        let port = free_port();
        let args = vec![
            "server".to_string(),
            "--bind".into(),
            format!("127.0.0.1:{port}"),
            "--store".into(),
            store,
            "--admin-token".into(),
            admin_token.to_string(),
        ];
        let mut server = Server { child: None, port, args, _mongo: mongo, _dir: dir };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process (again) with the same arguments and waits until it listens.
    pub fn restart(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(&self.args)
            .env_remove("CAIRN_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cairn server starts");
        wait_for_port(self.port, "cairn server", &mut child);
        // Its log goes nowhere after start-up: a full pipe must never block it.
        if let Some(mut pipe) = child.stderr.take() {
            std::thread::spawn(move || {
                let mut sink = [0u8; 4096];
                while matches!(pipe.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
        self.child = Some(child);
    }

    /// `kill -9`.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then the exit code (bounded wait).
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub fn stop(&mut self) {
        self.kill_hard();
    }

    /// One HTTP/1.1 request; the status and the body.
    pub fn request(&self, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        if !token.is_empty() {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method == "POST" || method == "PUT" {
            request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("write");
        // The server may refuse (413) before reading the whole body.
        let _ = stream.write_all(body.as_bytes());
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (head, rest) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
        (status, body)
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, String) {
        self.request("GET", path, token, None)
    }

    pub fn post(&self, path: &str, token: &str, body: &str) -> (u16, String) {
        self.request("POST", path, token, Some(body))
    }
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// A `cairn` process a test runs in the background (an agent): its stderr goes to a log
/// file, signals go to its pid only (and only until it is reaped), every wait is bounded, and
/// it is killed when dropped.
pub struct Background {
    child: Child,
    exited: Option<std::process::ExitStatus>,
    pub log: PathBuf,
}

impl Background {
    pub fn spawn(args: &[&str], dir: &Path, env: &[(&str, String)], log: PathBuf) -> Background {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
        command.args(args).current_dir(dir).env("CAIRN_COLOR", "never");
        for variable in ["CAIRN_SERVER", "CAIRN_TOKEN", "CAIRN_ENVIRONMENT", "CAIRN_AGENT_HOST", "CAIRN_PARALLELISM", "CAIRN_LOG_FORMAT"] {
            command.env_remove(variable);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let file = std::fs::File::create(&log).expect("log file");
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file).spawn().expect("cairn runs");
        Background { child, exited: None, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -SIGNAL` to this process, unless it has exited and was reaped.
    pub fn signal(&mut self, signal: &str) {
        if self.wait(Duration::ZERO).is_none() {
            let _ = Command::new("kill").args([format!("-{signal}"), self.pid().to_string()]).status();
        }
    }

    /// Its exit status once it has exited, waiting at most `timeout`; `None` while it runs.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        loop {
            if self.exited.is_none() {
                self.exited = self.child.try_wait().ok().flatten();
            }
            if self.exited.is_some() || started.elapsed() >= timeout {
                return self.exited;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.wait(Duration::ZERO).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
