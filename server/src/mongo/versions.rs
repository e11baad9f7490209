//! Versions in the MongoDB store. A version is a document in `versions`, one member per
//! resource in `version_members`, and the resource documents by hash in `documents`, each
//! kept once per environment with a count of the members that use it.
//!
//! A version of 65,000 resources is too large for one transaction, so it is written in an
//! order that never shows a partial version, and read so that it never returns one:
//! 1. its number comes from the environment's counter (`heads`, `$inc`, atomic on the
//!    server: distinct and increasing however many servers create versions at once; never
//!    given again, even when a creation fails half-way);
//! 2. its members are inserted (`insert_many`, in batches);
//! 3. its documents are upserted (batched `update` commands), each counting its new members;
//! 4. the version document is inserted: only now is the version listed or read.
//!
//! A reader checks the version document before and after reading members and documents:
//! it exists before only once everything is written, and still exists after only if no
//! deletion had begun, because deleting goes the other way round: the version document
//! first (in a transaction that also checks the release), then each member's count is
//! taken off its document, then the members, then every document no member counts any
//! more. A document's count is taken off only by the deletion of a version that counted
//! it, so a document in use by another version (or by one being created) is never deleted;
//! a creation that finds its document deleted meanwhile upserts it again before its version
//! is listed. A crash half-way through either leaves unused members or documents (space),
//! never a listed version that lacks something.

use super::ops::{self, batched, batched_all, in_transaction, int, number, string, upsert, Failure, DOCUMENTS_PER_INSERT, KEYS_PER_LOOKUP};
use super::schema::{DOCUMENTS, HEADS, MEMBERS, VERSIONS};
use super::MongoStore;
use crate::store::{now_ms, StoreError};
use cairn_wire::{ResourceDoc, ResourceId, VersionInfo};
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    let mut seen = BTreeSet::new();
    // Each document once, with how many members of this version use it.
    let mut documents: BTreeMap<&str, (String, i64)> = BTreeMap::new();
    for resource in resources {
        if !seen.insert(resource.id.0.as_str()) {
            return Err(Failure::Store(StoreError::Invalid(format!("the version lists {} twice", resource.id))));
        }
        match documents.get_mut(resource.hash.as_str()) {
            Some((_, count)) => *count += 1,
            None => {
                documents.insert(&resource.hash, (ops::to_json(resource)?, 1));
            }
        }
    }
    let digest = cairn_wire::version_digest(resources);
    let created_ms = int(now_ms(), "time")?;
    let version = ops::advance_counter(&store.collection(HEADS), &version_head(environment), environment, 1, None).await?;
    if let Err(failure) = write_members_and_documents(store, environment, version, resources, &documents).await {
        // Nothing lists this version; its members would only take space.
        let _ = store.collection(MEMBERS).delete_many(doc! { "environment": environment, "version": version }).await;
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
        })
        .await?;
    Ok(version as u64)
}

async fn write_members_and_documents(
    store: &MongoStore,
    environment: &str,
    version: i64,
    resources: &[ResourceDoc],
    documents: &BTreeMap<&str, (String, i64)>,
) -> Result<(), Failure> {
    let members = store.collection(MEMBERS);
    for chunk in resources.chunks(DOCUMENTS_PER_INSERT) {
        let batch: Vec<Document> = chunk
            .iter()
            .map(|r| doc! { "environment": environment, "version": version, "resource_id": &r.id.0, "hash": &r.hash })
            .collect();
        members.insert_many(batch).ordered(false).await?;
    }
    let statements: Vec<Document> = documents
        .iter()
        .map(|(hash, (json, count))| {
            upsert(doc! { "environment": environment, "hash": *hash }, doc! { "$inc": { "refs": *count }, "$setOnInsert": { "json": json } })
        })
        .collect();
    let failed = batched(&store.db, "update", DOCUMENTS, statements.clone(), false, None).await?;
    if failed.is_empty() {
        return Ok(());
    }
    // Two writers upserting one new document at once: one of the inserts loses to the
    // unique index. Upserted again, it finds the document and counts.
    if let Some(other) = failed.iter().find(|e| !e.is_duplicate()) {
        return Err(Failure::Store(StoreError::Backend(format!("storing documents failed with code {}: {}", other.code, other.message))));
    }
    let again: Vec<Document> = failed.iter().map(|e| statements[e.index].clone()).collect();
    batched_all(&store.db, "update", DOCUMENTS, again, false, None).await
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
/// `limit`). Members come by a range on the `(environment, version, resource_id)` index,
/// their documents by hash in batches.
pub(super) async fn resources(
    store: &MongoStore,
    environment: &str,
    version: u64,
    after: Option<&ResourceId>,
    limit: Option<usize>,
) -> Result<Vec<ResourceDoc>, Failure> {
    let condition = after.map(|after| doc! { "$gt": &after.0 }.into());
    matching(store, environment, version, condition, limit).await
}

/// One resource of a version, by its id.
pub(super) async fn resource(store: &MongoStore, environment: &str, version: u64, id: &ResourceId) -> Result<Option<ResourceDoc>, Failure> {
    Ok(matching(store, environment, version, Some(id.0.as_str().into()), Some(1)).await?.into_iter().next())
}

/// The members of a version whose id matches `condition` (all when none), in id order.
async fn matching(
    store: &MongoStore,
    environment: &str,
    version: u64,
    condition: Option<mongodb::bson::Bson>,
    limit: Option<usize>,
) -> Result<Vec<ResourceDoc>, Failure> {
    let version = int(version, "version")?;
    if !exists(store, environment, version).await? {
        return Ok(Vec::new());
    }
    let mut filter = doc! { "environment": environment, "version": version };
    if let Some(condition) = condition {
        filter.insert("resource_id", condition);
    }
    let members_collection = store.collection(MEMBERS);
    let mut find = members_collection.find(filter).sort(doc! { "resource_id": 1 }).projection(doc! { "_id": 0, "resource_id": 1, "hash": 1 });
    if let Some(limit) = limit {
        find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let mut cursor = find.await?;
    let mut members = Vec::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        members.push((string(&d, "resource_id")?, string(&d, "hash")?));
    }
    let hashes: Vec<&str> = members.iter().map(|(_, h)| h.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut json: HashMap<String, String> = HashMap::with_capacity(hashes.len());
    let documents = store.collection(DOCUMENTS);
    for chunk in hashes.chunks(KEYS_PER_LOOKUP) {
        let mut cursor = documents
            .find(doc! { "environment": environment, "hash": { "$in": chunk } })
            .projection(doc! { "_id": 0, "hash": 1, "json": 1 })
            .await?;
        while cursor.advance().await? {
            let d: Document = cursor.deserialize_current()?;
            json.insert(string(&d, "hash")?, string(&d, "json")?);
        }
    }
    // Deleted while read: it is gone, whatever was read of it.
    if !exists(store, environment, version).await? {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(members.len());
    for (id, hash) in &members {
        let text = json.get(hash).ok_or_else(|| {
            Failure::Store(StoreError::Corrupt(format!("version {version} of {environment}: the document of {id} (hash {hash}) is missing")))
        })?;
        out.push(serde_json::from_str(text).map_err(|e| Failure::Store(StoreError::Corrupt(format!("the document of {id}: {e}"))))?);
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

/// After their version documents went: takes each member's count off its document,
/// deletes the members, then the documents no member counts any more.
async fn forget(store: &MongoStore, environment: &str, versions: &[i64]) -> Result<(), Failure> {
    if versions.is_empty() {
        return Ok(());
    }
    let members = store.collection(MEMBERS);
    for version in versions {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        let mut cursor = members.find(doc! { "environment": environment, "version": version }).projection(doc! { "_id": 0, "hash": 1 }).await?;
        while cursor.advance().await? {
            let d: Document = cursor.deserialize_current()?;
            *counts.entry(string(&d, "hash")?).or_default() += 1;
        }
        let statements: Vec<Document> = counts
            .iter()
            .map(|(hash, count)| ops::update(doc! { "environment": environment, "hash": hash }, doc! { "$inc": { "refs": -count } }))
            .collect();
        batched_all(&store.db, "update", DOCUMENTS, statements, false, None).await?;
        members.delete_many(doc! { "environment": environment, "version": version }).await?;
    }
    store.collection(DOCUMENTS).delete_many(doc! { "environment": environment, "refs": { "$lte": 0 } }).await?;
    Ok(())
}
