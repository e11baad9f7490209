//! The compile queue and reports in the embedded store: table `compiles`, one row per
//! compile with its whole record as JSON and, beside it, what the queue looks up (state,
//! queued time, claim expiry). Partial unique indexes make "one queued and one running
//! compile per environment" a constraint of the schema; every change runs in an immediate
//! transaction, so concurrent requests and claims are serialised by SQLite itself.

use super::{backend, corrupt_json, int, to_json};
use crate::records::{CompileRecord, CompileReport, Trigger};
use crate::store::{abandoned_report, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

fn read(json: &str) -> Result<CompileRecord, StoreError> {
    serde_json::from_str(json).map_err(corrupt_json)
}

/// Writes a record (new or changed) with its lookup columns.
fn write(transaction: &Transaction<'_>, record: &CompileRecord) -> Result<(), StoreError> {
    let lease = record.lease_expires_ms.map(|l| int(l, "time")).transpose()?;
    transaction
        .execute(
            "INSERT INTO compiles (environment, id, state, queued_ms, lease_expires_ms, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (environment, id) DO UPDATE SET state = excluded.state, lease_expires_ms = excluded.lease_expires_ms, record = excluded.record",
            params![record.environment, record.id, record.state.as_str(), int(record.queued_ms, "time")?, lease, to_json(record)?],
        )
        .map_err(backend)?;
    Ok(())
}

fn one(transaction: &Transaction<'_>, sql: &str, parameters: impl rusqlite::Params) -> Result<Option<CompileRecord>, StoreError> {
    let json: Option<String> = transaction.query_row(sql, parameters, |row| row.get(0)).optional().map_err(backend)?;
    json.as_deref().map(read).transpose()
}

pub(super) fn request(connection: &mut Connection, environment: &str, new_id: &str, trigger: &Trigger) -> Result<CompileRecord, StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    let exists: Option<i64> = transaction.query_row("SELECT 1 FROM environments WHERE name = ?1", [environment], |row| row.get(0)).optional().map_err(backend)?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("environment {environment}")));
    }
    let queued = one(&transaction, "SELECT record FROM compiles WHERE environment = ?1 AND state = 'queued'", [environment])?;
    let record = match queued {
        Some(mut record) => {
            record.join(trigger);
            record
        }
        None => CompileRecord::queued(new_id, environment, trigger),
    };
    write(&transaction, &record)?;
    transaction.commit().map_err(backend)?;
    Ok(record)
}

pub(super) fn claim(connection: &mut Connection, server: &str, now_ms: u64, ttl_ms: u64) -> Result<Option<CompileRecord>, StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    let now = int(now_ms, "time")?;
    let abandoned: Vec<String> = {
        let mut query = transaction.prepare("SELECT record FROM compiles WHERE state = 'running' AND lease_expires_ms < ?1").map_err(backend)?;
        let rows = query.query_map([now], |row| row.get(0)).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    for json in abandoned {
        let mut record = read(&json)?;
        let report = abandoned_report(&record);
        record.finish(now_ms, report);
        write(&transaction, &record)?;
    }
    let next = one(
        &transaction,
        "SELECT record FROM compiles AS q WHERE q.state = 'queued'
           AND NOT EXISTS (SELECT 1 FROM compiles AS r WHERE r.environment = q.environment AND r.state = 'running')
         ORDER BY q.queued_ms, q.id LIMIT 1",
        [],
    )?;
    let Some(mut record) = next else {
        transaction.commit().map_err(backend)?;
        return Ok(None);
    };
    record.claim(server, now_ms, ttl_ms);
    write(&transaction, &record)?;
    transaction.commit().map_err(backend)?;
    Ok(Some(record))
}

/// The running compile `id` of the environment if `server` holds it.
fn held(transaction: &Transaction<'_>, environment: &str, id: &str, server: &str) -> Result<Option<CompileRecord>, StoreError> {
    let record = one(transaction, "SELECT record FROM compiles WHERE environment = ?1 AND id = ?2", [environment, id])?;
    Ok(record.filter(|r| r.held_by(server)))
}

pub(super) fn renew(connection: &mut Connection, environment: &str, id: &str, server: &str, until_ms: u64) -> Result<bool, StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    let Some(mut record) = held(&transaction, environment, id, server)? else { return Ok(false) };
    record.lease_expires_ms = Some(until_ms);
    write(&transaction, &record)?;
    transaction.commit().map_err(backend)?;
    Ok(true)
}

pub(super) fn finish(connection: &mut Connection, environment: &str, id: &str, server: &str, now_ms: u64, report: &CompileReport) -> Result<bool, StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    let Some(mut record) = held(&transaction, environment, id, server)? else { return Ok(false) };
    record.finish(now_ms, report.clone());
    write(&transaction, &record)?;
    transaction.commit().map_err(backend)?;
    Ok(true)
}

pub(super) fn list(connection: &mut Connection, environment: &str, limit: usize) -> Result<Vec<CompileRecord>, StoreError> {
    let mut query = connection.prepare("SELECT record FROM compiles WHERE environment = ?1 ORDER BY queued_ms DESC, id DESC LIMIT ?2").map_err(backend)?;
    let rows = query.query_map(params![environment, int(limit as u64, "limit")?], |row| row.get::<_, String>(0)).map_err(backend)?;
    let mut out = Vec::new();
    for json in rows {
        out.push(read(&json.map_err(backend)?)?);
    }
    Ok(out)
}

pub(super) fn get(connection: &mut Connection, environment: &str, id: &str) -> Result<Option<CompileRecord>, StoreError> {
    let json: Option<String> =
        connection.query_row("SELECT record FROM compiles WHERE environment = ?1 AND id = ?2", [environment, id], |row| row.get(0)).optional().map_err(backend)?;
    json.as_deref().map(read).transpose()
}
