//! What every part of the MongoDB store shares: the write concern that makes an
//! acknowledged write survive a crash, transactions retried when the server says they may
//! be, batched `update` and `delete` commands (one round trip for many statements), and the
//! mapping of driver errors to [`StoreError`]s.

use crate::store::StoreError;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::{Acknowledgment, ReadConcern, WriteConcern};
use mongodb::{ClientSession, Database};
use std::time::Duration;

/// How often a transaction is tried before its error is returned (write conflicts with
/// concurrent writers, a primary stepping down, ...).
pub(super) const TRANSACTION_ATTEMPTS: u32 = 10;
/// Statements per `update` or `delete` command, and the bytes they may hold (the server
/// takes commands of up to 16 MiB).
pub(super) const STATEMENTS_PER_COMMAND: usize = 1_000;
const BYTES_PER_COMMAND: usize = 8 * 1024 * 1024;
/// Documents per `insert_many` call.
pub(super) const DOCUMENTS_PER_INSERT: usize = 5_000;
/// Duplicate key: a unique index refused a write.
const DUPLICATE_KEY: i32 = 11000;
/// Another writer changed the document in the meantime (in a transaction: try again).
const WRITE_CONFLICT: i32 = 112;

/// Every write Cairn acknowledges waits for a majority of the replica set and for the
/// journal: what was acknowledged is still there after a crash or a failover.
pub(super) fn durable() -> WriteConcern {
    WriteConcern::builder().w(Acknowledgment::Majority).journal(true).build()
}

/// The write concern as a command field, for commands sent as they are.
fn durable_field() -> Document {
    doc! { "w": "majority", "j": true }
}

/// What a store operation can fail with inside: the driver, or a store error of its own
/// (not found, conflict, ...) that ends a transaction without retrying it.
pub(super) enum Failure {
    Mongo(mongodb::error::Error),
    Store(StoreError),
    /// Try the whole transaction again (a race that the server does not label as one),
    /// and why.
    Retry(String),
}

impl From<mongodb::error::Error> for Failure {
    fn from(error: mongodb::error::Error) -> Failure {
        Failure::Mongo(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Store(error)
    }
}

impl From<mongodb::bson::error::Error> for Failure {
    fn from(error: mongodb::bson::error::Error) -> Failure {
        Failure::Store(StoreError::Corrupt(error.to_string()))
    }
}

/// The error codes a driver error carries (one per failed statement of a batch).
pub(super) fn codes(error: &mongodb::error::Error) -> Vec<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(command) => vec![command.code],
        ErrorKind::Write(WriteFailure::WriteError(write)) => vec![write.code],
        ErrorKind::Write(WriteFailure::WriteConcernError(concern)) => vec![concern.code],
        ErrorKind::InsertMany(insert) => insert.write_errors.iter().flatten().map(|e| e.code).collect(),
        _ => Vec::new(),
    }
}

/// Whether a unique index refused the write.
pub(super) fn is_duplicate(error: &mongodb::error::Error) -> bool {
    codes(error).contains(&DUPLICATE_KEY)
}

/// Whether an `insert_many` failed only on documents that are there already (each kept
/// once), with no other error.
pub(super) fn only_duplicates(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::InsertMany(insert) => {
            insert.write_concern_error.is_none() && insert.write_errors.iter().flatten().all(|e| e.code == DUPLICATE_KEY)
        }
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == DUPLICATE_KEY,
        _ => false,
    }
}

impl Failure {
    /// The store error, naming the database (host and name, never credentials). Driver
    /// messages of large batches can be long: they are cut.
    pub(super) fn at(self, place: &str) -> StoreError {
        let mut message = match self {
            Failure::Store(error) => return error.at(place),
            Failure::Mongo(error) => error.to_string(),
            Failure::Retry(why) => why,
        };
        if message.len() > 2_000 {
            let mut end = 2_000;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(" ...");
        }
        StoreError::Backend(format!("{place}: {message}"))
    }
}

/// A store-side integer: BSON has i64, and a number past that is refused, not wrapped.
pub(super) fn int(value: u64, what: &str) -> Result<i64, Failure> {
    i64::try_from(value).map_err(|_| Failure::Store(StoreError::Invalid(format!("{what} {value} is too large to store"))))
}

/// An integer field, however the server sent it (counts come back as 32-bit).
pub(super) fn number(document: &Document, key: &str) -> Result<u64, Failure> {
    match document.get(key) {
        Some(Bson::Int64(n)) if *n >= 0 => Ok(*n as u64),
        Some(Bson::Int32(n)) if *n >= 0 => Ok(*n as u64),
        Some(Bson::Double(n)) if *n >= 0.0 && n.fract() == 0.0 => Ok(*n as u64),
        other => Err(Failure::Store(StoreError::Corrupt(format!("field `{key}` is {other:?}, not a count")))),
    }
}

/// A string field, `None` when null or missing.
pub(super) fn optional_string(document: &Document, key: &str) -> Result<Option<String>, Failure> {
    match document.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(Failure::Store(StoreError::Corrupt(format!("field `{key}` is {other:?}, not a string")))),
    }
}

pub(super) fn string(document: &Document, key: &str) -> Result<String, Failure> {
    Ok(document.get_str(key)?.to_string())
}

pub(super) fn json<T: serde::de::DeserializeOwned>(document: &Document, key: &str) -> Result<T, Failure> {
    serde_json::from_str(document.get_str(key)?).map_err(|e| Failure::Store(StoreError::Corrupt(format!("field `{key}`: {e}"))))
}

pub(super) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure::Store(StoreError::Backend(e.to_string())))
}

/// Waits before trying a transaction again: 10 ms doubling up to about a second, with a
/// little jitter so that two writers that conflicted do not meet again.
pub(super) async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(7);
    let jitter = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| u64::from(d.subsec_nanos()) % base.max(1));
    tokio::time::sleep(Duration::from_millis(base.min(1_000) + jitter / 2)).await;
}

/// Starts a transaction whose reads see one snapshot and whose commit is durable.
pub(super) async fn start(session: &mut ClientSession) -> Result<(), Failure> {
    session.start_transaction().read_concern(ReadConcern::snapshot()).write_concern(durable()).await?;
    Ok(())
}

/// Commits, trying again while the outcome is unknown (the commit is idempotent).
pub(super) async fn commit(session: &mut ClientSession) -> Result<(), mongodb::error::Error> {
    let mut attempt = 0;
    loop {
        match session.commit_transaction().await {
            Err(error) if error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && attempt < 3 => attempt += 1,
            outcome => return outcome,
        }
    }
}

/// Whether a failed transaction may be tried again from the start.
pub(super) fn retryable(failure: &Failure) -> bool {
    match failure {
        Failure::Mongo(error) => error.contains_label(TRANSIENT_TRANSACTION_ERROR),
        Failure::Retry(_) => true,
        Failure::Store(_) => false,
    }
}

/// Runs `$body` (an expression using the session `$session`, awaited here) in a
/// transaction on `$client`: committed when it succeeds, aborted when it fails, and tried
/// again from the start, at most [`TRANSACTION_ATTEMPTS`] times, when the server says the
/// transaction may be retried (a write conflict with another writer, a failover).
macro_rules! in_transaction {
    ($client:expr, |$session:ident| $body:expr) => {{
        let mut session = $client.start_session().await.map_err($crate::mongo::ops::Failure::from)?;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            $crate::mongo::ops::start(&mut session).await?;
            let outcome = {
                let $session = &mut session;
                $body.await
            };
            let failure: $crate::mongo::ops::Failure = match outcome {
                Ok(value) => match $crate::mongo::ops::commit(&mut session).await {
                    Ok(()) => break Ok(value),
                    Err(error) => error.into(),
                },
                Err(failure) => {
                    let _ = session.abort_transaction().await;
                    failure
                }
            };
            if !$crate::mongo::ops::retryable(&failure) || attempt >= $crate::mongo::ops::TRANSACTION_ATTEMPTS {
                break Err(failure);
            }
            $crate::mongo::ops::backoff(attempt).await;
        }
    }};
}
pub(super) use in_transaction;

/// A write error of one statement of a batched command: its index in the statements given
/// and its code.
pub(super) struct StatementError {
    /// Read by the failure message of [`batched_all`] (`Debug`) and by callers that retry.
    #[allow(dead_code)]
    pub index: usize,
    pub code: i32,
    pub message: String,
}


/// Sends statements to `collection` as `update` (or `delete`) commands of at most
/// [`STATEMENTS_PER_COMMAND`] statements and a few MiB each: one round trip per batch,
/// where the driver's helpers take one per document. In a transaction when `session` is
/// given; otherwise each command is acknowledged durably. `ordered` statements run in the
/// order given and stop at the first error. Returns the statements that failed.
pub(super) async fn batched(
    db: &Database,
    command: &str,
    collection: &str,
    statements: Vec<Document>,
    ordered: bool,
    mut session: Option<&mut ClientSession>,
) -> Result<Vec<StatementError>, Failure> {
    let field = if command == "delete" { "deletes" } else { "updates" };
    let mut failed = Vec::new();
    let mut start = 0;
    while start < statements.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < statements.len() && end - start < STATEMENTS_PER_COMMAND {
            let size = statements[end].iter().map(|(k, v)| k.len() + approximate_size(v)).sum::<usize>();
            if end > start && bytes + size > BYTES_PER_COMMAND {
                break;
            }
            bytes += size;
            end += 1;
        }
        let mut body = doc! { command: collection, field: statements[start..end].to_vec(), "ordered": ordered };
        let reply = match session.as_deref_mut() {
            Some(session) => db.run_command(body).session(session).await?,
            None => {
                body.insert("writeConcern", durable_field());
                db.run_command(body).await?
            }
        };
        if let Ok(concern) = reply.get_document("writeConcernError") {
            return Err(Failure::Store(StoreError::Backend(format!("write concern not met: {concern}"))));
        }
        if let Ok(errors) = reply.get_array("writeErrors") {
            for error in errors.iter().filter_map(Bson::as_document) {
                let index = error.get("index").and_then(|i| i.as_i64().or_else(|| i.as_i32().map(i64::from))).unwrap_or(0);
                failed.push(StatementError {
                    index: start + usize::try_from(index).unwrap_or(0),
                    code: error.get_i32("code").unwrap_or(0),
                    message: error.get_str("errmsg").unwrap_or("").to_string(),
                });
            }
            if ordered && !failed.is_empty() {
                return Ok(failed);
            }
        }
        start = end;
    }
    Ok(failed)
}

/// Like [`batched`], failing on the first statement that failed.
pub(super) async fn batched_all(
    db: &Database,
    command: &str,
    collection: &str,
    statements: Vec<Document>,
    ordered: bool,
    session: Option<&mut ClientSession>,
) -> Result<(), Failure> {
    let failed = batched(db, command, collection, statements, ordered, session).await?;
    if let Some(conflict) = failed.iter().find(|e| e.code == WRITE_CONFLICT) {
        return Err(Failure::Retry(format!("{command} of {collection}: {}", conflict.message)));
    }
    match failed.first() {
        None => Ok(()),
        Some(error) => Err(Failure::Store(StoreError::Backend(format!(
            "{command} of {collection} failed ({} of the statements, the first with code {}: {})",
            failed.len(),
            error.code,
            error.message
        )))),
    }
}

/// About how many bytes a value takes in BSON (to keep commands well under the limit).
fn approximate_size(value: &Bson) -> usize {
    match value {
        Bson::String(text) => text.len() + 8,
        Bson::Document(document) => document.iter().map(|(k, v)| k.len() + 2 + approximate_size(v)).sum::<usize>() + 5,
        Bson::Array(items) => items.iter().map(|v| 8 + approximate_size(v)).sum::<usize>() + 5,
        Bson::Binary(binary) => binary.bytes.len() + 8,
        _ => 16,
    }
}

/// An upsert statement of an `update` command.
pub(super) fn upsert(filter: Document, update: Document) -> Document {
    doc! { "q": filter, "u": update, "upsert": true }
}

/// Adds `count` to the counter document `id` (field `last`) and returns its new value,
/// in the transaction when a session is given. The counter is created (at 0) the first
/// time by an upsert of its own, not by the increment: SecantusDB answers some of several
/// concurrent increments that create a document with no document, though it applied
/// them, and the numbers they took would be lost.
pub(super) async fn advance_counter(
    heads: &mongodb::Collection<Document>,
    id: &str,
    environment: &str,
    count: i64,
    mut session: Option<&mut ClientSession>,
) -> Result<i64, Failure> {
    for _ in 0..2 {
        let increment = heads.find_one_and_update(doc! { "_id": id }, doc! { "$inc": { "last": count } }).return_document(mongodb::options::ReturnDocument::After);
        let found = match session.as_deref_mut() {
            Some(session) => increment.session(session).await?,
            None => increment.await?,
        };
        if let Some(head) = found {
            return int(number(&head, "last")?, "counter");
        }
        let create = heads.update_one(doc! { "_id": id }, doc! { "$setOnInsert": { "last": 0_i64, "environment": environment } }).upsert(true);
        let created = match session.as_deref_mut() {
            Some(session) => create.session(session).await,
            None => create.await,
        };
        match created {
            Ok(_) => {}
            // Another writer created it: outside a transaction, increment it; inside, the
            // server has aborted the transaction, which is tried again.
            Err(error) if is_duplicate(&error) && session.is_none() => {}
            Err(error) if is_duplicate(&error) => return Err(Failure::Retry(error.to_string())),
            Err(error) => return Err(error.into()),
        }
    }
    Err(Failure::Store(StoreError::Corrupt(format!("the counter {id} cannot be written"))))
}
