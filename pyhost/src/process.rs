//! The host process: started with the interpreter and the host script, spoken to in JSON lines
//! over its stdin and stdout. A reader thread turns stdout into lines (each at most
//! [`MAX_LINE_BYTES`]), so every wait for an answer is bounded by a deadline; another keeps the
//! last lines of stderr, which say why a host died. Dropping the process kills it.

use serde_json::Value as Json;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The longest protocol line either side may send.
pub const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;
/// How many lines of the host's stderr are kept for messages.
const STDERR_LINES: usize = 20;
/// The longest stderr line kept (the rest is cut).
const STDERR_LINE_BYTES: usize = 2_000;

/// How to start a host.
#[derive(Clone, Debug)]
pub struct HostCommand {
    pub python: PathBuf,
    pub script: PathBuf,
    /// The working folder (the project).
    pub cwd: PathBuf,
    /// The whole environment of the process: nothing of Cairn's own is passed on.
    pub env: BTreeMap<String, String>,
}

/// Why the host gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum HostFailure {
    /// No answer before the deadline.
    Timeout,
    /// The host's stdout closed: it exited or crashed. `tail` is its last stderr lines.
    Exited { status: String, tail: Vec<String> },
    /// A line that is not a protocol message.
    Protocol(String),
    /// It could not be started or written to.
    Io(String),
}

pub struct HostProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Result<Vec<u8>, String>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl HostProcess {
    pub fn spawn(command: &HostCommand) -> Result<HostProcess, HostFailure> {
        let mut child = Command::new(&command.python)
            .arg("-I")
            .arg("-u")
            .arg(&command.script)
            .current_dir(&command.cwd)
            .env_clear()
            .envs(&command.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| HostFailure::Io(format!("cannot start {}: {error}", command.python.display())))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            return Err(HostFailure::Io("the host's pipes are missing".into()));
        };
        let (sender, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name("pyhost-stdout".into())
            .spawn(move || read_lines(stdout, sender))
            .map_err(|error| HostFailure::Io(error.to_string()))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr_tail.clone();
        std::thread::Builder::new()
            .name("pyhost-stderr".into())
            .spawn(move || keep_tail(stderr, tail))
            .map_err(|error| HostFailure::Io(error.to_string()))?;
        Ok(HostProcess { child, stdin, lines, stderr_tail })
    }

    pub fn send(&mut self, message: &Json) -> Result<(), HostFailure> {
        let mut line = message.to_string().into_bytes();
        if line.len() as u64 > MAX_LINE_BYTES {
            return Err(HostFailure::Protocol(format!("a message of {} bytes is over the limit of {MAX_LINE_BYTES}", line.len())));
        }
        line.push(b'\n');
        match self.stdin.write_all(&line).and_then(|()| self.stdin.flush()) {
            Ok(()) => Ok(()),
            Err(_) => Err(self.exited()),
        }
    }

    /// The next message, waiting at most until `deadline`.
    pub fn receive(&mut self, deadline: Instant) -> Result<Json, HostFailure> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(Ok(line)) => {
                let message: Json = serde_json::from_slice(&line).map_err(|_| {
                    let shown = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
                    HostFailure::Protocol(format!("the host wrote a line that is not a protocol message: {shown:?}"))
                })?;
                if !message.is_object() {
                    return Err(HostFailure::Protocol(format!("the host wrote {message}, not a message object")));
                }
                Ok(message)
            }
            Ok(Err(problem)) => Err(HostFailure::Protocol(problem)),
            Err(RecvTimeoutError::Timeout) => Err(HostFailure::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(self.exited()),
        }
    }

    /// The host is gone: its exit status and its last words.
    fn exited(&mut self) -> HostFailure {
        // The stderr reader may still be draining the last lines.
        let give_up = Instant::now() + std::time::Duration::from_millis(500);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.to_string(),
                Ok(None) if Instant::now() < give_up => std::thread::sleep(std::time::Duration::from_millis(10)),
                Ok(None) => break "still running, with its output closed".to_string(),
                Err(error) => break error.to_string(),
            }
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        HostFailure::Exited { status, tail: self.stderr_tail() }
    }

    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail.lock().map(|tail| tail.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_lines(stdout: impl Read, sender: mpsc::Sender<Result<Vec<u8>, String>>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = Vec::new();
        match (&mut reader).take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) if line.last() != Some(&b'\n') && line.len() as u64 > MAX_LINE_BYTES => {
                let _ = sender.send(Err(format!("the host wrote a line over the limit of {MAX_LINE_BYTES} bytes")));
                return;
            }
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                if sender.send(Ok(line)).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn keep_tail(stderr: impl Read, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut reader = BufReader::new(stderr);
    loop {
        let mut line = Vec::new();
        match (&mut reader).take(64 * 1024).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let mut text = String::from_utf8_lossy(&line).trim_end().to_string();
                if text.len() > STDERR_LINE_BYTES {
                    let mut cut = STDERR_LINE_BYTES;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                    text.push_str(" ...");
                }
                if let Ok(mut tail) = tail.lock() {
                    if tail.len() == STDERR_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(text);
                }
            }
        }
    }
}
