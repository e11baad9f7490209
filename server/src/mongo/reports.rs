//! What agents report besides deploys, in the MongoDB store: facts (`facts`, one document
//! per resource and fact name, so that a report merges into what is there with upserts and
//! no read; fact names may hold any character, which field names may not) and dry runs
//! (`dryruns`, and `dryrun_results`, one document per dry run and resource: a resource
//! reported again replaces its result). Each write is one transaction.

use super::ops::{self, batched_all, in_transaction, upsert, Failure};
use super::schema::{DRYRUNS, DRYRUN_RESULTS, FACTS};
use super::MongoStore;
use crate::records::DryRunRecord;
use crate::store::StoreError;
use cairn_wire::{DeployResult, ResourceId};
use mongodb::bson::{doc, Document};
use mongodb::ClientSession;
use std::collections::BTreeMap;

pub(super) async fn set_facts(
    store: &MongoStore,
    environment: &str,
    resource: &ResourceId,
    facts: &BTreeMap<String, serde_json::Value>,
) -> Result<(), Failure> {
    if facts.is_empty() {
        return Ok(());
    }
    let statements: Vec<Document> = facts
        .iter()
        .map(|(name, value)| {
            Ok(upsert(doc! { "environment": environment, "resource_id": &resource.0, "name": name }, doc! { "$set": { "value": ops::to_json(value)? } }))
        })
        .collect::<Result<_, Failure>>()?;
    in_transaction!(store.client, |session| batched_all(&store.db, "update", FACTS, statements.clone(), false, Some(session)))
}

pub(super) async fn facts(store: &MongoStore, environment: &str) -> Result<BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>, Failure> {
    let mut cursor = store.collection(FACTS).find(doc! { "environment": environment }).await?;
    let mut out: BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        out.entry(ResourceId(ops::string(&d, "resource_id")?)).or_default().insert(ops::string(&d, "name")?, ops::json(&d, "value")?);
    }
    Ok(out)
}

/// The upserts that store results of a dry run, each replacing the resource's earlier one.
fn result_statements(environment: &str, id: &str, results: &[DeployResult]) -> Result<Vec<Document>, Failure> {
    results
        .iter()
        .map(|result| {
            Ok(upsert(
                doc! { "environment": environment, "dryrun": id, "resource_id": &result.resource.0 },
                doc! { "$set": { "result": ops::to_json(result)? } },
            ))
        })
        .collect()
}

async fn put_results(store: &MongoStore, session: &mut ClientSession, statements: &[Document]) -> Result<(), Failure> {
    if statements.is_empty() {
        return Ok(());
    }
    // In order: a resource given twice ends as its last result says.
    batched_all(&store.db, "update", DRYRUN_RESULTS, statements.to_vec(), true, Some(session)).await
}

pub(super) async fn create_dryrun(store: &MongoStore, environment: &str, dryrun: &DryRunRecord) -> Result<(), Failure> {
    let document = doc! {
        "environment": environment,
        "id": &dryrun.id,
        "version": ops::int(dryrun.version, "version")?,
        "created_ms": ops::int(dryrun.created_ms, "time")?,
    };
    let statements = result_statements(environment, &dryrun.id, &dryrun.results)?;
    let dryruns = store.collection(DRYRUNS);
    in_transaction!(store.client, |session| async {
        dryruns.insert_one(document.clone()).session(&mut *session).await.map_err(|e| {
            if ops::is_duplicate(&e) {
                Failure::Store(StoreError::Conflict(format!("dry run {} of environment {environment}", dryrun.id)))
            } else {
                e.into()
            }
        })?;
        put_results(store, session, &statements).await
    })
}

/// The dry runs of an environment (or only the one of that id), newest first, with their
/// results in resource id order.
pub(super) async fn dryruns(store: &MongoStore, environment: &str, id: Option<&str>) -> Result<Vec<DryRunRecord>, Failure> {
    let mut filter = doc! { "environment": environment };
    if let Some(id) = id {
        filter.insert("id", id);
    }
    let mut cursor = store.collection(DRYRUNS).find(filter).sort(doc! { "created_ms": -1, "id": -1 }).await?;
    let mut runs = Vec::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        runs.push(DryRunRecord {
            id: ops::string(&d, "id")?,
            version: ops::number(&d, "version")?,
            created_ms: ops::number(&d, "created_ms")?,
            results: Vec::new(),
        });
    }
    if runs.is_empty() {
        return Ok(runs);
    }
    let mut filter = doc! { "environment": environment };
    if let Some(id) = id {
        filter.insert("dryrun", id);
    }
    let mut cursor = store.collection(DRYRUN_RESULTS).find(filter).sort(doc! { "dryrun": 1, "resource_id": 1 }).await?;
    let mut results: BTreeMap<String, Vec<DeployResult>> = BTreeMap::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        results.entry(ops::string(&d, "dryrun")?).or_default().push(ops::json(&d, "result")?);
    }
    for run in &mut runs {
        run.results = results.remove(&run.id).unwrap_or_default();
    }
    Ok(runs)
}

pub(super) async fn add_dryrun_results(store: &MongoStore, environment: &str, id: &str, results: &[DeployResult]) -> Result<(), Failure> {
    let statements = result_statements(environment, id, results)?;
    let dryruns = store.collection(DRYRUNS);
    in_transaction!(store.client, |session| async {
        let found = dryruns.find_one(doc! { "environment": environment, "id": id }).projection(doc! { "_id": 1 }).session(&mut *session).await?;
        if found.is_none() {
            return Err(Failure::Store(StoreError::NotFound(format!("dry run {id} of environment {environment}"))));
        }
        put_results(store, session, &statements).await
    })
}
