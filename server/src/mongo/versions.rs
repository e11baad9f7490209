//! Versions in the MongoDB store. A version is a document in `versions` and its resources,
//! sorted by id, in chunks of up to a thousand (`version_chunks`, each holding the
//! resources' documents as JSON): a version of 65,000 resources is 65 documents to write
//! and to read, so its cost does not grow with the server's cost per document.
//!
//! A version is too large for one transaction, so it is written in an order that never
//! shows a partial version, and read so that it never returns one:
//! 1. its number comes from the environment's counter (`heads`, `$inc`, atomic on the
//!    server: distinct and increasing however many servers create versions at once; never
//!    given again, even when a creation fails half-way);
//! 2. its chunks are inserted;
//! 3. the version document is inserted: only now is the version listed or read.
//!
//! A reader checks the version document before and after reading chunks: it exists before
//! only once everything is written, and still exists after only if no deletion had begun,
//! because deleting goes the other way round: the version document first (in a transaction
//! that also checks the release), then its chunks. A crash half-way through either leaves
//! chunks that no version lists (space), never a listed version that lacks something.

use super::ops::{self, in_transaction, int, number, string, Failure};
use super::schema::{CHUNKS, HEADS, VERSIONS};
use super::MongoStore;
use crate::store::{now_ms, StoreError};
use cairn_wire::{ResourceDoc, ResourceId, VersionInfo};
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;

/// The most resources one chunk holds.
pub(super) const RESOURCES_PER_CHUNK: usize = 1_000;
/// A chunk is closed once its JSON reaches this size, far below the 16 MiB a document may
/// be (a resource larger than what remains is a chunk of its own).
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Chunks per insert command.
const CHUNKS_PER_INSERT: usize = 8;

fn version_head(environment: &str) -> String {
    format!("version:{environment}")
}

fn release_head(environment: &str) -> String {
    format!("release:{environment}")
}

/// In a transaction, an upsert that races another one creating the same document loses
/// to the unique index without the server calling it transient: the whole transaction is
/// tried again (and then finds the document).
fn retry_on_duplicate(error: mongodb::error::Error) -> Failure {
    if ops::is_duplicate(&error) {
        Failure::Retry(error.to_string())
    } else {
        Failure::Mongo(error)
    }
}

pub(super) async fn create(store: &MongoStore, environment: &str, resources: &[ResourceDoc]) -> Result<u64, Failure> {
    let mut sorted: Vec<&ResourceDoc> = resources.iter().collect();
    sorted.sort_by(|a, b| a.id.0.cmp(&b.id.0));
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0].id == pair[1].id) {
        return Err(Failure::Store(StoreError::Invalid(format!("the version lists {} twice", pair[0].id))));
    }
    let mut chunks: Vec<Vec<Document>> = Vec::new();
    let (mut current, mut bytes) = (Vec::new(), 0usize);
    for resource in sorted {
        let json = ops::to_json(resource)?;
        if !current.is_empty() && (current.len() >= RESOURCES_PER_CHUNK || bytes + json.len() > CHUNK_BYTES) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += json.len() + resource.id.0.len();
        current.push(doc! { "id": &resource.id.0, "json": json });
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    // The version document lists each chunk's last id: a reader finds the chunk that holds
    // an id without reading any other.
    let lasts: Vec<String> = chunks.iter().map(|chunk| chunk.last().and_then(|r| r.get_str("id").ok()).unwrap_or_default().to_string()).collect();
    let digest = cairn_wire::version_digest(resources);
    let created_ms = int(now_ms(), "time")?;
    let version = ops::advance_counter(&store.collection(HEADS), &version_head(environment), environment, 1, None).await?;
    if let Err(failure) = write_chunks(store, environment, version, chunks).await {
        // Nothing lists this version; its chunks would only take space.
        let _ = store.collection(CHUNKS).delete_many(doc! { "environment": environment, "version": version }).await;
        return Err(failure);
    }
    store
        .collection(VERSIONS)
        .insert_one(doc! {
            "environment": environment,
            "version": version,
            "created_ms": created_ms,
            "resource_count": resources.len() as i64,
            "digest": digest,
            "chunk_lasts": lasts,
        })
        .await?;
    Ok(version as u64)
}

async fn write_chunks(store: &MongoStore, environment: &str, version: i64, chunks: Vec<Vec<Document>>) -> Result<(), Failure> {
    let collection = store.collection(CHUNKS);
    let documents: Vec<Document> = chunks
        .into_iter()
        .enumerate()
        .map(|(n, resources)| {
            let first = resources.first().and_then(|r| r.get_str("id").ok()).unwrap_or_default().to_string();
            let last = resources.last().and_then(|r| r.get_str("id").ok()).unwrap_or_default().to_string();
            doc! { "environment": environment, "version": version, "n": n as i64, "first": first, "last": last, "resources": resources }
        })
        .collect();
    for batch in documents.chunks(CHUNKS_PER_INSERT) {
        collection.insert_many(batch.to_vec()).await?;
    }
    Ok(())
}

pub(super) async fn latest(store: &MongoStore, environment: &str) -> Result<Option<u64>, Failure> {
    let newest = store
        .collection(VERSIONS)
        .find_one(doc! { "environment": environment })
        .sort(doc! { "version": -1 })
        .projection(doc! { "version": 1 })
        .await?;
    newest.map(|d| number(&d, "version")).transpose()
}

pub(super) async fn list(store: &MongoStore, environment: &str) -> Result<Vec<VersionInfo>, Failure> {
    let mut cursor = store.collection(VERSIONS).find(doc! { "environment": environment }).sort(doc! { "version": -1 }).await?;
    let mut out = Vec::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        out.push(VersionInfo {
            version: number(&d, "version")?,
            created_ms: number(&d, "created_ms")?,
            resource_count: number(&d, "resource_count")?,
            digest: string(&d, "digest")?,
        });
    }
    Ok(out)
}

async fn exists(store: &MongoStore, environment: &str, version: i64) -> Result<bool, Failure> {
    let found = store.collection(VERSIONS).find_one(doc! { "environment": environment, "version": version }).projection(doc! { "_id": 1 }).await?;
    Ok(found.is_some())
}

/// A version's documents in id order: all, or a page (ids after `after`, at most
/// `limit`): the chunks from the one that holds the first id wanted on.
pub(super) async fn resources(
    store: &MongoStore,
    environment: &str,
    version: u64,
    after: Option<&ResourceId>,
    limit: Option<usize>,
) -> Result<Vec<ResourceDoc>, Failure> {
    read(store, environment, version, Wanted::After(after.map(|a| a.0.as_str()), limit.unwrap_or(usize::MAX))).await
}

/// One resource of a version, by its id.
pub(super) async fn resource(store: &MongoStore, environment: &str, version: u64, id: &ResourceId) -> Result<Option<ResourceDoc>, Failure> {
    Ok(read(store, environment, version, Wanted::One(&id.0)).await?.into_iter().next())
}

enum Wanted<'a> {
    /// The ids after the first (all when none), at most so many.
    After(Option<&'a str>, usize),
    One(&'a str),
}

/// The last id of each chunk of a version, in order (`None` when the version is not
/// listed: not yet whole, or deleted).
async fn chunk_lasts(store: &MongoStore, environment: &str, version: i64) -> Result<Option<Vec<String>>, Failure> {
    let found = store
        .collection(VERSIONS)
        .find_one(doc! { "environment": environment, "version": version })
        .projection(doc! { "_id": 0, "chunk_lasts": 1 })
        .await?;
    let Some(found) = found else { return Ok(None) };
    let lasts = found
        .get_array("chunk_lasts")
        .map_err(|e| Failure::Store(StoreError::Corrupt(format!("version {version} of {environment}: {e}"))))?
        .iter()
        .map(|last| last.as_str().map(str::to_string))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| Failure::Store(StoreError::Corrupt(format!("version {version} of {environment}: a chunk id is not text"))))?;
    Ok(Some(lasts))
}

async fn read(store: &MongoStore, environment: &str, version: u64, wanted: Wanted<'_>) -> Result<Vec<ResourceDoc>, Failure> {
    let version = int(version, "version")?;
    let Some(lasts) = chunk_lasts(store, environment, version).await? else { return Ok(Vec::new()) };
    let (first_chunk, from, limit) = match &wanted {
        Wanted::After(Some(after), limit) => (lasts.partition_point(|last| last.as_str() <= *after), Some(*after), *limit),
        Wanted::After(None, limit) => (0, None, *limit),
        Wanted::One(id) => (lasts.partition_point(|last| last.as_str() < *id), None, 1),
    };
    if limit == 0 || first_chunk >= lasts.len() {
        return Ok(Vec::new());
    }
    let collection = store.collection(CHUNKS);
    let mut out = Vec::new();
    'chunks: for n in first_chunk..lasts.len() {
        let chunk = collection.find_one(doc! { "environment": environment, "version": version, "n": n as i64 }).await?;
        let Some(chunk) = chunk else {
            // Deleted while read (gone, whatever was read of it), or a chunk lost.
            if exists(store, environment, version).await? {
                return Err(Failure::Store(StoreError::Corrupt(format!("version {version} of {environment}: chunk {n} is missing"))));
            }
            return Ok(Vec::new());
        };
        let resources = chunk.get_array("resources").map_err(|e| Failure::Store(StoreError::Corrupt(format!("a chunk of version {version} of {environment}: {e}"))))?;
        for entry in resources {
            let Some(entry) = entry.as_document() else {
                return Err(Failure::Store(StoreError::Corrupt(format!("a chunk of version {version} of {environment} holds a non-document"))));
            };
            let id = string(entry, "id")?;
            if let Wanted::One(one) = &wanted {
                if id.as_str() != *one {
                    continue;
                }
            }
            if from.is_some_and(|from| id.as_str() <= from) {
                continue;
            }
            let json = string(entry, "json")?;
            out.push(serde_json::from_str(&json).map_err(|e| Failure::Store(StoreError::Corrupt(format!("the document of {id}: {e}"))))?);
            if out.len() >= limit {
                break 'chunks;
            }
        }
        if matches!(wanted, Wanted::One(_)) {
            break;
        }
    }
    // Deleted while read: it is gone, whatever was read of it.
    if !exists(store, environment, version).await? {
        return Ok(Vec::new());
    }
    Ok(out)
}

/// The released version, read in the transaction when one is given.
async fn released_in(store: &MongoStore, environment: &str, session: Option<&mut ClientSession>) -> Result<Option<i64>, Failure> {
    let heads = store.collection(HEADS);
    let find = heads.find_one(doc! { "_id": release_head(environment) });
    let head = match session {
        Some(session) => find.session(session).await?,
        None => find.await?,
    };
    match head.as_ref().and_then(|h| h.get("version")) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => head.map(|h| number(&h, "version").and_then(|v| int(v, "version"))).transpose(),
    }
}

/// Writes the release head in the transaction, so that releasing and deleting versions
/// conflict (one is tried again) instead of both reading what the other changes.
async fn touch_release(store: &MongoStore, environment: &str, session: &mut ClientSession, version: Option<i64>) -> Result<(), Failure> {
    let mut set = doc! { "environment": environment };
    if let Some(version) = version {
        set.insert("version", version);
    }
    store
        .collection(HEADS)
        .update_one(doc! { "_id": release_head(environment) }, doc! { "$set": set, "$inc": { "fence": 1_i64 } })
        .upsert(true)
        .session(session)
        .await
        .map_err(retry_on_duplicate)?;
    Ok(())
}

pub(super) async fn release(store: &MongoStore, environment: &str, version: u64) -> Result<(), Failure> {
    let version = int(version, "version")?;
    let versions = store.collection(VERSIONS);
    in_transaction!(store.client, |session| async {
        let found = versions.find_one(doc! { "environment": environment, "version": version }).projection(doc! { "_id": 1 }).session(&mut *session).await?;
        if found.is_none() {
            return Err(Failure::Store(StoreError::NotFound(format!("version {version} of environment {environment}"))));
        }
        touch_release(store, environment, session, Some(version)).await
    })
}

pub(super) async fn released(store: &MongoStore, environment: &str) -> Result<Option<u64>, Failure> {
    Ok(released_in(store, environment, None).await?.map(|v| v as u64))
}

pub(super) async fn prune(store: &MongoStore, environment: &str, keep: usize) -> Result<usize, Failure> {
    let keep = keep.max(1);
    let versions = store.collection(VERSIONS);
    let doomed: Vec<i64> = in_transaction!(store.client, |session| async {
        // The released version stays, however old: agents deploy it.
        let released = released_in(store, environment, Some(&mut *session)).await?;
        let mut cursor =
            versions.find(doc! { "environment": environment }).sort(doc! { "version": -1 }).projection(doc! { "_id": 0, "version": 1 }).session(&mut *session).await?;
        let mut numbers = Vec::new();
        while cursor.advance(&mut *session).await? {
            let d: Document = cursor.deserialize_current()?;
            numbers.push(int(number(&d, "version")?, "version")?);
        }
        let doomed: Vec<i64> = numbers.into_iter().skip(keep).filter(|v| Some(*v) != released).collect();
        if !doomed.is_empty() {
            versions.delete_many(doc! { "environment": environment, "version": { "$in": &doomed } }).session(&mut *session).await?;
            touch_release(store, environment, session, None).await?;
        }
        Ok::<_, Failure>(doomed)
    })?;
    forget(store, environment, &doomed).await?;
    Ok(doomed.len())
}

pub(super) async fn delete(store: &MongoStore, environment: &str, version: u64) -> Result<bool, Failure> {
    let version = int(version, "version")?;
    let versions = store.collection(VERSIONS);
    let deleted = in_transaction!(store.client, |session| async {
        if released_in(store, environment, Some(&mut *session)).await? == Some(version) {
            return Err(Failure::Store(StoreError::Conflict(format!("version {version} of environment {environment} is the released version"))));
        }
        let deleted = versions.delete_one(doc! { "environment": environment, "version": version }).session(&mut *session).await?.deleted_count > 0;
        if deleted {
            touch_release(store, environment, session, None).await?;
        }
        Ok::<_, Failure>(deleted)
    })?;
    if deleted {
        forget(store, environment, &[version]).await?;
    }
    Ok(deleted)
}

/// After their version documents went: deletes their chunks.
async fn forget(store: &MongoStore, environment: &str, versions: &[i64]) -> Result<(), Failure> {
    if versions.is_empty() {
        return Ok(());
    }
    store.collection(CHUNKS).delete_many(doc! { "environment": environment, "version": { "$in": versions } }).await?;
    Ok(())
}
