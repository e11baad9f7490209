//! The deploy engine: runs one version's resources in dependency order (`requires`), in
//! parallel where the graph allows (bounded). It deploys the increment (resources whose
//! desired-state hash differs from the last successful deploy), or, with `check_all`, reads
//! and compares every resource and changes what differs (which finds and repairs drift).
//! A resource whose dependency failed is skipped; a changed resource that sends events makes
//! its dependents that receive events reload. Results are reported through the agent's
//! [`DeployPort`] in batches (every 500 results, or once the oldest unreported result is
//! [`DeployOptions::report_interval`] old, even while nothing else finishes): only deploys
//! that finished are reported, so a killed or cancelled deploy resumes where it stopped.
//!
//! A remote agent deploys only its own resources; those may require other agents' resources
//! ([`External`], see `external.rs`). Such a dependent waits, holding no worker, until the
//! server says the dependency is deployed (then it runs) or failed, skipped or undefined (then
//! it is skipped as for a local dependency). Events do not cross agents: a changed resource of
//! another agent never makes a dependent here reload (its state says deployed, not changed).
//! A deploy can be cancelled ([`deploy_with`]): nothing new starts, what runs finishes and is
//! reported, and the report says it was cut short.
//!
//! Layout: the schedule shared by the threads (`schedule.rs`), what happens to one resource
//! (`resource.rs`), other agents' states and the cancel watcher (`external.rs`), and the
//! cycle finder (`cycles.rs`).

mod cycles;
mod external;
mod resource;
mod schedule;

pub use external::External;

use crate::handler::{Context, HandlerRegistry};
use crate::io::Io;
use crate::port::{DeployPort, PortError};
use cairn_wire::{Action, DeployResult, ResourceDoc, ResourceId, ResourceState};
use external::{is_set, Watch};
use resource::{Env, Job, PortFiles};
use schedule::{Blocker, Cause, Schedule, Settled};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Results sent to the port in one call, at most: a big version is reported as it goes, not
/// at the end.
const BATCH: usize = 500;

#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Read and compare every resource, not only the increment, and change what differs: a
    /// repair run, and what `cairn deploy` does by default.
    pub check_all: bool,
    /// Read and diff only; change nothing.
    pub dry_run: bool,
    /// Resources deployed at the same time, at most.
    pub parallelism: usize,
    /// How long a finished result may wait to be reported with others. Bounded even when
    /// nothing else finishes: another agent may be waiting for that state.
    pub report_interval: Duration,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions { check_all: false, dry_run: false, parallelism: 8, report_interval: Duration::from_millis(200) }
    }
}

/// Every finished resource's result, in the order of the version's resources.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub version: u64,
    pub results: Vec<DeployResult>,
    /// Not every resource finished, so some have no result (and were not reported): the
    /// deploy was cancelled, or resources waited for other agents' states that could no
    /// longer arrive (the updates ended and there was no cancel flag to end the wait).
    pub cancelled: bool,
}

impl Report {
    pub fn changed(&self) -> usize {
        self.results.iter().filter(|r| r.changed && r.succeeded()).count()
    }

    pub fn unchanged(&self) -> usize {
        self.results.iter().filter(|r| !r.changed && r.succeeded()).count()
    }

    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| r.state == ResourceState::Failed).count()
    }

    pub fn skipped(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.state, ResourceState::Skipped | ResourceState::SkippedForUndefined | ResourceState::Undefined))
            .count()
    }
}

/// Deploys `resources` (version `version`); calls `on_result` for every resource as it
/// finishes (from the calling thread). All requirements must be in `resources`: this is
/// [`deploy_with`] without other agents' states and without a cancel flag.
pub fn deploy(
    port: &dyn DeployPort,
    version: u64,
    resources: &[ResourceDoc],
    handlers: &HandlerRegistry,
    io: &dyn Io,
    options: &DeployOptions,
    on_result: &mut dyn FnMut(&DeployResult),
) -> Result<Report, PortError> {
    deploy_with(port, version, resources, handlers, io, options, None, None, on_result)
}

/// [`deploy`], where resources may require other agents' resources (`external`) and the
/// deploy may be cancelled (`cancel`).
///
/// Once `cancel` is true no resource starts; those in flight finish and are reported, and the
/// call returns the finished ones with [`Report::cancelled`] set. A deploy that only waits
/// for other agents notices within about 50 ms. A flag already set when the call starts
/// returns at once, before the port is asked anything; a cancel that comes later leaves the
/// resources that never started marked as intended (`deploying`) in the store, which is what
/// an agent killed half-way leaves too: the next deploy reads and compares them.
///
/// Without a cancel flag, resources that wait for an external dependency wait as long as
/// updates may come; once the sender of `external.updates` is dropped they are given up
/// (no result, `cancelled` set) rather than waited for for ever.
#[allow(clippy::too_many_arguments)]
pub fn deploy_with(
    port: &dyn DeployPort,
    version: u64,
    resources: &[ResourceDoc],
    handlers: &HandlerRegistry,
    io: &dyn Io,
    options: &DeployOptions,
    external: Option<External>,
    cancel: Option<&AtomicBool>,
    on_result: &mut dyn FnMut(&DeployResult),
) -> Result<Report, PortError> {
    let count = resources.len();
    if is_set(cancel) {
        return Ok(Report { version, results: Vec::new(), cancelled: count > 0 });
    }
    let (known, updates) = match external {
        Some(External { states, updates }) => (states, Some(updates)),
        None => (Default::default(), None),
    };
    let files = PortFiles(port);
    let ids: Vec<ResourceId> = resources.iter().map(|r| r.id.clone()).collect();
    let statuses = port.statuses(&ids)?;
    drop(ids);
    let index: HashMap<&ResourceId, usize> = resources.iter().enumerate().map(|(i, r)| (&r.id, i)).collect();
    let mut remaining = vec![0u32; count];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut missing: Vec<Option<&ResourceId>> = vec![None; count];
    // Other agents' resources that something here requires, numbered in order of first use.
    let mut externals: Vec<&ResourceId> = Vec::new();
    let mut external_index: HashMap<&ResourceId, usize> = HashMap::new();
    let mut waiting: Vec<Vec<usize>> = Vec::new();
    let mut external_waits = vec![0u32; count];
    for (i, resource) in resources.iter().enumerate() {
        for required in &resource.requires {
            if let Some(&j) = index.get(required) {
                remaining[i] += 1;
                dependents[j].push(i);
            } else if known.contains_key(required) {
                let number = *external_index.entry(required).or_insert_with(|| {
                    externals.push(required);
                    waiting.push(Vec::new());
                    externals.len() - 1
                });
                waiting[number].push(i);
                external_waits[i] += 1;
            } else {
                missing[i] = Some(required);
            }
        }
    }
    // Stale: the store does not say that this desired state is deployed.
    let stale: Vec<bool> = resources
        .iter()
        .map(|r| {
            statuses.get(&r.id).is_none_or(|s| s.state != ResourceState::Deployed || s.deployed_hash.as_deref() != Some(r.hash.as_str()))
        })
        .collect();
    let in_increment: Vec<bool> = stale.iter().map(|s| *s || options.check_all).collect();
    // Resources on a dependency cycle can never start: find them first and fail them; an
    // edge between two members of one cycle is dropped, so each member runs (and fails) once
    // its requirements outside the cycle are done, and its dependents are skipped as usual.
    // Only local edges can form a cycle here (another agent's resources are waited for, not
    // followed), so the external waits are added after.
    let cycles = cycles::cycle_components(&remaining, &dependents);
    let mut blocked: Vec<Option<Blocker>> = vec![None; count];
    for i in 0..count {
        let Some(component) = cycles[i] else { continue };
        blocked[i] = Some(Blocker::Cycle);
        let mut kept = Vec::with_capacity(dependents[i].len());
        for &dependent in &dependents[i] {
            if cycles[dependent] == Some(component) {
                remaining[dependent] -= 1;
            } else {
                kept.push(dependent);
            }
        }
        dependents[i] = kept;
    }
    for (left, external) in remaining.iter_mut().zip(&external_waits) {
        *left += external;
    }
    if !options.dry_run {
        // What the store believes deployed is not marked: a kill while repairing drift leaves
        // the resource as drifted as it was (every write is atomic), not in a state that lies.
        let intended: Vec<ResourceId> = (0..count).filter(|i| stale[*i]).map(|i| resources[i].id.clone()).collect();
        if !intended.is_empty() {
            port.intend(version, &intended)?;
        }
    }
    let ready: VecDeque<usize> = (0..count).filter(|i| remaining[*i] == 0).collect();
    let open = waiting.len();
    let mut schedule = Schedule {
        ready,
        remaining,
        blocked,
        events: vec![false; count],
        done: 0,
        busy: 0,
        waiting,
        open,
        abandoned: false,
    };
    // What the server knew at the start may already settle some.
    for (number, id) in externals.iter().enumerate() {
        if let Some(state) = known.get(*id) {
            schedule.settle(number, *state);
        }
    }
    drop(known);
    let watched = schedule.open > 0 || cancel.is_some();
    let schedule = Mutex::new(schedule);
    let wakeup = Condvar::new();
    let env = Env { resources, externals: &externals, version, handlers, cx: Context { io, files: &files }, options, facts: Default::default() };
    let watch = Watch { schedule: &schedule, wakeup: &wakeup, count, index: &external_index, cancel };
    let (sender, receiver) = mpsc::channel::<(usize, DeployResult)>();
    let workers = options.parallelism.clamp(1, 64).min(count.max(1));
    let mut results: Vec<Option<DeployResult>> = vec![None; count];
    let mut pending: Vec<DeployResult> = Vec::new();
    let mut port_error = None;
    std::thread::scope(|scope| {
        if watched {
            let watch = &watch;
            scope.spawn(move || external::watch(watch, updates));
        }
        for _ in 0..workers {
            let sender = sender.clone();
            let (schedule, wakeup, env) = (&schedule, &wakeup, &env);
            let (dependents, missing, in_increment) = (&dependents, &missing, &in_increment);
            scope.spawn(move || loop {
                let Some((next, blocker, event)) = take(schedule, wakeup, count, cancel) else { return };
                let resource = &resources[next];
                let job = Job { resource, blocker, event, in_increment: in_increment[next], missing: missing[next] };
                let outcome = resource::process(env, &job);
                let Ok(mut state) = schedule.lock() else { return };
                let settled = Settled::local(outcome.state);
                for &dependent in &dependents[next] {
                    // Events go to local dependents only: those of other agents learn a state,
                    // not a change.
                    if outcome.changed && resource.send_event && resources[dependent].receive_events {
                        state.events[dependent] = true;
                    }
                    state.release(dependent, Cause::Local(next), settled);
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
        // When the oldest unreported result came in.
        let mut oldest: Option<Instant> = None;
        loop {
            let received = match oldest {
                Some(since) if port_error.is_none() => receiver.recv_timeout(options.report_interval.saturating_sub(since.elapsed())),
                _ => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok((position, result)) => {
                    on_result(&result);
                    if result.action != Action::Untouched {
                        pending.push(result.clone());
                        oldest.get_or_insert_with(Instant::now);
                    }
                    results[position] = Some(result);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let due = oldest.is_some_and(|since| pending.len() >= BATCH || since.elapsed() >= options.report_interval);
            if port_error.is_none() && due {
                if let Err(error) = durable(io).and_then(|()| port.report(&pending)) {
                    port_error = Some(error);
                }
                pending.clear();
                oldest = None;
            }
        }
    });
    if let Some(error) = port_error {
        return Err(error);
    }
    durable(io)?;
    port.report(&pending)?;
    let facts = env.facts.into_inner().unwrap_or_default();
    if !facts.is_empty() {
        if let Err(error) = port.facts(&facts) {
            tracing::warn!(%error, "cannot send facts");
        }
    }
    let results: Vec<DeployResult> = results.into_iter().flatten().collect();
    let cancelled = results.len() < count;
    Ok(Report { version, results, cancelled })
}

/// Waits for the next resource a worker may start: its position, why it will not deploy
/// (if so) and whether it got an event. `None` when the worker is done: everything finished,
/// the deploy was cancelled, what is left waits for other agents' states that cannot come,
/// or a thread panicked holding the schedule.
fn take(schedule: &Mutex<Schedule>, wakeup: &Condvar, count: usize, cancel: Option<&AtomicBool>) -> Option<(usize, Option<Blocker>, bool)> {
    let mut state = schedule.lock().ok()?;
    loop {
        // Looked at under the lock: the watcher notifies a cancel under it too, so this
        // worker either sees the flag or is already waiting when the notification comes.
        if is_set(cancel) {
            return None;
        }
        if let Some(next) = state.ready.pop_front() {
            state.busy += 1;
            return Some((next, state.blocked[next], state.events[next]));
        }
        if state.done == count {
            return None;
        }
        if state.busy == 0 {
            if state.open > 0 {
                // What is left waits for other agents: the watcher wakes us when their states
                // arrive or the flag is set; given up only when nothing can arrive any more.
                if state.abandoned {
                    drop(state);
                    wakeup.notify_all();
                    return None;
                }
            } else {
                // Cannot happen once cycles are cut; should it, fail what waits rather than
                // wait for ever.
                let stuck: Vec<usize> = (0..count).filter(|i| state.remaining[*i] > 0).collect();
                for i in stuck {
                    state.remaining[i] = 0;
                    state.blocked[i] = Some(Blocker::Cycle);
                    state.ready.push_back(i);
                }
                continue;
            }
        }
        state = wakeup.wait(state).ok()?;
    }
}

/// Makes the changes behind the results about to be reported durable first: a result the
/// store keeps must survive a crash of the machine it describes.
fn durable(io: &dyn Io) -> Result<(), PortError> {
    io.flush().map_err(|error| PortError(format!("cannot make the changes durable before reporting them: {error}")))
}
