//! Versions in the embedded store: a row per version (`versions`), its members (resource id
//! to desired-state hash, `version_members`) and the documents by hash (`documents`, each
//! kept once however many versions use it). Numbers come from a counter per environment
//! (`version_counters`, which also holds the released version), so that a deleted
//! version's number is never given again.

use super::{backend, corrupt_json, int};
use crate::store::{now_ms, StoreError};
use cairn_wire::ResourceDoc;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeSet;

/// A version's documents, serialised before the blocking call: (id, hash, JSON).
pub(super) struct Prepared {
    digest: String,
    documents: Vec<(String, String, String)>,
}

/// Checks that each id comes once and serialises the documents.
pub(super) fn prepare(resources: &[ResourceDoc]) -> Result<Prepared, StoreError> {
    let mut seen = BTreeSet::new();
    let mut documents = Vec::with_capacity(resources.len());
    for resource in resources {
        if !seen.insert(resource.id.0.as_str()) {
            return Err(StoreError::Invalid(format!("the version lists {} twice", resource.id)));
        }
        let json = serde_json::to_string(resource).map_err(|e| StoreError::Backend(e.to_string()))?;
        documents.push((resource.id.0.clone(), resource.hash.clone(), json));
    }
    Ok(Prepared { digest: cairn_wire::version_digest(resources), documents })
}

pub(super) fn create(connection: &mut Connection, environment: &str, prepared: &Prepared) -> Result<u64, StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    let last: i64 = transaction
        .query_row(
            "SELECT MAX(COALESCE((SELECT last FROM version_counters WHERE environment = ?1), 0),
                        COALESCE((SELECT MAX(version) FROM versions WHERE environment = ?1), 0))",
            [environment],
            |row| row.get(0),
        )
        .map_err(backend)?;
    let version = last + 1;
    transaction
        .execute(
            "INSERT INTO version_counters (environment, last) VALUES (?1, ?2)
             ON CONFLICT (environment) DO UPDATE SET last = excluded.last",
            params![environment, version],
        )
        .map_err(backend)?;
    transaction
        .execute(
            "INSERT INTO versions (environment, version, created_ms, resource_count, digest) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![environment, version, int(now_ms(), "time")?, prepared.documents.len() as i64, prepared.digest],
        )
        .map_err(backend)?;
    {
        let mut document = transaction
            .prepare("INSERT OR IGNORE INTO documents (environment, hash, document) VALUES (?1, ?2, ?3)")
            .map_err(backend)?;
        let mut member = transaction
            .prepare("INSERT INTO version_members (environment, version, resource_id, hash) VALUES (?1, ?2, ?3, ?4)")
            .map_err(backend)?;
        for (id, hash, text) in &prepared.documents {
            document.execute(params![environment, hash, text]).map_err(backend)?;
            member.execute(params![environment, version, id, hash]).map_err(backend)?;
        }
    }
    transaction.commit().map_err(backend)?;
    Ok(version as u64)
}

pub(super) fn latest(connection: &mut Connection, environment: &str) -> Result<Option<u64>, StoreError> {
    let latest: Option<i64> = connection
        .query_row("SELECT MAX(version) FROM versions WHERE environment = ?1", [environment], |row| row.get(0))
        .map_err(backend)?;
    Ok(latest.map(|v| v as u64))
}

pub(super) fn list(connection: &mut Connection, environment: &str) -> Result<Vec<cairn_wire::VersionInfo>, StoreError> {
    let mut query = connection
        .prepare("SELECT version, created_ms, resource_count, digest FROM versions WHERE environment = ?1 ORDER BY version DESC")
        .map_err(backend)?;
    let rows = query
        .query_map([environment], |row| {
            Ok(cairn_wire::VersionInfo {
                version: row.get::<_, i64>(0)? as u64,
                created_ms: row.get::<_, i64>(1)? as u64,
                resource_count: row.get::<_, i64>(2)? as u64,
                digest: row.get(3)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

fn released_in(connection: &Connection, environment: &str) -> Result<Option<i64>, StoreError> {
    connection
        .query_row("SELECT released FROM version_counters WHERE environment = ?1", [environment], |row| row.get::<_, Option<i64>>(0))
        .optional()
        .map_err(backend)
        .map(Option::flatten)
}

/// Deletes the documents of the environment that no version uses any more.
fn delete_unused_documents(connection: &Connection, environment: &str) -> Result<(), StoreError> {
    connection
        .execute(
            "DELETE FROM documents WHERE environment = ?1 AND hash NOT IN
                (SELECT hash FROM version_members WHERE environment = ?1)",
            [environment],
        )
        .map_err(backend)?;
    Ok(())
}

pub(super) fn prune(connection: &mut Connection, environment: &str, keep: usize) -> Result<usize, StoreError> {
    let keep = keep.max(1) as i64;
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
    // The released version stays, however old: agents deploy it.
    let released = released_in(&transaction, environment)?;
    let pruned = transaction
        .execute(
            "DELETE FROM versions WHERE environment = ?1 AND version < ?2 AND (?3 IS NULL OR version <> ?3)",
            params![environment, cutoff, released],
        )
        .map_err(backend)?;
    transaction
        .execute(
            "DELETE FROM version_members WHERE environment = ?1 AND version < ?2 AND (?3 IS NULL OR version <> ?3)",
            params![environment, cutoff, released],
        )
        .map_err(backend)?;
    delete_unused_documents(&transaction, environment)?;
    transaction.commit().map_err(backend)?;
    Ok(pruned)
}

/// The documents of a version in id order: all of them, or a page (ids after `after`, at
/// most `limit`).
pub(super) fn resources(
    connection: &mut Connection,
    environment: &str,
    version: u64,
    after: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<ResourceDoc>, StoreError> {
    let version = int(version, "version")?;
    let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT d.document FROM version_members m JOIN documents d ON d.environment = m.environment AND d.hash = m.hash
         WHERE m.environment = ?1 AND m.version = ?2 {} ORDER BY m.resource_id LIMIT ?4",
        if after.is_some() { "AND m.resource_id > ?3" } else { "AND ?3 IS NULL" }
    );
    let mut query = connection.prepare(&sql).map_err(backend)?;
    let rows = query.query_map(params![environment, version, after, limit], |row| row.get::<_, String>(0)).map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let text = row.map_err(backend)?;
        out.push(serde_json::from_str(&text).map_err(corrupt_json)?);
    }
    Ok(out)
}

/// One resource of a version, by the primary key of its membership.
pub(super) fn resource(connection: &mut Connection, environment: &str, version: u64, id: &str) -> Result<Option<ResourceDoc>, StoreError> {
    let version = int(version, "version")?;
    let text: Option<String> = connection
        .query_row(
            "SELECT d.document FROM version_members m JOIN documents d ON d.environment = m.environment AND d.hash = m.hash
             WHERE m.environment = ?1 AND m.version = ?2 AND m.resource_id = ?3",
            params![environment, version, id],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    text.map(|t| serde_json::from_str(&t).map_err(corrupt_json)).transpose()
}

pub(super) fn release(connection: &mut Connection, environment: &str, version: u64) -> Result<(), StoreError> {
    let version = int(version, "version")?;
    let transaction = connection.transaction().map_err(backend)?;
    let exists = transaction
        .prepare("SELECT 1 FROM versions WHERE environment = ?1 AND version = ?2")
        .and_then(|mut q| q.exists(params![environment, version]))
        .map_err(backend)?;
    if !exists {
        return Err(StoreError::NotFound(format!("version {version} of environment {environment}")));
    }
    transaction
        .execute(
            "INSERT INTO version_counters (environment, last, released) VALUES (?1, ?2, ?2)
             ON CONFLICT (environment) DO UPDATE SET released = excluded.released",
            params![environment, version],
        )
        .map_err(backend)?;
    transaction.commit().map_err(backend)
}

pub(super) fn released(connection: &mut Connection, environment: &str) -> Result<Option<u64>, StoreError> {
    Ok(released_in(connection, environment)?.map(|v| v as u64))
}

pub(super) fn delete(connection: &mut Connection, environment: &str, version: u64) -> Result<bool, StoreError> {
    let version = int(version, "version")?;
    let transaction = connection.transaction().map_err(backend)?;
    if released_in(&transaction, environment)? == Some(version) {
        return Err(StoreError::Conflict(format!("version {version} of environment {environment} is the released version")));
    }
    let deleted = transaction
        .execute("DELETE FROM versions WHERE environment = ?1 AND version = ?2", params![environment, version])
        .map_err(backend)?;
    if deleted == 0 {
        return Ok(false);
    }
    transaction
        .execute("DELETE FROM version_members WHERE environment = ?1 AND version = ?2", params![environment, version])
        .map_err(backend)?;
    delete_unused_documents(&transaction, environment)?;
    transaction.commit().map_err(backend)?;
    Ok(true)
}
