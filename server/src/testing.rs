//! Test support, not part of the API: a real MongoDB-wire server for tests, SecantusDB
//! (`SecantusDB` from PyPI, a separate process: it is GPL-2.0 and never linked). Any test
//! binary that needs MongoDB starts one with [`Secantus::start`] on a free loopback port
//! with a fresh storage folder, and stops it by its pid ([`Secantus::stop`], or on drop).
//!
//! The server comes from a virtualenv: `$CAIRN_TEST_VENV/bin/secantusd-py`, by default
//! `.venv-test/bin/secantusd-py` at the workspace root, which `scripts/test.sh` creates.
//! When it is missing, starting fails with a message saying how to install it: tests that
//! need it fail rather than being skipped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The pinned SecantusDB release the tests are written against.
pub const SECANTUS_PACKAGE: &str = "SecantusDB==0.7.0b3";
/// How long the server may take to accept connections (it takes about a second, more on
/// a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it may take to exit after SIGTERM (2 to 7 s) before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The virtualenv that holds SecantusDB.
pub fn test_venv() -> PathBuf {
    match std::env::var_os("CAIRN_TEST_VENV") {
        Some(venv) if !venv.is_empty() => PathBuf::from(venv),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).join(".venv-test"),
    }
}

/// The `secantusd-py` launcher of [`test_venv`].
pub fn secantus_binary() -> PathBuf {
    test_venv().join("bin").join("secantusd-py")
}

/// A running SecantusDB server.
pub struct Secantus {
    child: Mutex<Option<Child>>,
    port: u16,
    /// The server's folder: its storage, its (empty) configuration and its log.
    folder: PathBuf,
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("cannot find a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("cannot find a free port: {e}"))
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl Secantus {
    /// Starts a server on a free loopback port with a fresh storage folder and waits until
    /// it accepts connections.
    pub fn start() -> Result<Secantus, String> {
        let binary = secantus_binary();
        if !binary.is_file() {
            return Err(format!(
                "SecantusDB, the MongoDB-wire server the MongoDB store is tested against, is not installed: {} is missing. \
                 Run `bash scripts/test.sh` (it installs it), or install it by hand at the workspace root: \
                 `python3 -m venv .venv-test && .venv-test/bin/pip install \"{SECANTUS_PACKAGE}\"` \
                 (or set CAIRN_TEST_VENV to a virtualenv that has it)",
                binary.display()
            ));
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let folder = std::env::temp_dir().join(format!("cairn-secantus-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        // An empty configuration of its own: SecantusDB otherwise reads one from the
        // working folder or the home folder, if there is one.
        let config = folder.join("secantusd.toml");
        std::fs::write(&config, "").map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let mut last_error = String::new();
        // A port found free may be taken before the server binds it: then another one.
        for _ in 0..3 {
            let port = free_port()?;
            let log_path = folder.join(format!("secantusd-{port}.log"));
            let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
            let log_err = log.try_clone().map_err(|e| e.to_string())?;
            let child = Command::new(&binary)
                .arg("--config")
                .arg(&config)
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path"])
                .arg(folder.join("data"))
                .current_dir(&folder)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
            let server = Secantus { child: Mutex::new(Some(child)), port, folder: folder.clone() };
            match server.wait_until_listening(&log_path) {
                Ok(()) => return Ok(server),
                Err(error) => {
                    last_error = error;
                    let _ = server.stop_keeping_folder();
                }
            }
        }
        let _ = std::fs::remove_dir_all(&folder);
        Err(last_error)
    }

    fn wait_until_listening(&self, log: &Path) -> Result<(), String> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            let exited = {
                let mut child = self.child.lock().map_err(|_| "lock poisoned".to_string())?;
                match child.as_mut().map(Child::try_wait) {
                    Some(Ok(Some(status))) => Some(status.to_string()),
                    Some(Err(e)) => Some(e.to_string()),
                    _ => None,
                }
            };
            if let Some(status) = exited {
                return Err(format!("SecantusDB exited ({status}) before listening on port {}:\n{}", self.port, log_tail(log)));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "SecantusDB did not listen on port {} within {} s:\n{}",
                    self.port,
                    START_TIMEOUT.as_secs(),
                    log_tail(log)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mongodb://127.0.0.1:PORT/`.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.port)
    }

    /// Stops the server (SIGTERM, then SIGKILL if it has not exited within 20 s), waits
    /// for it, and removes its folder. Stopping a stopped server does nothing.
    pub fn stop(&self) -> Result<(), String> {
        let stopped = self.stop_keeping_folder();
        let _ = std::fs::remove_dir_all(&self.folder);
        stopped
    }

    fn stop_keeping_folder(&self) -> Result<(), String> {
        let Some(mut child) = self.child.lock().map_err(|_| "lock poisoned".to_string())?.take() else { return Ok(()) };
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    return child.wait().map(|_| ()).map_err(|e| format!("cannot wait for SecantusDB (pid {}): {e}", child.id()));
                }
            }
        }
    }
}

impl Drop for Secantus {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
