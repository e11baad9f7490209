//! Environments and tokens in the embedded store: `environments` (by name; the id is
//! unique too) and `tokens` (by id; the SHA-256 of the token is unique, and is how a
//! request's token is found). Deleting an environment deletes every row of it, in every
//! table, in one transaction.

use super::{backend, corrupt_json, int, is_unique_violation};
use crate::records::{EnvironmentRecord, Role, TokenRecord};
use crate::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension, Row};

/// The tables whose rows belong to one environment, by their `environment` column.
const ENVIRONMENT_TABLES: &[&str] = &[
    "tokens",
    "compiles",
    "run_requests",
    "versions",
    "version_members",
    "documents",
    "version_counters",
    "resource_state",
    "action_log",
    "facts",
    "dryruns",
    "dryrun_results",
    "agent_sessions",
    "agents",
    "primary_changes",
    "events",
];

fn environment(row: &Row<'_>) -> rusqlite::Result<(String, String, i64, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn to_environment((id, name, created_ms, settings): (String, String, i64, String)) -> Result<EnvironmentRecord, StoreError> {
    Ok(EnvironmentRecord { id, name, created_ms: created_ms as u64, settings: serde_json::from_str(&settings).map_err(corrupt_json)? })
}

pub(super) fn create(connection: &mut Connection, environment: &EnvironmentRecord) -> Result<(), StoreError> {
    let settings = super::to_json(&environment.settings)?;
    connection
        .execute(
            "INSERT INTO environments (name, id, created_ms, settings) VALUES (?1, ?2, ?3, ?4)",
            params![environment.name, environment.id, int(environment.created_ms, "time")?, settings],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("an environment named {} or with id {}", environment.name, environment.id))
            } else {
                backend(e)
            }
        })?;
    Ok(())
}

pub(super) fn list(connection: &mut Connection) -> Result<Vec<EnvironmentRecord>, StoreError> {
    let mut query = connection.prepare("SELECT id, name, created_ms, settings FROM environments ORDER BY name").map_err(backend)?;
    let rows = query.query_map([], environment).map_err(backend)?;
    rows.map(|row| to_environment(row.map_err(backend)?)).collect()
}

pub(super) fn get(connection: &mut Connection, name: &str) -> Result<Option<EnvironmentRecord>, StoreError> {
    connection
        .query_row("SELECT id, name, created_ms, settings FROM environments WHERE name = ?1", [name], environment)
        .optional()
        .map_err(backend)?
        .map(to_environment)
        .transpose()
}

pub(super) fn set_settings(connection: &mut Connection, name: &str, settings: &str) -> Result<(), StoreError> {
    let changed = connection.execute("UPDATE environments SET settings = ?2 WHERE name = ?1", params![name, settings]).map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("environment {name}")));
    }
    Ok(())
}

pub(super) fn delete(connection: &mut Connection, name: &str) -> Result<bool, StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    let existed = transaction.execute("DELETE FROM environments WHERE name = ?1", [name]).map_err(backend)? > 0;
    for table in ENVIRONMENT_TABLES {
        transaction.execute(&format!("DELETE FROM {table} WHERE environment = ?1"), [name]).map_err(backend)?;
    }
    transaction.commit().map_err(backend)?;
    Ok(existed)
}

pub(super) fn create_token(connection: &mut Connection, token: &TokenRecord) -> Result<(), StoreError> {
    let expires_ms = token.expires_ms.map(|e| int(e, "time")).transpose()?;
    connection
        .execute(
            "INSERT INTO tokens (id, hash, environment, role, created_ms, expires_ms, description) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![token.id, token.hash, token.environment, token.role.as_str(), int(token.created_ms, "time")?, expires_ms, token.description],
        )
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict(format!("token {} (or its hash)", token.id)) } else { backend(e) })?;
    Ok(())
}

pub(super) fn token_by_hash(connection: &mut Connection, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
    let row = connection
        .query_row("SELECT id, hash, environment, role, created_ms, expires_ms, description FROM tokens WHERE hash = ?1", [hash], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, Option<i64>>(5)?,
                row.get::<_, String>(6)?,
            ))
        })
        .optional()
        .map_err(backend)?;
    let Some((id, hash, environment, role, created_ms, expires_ms, description)) = row else { return Ok(None) };
    let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role `{role}`")))?;
    Ok(Some(TokenRecord { id, hash, environment, role, created_ms: created_ms as u64, expires_ms: expires_ms.map(|e| e as u64), description }))
}
