//! The embedded store: one SQLite file (WAL mode, full sync), for `cairn deploy` and
//! single-node use. The schema is versioned; migrations run in order when the file is opened.

use crate::store::{DeployRecord, ResourceStatus, Store, StoreError};
use cairn_wire::{ActionLog, ResourceDoc, ResourceId, ResourceState};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

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
];

pub struct SqliteStore {
    connection: Mutex<Connection>,
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl SqliteStore {
    /// Opens (creating if needed) the store file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", parent.display())))?;
        }
        let connection = Connection::open(path).map_err(backend)?;
        Self::init(connection)
    }

    /// A store in memory (tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(mut connection: Connection) -> Result<SqliteStore, StoreError> {
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
        Ok(SqliteStore { connection: Mutex::new(connection) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.connection.lock().map_err(|_| StoreError::Backend("store lock poisoned".into()))
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let connection = self.lock()?;
        connection.query_row("SELECT version FROM schema_version", [], |row| row.get(0)).map_err(backend)
    }
}

impl Store for SqliteStore {
    fn create_version(&self, environment: &str, resources: &[ResourceDoc]) -> Result<u64, StoreError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction().map_err(backend)?;
        let latest: Option<i64> = transaction
            .query_row("SELECT MAX(version) FROM versions WHERE environment = ?1", [environment], |row| row.get(0))
            .map_err(backend)?;
        let version = latest.unwrap_or(0) as u64 + 1;
        transaction
            .execute(
                "INSERT INTO versions (environment, version, created_ms, resource_count) VALUES (?1, ?2, ?3, ?4)",
                params![environment, version as i64, now_ms() as i64, resources.len() as i64],
            )
            .map_err(backend)?;
        {
            let mut insert = transaction
                .prepare("INSERT INTO version_resources (environment, version, resource_id, document) VALUES (?1, ?2, ?3, ?4)")
                .map_err(backend)?;
            for resource in resources {
                let document = serde_json::to_string(resource).map_err(|e| StoreError::Backend(e.to_string()))?;
                insert.execute(params![environment, version as i64, resource.id.0, document]).map_err(backend)?;
            }
        }
        transaction.commit().map_err(backend)?;
        Ok(version)
    }

    fn latest_version(&self, environment: &str) -> Result<Option<u64>, StoreError> {
        let connection = self.lock()?;
        let latest: Option<i64> = connection
            .query_row("SELECT MAX(version) FROM versions WHERE environment = ?1", [environment], |row| row.get(0))
            .map_err(backend)?;
        Ok(latest.map(|v| v as u64))
    }

    fn version_resources(&self, environment: &str, version: u64) -> Result<Vec<ResourceDoc>, StoreError> {
        let connection = self.lock()?;
        let mut query = connection
            .prepare("SELECT document FROM version_resources WHERE environment = ?1 AND version = ?2 ORDER BY resource_id")
            .map_err(backend)?;
        let rows = query.query_map(params![environment, version as i64], |row| row.get::<_, String>(0)).map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let text = row.map_err(backend)?;
            out.push(serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        }
        Ok(out)
    }

    fn resource_statuses(&self, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, StoreError> {
        let connection = self.lock()?;
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
            let state = ResourceState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("state `{state}`")))?;
            let resource = ResourceId(id);
            out.insert(resource.clone(), ResourceStatus { resource, state, deployed_hash, version: version as u64 });
        }
        Ok(out)
    }

    fn record(&self, environment: &str, records: &[DeployRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut connection = self.lock()?;
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
                    "INSERT INTO action_log (environment, resource_id, version, time_ms, action, state, changes, message)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(backend)?;
            for record in records {
                upsert
                    .execute(params![
                        environment,
                        record.resource.0,
                        record.state.as_str(),
                        record.deployed_hash,
                        record.version as i64,
                        record.time_ms as i64
                    ])
                    .map_err(backend)?;
                let changes = serde_json::to_string(&record.changes).map_err(|e| StoreError::Backend(e.to_string()))?;
                log.execute(params![
                    environment,
                    record.resource.0,
                    record.version as i64,
                    record.time_ms as i64,
                    record.action,
                    record.state.as_str(),
                    changes,
                    record.message
                ])
                .map_err(backend)?;
            }
        }
        transaction.commit().map_err(backend)
    }

    fn action_logs(&self, environment: &str, resource: &ResourceId) -> Result<Vec<ActionLog>, StoreError> {
        let connection = self.lock()?;
        let mut query = connection
            .prepare(
                "SELECT version, time_ms, action, state, changes, message FROM action_log
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
                ))
            })
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let (version, time_ms, action, state, changes, message) = row.map_err(backend)?;
            out.push(ActionLog {
                resource: resource.clone(),
                version: version as u64,
                time_ms: time_ms as u64,
                action,
                state: ResourceState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("state `{state}`")))?,
                changes: serde_json::from_str(&changes).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                message,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_wire::Change;

    fn doc(id: &str, hash: &str) -> ResourceDoc {
        ResourceDoc {
            id: ResourceId(id.into()),
            resource_type: "t".into(),
            agent: "a".into(),
            attributes: BTreeMap::new(),
            requires: Vec::new(),
            hash: hash.into(),
            undefined: false,
            send_event: false,
            receive_events: true,
        }
    }

    fn record(id: &str, state: ResourceState, hash: Option<&str>) -> DeployRecord {
        DeployRecord {
            resource: ResourceId(id.into()),
            version: 1,
            state,
            deployed_hash: hash.map(str::to_string),
            action: "deploy".into(),
            changes: vec![Change { field: "content".into(), current: serde_json::Value::Null, desired: "x".into() }],
            message: String::new(),
            time_ms: 1,
        }
    }

    #[test]
    fn versions_are_numbered_and_read_back() {
        let store = SqliteStore::in_memory().expect("opens");
        assert_eq!(store.latest_version("env").expect("query"), None);
        assert_eq!(store.create_version("env", &[doc("t[a,k=1]", "h1")]).expect("create"), 1);
        assert_eq!(store.create_version("env", &[doc("t[a,k=1]", "h2"), doc("t[a,k=2]", "h3")]).expect("create"), 2);
        assert_eq!(store.create_version("other", &[]).expect("create"), 1);
        let resources = store.version_resources("env", 2).expect("read");
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[0].hash, "h2");
    }

    #[test]
    fn records_keep_the_last_successful_hash_semantics() {
        let store = SqliteStore::in_memory().expect("opens");
        store.record("env", &[record("t[a,k=1]", ResourceState::Deployed, Some("h1"))]).expect("record");
        let statuses = store.resource_statuses("env").expect("statuses");
        assert_eq!(statuses[&ResourceId("t[a,k=1]".into())].deployed_hash.as_deref(), Some("h1"));
        // A dry run does not forget what is deployed; a failure does.
        store.record("env", &[record("t[a,k=1]", ResourceState::Dry, None)]).expect("record");
        assert_eq!(store.resource_statuses("env").expect("statuses")[&ResourceId("t[a,k=1]".into())].deployed_hash.as_deref(), Some("h1"));
        store.record("env", &[record("t[a,k=1]", ResourceState::Failed, None)]).expect("record");
        let status = &store.resource_statuses("env").expect("statuses")[&ResourceId("t[a,k=1]".into())];
        assert_eq!(status.state, ResourceState::Failed);
        assert_eq!(status.deployed_hash, None);
        let logs = store.action_logs("env", &ResourceId("t[a,k=1]".into())).expect("logs");
        assert_eq!(logs.len(), 3);
        assert_eq!(logs[0].changes[0].field, "content");
    }

    #[test]
    fn data_survives_reopening_and_schema_is_versioned() {
        let dir = std::env::temp_dir().join(format!("cairn-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("state.db");
        {
            let store = SqliteStore::open(&path).expect("opens");
            store.create_version("env", &[doc("t[a,k=1]", "h")]).expect("create");
            store.record("env", &[record("t[a,k=1]", ResourceState::Deployed, Some("h"))]).expect("record");
        }
        let store = SqliteStore::open(&path).expect("reopens");
        assert_eq!(store.schema_version().expect("schema"), MIGRATIONS.len() as u32);
        assert_eq!(store.latest_version("env").expect("latest"), Some(1));
        assert_eq!(store.resource_statuses("env").expect("statuses").len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
