//! The deploy engine: runs one version's resources in dependency order (`requires`), in
//! parallel where the graph allows (bounded), deploying only the increment (resources whose
//! desired-state hash differs from the last successful deploy, or everything with `full`).
//! A resource whose dependency failed is skipped; a changed resource that sends events makes
//! its dependents that receive events reload. Outcomes are recorded in the store in batches:
//! only deploys that finished are recorded, so a killed deploy resumes where it stopped.

use crate::handler::{Handler, HandlerError, HandlerRegistry};
use crate::io::Io;
use cairn_server::{DeployRecord, Store, StoreError};
use cairn_wire::{Change, ResourceDoc, ResourceId, ResourceState};
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Deploy every resource, not only the increment (a repair run).
    pub full: bool,
    /// Read and diff only; change nothing.
    pub dry_run: bool,
    /// Resources deployed at the same time, at most.
    pub parallelism: usize,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions { full: false, dry_run: false, parallelism: 8 }
    }
}

/// What happened to one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub resource: ResourceId,
    pub state: ResourceState,
    /// Something was changed (or, in a dry run, would be).
    pub changed: bool,
    /// Not in the increment: nothing was done.
    pub unchanged_skip: bool,
    pub changes: Vec<Change>,
    pub message: String,
    /// For dry runs: what would change (a unified diff for files).
    pub preview: Option<String>,
    pub reloaded: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub version: u64,
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn changed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.changed && matches!(o.state, ResourceState::Deployed | ResourceState::Dry)).count()
    }

    pub fn unchanged(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.changed && matches!(o.state, ResourceState::Deployed | ResourceState::Dry)).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.state == ResourceState::Failed).count()
    }

    pub fn skipped(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.state, ResourceState::Skipped | ResourceState::SkippedForUndefined | ResourceState::Undefined))
            .count()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[derive(Clone, Copy, PartialEq)]
enum Blocker {
    Failed,
    Undefined,
}

struct Schedule {
    ready: VecDeque<usize>,
    remaining: Vec<u32>,
    blocked: Vec<Option<(Blocker, usize)>>,
    events: Vec<bool>,
    done: usize,
    busy: usize,
}

/// Deploys `resources` (version `version` of `environment`); calls `on_outcome` for every
/// resource as it finishes (from the calling thread).
#[allow(clippy::too_many_arguments)]
pub fn deploy(
    store: &dyn Store,
    environment: &str,
    version: u64,
    resources: &[ResourceDoc],
    handlers: &HandlerRegistry,
    io: &dyn Io,
    options: &DeployOptions,
    on_outcome: &mut dyn FnMut(&Outcome),
) -> Result<Report, StoreError> {
    let statuses = store.resource_statuses(environment)?;
    let index: HashMap<&ResourceId, usize> = resources.iter().enumerate().map(|(i, r)| (&r.id, i)).collect();
    let count = resources.len();
    let mut remaining = vec![0u32; count];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut missing: Vec<Option<ResourceId>> = vec![None; count];
    for (i, resource) in resources.iter().enumerate() {
        for required in &resource.requires {
            match index.get(required) {
                Some(&j) => {
                    remaining[i] += 1;
                    dependents[j].push(i);
                }
                None => missing[i] = Some(required.clone()),
            }
        }
    }
    let in_increment: Vec<bool> = resources
        .iter()
        .map(|r| {
            options.full
                || statuses
                    .get(&r.id)
                    .is_none_or(|s| s.state != ResourceState::Deployed || s.deployed_hash.as_deref() != Some(r.hash.as_str()))
        })
        .collect();
    let ready: VecDeque<usize> = (0..count).filter(|i| remaining[*i] == 0).collect();
    let schedule = Mutex::new(Schedule {
        ready,
        remaining,
        blocked: vec![None; count],
        events: vec![false; count],
        done: 0,
        busy: 0,
    });
    let wakeup = Condvar::new();
    let (sender, receiver) = mpsc::channel::<(usize, Outcome)>();
    let workers = options.parallelism.clamp(1, 64).min(count.max(1));
    let mut outcomes: Vec<Option<Outcome>> = vec![None; count];
    let mut pending_records: Vec<DeployRecord> = Vec::new();
    let mut store_error = None;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let schedule = &schedule;
            let wakeup = &wakeup;
            let dependents = &dependents;
            let missing = &missing;
            let in_increment = &in_increment;
            scope.spawn(move || loop {
                let (next, blocker, event) = {
                    let Ok(mut state) = schedule.lock() else { return };
                    loop {
                        if let Some(next) = state.ready.pop_front() {
                            state.busy += 1;
                            break (next, state.blocked[next], state.events[next]);
                        }
                        if state.done == count {
                            return;
                        }
                        if state.busy == 0 {
                            // Nothing runs and nothing is ready: the rest waits on a cycle.
                            let stuck: Vec<usize> = (0..count).filter(|i| state.remaining[*i] > 0).collect();
                            for i in stuck {
                                state.remaining[i] = 0;
                                state.blocked[i] = Some((Blocker::Failed, i));
                                state.ready.push_back(i);
                            }
                            continue;
                        }
                        state = match wakeup.wait(state) {
                            Ok(state) => state,
                            Err(_) => return,
                        };
                    }
                };
                let resource = &resources[next];
                let outcome = process(resource, resources, handlers, io, options, blocker, event, in_increment[next], missing[next].as_ref());
                let Ok(mut state) = schedule.lock() else { return };
                let failed = matches!(outcome.state, ResourceState::Failed | ResourceState::Skipped);
                let undefined = matches!(outcome.state, ResourceState::Undefined | ResourceState::SkippedForUndefined);
                for &dependent in &dependents[next] {
                    if failed && state.blocked[dependent].is_none() {
                        state.blocked[dependent] = Some((Blocker::Failed, next));
                    } else if undefined && state.blocked[dependent].is_none() {
                        state.blocked[dependent] = Some((Blocker::Undefined, next));
                    }
                    if outcome.changed && resource.send_event && resources[dependent].receive_events && !options.dry_run {
                        state.events[dependent] = true;
                    }
                    state.remaining[dependent] = state.remaining[dependent].saturating_sub(1);
                    if state.remaining[dependent] == 0 {
                        state.ready.push_back(dependent);
                    }
                }
                state.busy -= 1;
                state.done += 1;
                drop(state);
                wakeup.notify_all();
                if sender.send((next, outcome)).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        let mut last_flush = Instant::now();
        for (position, outcome) in receiver.iter() {
            on_outcome(&outcome);
            if !outcome.unchanged_skip {
                pending_records.push(record_of(&resources[position], version, &outcome, options));
            }
            outcomes[position] = Some(outcome);
            if store_error.is_none() && (pending_records.len() >= 500 || last_flush.elapsed() > Duration::from_millis(200)) {
                if let Err(error) = store.record(environment, &pending_records) {
                    store_error = Some(error);
                }
                pending_records.clear();
                last_flush = Instant::now();
            }
        }
    });
    if let Some(error) = store_error {
        return Err(error);
    }
    store.record(environment, &pending_records)?;
    Ok(Report { version, outcomes: outcomes.into_iter().flatten().collect() })
}

fn record_of(resource: &ResourceDoc, version: u64, outcome: &Outcome, options: &DeployOptions) -> DeployRecord {
    let action = if options.dry_run {
        "dryrun"
    } else if outcome.reloaded && outcome.changes.is_empty() {
        "reload"
    } else if resource.purged() {
        "purge"
    } else {
        "deploy"
    };
    DeployRecord {
        resource: resource.id.clone(),
        version,
        state: outcome.state,
        deployed_hash: (outcome.state == ResourceState::Deployed).then(|| resource.hash.clone()),
        action: action.to_string(),
        changes: outcome.changes.clone(),
        message: outcome.message.clone(),
        time_ms: now_ms(),
    }
}

#[allow(clippy::too_many_arguments)]
fn process(
    resource: &ResourceDoc,
    resources: &[ResourceDoc],
    handlers: &HandlerRegistry,
    io: &dyn Io,
    options: &DeployOptions,
    blocker: Option<(Blocker, usize)>,
    event: bool,
    in_increment: bool,
    missing: Option<&ResourceId>,
) -> Outcome {
    let mut outcome = Outcome {
        resource: resource.id.clone(),
        state: ResourceState::Deployed,
        changed: false,
        unchanged_skip: false,
        changes: Vec::new(),
        message: String::new(),
        preview: None,
        reloaded: false,
    };
    if resource.undefined {
        outcome.state = ResourceState::Undefined;
        outcome.message = "an attribute is not known yet".into();
        return outcome;
    }
    match blocker {
        Some((Blocker::Failed, cause)) if cause == resources.iter().position(|r| r.id == resource.id).unwrap_or(usize::MAX) => {
            outcome.state = ResourceState::Failed;
            outcome.message = "its requires form a cycle".into();
            return outcome;
        }
        Some((Blocker::Failed, cause)) => {
            outcome.state = ResourceState::Skipped;
            outcome.message = format!("skipped: dependency {} did not deploy", resources[cause].id);
            return outcome;
        }
        Some((Blocker::Undefined, cause)) => {
            outcome.state = ResourceState::SkippedForUndefined;
            outcome.message = format!("skipped: dependency {} is undefined", resources[cause].id);
            return outcome;
        }
        None => {}
    }
    if let Some(missing) = missing {
        outcome.state = ResourceState::Failed;
        outcome.message = format!("requires {missing}, which is not in this version");
        return outcome;
    }
    if !in_increment && !event {
        outcome.unchanged_skip = true;
        return outcome;
    }
    let Some(handler) = handlers.get(&resource.resource_type) else {
        outcome.state = ResourceState::Failed;
        outcome.message = format!("no handler for resource type {}", resource.resource_type);
        return outcome;
    };
    match run_handler(handler.as_ref(), io, resource, options, event, in_increment, &mut outcome) {
        Ok(()) => {}
        Err(error) => {
            outcome.state = if error.skip { ResourceState::Skipped } else { ResourceState::Failed };
            outcome.message = error.message;
        }
    }
    outcome
}

fn run_handler(
    handler: &dyn Handler,
    io: &dyn Io,
    resource: &ResourceDoc,
    options: &DeployOptions,
    event: bool,
    in_increment: bool,
    outcome: &mut Outcome,
) -> Result<(), HandlerError> {
    let current = handler.read(io, resource)?;
    let changes = if in_increment { handler.diff(resource, current.as_ref()) } else { Vec::new() };
    if options.dry_run {
        outcome.state = ResourceState::Dry;
        outcome.changed = !changes.is_empty();
        if outcome.changed {
            outcome.preview = Some(handler.preview(resource, current.as_ref(), &changes));
        }
        outcome.changes = changes;
        return Ok(());
    }
    if !changes.is_empty() {
        handler.apply(io, resource, current.as_ref(), &changes)?;
    }
    // A command that just ran needs no reload on top.
    if event && !resource.purged() && changes.is_empty() {
        outcome.reloaded = handler.reload(io, resource)?;
    }
    outcome.changed = !changes.is_empty() || outcome.reloaded;
    outcome.changes = changes;
    Ok(())
}
