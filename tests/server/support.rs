//! Real processes for the server tests: a `cairn server` on a free loopback port (on SQLite
//! in a temporary folder, or on a SecantusDB started for it), plain HTTP/1.1 requests to it,
//! and the `cairn` binary with an environment. Every wait is bounded.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../support/processes.rs"]
mod processes;
pub use processes::*;

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-server-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
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
            Some(mongo) => mongo.uri("cairn_test"),
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

    /// Starts the process (again) with the same arguments and waits until it listens. Its
    /// log goes to `server.log` in its folder.
    pub fn restart(&mut self) {
        let log = self._dir.join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(&self.args)
            .env_remove("CAIRN_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(log_file(&log))
            .spawn()
            .expect("cairn server starts");
        wait_for_port(self.port, "cairn server", &mut child, &log);
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
        read_response(&mut stream)
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, String) {
        self.request("GET", path, token, None)
    }

    pub fn post(&self, path: &str, token: &str, body: &str) -> (u16, String) {
        self.request("POST", path, token, Some(body))
    }
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
