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
    /// File bodies of a version that is not stored (a dry run stores nothing, yet its
    /// handlers compare the files' content): read before the store.
    unstored_files: BTreeMap<String, Vec<u8>>,
}

impl StorePort {
    pub fn new(store: Arc<dyn Store>, environment: &str, runtime: tokio::runtime::Handle) -> Self {
        StorePort { store, environment: environment.to_string(), runtime, unstored_files: BTreeMap::new() }
    }

    /// The port of a dry run: `files` are read from memory, never stored.
    pub fn with_unstored_files(mut self, files: BTreeMap<String, Vec<u8>>) -> Self {
        self.unstored_files = files;
        self
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

    fn file(&self, hash: &str) -> Result<Vec<u8>, PortError> {
        if let Some(body) = self.unstored_files.get(hash) {
            return Ok(body.clone());
        }
        match self.runtime.block_on(self.store.file(hash)) {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err(PortError(format!("the file store has no file with hash {hash}"))),
            Err(error) => Err(port_error(error)),
        }
    }

    fn report(&self, results: &[DeployResult]) -> Result<(), PortError> {
        self.runtime.block_on(self.store.record(&self.environment, results)).map_err(port_error)
    }

    fn facts(&self, facts: &BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>) -> Result<(), PortError> {
        for (resource, values) in facts {
            self.runtime.block_on(self.store.set_facts(&self.environment, resource, values)).map_err(port_error)?;
        }
        Ok(())
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
    /// A command that reads the store found none: no deploy ran yet.
    NoStore(PathBuf),
}

impl std::fmt::Display for EmbeddedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbeddedError::Runtime(error) => write!(f, "cannot start the runtime: {error}"),
            EmbeddedError::Store(error) => write!(f, "{error}"),
            EmbeddedError::Port(error) => write!(f, "{error}"),
            EmbeddedError::Lock(message) => f.write_str(message),
            EmbeddedError::NoStore(path) => write!(f, "no deploy has run here yet ({} does not exist)", path.display()),
        }
    }
}

impl std::error::Error for EmbeddedError {}

/// The embedded orchestrator of one project: its store and the runtime that drives it.
pub struct Embedded {
    runtime: tokio::runtime::Runtime,
    store: Arc<SqliteStore>,
}

/// How an embedded deploy runs.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    pub deploy: DeployOptions,
    /// Versions kept in the store; older ones are pruned after a new one is stored.
    pub keep_versions: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions { deploy: DeployOptions { check_all: true, ..DeployOptions::default() }, keep_versions: DEFAULT_KEEP_VERSIONS }
    }
}

/// Versions an embedded store keeps by default.
pub const DEFAULT_KEEP_VERSIONS: usize = 10;

/// A resource of an earlier version that the model no longer has.
#[derive(Clone, Debug, PartialEq)]
pub struct Orphan {
    pub resource: ResourceId,
    /// It had `purge_on_delete = true`: it was removed (its purge is in the report).
    pub purged: bool,
}

/// What an embedded deploy did.
#[derive(Debug)]
pub struct Deployed {
    pub version: u64,
    /// The version was stored by this deploy; `false` when the model asked for nothing new
    /// (the latest version is deployed again), and for dry runs, which store nothing.
    pub stored: bool,
    pub report: Report,
    pub orphans: Vec<Orphan>,
    /// Versions pruned after storing this one.
    pub pruned: usize,
}

fn block<T>(runtime: &tokio::runtime::Runtime, future: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, EmbeddedError> {
    runtime.block_on(future).map_err(EmbeddedError::Store)
}

impl Embedded {
    /// Opens the project's store (creating it on first use).
    pub fn open(project: &Path) -> Result<Embedded, EmbeddedError> {
        let store = SqliteStore::open(&store_path(project)).map_err(EmbeddedError::Store)?;
        Self::with_store(store)
    }

    /// Opens the project's store only if a deploy made one (for commands that only read).
    pub fn open_existing(project: &Path) -> Result<Embedded, EmbeddedError> {
        let path = store_path(project);
        if !path.exists() {
            return Err(EmbeddedError::NoStore(path));
        }
        Self::open(project)
    }

    fn with_store(store: SqliteStore) -> Result<Embedded, EmbeddedError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cairn-store")
            .build()
            .map_err(EmbeddedError::Runtime)?;
        Ok(Embedded { runtime, store: Arc::new(store) })
    }

    pub fn store(&self) -> Arc<SqliteStore> {
        Arc::clone(&self.store)
    }

    /// Runs `query` against the store (for the commands that read it).
    pub fn read<T>(&self, query: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, EmbeddedError> {
        block(&self.runtime, query)
    }

    /// Stores `resources` as a version of `environment` unless the latest version asks for the
    /// same (and the file bodies they name, `files` by hash, that the store lacks), deploys it with an in-process agent, and reports orphans: resources an earlier
    /// version had and this one has not (removed when they had `purge_on_delete`, left in
    /// place otherwise). `on_result` sees every resource as it finishes.
    pub fn deploy(
        &self,
        environment: &str,
        resources: &[ResourceDoc],
        files: &BTreeMap<String, Vec<u8>>,
        handlers: &HandlerRegistry,
        io: &dyn Io,
        options: &EmbeddedOptions,
        on_result: &mut dyn FnMut(&DeployResult),
    ) -> Result<Deployed, EmbeddedError> {
        let dry_run = options.deploy.dry_run;
        let mut port = StorePort::new(self.store.clone(), environment, self.runtime.handle().clone());
        if dry_run {
            port = port.with_unstored_files(files.clone());
        } else {
            // Bodies before the version that names them: a version is never stored whose
            // files the store lacks.
            let hashes: Vec<String> = files.keys().cloned().collect();
            let missing = block(&self.runtime, self.store.missing_files(&hashes))?;
            for batch in missing.chunks(256) {
                let bodies: Vec<(String, Vec<u8>)> = batch.iter().filter_map(|hash| files.get(hash).map(|body| (hash.clone(), body.clone()))).collect();
                block(&self.runtime, self.store.put_files(&bodies))?;
            }
        }
        let latest = block(&self.runtime, self.store.versions(environment))?.into_iter().next();
        let digest = cairn_wire::version_digest(resources);
        let (version, stored) = match &latest {
            Some(latest) if latest.digest == digest => (latest.version, false),
            // A dry run stores nothing: it shows the version the next deploy would store.
            _ if dry_run => (latest.as_ref().map(|l| l.version).unwrap_or(0) + 1, false),
            _ => (block(&self.runtime, self.store.create_version(environment, resources))?, true),
        };
        let orphans = self.orphans(environment, resources)?;
        let mut to_deploy = resources.to_vec();
        to_deploy.extend(orphans.iter().filter_map(|(_, purge)| purge.clone()));
        let report =
            cairn_agent::deploy(&port, version, &to_deploy, handlers, io, &options.deploy, on_result).map_err(EmbeddedError::Port)?;
        let orphans: Vec<Orphan> = orphans.into_iter().map(|(resource, document)| Orphan { resource, purged: document.is_some() }).collect();
        if !dry_run && !orphans.is_empty() {
            let now = crate::sqlite::now_ms();
            let records: Vec<DeployResult> = orphans
                .iter()
                .map(|orphan| DeployResult {
                    resource: orphan.resource.clone(),
                    version,
                    action: cairn_wire::Action::Deploy,
                    state: cairn_wire::ResourceState::Orphaned,
                    changed: false,
                    changes: Vec::new(),
                    message: if orphan.purged {
                        "no longer in the model: removed (purge_on_delete)".into()
                    } else {
                        "no longer in the model: left in place".into()
                    },
                    deployed_hash: None,
                    diff: None,
                    time_ms: now,
                })
                .collect();
            block(&self.runtime, self.store.record(environment, &records))?;
        }
        let pruned = if stored { block(&self.runtime, self.store.prune_versions(environment, options.keep_versions))? } else { 0 };
        Ok(Deployed { version, stored, report, orphans, pruned })
    }

    /// Resources the store knows and `resources` lacks (not yet reported as orphans), each
    /// with the purge document to deploy when its last version had `purge_on_delete`.
    fn orphans(&self, environment: &str, resources: &[ResourceDoc]) -> Result<Vec<(ResourceId, Option<ResourceDoc>)>, EmbeddedError> {
        let statuses = block(&self.runtime, self.store.resource_statuses(environment))?;
        let present: std::collections::HashSet<&ResourceId> = resources.iter().map(|r| &r.id).collect();
        let gone: Vec<(ResourceId, u64)> = statuses
            .into_values()
            .filter(|s| s.state != cairn_wire::ResourceState::Orphaned && !present.contains(&s.resource))
            .map(|s| (s.resource, s.version))
            .collect();
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        // The documents of the versions the orphans were last deployed in (or the oldest
        // version kept, when that one was pruned).
        let kept: Vec<u64> = block(&self.runtime, self.store.versions(environment))?.iter().map(|v| v.version).collect();
        let mut documents: BTreeMap<ResourceId, ResourceDoc> = BTreeMap::new();
        let mut wanted: Vec<u64> = gone.iter().map(|(_, v)| *v).collect();
        wanted.sort_unstable();
        wanted.dedup();
        for version in wanted {
            let Some(&kept_version) = kept.iter().filter(|k| **k <= version).max().or(kept.iter().min()) else { continue };
            for document in block(&self.runtime, self.store.version_resources(environment, kept_version))? {
                documents.entry(document.id.clone()).or_insert(document);
            }
        }
        Ok(gone
            .into_iter()
            .map(|(resource, _)| {
                let purge = documents.get(&resource).and_then(ResourceDoc::purge_on_delete);
                (resource, purge)
            })
            .collect())
    }
}
