//! The embedded store's schema, as the migrations that build it: applied in order when a
//! store is opened, each once (the schema version is how many ran). Landed migrations are
//! never edited: a change of schema is a new one at the end. A migration that needs Rust
//! to fill in what it adds does it in [`after`], in the same transaction.

use rusqlite::{params, Transaction};

/// Schema migrations, applied in order; the index + 1 is the schema version.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // The orchestrator's server: environments, tokens, facts and dry runs; version numbers
    // that are never given twice (a counter per environment, started from the versions
    // there are) and the released version; resource states filtered by agent and type.
    "CREATE TABLE environments (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        settings TEXT NOT NULL
    );
    CREATE TABLE version_counters (
        environment TEXT PRIMARY KEY,
        last INTEGER NOT NULL,
        released INTEGER
    );
    INSERT INTO version_counters (environment, last, released)
        SELECT environment, MAX(version), NULL FROM versions GROUP BY environment;
    -- Which documents a pruned version leaves unused: members by hash.
    CREATE INDEX version_members_hash ON version_members (environment, hash);
    ALTER TABLE resource_state ADD COLUMN agent TEXT NOT NULL DEFAULT '';
    ALTER TABLE resource_state ADD COLUMN resource_type TEXT NOT NULL DEFAULT '';
    -- Pages of states filtered by state, by agent or by type, each in id order.
    CREATE INDEX resource_state_state ON resource_state (environment, state, resource_id);
    CREATE INDEX resource_state_agent ON resource_state (environment, agent, resource_id);
    CREATE INDEX resource_state_type ON resource_state (environment, resource_type, resource_id);
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        environment TEXT,
        role TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        description TEXT NOT NULL
    );
    -- Deleting an environment deletes its tokens.
    CREATE INDEX tokens_environment ON tokens (environment);
    CREATE TABLE facts (
        environment TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (environment, resource_id, name)
    );
    CREATE TABLE dryruns (
        environment TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (environment, id)
    );
    -- Dry runs newest first.
    CREATE INDEX dryruns_created ON dryruns (environment, created_ms, id);
    CREATE TABLE dryrun_results (
        environment TEXT NOT NULL,
        dryrun TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (environment, dryrun, resource_id)
    );",
    // Agents: sessions, one row per agent name for its election (the lease: holder, epoch,
    // expiry; paused; the preferred session) and the record of primary changes.
    "CREATE TABLE agent_sessions (
        environment TEXT NOT NULL,
        id TEXT NOT NULL,
        server TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        agents TEXT NOT NULL,
        connected_ms INTEGER NOT NULL,
        last_heartbeat_ms INTEGER NOT NULL,
        PRIMARY KEY (environment, id)
    );
    CREATE TABLE agents (
        environment TEXT NOT NULL,
        agent TEXT NOT NULL,
        holder TEXT,
        epoch INTEGER NOT NULL DEFAULT 0,
        expires_ms INTEGER NOT NULL DEFAULT 0,
        paused INTEGER NOT NULL DEFAULT 0,
        preferred TEXT,
        PRIMARY KEY (environment, agent)
    );
    -- The leases a session holds, released when it ends.
    CREATE INDEX agents_holder ON agents (environment, holder);
    CREATE TABLE primary_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        environment TEXT NOT NULL,
        agent TEXT NOT NULL,
        from_session TEXT,
        to_session TEXT,
        epoch INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        reason TEXT NOT NULL
    );
    -- Changes newest first, of an environment or of one agent name.
    CREATE INDEX primary_changes_environment ON primary_changes (environment, id);
    CREATE INDEX primary_changes_agent ON primary_changes (environment, agent, id);",
    // Deploy and repair runs asked for: counters per environment that only grow.
    "CREATE TABLE run_requests (
        environment TEXT PRIMARY KEY,
        deploys INTEGER NOT NULL DEFAULT 0,
        repairs INTEGER NOT NULL DEFAULT 0
    );",
    // The autonomous server's compiles: at most one queued and one running per environment.
    "CREATE TABLE compiles (
        environment TEXT NOT NULL,
        id TEXT NOT NULL,
        state TEXT NOT NULL,
        queued_ms INTEGER NOT NULL,
        lease_expires_ms INTEGER,
        record TEXT NOT NULL,
        PRIMARY KEY (environment, id)
    );
    CREATE UNIQUE INDEX compiles_one_queued ON compiles (environment) WHERE state = 'queued';
    CREATE UNIQUE INDEX compiles_one_running ON compiles (environment) WHERE state = 'running';
    CREATE INDEX compiles_by_state ON compiles (state, queued_ms, id);
    CREATE INDEX compiles_newest ON compiles (environment, queued_ms, id);",
    // The event log: one sequence over every environment (AUTOINCREMENT: an id is never
    // given twice, even after the newest events were pruned).
    "CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        environment TEXT NOT NULL,
        kind TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX events_by_environment ON events (environment, id);
    CREATE INDEX events_by_time ON events (time_ms);",
];

/// The migration (index into [`MIGRATIONS`]) that added the agent and type of each state.
const STATE_AGENT_AND_TYPE: usize = 4;

/// What a migration needs done in Rust once its SQL ran: the agent and type of the states
/// kept before they had those columns, parsed from their ids as everywhere else.
pub(super) fn after(transaction: &Transaction<'_>, index: usize) -> Result<(), rusqlite::Error> {
    if index != STATE_AGENT_AND_TYPE {
        return Ok(());
    }
    let ids: Vec<(String, String)> = {
        let mut query = transaction.prepare("SELECT environment, resource_id FROM resource_state")?;
        let rows = query.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut update = transaction.prepare("UPDATE resource_state SET agent = ?3, resource_type = ?4 WHERE environment = ?1 AND resource_id = ?2")?;
    for (environment, id) in ids {
        let resource = cairn_wire::ResourceId(id);
        update.execute(params![environment, resource.0, resource.agent(), resource.resource_type()])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::StatusFilter;
    use crate::store::Store;
    use crate::SqliteStore;

    /// A store of schema 4 (before environments) opens with its states' agents and types
    /// filled in and its version numbering going on from the versions it has.
    #[test]
    fn a_store_of_schema_4_is_brought_up_to_date() {
        let dir = std::env::temp_dir().join(format!("cairn-migrate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("folder");
        let path = dir.join("state.db");
        {
            let mut connection = rusqlite::Connection::open(&path).expect("open");
            let transaction = connection.transaction().expect("transaction");
            for migration in &MIGRATIONS[..STATE_AGENT_AND_TYPE] {
                transaction.execute_batch(migration).expect("old migration");
            }
            transaction
                .execute_batch(
                    "CREATE TABLE schema_version (version INTEGER NOT NULL);
                     INSERT INTO schema_version (version) VALUES (4);
                     INSERT INTO versions (environment, version, created_ms, resource_count, digest) VALUES ('e', 3, 1, 0, '');
                     INSERT INTO resource_state (environment, resource_id, state, deployed_hash, version, updated_ms)
                        VALUES ('e', 'fs::File[web1,path=/a]', 'deployed', 'h', 3, 1), ('e', 'nonsense', 'failed', NULL, 3, 1);",
                )
                .expect("old rows");
            transaction.commit().expect("commit");
        }
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(async {
            let store = SqliteStore::open(&path).expect("migrates");
            assert_eq!(store.schema_version().await.expect("schema"), MIGRATIONS.len() as u32);
            let by_agent = StatusFilter { agent: Some("web1".into()), ..StatusFilter::default() };
            let page = store.resource_statuses_page("e", &by_agent, None, 10).await.expect("page");
            assert_eq!(page.len(), 1);
            let by_type = StatusFilter { resource_type: Some("fs::File".into()), ..StatusFilter::default() };
            assert_eq!(store.resource_statuses_page("e", &by_type, None, 10).await.expect("page").len(), 1);
            assert_eq!(store.create_version("e", &[]).await.expect("create"), 4);
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
