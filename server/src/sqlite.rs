//! The embedded store: one SQLite file (WAL mode, full sync), for `cairn deploy` and
//! single-node use. The schema is versioned; migrations run in order when the file is opened.
//! SQLite calls block, so each runs on tokio's blocking pool (one connection, behind a
//! mutex: SQLite serialises writers anyway).

use crate::store::{Store, StoreError};
use async_trait::async_trait;
use cairn_wire::{Action, DeployResult, ResourceDoc, ResourceId, ResourceState, ResourceStatus, VersionInfo};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Schema migrations, applied in order; the index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE versions (
        environment TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        resource_count INTEGER NOT NULL,
        PRIMARY KEY (environment, version)
    );
    CREATE TABLE version_resources (
        environment TEXT NOT NULL,
        version INTEGER NOT NULL,
        resource_id TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (environment, version, resource_id)
    );
    CREATE TABLE resource_state (
        environment TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        state TEXT NOT NULL,
        deployed_hash TEXT,
        version INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (environment, resource_id)
    );
    CREATE TABLE action_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        environment TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        action TEXT NOT NULL,
        state TEXT NOT NULL,
        changes TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX action_log_resource ON action_log (environment, resource_id, id);",
    // One record for a deploy result: the log keeps whether something changed, the hash
    // that the deploy made true and the changes for a person to read.
    "ALTER TABLE action_log ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE action_log ADD COLUMN deployed_hash TEXT;
    ALTER TABLE action_log ADD COLUMN diff TEXT;",
    // A version's resources by desired-state hash, each document kept once however many
    // versions use it; a digest of each version, to store no version that asks for nothing new.
    "ALTER TABLE versions ADD COLUMN digest TEXT NOT NULL DEFAULT '';
    CREATE TABLE documents (
        environment TEXT NOT NULL,
        hash TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (environment, hash)
    );
    CREATE TABLE version_members (
        environment TEXT NOT NULL,
        version INTEGER NOT NULL,
        resource_id TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (environment, version, resource_id)
    );
    INSERT OR IGNORE INTO documents (environment, hash, document)
        SELECT environment, json_extract(document, '$.hash'), document FROM version_resources;
    INSERT INTO version_members (environment, version, resource_id, hash)
        SELECT environment, version, resource_id, json_extract(document, '$.hash') FROM version_resources;
    DROP TABLE version_resources;",
    // The file store: bodies by the SHA-1 of their content, each kept once.
    "CREATE TABLE files (hash TEXT PRIMARY KEY, content BLOB NOT NULL);",
];

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
        if current as usize > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "the store was written by a newer Cairn (schema {current}, this one knows {})",
                MIGRATIONS.len()
            )));
        }
        let transaction = connection.transaction().map_err(backend)?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            transaction.execute_batch(migration).map_err(backend)?;
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
        let digest = cairn_wire::version_digest(resources);
        // Serialised here; on the blocking pool's side only the inserts run.
        let documents: Vec<(String, String, String)> = resources
            .iter()
            .map(|r| serde_json::to_string(r).map(|d| (r.id.0.clone(), r.hash.clone(), d)))
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        self.with(move |connection| {
            let transaction = connection.transaction().map_err(backend)?;
            let latest: Option<i64> = transaction
                .query_row("SELECT MAX(version) FROM versions WHERE environment = ?1", [&environment], |row| row.get(0))
                .map_err(backend)?;
            let version = latest.unwrap_or(0) as u64 + 1;
            transaction
                .execute(
                    "INSERT INTO versions (environment, version, created_ms, resource_count, digest) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![environment, version as i64, now_ms() as i64, documents.len() as i64, digest],
                )
                .map_err(backend)?;
            {
                let mut document = transaction
                    .prepare("INSERT OR IGNORE INTO documents (environment, hash, document) VALUES (?1, ?2, ?3)")
                    .map_err(backend)?;
                let mut member = transaction
                    .prepare("INSERT INTO version_members (environment, version, resource_id, hash) VALUES (?1, ?2, ?3, ?4)")
                    .map_err(backend)?;
                for (id, hash, text) in &documents {
                    document.execute(params![environment, hash, text]).map_err(backend)?;
                    member.execute(params![environment, version as i64, id, hash]).map_err(backend)?;
                }
            }
            transaction.commit().map_err(backend)?;
            Ok(version)
        })
        .await
    }

    async fn latest_version(&self, environment: &str) -> Result<Option<u64>, StoreError> {
        let environment = environment.to_string();
        self.with(move |connection| {
            let latest: Option<i64> = connection
                .query_row("SELECT MAX(version) FROM versions WHERE environment = ?1", [environment], |row| row.get(0))
                .map_err(backend)?;
            Ok(latest.map(|v| v as u64))
        })
        .await
    }

    async fn version_resources(&self, environment: &str, version: u64) -> Result<Vec<ResourceDoc>, StoreError> {
        let environment = environment.to_string();
        self.with(move |connection| {
            let mut query = connection
                .prepare(
                    "SELECT d.document FROM version_members m JOIN documents d ON d.environment = m.environment AND d.hash = m.hash
                     WHERE m.environment = ?1 AND m.version = ?2 ORDER BY m.resource_id",
                )
                .map_err(backend)?;
            let rows = query.query_map(params![environment, version as i64], |row| row.get::<_, String>(0)).map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let text = row.map_err(backend)?;
                out.push(serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?);
            }
            Ok(out)
        })
        .await
    }

    async fn versions(&self, environment: &str) -> Result<Vec<VersionInfo>, StoreError> {
        let environment = environment.to_string();
        self.with(move |connection| {
            let mut query = connection
                .prepare("SELECT version, created_ms, resource_count, digest FROM versions WHERE environment = ?1 ORDER BY version DESC")
                .map_err(backend)?;
            let rows = query
                .query_map([environment], |row| {
                    Ok(VersionInfo {
                        version: row.get::<_, i64>(0)? as u64,
                        created_ms: row.get::<_, i64>(1)? as u64,
                        resource_count: row.get::<_, i64>(2)? as u64,
                        digest: row.get(3)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn prune_versions(&self, environment: &str, keep: usize) -> Result<usize, StoreError> {
        let environment = environment.to_string();
        let keep = keep.max(1) as i64;
        self.with(move |connection| {
            let transaction = connection.transaction().map_err(backend)?;
            let cutoff: Option<i64> = transaction
                .query_row(
                    "SELECT version FROM versions WHERE environment = ?1 ORDER BY version DESC LIMIT 1 OFFSET ?2",
                    params![environment, keep - 1],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            let Some(cutoff) = cutoff else { return Ok(0) };
            let pruned = transaction.execute("DELETE FROM versions WHERE environment = ?1 AND version < ?2", params![environment, cutoff]).map_err(backend)?;
            transaction
                .execute("DELETE FROM version_members WHERE environment = ?1 AND version < ?2", params![environment, cutoff])
                .map_err(backend)?;
            transaction
                .execute(
                    "DELETE FROM documents WHERE environment = ?1 AND hash NOT IN
                        (SELECT hash FROM version_members WHERE environment = ?1)",
                    [&environment],
                )
                .map_err(backend)?;
            transaction.commit().map_err(backend)?;
            Ok(pruned)
        })
        .await
    }

    async fn resource_statuses(&self, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, StoreError> {
        let environment = environment.to_string();
        self.with(move |connection| {
            let mut query = connection
                .prepare("SELECT resource_id, state, deployed_hash, version FROM resource_state WHERE environment = ?1")
                .map_err(backend)?;
            let rows = query
                .query_map([environment], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, Option<String>>(2)?, row.get::<_, i64>(3)?))
                })
                .map_err(backend)?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (id, state, deployed_hash, version) = row.map_err(backend)?;
                let state = ResourceState::parse(&state).ok_or_else(|| corrupt_state(&state))?;
                let resource = ResourceId(id);
                out.insert(resource.clone(), ResourceStatus { resource, state, deployed_hash, version: version as u64 });
            }
            Ok(out)
        })
        .await
    }

    async fn mark_deploying(&self, environment: &str, version: u64, resources: &[ResourceId]) -> Result<(), StoreError> {
        if resources.is_empty() {
            return Ok(());
        }
        let environment = environment.to_string();
        let resources = resources.to_vec();
        self.with(move |connection| {
            let transaction = connection.transaction().map_err(backend)?;
            {
                let mut upsert = transaction
                    .prepare(
                        "INSERT INTO resource_state (environment, resource_id, state, deployed_hash, version, updated_ms)
                         VALUES (?1, ?2, 'deploying', NULL, ?3, ?4)
                         ON CONFLICT (environment, resource_id) DO UPDATE SET
                            state = 'deploying', version = excluded.version, updated_ms = excluded.updated_ms",
                    )
                    .map_err(backend)?;
                let now = now_ms() as i64;
                for resource in &resources {
                    upsert.execute(params![environment, resource.0, version as i64, now]).map_err(backend)?;
                }
            }
            transaction.commit().map_err(backend)
        })
        .await
    }

    async fn record(&self, environment: &str, results: &[DeployResult]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let environment = environment.to_string();
        let rows: Vec<(DeployResult, String)> = results
            .iter()
            .map(|r| serde_json::to_string(&r.changes).map(|c| (r.clone(), c)))
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        self.with(move |connection| {
            let transaction = connection.transaction().map_err(backend)?;
            {
                let mut upsert = transaction
                    .prepare(
                        "INSERT INTO resource_state (environment, resource_id, state, deployed_hash, version, updated_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (environment, resource_id) DO UPDATE SET
                            state = excluded.state,
                            deployed_hash = COALESCE(excluded.deployed_hash,
                                CASE WHEN excluded.state IN ('dry', 'deploying') THEN resource_state.deployed_hash ELSE NULL END),
                            version = excluded.version,
                            updated_ms = excluded.updated_ms",
                    )
                    .map_err(backend)?;
                let mut log = transaction
                    .prepare(
                        "INSERT INTO action_log (environment, resource_id, version, time_ms, action, state, changes, message, changed, deployed_hash, diff)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )
                    .map_err(backend)?;
                for (result, changes) in &rows {
                    // A dry run looks; it changes no resource's state.
                    if result.state != ResourceState::Dry {
                        upsert
                        .execute(params![
                            environment,
                            result.resource.0,
                            result.state.as_str(),
                            result.deployed_hash,
                            result.version as i64,
                            result.time_ms as i64
                        ])
                        .map_err(backend)?;
                    }
                    log.execute(params![
                        environment,
                        result.resource.0,
                        result.version as i64,
                        result.time_ms as i64,
                        result.action.as_str(),
                        result.state.as_str(),
                        changes,
                        result.message,
                        result.changed,
                        result.deployed_hash,
                        result.diff,
                    ])
                    .map_err(backend)?;
                }
            }
            transaction.commit().map_err(backend)
        })
        .await
    }

    async fn missing_files(&self, hashes: &[String]) -> Result<Vec<String>, StoreError> {
        let hashes = hashes.to_vec();
        self.with(move |connection| {
            let mut query = connection.prepare("SELECT 1 FROM files WHERE hash = ?1").map_err(backend)?;
            let mut missing = Vec::new();
            for hash in hashes {
                if !query.exists([&hash]).map_err(backend)? {
                    missing.push(hash);
                }
            }
            Ok(missing)
        })
        .await
    }

    async fn put_files(&self, files: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        crate::store::check_file_hashes(files)?;
        if files.is_empty() {
            return Ok(());
        }
        let files = files.to_vec();
        self.with(move |connection| {
            let transaction = connection.transaction().map_err(backend)?;
            {
                let mut insert = transaction.prepare("INSERT OR IGNORE INTO files (hash, content) VALUES (?1, ?2)").map_err(backend)?;
                for (hash, content) in &files {
                    insert.execute(params![hash, content]).map_err(backend)?;
                }
            }
            transaction.commit().map_err(backend)
        })
        .await
    }

    async fn file(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let hash = hash.to_string();
        self.with(move |connection| {
            connection.query_row("SELECT content FROM files WHERE hash = ?1", [hash], |row| row.get(0)).optional().map_err(backend)
        })
        .await
    }

    // TEMPORARY (replaced by the server-mongo branch's SQLite implementation at merge).
    async fn create_environment(&self, _e: &crate::records::EnvironmentRecord) -> Result<(), StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn environments(&self) -> Result<Vec<crate::records::EnvironmentRecord>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn environment(&self, _n: &str) -> Result<Option<crate::records::EnvironmentRecord>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn set_environment_settings(&self, _n: &str, _s: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn delete_environment(&self, _n: &str) -> Result<bool, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn release_version(&self, _e: &str, _v: u64) -> Result<(), StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn released_version(&self, _e: &str) -> Result<Option<u64>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn delete_version(&self, _e: &str, _v: u64) -> Result<bool, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn version_resources_page(&self, _e: &str, _v: u64, _a: Option<&ResourceId>, _l: usize) -> Result<Vec<ResourceDoc>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn resource_statuses_page(&self, _e: &str, _f: &crate::records::StatusFilter, _a: Option<&ResourceId>, _l: usize) -> Result<Vec<ResourceStatus>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn resource_status(&self, _e: &str, _r: &ResourceId) -> Result<Option<ResourceStatus>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn count_by_state(&self, _e: &str) -> Result<BTreeMap<ResourceState, u64>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn create_token(&self, _t: &crate::records::TokenRecord) -> Result<(), StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn token_by_hash(&self, _h: &str) -> Result<Option<crate::records::TokenRecord>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn set_facts(&self, _e: &str, _r: &ResourceId, _f: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn facts(&self, _e: &str) -> Result<BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn create_dryrun(&self, _e: &str, _d: &crate::records::DryRunRecord) -> Result<(), StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn dryruns(&self, _e: &str) -> Result<Vec<crate::records::DryRunRecord>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn dryrun(&self, _e: &str, _i: &str) -> Result<Option<crate::records::DryRunRecord>, StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn add_dryrun_results(&self, _e: &str, _i: &str, _r: &[DeployResult]) -> Result<(), StoreError> { Err(StoreError::Backend("pending".into())) }
    async fn version_resource(&self, _e: &str, _v: u64, _r: &ResourceId) -> Result<Option<ResourceDoc>, StoreError> { Err(StoreError::Backend("pending".into())) }
    // END TEMPORARY

    async fn action_logs(&self, environment: &str, resource: &ResourceId) -> Result<Vec<DeployResult>, StoreError> {
        let environment = environment.to_string();
        let resource = resource.clone();
        self.with(move |connection| {
            let mut query = connection
                .prepare(
                    "SELECT version, time_ms, action, state, changes, message, changed, deployed_hash, diff FROM action_log
                     WHERE environment = ?1 AND resource_id = ?2 ORDER BY id",
                )
                .map_err(backend)?;
            let rows = query
                .query_map(params![environment, resource.0], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, bool>(6)?,
                        row.get::<_, Option<String>>(7)?,
                        row.get::<_, Option<String>>(8)?,
                    ))
                })
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (version, time_ms, action, state, changes, message, changed, deployed_hash, diff) = row.map_err(backend)?;
                out.push(DeployResult {
                    resource: resource.clone(),
                    version: version as u64,
                    action: Action::parse(&action).ok_or_else(|| StoreError::Corrupt(format!("action `{action}`")))?,
                    state: ResourceState::parse(&state).ok_or_else(|| corrupt_state(&state))?,
                    changed,
                    changes: serde_json::from_str(&changes).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    message,
                    deployed_hash,
                    diff,
                    time_ms: time_ms as u64,
                });
            }
            Ok(out)
        })
        .await
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
            assert_eq!(store.schema_version().await.expect("schema"), MIGRATIONS.len() as u32);
            assert_eq!(store.latest_version("env").await.expect("latest"), Some(1));
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
