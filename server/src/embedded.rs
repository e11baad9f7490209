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

    fn intend(&self, version: u64, resources: &[ResourceId]) -> Result<(), PortError> {
        self.runtime.block_on(self.store.mark_deploying(&self.environment, version, resources)).map_err(port_error)
    }

    fn report(&self, results: &[DeployResult]) -> Result<(), PortError> {
        self.runtime.block_on(self.store.record(&self.environment, results)).map_err(port_error)
    }
}

/// Where `cairn deploy` keeps its state for a project.
pub fn store_path(project: &Path) -> PathBuf {
    project.join("data").join("deploy").join("state.db")
}

/// The lock on a project's embedded state: one `cairn deploy` of a project at a time. It is
/// held (an exclusive `flock` on `data/deploy/lock`) from before the compile to the end of
/// the deploy, and released when dropped or when the process dies, however it dies.
pub struct ProjectLock {
    _file: std::fs::File,
}

impl ProjectLock {
    /// Takes the lock, or says who holds it.
    pub fn take(project: &Path) -> Result<ProjectLock, EmbeddedError> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let folder = store_path(project).parent().map(Path::to_path_buf).unwrap_or_else(|| project.to_path_buf());
        let failed = |what: String, e: std::io::Error| EmbeddedError::Lock(format!("{what}: {e}"));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&folder).map_err(|e| failed(format!("cannot create {}", folder.display()), e))?;
        let path = folder.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| failed(format!("cannot open {}", path.display()), e))?;
        if let Err(error) = rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { "another process".to_string() } else { holder.to_string() };
            return Err(EmbeddedError::Lock(if error == rustix::io::Errno::WOULDBLOCK {
                format!("{} is busy: {holder} holds its lock ({}); wait for it to finish", project.display(), path.display())
            } else {
                format!("cannot lock {}: {error}", path.display())
            }));
        }
        // Who holds it, for the next one to be told.
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "cairn deploy (pid {}, started at {started} s since the epoch)", std::process::id());
        Ok(ProjectLock { _file: file })
    }
}

/// Why an embedded deploy could not run (a resource that fails is not an error: it is in
/// the report).
#[derive(Debug)]
pub enum EmbeddedError {
    Runtime(std::io::Error),
    Store(StoreError),
    Port(PortError),
    /// The project's state is locked by another deploy, or cannot be locked.
    Lock(String),
}

impl std::fmt::Display for EmbeddedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbeddedError::Runtime(error) => write!(f, "cannot start the runtime: {error}"),
            EmbeddedError::Store(error) => write!(f, "{error}"),
            EmbeddedError::Port(error) => write!(f, "{error}"),
            EmbeddedError::Lock(message) => f.write_str(message),
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
