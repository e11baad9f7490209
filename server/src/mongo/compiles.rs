//! The compile queue and reports in MongoDB. `compiles` holds one document per compile (its
//! record as JSON, and beside it what the queue looks up); `compile_slots` holds one
//! document per environment, `{environment, queued, running}`: the ids of its queued and its
//! running compile. Every change of the queue reads and writes the environment's slot in a
//! transaction, so two servers that request, claim or finish compiles of one environment at
//! once conflict on that document and one of them retries: an environment never gets two
//! queued compiles, nor two running ones.

use super::ops::{self, in_transaction, int, Failure};
use super::schema::{COMPILES, COMPILE_SLOTS, ENVIRONMENTS};
use super::MongoStore;
use crate::records::{CompileRecord, CompileReport, CompileState, Trigger};
use crate::store::{abandoned_report, StoreError};
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;

fn key(environment: &str, id: &str) -> String {
    format!("{environment}/{id}")
}

fn read(document: &Document) -> Result<CompileRecord, Failure> {
    ops::json(document, "record")
}

async fn write(store: &MongoStore, session: &mut ClientSession, record: &CompileRecord) -> Result<(), Failure> {
    let document = doc! {
        "environment": &record.environment,
        "id": &record.id,
        "state": record.state.as_str(),
        "queued_ms": int(record.queued_ms, "time")?,
        "lease_expires_ms": record.lease_expires_ms.map(|l| int(l, "time")).transpose()?,
        "record": ops::to_json(record)?,
    };
    store.collection(COMPILES).replace_one(doc! { "_id": key(&record.environment, &record.id) }, document).upsert(true).session(&mut *session).await?;
    Ok(())
}

async fn find(store: &MongoStore, session: &mut ClientSession, environment: &str, id: &str) -> Result<Option<CompileRecord>, Failure> {
    let found = store.collection(COMPILES).find_one(doc! { "_id": key(environment, id) }).session(&mut *session).await?;
    found.as_ref().map(read).transpose()
}

/// The environment's slot: its queued and running compile ids.
async fn slot(store: &MongoStore, session: &mut ClientSession, environment: &str) -> Result<(Option<String>, Option<String>), Failure> {
    let found = store.collection(COMPILE_SLOTS).find_one(doc! { "_id": environment }).session(&mut *session).await?;
    let Some(found) = found else { return Ok((None, None)) };
    Ok((ops::optional_string(&found, "queued")?, ops::optional_string(&found, "running")?))
}

/// Writes the slot (always: the write is what makes concurrent changes conflict).
async fn set_slot(store: &MongoStore, session: &mut ClientSession, environment: &str, queued: Option<&str>, running: Option<&str>) -> Result<(), Failure> {
    let queued = queued.map_or(Bson::Null, Bson::from);
    let running = running.map_or(Bson::Null, Bson::from);
    store
        .collection(COMPILE_SLOTS)
        .update_one(doc! { "_id": environment }, doc! { "$set": { "environment": environment, "queued": queued, "running": running } })
        .upsert(true)
        .session(&mut *session)
        .await?;
    Ok(())
}

pub(super) async fn request(store: &MongoStore, environment: &str, new_id: &str, trigger: &Trigger) -> Result<CompileRecord, Failure> {
    in_transaction!(store.client, |session| async {
        let exists = store.collection(ENVIRONMENTS).find_one(doc! { "_id": environment, "deleting": { "$ne": true } }).session(&mut *session).await?;
        if exists.is_none() {
            return Err(Failure::Store(StoreError::NotFound(format!("environment {environment}"))));
        }
        let (queued, running) = slot(store, session, environment).await?;
        let joined = match &queued {
            Some(id) => find(store, session, environment, id).await?.filter(|r| r.state == CompileState::Queued),
            None => None,
        };
        let record = match joined {
            Some(mut record) => {
                record.join(trigger);
                record
            }
            None => CompileRecord::queued(new_id, environment, trigger),
        };
        write(store, session, &record).await?;
        set_slot(store, session, environment, Some(&record.id), running.as_deref()).await?;
        Ok(record)
    })
}

pub(super) async fn claim(store: &MongoStore, server: &str, now: u64, ttl: u64) -> Result<Option<CompileRecord>, Failure> {
    let compiles = store.collection(COMPILES);
    // Compiles whose server stopped renewing their claim: failed, each in a transaction that
    // checks it is still so.
    let mut cursor = compiles.find(doc! { "state": "running", "lease_expires_ms": { "$lt": int(now, "time")? } }).await?;
    let mut abandoned = Vec::new();
    while cursor.advance().await? {
        abandoned.push(read(&cursor.deserialize_current()?)?);
    }
    for stale in abandoned {
        in_transaction!(store.client, |session| async {
            let Some(mut record) = find(store, session, &stale.environment, &stale.id).await? else { return Ok(()) };
            if record.state != CompileState::Running || record.lease_expires_ms.is_none_or(|l| l >= now) {
                return Ok(());
            }
            let (queued, running) = slot(store, session, &record.environment).await?;
            let report = abandoned_report(&record);
            record.finish(now, report);
            write(store, session, &record).await?;
            let running = running.filter(|r| *r != record.id);
            set_slot(store, session, &record.environment, queued.as_deref(), running.as_deref()).await?;
            Ok::<(), Failure>(())
        })?;
    }
    // The oldest queued compile whose environment runs none.
    let mut cursor = compiles.find(doc! { "state": "queued" }).sort(doc! { "queued_ms": 1, "id": 1 }).limit(1000).await?;
    let mut candidates = Vec::new();
    while cursor.advance().await? {
        candidates.push(read(&cursor.deserialize_current()?)?);
    }
    for candidate in candidates {
        let claimed = in_transaction!(store.client, |session| async {
            let (queued, running) = slot(store, session, &candidate.environment).await?;
            if running.is_some() || queued.as_deref() != Some(candidate.id.as_str()) {
                return Ok(None);
            }
            let Some(mut record) = find(store, session, &candidate.environment, &candidate.id).await? else { return Ok(None) };
            if record.state != CompileState::Queued {
                return Ok(None);
            }
            record.claim(server, now, ttl);
            write(store, session, &record).await?;
            set_slot(store, session, &record.environment, None, Some(&record.id)).await?;
            Ok::<Option<CompileRecord>, Failure>(Some(record))
        })?;
        if claimed.is_some() {
            return Ok(claimed);
        }
    }
    Ok(None)
}

pub(super) async fn renew(store: &MongoStore, environment: &str, id: &str, server: &str, until: u64) -> Result<bool, Failure> {
    in_transaction!(store.client, |session| async {
        let Some(mut record) = find(store, session, environment, id).await?.filter(|r| r.held_by(server)) else { return Ok(false) };
        let (queued, running) = slot(store, session, environment).await?;
        record.lease_expires_ms = Some(until);
        write(store, session, &record).await?;
        set_slot(store, session, environment, queued.as_deref(), running.as_deref()).await?;
        Ok(true)
    })
}

pub(super) async fn finish(store: &MongoStore, environment: &str, id: &str, server: &str, now: u64, report: &CompileReport) -> Result<bool, Failure> {
    in_transaction!(store.client, |session| async {
        let Some(mut record) = find(store, session, environment, id).await?.filter(|r| r.held_by(server)) else { return Ok(false) };
        let (queued, running) = slot(store, session, environment).await?;
        record.finish(now, report.clone());
        write(store, session, &record).await?;
        let running = running.filter(|r| r != id);
        set_slot(store, session, environment, queued.as_deref(), running.as_deref()).await?;
        Ok(true)
    })
}

pub(super) async fn list(store: &MongoStore, environment: &str, limit: usize) -> Result<Vec<CompileRecord>, Failure> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut cursor = store.collection(COMPILES).find(doc! { "environment": environment }).sort(doc! { "queued_ms": -1, "id": -1 }).limit(limit).await?;
    let mut out = Vec::new();
    while cursor.advance().await? {
        out.push(read(&cursor.deserialize_current()?)?);
    }
    Ok(out)
}

pub(super) async fn get(store: &MongoStore, environment: &str, id: &str) -> Result<Option<CompileRecord>, Failure> {
    let found = store.collection(COMPILES).find_one(doc! { "_id": key(environment, id) }).await?;
    found.as_ref().map(read).transpose()
}
