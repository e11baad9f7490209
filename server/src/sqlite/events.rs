//! The event log in the embedded store: table `events`, numbered by SQLite's AUTOINCREMENT
//! (one sequence, never reused). One connection serves the store, so events are readable
//! in the order they are numbered.

use super::{backend, corrupt_json, int, to_json};
use crate::events::{Event, NewEvent};
use crate::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

/// How often [`super::SqliteStore`]'s feed reads the last id given.
pub(super) const FEED_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Appends events on `connection` (in the caller's transaction, when it has one); returns
/// the last id given.
pub(super) fn insert(connection: &Connection, events: &[NewEvent]) -> Result<u64, StoreError> {
    let mut statement = connection
        .prepare_cached("INSERT INTO events (environment, kind, time_ms, data) VALUES (?1, ?2, ?3, ?4)")
        .map_err(backend)?;
    for event in events {
        statement
            .execute(params![event.environment, event.kind.as_str(), int(event.time_ms, "time")?, to_json(&event.data)?])
            .map_err(backend)?;
    }
    last_given(connection)
}

pub(super) fn append(connection: &mut Connection, events: &[NewEvent]) -> Result<u64, StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    let last = insert(&transaction, events)?;
    transaction.commit().map_err(backend)?;
    Ok(last)
}

pub(super) fn last_given(connection: &Connection) -> Result<u64, StoreError> {
    let last: Option<i64> = connection
        .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'events'", [], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    Ok(last.unwrap_or(0).max(0) as u64)
}

pub(super) fn after(connection: &Connection, after: u64, environment: Option<&str>, limit: usize) -> Result<Vec<Event>, StoreError> {
    let after = int(after, "event id")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, String, String, i64, String)> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
    };
    let rows: Vec<(i64, String, String, i64, String)> = match environment {
        Some(environment) => {
            let mut statement = connection
                .prepare_cached("SELECT id, environment, kind, time_ms, data FROM events WHERE environment = ?1 AND id > ?2 ORDER BY id LIMIT ?3")
                .map_err(backend)?;
            let rows = statement.query_map(params![environment, after, limit], read).map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        }
        None => {
            let mut statement =
                connection.prepare_cached("SELECT id, environment, kind, time_ms, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2").map_err(backend)?;
            let rows = statement.query_map(params![after, limit], read).map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        }
    };
    rows.into_iter()
        .map(|(id, environment, kind, time_ms, data)| {
            Ok(Event { id: id as u64, time_ms: time_ms as u64, environment, kind, data: serde_json::from_str(&data).map_err(corrupt_json)? })
        })
        .collect()
}

pub(super) fn bounds(connection: &Connection) -> Result<(Option<u64>, u64), StoreError> {
    let first: Option<i64> = connection.query_row("SELECT MIN(id) FROM events", [], |row| row.get(0)).map_err(backend)?;
    Ok((first.map(|f| f as u64), last_given(connection)?))
}

pub(super) fn prune(connection: &Connection, before_ms: u64) -> Result<u64, StoreError> {
    let deleted = connection.execute("DELETE FROM events WHERE time_ms < ?1", params![int(before_ms, "time")?]).map_err(backend)?;
    Ok(deleted as u64)
}
