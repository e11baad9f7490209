//! The `Store` trait: the orchestrator's only persistence interface. It is async, as the
//! HTTP API and the MongoDB driver are; the embedded SQLite backend runs its blocking calls
//! on tokio's blocking pool. Every backend passes the same conformance suite
//! ([`crate::conformance`]). A write returns only once the backend has it durably: an
//! acknowledged write survives a crash.

use crate::records::{AgentRecord, CompileRecord, CompileReport, Trigger, ChangeReason, DryRunRecord, EnvironmentRecord, Lease, PrimaryChange, RunRequests, SessionRecord, StatusFilter, TokenRecord};
use crate::events::{Event, NewEvent};
use async_trait::async_trait;
use cairn_wire::{DeployResult, ResourceDoc, ResourceId, ResourceState, ResourceStatus, VersionInfo};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The backend failed (I/O, corruption, ...): the message says how.
    Backend(String),
    /// A stored document could not be read back.
    Corrupt(String),
    NotFound(String),
    /// What was asked to be stored is not valid (a file whose body does not have its hash,
    /// ...): the message says what.
    Invalid(String),
    /// Something of that name exists already (an environment, a token id).
    Conflict(String),
    /// Results (or intents) of an agent's term that is not its current one: refused, and
    /// nothing of them written. The message says which epoch was refused and which is
    /// current.
    Fenced(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Backend(message) => write!(f, "store error: {message}"),
            StoreError::Corrupt(message) => write!(f, "corrupt store record: {message}"),
            StoreError::NotFound(what) => write!(f, "not found: {what}"),
            StoreError::Invalid(message) => write!(f, "invalid: {message}"),
            StoreError::Conflict(what) => write!(f, "already exists: {what}"),
            StoreError::Fenced(message) => write!(f, "fenced: {message}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The message of a [`StoreError::Fenced`]: which epoch was refused, and which is current.
pub fn fenced(environment: &str, agent: &str, refused: u64, current: u64) -> StoreError {
    let current = if current == 0 { "it never had a primary".to_string() } else { format!("its current epoch is {current}") };
    StoreError::Fenced(format!("agent {agent} of environment {environment}: epoch {refused} refused, {current}"))
}

/// What a request for the lease gets, given the agent's row as it is.
pub(crate) enum Grant {
    /// Nothing changes: paused, or another session's lease is live.
    Refused,
    /// The session holds it: a new expiry, the same epoch.
    Renewed,
    /// A new term: the next epoch, and a primary change of this reason.
    New(ChangeReason),
}

/// The election's rule, the same in every backend (see [`Store::acquire_lease`]): what a
/// request of `session` gets from the agent name's lease as it is.
pub(crate) fn decide(holder: Option<&str>, expires_ms: u64, paused: bool, session: &str, now_ms: u64, takeover: bool) -> Grant {
    if paused {
        return Grant::Refused;
    }
    match holder {
        Some(holder) if holder == session => Grant::Renewed,
        None => Grant::New(ChangeReason::Free),
        Some(_) if expires_ms <= now_ms => Grant::New(ChangeReason::Expired),
        Some(_) if takeover => Grant::New(ChangeReason::Takeover),
        Some(_) => Grant::Refused,
    }
}

/// Checks that every result (or intent) is of a resource of `agent`: a fenced write covers
/// only the agent whose epoch it carries.
pub fn check_agent<'a>(agent: &str, resources: impl IntoIterator<Item = &'a ResourceId>) -> Result<(), StoreError> {
    for resource in resources {
        if resource.agent() != agent {
            return Err(StoreError::Invalid(format!("{resource} belongs to agent {}, not to {agent}", resource.agent())));
        }
    }
    Ok(())
}

/// Checks that every body has its hash (what `put_files` stores must be what it says).
pub fn check_file_hashes(files: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
    for (hash, body) in files {
        let actual = cairn_wire::digest::sha1_hex(body);
        if *hash != actual {
            return Err(StoreError::Invalid(format!("the file sent as {hash} has the SHA-1 {actual}")));
        }
    }
    Ok(())
}

impl StoreError {
    /// The same error, naming where the store is (a file, a database address).
    pub fn at(self, place: &str) -> StoreError {
        match self {
            StoreError::Backend(message) => StoreError::Backend(format!("{place}: {message}")),
            StoreError::Corrupt(message) => StoreError::Corrupt(format!("{place}: {message}")),
            StoreError::NotFound(what) => StoreError::NotFound(what),
            StoreError::Invalid(message) => StoreError::Invalid(message),
            StoreError::Conflict(what) => StoreError::Conflict(what),
            StoreError::Fenced(message) => StoreError::Fenced(message),
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Stores a new version of an environment's resources; returns its number (1, 2, ...).
    /// Numbers increase and are never given twice in an environment, even after a version
    /// was deleted (only deleting the environment starts them again at 1). A version lists
    /// each resource id once: a list with an id twice is `Invalid`, and nothing is stored.
    async fn create_version(&self, environment: &str, resources: &[ResourceDoc]) -> Result<u64, StoreError>;
    async fn latest_version(&self, environment: &str) -> Result<Option<u64>, StoreError>;
    /// Every version of the environment, newest first.
    async fn versions(&self, environment: &str) -> Result<Vec<VersionInfo>, StoreError>;
    /// Deletes all but the newest `keep` versions (at least one is always kept, and so is the
    /// released version), and the resource documents only they used; returns how many
    /// versions went. Deploy states and action logs stay: they name versions by number only.
    async fn prune_versions(&self, environment: &str, keep: usize) -> Result<usize, StoreError>;
    async fn version_resources(&self, environment: &str, version: u64) -> Result<Vec<ResourceDoc>, StoreError>;
    /// The last known state of every resource of the environment, by id.
    async fn resource_statuses(&self, environment: &str) -> Result<BTreeMap<ResourceId, ResourceStatus>, StoreError>;
    /// Marks `resources` as being deployed in `version` (state `deploying`, their deployed
    /// hash kept), in one durable write, before an agent applies anything.
    async fn mark_deploying(&self, environment: &str, version: u64, resources: &[ResourceId]) -> Result<(), StoreError>;
    /// Records deploy results (states, deployed hashes and action logs) atomically. A dry
    /// run's result is logged only: it changes no resource's state. Otherwise a result
    /// without a deployed hash clears the previous one.
    async fn record(&self, environment: &str, results: &[DeployResult]) -> Result<(), StoreError>;
    /// Of these file hashes, those the file store lacks (in the order given), so that a
    /// client uploads only those.
    async fn missing_files(&self, hashes: &[String]) -> Result<Vec<String>, StoreError>;
    /// Stores file bodies by their hex SHA-1; each body must have its hash, else nothing is
    /// stored and the error names it. A body already there is kept once.
    async fn put_files(&self, files: &[(String, Vec<u8>)]) -> Result<(), StoreError>;
    /// A file body by its hash.
    async fn file(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The action log of one resource, oldest first.
    async fn action_logs(&self, environment: &str, resource: &ResourceId) -> Result<Vec<DeployResult>, StoreError>;

    // ---------- environments ----------

    /// Creates an environment; `Conflict` if one of that name (or id) exists.
    async fn create_environment(&self, environment: &EnvironmentRecord) -> Result<(), StoreError>;
    /// Every environment, sorted by name.
    async fn environments(&self) -> Result<Vec<EnvironmentRecord>, StoreError>;
    async fn environment(&self, name: &str) -> Result<Option<EnvironmentRecord>, StoreError>;
    /// Replaces the environment's settings; `NotFound` if there is no such environment.
    async fn set_environment_settings(&self, name: &str, settings: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError>;
    /// Deletes the environment and everything of it (versions, states, logs, facts, dry
    /// runs, compiles, its tokens, agent sessions, leases and primary changes: an environment made
    /// again under that name starts its epochs at 1); false when there was none.
    async fn delete_environment(&self, name: &str) -> Result<bool, StoreError>;

    // ---------- versions, continued ----------

    /// Marks `version` as the released one (the one agents deploy); `NotFound` if the
    /// environment has no such version.
    async fn release_version(&self, environment: &str, version: u64) -> Result<(), StoreError>;
    async fn released_version(&self, environment: &str) -> Result<Option<u64>, StoreError>;
    /// Deletes one version and the documents only it used; false when there was none.
    /// The released version cannot be deleted (`Conflict`): release another one first.
    async fn delete_version(&self, environment: &str, version: u64) -> Result<bool, StoreError>;
    /// A page of a version's resources in id order: those after `after` (ids greater than
    /// it), at most `limit`.
    async fn version_resources_page(
        &self,
        environment: &str,
        version: u64,
        after: Option<&ResourceId>,
        limit: usize,
    ) -> Result<Vec<ResourceDoc>, StoreError>;

    /// One resource of a version.
    async fn version_resource(&self, environment: &str, version: u64, resource: &ResourceId) -> Result<Option<ResourceDoc>, StoreError>;

    // ---------- resource states, continued ----------

    /// A page of resource states in id order: those matching `filter` after `after` (ids
    /// greater than it), at most `limit`.
    async fn resource_statuses_page(
        &self,
        environment: &str,
        filter: &StatusFilter,
        after: Option<&ResourceId>,
        limit: usize,
    ) -> Result<Vec<ResourceStatus>, StoreError>;
    async fn resource_status(&self, environment: &str, resource: &ResourceId) -> Result<Option<ResourceStatus>, StoreError>;
    /// How many resources are in each state.
    async fn count_by_state(&self, environment: &str) -> Result<BTreeMap<ResourceState, u64>, StoreError>;

    // ---------- tokens ----------

    /// Stores a token record (only the token's hash); `Conflict` if its id (or its hash)
    /// exists.
    async fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    /// The token whose SHA-256 is `hash`.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;

    // ---------- facts ----------

    /// Sets facts of a resource (values its handler reported), merged into those it has.
    async fn set_facts(&self, environment: &str, resource: &ResourceId, facts: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError>;
    /// Every fact of the environment, by resource.
    async fn facts(&self, environment: &str) -> Result<BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>, StoreError>;

    // ---------- dry runs ----------

    /// Stores a new dry run (with the results it has, if any); `Conflict` if the environment
    /// has a dry run of that id.
    async fn create_dryrun(&self, environment: &str, dryrun: &DryRunRecord) -> Result<(), StoreError>;
    /// The dry runs of the environment, newest first (by creation time, then by id), each
    /// with its results in resource id order.
    async fn dryruns(&self, environment: &str) -> Result<Vec<DryRunRecord>, StoreError>;
    async fn dryrun(&self, environment: &str, id: &str) -> Result<Option<DryRunRecord>, StoreError>;
    /// Adds results to a dry run (a resource reported again replaces its earlier result);
    /// `NotFound` if there is no such dry run.
    async fn add_dryrun_results(&self, environment: &str, id: &str, results: &[DeployResult]) -> Result<(), StoreError>;

    // ---------- agents: sessions ----------

    /// Registers an agent process's session (its hello). A session of that id in the
    /// environment is replaced (a hello sent again).
    async fn register_session(&self, environment: &str, session: &SessionRecord) -> Result<(), StoreError>;
    /// Notes a heartbeat of a session at `now_ms`; false when the environment has no such
    /// session (it ended, or was expired: the agent must say hello again).
    async fn heartbeat(&self, environment: &str, session_id: &str, now_ms: u64) -> Result<bool, StoreError>;
    /// Ends a session and releases every lease it holds (each a primary change, reason
    /// `session_ended`), atomically; false when there was no such session.
    async fn end_session(&self, environment: &str, session_id: &str) -> Result<bool, StoreError>;
    /// Ends, as [`Store::end_session`] does (reason `session_expired`), every session
    /// whose last heartbeat is before `before_ms` (the caller passes now minus its timeout);
    /// returns their ids in order. A session whose heartbeat lands meanwhile is kept.
    async fn expire_sessions(&self, environment: &str, before_ms: u64) -> Result<Vec<String>, StoreError>;
    /// The sessions of the environment in id order; with `live_since_ms`, only those whose
    /// last heartbeat is at or after it (the live ones, when the caller passes now minus
    /// its timeout).
    async fn sessions(&self, environment: &str, live_since_ms: Option<u64>) -> Result<Vec<SessionRecord>, StoreError>;

    // ---------- agents: primary election ----------

    /// Asks for the lease of `agent` (its primary) for session `session_id` at `now_ms`,
    /// to hold until `now_ms + ttl_ms`. Granted atomically, to one session at a time, however
    /// many servers share the store:
    /// - when the session holds it already (live or expired, as long as nobody took it
    ///   meanwhile): renewed, same epoch;
    /// - when nobody holds it, or its holder's lease expired (`expires_ms <= now_ms`), or
    ///   `takeover` is set (the caller found this session preferred): granted with the
    ///   next epoch (epochs of an agent name only grow, whatever is released, expired or
    ///   restarted; only deleting the environment starts them again), and the change of
    ///   primary recorded;
    /// - otherwise (another session's lease is live), and always while the agent name is
    ///   paused: `None`, and nothing changes.
    ///
    /// `NotFound` when the environment has no such session: an ended session gets no lease.
    async fn acquire_lease(
        &self,
        environment: &str,
        agent: &str,
        session_id: &str,
        now_ms: u64,
        ttl_ms: u64,
        takeover: bool,
    ) -> Result<Option<Lease>, StoreError>;
    /// Releases the lease of `agent` if `session_id` holds it (a primary change, reason
    /// `released`); the epoch stays, the next grant gets the one after. False when that
    /// session does not hold it.
    async fn release_lease(&self, environment: &str, agent: &str, session_id: &str) -> Result<bool, StoreError>;
    /// Pauses or resumes an agent name. Pausing releases its lease (a primary change,
    /// reason `paused`, when a session held it), and while paused no session is granted it.
    async fn set_agent_paused(&self, environment: &str, agent: &str, paused: bool) -> Result<(), StoreError>;
    /// Sets (or clears) the session preferred as the agent name's primary. The store only
    /// keeps it: the caller decides when the preferred session takes the lease over.
    async fn set_preferred(&self, environment: &str, agent: &str, session_id: Option<&str>) -> Result<(), StoreError>;
    /// Every agent name of the environment the election knows (one that was ever leased,
    /// paused or given a preference), by name.
    async fn agents(&self, environment: &str) -> Result<Vec<AgentRecord>, StoreError>;
    /// The leases sessions hold (live or expired), by agent name.
    async fn leases(&self, environment: &str) -> Result<Vec<Lease>, StoreError> {
        Ok(self.agents(environment).await?.into_iter().filter_map(|a| a.lease).collect())
    }
    /// Changes of primary, newest first, at most `limit`: of one agent name, in the order
    /// they were made; or of all, by time (changes of different names to the millisecond;
    /// each name's in the order they were made).
    async fn primary_changes(&self, environment: &str, agent: Option<&str>, limit: usize) -> Result<Vec<PrimaryChange>, StoreError>;

    // ---------- agents: fencing ----------

    /// Records results as [`Store::record`] does, if `epoch` is the current epoch of
    /// `agent` (checked atomically with the write: no grant to another session can come
    /// between). Otherwise `Fenced`, and nothing is written; an empty batch only checks.
    /// Fenced writes of one agent name are serialised by the store: send them in batches,
    /// not many at once. Results of the current epoch
    /// are taken even when the lease expired or was released, as long as no other session
    /// was granted it since. Every result must be of a resource of `agent` (else `Invalid`).
    async fn record_fenced(&self, environment: &str, agent: &str, epoch: u64, results: &[DeployResult]) -> Result<(), StoreError>;
    /// Marks resources as being deployed as [`Store::mark_deploying`] does, fenced as
    /// [`Store::record_fenced`] is.
    async fn mark_deploying_fenced(
        &self,
        environment: &str,
        agent: &str,
        epoch: u64,
        version: u64,
        resources: &[ResourceId],
    ) -> Result<(), StoreError>;

    // ---------- agents: run requests ----------

    /// Asks every primary of the environment for a deploy of the released version's
    /// increment, or (`repair`) for a repair run; returns the counters after the request.
    async fn request_run(&self, environment: &str, repair: bool) -> Result<RunRequests, StoreError>;
    /// The counters of run requests (zero when none was made).
    async fn run_requests(&self, environment: &str) -> Result<RunRequests, StoreError>;

    // ---------- compiles (the autonomous server) ----------

    /// Asks for a compile of the environment's repository. When the environment has a
    /// queued compile, the trigger joins it (kept among its first
    /// [`crate::records::MAX_TRIGGERS_KEPT`] triggers, and counted) and that compile is
    /// returned; otherwise a new queued compile of id `new_id`, queued at `trigger.at_ms`, is
    /// stored and returned. Atomic: concurrent requests never make two queued compiles of one
    /// environment. `NotFound` when there is no such environment.
    async fn request_compile(&self, environment: &str, new_id: &str, trigger: &Trigger) -> Result<CompileRecord, StoreError>;
    /// Claims the oldest queued compile (by queued time, then id) of an environment that
    /// has no running compile whose claim is live at `now_ms`, for `server` until
    /// `now_ms + ttl_ms`: it becomes running, started at `now_ms`, and is returned. First,
    /// every running compile whose claim expired before `now_ms` is failed (finished at
    /// `now_ms`, its report's summary saying that its server stopped before it ended), which
    /// frees its environment. `None` when nothing can be claimed. Atomic: however many
    /// servers share the store, a compile is claimed once and an environment never has two
    /// running compiles.
    async fn claim_compile(&self, server: &str, now_ms: u64, ttl_ms: u64) -> Result<Option<CompileRecord>, StoreError>;
    /// Renews the claim of a running compile that `server` holds, until `until_ms`; false
    /// (and nothing changes) when it does not hold it any more.
    async fn renew_compile(&self, environment: &str, id: &str, server: &str, until_ms: u64) -> Result<bool, StoreError>;
    /// Finishes a running compile that `server` holds, at `now_ms`, with its report: state
    /// `succeeded` when the report says success, else `failed`; its claim is cleared. False
    /// (and nothing is written) when `server` does not hold it.
    async fn finish_compile(&self, environment: &str, id: &str, server: &str, now_ms: u64, report: &CompileReport) -> Result<bool, StoreError>;
    /// The environment's compiles, newest first (by queued time, then id, both descending),
    /// at most `limit`.
    async fn compiles(&self, environment: &str, limit: usize) -> Result<Vec<CompileRecord>, StoreError>;
    async fn compile(&self, environment: &str, id: &str) -> Result<Option<CompileRecord>, StoreError>;

    // ---------- events ----------

    /// Appends events, numbered in one sequence over every environment and every server
    /// sharing the store: ids only grow, and an event is readable only once every event
    /// with a smaller id is (a reader that follows [`Store::events`] from the last id it saw
    /// misses none). Returns the id of the last one appended (the last id given, for none).
    async fn append_events(&self, events: &[NewEvent]) -> Result<u64, StoreError>;
    /// The events after id `after`, in id order, of one environment or of all, at most
    /// `limit`.
    async fn events(&self, after: u64, environment: Option<&str>, limit: usize) -> Result<Vec<Event>, StoreError>;
    /// The first id still stored (`None` when none is) and the last id ever given (0
    /// before the first event), which pruning does not lower.
    async fn event_bounds(&self) -> Result<(Option<u64>, u64), StoreError>;
    /// Deletes the events older than `before_ms`; returns how many went. A backend that
    /// stores events in batches may keep an old one while a newer one of its batch stays.
    async fn prune_events(&self, before_ms: u64) -> Result<u64, StoreError>;
    /// Follows the events every server appends, and those the store writes itself (a
    /// change of primary), sending the last id given to `latest` as they arrive, until the
    /// feed fails. A store without a feed answers `Ok(false)` at once (the server then only
    /// polls [`Store::event_bounds`], every second).
    async fn follow_events(&self, latest: &tokio::sync::watch::Sender<u64>) -> Result<bool, StoreError> {
        let _ = latest;
        Ok(false)
    }
}

/// The report of a compile whose claim expired: its server stopped (or lost the store)
/// before it ended. Every backend writes this one.
pub fn abandoned_report(record: &CompileRecord) -> CompileReport {
    CompileReport {
        summary: format!(
            "abandoned: the server running it ({}) stopped renewing its claim before the compile ended",
            record.server.as_deref().unwrap_or("unknown")
        ),
        ..CompileReport::default()
    }
}
