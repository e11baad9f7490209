//! The `Store` trait: the orchestrator's only persistence interface. Every backend passes
//! the same conformance tests. A write returns only once the backend has it durably: an
//! acknowledged write survives a crash.

use cairn_wire::{ActionLog, Change, ResourceDoc, ResourceId, ResourceState};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug)]
pub enum StoreError {
    /// The backend failed (I/O, corruption, ...): the message says how.
    Backend(String),
    /// A stored document could not be read back.
    Corrupt(String),
    NotFound(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Backend(message) => write!(f, "store error: {message}"),
            StoreError::Corrupt(message) => write!(f, "corrupt store record: {message}"),
            StoreError::NotFound(what) => write!(f, "not found: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The outcome of deploying one resource, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct DeployRecord {
    pub resource: ResourceId,
    pub version: u64,
    pub state: ResourceState,
    /// The desired-state hash that is now true on the target, when the deploy succeeded.
    pub deployed_hash: Option<String>,
    pub action: String,
    pub changes: Vec<Change>,
    pub message: String,
    pub time_ms: u64,
}

/// The last known state of a resource.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceStatus {
    pub resource: ResourceId,
    pub state: ResourceState,
    pub deployed_hash: Option<String>,
    pub version: u64,
}

pub trait Store: Send + Sync {
    /// Stores a new version of an environment's resources; returns its number (1, 2, ...).
    fn create_version(&self, environment: &str, resources: &[ResourceDoc]) -> Result<u64, StoreError>;
    fn latest_version(&self, environment: &str) -> Result<Option<u64>, StoreError>;
    fn version_resources(&self, environment: &str, version: u64) -> Result<Vec<ResourceDoc>, StoreError>;
    /// The last known state of every resource of the environment, by id.
    fn resource_statuses(&self, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, StoreError>;
    /// Records outcomes (states, deployed hashes and action logs) atomically.
    fn record(&self, environment: &str, records: &[DeployRecord]) -> Result<(), StoreError>;
    /// The action log of one resource, oldest first.
    fn action_logs(&self, environment: &str, resource: &ResourceId) -> Result<Vec<ActionLog>, StoreError>;
}
