//! The sessions this server holds, in memory: for each, its environment, the agent names it
//! offers, where to send its frames, and per agent name it is the primary of, the term
//! (epoch), the work last sent and the other agents' resources that work waits for. The
//! store is the truth for leases and epochs; this is only what this server has told its
//! sessions, so that it tells each change once. A restarted server starts empty and its
//! agents say hello again.

use cairn_wire::{DeployResult, ResourceDoc, ResourceId, ResourceState};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Frames a session's writer sends. The queue is bounded: a session that does not read
/// what it is sent is closed rather than buffered without end.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
    /// Closes the session with this reason (a policy violation close frame).
    Close(String),
}

/// Frames queued for one session, at most.
pub const OUTGOING_QUEUE: usize = 256;

/// A session held by this server.
pub struct LocalSession {
    pub environment: String,
    /// The agent names it offers (less those it left).
    pub agents: BTreeSet<String>,
    pub host: String,
    pub pid: u32,
    pub last_heartbeat_ms: u64,
    pub out: mpsc::Sender<Outgoing>,
    /// Ends the session's loop (expired, or the server stops).
    pub close: Arc<Notify>,
    /// The agent names it is the primary of, as it was told.
    pub terms: BTreeMap<String, Term>,
    /// The agent names it was told to stand by for, and whether they were paused.
    pub standby: BTreeMap<String, bool>,
}

/// A primary's term as this server drives it.
pub struct Term {
    pub epoch: u64,
    /// The last work sent; `None` until the first.
    pub sent: Option<Dispatched>,
    /// Other agents' resources the work waits for, with the hash that counts as done.
    pub waiting: BTreeMap<ResourceId, String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dispatched {
    pub version: u64,
    /// The run request counters it answered.
    pub deploys: u64,
    pub repairs: u64,
    /// When the last repair run was sent (or the term's first work: repairs count from it).
    pub last_repair_ms: u64,
}

/// A version's resources by agent name, and each resource's desired hash: read once per
/// version, not once per session.
pub struct VersionIndex {
    pub by_agent: BTreeMap<String, Vec<ResourceDoc>>,
    pub hashes: HashMap<ResourceId, String>,
}

impl VersionIndex {
    pub fn new(resources: Vec<ResourceDoc>) -> VersionIndex {
        let hashes = resources.iter().map(|r| (r.id.clone(), r.hash.clone())).collect();
        let mut by_agent: BTreeMap<String, Vec<ResourceDoc>> = BTreeMap::new();
        for resource in resources {
            by_agent.entry(resource.agent.clone()).or_default().push(resource);
        }
        VersionIndex { by_agent, hashes }
    }
}

/// Versions kept in the cache, at most (the released one of each environment is what is
/// read; a few more cover releases in quick succession).
const CACHED_VERSIONS: usize = 8;

/// What this server knows of its sessions. Locked briefly, never across an await.
pub struct Hub {
    /// This server's id, recorded with each session it holds.
    pub server_id: String,
    /// A session silent for longer is ended; a lease lasts this long after the last
    /// heartbeat of its holder.
    pub timeout: Duration,
    /// How often leases are renewed and released versions, run requests and dependency
    /// states are looked at.
    pub tick: Duration,
    state: Mutex<HubState>,
    /// Wakes the coordinator early (a session came or went, a version was released, an
    /// agent paused, ...).
    pub kick: Notify,
    /// Set when the server stops.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
pub struct HubState {
    pub sessions: BTreeMap<String, LocalSession>,
    pub versions: BTreeMap<(String, u64), Arc<VersionIndex>>,
}

impl Hub {
    pub fn new(server_id: String, timeout: Duration) -> Hub {
        // Leases are renewed several times per timeout, never slower than once a second.
        let tick = (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        Hub { server_id, timeout, tick, state: Mutex::new(HubState::default()), kick: Notify::new(), stopping: tokio::sync::watch::channel(false).0 }
    }

    pub fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock leaves plain data; carry on with it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The environments this server holds sessions of.
    pub fn environments(&self) -> Vec<String> {
        let state = self.lock();
        let set: BTreeSet<&String> = state.sessions.values().map(|s| &s.environment).collect();
        set.into_iter().cloned().collect()
    }

    /// Ends every session (the server stops): their agents connect again, to this server
    /// once it is back or to another.
    pub fn close_all(&self) {
        let _ = self.stopping.send(true);
        for session in self.lock().sessions.values() {
            session.close.notify_one();
        }
    }

    /// A cached version index.
    pub fn version(&self, environment: &str, version: u64) -> Option<Arc<VersionIndex>> {
        self.lock().versions.get(&(environment.to_string(), version)).cloned()
    }

    pub fn cache_version(&self, environment: &str, version: u64, index: Arc<VersionIndex>) {
        let mut state = self.lock();
        state.versions.insert((environment.to_string(), version), index);
        while state.versions.len() > CACHED_VERSIONS {
            let Some(oldest) = state.versions.iter().min_by_key(|((_, v), _)| *v).map(|(k, _)| k.clone()) else { break };
            state.versions.remove(&oldest);
        }
    }

    /// Pushes the states that `observed` settle to the sessions whose work waits for them,
    /// one batch per session: done (`deployed` with the desired hash) or failed (a failure
    /// of that version). Anything else leaves the waiter waiting.
    pub fn publish(&self, environment: &str, observed: &[Observed<'_>]) {
        let mut state = self.lock();
        for session in state.sessions.values_mut().filter(|s| s.environment == environment) {
            let mut batch: BTreeMap<ResourceId, ResourceState> = BTreeMap::new();
            for term in session.terms.values_mut() {
                if term.waiting.is_empty() {
                    continue;
                }
                let version = term.sent.map(|d| d.version).unwrap_or(0);
                for seen in observed {
                    let Some(hash) = term.waiting.get(seen.resource) else { continue };
                    if let Some(state) = settled(seen.state, seen.deployed_hash, seen.version, hash, version) {
                        term.waiting.remove(seen.resource);
                        batch.insert(seen.resource.clone(), state);
                    }
                }
            }
            if !batch.is_empty() {
                let frame = cairn_wire::session::ServerMessage::DependencyStates { states: batch }.to_frame();
                send(session, Outgoing::Text(frame));
            }
        }
    }
}

/// A resource's state as a result reported it or the store has it.
pub struct Observed<'a> {
    pub resource: &'a ResourceId,
    pub state: ResourceState,
    pub deployed_hash: Option<&'a str>,
    /// The version it is of.
    pub version: u64,
}

impl<'a> Observed<'a> {
    pub fn of_result(result: &'a DeployResult) -> Observed<'a> {
        Observed { resource: &result.resource, state: result.state, deployed_hash: result.deployed_hash.as_deref(), version: result.version }
    }

    pub fn of_status(status: &'a cairn_wire::ResourceStatus) -> Observed<'a> {
        Observed { resource: &status.resource, state: status.state, deployed_hash: status.deployed_hash.as_deref(), version: status.version }
    }
}

/// Queues a frame for a session; a session whose queue is full is closed.
pub fn send(session: &LocalSession, frame: Outgoing) {
    if session.out.try_send(frame).is_err() {
        tracing::warn!(environment = %session.environment, host = %session.host, pid = session.pid, "an agent session reads too slowly: closing it");
        session.close.notify_one();
    }
}

/// What a dependency's state means to a resource that waits for it, in the work of
/// `version`: `Some(Deployed)` when its desired state (`hash`) is deployed, the failure
/// when it failed in that version, `None` (wait) otherwise.
pub fn settled(state: ResourceState, deployed_hash: Option<&str>, of_version: u64, hash: &str, version: u64) -> Option<ResourceState> {
    match state {
        ResourceState::Deployed if deployed_hash == Some(hash) => Some(ResourceState::Deployed),
        ResourceState::Failed | ResourceState::Skipped | ResourceState::Undefined | ResourceState::SkippedForUndefined if of_version >= version => {
            Some(state)
        }
        _ => None,
    }
}
