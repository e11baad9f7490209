//! The event log in MongoDB. Events are stored in `events` a batch per document (one
//! environment's events of one append, with contiguous ids), since one document per event
//! would be most of a deploy's writes. An event gets its id in the transaction that inserts
//! it, from the one counter (`heads`, `_id: "events"`): two servers writing at once
//! conflict on that document and one retries, so ids are committed in the order they are
//! given and a reader that follows `_id > last seen` misses none. A server's own appends
//! ([`append`]) come one batch at a time (its appender task), so they never contend with
//! each other.
//!
//! A writer inside a transaction of its own (a change of primary, in the lease's
//! transaction) must not take the counter there: every lease change of every agent would
//! conflict on it. It inserts into `event_outbox` instead, and a sequencer pass
//! ([`sequence`]) moves the oldest outbox documents into `events`, numbered, in one
//! transaction on the counter. Passes run when such a store call returns, and from
//! [`follow`], which also watches `events` with a change stream to wake this server's
//! readers when another server wrote something.

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
/// The most outbox documents one pass moves, and the most events one append writes in one
/// transaction.
const PASS: i64 = 1000;
/// The most bytes of event data one `events` document holds (far below MongoDB's 16 MiB).
const GROUP_BYTES: usize = 4 * 1024 * 1024;

/// An event before it has an id: what an `events` document holds of it, and its size.
struct Pending {
    environment: String,
    document: Document,
    bytes: usize,
}

fn pending(event: &NewEvent) -> Result<Pending, Failure> {
    let data = ops::to_json(&event.data)?;
    let bytes = data.len() + event.kind.as_str().len() + 64;
    let document = doc! { "kind": event.kind.as_str(), "time_ms": int(event.time_ms, "time")?, "data": data };
    Ok(Pending { environment: event.environment.clone(), document, bytes })
}

fn outbox_document(event: &NewEvent) -> Result<Document, Failure> {
    let pending = pending(event)?;
    let mut document = pending.document;
    document.insert("environment", pending.environment);
    Ok(document)
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

/// Numbers `events` (in the order given) from the counter and inserts them, in the caller's
/// transaction, as one `events` document per environment (and per [`GROUP_BYTES`]): a
/// deploy's thousand results are a few documents, not a thousand. Each document holds the
/// ids `_id..=last`, in order; the ranges of documents never overlap.
async fn write_numbered(store: &MongoStore, session: &mut ClientSession, events: &[Pending]) -> Result<(), Failure> {
    let count = events.len() as i64;
    let last = advance_counter(&store.collection(HEADS), COUNTER, "", count, Some(&mut *session)).await?;
    let mut next = last - count + 1;
    let mut groups: std::collections::BTreeMap<&str, Vec<Vec<&Pending>>> = std::collections::BTreeMap::new();
    for event in events {
        let runs = groups.entry(event.environment.as_str()).or_default();
        let full = runs.last().is_none_or(|run| run.iter().map(|e| e.bytes).sum::<usize>() + event.bytes > GROUP_BYTES);
        if full {
            runs.push(Vec::new());
        }
        if let Some(run) = runs.last_mut() {
            run.push(event);
        }
    }
    let mut documents = Vec::new();
    for (environment, runs) in groups {
        for run in runs {
            let first = next;
            let mut newest = 0_i64;
            let numbered: Vec<Document> = run
                .iter()
                .map(|event| {
                    let mut document = event.document.clone();
                    document.insert("id", next);
                    next += 1;
                    newest = newest.max(document.get_i64("time_ms").unwrap_or(0));
                    document
                })
                .collect();
            documents.push(doc! { "_id": first, "last": next - 1, "environment": environment, "time_ms": newest, "events": numbered });
        }
    }
    store.collection(EVENTS).insert_many(documents).session(&mut *session).await?;
    Ok(())
}

/// Appends events, at most [`PASS`] per transaction. The outbox is for writers inside a
/// transaction of their own; this path writes each event once. Returns the last id given.
pub(super) async fn append(store: &MongoStore, events: &[NewEvent]) -> Result<u64, Failure> {
    for chunk in events.chunks(PASS as usize) {
        let pending = chunk.iter().map(pending).collect::<Result<Vec<_>, _>>()?;
        in_transaction!(store.client, |session| write_numbered(store, session, &pending))?;
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
    // Most passes find nothing: a plain read first spares them a transaction.
    if store.collection(EVENT_OUTBOX).find_one(doc! {}).await?.is_none() {
        return Ok(0);
    }
    in_transaction!(store.client, |session| async {
        let mut cursor = store.collection(EVENT_OUTBOX).find(doc! {}).sort(doc! { "_id": 1 }).limit(PASS).session(&mut *session).await?;
        let mut found = Vec::new();
        while let Some(document) = cursor.next(&mut *session).await {
            found.push(document?);
        }
        if found.is_empty() {
            return Ok(0);
        }
        let mut ids = Vec::with_capacity(found.len());
        let mut events = Vec::with_capacity(found.len());
        for mut document in found {
            ids.push(document.remove("_id").unwrap_or(Bson::Null));
            let environment = ops::string(&document, "environment")?;
            document.remove("environment");
            let bytes = document.get_str("data").map(str::len).unwrap_or(0) + 64;
            events.push(Pending { environment, document, bytes });
        }
        let moved = events.len();
        let deleted = store.collection(EVENT_OUTBOX).delete_many(doc! { "_id": { "$in": ids } }).session(&mut *session).await?;
        if deleted.deleted_count != moved as u64 {
            return Err(Failure::Retry("another server sequenced these events meanwhile".into()));
        }
        write_numbered(store, session, &events).await?;
        Ok(moved)
    })
}

async fn last_given(store: &MongoStore) -> Result<u64, Failure> {
    match store.collection(HEADS).find_one(doc! { "_id": COUNTER }).await? {
        Some(head) => number(&head, "last"),
        None => Ok(0),
    }
}

fn read(environment: &str, event: &Document) -> Result<Event, Failure> {
    Ok(Event {
        id: number(event, "id")?,
        time_ms: number(event, "time_ms")?,
        environment: environment.to_string(),
        kind: ops::string(event, "kind")?,
        data: ops::json(event, "data")?,
    })
}

pub(super) async fn after(store: &MongoStore, after: u64, environment: Option<&str>, limit: usize) -> Result<Vec<Event>, Failure> {
    let mut filter = doc! { "last": { "$gt": int(after, "event id")? } };
    if let Some(environment) = environment {
        filter.insert("environment", environment);
    }
    // Ranges never overlap: in `last` order, the documents are in id order.
    let mut cursor = store.collection(EVENTS).find(filter).sort(doc! { "last": 1 }).await?;
    let mut out = Vec::new();
    while let Some(document) = cursor.next().await {
        let document = document?;
        let owner = ops::string(&document, "environment")?;
        let events = document.get_array("events").map_err(|e| Failure::Store(StoreError::Corrupt(format!("an events document: {e}"))))?;
        for event in events {
            let Some(event) = event.as_document() else {
                return Err(Failure::Store(StoreError::Corrupt("an event that is not a document".into())));
            };
            let event = read(&owner, event)?;
            if event.id > after {
                out.push(event);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

pub(super) async fn bounds(store: &MongoStore) -> Result<(Option<u64>, u64), Failure> {
    let first = store.collection(EVENTS).find_one(doc! {}).sort(doc! { "_id": 1 }).await?;
    let first = first.as_ref().map(|d| number(d, "_id")).transpose()?;
    Ok((first, last_given(store).await?))
}

/// Deletes the documents whose newest event is older than `before_ms`; returns how many
/// events went.
pub(super) async fn prune(store: &MongoStore, before_ms: u64) -> Result<u64, Failure> {
    let filter = doc! { "time_ms": { "$lt": int(before_ms, "time")? } };
    let mut cursor = store.collection(EVENTS).find(filter.clone()).projection(doc! { "_id": 1, "last": 1 }).await?;
    let mut count = 0;
    while let Some(document) = cursor.next().await {
        let document = document?;
        count += number(&document, "last")?.saturating_sub(number(&document, "_id")?) + 1;
    }
    store.collection(EVENTS).delete_many(filter).write_concern(ops::durable()).await?;
    Ok(count)
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
                    let id = change.full_document.as_ref().and_then(|d| number(d, "last").ok())
                        .or_else(|| change.document_key.as_ref().and_then(|key| number(key, "_id").ok()));
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
