//! What the end-to-end tests of the server and of agents share: the `cairn` binary run to
//! completion, free loopback ports, bounded waits for a process to listen, a SecantusDB of
//! the test's own (from the test virtualenv that `scripts/test.sh` makes) and the body of a
//! chunked HTTP response. Every wait is bounded.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cairn` to completion in `dir`, with no server, token or environment from the
/// caller's environment but those in `env`.
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

/// What a command printed, stdout then stderr.
pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Waits (60 s at most) until `port` accepts connections; panics with `log`'s text when
/// `child` exits first.
pub fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what} did not listen on port {port} within 60 s");
}

/// A file that a process's output is appended to.
pub fn log_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new().create(true).append(true).open(path).expect("log file")
}

/// A program of the test virtualenv (SecantusDB, schemathesis), which `scripts/test.sh` makes.
pub fn venv_binary(name: &str) -> PathBuf {
    let venv = std::env::var_os("CAIRN_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test"));
    let binary = venv.join("bin").join(name);
    assert!(binary.exists(), "{} is missing: run `bash scripts/test.sh` (it makes the test virtualenv .venv-test), or set CAIRN_TEST_VENV", binary.display());
    binary
}

/// A SecantusDB (MongoDB wire protocol) server of the test's own, storing and logging in
/// its folder.
pub struct Secantus {
    child: Child,
    pub port: u16,
}

impl Secantus {
    pub fn start(dir: &Path) -> Secantus {
        let binary = venv_binary("secantusd-py");
        let port = free_port();
        let storage = dir.join("secantus");
        std::fs::create_dir_all(&storage).expect("storage");
        let log = dir.join("secantus.log");
        let mut child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path"])
            .arg(&storage)
            .stdout(Stdio::null())
            .stderr(log_file(&log))
            .spawn()
            .expect("secantusd-py starts");
        wait_for_port(port, "secantusd-py", &mut child, &log);
        Secantus { child, port }
    }

    /// The store URI of database `database` on it.
    pub fn uri(&self, database: &str) -> String {
        format!("mongodb://127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Secantus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads an HTTP/1.1 response to its end (the request said `Connection: close`): the status
/// (0 when there is none) and the body, de-chunked.
pub fn read_response(stream: &mut TcpStream) -> (u16, String) {
    use std::io::Read;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, rest) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    (status, body)
}

/// The body of a chunked HTTP/1.1 response.
pub fn dechunk(mut text: &str) -> String {
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
