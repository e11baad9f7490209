//! File bodies in the embedded store (`files`): by the hex SHA-1 of their content, each
//! kept once, shared by every environment.

use super::backend;
use crate::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

pub(super) fn missing(connection: &mut Connection, hashes: Vec<String>) -> Result<Vec<String>, StoreError> {
    let mut query = connection.prepare("SELECT 1 FROM files WHERE hash = ?1").map_err(backend)?;
    let mut missing = Vec::new();
    for hash in hashes {
        if !query.exists([&hash]).map_err(backend)? {
            missing.push(hash);
        }
    }
    Ok(missing)
}

pub(super) fn put(connection: &mut Connection, files: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    {
        let mut insert = transaction.prepare("INSERT OR IGNORE INTO files (hash, content) VALUES (?1, ?2)").map_err(backend)?;
        for (hash, content) in files {
            insert.execute(params![hash, content]).map_err(backend)?;
        }
    }
    transaction.commit().map_err(backend)
}

pub(super) fn get(connection: &mut Connection, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
    connection.query_row("SELECT content FROM files WHERE hash = ?1", [hash], |row| row.get(0)).optional().map_err(backend)
}
