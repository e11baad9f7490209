//! What agents report besides deploys, in the embedded store: facts (`facts`, one row per
//! resource and fact name, so that a report merges into what is there) and dry runs
//! (`dryruns`, and `dryrun_results` with one row per dry run and resource: a resource
//! reported again replaces its earlier result).

use super::{backend, corrupt_json, int, is_unique_violation, to_json};
use crate::records::DryRunRecord;
use crate::store::StoreError;
use cairn_wire::{DeployResult, ResourceId};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, Transaction};
use std::collections::BTreeMap;

pub(super) fn set_facts(connection: &mut Connection, environment: &str, resource: &ResourceId, facts: &[(String, String)]) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    {
        let mut upsert = transaction
            .prepare(
                "INSERT INTO facts (environment, resource_id, name, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (environment, resource_id, name) DO UPDATE SET value = excluded.value",
            )
            .map_err(backend)?;
        for (name, value) in facts {
            upsert.execute(params![environment, resource.0, name, value]).map_err(backend)?;
        }
    }
    transaction.commit().map_err(backend)
}

pub(super) fn facts(connection: &mut Connection, environment: &str) -> Result<BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>, StoreError> {
    let mut query = connection.prepare("SELECT resource_id, name, value FROM facts WHERE environment = ?1").map_err(backend)?;
    let rows = query.query_map([environment], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))).map_err(backend)?;
    let mut out: BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    for row in rows {
        let (resource, name, value) = row.map_err(backend)?;
        out.entry(ResourceId(resource)).or_default().insert(name, serde_json::from_str(&value).map_err(corrupt_json)?);
    }
    Ok(out)
}

/// Stores results of a dry run, each replacing the resource's earlier one.
fn put_results(transaction: &Transaction<'_>, environment: &str, id: &str, results: &[DeployResult]) -> Result<(), StoreError> {
    let mut upsert = transaction
        .prepare(
            "INSERT INTO dryrun_results (environment, dryrun, resource_id, result) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (environment, dryrun, resource_id) DO UPDATE SET result = excluded.result",
        )
        .map_err(backend)?;
    for result in results {
        upsert.execute(params![environment, id, result.resource.0, to_json(result)?]).map_err(backend)?;
    }
    Ok(())
}

pub(super) fn create_dryrun(connection: &mut Connection, environment: &str, dryrun: &DryRunRecord) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    transaction
        .execute(
            "INSERT INTO dryruns (environment, id, version, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![environment, dryrun.id, int(dryrun.version, "version")?, int(dryrun.created_ms, "time")?],
        )
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict(format!("dry run {} of environment {environment}", dryrun.id)) } else { backend(e) })?;
    put_results(&transaction, environment, &dryrun.id, &dryrun.results)?;
    transaction.commit().map_err(backend)
}

/// The dry runs of an environment (or only the one of that id), newest first, with their
/// results in resource id order.
pub(super) fn dryruns(connection: &mut Connection, environment: &str, id: Option<&str>) -> Result<Vec<DryRunRecord>, StoreError> {
    let one = if id.is_some() { "AND id = ?2" } else { "AND ?2 IS NULL" };
    let values = [Value::Text(environment.to_string()), id.map_or(Value::Null, |i| Value::Text(i.to_string()))];
    let mut runs: Vec<DryRunRecord> = {
        let mut query = connection
            .prepare(&format!("SELECT id, version, created_ms FROM dryruns WHERE environment = ?1 {one} ORDER BY created_ms DESC, id DESC"))
            .map_err(backend)?;
        let rows = query
            .query_map(params_from_iter(values.iter()), |row| {
                Ok(DryRunRecord { id: row.get(0)?, version: row.get::<_, i64>(1)? as u64, created_ms: row.get::<_, i64>(2)? as u64, results: Vec::new() })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    let one = if id.is_some() { "AND dryrun = ?2" } else { "AND ?2 IS NULL" };
    let mut query = connection
        .prepare(&format!("SELECT dryrun, result FROM dryrun_results WHERE environment = ?1 {one} ORDER BY dryrun, resource_id"))
        .map_err(backend)?;
    let rows = query.query_map(params_from_iter(values.iter()), |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))).map_err(backend)?;
    let mut results: BTreeMap<String, Vec<DeployResult>> = BTreeMap::new();
    for row in rows {
        let (dryrun, result) = row.map_err(backend)?;
        results.entry(dryrun).or_default().push(serde_json::from_str(&result).map_err(corrupt_json)?);
    }
    for run in &mut runs {
        run.results = results.remove(&run.id).unwrap_or_default();
    }
    Ok(runs)
}

pub(super) fn add_dryrun_results(connection: &mut Connection, environment: &str, id: &str, results: &[DeployResult]) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    let exists = transaction
        .prepare("SELECT 1 FROM dryruns WHERE environment = ?1 AND id = ?2")
        .and_then(|mut q| q.exists(params![environment, id]))
        .map_err(backend)?;
    if !exists {
        return Err(StoreError::NotFound(format!("dry run {id} of environment {environment}")));
    }
    put_results(&transaction, environment, id, results)?;
    transaction.commit().map_err(backend)
}
