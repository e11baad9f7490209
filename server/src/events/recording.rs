//! The store every part of a server uses: it wraps the backend and, after each change
//! that succeeded, appends the change's events (`resource.state` for each result and each
//! resource marked deploying, `version.*`, `compile.*`, `agent.up` and `agent.down`). The
//! events are handed to one appender task per server, which writes whatever is waiting in
//! one call (a few hundred results of one agent batch are one write), and the change's
//! caller waits until its events are written. A change of primary is not appended here:
//! the backend writes it in the transaction that changes the lease, and its own feed
//! (`Store::follow_events`) tells the bus.
//!
//! A server that dies between a change and its events loses those events (the change
//! stays): the log says what happened as far as the server that did it lived to say.

use super::bus::EventBus;
use super::{Event, EventKind, NewEvent};
use crate::records::{AgentRecord, CompileRecord, CompileReport, DryRunRecord, EnvironmentRecord, Lease, PrimaryChange, RunRequests, SessionRecord, StatusFilter, TokenRecord, Trigger};
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use cairn_wire::{DeployResult, ResourceDoc, ResourceId, ResourceState, ResourceStatus, VersionInfo};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// The most events one append writes.
const BATCH: usize = 1000;
/// How many changes may wait for the appender before their callers wait to hand theirs.
const WAITING: usize = 256;

struct Pending {
    events: Vec<NewEvent>,
    written: oneshot::Sender<()>,
}

pub struct RecordingStore {
    inner: Arc<dyn Store>,
    bus: Arc<EventBus>,
    appender: OnceLock<mpsc::Sender<Pending>>,
}

impl RecordingStore {
    pub fn new(inner: Arc<dyn Store>, bus: Arc<EventBus>) -> RecordingStore {
        RecordingStore { inner, bus, appender: OnceLock::new() }
    }

    /// Hands events to the appender (started on first use) and waits until they are
    /// written. A failure to write them is logged: the change they describe stands.
    async fn emit(&self, events: Vec<NewEvent>) {
        if events.is_empty() {
            return;
        }
        let appender = self.appender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(WAITING);
            tokio::spawn(append_all(Arc::clone(&self.inner), Arc::clone(&self.bus), receiver));
            sender
        });
        let (written, done) = oneshot::channel();
        if appender.send(Pending { events, written }).await.is_err() {
            tracing::error!("the event appender has stopped; events are lost");
            return;
        }
        let _ = done.await;
    }
}

/// The appender: takes what is waiting (up to [`BATCH`] events), writes it in one call
/// (tried three times), advances the bus and lets the callers go.
async fn append_all(store: Arc<dyn Store>, bus: Arc<EventBus>, mut receiver: mpsc::Receiver<Pending>) {
    while let Some(first) = receiver.recv().await {
        let mut waiting = vec![first];
        let mut count = waiting[0].events.len();
        while count < BATCH {
            match receiver.try_recv() {
                Ok(next) => {
                    count += next.events.len();
                    waiting.push(next);
                }
                Err(_) => break,
            }
        }
        let events: Vec<NewEvent> = waiting.iter_mut().flat_map(|p| std::mem::take(&mut p.events)).collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match store.append_events(&events).await {
                Ok(last) => {
                    bus.advance(last);
                    break;
                }
                Err(error) if attempt < 3 => {
                    tracing::warn!(%error, "cannot append events; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                Err(error) => {
                    tracing::error!(%error, count = events.len(), "cannot append events; they are lost");
                    break;
                }
            }
        }
        for pending in waiting {
            let _ = pending.written.send(());
        }
    }
}

/// `resource.state` events of resources marked deploying.
fn deploying(environment: &str, version: u64, resources: &[ResourceId]) -> Vec<NewEvent> {
    resources
        .iter()
        .map(|id| NewEvent::new(environment, EventKind::ResourceState, json!({ "resource": id.0, "version": version, "state": ResourceState::Deploying.as_str() })))
        .collect()
}

/// `resource.state` events of deploy results (a dry run's results change no state: none).
fn states(environment: &str, results: &[DeployResult]) -> Vec<NewEvent> {
    results
        .iter()
        .filter(|r| r.state != ResourceState::Dry)
        .map(|r| {
            let data = json!({
                "resource": r.resource.0, "version": r.version, "state": r.state.as_str(), "changed": r.changed, "message": r.message,
            });
            NewEvent::new(environment, EventKind::ResourceState, data)
        })
        .collect()
}

#[async_trait]
impl Store for RecordingStore {
    async fn create_version(&self, environment: &str, resources: &[ResourceDoc]) -> Result<u64, StoreError> {
        let version = self.inner.create_version(environment, resources).await?;
        self.emit(vec![NewEvent::new(environment, EventKind::VersionUploaded, json!({ "version": version, "resources": resources.len() }))]).await;
        Ok(version)
    }

    async fn latest_version(&self, environment: &str) -> Result<Option<u64>, StoreError> {
        self.inner.latest_version(environment).await
    }

    async fn versions(&self, environment: &str) -> Result<Vec<VersionInfo>, StoreError> {
        self.inner.versions(environment).await
    }

    async fn prune_versions(&self, environment: &str, keep: usize) -> Result<usize, StoreError> {
        self.inner.prune_versions(environment, keep).await
    }

    async fn version_resources(&self, environment: &str, version: u64) -> Result<Vec<ResourceDoc>, StoreError> {
        self.inner.version_resources(environment, version).await
    }

    async fn resource_statuses(&self, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, StoreError> {
        self.inner.resource_statuses(environment).await
    }

    async fn mark_deploying(&self, environment: &str, version: u64, resources: &[ResourceId]) -> Result<(), StoreError> {
        self.inner.mark_deploying(environment, version, resources).await?;
        self.emit(deploying(environment, version, resources)).await;
        Ok(())
    }

    async fn record(&self, environment: &str, results: &[DeployResult]) -> Result<(), StoreError> {
        self.inner.record(environment, results).await?;
        self.emit(states(environment, results)).await;
        Ok(())
    }

    async fn missing_files(&self, hashes: &[String]) -> Result<Vec<String>, StoreError> {
        self.inner.missing_files(hashes).await
    }

    async fn put_files(&self, files: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        self.inner.put_files(files).await
    }

    async fn file(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.file(hash).await
    }

    async fn action_logs(&self, environment: &str, resource: &ResourceId) -> Result<Vec<DeployResult>, StoreError> {
        self.inner.action_logs(environment, resource).await
    }

    async fn create_environment(&self, environment: &EnvironmentRecord) -> Result<(), StoreError> {
        self.inner.create_environment(environment).await
    }

    async fn environments(&self) -> Result<Vec<EnvironmentRecord>, StoreError> {
        self.inner.environments().await
    }

    async fn environment(&self, name: &str) -> Result<Option<EnvironmentRecord>, StoreError> {
        self.inner.environment(name).await
    }

    async fn set_environment_settings(&self, name: &str, settings: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> {
        self.inner.set_environment_settings(name, settings).await
    }

    async fn delete_environment(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_environment(name).await
    }

    async fn release_version(&self, environment: &str, version: u64) -> Result<(), StoreError> {
        self.inner.release_version(environment, version).await?;
        self.emit(vec![NewEvent::new(environment, EventKind::VersionReleased, json!({ "version": version }))]).await;
        Ok(())
    }

    async fn released_version(&self, environment: &str) -> Result<Option<u64>, StoreError> {
        self.inner.released_version(environment).await
    }

    async fn delete_version(&self, environment: &str, version: u64) -> Result<bool, StoreError> {
        let deleted = self.inner.delete_version(environment, version).await?;
        if deleted {
            self.emit(vec![NewEvent::new(environment, EventKind::VersionDeleted, json!({ "version": version }))]).await;
        }
        Ok(deleted)
    }

    async fn version_resources_page(&self, environment: &str, version: u64, after: Option<&ResourceId>, limit: usize) -> Result<Vec<ResourceDoc>, StoreError> {
        self.inner.version_resources_page(environment, version, after, limit).await
    }

    async fn version_resource(&self, environment: &str, version: u64, resource: &ResourceId) -> Result<Option<ResourceDoc>, StoreError> {
        self.inner.version_resource(environment, version, resource).await
    }

    async fn resource_statuses_page(&self, environment: &str, filter: &StatusFilter, after: Option<&ResourceId>, limit: usize) -> Result<Vec<ResourceStatus>, StoreError> {
        self.inner.resource_statuses_page(environment, filter, after, limit).await
    }

    async fn resource_status(&self, environment: &str, resource: &ResourceId) -> Result<Option<ResourceStatus>, StoreError> {
        self.inner.resource_status(environment, resource).await
    }

    async fn count_by_state(&self, environment: &str) -> Result<BTreeMap<ResourceState, u64>, StoreError> {
        self.inner.count_by_state(environment).await
    }

    async fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.inner.create_token(token).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.token_by_hash(hash).await
    }

    async fn set_facts(&self, environment: &str, resource: &ResourceId, facts: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> {
        self.inner.set_facts(environment, resource, facts).await
    }

    async fn facts(&self, environment: &str) -> Result<BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>, StoreError> {
        self.inner.facts(environment).await
    }

    async fn create_dryrun(&self, environment: &str, dryrun: &DryRunRecord) -> Result<(), StoreError> {
        self.inner.create_dryrun(environment, dryrun).await
    }

    async fn dryruns(&self, environment: &str) -> Result<Vec<DryRunRecord>, StoreError> {
        self.inner.dryruns(environment).await
    }

    async fn dryrun(&self, environment: &str, id: &str) -> Result<Option<DryRunRecord>, StoreError> {
        self.inner.dryrun(environment, id).await
    }

    async fn add_dryrun_results(&self, environment: &str, id: &str, results: &[DeployResult]) -> Result<(), StoreError> {
        self.inner.add_dryrun_results(environment, id, results).await
    }

    async fn register_session(&self, environment: &str, session: &SessionRecord) -> Result<(), StoreError> {
        self.inner.register_session(environment, session).await?;
        let data = json!({ "session": session.id, "server": session.server, "host": session.host, "pid": session.pid, "agents": session.agents });
        self.emit(vec![NewEvent::new(environment, EventKind::AgentUp, data)]).await;
        Ok(())
    }

    async fn heartbeat(&self, environment: &str, session_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        self.inner.heartbeat(environment, session_id, now_ms).await
    }

    async fn end_session(&self, environment: &str, session_id: &str) -> Result<bool, StoreError> {
        let ended = self.inner.end_session(environment, session_id).await?;
        if ended {
            self.emit(vec![NewEvent::new(environment, EventKind::AgentDown, json!({ "session": session_id, "reason": "ended" }))]).await;
        }
        Ok(ended)
    }

    async fn expire_sessions(&self, environment: &str, before_ms: u64) -> Result<Vec<String>, StoreError> {
        let expired = self.inner.expire_sessions(environment, before_ms).await?;
        if !expired.is_empty() {
            let events = expired.iter().map(|id| NewEvent::new(environment, EventKind::AgentDown, json!({ "session": id, "reason": "expired" }))).collect();
            self.emit(events).await;
        }
        Ok(expired)
    }

    async fn sessions(&self, environment: &str, live_since_ms: Option<u64>) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.sessions(environment, live_since_ms).await
    }

    async fn acquire_lease(&self, environment: &str, agent: &str, session_id: &str, now_ms: u64, ttl_ms: u64, takeover: bool) -> Result<Option<Lease>, StoreError> {
        self.inner.acquire_lease(environment, agent, session_id, now_ms, ttl_ms, takeover).await
    }

    async fn release_lease(&self, environment: &str, agent: &str, session_id: &str) -> Result<bool, StoreError> {
        self.inner.release_lease(environment, agent, session_id).await
    }

    async fn set_agent_paused(&self, environment: &str, agent: &str, paused: bool) -> Result<(), StoreError> {
        self.inner.set_agent_paused(environment, agent, paused).await
    }

    async fn set_preferred(&self, environment: &str, agent: &str, session_id: Option<&str>) -> Result<(), StoreError> {
        self.inner.set_preferred(environment, agent, session_id).await
    }

    async fn agents(&self, environment: &str) -> Result<Vec<AgentRecord>, StoreError> {
        self.inner.agents(environment).await
    }

    async fn leases(&self, environment: &str) -> Result<Vec<Lease>, StoreError> {
        self.inner.leases(environment).await
    }

    async fn primary_changes(&self, environment: &str, agent: Option<&str>, limit: usize) -> Result<Vec<PrimaryChange>, StoreError> {
        self.inner.primary_changes(environment, agent, limit).await
    }

    async fn record_fenced(&self, environment: &str, agent: &str, epoch: u64, results: &[DeployResult]) -> Result<(), StoreError> {
        self.inner.record_fenced(environment, agent, epoch, results).await?;
        self.emit(states(environment, results)).await;
        Ok(())
    }

    async fn mark_deploying_fenced(&self, environment: &str, agent: &str, epoch: u64, version: u64, resources: &[ResourceId]) -> Result<(), StoreError> {
        self.inner.mark_deploying_fenced(environment, agent, epoch, version, resources).await?;
        self.emit(deploying(environment, version, resources)).await;
        Ok(())
    }

    async fn request_run(&self, environment: &str, repair: bool) -> Result<RunRequests, StoreError> {
        self.inner.request_run(environment, repair).await
    }

    async fn run_requests(&self, environment: &str) -> Result<RunRequests, StoreError> {
        self.inner.run_requests(environment).await
    }

    async fn request_compile(&self, environment: &str, new_id: &str, trigger: &Trigger) -> Result<CompileRecord, StoreError> {
        self.inner.request_compile(environment, new_id, trigger).await
    }

    async fn claim_compile(&self, server: &str, now_ms: u64, ttl_ms: u64) -> Result<Option<CompileRecord>, StoreError> {
        let claimed = self.inner.claim_compile(server, now_ms, ttl_ms).await?;
        if let Some(compile) = &claimed {
            let data = json!({ "id": compile.id, "server": server, "trigger_count": compile.trigger_count, "queued_ms": compile.queued_ms });
            self.emit(vec![NewEvent::new(&compile.environment, EventKind::CompileStarted, data)]).await;
        }
        Ok(claimed)
    }

    async fn renew_compile(&self, environment: &str, id: &str, server: &str, until_ms: u64) -> Result<bool, StoreError> {
        self.inner.renew_compile(environment, id, server, until_ms).await
    }

    async fn finish_compile(&self, environment: &str, id: &str, server: &str, now_ms: u64, report: &CompileReport) -> Result<bool, StoreError> {
        let finished = self.inner.finish_compile(environment, id, server, now_ms, report).await?;
        if finished {
            let data = json!({
                "id": id, "success": report.success, "commit": report.commit, "version": report.version,
                "released": report.released, "summary": report.summary,
            });
            self.emit(vec![NewEvent::new(environment, EventKind::CompileFinished, data)]).await;
        }
        Ok(finished)
    }

    async fn compiles(&self, environment: &str, limit: usize) -> Result<Vec<CompileRecord>, StoreError> {
        self.inner.compiles(environment, limit).await
    }

    async fn compile(&self, environment: &str, id: &str) -> Result<Option<CompileRecord>, StoreError> {
        self.inner.compile(environment, id).await
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<u64, StoreError> {
        self.inner.append_events(events).await
    }

    async fn events(&self, after: u64, environment: Option<&str>, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.events(after, environment, limit).await
    }

    async fn event_bounds(&self) -> Result<(Option<u64>, u64), StoreError> {
        self.inner.event_bounds().await
    }

    async fn prune_events(&self, before_ms: u64) -> Result<u64, StoreError> {
        self.inner.prune_events(before_ms).await
    }

    async fn follow_events(&self, latest: &tokio::sync::watch::Sender<u64>) -> Result<bool, StoreError> {
        self.inner.follow_events(latest).await
    }
}
