//! The event log in MongoDB. Writers never number events themselves: they insert them into
//! `event_outbox` (in their own transaction when they have one, as a change of primary
//! does), which no two writers contend on. A sequencer pass ([`sequence`]) then moves the
//! oldest outbox documents into `events` in one transaction that advances the one counter
//! (`heads`, `_id: "events"`): two servers sequencing at once conflict on that document and
//! one retries, so ids are committed in the order they are given and a reader that follows
//! `_id > last seen` misses none. Every server runs passes: after its own appends, and from
//! [`follow`], which also watches `events` with a change stream to wake this server's
//! readers when another server sequenced something.

use super::ops::{self, advance_counter, in_transaction, int, number, Failure};
use super::schema::{EVENTS, EVENT_OUTBOX, HEADS};
use super::MongoStore;
use crate::events::{Event, NewEvent};
use crate::store::StoreError;
use futures_util::StreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;
use std::time::Duration;

/// The counter document of event ids in `heads`.
const COUNTER: &str = "events";
/// The most outbox documents one pass moves (one transaction of a few MiB at most).
const PASS: i64 = 1000;

fn outbox_document(event: &NewEvent) -> Result<Document, Failure> {
    Ok(doc! {
        "environment": &event.environment,
        "kind": event.kind.as_str(),
        "time_ms": int(event.time_ms, "time")?,
        "data": ops::to_json(&event.data)?,
    })
}

/// Adds events to the outbox in the caller's transaction.
pub(super) async fn insert_in(store: &MongoStore, session: &mut ClientSession, events: &[NewEvent]) -> Result<(), Failure> {
    let documents = events.iter().map(outbox_document).collect::<Result<Vec<_>, _>>()?;
    if !documents.is_empty() {
        store.collection(EVENT_OUTBOX).insert_many(documents).session(session).await?;
        store.outbox_written.store(true, std::sync::atomic::Ordering::Release);
    }
    Ok(())
}

/// Adds events to the outbox and sequences them; returns the last id given.
pub(super) async fn append(store: &MongoStore, events: &[NewEvent]) -> Result<u64, Failure> {
    for chunk in events.chunks(PASS as usize) {
        let documents = chunk.iter().map(outbox_document).collect::<Result<Vec<_>, _>>()?;
        store.collection(EVENT_OUTBOX).insert_many(documents).write_concern(ops::durable()).await?;
        drain(store).await?;
    }
    last_given(store).await
}

/// Sequences until the outbox is empty (or a bounded number of passes ran: other servers
/// keep appending, and they sequence their own).
pub(super) async fn drain(store: &MongoStore) -> Result<(), Failure> {
    for _ in 0..16 {
        if sequence(store).await? == 0 {
            break;
        }
    }
    Ok(())
}

/// One pass: moves up to [`PASS`] of the oldest outbox documents into `events`, numbered.
/// Returns how many it moved.
pub(super) async fn sequence(store: &MongoStore) -> Result<usize, Failure> {
    in_transaction!(store.client, |session| async {
        let mut cursor = store.collection(EVENT_OUTBOX).find(doc! {}).sort(doc! { "_id": 1 }).limit(PASS).session(&mut *session).await?;
        let mut pending = Vec::new();
        while let Some(document) = cursor.next(&mut *session).await {
            pending.push(document?);
        }
        if pending.is_empty() {
            return Ok(0);
        }
        let count = pending.len() as i64;
        let last = advance_counter(&store.collection(HEADS), COUNTER, "", count, Some(&mut *session)).await?;
        let first = last - count + 1;
        let mut ids = Vec::with_capacity(pending.len());
        let mut numbered = Vec::with_capacity(pending.len());
        for (n, mut document) in pending.into_iter().enumerate() {
            ids.push(document.remove("_id").unwrap_or(Bson::Null));
            document.insert("_id", first + n as i64);
            numbered.push(document);
        }
        let moved = numbered.len();
        let deleted = store.collection(EVENT_OUTBOX).delete_many(doc! { "_id": { "$in": ids } }).session(&mut *session).await?;
        if deleted.deleted_count != moved as u64 {
            return Err(Failure::Retry("another server sequenced these events meanwhile".into()));
        }
        store.collection(EVENTS).insert_many(numbered).session(&mut *session).await?;
        Ok(moved)
    })
}

async fn last_given(store: &MongoStore) -> Result<u64, Failure> {
    match store.collection(HEADS).find_one(doc! { "_id": COUNTER }).await? {
        Some(head) => number(&head, "last"),
        None => Ok(0),
    }
}

fn read(document: &Document) -> Result<Event, Failure> {
    Ok(Event {
        id: number(document, "_id")?,
        time_ms: number(document, "time_ms")?,
        environment: ops::string(document, "environment")?,
        kind: ops::string(document, "kind")?,
        data: ops::json(document, "data")?,
    })
}

pub(super) async fn after(store: &MongoStore, after: u64, environment: Option<&str>, limit: usize) -> Result<Vec<Event>, Failure> {
    let mut filter = doc! { "_id": { "$gt": int(after, "event id")? } };
    if let Some(environment) = environment {
        filter.insert("environment", environment);
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut cursor = store.collection(EVENTS).find(filter).sort(doc! { "_id": 1 }).limit(limit).await?;
    let mut out = Vec::new();
    while let Some(document) = cursor.next().await {
        out.push(read(&document?)?);
    }
    Ok(out)
}

pub(super) async fn bounds(store: &MongoStore) -> Result<(Option<u64>, u64), Failure> {
    let first = store.collection(EVENTS).find_one(doc! {}).sort(doc! { "_id": 1 }).await?;
    let first = first.as_ref().map(|d| number(d, "_id")).transpose()?;
    Ok((first, last_given(store).await?))
}

pub(super) async fn prune(store: &MongoStore, before_ms: u64) -> Result<u64, Failure> {
    let deleted = store.collection(EVENTS).delete_many(doc! { "time_ms": { "$lt": int(before_ms, "time")? } }).write_concern(ops::durable()).await?;
    Ok(deleted.deleted_count)
}

/// How often [`follow`] sequences what other servers left in the outbox and reads the last
/// id, whatever the change stream says.
const TICK: Duration = Duration::from_millis(250);
/// How long one tick may take before the feed counts as failed (and is started again).
const TICK_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the last id to `latest` whenever `events` gains documents (its change stream) and
/// at every [`TICK`], sequencing the outbox as it goes; returns when the stream fails.
pub(super) async fn follow(store: &MongoStore, latest: &tokio::sync::watch::Sender<u64>) -> Result<(), StoreError> {
    let place = store.place().to_string();
    let failed = |failure: Failure| failure.at(&place);
    let mut stream = store.collection(EVENTS).watch().await.map_err(|e| failed(e.into()))?;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            change = stream.next() => match change {
                Some(Ok(change)) => {
                    let id = change.document_key.as_ref().and_then(|key| number(key, "_id").ok());
                    if let Some(id) = id {
                        latest.send_if_modified(|last| if id > *last { *last = id; true } else { false });
                    }
                }
                Some(Err(error)) => return Err(failed(error.into())),
                None => return Err(StoreError::Backend(format!("{place}: the change stream of `events` ended"))),
            },
            _ = tick.tick() => {
                let work = async {
                    drain(store).await?;
                    last_given(store).await
                };
                match tokio::time::timeout(TICK_TIMEOUT, work).await {
                    Ok(Ok(last)) => { latest.send_if_modified(|known| if last > *known { *known = last; true } else { false }); }
                    Ok(Err(failure)) => return Err(failed(failure)),
                    Err(_) => return Err(StoreError::Backend(format!("{place}: no answer within {} s", TICK_TIMEOUT.as_secs()))),
                }
            }
        }
    }
}
