//! The production store: MongoDB (a replica set, or a sharded cluster), through the
//! official async driver. Servers keep no state of their own: several servers may share
//! one database, so every write here is safe against concurrent writers — a counter
//! document per environment numbers versions, transactions (retried on write conflicts)
//! make multi-document writes atomic, and where a write is too large for one transaction
//! (a version of 65,000 resources, deleting an environment) its parts are written in an
//! order that never shows a partial result. Every write is acknowledged by a majority and
//! journaled ([`ops::durable`]).
//!
//! The collections and their indexes are in `schema.rs`; the queries live by concept:
//! versions, their members and documents (`versions.rs`), resource states and action logs
//! (`states.rs`), file bodies (`files.rs`), environments and tokens (`environments.rs`),
//! facts and dry runs (`reports.rs`), agent sessions, leases and fenced writes
//! (`agents.rs`), compiles (`compiles.rs`) and the event log (`events.rs`). This file
//! connects and maps the [`Store`] trait onto them.

mod agents;
mod compiles;
mod environments;
mod events;
mod files;
mod ops;
mod reports;
mod schema;
mod states;
mod versions;

use crate::records::{AgentRecord, CompileRecord, CompileReport, Trigger, DryRunRecord, EnvironmentRecord, Lease, PrimaryChange, SessionRecord, StatusFilter, TokenRecord, RunRequests};
use crate::events::{Event, NewEvent};
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use cairn_wire::{DeployResult, ResourceDoc, ResourceId, ResourceState, ResourceStatus, VersionInfo};
use mongodb::bson::{doc, Document};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use ops::Failure;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// How long connecting waits for a server to answer (unless the URI says otherwise):
/// an unreachable store is reported, not waited for.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one store call may take: far more than any call needs (storing a version of
/// 65,000 resources takes seconds on MongoDB), so that only a database that stopped
/// answering reaches it.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The database used when the URI names none.
pub const DEFAULT_DATABASE: &str = "cairn";

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    /// Where the store is, for messages: `mongodb://HOSTS/DATABASE`, never credentials.
    place: String,
    /// Set when a transaction of this store put events in the outbox (a change of
    /// primary): the call that ran it sequences them before it returns.
    outbox_written: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl MongoStore {
    /// Connects to the MongoDB of `uri` (a `mongodb://` URI; its options apply, except the
    /// write concern, which is always majority and journaled) and uses `database`, whose
    /// indexes are created if missing. Fails within about 5 seconds (or the URI's
    /// `serverSelectionTimeoutMS`) when no server answers.
    pub async fn connect(uri: &str, database: &str) -> Result<MongoStore, StoreError> {
        let options = ClientOptions::parse(uri).await.map_err(|e| StoreError::Backend(format!("invalid MongoDB URI: {e}")))?;
        Self::with_options(options, database).await
    }

    /// Connects as [`MongoStore::connect`], to the database the URI names
    /// (`mongodb://HOST:PORT/DATABASE`), or [`DEFAULT_DATABASE`].
    pub async fn connect_uri(uri: &str) -> Result<MongoStore, StoreError> {
        let options = ClientOptions::parse(uri).await.map_err(|e| StoreError::Backend(format!("invalid MongoDB URI: {e}")))?;
        let database = options.default_database.clone().unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        Self::with_options(options, &database).await
    }

    async fn with_options(mut options: ClientOptions, database: &str) -> Result<MongoStore, StoreError> {
        let hosts: Vec<String> = options.hosts.iter().map(ToString::to_string).collect();
        let place = format!("mongodb://{}/{database}", hosts.join(","));
        let timeout = *options.server_selection_timeout.get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.app_name.get_or_insert_with(|| "cairn".to_string());
        options.write_concern = Some(ops::durable());
        let client = Client::with_options(options).map_err(|e| Failure::from(e).at(&place))?;
        let db = client.database(database);
        if let Err(error) = db.run_command(doc! { "ping": 1 }).await {
            return Err(StoreError::Backend(format!("cannot reach MongoDB at {place} (waited {} s): {error}", timeout.as_secs_f32())));
        }
        schema::ensure(&db).await.map_err(|e| e.at(&place))?;
        Ok(MongoStore { client, db, place, outbox_written: Default::default() })
    }

    /// Where the store is: `mongodb://HOSTS/DATABASE`.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// Runs a store call that may have put events in the outbox, then sequences them (so
    /// they are readable when the call returns, as the trait promises).
    async fn then_sequence<T>(&self, work: impl Future<Output = Result<T, Failure>>) -> Result<T, StoreError> {
        let value = self.bounded(work).await?;
        if self.outbox_written.swap(false, std::sync::atomic::Ordering::AcqRel) {
            self.bounded(events::drain(self)).await?;
        }
        Ok(value)
    }

    fn collection(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    /// Runs one store call, failing it when the database has not answered it within
    /// [`OPERATION_TIMEOUT`] (the driver bounds finding a server, not a server that stops
    /// answering). A call cut short leaves nothing half-visible: see `versions.rs` and
    /// `environments.rs` for the order of large writes; a transaction is aborted.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, Failure>>) -> Result<T, StoreError> {
        match tokio::time::timeout(OPERATION_TIMEOUT, work).await {
            Ok(outcome) => outcome.map_err(|failure| failure.at(&self.place)),
            Err(_) => Err(StoreError::Backend(format!("{}: no answer within {} s", self.place, OPERATION_TIMEOUT.as_secs()))),
        }
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn create_version(&self, environment: &str, resources: &[ResourceDoc]) -> Result<u64, StoreError> {
        self.bounded(versions::create(self, environment, resources)).await
    }

    async fn latest_version(&self, environment: &str) -> Result<Option<u64>, StoreError> {
        self.bounded(versions::latest(self, environment)).await
    }

    async fn versions(&self, environment: &str) -> Result<Vec<VersionInfo>, StoreError> {
        self.bounded(versions::list(self, environment)).await
    }

    async fn prune_versions(&self, environment: &str, keep: usize) -> Result<usize, StoreError> {
        self.bounded(versions::prune(self, environment, keep)).await
    }

    async fn version_resources(&self, environment: &str, version: u64) -> Result<Vec<ResourceDoc>, StoreError> {
        self.bounded(versions::resources(self, environment, version, None, None)).await
    }

    async fn resource_statuses(&self, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, StoreError> {
        self.bounded(states::all(self, environment)).await
    }

    async fn mark_deploying(&self, environment: &str, version: u64, resources: &[ResourceId]) -> Result<(), StoreError> {
        self.bounded(states::mark_deploying(self, environment, version, resources)).await
    }

    async fn record(&self, environment: &str, results: &[DeployResult]) -> Result<(), StoreError> {
        self.bounded(states::record(self, environment, results)).await
    }

    async fn missing_files(&self, hashes: &[String]) -> Result<Vec<String>, StoreError> {
        self.bounded(files::missing(self, hashes)).await
    }

    async fn put_files(&self, files: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        crate::store::check_file_hashes(files)?;
        self.bounded(files::put(self, files)).await
    }

    async fn file(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bounded(files::get(self, hash)).await
    }

    async fn action_logs(&self, environment: &str, resource: &ResourceId) -> Result<Vec<DeployResult>, StoreError> {
        self.bounded(states::logs(self, environment, resource)).await
    }

    async fn create_environment(&self, environment: &EnvironmentRecord) -> Result<(), StoreError> {
        self.bounded(environments::create(self, environment)).await
    }

    async fn environments(&self) -> Result<Vec<EnvironmentRecord>, StoreError> {
        self.bounded(environments::list(self, None)).await
    }

    async fn environment(&self, name: &str) -> Result<Option<EnvironmentRecord>, StoreError> {
        Ok(self.bounded(environments::list(self, Some(name))).await?.pop())
    }

    async fn set_environment_settings(&self, name: &str, settings: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> {
        self.bounded(environments::set_settings(self, name, settings)).await
    }

    async fn delete_environment(&self, name: &str) -> Result<bool, StoreError> {
        self.bounded(environments::delete(self, name)).await
    }

    async fn release_version(&self, environment: &str, version: u64) -> Result<(), StoreError> {
        self.bounded(versions::release(self, environment, version)).await
    }

    async fn released_version(&self, environment: &str) -> Result<Option<u64>, StoreError> {
        self.bounded(versions::released(self, environment)).await
    }

    async fn delete_version(&self, environment: &str, version: u64) -> Result<bool, StoreError> {
        self.bounded(versions::delete(self, environment, version)).await
    }

    async fn version_resource(&self, environment: &str, version: u64, resource: &ResourceId) -> Result<Option<ResourceDoc>, StoreError> {
        self.bounded(versions::resource(self, environment, version, resource)).await
    }

    async fn version_resources_page(
        &self,
        environment: &str,
        version: u64,
        after: Option<&ResourceId>,
        limit: usize,
    ) -> Result<Vec<ResourceDoc>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.bounded(versions::resources(self, environment, version, after, Some(limit))).await
    }

    async fn resource_statuses_page(
        &self,
        environment: &str,
        filter: &StatusFilter,
        after: Option<&ResourceId>,
        limit: usize,
    ) -> Result<Vec<ResourceStatus>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.bounded(states::page(self, environment, filter, after, limit)).await
    }

    async fn resource_status(&self, environment: &str, resource: &ResourceId) -> Result<Option<ResourceStatus>, StoreError> {
        self.bounded(states::one(self, environment, resource)).await
    }

    async fn count_by_state(&self, environment: &str) -> Result<BTreeMap<ResourceState, u64>, StoreError> {
        self.bounded(states::count_by_state(self, environment)).await
    }

    async fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.bounded(environments::create_token(self, token)).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.bounded(environments::token_by_hash(self, hash)).await
    }

    async fn set_facts(&self, environment: &str, resource: &ResourceId, facts: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> {
        self.bounded(reports::set_facts(self, environment, resource, facts)).await
    }

    async fn facts(&self, environment: &str) -> Result<BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>, StoreError> {
        self.bounded(reports::facts(self, environment)).await
    }

    async fn create_dryrun(&self, environment: &str, dryrun: &DryRunRecord) -> Result<(), StoreError> {
        self.bounded(reports::create_dryrun(self, environment, dryrun)).await
    }

    async fn dryruns(&self, environment: &str) -> Result<Vec<DryRunRecord>, StoreError> {
        self.bounded(reports::dryruns(self, environment, None)).await
    }

    async fn dryrun(&self, environment: &str, id: &str) -> Result<Option<DryRunRecord>, StoreError> {
        Ok(self.bounded(reports::dryruns(self, environment, Some(id))).await?.pop())
    }

    async fn add_dryrun_results(&self, environment: &str, id: &str, results: &[DeployResult]) -> Result<(), StoreError> {
        self.bounded(reports::add_dryrun_results(self, environment, id, results)).await
    }

    async fn register_session(&self, environment: &str, session: &SessionRecord) -> Result<(), StoreError> {
        self.bounded(agents::register(self, environment, session)).await
    }

    async fn heartbeat(&self, environment: &str, session_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        self.bounded(agents::heartbeat(self, environment, session_id, now_ms)).await
    }

    async fn end_session(&self, environment: &str, session_id: &str) -> Result<bool, StoreError> {
        self.then_sequence(agents::end(self, environment, session_id)).await
    }

    async fn expire_sessions(&self, environment: &str, before_ms: u64) -> Result<Vec<String>, StoreError> {
        self.then_sequence(agents::expire(self, environment, before_ms)).await
    }

    async fn sessions(&self, environment: &str, live_since_ms: Option<u64>) -> Result<Vec<SessionRecord>, StoreError> {
        self.bounded(agents::sessions(self, environment, live_since_ms)).await
    }

    async fn acquire_lease(
        &self,
        environment: &str,
        agent: &str,
        session_id: &str,
        now_ms: u64,
        ttl_ms: u64,
        takeover: bool,
    ) -> Result<Option<Lease>, StoreError> {
        self.then_sequence(agents::acquire(self, environment, agent, session_id, now_ms, ttl_ms, takeover)).await
    }

    async fn release_lease(&self, environment: &str, agent: &str, session_id: &str) -> Result<bool, StoreError> {
        self.then_sequence(agents::release(self, environment, agent, session_id)).await
    }

    async fn set_agent_paused(&self, environment: &str, agent: &str, paused: bool) -> Result<(), StoreError> {
        self.then_sequence(agents::set_paused(self, environment, agent, paused)).await
    }

    async fn set_preferred(&self, environment: &str, agent: &str, session_id: Option<&str>) -> Result<(), StoreError> {
        self.bounded(agents::set_preferred(self, environment, agent, session_id)).await
    }

    async fn agents(&self, environment: &str) -> Result<Vec<AgentRecord>, StoreError> {
        self.bounded(agents::agents(self, environment)).await
    }

    async fn request_run(&self, environment: &str, repair: bool) -> Result<RunRequests, StoreError> {
        self.bounded(agents::request_run(self, environment, repair)).await
    }

    async fn run_requests(&self, environment: &str) -> Result<RunRequests, StoreError> {
        self.bounded(agents::run_requests(self, environment)).await
    }

    async fn request_compile(&self, environment: &str, new_id: &str, trigger: &Trigger) -> Result<CompileRecord, StoreError> {
        self.bounded(compiles::request(self, environment, new_id, trigger)).await
    }

    async fn claim_compile(&self, server: &str, now_ms: u64, ttl_ms: u64) -> Result<Option<CompileRecord>, StoreError> {
        self.bounded(compiles::claim(self, server, now_ms, ttl_ms)).await
    }

    async fn renew_compile(&self, environment: &str, id: &str, server: &str, until_ms: u64) -> Result<bool, StoreError> {
        self.bounded(compiles::renew(self, environment, id, server, until_ms)).await
    }

    async fn finish_compile(&self, environment: &str, id: &str, server: &str, now_ms: u64, report: &CompileReport) -> Result<bool, StoreError> {
        self.bounded(compiles::finish(self, environment, id, server, now_ms, report)).await
    }

    async fn compiles(&self, environment: &str, limit: usize) -> Result<Vec<CompileRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.bounded(compiles::list(self, environment, limit)).await
    }

    async fn compile(&self, environment: &str, id: &str) -> Result<Option<CompileRecord>, StoreError> {
        self.bounded(compiles::get(self, environment, id)).await
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<u64, StoreError> {
        self.bounded(events::append(self, events)).await
    }

    async fn events(&self, after: u64, environment: Option<&str>, limit: usize) -> Result<Vec<Event>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.bounded(events::after(self, after, environment, limit)).await
    }

    async fn event_bounds(&self) -> Result<(Option<u64>, u64), StoreError> {
        self.bounded(events::bounds(self)).await
    }

    async fn prune_events(&self, before_ms: u64) -> Result<u64, StoreError> {
        self.bounded(events::prune(self, before_ms)).await
    }

    async fn follow_events(&self, latest: &tokio::sync::watch::Sender<u64>) -> Result<bool, StoreError> {
        events::follow(self, latest).await.map(|()| true)
    }

    async fn primary_changes(&self, environment: &str, agent: Option<&str>, limit: usize) -> Result<Vec<PrimaryChange>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.bounded(agents::changes(self, environment, agent, limit)).await
    }

    async fn record_fenced(&self, environment: &str, agent: &str, epoch: u64, results: &[DeployResult]) -> Result<(), StoreError> {
        crate::store::check_agent(agent, results.iter().map(|r| &r.resource))?;
        self.bounded(agents::record_fenced(self, environment, agent, epoch, results)).await
    }

    async fn mark_deploying_fenced(
        &self,
        environment: &str,
        agent: &str,
        epoch: u64,
        version: u64,
        resources: &[ResourceId],
    ) -> Result<(), StoreError> {
        crate::store::check_agent(agent, resources)?;
        self.bounded(agents::mark_deploying_fenced(self, environment, agent, epoch, version, resources)).await
    }
}
