//! Resource states and action logs in the MongoDB store: one document per resource of an
//! environment (`resource_states`, with its agent and type for filtered pages) and one per
//! deploy result (`action_logs`). A batch of results is one transaction: its states and
//! its log entries are stored together or not at all. Log entries are ordered by a
//! sequence number per environment (`heads`, `log:ENV`), taken in the same transaction as
//! the states it logs, so that a resource's newest entry is always the result its state
//! shows, however many servers record at once.

use super::ops::{self, batched_all, in_transaction, int, number, optional_string, string, upsert, Failure, DOCUMENTS_PER_INSERT};
use super::schema::{HEADS, LOGS, STATES};
use super::MongoStore;
use crate::records::{prefix_end, StatusFilter};
use crate::store::{now_ms, StoreError};
use cairn_wire::{Action, DeployResult, ResourceId, ResourceState, ResourceStatus};
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;
use std::collections::BTreeMap;

fn status_fields() -> Document {
    doc! { "_id": 0, "resource_id": 1, "state": 1, "deployed_hash": 1, "version": 1 }
}

fn to_status(d: &Document) -> Result<ResourceStatus, Failure> {
    let state = d.get_str("state")?;
    Ok(ResourceStatus {
        resource: ResourceId(string(d, "resource_id")?),
        state: ResourceState::parse(state).ok_or_else(|| Failure::Store(StoreError::Corrupt(format!("state `{state}`"))))?,
        deployed_hash: optional_string(d, "deployed_hash")?,
        version: number(d, "version")?,
    })
}

pub(super) async fn all(store: &MongoStore, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, Failure> {
    let mut cursor = store.collection(STATES).find(doc! { "environment": environment }).projection(status_fields()).await?;
    let mut out = BTreeMap::new();
    while cursor.advance().await? {
        let status = to_status(&cursor.deserialize_current()?)?;
        out.insert(status.resource.clone(), status);
    }
    Ok(out)
}

pub(super) async fn one(store: &MongoStore, environment: &str, resource: &ResourceId) -> Result<Option<ResourceStatus>, Failure> {
    let found = store.collection(STATES).find_one(doc! { "environment": environment, "resource_id": &resource.0 }).projection(status_fields()).await?;
    found.as_ref().map(to_status).transpose()
}

/// A page of states in id order: each filter is an equality on an indexed field followed
/// by the id, and the id prefix and `after` are a range on the id.
pub(super) async fn page(
    store: &MongoStore,
    environment: &str,
    filter: &StatusFilter,
    after: Option<&ResourceId>,
    limit: usize,
) -> Result<Vec<ResourceStatus>, Failure> {
    let mut query = doc! { "environment": environment };
    if let Some(state) = filter.state {
        query.insert("state", state.as_str());
    }
    if let Some(agent) = &filter.agent {
        query.insert("agent", agent);
    }
    if let Some(resource_type) = &filter.resource_type {
        query.insert("resource_type", resource_type);
    }
    let mut range = Document::new();
    if let Some(prefix) = filter.id_prefix.as_deref().filter(|p| !p.is_empty()) {
        range.insert("$gte", prefix);
        if let Some(end) = prefix_end(prefix) {
            range.insert("$lt", end);
        }
    }
    if let Some(after) = after {
        // Both bounds below: the greater one is what counts.
        match range.get_str("$gte") {
            Ok(prefix) if prefix > after.0.as_str() => {}
            _ => {
                range.remove("$gte");
                range.insert("$gt", &after.0);
            }
        }
    }
    if !range.is_empty() {
        query.insert("resource_id", range);
    }
    let mut cursor = store
        .collection(STATES)
        .find(query)
        .sort(doc! { "resource_id": 1 })
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .projection(status_fields())
        .await?;
    let mut out = Vec::new();
    while cursor.advance().await? {
        out.push(to_status(&cursor.deserialize_current()?)?);
    }
    Ok(out)
}

pub(super) async fn count_by_state(store: &MongoStore, environment: &str) -> Result<BTreeMap<ResourceState, u64>, Failure> {
    let pipeline = vec![doc! { "$match": { "environment": environment } }, doc! { "$group": { "_id": "$state", "count": { "$sum": 1 } } }];
    let mut cursor = store.collection(STATES).aggregate(pipeline).await?;
    let mut out = BTreeMap::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        let state = d.get_str("_id")?;
        out.insert(ResourceState::parse(state).ok_or_else(|| Failure::Store(StoreError::Corrupt(format!("state `{state}`"))))?, number(&d, "count")?);
    }
    Ok(out)
}

/// Intents for every resource in one transaction: each state becomes `deploying` in
/// `version`, its deployed hash kept (a resource without a state gets one, without hash).
pub(super) async fn mark_deploying(store: &MongoStore, environment: &str, version: u64, resources: &[ResourceId]) -> Result<(), Failure> {
    if resources.is_empty() {
        return Ok(());
    }
    let statements = intent_statements(environment, version, resources)?;
    in_transaction!(store.client, |session| write_intents(store, session, &statements))
}

/// The writes of [`mark_deploying`], in the caller's transaction.
pub(super) async fn write_intents(store: &MongoStore, session: &mut ClientSession, statements: &[Document]) -> Result<(), Failure> {
    if statements.is_empty() {
        return Ok(());
    }
    batched_all(&store.db, "update", STATES, statements.to_vec(), true, Some(session)).await
}

/// The state statements of intents: each state becomes `deploying` in `version`.
pub(super) fn intent_statements(environment: &str, version: u64, resources: &[ResourceId]) -> Result<Vec<Document>, Failure> {
    let version = int(version, "version")?;
    let now = int(now_ms(), "time")?;
    let statements: Vec<Document> = resources
        .iter()
        .map(|resource| {
            upsert(
                doc! { "environment": environment, "resource_id": &resource.0 },
                doc! {
                    "$set": { "state": ResourceState::Deploying.as_str(), "version": version, "updated_ms": now },
                    "$setOnInsert": { "deployed_hash": Bson::Null, "agent": resource.agent(), "resource_type": resource.resource_type() },
                },
            )
        })
        .collect();
    Ok(statements)
}

/// The state statement of a result: its state, version and time; its deployed hash, or
/// for an intent reported as a result (`deploying` without hash) the hash it had.
fn state_statement(environment: &str, result: &DeployResult) -> Result<Document, Failure> {
    let mut set = doc! {
        "state": result.state.as_str(),
        "version": int(result.version, "version")?,
        "updated_ms": int(result.time_ms, "time")?,
        "agent": result.resource.agent(),
        "resource_type": result.resource.resource_type(),
    };
    let mut update = Document::new();
    if result.deployed_hash.is_none() && result.state == ResourceState::Deploying {
        update.insert("$setOnInsert", doc! { "deployed_hash": Bson::Null });
    } else {
        set.insert("deployed_hash", result.deployed_hash.as_deref());
    }
    update.insert("$set", set);
    Ok(upsert(doc! { "environment": environment, "resource_id": &result.resource.0 }, update))
}

fn log_entry(environment: &str, seq: i64, result: &DeployResult) -> Result<Document, Failure> {
    Ok(doc! {
        "environment": environment,
        "resource_id": &result.resource.0,
        "seq": seq,
        "version": int(result.version, "version")?,
        "time_ms": int(result.time_ms, "time")?,
        "action": result.action.as_str(),
        "state": result.state.as_str(),
        "changed": result.changed,
        "changes": ops::to_json(&result.changes)?,
        "message": &result.message,
        "deployed_hash": result.deployed_hash.as_deref(),
        "diff": result.diff.as_deref(),
    })
}

pub(super) async fn record(store: &MongoStore, environment: &str, results: &[DeployResult]) -> Result<(), Failure> {
    if results.is_empty() {
        return Ok(());
    }
    let statements = state_statements(environment, results)?;
    in_transaction!(store.client, |session| write_results(store, session, environment, results, &statements))
}

/// The state statements of results (a dry run looks; it changes no resource's state).
pub(super) fn state_statements(environment: &str, results: &[DeployResult]) -> Result<Vec<Document>, Failure> {
    results.iter().filter(|r| r.state != ResourceState::Dry).map(|r| state_statement(environment, r)).collect()
}

/// The writes of [`record`] (`statements` from [`state_statements`]), in the caller's
/// transaction.
pub(super) async fn write_results(
    store: &MongoStore,
    session: &mut ClientSession,
    environment: &str,
    results: &[DeployResult],
    statements: &[Document],
) -> Result<(), Failure> {
    if results.is_empty() {
        return Ok(());
    }
    let count = results.len() as i64;
    // In the order given: a resource reported twice ends as its last result says.
    batched_all(&store.db, "update", STATES, statements.to_vec(), true, Some(&mut *session)).await?;
    // The sequence last, so that concurrent batches hold it as briefly as possible.
    let first = ops::advance_counter(&store.collection(HEADS), &format!("log:{environment}"), environment, count, Some(&mut *session)).await? - count + 1;
    let entries: Vec<Document> = results.iter().enumerate().map(|(n, r)| log_entry(environment, first + n as i64, r)).collect::<Result<_, _>>()?;
    let logs = store.collection(LOGS);
    for chunk in entries.chunks(DOCUMENTS_PER_INSERT) {
        logs.insert_many(chunk).session(&mut *session).await?;
    }
    Ok(())
}

pub(super) async fn logs(store: &MongoStore, environment: &str, resource: &ResourceId) -> Result<Vec<DeployResult>, Failure> {
    let mut cursor = store.collection(LOGS).find(doc! { "environment": environment, "resource_id": &resource.0 }).sort(doc! { "seq": 1 }).await?;
    let mut out = Vec::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        let action = d.get_str("action")?;
        let state = d.get_str("state")?;
        out.push(DeployResult {
            resource: resource.clone(),
            version: number(&d, "version")?,
            action: Action::parse(action).ok_or_else(|| Failure::Store(StoreError::Corrupt(format!("action `{action}`"))))?,
            state: ResourceState::parse(state).ok_or_else(|| Failure::Store(StoreError::Corrupt(format!("state `{state}`"))))?,
            changed: d.get_bool("changed")?,
            changes: ops::json(&d, "changes")?,
            message: string(&d, "message")?,
            deployed_hash: optional_string(&d, "deployed_hash")?,
            diff: optional_string(&d, "diff")?,
            time_ms: number(&d, "time_ms")?,
        });
    }
    Ok(out)
}
