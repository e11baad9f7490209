//! File bodies in the MongoDB store, by their hex SHA-1 (`files._id`), shared by every
//! environment. A body of up to [`CHUNK`] bytes is one document; a larger one (a document
//! holds at most 16 MiB) is split into `file_chunks`, written before the `files` document
//! that names them, so that a file the store says it has is whole.

use super::ops::{self, Failure};
use super::schema::{FILES, FILE_CHUNKS};
use super::MongoStore;
use crate::store::StoreError;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, Bson, Document};
use std::collections::{BTreeMap, HashSet};

/// The largest body kept in one document, and the size of the chunks of larger ones.
const CHUNK: usize = 8 * 1024 * 1024;
/// Hashes per `$in` of [`missing`]: one query for any upload of a sensible size, a few
/// for a huge one (a command holds at most 16 MiB).
const HASHES_PER_QUERY: usize = 10_000;

fn binary(bytes: &[u8]) -> Bson {
    Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: bytes.to_vec() })
}

/// Inserts documents, each once: those there already are kept as they are.
async fn insert_once(store: &MongoStore, collection: &str, documents: Vec<Document>) -> Result<(), Failure> {
    if documents.is_empty() {
        return Ok(());
    }
    match store.collection(collection).insert_many(documents).ordered(false).await {
        Err(error) if !ops::only_duplicates(&error) => Err(error.into()),
        _ => Ok(()),
    }
}

pub(super) async fn missing(store: &MongoStore, hashes: &[String]) -> Result<Vec<String>, Failure> {
    let mut present = HashSet::new();
    for chunk in hashes.chunks(HASHES_PER_QUERY) {
        let mut cursor = store.collection(FILES).find(doc! { "_id": { "$in": chunk } }).projection(doc! { "_id": 1 }).await?;
        while cursor.advance().await? {
            let d: Document = cursor.deserialize_current()?;
            present.insert(d.get_str("_id")?.to_string());
        }
    }
    Ok(hashes.iter().filter(|h| !present.contains(h.as_str())).cloned().collect())
}

pub(super) async fn put(store: &MongoStore, files: &[(String, Vec<u8>)]) -> Result<(), Failure> {
    // Each body once, even when an upload names it twice.
    let unique: BTreeMap<&str, &[u8]> = files.iter().map(|(h, b)| (h.as_str(), b.as_slice())).collect();
    let mut small = Vec::new();
    for (hash, body) in &unique {
        if body.len() <= CHUNK {
            small.push(doc! { "_id": *hash, "size": body.len() as i64, "content": binary(body) });
            continue;
        }
        let count = body.len().div_ceil(CHUNK) as i64;
        // One chunk per insert: each is nearly as large as a message may be.
        for (n, part) in body.chunks(CHUNK).enumerate() {
            insert_once(store, FILE_CHUNKS, vec![doc! { "file": *hash, "n": n as i64, "data": binary(part) }]).await?;
        }
        insert_once(store, FILES, vec![doc! { "_id": *hash, "size": body.len() as i64, "chunks": count }]).await?;
    }
    // The driver splits these into messages of the size the server takes.
    insert_once(store, FILES, small).await
}

pub(super) async fn get(store: &MongoStore, hash: &str) -> Result<Option<Vec<u8>>, Failure> {
    let Some(file) = store.collection(FILES).find_one(doc! { "_id": hash }).await? else { return Ok(None) };
    if let Ok(content) = file.get_binary_generic("content") {
        return Ok(Some(content.clone()));
    }
    let size = usize::try_from(ops::number(&file, "size")?).unwrap_or(usize::MAX);
    let count = ops::number(&file, "chunks")?;
    let mut body = Vec::with_capacity(size.min(1 << 30));
    let mut seen = 0;
    let mut cursor = store.collection(FILE_CHUNKS).find(doc! { "file": hash }).sort(doc! { "n": 1 }).batch_size(2).await?;
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        if ops::number(&d, "n")? != seen {
            break;
        }
        body.extend_from_slice(d.get_binary_generic("data")?);
        seen += 1;
    }
    if seen != count || body.len() != size {
        return Err(Failure::Store(StoreError::Corrupt(format!("file {hash}: {seen} of {count} chunks, {} of {size} bytes", body.len()))));
    }
    Ok(Some(body))
}
