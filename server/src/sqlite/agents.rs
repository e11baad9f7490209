//! Agents in the embedded store: their sessions (`agent_sessions`), one row per agent name
//! for its election (`agents`: the lease's holder, epoch and expiry, whether the name is
//! paused, the preferred session) and the primary changes (`primary_changes`, numbered in
//! the order they were made).
//!
//! Atomicity: the store has one connection behind a mutex, and every call here that reads
//! before it writes is one SQLite transaction. A grant reads the agent's row, decides and
//! writes it (and its primary change) with nothing in between; a fenced write reads the
//! epoch and writes the results in the same transaction, so that no grant can come between
//! the check and the write.

use super::{backend, corrupt_json, int, states, to_json};
use crate::records::{AgentRecord, ChangeReason, Lease, PrimaryChange, RunRequests, SessionRecord};
use crate::events::{EventKind, NewEvent};
use crate::store::{decide, fenced, now_ms, Grant, StoreError};
use cairn_wire::{DeployResult, ResourceId};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// An agent name's election row: holder, epoch, expiry, paused, preferred.
type AgentRow = (Option<String>, i64, i64, bool, Option<String>);

fn agent_row(connection: &Connection, environment: &str, agent: &str) -> Result<Option<AgentRow>, StoreError> {
    connection
        .query_row(
            "SELECT holder, epoch, expires_ms, paused, preferred FROM agents WHERE environment = ?1 AND agent = ?2",
            params![environment, agent],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
        )
        .optional()
        .map_err(backend)
}

fn add_change(
    connection: &Connection,
    environment: &str,
    agent: &str,
    from: Option<&str>,
    to: Option<&str>,
    epoch: i64,
    reason: ChangeReason,
) -> Result<(), StoreError> {
    connection
        .execute(
            "INSERT INTO primary_changes (environment, agent, from_session, to_session, epoch, at_ms, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![environment, agent, from, to, epoch, int(now_ms(), "time")?, reason.as_str()],
        )
        .map_err(backend)?;
    let data = serde_json::json!({ "agent": agent, "from_session": from, "to_session": to, "epoch": epoch, "reason": reason.as_str() });
    super::events::insert(connection, &[NewEvent::new(environment, EventKind::PrimaryChanged, data)])?;
    Ok(())
}

pub(super) fn register(connection: &mut Connection, environment: &str, session: &SessionRecord) -> Result<(), StoreError> {
    connection
        .execute(
            "INSERT INTO agent_sessions (environment, id, server, host, pid, agents, connected_ms, last_heartbeat_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (environment, id) DO UPDATE SET
                server = excluded.server, host = excluded.host, pid = excluded.pid, agents = excluded.agents,
                connected_ms = excluded.connected_ms, last_heartbeat_ms = excluded.last_heartbeat_ms",
            params![
                environment,
                session.id,
                session.server,
                session.host,
                session.pid,
                to_json(&session.agents)?,
                int(session.connected_ms, "time")?,
                int(session.last_heartbeat_ms, "time")?,
            ],
        )
        .map_err(backend)?;
    Ok(())
}

pub(super) fn heartbeat(connection: &mut Connection, environment: &str, session: &str, now: u64) -> Result<bool, StoreError> {
    // Never back in time: two servers' clocks may differ a little.
    let changed = connection
        .execute(
            "UPDATE agent_sessions SET last_heartbeat_ms = MAX(last_heartbeat_ms, ?3) WHERE environment = ?1 AND id = ?2",
            params![environment, session, int(now, "time")?],
        )
        .map_err(backend)?;
    Ok(changed > 0)
}

/// Deletes a session and releases its leases, in the caller's transaction.
fn end_in(connection: &Connection, environment: &str, session: &str, reason: ChangeReason) -> Result<bool, StoreError> {
    let existed = connection.execute("DELETE FROM agent_sessions WHERE environment = ?1 AND id = ?2", params![environment, session]).map_err(backend)? > 0;
    let held: Vec<(String, i64)> = {
        let mut query = connection.prepare("SELECT agent, epoch FROM agents WHERE environment = ?1 AND holder = ?2 ORDER BY agent").map_err(backend)?;
        let rows = query.query_map(params![environment, session], |row| Ok((row.get(0)?, row.get(1)?))).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    for (agent, epoch) in held {
        connection.execute("UPDATE agents SET holder = NULL WHERE environment = ?1 AND agent = ?2", params![environment, agent]).map_err(backend)?;
        add_change(connection, environment, &agent, Some(session), None, epoch, reason)?;
    }
    Ok(existed)
}

pub(super) fn end(connection: &mut Connection, environment: &str, session: &str) -> Result<bool, StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    let existed = end_in(&transaction, environment, session, ChangeReason::SessionEnded)?;
    transaction.commit().map_err(backend)?;
    Ok(existed)
}

pub(super) fn expire(connection: &mut Connection, environment: &str, before: u64) -> Result<Vec<String>, StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    let ids: Vec<String> = {
        let mut query = transaction
            .prepare("SELECT id FROM agent_sessions WHERE environment = ?1 AND last_heartbeat_ms < ?2 ORDER BY id")
            .map_err(backend)?;
        let rows = query.query_map(params![environment, int(before, "time")?], |row| row.get(0)).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    for id in &ids {
        end_in(&transaction, environment, id, ChangeReason::SessionExpired)?;
    }
    transaction.commit().map_err(backend)?;
    Ok(ids)
}

fn to_session(row: &Row<'_>) -> rusqlite::Result<(String, String, String, u32, String, i64, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?))
}

pub(super) fn sessions(connection: &mut Connection, environment: &str, live_since: Option<u64>) -> Result<Vec<SessionRecord>, StoreError> {
    let since = int(live_since.unwrap_or(0), "time")?;
    let mut query = connection
        .prepare(
            "SELECT id, server, host, pid, agents, connected_ms, last_heartbeat_ms FROM agent_sessions
             WHERE environment = ?1 AND last_heartbeat_ms >= ?2 ORDER BY id",
        )
        .map_err(backend)?;
    let rows = query.query_map(params![environment, since], to_session).map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, server, host, pid, agents, connected_ms, last_heartbeat_ms) = row.map_err(backend)?;
        out.push(SessionRecord {
            id,
            server,
            host,
            pid,
            agents: serde_json::from_str(&agents).map_err(corrupt_json)?,
            connected_ms: connected_ms as u64,
            last_heartbeat_ms: last_heartbeat_ms as u64,
        });
    }
    Ok(out)
}

pub(super) fn acquire(
    connection: &mut Connection,
    environment: &str,
    agent: &str,
    session: &str,
    now: u64,
    ttl: u64,
    takeover: bool,
) -> Result<Option<Lease>, StoreError> {
    let expires = now.saturating_add(ttl);
    let expires_ms = int(expires, "time")?;
    let transaction = connection.transaction().map_err(backend)?;
    let registered: Option<i64> = transaction
        .query_row("SELECT 1 FROM agent_sessions WHERE environment = ?1 AND id = ?2", params![environment, session], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    if registered.is_none() {
        return Err(StoreError::NotFound(format!("session {session} of environment {environment}")));
    }
    let (holder, epoch, old_expires, paused, _) = agent_row(&transaction, environment, agent)?.unwrap_or((None, 0, 0, false, None));
    let epoch = match decide(holder.as_deref(), old_expires as u64, paused, session, now, takeover) {
        Grant::Refused => return Ok(None),
        Grant::Renewed => epoch,
        Grant::New(reason) => {
            let next = epoch + 1;
            add_change(&transaction, environment, agent, holder.as_deref(), Some(session), next, reason)?;
            next
        }
    };
    transaction
        .execute(
            "INSERT INTO agents (environment, agent, holder, epoch, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (environment, agent) DO UPDATE SET holder = excluded.holder, epoch = excluded.epoch, expires_ms = excluded.expires_ms",
            params![environment, agent, session, epoch, expires_ms],
        )
        .map_err(backend)?;
    transaction.commit().map_err(backend)?;
    Ok(Some(Lease { agent: agent.to_string(), session_id: session.to_string(), epoch: epoch as u64, expires_ms: expires }))
}

pub(super) fn release(connection: &mut Connection, environment: &str, agent: &str, session: &str) -> Result<bool, StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    let epoch: Option<i64> = transaction
        .query_row(
            "UPDATE agents SET holder = NULL WHERE environment = ?1 AND agent = ?2 AND holder = ?3 RETURNING epoch",
            params![environment, agent, session],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    let Some(epoch) = epoch else { return Ok(false) };
    add_change(&transaction, environment, agent, Some(session), None, epoch, ChangeReason::Released)?;
    transaction.commit().map_err(backend)?;
    Ok(true)
}

pub(super) fn set_paused(connection: &mut Connection, environment: &str, agent: &str, paused: bool) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    let holder = agent_row(&transaction, environment, agent)?.and_then(|(holder, epoch, ..)| holder.map(|h| (h, epoch)));
    transaction
        .execute(
            "INSERT INTO agents (environment, agent, paused) VALUES (?1, ?2, ?3)
             ON CONFLICT (environment, agent) DO UPDATE SET paused = excluded.paused",
            params![environment, agent, paused],
        )
        .map_err(backend)?;
    if let (true, Some((holder, epoch))) = (paused, holder) {
        transaction.execute("UPDATE agents SET holder = NULL WHERE environment = ?1 AND agent = ?2", params![environment, agent]).map_err(backend)?;
        add_change(&transaction, environment, agent, Some(&holder), None, epoch, ChangeReason::Paused)?;
    }
    transaction.commit().map_err(backend)
}

pub(super) fn set_preferred(connection: &mut Connection, environment: &str, agent: &str, preferred: Option<&str>) -> Result<(), StoreError> {
    connection
        .execute(
            "INSERT INTO agents (environment, agent, preferred) VALUES (?1, ?2, ?3)
             ON CONFLICT (environment, agent) DO UPDATE SET preferred = excluded.preferred",
            params![environment, agent, preferred],
        )
        .map_err(backend)?;
    Ok(())
}

pub(super) fn agents(connection: &mut Connection, environment: &str) -> Result<Vec<AgentRecord>, StoreError> {
    let mut query = connection
        .prepare("SELECT agent, holder, epoch, expires_ms, paused, preferred FROM agents WHERE environment = ?1 ORDER BY agent")
        .map_err(backend)?;
    let rows = query
        .query_map([environment], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, bool>(4)?,
                row.get::<_, Option<String>>(5)?,
            ))
        })
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (agent, holder, epoch, expires_ms, paused, preferred) = row.map_err(backend)?;
        let lease = holder.map(|session_id| Lease { agent: agent.clone(), session_id, epoch: epoch as u64, expires_ms: expires_ms as u64 });
        out.push(AgentRecord { agent, paused, preferred, lease, epoch: epoch as u64 });
    }
    Ok(out)
}

pub(super) fn changes(connection: &mut Connection, environment: &str, agent: Option<&str>, limit: usize) -> Result<Vec<PrimaryChange>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut query = connection
        .prepare(
            "SELECT agent, from_session, to_session, epoch, at_ms, reason FROM primary_changes
             WHERE environment = ?1 AND (?2 IS NULL OR agent = ?2) ORDER BY id DESC LIMIT ?3",
        )
        .map_err(backend)?;
    let rows = query
        .query_map(params![environment, agent, limit], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
            ))
        })
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (agent, from_session, to_session, epoch, at_ms, reason) = row.map_err(backend)?;
        let reason = ChangeReason::parse(&reason).ok_or_else(|| StoreError::Corrupt(format!("primary change reason `{reason}`")))?;
        out.push(PrimaryChange { agent, from_session, to_session, epoch: epoch as u64, at_ms: at_ms as u64, reason });
    }
    Ok(out)
}

/// Refuses, in the caller's transaction, an epoch that is not the agent's current one
/// (epoch 0, before any term, never is).
fn check_epoch(connection: &Connection, environment: &str, agent: &str, epoch: u64) -> Result<(), StoreError> {
    let current = agent_row(connection, environment, agent)?.map_or(0, |(_, epoch, ..)| epoch as u64);
    if current == 0 || epoch != current {
        return Err(fenced(environment, agent, epoch, current));
    }
    Ok(())
}

pub(super) fn record_fenced(
    connection: &mut Connection,
    environment: &str,
    agent: &str,
    epoch: u64,
    rows: &[(DeployResult, String)],
) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    check_epoch(&transaction, environment, agent, epoch)?;
    states::write_results(&transaction, environment, rows)?;
    transaction.commit().map_err(backend)
}

pub(super) fn mark_deploying_fenced(
    connection: &mut Connection,
    environment: &str,
    agent: &str,
    epoch: u64,
    version: u64,
    resources: &[ResourceId],
) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(backend)?;
    check_epoch(&transaction, environment, agent, epoch)?;
    states::write_intents(&transaction, environment, version, resources)?;
    transaction.commit().map_err(backend)
}

pub(super) fn request_run(connection: &mut Connection, environment: &str, repair: bool) -> Result<RunRequests, StoreError> {
    let (deploys, repairs) = if repair { (0, 1) } else { (1, 0) };
    connection
        .execute(
            "INSERT INTO run_requests (environment, deploys, repairs) VALUES (?1, ?2, ?3)
             ON CONFLICT (environment) DO UPDATE SET deploys = deploys + excluded.deploys, repairs = repairs + excluded.repairs",
            params![environment, deploys, repairs],
        )
        .map_err(backend)?;
    run_requests(connection, environment)
}

pub(super) fn run_requests(connection: &mut Connection, environment: &str) -> Result<RunRequests, StoreError> {
    let counters: Option<(i64, i64)> = connection
        .query_row("SELECT deploys, repairs FROM run_requests WHERE environment = ?1", [environment], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .map_err(backend)?;
    let (deploys, repairs) = counters.unwrap_or((0, 0));
    Ok(RunRequests { deploys: deploys.max(0) as u64, repairs: repairs.max(0) as u64 })
}
