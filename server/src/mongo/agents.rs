//! Agents in the MongoDB store: sessions (`agent_sessions`), one document per agent name for
//! its election (`agents`: the lease's holder, epoch and expiry, paused, the preferred
//! session) and the primary changes (`primary_changes`). Several servers may share the
//! database, so every decision about a lease is made and written in one transaction:
//!
//! - A grant reads the agent's document, decides by the rule every backend shares
//!   ([`crate::store::decide`]), and writes it with a filter on what it read (holder,
//!   epoch, count of changes, not paused), appending the primary change in the same
//!   transaction. Two servers granting at once both write that document: the server lets
//!   one commit and fails the other with a write conflict (transient: it is tried again,
//!   reads the new holder and is refused); a conditional write that matches nothing (the
//!   document changed since it was read) tries again too. The first grant of a name inserts
//!   its document: of two at once, the unique index on `(environment, agent)` refuses one
//!   (duplicate key), which is tried again.
//! - A fenced write increments the agent document's `writes` in the transaction that
//!   writes the results, with a filter on the epoch. Reading the epoch is not enough under
//!   snapshot isolation (a grant committed after the read would not conflict with a
//!   transaction that only read the document); writing it makes a grant and a fenced write
//!   of one agent conflict, so one of them goes first and the other sees it.
//! - Each agent name's changes are numbered by its document's `changes`, written with the
//!   grant: no counter shared by the environment, so grants of different names never
//!   conflict. Their times are kept increasing per name, so an environment's changes are
//!   listed newest first by time and then by number.
//!
//! A grant checks that the session is registered, by reading it. A grant racing with the
//! end of its own session can therefore commit after the end released that session's
//! leases: the lease is then held by a session that is gone, and expires as any other
//! lease does (within its time to live). There are never two holders.

use super::ops::{self, in_transaction, int, number, optional_string, string, Failure};
use super::schema::{AGENTS, HEADS, PRIMARY_CHANGES, SESSIONS};
use crate::events::{EventKind, NewEvent};
use super::{states, MongoStore};
use crate::records::{AgentRecord, ChangeReason, Lease, PrimaryChange, RunRequests, SessionRecord};
use crate::store::{decide, fenced, now_ms, Grant, StoreError};
use cairn_wire::{DeployResult, ResourceId};
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;

fn agent_filter(environment: &str, agent: &str) -> Document {
    doc! { "environment": environment, "agent": agent }
}

fn session_filter(environment: &str, id: &str) -> Document {
    doc! { "environment": environment, "id": id }
}

/// An agent name's election as stored.
struct Election {
    holder: Option<String>,
    epoch: i64,
    expires_ms: i64,
    paused: bool,
    preferred: Option<String>,
    changes: i64,
    changed_ms: i64,
}

impl Election {
    /// A name the election has not seen yet.
    fn new() -> Election {
        Election { holder: None, epoch: 0, expires_ms: 0, paused: false, preferred: None, changes: 0, changed_ms: 0 }
    }

    fn read(d: &Document) -> Result<Election, Failure> {
        let paused = match d.get("paused") {
            None | Some(Bson::Null) => false,
            Some(Bson::Boolean(paused)) => *paused,
            Some(other) => return Err(Failure::Store(StoreError::Corrupt(format!("field `paused` is {other:?}, not a boolean")))),
        };
        Ok(Election {
            holder: optional_string(d, "holder")?,
            epoch: int(number(d, "epoch")?, "epoch")?,
            expires_ms: int(number(d, "expires_ms")?, "time")?,
            paused,
            preferred: optional_string(d, "preferred")?,
            changes: int(number(d, "changes")?, "count")?,
            changed_ms: int(number(d, "changed_ms")?, "time")?,
        })
    }

    /// The whole document, for the first write of a name.
    fn document(&self, environment: &str, agent: &str) -> Document {
        doc! {
            "environment": environment,
            "agent": agent,
            "holder": self.holder.as_deref(),
            "epoch": self.epoch,
            "expires_ms": self.expires_ms,
            "paused": self.paused,
            "preferred": self.preferred.as_deref(),
            "changes": self.changes,
            "changed_ms": self.changed_ms,
            "writes": 0_i64,
        }
    }

    /// A filter that matches the document only as it was read.
    fn unchanged(&self, environment: &str, agent: &str) -> Document {
        let mut filter = agent_filter(environment, agent);
        filter.insert("holder", self.holder.as_deref());
        filter.insert("epoch", self.epoch);
        filter.insert("changes", self.changes);
        filter
    }
}

async fn read_election(store: &MongoStore, session: &mut ClientSession, environment: &str, agent: &str) -> Result<Option<Election>, Failure> {
    let found = store.collection(AGENTS).find_one(agent_filter(environment, agent)).session(session).await?;
    found.as_ref().map(Election::read).transpose()
}

/// In a transaction, a write that lost a race to another writer without the server calling
/// it transient (a duplicate key of a first write): the transaction is tried again.
fn retry_on_duplicate(error: mongodb::error::Error) -> Failure {
    if ops::is_duplicate(&error) {
        Failure::Retry(error.to_string())
    } else {
        Failure::Mongo(error)
    }
}

/// Changes the holder of a name whose document was read as `current` (`None`: not there
/// yet), in the caller's transaction, and appends the primary change: to `to` (a grant of
/// epoch `epoch`, until `expires_ms`) or to nobody (the term `epoch` ended). `extra` is set
/// too (pausing). Tried again when the document changed since it was read.
#[allow(clippy::too_many_arguments)]
async fn change_holder(
    store: &MongoStore,
    session: &mut ClientSession,
    environment: &str,
    agent: &str,
    current: Option<&Election>,
    to: Option<&str>,
    epoch: i64,
    expires_ms: Option<i64>,
    reason: ChangeReason,
    extra: Document,
) -> Result<(), Failure> {
    let fresh = Election::new();
    let old = current.unwrap_or(&fresh);
    // Each name's times only grow, whatever the clocks of the servers say.
    let at = int(now_ms(), "time")?.max(old.changed_ms);
    let seq = old.changes + 1;
    let agents = store.collection(AGENTS);
    if current.is_none() {
        let mut election = Election::new();
        election.holder = to.map(str::to_string);
        election.epoch = epoch;
        election.expires_ms = expires_ms.unwrap_or(0);
        election.changes = seq;
        election.changed_ms = at;
        let mut document = election.document(environment, agent);
        document.extend(extra);
        agents.insert_one(document).session(&mut *session).await.map_err(retry_on_duplicate)?;
    } else {
        let mut set = doc! { "holder": to, "epoch": epoch, "changes": seq, "changed_ms": at };
        if let Some(expires_ms) = expires_ms {
            set.insert("expires_ms", expires_ms);
        }
        set.extend(extra);
        let mut filter = old.unchanged(environment, agent);
        if to.is_some() {
            filter.insert("paused", doc! { "$ne": true });
        }
        let updated = agents.update_one(filter, doc! { "$set": set }).session(&mut *session).await?;
        if updated.matched_count == 0 {
            return Err(Failure::Retry(format!("the election of agent {agent} changed meanwhile")));
        }
    }
    let change = doc! {
        "environment": environment,
        "agent": agent,
        "seq": seq,
        "from_session": old.holder.as_deref(),
        "to_session": to,
        "epoch": epoch,
        "at_ms": at,
        "reason": reason.as_str(),
    };
    store.collection(PRIMARY_CHANGES).insert_one(change).session(&mut *session).await.map_err(retry_on_duplicate)?;
    let data = serde_json::json!({ "agent": agent, "from_session": old.holder.as_deref(), "to_session": to, "epoch": epoch, "reason": reason.as_str() });
    super::events::insert_in(store, session, &[NewEvent::new(environment, EventKind::PrimaryChanged, data)]).await?;
    Ok(())
}

pub(super) async fn register(store: &MongoStore, environment: &str, session: &SessionRecord) -> Result<(), Failure> {
    let document = doc! {
        "environment": environment,
        "id": &session.id,
        "server": &session.server,
        "host": &session.host,
        "pid": i64::from(session.pid),
        "agents": &session.agents,
        "connected_ms": int(session.connected_ms, "time")?,
        "last_heartbeat_ms": int(session.last_heartbeat_ms, "time")?,
    };
    let sessions = store.collection(SESSIONS);
    // Two upserts of one new session at once: one inserts, the other loses on the unique
    // index and then finds it there.
    let mut attempt = 0;
    loop {
        match sessions.replace_one(session_filter(environment, &session.id), document.clone()).upsert(true).await {
            Ok(_) => return Ok(()),
            Err(error) if ops::is_duplicate(&error) && attempt < 2 => attempt += 1,
            Err(error) => return Err(error.into()),
        }
    }
}

pub(super) async fn heartbeat(store: &MongoStore, environment: &str, session: &str, now: u64) -> Result<bool, Failure> {
    // `$max`: never back in time, whatever the clocks of the servers say.
    let updated = store
        .collection(SESSIONS)
        .update_one(session_filter(environment, session), doc! { "$max": { "last_heartbeat_ms": int(now, "time")? } })
        .await?;
    Ok(updated.matched_count > 0)
}

/// Deletes a session (with `filter` added: the one of expiring) and releases its leases, in
/// the caller's transaction; false when there was no such session.
async fn end_in(
    store: &MongoStore,
    session: &mut ClientSession,
    environment: &str,
    id: &str,
    extra_filter: Document,
    reason: ChangeReason,
) -> Result<bool, Failure> {
    let mut filter = session_filter(environment, id);
    filter.extend(extra_filter);
    let deleted = store.collection(SESSIONS).delete_one(filter).session(&mut *session).await?.deleted_count > 0;
    if !deleted {
        return Ok(false);
    }
    let mut held = Vec::new();
    let mut cursor = store.collection(AGENTS).find(doc! { "environment": environment, "holder": id }).sort(doc! { "agent": 1 }).session(&mut *session).await?;
    while cursor.advance(&mut *session).await? {
        let d: Document = cursor.deserialize_current()?;
        held.push((string(&d, "agent")?, Election::read(&d)?));
    }
    for (agent, election) in held {
        change_holder(store, session, environment, &agent, Some(&election), None, election.epoch, None, reason, Document::new()).await?;
    }
    Ok(true)
}

pub(super) async fn end(store: &MongoStore, environment: &str, id: &str) -> Result<bool, Failure> {
    in_transaction!(store.client, |session| end_in(store, session, environment, id, Document::new(), ChangeReason::SessionEnded))
}

pub(super) async fn expire(store: &MongoStore, environment: &str, before: u64) -> Result<Vec<String>, Failure> {
    let before = int(before, "time")?;
    let stale = doc! { "last_heartbeat_ms": { "$lt": before } };
    let mut filter = doc! { "environment": environment };
    filter.extend(stale.clone());
    let mut cursor = store.collection(SESSIONS).find(filter).sort(doc! { "id": 1 }).projection(doc! { "_id": 0, "id": 1 }).await?;
    let mut ids = Vec::new();
    while cursor.advance().await? {
        ids.push(string(&cursor.deserialize_current()?, "id")?);
    }
    let mut ended = Vec::new();
    // One transaction per session, each ending it only if it is still stale.
    for id in ids {
        if in_transaction!(store.client, |session| end_in(store, session, environment, &id, stale.clone(), ChangeReason::SessionExpired))? {
            ended.push(id);
        }
    }
    Ok(ended)
}

pub(super) async fn sessions(store: &MongoStore, environment: &str, live_since: Option<u64>) -> Result<Vec<SessionRecord>, Failure> {
    let mut filter = doc! { "environment": environment };
    if let Some(since) = live_since {
        filter.insert("last_heartbeat_ms", doc! { "$gte": int(since, "time")? });
    }
    let mut cursor = store.collection(SESSIONS).find(filter).sort(doc! { "id": 1 }).await?;
    let mut out = Vec::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        let agents = d
            .get_array("agents")?
            .iter()
            .map(|a| a.as_str().map(str::to_string).ok_or_else(|| Failure::Store(StoreError::Corrupt(format!("agent name {a:?}")))))
            .collect::<Result<_, _>>()?;
        out.push(SessionRecord {
            id: string(&d, "id")?,
            server: string(&d, "server")?,
            host: string(&d, "host")?,
            pid: u32::try_from(number(&d, "pid")?).map_err(|e| Failure::Store(StoreError::Corrupt(format!("pid: {e}"))))?,
            agents,
            connected_ms: number(&d, "connected_ms")?,
            last_heartbeat_ms: number(&d, "last_heartbeat_ms")?,
        });
    }
    Ok(out)
}

pub(super) async fn acquire(
    store: &MongoStore,
    environment: &str,
    agent: &str,
    id: &str,
    now: u64,
    ttl: u64,
    takeover: bool,
) -> Result<Option<Lease>, Failure> {
    let expires = now.saturating_add(ttl);
    let expires_ms = int(expires, "time")?;
    let sessions = store.collection(SESSIONS);
    let agents = store.collection(AGENTS);
    let epoch = in_transaction!(store.client, |session| async {
        let registered = sessions.find_one(session_filter(environment, id)).projection(doc! { "_id": 1 }).session(&mut *session).await?;
        if registered.is_none() {
            return Err(Failure::Store(StoreError::NotFound(format!("session {id} of environment {environment}"))));
        }
        let current = read_election(store, session, environment, agent).await?;
        let seen = current.as_ref().map_or((None, 0, false), |e| (e.holder.as_deref(), e.expires_ms, e.paused));
        match decide(seen.0, u64::try_from(seen.1).unwrap_or(0), seen.2, id, now, takeover) {
            Grant::Refused => Ok(None),
            Grant::Renewed => {
                // Renewed only if nobody took it or paused the name since it was read.
                let election = current.as_ref().ok_or_else(|| Failure::Retry("a renewal of no lease".into()))?;
                let mut filter = election.unchanged(environment, agent);
                filter.insert("paused", doc! { "$ne": true });
                let updated = agents.update_one(filter, doc! { "$set": { "expires_ms": expires_ms } }).session(&mut *session).await?;
                if updated.matched_count == 0 {
                    return Err(Failure::Retry(format!("the lease of agent {agent} changed meanwhile")));
                }
                Ok(Some(election.epoch))
            }
            Grant::New(reason) => {
                let next = current.as_ref().map_or(0, |e| e.epoch) + 1;
                change_holder(store, session, environment, agent, current.as_ref(), Some(id), next, Some(expires_ms), reason, Document::new()).await?;
                Ok(Some(next))
            }
        }
    })?;
    Ok(epoch.map(|epoch| Lease { agent: agent.to_string(), session_id: id.to_string(), epoch: epoch as u64, expires_ms: expires }))
}

pub(super) async fn release(store: &MongoStore, environment: &str, agent: &str, id: &str) -> Result<bool, Failure> {
    in_transaction!(store.client, |session| async {
        let Some(current) = read_election(store, session, environment, agent).await? else { return Ok(false) };
        if current.holder.as_deref() != Some(id) {
            return Ok(false);
        }
        change_holder(store, session, environment, agent, Some(&current), None, current.epoch, None, ChangeReason::Released, Document::new()).await?;
        Ok(true)
    })
}

/// Sets fields of a name's election that change no holder, creating its document if it
/// has none, in the caller's transaction.
async fn set_fields(store: &MongoStore, session: &mut ClientSession, environment: &str, agent: &str, current: Option<&Election>, set: Document) -> Result<(), Failure> {
    let agents = store.collection(AGENTS);
    if current.is_none() {
        let mut document = Election::new().document(environment, agent);
        document.extend(set);
        agents.insert_one(document).session(&mut *session).await.map_err(retry_on_duplicate)?;
    } else {
        agents.update_one(agent_filter(environment, agent), doc! { "$set": set }).session(&mut *session).await?;
    }
    Ok(())
}

pub(super) async fn set_paused(store: &MongoStore, environment: &str, agent: &str, paused: bool) -> Result<(), Failure> {
    in_transaction!(store.client, |session| async {
        let current = read_election(store, session, environment, agent).await?;
        match current.as_ref() {
            Some(election) if paused && election.holder.is_some() => {
                let extra = doc! { "paused": true };
                change_holder(store, session, environment, agent, Some(election), None, election.epoch, None, ChangeReason::Paused, extra).await
            }
            _ => set_fields(store, session, environment, agent, current.as_ref(), doc! { "paused": paused }).await,
        }
    })
}

pub(super) async fn set_preferred(store: &MongoStore, environment: &str, agent: &str, preferred: Option<&str>) -> Result<(), Failure> {
    in_transaction!(store.client, |session| async {
        let current = read_election(store, session, environment, agent).await?;
        set_fields(store, session, environment, agent, current.as_ref(), doc! { "preferred": preferred }).await
    })
}

pub(super) async fn agents(store: &MongoStore, environment: &str) -> Result<Vec<AgentRecord>, Failure> {
    let mut cursor = store.collection(AGENTS).find(doc! { "environment": environment }).sort(doc! { "agent": 1 }).await?;
    let mut out = Vec::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        let agent = string(&d, "agent")?;
        let election = Election::read(&d)?;
        let epoch = election.epoch as u64;
        let lease =
            election.holder.map(|session_id| Lease { agent: agent.clone(), session_id, epoch, expires_ms: election.expires_ms as u64 });
        out.push(AgentRecord { agent, paused: election.paused, preferred: election.preferred, lease, epoch });
    }
    Ok(out)
}

pub(super) async fn changes(store: &MongoStore, environment: &str, agent: Option<&str>, limit: usize) -> Result<Vec<PrimaryChange>, Failure> {
    let mut filter = doc! { "environment": environment };
    let sort = match agent {
        Some(agent) => {
            filter.insert("agent", agent);
            doc! { "seq": -1 }
        }
        None => doc! { "at_ms": -1, "seq": -1 },
    };
    let mut cursor = store.collection(PRIMARY_CHANGES).find(filter).sort(sort).limit(i64::try_from(limit).unwrap_or(i64::MAX)).await?;
    let mut out = Vec::new();
    while cursor.advance().await? {
        let d: Document = cursor.deserialize_current()?;
        let reason = d.get_str("reason")?;
        out.push(PrimaryChange {
            agent: string(&d, "agent")?,
            from_session: optional_string(&d, "from_session")?,
            to_session: optional_string(&d, "to_session")?,
            epoch: number(&d, "epoch")?,
            at_ms: number(&d, "at_ms")?,
            reason: ChangeReason::parse(reason).ok_or_else(|| Failure::Store(StoreError::Corrupt(format!("primary change reason `{reason}`"))))?,
        });
    }
    Ok(out)
}

/// Refuses, in the caller's transaction, an epoch that is not the agent's current one, and
/// otherwise writes the agent's document (`writes`), so that a grant committed meanwhile
/// conflicts with this transaction rather than slipping past it.
async fn fence(store: &MongoStore, session: &mut ClientSession, environment: &str, agent: &str, epoch: u64) -> Result<(), Failure> {
    if epoch > 0 {
        let mut filter = agent_filter(environment, agent);
        filter.insert("epoch", int(epoch, "epoch")?);
        let updated = store.collection(AGENTS).update_one(filter, doc! { "$inc": { "writes": 1_i64 } }).session(&mut *session).await?;
        if updated.matched_count > 0 {
            return Ok(());
        }
    }
    let current = read_election(store, session, environment, agent).await?.map_or(0, |e| e.epoch as u64);
    Err(Failure::Store(fenced(environment, agent, epoch, current)))
}

pub(super) async fn record_fenced(store: &MongoStore, environment: &str, agent: &str, epoch: u64, results: &[DeployResult]) -> Result<(), Failure> {
    let statements = states::state_statements(environment, results)?;
    in_transaction!(store.client, |session| async {
        fence(store, session, environment, agent, epoch).await?;
        states::write_results(store, session, environment, results, &statements).await
    })
}

pub(super) async fn mark_deploying_fenced(
    store: &MongoStore,
    environment: &str,
    agent: &str,
    epoch: u64,
    version: u64,
    resources: &[ResourceId],
) -> Result<(), Failure> {
    let statements = states::intent_statements(environment, version, resources)?;
    in_transaction!(store.client, |session| async {
        fence(store, session, environment, agent, epoch).await?;
        states::write_intents(store, session, &statements).await
    })
}

fn run_heads(environment: &str) -> (String, String) {
    (format!("deploys:{environment}"), format!("repairs:{environment}"))
}

pub(super) async fn request_run(store: &MongoStore, environment: &str, repair: bool) -> Result<RunRequests, Failure> {
    let (deploys, repairs) = run_heads(environment);
    ops::advance_counter(&store.collection(HEADS), if repair { &repairs } else { &deploys }, environment, 1, None).await?;
    run_requests(store, environment).await
}

pub(super) async fn run_requests(store: &MongoStore, environment: &str) -> Result<RunRequests, Failure> {
    let (deploys, repairs) = run_heads(environment);
    let heads = store.collection(HEADS);
    let mut counters = [0u64; 2];
    for (slot, id) in counters.iter_mut().zip([deploys, repairs]) {
        if let Some(head) = heads.find_one(doc! { "_id": id }).await? {
            *slot = number(&head, "last")?;
        }
    }
    Ok(RunRequests { deploys: counters[0], repairs: counters[1] })
}
