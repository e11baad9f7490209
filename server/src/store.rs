//! The `Store` trait: the orchestrator's only persistence interface. It is async, as the
//! HTTP API and the MongoDB driver are; the embedded SQLite backend runs its blocking calls
//! on tokio's blocking pool. Every backend passes the same conformance suite
//! ([`crate::conformance`]). A write returns only once the backend has it durably: an
//! acknowledged write survives a crash.

use async_trait::async_trait;
use cairn_wire::{DeployResult, ResourceDoc, ResourceId, ResourceStatus, VersionInfo};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
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

impl StoreError {
    /// The same error, naming where the store is (a file, a database address).
    pub fn at(self, place: &str) -> StoreError {
        match self {
            StoreError::Backend(message) => StoreError::Backend(format!("{place}: {message}")),
            StoreError::Corrupt(message) => StoreError::Corrupt(format!("{place}: {message}")),
            StoreError::NotFound(what) => StoreError::NotFound(what),
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Stores a new version of an environment's resources; returns its number (1, 2, ...).
    async fn create_version(&self, environment: &str, resources: &[ResourceDoc]) -> Result<u64, StoreError>;
    async fn latest_version(&self, environment: &str) -> Result<Option<u64>, StoreError>;
    /// Every version of the environment, newest first.
    async fn versions(&self, environment: &str) -> Result<Vec<VersionInfo>, StoreError>;
    /// Deletes all but the newest `keep` versions (at least one is always kept), and the
    /// resource documents only they used; returns how many versions went. Deploy states and
    /// action logs stay: they name versions by number only.
    async fn prune_versions(&self, environment: &str, keep: usize) -> Result<usize, StoreError>;
    async fn version_resources(&self, environment: &str, version: u64) -> Result<Vec<ResourceDoc>, StoreError>;
    /// The last known state of every resource of the environment, by id.
    async fn resource_statuses(&self, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, StoreError>;
    /// Marks `resources` as being deployed in `version` (state `deploying`, their deployed
    /// hash kept), in one durable write, before an agent applies anything.
    async fn mark_deploying(&self, environment: &str, version: u64, resources: &[ResourceId]) -> Result<(), StoreError>;
    /// Records deploy results (states, deployed hashes and action logs) atomically. A dry
    /// run's result is logged only: it changes no resource's state. Otherwise a result
    /// without a deployed hash clears the previous one.
    async fn record(&self, environment: &str, results: &[DeployResult]) -> Result<(), StoreError>;
    /// The action log of one resource, oldest first.
    async fn action_logs(&self, environment: &str, resource: &ResourceId) -> Result<Vec<DeployResult>, StoreError>;
}
