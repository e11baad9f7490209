//! The agent's port: the two things the deploy engine needs from the orchestrator, and
//! nothing more. It reads the last known state of resources (to compute the increment) and
//! reports results (states, deployed hashes and action logs). The server implements it over
//! its store for the embedded mode and over an agent session for remote agents; the agent
//! itself never sees a store, so it depends on `wire` only.

use cairn_wire::{DeployResult, ResourceId, ResourceStatus};
use std::collections::BTreeMap;
use std::fmt;

/// The orchestrator could not answer or keep a report.
#[derive(Clone, Debug, PartialEq)]
pub struct PortError(pub String);

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PortError {}

pub trait DeployPort: Send + Sync {
    /// The last known state of `resources` (those the port knows nothing of are absent). A
    /// port may return more than asked for; the engine looks up by id.
    fn statuses(&self, resources: &[ResourceId]) -> Result<BTreeMap<ResourceId, ResourceStatus>, PortError>;

    /// Records, durably and before anything is applied, that `resources` are being deployed
    /// as part of `version`: should the agent die half-way, what it may have changed is known
    /// as `deploying` (not as the last deployed state), and the next deploy reads and compares
    /// it instead of trusting the store.
    fn intend(&self, version: u64, resources: &[ResourceId]) -> Result<(), PortError>;

    /// The body of a file of the version by the hex SHA-1 of its content (the `hash` field of
    /// file resources): the orchestrator's file store.
    fn file(&self, hash: &str) -> Result<Vec<u8>, PortError>;

    /// Keeps `results` durably: returns only once the orchestrator has them, so that an
    /// acknowledged result survives a crash of either side.
    fn report(&self, results: &[DeployResult]) -> Result<(), PortError>;

    /// Values the handlers read from the world after deploying (a zone's serial), fed back to
    /// the compiler. Facts are not deploy results: a port may keep them best effort.
    fn facts(&self, facts: &BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>) -> Result<(), PortError> {
        let _ = facts;
        Ok(())
    }
}

/// A port that keeps everything in memory: for agents that deploy without an orchestrator
/// (tests, one-off runs), and as the reference behaviour of a port.
#[derive(Default)]
pub struct MemoryPort {
    state: std::sync::Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    statuses: BTreeMap<ResourceId, ResourceStatus>,
    log: Vec<DeployResult>,
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryPort {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file body (keyed by its SHA-1).
    pub fn add_file(&self, content: &[u8]) -> String {
        let hash = cairn_wire::digest::sha1_hex(content);
        if let Ok(mut state) = self.state.lock() {
            state.files.insert(hash.clone(), content.to_vec());
        }
        hash
    }

    /// Every result reported so far, oldest first.
    pub fn log(&self) -> Vec<DeployResult> {
        self.state.lock().map(|s| s.log.clone()).unwrap_or_default()
    }
}

impl DeployPort for MemoryPort {
    fn statuses(&self, _resources: &[ResourceId]) -> Result<BTreeMap<ResourceId, ResourceStatus>, PortError> {
        let state = self.state.lock().map_err(|_| PortError("memory port poisoned".into()))?;
        Ok(state.statuses.clone())
    }

    fn file(&self, hash: &str) -> Result<Vec<u8>, PortError> {
        let state = self.state.lock().map_err(|_| PortError("memory port poisoned".into()))?;
        state.files.get(hash).cloned().ok_or_else(|| PortError(format!("no file with hash {hash}")))
    }

    fn intend(&self, version: u64, resources: &[ResourceId]) -> Result<(), PortError> {
        let mut state = self.state.lock().map_err(|_| PortError("memory port poisoned".into()))?;
        for resource in resources {
            let deployed_hash = state.statuses.get(resource).and_then(|s| s.deployed_hash.clone());
            state.statuses.insert(
                resource.clone(),
                ResourceStatus { resource: resource.clone(), state: cairn_wire::ResourceState::Deploying, deployed_hash, version },
            );
        }
        Ok(())
    }

    fn report(&self, results: &[DeployResult]) -> Result<(), PortError> {
        let mut state = self.state.lock().map_err(|_| PortError("memory port poisoned".into()))?;
        for result in results {
            state.log.push(result.clone());
            // A dry run looks; it changes no resource's state.
            if result.state == cairn_wire::ResourceState::Dry {
                continue;
            }
            let previous = state.statuses.get(&result.resource).and_then(|s| s.deployed_hash.clone());
            let keeps = result.state == cairn_wire::ResourceState::Deploying;
            let deployed_hash = result.deployed_hash.clone().or(if keeps { previous } else { None });
            state.statuses.insert(
                result.resource.clone(),
                ResourceStatus { resource: result.resource.clone(), state: result.state, deployed_hash, version: result.version },
            );
        }
        Ok(())
    }
}
