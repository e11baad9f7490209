//! The MongoDB store's collections and the indexes their queries need, created when the
//! store connects (creating an index that exists is a no-op). Each index says which
//! queries it serves; a query that no index serves would scan a collection, so every
//! query of the store filters on an index's leading fields (the environment first) and
//! sorts on the fields that follow it.

use super::ops::Failure;
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};

/// One document per version: `{environment, version, created_ms, resource_count, digest}`.
/// Written after its members and documents, deleted before them: a version that is
/// listed is whole.
pub(super) const VERSIONS: &str = "versions";
/// A version's resources in id order, in chunks: `{environment, version, n, first, last,
/// resources: [{id, json}]}`, chunk `n` holding the ids `first..=last` (at most
/// [`super::versions::RESOURCES_PER_CHUNK`] resources and a few MiB each). One document per
/// thousand resources rather than one per resource: writing and reading a version is a few
/// dozen documents, whatever the server's cost per document.
pub(super) const CHUNKS: &str = "version_chunks";
/// Per environment, `_id: "version:ENV"` (`last`: the last version number given),
/// `_id: "log:ENV"` (`last`: the last action log sequence number) and `_id: "release:ENV"`
/// (`version`: the released one). Each has `environment`.
pub(super) const HEADS: &str = "heads";
/// One document per resource of an environment: `{environment, resource_id, agent,
/// resource_type, state, deployed_hash, version, updated_ms}`.
pub(super) const STATES: &str = "resource_states";
/// One document per deploy result: the result's fields, `changes` as JSON, and `seq`, its
/// place in the environment's log.
pub(super) const LOGS: &str = "action_logs";
/// File bodies by their hex SHA-1 (`_id`), shared by every environment: `content` inline,
/// or for a body larger than a document may be, `chunks` (how many `FILE_CHUNKS` hold it).
pub(super) const FILES: &str = "files";
/// Parts of large file bodies: `{file, n, data}`.
pub(super) const FILE_CHUNKS: &str = "file_chunks";
/// Environments by name (`_id`): `{id, created_ms, settings (JSON), deleting}`.
pub(super) const ENVIRONMENTS: &str = "environments";
/// Tokens by id (`_id`): `{hash, environment, role, created_ms, expires_ms, description}`.
pub(super) const TOKENS: &str = "tokens";
/// One document per fact: `{environment, resource_id, name, value (JSON)}`.
pub(super) const FACTS: &str = "facts";
/// One document per dry run: `{environment, id, version, created_ms}`.
pub(super) const DRYRUNS: &str = "dryruns";
/// One document per dry run and resource: `{environment, dryrun, resource_id, result}`.
pub(super) const DRYRUN_RESULTS: &str = "dryrun_results";

/// Agent sessions: `{environment, id, server, host, pid, agents, connected_ms,
/// last_heartbeat_ms}`.
pub(super) const SESSIONS: &str = "agent_sessions";
/// One document per agent name of an environment, its election: `{environment, agent,
/// holder (the session holding the lease, or null), epoch (of the last term, 0 before any),
/// expires_ms, paused, preferred, changes (how many primary changes it had: the sequence
/// of the next), changed_ms (when the last was), writes (fenced writes: each one writes
/// this document, so that a grant and a fenced write of one agent conflict)}`. Every grant,
/// release and fenced write of the agent writes it in a transaction.
pub(super) const AGENTS: &str = "agents";
/// One document per change of an agent name's primary: `{environment, agent, seq (the
/// agent's changes, from 1), from_session, to_session, epoch, at_ms, reason}`.
pub(super) const PRIMARY_CHANGES: &str = "primary_changes";

/// One document per compile of the autonomous server, `_id: "ENV/ID"`: `{environment, id,
/// state, queued_ms, lease_expires_ms, record (JSON)}`.
pub(super) const COMPILES: &str = "compiles";
/// One document per environment that compiled, `_id: ENV`: `{environment, queued, running}`
/// (compile ids or null). Every change of the environment's queue writes it in a transaction.
pub(super) const COMPILE_SLOTS: &str = "compile_slots";

/// The event log, one document per batch of one environment's events with contiguous ids:
/// `{_id: the first id, last, environment, time_ms (the newest event's), events: [{id, kind,
/// time_ms, data (JSON)}]}`. The id ranges of documents never overlap.
pub(super) const EVENTS: &str = "events";
/// Events not numbered yet (`events.rs`): `{environment, kind, time_ms, data}`, `_id` an
/// ObjectId.
pub(super) const EVENT_OUTBOX: &str = "event_outbox";

/// The collections that hold documents of one environment, by their `environment` field
/// (what deleting an environment deletes), in the order it deletes them: tokens first, so
/// that they stop working at once, then sessions (no agent is heard any more); versions
/// before their chunks, so that no version is listed without them; the environment's heads
/// after its versions.
pub(super) const BY_ENVIRONMENT: &[&str] = &[TOKENS, SESSIONS, VERSIONS, CHUNKS, HEADS, STATES, LOGS, FACTS, DRYRUNS, DRYRUN_RESULTS, AGENTS, PRIMARY_CHANGES, COMPILES, COMPILE_SLOTS, EVENT_OUTBOX, EVENTS];

fn index(keys: Document, name: &str, unique: bool) -> IndexModel {
    IndexModel::builder().keys(keys).options(IndexOptions::builder().name(name.to_string()).unique(unique).build()).build()
}

/// The indexes of each collection.
fn indexes() -> Vec<(&'static str, Vec<IndexModel>)> {
    vec![
        // One document per version number: the latest version (a descending scan), the
        // listing newest first, pruning's cutoff and single versions by number.
        (VERSIONS, vec![index(doc! { "environment": 1, "version": 1 }, "environment_version", true)]),
        // A version's chunks in order: whole, or from the chunk that holds an id on (pages
        // and single resources: a range on `last`). Unique: each chunk once.
        (CHUNKS, vec![index(doc! { "environment": 1, "version": 1, "n": 1 }, "environment_version_n", true)]),
        // Deleting an environment deletes its heads (the `_id` index serves the rest).
        (HEADS, vec![index(doc! { "environment": 1 }, "environment", false)]),
        (
            STATES,
            vec![
                // One state per resource: upserts, single reads, every state of an
                // environment, and pages without a filter or by id prefix (a range).
                index(doc! { "environment": 1, "resource_id": 1 }, "environment_resource", true),
                // Pages filtered by state in id order, and the counts by state.
                index(doc! { "environment": 1, "state": 1, "resource_id": 1 }, "environment_state_resource", false),
                // Pages filtered by agent, in id order.
                index(doc! { "environment": 1, "agent": 1, "resource_id": 1 }, "environment_agent_resource", false),
                // Pages filtered by resource type, in id order.
                index(doc! { "environment": 1, "resource_type": 1, "resource_id": 1 }, "environment_type_resource", false),
            ],
        ),
        // A resource's log, oldest first; unique: each result has its own place.
        (LOGS, vec![index(doc! { "environment": 1, "resource_id": 1, "seq": 1 }, "environment_resource_seq", true)]),
        // A large body's chunks in order; unique: each chunk once.
        (FILE_CHUNKS, vec![index(doc! { "file": 1, "n": 1 }, "file_n", true)]),
        // Events after an id, of one environment or of all, in order; pruning by time.
        (
            EVENTS,
            vec![
                index(doc! { "environment": 1, "last": 1 }, "environment_last", false),
                index(doc! { "last": 1 }, "last", false),
                index(doc! { "time_ms": 1 }, "time", false),
            ],
        ),
        // Deleting an environment deletes its events not numbered yet.
        (EVENT_OUTBOX, vec![index(doc! { "environment": 1 }, "environment", false)]),
        // An environment's id is unique too (its name is `_id`).
        (ENVIRONMENTS, vec![index(doc! { "id": 1 }, "id", true)]),
        (
            TOKENS,
            vec![
                // A request's token is found by its hash; unique: one token per hash.
                index(doc! { "hash": 1 }, "hash", true),
                // Deleting an environment deletes its tokens.
                index(doc! { "environment": 1 }, "environment", false),
            ],
        ),
        // A fact by resource and name: merging upserts; an environment's facts.
        (FACTS, vec![index(doc! { "environment": 1, "resource_id": 1, "name": 1 }, "environment_resource_name", true)]),
        (
            DRYRUNS,
            vec![
                // A dry run by id; unique: ids are the dry runs' names.
                index(doc! { "environment": 1, "id": 1 }, "environment_id", true),
                // The dry runs newest first (ties by id), without sorting in memory.
                index(doc! { "environment": 1, "created_ms": -1, "id": -1 }, "environment_newest", false),
            ],
        ),
        // A dry run's results in id order; unique: a resource reported again replaces its
        // result (an upsert on this key).
        (DRYRUN_RESULTS, vec![index(doc! { "environment": 1, "dryrun": 1, "resource_id": 1 }, "environment_dryrun_resource", true)]),
        // A session by id (register, heartbeat, end, the grant's check that it is there);
        // an environment's sessions in id order, and those to expire among them. Unique:
        // a hello sent again replaces its session.
        (SESSIONS, vec![index(doc! { "environment": 1, "id": 1 }, "environment_id", true)]),
        (
            AGENTS,
            vec![
                // An agent name's election: grants, releases, pauses, fenced writes; the
                // listing by name. Unique: one election per name, which is what makes two
                // first grants of a name race on a duplicate key rather than both win.
                index(doc! { "environment": 1, "agent": 1 }, "environment_agent", true),
                // The leases a session holds, released when it ends.
                index(doc! { "environment": 1, "holder": 1 }, "environment_holder", false),
            ],
        ),
        (
            COMPILES,
            vec![
                // An environment's compiles newest first; deleting an environment.
                index(doc! { "environment": 1, "queued_ms": -1, "id": -1 }, "environment_newest", false),
                // The queue: queued compiles oldest first; running ones whose claim expired.
                index(doc! { "state": 1, "queued_ms": 1, "id": 1 }, "state_queued", false),
            ],
        ),
        // Deleting an environment deletes its slot (the `_id` index serves the rest).
        (COMPILE_SLOTS, vec![index(doc! { "environment": 1 }, "environment", false)]),
        (
            PRIMARY_CHANGES,
            vec![
                // One agent name's changes newest first. Unique: each change has its place.
                index(doc! { "environment": 1, "agent": 1, "seq": -1 }, "environment_agent_seq", true),
                // An environment's changes newest first (each agent's times only grow).
                index(doc! { "environment": 1, "at_ms": -1, "seq": -1 }, "environment_newest", false),
            ],
        ),
    ]
}

/// Creates every index (and so every collection) the store needs.
pub(super) async fn ensure(db: &Database) -> Result<(), Failure> {
    for (collection, models) in indexes() {
        db.collection::<Document>(collection).create_indexes(models).await?;
    }
    Ok(())
}
