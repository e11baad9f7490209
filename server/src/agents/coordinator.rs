//! The coordinator: one task per server that, every tick (and early when kicked), for each
//! environment it holds sessions of:
//! 1. ends the sessions of any server that stopped heartbeating (their leases go);
//! 2. elects: renews the leases its sessions hold, asks for free, expired or preferred ones,
//!    and tells each session, once per change, that it is the primary (with the epoch) or a
//!    standby (paused or not);
//! 3. dispatches: sends each primary the work it lacks (the released version's increment on
//!    a new term or a new release; a deploy or repair run asked for; a repair run when the
//!    environment's `repair_interval` passed);
//! 4. polls, on ticks, the states of other agents' resources that work waits for and that
//!    were not pushed (written through another server).
//!
//! Leases last until the holder's last heartbeat plus the timeout (less a tick): a process
//! that dies or stops is replaced within the timeout, and one that is alive is never.

use super::hub::{send, settled, Dispatched, Hub, Observed, Outgoing, Term, VersionIndex};
use crate::records::{AgentRecord, Lease};
use crate::store::{now_ms, Store, StoreError};
use cairn_wire::session::{ServerMessage, MAX_FRAME_BYTES};
use cairn_wire::{ResourceDoc, ResourceId, ResourceState, ResourceStatus};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Runs until the server stops.
pub async fn run(store: Arc<dyn Store>, hub: Arc<Hub>) {
    let mut stopping = hub.stopping.subscribe();
    loop {
        let ticked = tokio::select! {
            _ = tokio::time::sleep(hub.tick) => true,
            _ = hub.kick.notified() => {
                // Kicks come in bursts (every session of a process says hello at once).
                tokio::time::sleep(Duration::from_millis(10)).await;
                false
            }
            _ = async { let _ = stopping.wait_for(|stopping| *stopping).await; } => return,
        };
        for environment in hub.environments() {
            if let Err(error) = round(store.as_ref(), &hub, &environment, ticked).await {
                tracing::warn!(%error, %environment, "agent coordination round failed; trying again at the next");
            }
        }
    }
}

/// One round for one environment.
pub async fn round(store: &dyn Store, hub: &Hub, environment: &str, ticked: bool) -> Result<(), StoreError> {
    let now = now_ms();
    let timeout_ms = hub.timeout.as_millis() as u64;
    let expired = store.expire_sessions(environment, now.saturating_sub(timeout_ms)).await?;
    if !expired.is_empty() {
        tracing::info!(%environment, sessions = ?expired, "agent sessions expired");
        let state = hub.lock();
        for id in &expired {
            if let Some(session) = state.sessions.get(id) {
                session.close.notify_one();
            }
        }
    }
    elect(store, hub, environment, now).await?;
    dispatch(store, hub, environment, now).await?;
    if ticked {
        poll_dependencies(store, hub, environment).await?;
    }
    Ok(())
}

/// The sessions of `environment` this server holds: id, agent names, last heartbeat.
fn local_sessions(hub: &Hub, environment: &str) -> Vec<(String, Vec<String>, u64)> {
    hub.lock()
        .sessions
        .iter()
        .filter(|(_, s)| s.environment == environment)
        .map(|(id, s)| (id.clone(), s.agents.iter().cloned().collect(), s.last_heartbeat_ms))
        .collect()
}

async fn elect(store: &dyn Store, hub: &Hub, environment: &str, now: u64) -> Result<(), StoreError> {
    let sessions = local_sessions(hub, environment);
    if sessions.is_empty() {
        return Ok(());
    }
    let mut records: BTreeMap<String, AgentRecord> = store.agents(environment).await?.into_iter().map(|a| (a.agent.clone(), a)).collect();
    let timeout_ms = hub.timeout.as_millis() as u64;
    let tick_ms = hub.tick.as_millis() as u64;
    for (id, agents, last_heartbeat) in sessions {
        if now.saturating_sub(last_heartbeat) > timeout_ms {
            if let Some(session) = hub.lock().sessions.get(&id) {
                session.close.notify_one();
            }
            continue;
        }
        for agent in agents {
            let record = records.get(&agent);
            let paused = record.is_some_and(|r| r.paused);
            let holder = record.and_then(|r| r.lease.as_ref());
            let mine = holder.is_some_and(|l| l.session_id == id);
            let preferred = record.and_then(|r| r.preferred.as_deref()) == Some(id.as_str());
            let taken = holder.is_some_and(|l| l.session_id != id && l.live(now));
            let lease = if paused || (taken && !preferred) {
                None
            } else if let Some(held) = holder.filter(|l| mine && l.expires_ms > now + timeout_ms / 2) {
                // Renewed when half of it is left, not at every round: one write per name
                // every few seconds, however short the tick.
                Some(held.clone())
            } else {
                let ttl = (last_heartbeat + timeout_ms).saturating_sub(tick_ms).saturating_sub(now).max(1);
                match store.acquire_lease(environment, &agent, &id, now, ttl, preferred && !mine).await {
                    Ok(lease) => lease,
                    // The session ended meanwhile.
                    Err(StoreError::NotFound(_)) => None,
                    Err(error) => return Err(error),
                }
            };
            if let Some(lease) = &lease {
                let entry = records.entry(agent.clone()).or_insert_with(|| AgentRecord {
                    agent: agent.clone(),
                    paused: false,
                    preferred: None,
                    lease: None,
                    epoch: lease.epoch,
                });
                entry.lease = Some(lease.clone());
            }
            tell(hub, environment, &id, &agent, lease, paused);
        }
    }
    Ok(())
}

/// Tells a session what it is for `agent`, when that changed.
fn tell(hub: &Hub, environment: &str, id: &str, agent: &str, lease: Option<Lease>, paused: bool) {
    let mut state = hub.lock();
    let Some(session) = state.sessions.get_mut(id) else { return };
    // Left meanwhile: the lease it was just given is released by the leave.
    if !session.agents.contains(agent) {
        return;
    }
    match lease {
        Some(lease) => {
            session.standby.remove(agent);
            if session.terms.get(agent).is_none_or(|t| t.epoch != lease.epoch) {
                tracing::info!(%environment, session = %id, host = %session.host, pid = session.pid, %agent, epoch = lease.epoch, "primary");
                session.terms.insert(agent.to_string(), Term { epoch: lease.epoch, sent: None, waiting: BTreeMap::new() });
                send(session, Outgoing::Text(ServerMessage::Primary { agent: agent.to_string(), epoch: lease.epoch }.to_frame()));
            }
        }
        None => {
            let was_primary = session.terms.remove(agent).is_some();
            if was_primary || session.standby.get(agent) != Some(&paused) {
                session.standby.insert(agent.to_string(), paused);
                send(session, Outgoing::Text(ServerMessage::Standby { agent: agent.to_string(), paused }.to_frame()));
            }
        }
    }
}

/// A primary's work to send.
struct Due {
    session: String,
    agent: String,
    epoch: u64,
    sent: Option<Dispatched>,
    repair: bool,
}

async fn dispatch(store: &dyn Store, hub: &Hub, environment: &str, now: u64) -> Result<(), StoreError> {
    let terms: Vec<(String, String, u64, Option<Dispatched>)> = {
        let state = hub.lock();
        state
            .sessions
            .iter()
            .filter(|(_, s)| s.environment == environment)
            .flat_map(|(id, s)| s.terms.iter().map(move |(agent, term)| (id.clone(), agent.clone(), term.epoch, term.sent)))
            .collect()
    };
    if terms.is_empty() {
        return Ok(());
    }
    let Some(released) = store.released_version(environment).await? else { return Ok(()) };
    let requests = store.run_requests(environment).await?;
    let settings = store.environment(environment).await?.map(|e| e.settings).unwrap_or_default();
    let interval_ms = crate::settings::repair_interval(&settings).saturating_mul(1000);
    let due: Vec<Due> = terms
        .into_iter()
        .filter_map(|(session, agent, epoch, sent)| {
            let repair = match sent {
                None => false,
                Some(d) if d.version != released => false,
                Some(d) if requests.repairs > d.repairs => true,
                Some(d) if interval_ms > 0 && now >= d.last_repair_ms.saturating_add(interval_ms) => true,
                Some(d) if requests.deploys > d.deploys => false,
                Some(_) => return None,
            };
            Some(Due { session, agent, epoch, sent, repair })
        })
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    let index = match hub.version(environment, released) {
        Some(index) => index,
        None => {
            let index = Arc::new(VersionIndex::new(store.version_resources(environment, released).await?));
            hub.cache_version(environment, released, Arc::clone(&index));
            index
        }
    };
    let statuses = store.resource_statuses(environment).await?;
    for due in due {
        let resources: &[ResourceDoc] = index.by_agent.get(&due.agent).map(Vec::as_slice).unwrap_or_default();
        let mut external = BTreeMap::new();
        let mut waiting = BTreeMap::new();
        for required in resources.iter().flat_map(|r| r.requires.iter()) {
            if required.agent() == due.agent || external.contains_key(required) {
                continue;
            }
            let Some(hash) = index.hashes.get(required) else { continue };
            let state = statuses
                .get(required)
                .and_then(|s| settled(s.state, s.deployed_hash.as_deref(), s.version, hash, released))
                .unwrap_or(ResourceState::Available);
            if state == ResourceState::Available {
                waiting.insert(required.clone(), hash.clone());
            }
            external.insert(required.clone(), state);
        }
        let count = resources.len();
        let frames = work_frames(&due, released, resources, &statuses, &external);
        let mut state = hub.lock();
        let Some(session) = state.sessions.get_mut(&due.session) else { continue };
        let Some(term) = session.terms.get_mut(&due.agent).filter(|t| t.epoch == due.epoch) else { continue };
        let first = due.sent.is_none();
        let last_repair_ms = match due.sent {
            Some(sent) if !due.repair => sent.last_repair_ms,
            _ => now,
        };
        term.sent = Some(Dispatched { version: released, deploys: requests.deploys, repairs: requests.repairs, last_repair_ms });
        term.waiting = waiting;
        tracing::info!(%environment, session = %due.session, agent = %due.agent, version = released, resources = count, repair = due.repair, first, "work sent");
        for frame in frames {
            send(session, Outgoing::Text(frame));
        }
    }
    Ok(())
}

/// The frames of one work: as few as fit in [`MAX_FRAME_BYTES`] each, every resource with
/// its state in the same frame, the external states in the first. Each document is
/// serialised once and frames are cut by size (a version of 50,000 resources is written in
/// one pass); a resource larger than a frame on its own is not sent (and logged).
fn work_frames(
    due: &Due,
    version: u64,
    resources: &[ResourceDoc],
    statuses: &BTreeMap<ResourceId, ResourceStatus>,
    external: &BTreeMap<ResourceId, ResourceState>,
) -> Vec<String> {
    let head = format!(
        r#"{{"type":"work","agent":{},"epoch":{},"version":{version},"repair":{},"resources":["#,
        json(&due.agent),
        due.epoch,
        due.repair
    );
    let external = json(external);
    // What every frame has besides its resources and states: the head, the keys, the
    // external states (first frame only) and `more`.
    let overhead = head.len() + external.len() + 64;
    let mut frames = Vec::new();
    let (mut documents, mut states) = (String::new(), String::new());
    let mut skipped = 0usize;
    let finish = |documents: &str, states: &str, external: &str, more: bool| {
        format!(r#"{head}{documents}],"statuses":{{{states}}},"external":{external},"more":{more}}}"#)
    };
    for resource in resources {
        let document = json(resource);
        let state = statuses.get(&resource.id).map(|s| format!("{}:{}", json(&resource.id), json(s)));
        let size = document.len() + state.as_ref().map_or(0, String::len) + 2;
        if overhead + size > MAX_FRAME_BYTES {
            skipped += 1;
            continue;
        }
        if overhead + documents.len() + states.len() + size > MAX_FRAME_BYTES {
            let first = frames.is_empty();
            frames.push(finish(&documents, &states, if first { &external } else { "{}" }, true));
            documents.clear();
            states.clear();
        }
        if !documents.is_empty() {
            documents.push(',');
        }
        documents.push_str(&document);
        if let Some(state) = state {
            if !states.is_empty() {
                states.push(',');
            }
            states.push_str(&state);
        }
    }
    let first = frames.is_empty();
    frames.push(finish(&documents, &states, if first { &external } else { "{}" }, false));
    if skipped > 0 {
        tracing::error!(agent = %due.agent, count = skipped, "resources larger than a frame are not sent");
    }
    frames
}

/// A value of the protocol as JSON (cannot fail: every map key is a string).
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

async fn poll_dependencies(store: &dyn Store, hub: &Hub, environment: &str) -> Result<(), StoreError> {
    let waiting = {
        let state = hub.lock();
        state.sessions.values().filter(|s| s.environment == environment).any(|s| s.terms.values().any(|t| !t.waiting.is_empty()))
    };
    if !waiting {
        return Ok(());
    }
    let statuses = store.resource_statuses(environment).await?;
    let observed: Vec<Observed<'_>> = statuses.values().map(Observed::of_status).collect();
    hub.publish(environment, &observed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(i: usize, padding: usize) -> ResourceDoc {
        let mut attributes = BTreeMap::new();
        attributes.insert("value".to_string(), serde_json::Value::String("x".repeat(padding)));
        ResourceDoc {
            id: ResourceId(format!("t::R[web,name=r{i:05}]")),
            resource_type: "t::R".into(),
            agent: "web".into(),
            attributes,
            requires: Vec::new(),
            hash: format!("h{i}"),
            undefined: false,
            send_event: false,
            receive_events: false,
        }
    }

    fn due() -> Due {
        Due { session: "s".into(), agent: "web".into(), epoch: 3, sent: None, repair: false }
    }

    #[test]
    fn work_larger_than_a_frame_is_split_into_frames_that_fit() {
        let resources: Vec<ResourceDoc> = (0..3_000).map(|i| resource(i, 10_000)).collect();
        let external = BTreeMap::from([(ResourceId("t::R[db,name=d]".into()), ResourceState::Available)]);
        let statuses: BTreeMap<ResourceId, ResourceStatus> = resources
            .iter()
            .map(|r| (r.id.clone(), ResourceStatus { resource: r.id.clone(), state: ResourceState::Deployed, deployed_hash: Some("old".into()), version: 1 }))
            .collect();
        let frames = work_frames(&due(), 7, &resources, &statuses, &external);
        assert!(frames.len() >= 2, "30 MB of work in {} frames", frames.len());
        let mut seen = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            assert!(frame.len() <= MAX_FRAME_BYTES);
            let Ok(ServerMessage::Work { resources, statuses: states, external: sent, more, epoch, version, .. }) = ServerMessage::from_frame(frame) else {
                panic!("frame {i} is not work")
            };
            assert!(resources.iter().all(|r| states.contains_key(&r.id)) && states.len() == resources.len(), "each state goes with its resource");
            assert_eq!((epoch, version), (3, 7));
            assert_eq!(more, i + 1 < frames.len(), "only the last frame ends the work");
            assert_eq!(sent.is_empty(), i > 0, "the external states go with the first frame");
            seen.extend(resources.into_iter().map(|r| r.id));
        }
        assert_eq!(seen, resources.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    }

    #[test]
    fn empty_work_is_one_frame() {
        let frames = work_frames(&due(), 1, &[], &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(frames.len(), 1);
        assert!(matches!(ServerMessage::from_frame(&frames[0]), Ok(ServerMessage::Work { more: false, .. })));
    }

    #[test]
    fn a_dependency_is_settled_by_its_desired_hash_or_a_failure_of_the_version() {
        assert_eq!(settled(ResourceState::Deployed, Some("h"), 1, "h", 2), Some(ResourceState::Deployed), "deployed as desired");
        assert_eq!(settled(ResourceState::Deployed, Some("old"), 1, "h", 2), None, "deployed, but an older desired state");
        assert_eq!(settled(ResourceState::Failed, None, 2, "h", 2), Some(ResourceState::Failed));
        assert_eq!(settled(ResourceState::Failed, None, 1, "h", 2), None, "a failure of an older version is retried");
        assert_eq!(settled(ResourceState::Deploying, Some("h"), 2, "h", 2), None);
        assert_eq!(settled(ResourceState::SkippedForUndefined, None, 2, "h", 2), Some(ResourceState::SkippedForUndefined));
    }
}
