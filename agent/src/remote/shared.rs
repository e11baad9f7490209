//! What an agent process keeps across its connections to the server: the frames sent and
//! not yet acknowledged (intents and results, sent again on the next connection, so that no
//! result is lost when the server restarts), the file requests waiting for a body, the
//! epoch of each agent name it is the primary of, and the deploys running. Shared between
//! the async connection and the deploy threads; every lock is held briefly.

use super::RemoteConfig;
use crate::handler::HandlerRegistry;
use crate::io::Io;
use cairn_wire::{ResourceId, ResourceState};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use tokio::sync::mpsc as channel;

/// What the server answered to an intent or results.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Stored,
    /// Refused: the epoch they carry is no longer the agent name's.
    Fenced,
    /// Not stored (the store failed): send again.
    Failed(String),
}

/// A frame waiting for its acknowledgement.
pub struct Pending {
    pub frame: String,
    pub answer: mpsc::Sender<Answer>,
}

/// A deploy running on its own thread.
pub struct Run {
    pub epoch: u64,
    pub cancel: Arc<AtomicBool>,
    /// Where pushed dependency states go (the engine's `External::updates`).
    pub updates: mpsc::Sender<BTreeMap<ResourceId, ResourceState>>,
    pub thread: std::thread::JoinHandle<()>,
}

/// Where a file body (or why there is none) goes.
pub type FileWaiter = mpsc::Sender<Result<Vec<u8>, String>>;

/// Frames queued for the connection's writer, at most.
pub const LINK_QUEUE: usize = 256;

/// What the connection's writer sends.
#[derive(Debug)]
pub enum Frame {
    Text(String),
    Close,
}

pub struct Shared {
    pub config: RemoteConfig,
    pub handlers: Arc<HandlerRegistry>,
    pub io: Arc<dyn Io>,
    /// The current connection's writer; `None` while disconnected.
    link: Mutex<Option<channel::Sender<Frame>>>,
    outbox: Mutex<BTreeMap<u64, Pending>>,
    next_seq: AtomicU64,
    /// Requests for file bodies by hash: who waits for each.
    files: Mutex<HashMap<String, Vec<FileWaiter>>>,
    /// Agent names this process is the primary of, with the epoch of the term.
    epochs: Mutex<BTreeMap<String, u64>>,
    runs: Mutex<BTreeMap<String, Run>>,
    /// Set once SIGTERM (or Ctrl-C) came: no new work starts.
    pub stopping: AtomicBool,
    /// The id of the last session the server gave this process.
    session: Mutex<Option<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn new(config: RemoteConfig, handlers: Arc<HandlerRegistry>, io: Arc<dyn Io>) -> Shared {
        Shared {
            config,
            handlers,
            io,
            link: Mutex::new(None),
            outbox: Mutex::new(BTreeMap::new()),
            next_seq: AtomicU64::new(1),
            files: Mutex::new(HashMap::new()),
            epochs: Mutex::new(BTreeMap::new()),
            runs: Mutex::new(BTreeMap::new()),
            stopping: AtomicBool::new(false),
            session: Mutex::new(None),
        }
    }

    pub fn session(&self) -> Option<String> {
        lock(&self.session).clone()
    }

    pub fn set_session(&self, id: &str) {
        *lock(&self.session) = Some(id.to_string());
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// A connection is up: frames go to it from now on.
    pub fn connected(&self, writer: channel::Sender<Frame>) {
        *lock(&self.link) = Some(writer);
    }

    pub fn disconnected(&self) {
        *lock(&self.link) = None;
    }

    /// Sends a frame if connected, waiting for room in the queue: for deploy threads only
    /// (never from the connection's task).
    pub fn send_blocking(&self, frame: String) {
        let link = lock(&self.link).clone();
        if let Some(link) = link {
            let _ = link.blocking_send(Frame::Text(frame));
        }
    }

    /// Keeps a frame until it is acknowledged, and sends it.
    pub fn send_acknowledged(&self, seq: u64, frame: String) -> mpsc::Receiver<Answer> {
        let (answer, receiver) = mpsc::channel();
        lock(&self.outbox).insert(seq, Pending { frame: frame.clone(), answer });
        self.send_blocking(frame);
        receiver
    }

    /// The frames not yet acknowledged, oldest first (sent again on a new connection).
    pub fn unacknowledged(&self) -> Vec<String> {
        lock(&self.outbox).values().map(|p| p.frame.clone()).collect()
    }

    /// Sends a frame of the outbox again (its store failed the first time).
    pub fn resend(&self, seq: u64) {
        let frame = lock(&self.outbox).get(&seq).map(|p| p.frame.clone());
        if let Some(frame) = frame {
            self.send_blocking(frame);
        }
    }

    /// Drops a frame from the outbox (its sender gave up waiting).
    pub fn forget(&self, seq: u64) {
        lock(&self.outbox).remove(&seq);
    }

    pub fn acknowledge(&self, seq: u64, answer: Answer) {
        let mut outbox = lock(&self.outbox);
        let pending = if answer == Answer::Stored || answer == Answer::Fenced { outbox.remove(&seq) } else { None };
        match pending {
            Some(pending) => {
                let _ = pending.answer.send(answer);
            }
            None => {
                if let Some(pending) = outbox.get(&seq) {
                    let _ = pending.answer.send(answer);
                }
            }
        }
    }

    /// Asks for a file body; the answer comes on the receiver.
    pub fn request_file(&self, hash: &str, frame: String) -> mpsc::Receiver<Result<Vec<u8>, String>> {
        let (sender, receiver) = mpsc::channel();
        let first = {
            let mut files = lock(&self.files);
            let waiters = files.entry(hash.to_string()).or_default();
            waiters.push(sender);
            waiters.len() == 1
        };
        if first {
            self.send_blocking(frame);
        }
        receiver
    }

    /// The hashes of the files still asked for (asked again on a new connection).
    pub fn requested_files(&self) -> Vec<String> {
        lock(&self.files).keys().cloned().collect()
    }

    pub fn file_arrived(&self, hash: &str, body: Result<Vec<u8>, String>) {
        if let Some(waiters) = lock(&self.files).remove(hash) {
            for waiter in waiters {
                let _ = waiter.send(body.clone());
            }
        }
    }

    pub fn epoch(&self, agent: &str) -> Option<u64> {
        lock(&self.epochs).get(agent).copied()
    }

    /// This process is the primary of `agent` in term `epoch`: a deploy of another term
    /// stops.
    pub fn set_primary(&self, agent: &str, epoch: u64) {
        lock(&self.epochs).insert(agent.to_string(), epoch);
        if let Some(run) = lock(&self.runs).get(agent) {
            if run.epoch != epoch {
                run.cancel.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Another process is the primary of `agent` (or it is paused): its deploy stops.
    pub fn set_standby(&self, agent: &str) {
        lock(&self.epochs).remove(agent);
        self.cancel(Some(agent));
    }

    /// Stops the deploys of `agent` (or of every agent name): what is in flight finishes.
    pub fn cancel(&self, agent: Option<&str>) {
        for (name, run) in lock(&self.runs).iter() {
            if agent.is_none_or(|a| a == name) {
                run.cancel.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Forgets every term (the connection is gone: the next one says who is primary).
    pub fn forget_terms(&self) {
        lock(&self.epochs).clear();
    }

    /// Takes the deploy of `agent` out, cancelled: the next one waits for it to end.
    pub fn take_run(&self, agent: &str) -> Option<Run> {
        let previous = lock(&self.runs).remove(agent);
        if let Some(previous) = &previous {
            previous.cancel.store(true, Ordering::SeqCst);
        }
        previous
    }

    pub fn insert_run(&self, agent: &str, run: Run) {
        lock(&self.runs).insert(agent.to_string(), run);
    }

    /// Pushes dependency states to every running deploy (each ignores those it does not
    /// wait for).
    pub fn push_states(&self, states: &BTreeMap<ResourceId, ResourceState>) {
        for run in lock(&self.runs).values() {
            let _ = run.updates.send(states.clone());
        }
    }

    /// Whether any deploy thread still runs.
    pub fn running(&self) -> bool {
        lock(&self.runs).values().any(|run| !run.thread.is_finished())
    }

}
