//! The embedded store: one SQLite file (WAL mode, full sync), for `cairn deploy` and
//! single-node use. The schema is versioned; migrations run in order when the file is opened
//! (`migrations.rs`). SQLite calls block, so each runs on tokio's blocking pool (one
//! connection, behind a mutex: SQLite serialises writers anyway). Every write that touches
//! several rows is one SQLite transaction. The queries live by concept: versions and their
//! documents (`versions.rs`), resource states and action logs (`states.rs`), file bodies
//! (`files.rs`), environments and tokens (`environments.rs`), facts and dry runs
//! (`reports.rs`), agent sessions, leases and fenced writes (`agents.rs`), the compile queue
//! (`compiles.rs`) and the event log (`events.rs`); this file opens
//! the store and maps the [`Store`] trait onto them.

mod agents;
mod compiles;
mod environments;
mod events;
mod files;
mod migrations;
mod reports;
mod states;
mod versions;

use crate::records::{AgentRecord, CompileRecord, CompileReport, DryRunRecord, EnvironmentRecord, Lease, PrimaryChange, RunRequests, SessionRecord, StatusFilter, TokenRecord, Trigger};
use crate::events::{Event, NewEvent};
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use cairn_wire::{DeployResult, ResourceDoc, ResourceId, ResourceState, ResourceStatus, VersionInfo};
use rusqlite::{Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub use crate::store::now_ms;

#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    /// The file, for messages (`:memory:` for a store in memory).
    label: Arc<str>,
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn corrupt_state(state: &str) -> StoreError {
    StoreError::Corrupt(format!("state `{state}`"))
}

fn corrupt_json(error: serde_json::Error) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

/// SQLite stores integers as i64: a number past that is refused rather than wrapped.
fn int(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} {value} is too large to store")))
}

/// Whether an error is a broken UNIQUE or PRIMARY KEY constraint.
fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

impl SqliteStore {
    /// Opens (creating if needed) the store file and brings its schema up to date. The file
    /// holds resource contents and diffs: it is created readable by its owner only (0600),
    /// as is its folder (0700); an existing file or folder with wider permissions is narrowed.
    /// A file that exists but is empty is refused: it is a store that was lost, and starting
    /// afresh in its place would make every resource look new.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let label: Arc<str> = Arc::from(path.display().to_string());
        let failed = |what: &str, e: std::io::Error| StoreError::Backend(format!("{label}: cannot {what}: {e}"));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", parent.display())))?;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| StoreError::Backend(format!("cannot restrict {}: {e}", parent.display())))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(metadata) if !metadata.file_type().is_file() => {
                return Err(StoreError::Backend(format!("{label} is not a regular file")));
            }
            Ok(metadata) if metadata.len() == 0 => {
                let folder = path.parent().map(|p| p.display().to_string()).unwrap_or_default();
                return Err(StoreError::Backend(format!(
                    "{label} is empty: the store was lost or truncated, and an empty store would make every resource look new; \
                     to start over, remove {folder}"
                )));
            }
            Ok(_) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| failed("restrict it", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| failed("create it", e))?;
            }
            Err(e) => return Err(failed("read it", e)),
        }
        let connection = Connection::open(path).map_err(|e| StoreError::Backend(format!("{label}: {e}")))?;
        Self::init(connection, label)
    }

    /// A store in memory (tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?, Arc::from(":memory:"))
    }

    fn init(connection: Connection, label: Arc<str>) -> Result<SqliteStore, StoreError> {
        Self::migrate(connection).map(|connection| SqliteStore { connection: Arc::new(Mutex::new(connection)), label: label.clone() }).map_err(|e| e.at(&label))
    }

    fn migrate(mut connection: Connection) -> Result<Connection, StoreError> {
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(backend)?;
        connection.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)").map_err(backend)?;
        let current: i64 = connection
            .query_row("SELECT version FROM schema_version", [], |row| row.get(0))
            .optional()
            .map_err(backend)?
            .unwrap_or(0);
        let known = migrations::MIGRATIONS.len();
        if current as usize > known {
            return Err(StoreError::Backend(format!("the store was written by a newer Cairn (schema {current}, this one knows {known})")));
        }
        let transaction = connection.transaction().map_err(backend)?;
        for (index, migration) in migrations::MIGRATIONS.iter().enumerate().skip(current as usize) {
            transaction.execute_batch(migration).map_err(backend)?;
            migrations::after(&transaction, index).map_err(backend)?;
            transaction.execute("DELETE FROM schema_version", []).map_err(backend)?;
            transaction.execute("INSERT INTO schema_version (version) VALUES (?1)", [index as i64 + 1]).map_err(backend)?;
        }
        transaction.commit().map_err(backend)?;
        Ok(connection)
    }

    /// Runs `work` on the connection, on the blocking pool.
    async fn with<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut guard = connection.lock().map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
            work(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
        .map_err(|e| e.at(&self.label))
    }

    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.with(|connection| connection.query_row("SELECT version FROM schema_version", [], |row| row.get(0)).map_err(backend)).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_version(&self, environment: &str, resources: &[ResourceDoc]) -> Result<u64, StoreError> {
        let environment = environment.to_string();
        // Serialised here; on the blocking pool's side only the inserts run.
        let prepared = versions::prepare(resources)?;
        self.with(move |c| versions::create(c, &environment, &prepared)).await
    }

    async fn latest_version(&self, environment: &str) -> Result<Option<u64>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| versions::latest(c, &environment)).await
    }

    async fn versions(&self, environment: &str) -> Result<Vec<VersionInfo>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| versions::list(c, &environment)).await
    }

    async fn prune_versions(&self, environment: &str, keep: usize) -> Result<usize, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| versions::prune(c, &environment, keep)).await
    }

    async fn version_resources(&self, environment: &str, version: u64) -> Result<Vec<ResourceDoc>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| versions::resources(c, &environment, version, None, None)).await
    }

    async fn resource_statuses(&self, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| states::all(c, &environment)).await
    }

    async fn mark_deploying(&self, environment: &str, version: u64, resources: &[ResourceId]) -> Result<(), StoreError> {
        if resources.is_empty() {
            return Ok(());
        }
        let environment = environment.to_string();
        let resources = resources.to_vec();
        self.with(move |c| states::mark_deploying(c, &environment, version, &resources)).await
    }

    async fn record(&self, environment: &str, results: &[DeployResult]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let environment = environment.to_string();
        let rows = states::prepare(results)?;
        self.with(move |c| states::record(c, &environment, &rows)).await
    }

    async fn missing_files(&self, hashes: &[String]) -> Result<Vec<String>, StoreError> {
        let hashes = hashes.to_vec();
        self.with(move |c| files::missing(c, hashes)).await
    }

    async fn put_files(&self, files: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        crate::store::check_file_hashes(files)?;
        if files.is_empty() {
            return Ok(());
        }
        let files = files.to_vec();
        self.with(move |c| files::put(c, &files)).await
    }

    async fn file(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let hash = hash.to_string();
        self.with(move |c| files::get(c, &hash)).await
    }

    async fn action_logs(&self, environment: &str, resource: &ResourceId) -> Result<Vec<DeployResult>, StoreError> {
        let environment = environment.to_string();
        let resource = resource.clone();
        self.with(move |c| states::logs(c, &environment, &resource)).await
    }

    async fn create_environment(&self, environment: &EnvironmentRecord) -> Result<(), StoreError> {
        let environment = environment.clone();
        self.with(move |c| environments::create(c, &environment)).await
    }

    async fn environments(&self) -> Result<Vec<EnvironmentRecord>, StoreError> {
        self.with(environments::list).await
    }

    async fn environment(&self, name: &str) -> Result<Option<EnvironmentRecord>, StoreError> {
        let name = name.to_string();
        self.with(move |c| environments::get(c, &name)).await
    }

    async fn set_environment_settings(&self, name: &str, settings: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> {
        let name = name.to_string();
        let settings = to_json(settings)?;
        self.with(move |c| environments::set_settings(c, &name, &settings)).await
    }

    async fn delete_environment(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.with(move |c| environments::delete(c, &name)).await
    }

    async fn release_version(&self, environment: &str, version: u64) -> Result<(), StoreError> {
        let environment = environment.to_string();
        self.with(move |c| versions::release(c, &environment, version)).await
    }

    async fn released_version(&self, environment: &str) -> Result<Option<u64>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| versions::released(c, &environment)).await
    }

    async fn delete_version(&self, environment: &str, version: u64) -> Result<bool, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| versions::delete(c, &environment, version)).await
    }

    async fn version_resources_page(
        &self,
        environment: &str,
        version: u64,
        after: Option<&ResourceId>,
        limit: usize,
    ) -> Result<Vec<ResourceDoc>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let environment = environment.to_string();
        let after = after.map(|a| a.0.clone());
        self.with(move |c| versions::resources(c, &environment, version, after.as_deref(), Some(limit))).await
    }

    async fn version_resource(&self, environment: &str, version: u64, resource: &ResourceId) -> Result<Option<ResourceDoc>, StoreError> {
        let environment = environment.to_string();
        let resource = resource.0.clone();
        self.with(move |c| versions::resource(c, &environment, version, &resource)).await
    }

    async fn resource_statuses_page(
        &self,
        environment: &str,
        filter: &StatusFilter,
        after: Option<&ResourceId>,
        limit: usize,
    ) -> Result<Vec<ResourceStatus>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let environment = environment.to_string();
        let filter = filter.clone();
        let after = after.map(|a| a.0.clone());
        self.with(move |c| states::page(c, &environment, &filter, after.as_deref(), limit)).await
    }

    async fn resource_status(&self, environment: &str, resource: &ResourceId) -> Result<Option<ResourceStatus>, StoreError> {
        let environment = environment.to_string();
        let resource = resource.clone();
        self.with(move |c| states::one(c, &environment, &resource)).await
    }

    async fn count_by_state(&self, environment: &str) -> Result<BTreeMap<ResourceState, u64>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| states::count_by_state(c, &environment)).await
    }

    async fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let token = token.clone();
        self.with(move |c| environments::create_token(c, &token)).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let hash = hash.to_string();
        self.with(move |c| environments::token_by_hash(c, &hash)).await
    }

    async fn set_facts(&self, environment: &str, resource: &ResourceId, facts: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> {
        if facts.is_empty() {
            return Ok(());
        }
        let environment = environment.to_string();
        let resource = resource.clone();
        let facts: Vec<(String, String)> = facts.iter().map(|(k, v)| to_json(v).map(|v| (k.clone(), v))).collect::<Result<_, _>>()?;
        self.with(move |c| reports::set_facts(c, &environment, &resource, &facts)).await
    }

    async fn facts(&self, environment: &str) -> Result<BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| reports::facts(c, &environment)).await
    }

    async fn create_dryrun(&self, environment: &str, dryrun: &DryRunRecord) -> Result<(), StoreError> {
        let environment = environment.to_string();
        let dryrun = dryrun.clone();
        self.with(move |c| reports::create_dryrun(c, &environment, &dryrun)).await
    }

    async fn dryruns(&self, environment: &str) -> Result<Vec<DryRunRecord>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| reports::dryruns(c, &environment, None)).await
    }

    async fn dryrun(&self, environment: &str, id: &str) -> Result<Option<DryRunRecord>, StoreError> {
        let environment = environment.to_string();
        let id = id.to_string();
        self.with(move |c| Ok(reports::dryruns(c, &environment, Some(&id))?.pop())).await
    }

    async fn add_dryrun_results(&self, environment: &str, id: &str, results: &[DeployResult]) -> Result<(), StoreError> {
        let environment = environment.to_string();
        let id = id.to_string();
        let results = results.to_vec();
        self.with(move |c| reports::add_dryrun_results(c, &environment, &id, &results)).await
    }

    async fn register_session(&self, environment: &str, session: &SessionRecord) -> Result<(), StoreError> {
        let environment = environment.to_string();
        let session = session.clone();
        self.with(move |c| agents::register(c, &environment, &session)).await
    }

    async fn heartbeat(&self, environment: &str, session_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        let (environment, session) = (environment.to_string(), session_id.to_string());
        self.with(move |c| agents::heartbeat(c, &environment, &session, now_ms)).await
    }

    async fn end_session(&self, environment: &str, session_id: &str) -> Result<bool, StoreError> {
        let (environment, session) = (environment.to_string(), session_id.to_string());
        self.with(move |c| agents::end(c, &environment, &session)).await
    }

    async fn expire_sessions(&self, environment: &str, before_ms: u64) -> Result<Vec<String>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| agents::expire(c, &environment, before_ms)).await
    }

    async fn sessions(&self, environment: &str, live_since_ms: Option<u64>) -> Result<Vec<SessionRecord>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| agents::sessions(c, &environment, live_since_ms)).await
    }

    async fn acquire_lease(
        &self,
        environment: &str,
        agent: &str,
        session_id: &str,
        now_ms: u64,
        ttl_ms: u64,
        takeover: bool,
    ) -> Result<Option<Lease>, StoreError> {
        let (environment, agent, session) = (environment.to_string(), agent.to_string(), session_id.to_string());
        self.with(move |c| agents::acquire(c, &environment, &agent, &session, now_ms, ttl_ms, takeover)).await
    }

    async fn release_lease(&self, environment: &str, agent: &str, session_id: &str) -> Result<bool, StoreError> {
        let (environment, agent, session) = (environment.to_string(), agent.to_string(), session_id.to_string());
        self.with(move |c| agents::release(c, &environment, &agent, &session)).await
    }

    async fn set_agent_paused(&self, environment: &str, agent: &str, paused: bool) -> Result<(), StoreError> {
        let (environment, agent) = (environment.to_string(), agent.to_string());
        self.with(move |c| agents::set_paused(c, &environment, &agent, paused)).await
    }

    async fn set_preferred(&self, environment: &str, agent: &str, session_id: Option<&str>) -> Result<(), StoreError> {
        let (environment, agent, session) = (environment.to_string(), agent.to_string(), session_id.map(str::to_string));
        self.with(move |c| agents::set_preferred(c, &environment, &agent, session.as_deref())).await
    }

    async fn agents(&self, environment: &str) -> Result<Vec<AgentRecord>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| agents::agents(c, &environment)).await
    }

    async fn request_run(&self, environment: &str, repair: bool) -> Result<RunRequests, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| agents::request_run(c, &environment, repair)).await
    }

    async fn run_requests(&self, environment: &str) -> Result<RunRequests, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| agents::run_requests(c, &environment)).await
    }

    async fn request_compile(&self, environment: &str, new_id: &str, trigger: &Trigger) -> Result<CompileRecord, StoreError> {
        let (environment, new_id, trigger) = (environment.to_string(), new_id.to_string(), trigger.clone());
        self.with(move |c| compiles::request(c, &environment, &new_id, &trigger)).await
    }

    async fn claim_compile(&self, server: &str, now_ms: u64, ttl_ms: u64) -> Result<Option<CompileRecord>, StoreError> {
        let server = server.to_string();
        self.with(move |c| compiles::claim(c, &server, now_ms, ttl_ms)).await
    }

    async fn renew_compile(&self, environment: &str, id: &str, server: &str, until_ms: u64) -> Result<bool, StoreError> {
        let (environment, id, server) = (environment.to_string(), id.to_string(), server.to_string());
        self.with(move |c| compiles::renew(c, &environment, &id, &server, until_ms)).await
    }

    async fn finish_compile(&self, environment: &str, id: &str, server: &str, now_ms: u64, report: &CompileReport) -> Result<bool, StoreError> {
        let (environment, id, server, report) = (environment.to_string(), id.to_string(), server.to_string(), report.clone());
        self.with(move |c| compiles::finish(c, &environment, &id, &server, now_ms, &report)).await
    }

    async fn compiles(&self, environment: &str, limit: usize) -> Result<Vec<CompileRecord>, StoreError> {
        let environment = environment.to_string();
        self.with(move |c| compiles::list(c, &environment, limit)).await
    }

    async fn compile(&self, environment: &str, id: &str) -> Result<Option<CompileRecord>, StoreError> {
        let (environment, id) = (environment.to_string(), id.to_string());
        self.with(move |c| compiles::get(c, &environment, &id)).await
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<u64, StoreError> {
        let events = events.to_vec();
        self.with(move |c| events::append(c, &events)).await
    }

    async fn events(&self, after: u64, environment: Option<&str>, limit: usize) -> Result<Vec<Event>, StoreError> {
        let environment = environment.map(str::to_string);
        self.with(move |c| events::after(c, after, environment.as_deref(), limit)).await
    }

    async fn event_bounds(&self) -> Result<(Option<u64>, u64), StoreError> {
        self.with(|c| events::bounds(c)).await
    }

    async fn prune_events(&self, before_ms: u64) -> Result<u64, StoreError> {
        self.with(move |c| events::prune(c, before_ms)).await
    }

    /// One process uses the file, but the events this store writes in transactions of its
    /// own (a change of primary) reach no caller: the last id is read every
    /// [`events::FEED_INTERVAL`] (one indexed read on the store's connection).
    async fn follow_events(&self, latest: &tokio::sync::watch::Sender<u64>) -> Result<bool, StoreError> {
        loop {
            let last = self.with(|c| events::last_given(c)).await?;
            latest.send_if_modified(|known| if last > *known { *known = last; true } else { false });
            tokio::time::sleep(events::FEED_INTERVAL).await;
        }
    }

    async fn primary_changes(&self, environment: &str, agent: Option<&str>, limit: usize) -> Result<Vec<PrimaryChange>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (environment, agent) = (environment.to_string(), agent.map(str::to_string));
        self.with(move |c| agents::changes(c, &environment, agent.as_deref(), limit)).await
    }

    async fn record_fenced(&self, environment: &str, agent: &str, epoch: u64, results: &[DeployResult]) -> Result<(), StoreError> {
        crate::store::check_agent(agent, results.iter().map(|r| &r.resource))?;
        let (environment, agent) = (environment.to_string(), agent.to_string());
        let rows = states::prepare(results)?;
        self.with(move |c| agents::record_fenced(c, &environment, &agent, epoch, &rows)).await
    }

    async fn mark_deploying_fenced(
        &self,
        environment: &str,
        agent: &str,
        epoch: u64,
        version: u64,
        resources: &[ResourceId],
    ) -> Result<(), StoreError> {
        crate::store::check_agent(agent, resources)?;
        let (environment, agent) = (environment.to_string(), agent.to_string());
        let resources = resources.to_vec();
        self.with(move |c| agents::mark_deploying_fenced(c, &environment, &agent, epoch, version, &resources)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conformance suite covers the behaviour; this checks what only SQLite has: the
    /// schema is versioned and survives reopening.
    #[test]
    fn data_survives_reopening_and_schema_is_versioned() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let dir = std::env::temp_dir().join(format!("cairn-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("state.db");
        runtime.block_on(async {
            {
                let store = SqliteStore::open(&path).expect("opens");
                store.create_version("env", &[]).await.expect("create");
            }
            let store = SqliteStore::open(&path).expect("reopens");
            assert_eq!(store.schema_version().await.expect("schema"), migrations::MIGRATIONS.len() as u32);
            assert_eq!(store.latest_version("env").await.expect("latest"), Some(1));
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
