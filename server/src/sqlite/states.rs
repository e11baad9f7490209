//! Resource states and action logs in the embedded store: one row per resource of an
//! environment (`resource_state`, with its agent and type for filtered pages) and one row
//! per deploy result (`action_log`, in the order they were recorded).

use super::{backend, corrupt_json, corrupt_state, int};
use crate::records::{prefix_end, StatusFilter};
use crate::store::{now_ms, StoreError};
use cairn_wire::{Action, DeployResult, ResourceId, ResourceState, ResourceStatus};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use std::collections::BTreeMap;

const STATUS_COLUMNS: &str = "resource_id, state, deployed_hash, version";

fn status(row: &Row<'_>) -> rusqlite::Result<(String, String, Option<String>, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn to_status((id, state, deployed_hash, version): (String, String, Option<String>, i64)) -> Result<ResourceStatus, StoreError> {
    let state = ResourceState::parse(&state).ok_or_else(|| corrupt_state(&state))?;
    Ok(ResourceStatus { resource: ResourceId(id), state, deployed_hash, version: version as u64 })
}

pub(super) fn all(connection: &mut Connection, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, StoreError> {
    let mut query = connection.prepare(&format!("SELECT {STATUS_COLUMNS} FROM resource_state WHERE environment = ?1")).map_err(backend)?;
    let rows = query.query_map([environment], status).map_err(backend)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let status = to_status(row.map_err(backend)?)?;
        out.insert(status.resource.clone(), status);
    }
    Ok(out)
}

pub(super) fn one(connection: &mut Connection, environment: &str, resource: &ResourceId) -> Result<Option<ResourceStatus>, StoreError> {
    connection
        .query_row(
            &format!("SELECT {STATUS_COLUMNS} FROM resource_state WHERE environment = ?1 AND resource_id = ?2"),
            params![environment, resource.0],
            status,
        )
        .optional()
        .map_err(backend)?
        .map(to_status)
        .transpose()
}

/// A page of states in id order. The query names only the filters set, so that SQLite can
/// use the index of the first one (state, agent or type, each followed by the id).
pub(super) fn page(
    connection: &mut Connection,
    environment: &str,
    filter: &StatusFilter,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ResourceStatus>, StoreError> {
    let mut sql = format!("SELECT {STATUS_COLUMNS} FROM resource_state WHERE environment = ?");
    let mut values: Vec<Value> = vec![Value::Text(environment.to_string())];
    let mut condition = |clause: &str, value: String| {
        sql.push_str(clause);
        values.push(Value::Text(value));
    };
    if let Some(state) = filter.state {
        condition(" AND state = ?", state.as_str().to_string());
    }
    if let Some(agent) = &filter.agent {
        condition(" AND agent = ?", agent.clone());
    }
    if let Some(resource_type) = &filter.resource_type {
        condition(" AND resource_type = ?", resource_type.clone());
    }
    if let Some(prefix) = filter.id_prefix.as_deref().filter(|p| !p.is_empty()) {
        condition(" AND resource_id >= ?", prefix.to_string());
        if let Some(end) = prefix_end(prefix) {
            condition(" AND resource_id < ?", end);
        }
    }
    if let Some(after) = after {
        condition(" AND resource_id > ?", after.to_string());
    }
    sql.push_str(" ORDER BY resource_id LIMIT ?");
    values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let mut query = connection.prepare(&sql).map_err(backend)?;
    let rows = query.query_map(params_from_iter(values), status).map_err(backend)?;
    rows.map(|row| to_status(row.map_err(backend)?)).collect()
}

pub(super) fn count_by_state(connection: &mut Connection, environment: &str) -> Result<BTreeMap<ResourceState, u64>, StoreError> {
    let mut query = connection.prepare("SELECT state, COUNT(*) FROM resource_state WHERE environment = ?1 GROUP BY state").map_err(backend)?;
    let rows = query.query_map([environment], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))).map_err(backend)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (state, count) = row.map_err(backend)?;
        out.insert(ResourceState::parse(&state).ok_or_else(|| corrupt_state(&state))?, count as u64);
    }
    Ok(out)
}

pub(super) fn mark_deploying(connection: &mut Connection, environment: &str, version: u64, resources: &[ResourceId]) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    write_intents(&transaction, environment, version, resources)?;
    transaction.commit().map_err(backend)
}

/// The writes of [`mark_deploying`], in the caller's transaction.
pub(super) fn write_intents(transaction: &Connection, environment: &str, version: u64, resources: &[ResourceId]) -> Result<(), StoreError> {
    let version = int(version, "version")?;
    {
        let mut upsert = transaction
            .prepare(
                "INSERT INTO resource_state (environment, resource_id, state, deployed_hash, version, updated_ms, agent, resource_type)
                 VALUES (?1, ?2, 'deploying', NULL, ?3, ?4, ?5, ?6)
                 ON CONFLICT (environment, resource_id) DO UPDATE SET
                    state = 'deploying', version = excluded.version, updated_ms = excluded.updated_ms",
            )
            .map_err(backend)?;
        let now = int(now_ms(), "time")?;
        for resource in resources {
            upsert.execute(params![environment, resource.0, version, now, resource.agent(), resource.resource_type()]).map_err(backend)?;
        }
    }
    Ok(())
}

/// Results with their changes serialised, before the blocking call.
pub(super) fn prepare(results: &[DeployResult]) -> Result<Vec<(DeployResult, String)>, StoreError> {
    results
        .iter()
        .map(|r| {
            int(r.version, "version")?;
            int(r.time_ms, "time")?;
            serde_json::to_string(&r.changes).map(|c| (r.clone(), c)).map_err(|e| StoreError::Backend(e.to_string()))
        })
        .collect()
}

pub(super) fn record(connection: &mut Connection, environment: &str, rows: &[(DeployResult, String)]) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    write_results(&transaction, environment, rows)?;
    transaction.commit().map_err(backend)
}

/// The writes of [`record`], in the caller's transaction.
pub(super) fn write_results(transaction: &Connection, environment: &str, rows: &[(DeployResult, String)]) -> Result<(), StoreError> {
    {
        let mut upsert = transaction
            .prepare(
                "INSERT INTO resource_state (environment, resource_id, state, deployed_hash, version, updated_ms, agent, resource_type)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
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
        for (result, changes) in rows {
            // A dry run looks; it changes no resource's state.
            if result.state != ResourceState::Dry {
                upsert
                    .execute(params![
                        environment,
                        result.resource.0,
                        result.state.as_str(),
                        result.deployed_hash,
                        result.version as i64,
                        result.time_ms as i64,
                        result.resource.agent(),
                        result.resource.resource_type(),
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
    Ok(())
}

pub(super) fn logs(connection: &mut Connection, environment: &str, resource: &ResourceId) -> Result<Vec<DeployResult>, StoreError> {
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
            changes: serde_json::from_str(&changes).map_err(corrupt_json)?,
            message,
            deployed_hash,
            diff,
            time_ms: time_ms as u64,
        });
    }
    Ok(out)
}
