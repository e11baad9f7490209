//! Embedded mode (`cairn deploy`): the orchestrator and one local agent in one process, on
//! the SQLite store under the project's `data/deploy`. The orchestrator's part is small here:
//! store the version, then let the agent's engine deploy it through a [`StorePort`], the
//! agent port implemented over the store.

use crate::store::{Store, StoreError};
use crate::SqliteStore;
use cairn_agent::{DeployOptions, DeployPort, HandlerRegistry, Io, PortError, Report};
use cairn_wire::{DeployResult, ResourceDoc, ResourceId, ResourceStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The agent port over a store, for one environment: what an in-process agent talks to.
/// Its calls block on the store's async calls, so the engine must run outside the runtime's
/// worker threads (on the caller's thread, as in embedded mode, or on the blocking pool).
pub struct StorePort {
    store: Arc<dyn Store>,
    environment: String,
    runtime: tokio::runtime::Handle,
}

impl StorePort {
    pub fn new(store: Arc<dyn Store>, environment: &str, runtime: tokio::runtime::Handle) -> Self {
        StorePort { store, environment: environment.to_string(), runtime }
    }
}

fn port_error(error: StoreError) -> PortError {
    PortError(error.to_string())
}

impl DeployPort for StorePort {
    fn statuses(&self, _resources: &[ResourceId]) -> Result<BTreeMap<ResourceId, ResourceStatus>, PortError> {
        self.runtime.block_on(self.store.resource_statuses(&self.environment)).map_err(port_error)
    }

    fn report(&self, results: &[DeployResult]) -> Result<(), PortError> {
        self.runtime.block_on(self.store.record(&self.environment, results)).map_err(port_error)
    }
}

/// Where `cairn deploy` keeps its state for a project.
pub fn store_path(project: &Path) -> PathBuf {
    project.join("data").join("deploy").join("state.db")
}

/// Why an embedded deploy could not run (a resource that fails is not an error: it is in
/// the report).
#[derive(Debug)]
pub enum EmbeddedError {
    Runtime(std::io::Error),
    Store(StoreError),
    Port(PortError),
}

impl std::fmt::Display for EmbeddedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbeddedError::Runtime(error) => write!(f, "cannot start the runtime: {error}"),
            EmbeddedError::Store(error) => write!(f, "{error}"),
            EmbeddedError::Port(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for EmbeddedError {}

/// The embedded orchestrator of one project: its store and the runtime that drives it.
pub struct Embedded {
    runtime: tokio::runtime::Runtime,
    store: Arc<SqliteStore>,
}

impl Embedded {
    /// Opens the project's store (creating it on first use).
    pub fn open(project: &Path) -> Result<Embedded, EmbeddedError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cairn-store")
            .build()
            .map_err(EmbeddedError::Runtime)?;
        let store = Arc::new(SqliteStore::open(&store_path(project)).map_err(EmbeddedError::Store)?);
        Ok(Embedded { runtime, store })
    }

    pub fn store(&self) -> Arc<SqliteStore> {
        Arc::clone(&self.store)
    }

    /// Stores `resources` as a new version of `environment`; returns its number.
    pub fn create_version(&self, environment: &str, resources: &[ResourceDoc]) -> Result<u64, EmbeddedError> {
        self.runtime.block_on(self.store.create_version(environment, resources)).map_err(EmbeddedError::Store)
    }

    /// Deploys version `version` with an in-process agent; `on_result` sees every resource as
    /// it finishes.
    #[allow(clippy::too_many_arguments)]
    pub fn deploy(
        &self,
        environment: &str,
        version: u64,
        resources: &[ResourceDoc],
        handlers: &HandlerRegistry,
        io: &dyn Io,
        options: &DeployOptions,
        on_result: &mut dyn FnMut(&DeployResult),
    ) -> Result<Report, EmbeddedError> {
        let port = StorePort::new(self.store.clone(), environment, self.runtime.handle().clone());
        cairn_agent::deploy(&port, version, resources, handlers, io, options, on_result).map_err(EmbeddedError::Port)
    }
}
