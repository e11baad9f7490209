//! The deploy engine: runs one version's resources in dependency order (`requires`), in
//! parallel where the graph allows (bounded). It deploys the increment (resources whose
//! desired-state hash differs from the last successful deploy), or, with `check_all`, reads
//! and compares every resource and changes what differs (which finds and repairs drift).
//! A resource whose dependency failed is skipped; a changed resource that sends events makes
//! its dependents that receive events reload. Results are reported through the agent's
//! [`DeployPort`] in batches: only deploys that finished are reported, so a killed deploy
//! resumes where it stopped.

use crate::handler::{Context, FileSource, Handler, HandlerError, HandlerRegistry};
use crate::io::Io;
use crate::port::{DeployPort, PortError};
use cairn_wire::{Action, DeployResult, ResourceDoc, ResourceId, ResourceState};
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Read and compare every resource, not only the increment, and change what differs: a
    /// repair run, and what `cairn deploy` does by default.
    pub check_all: bool,
    /// Read and diff only; change nothing.
    pub dry_run: bool,
    /// Resources deployed at the same time, at most.
    pub parallelism: usize,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions { check_all: false, dry_run: false, parallelism: 8 }
    }
}

/// Every resource's result, in the order of the version's resources.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub version: u64,
    pub results: Vec<DeployResult>,
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

/// Deploys `resources` (version `version`); calls `on_result` for every resource as it
/// finishes (from the calling thread).
pub fn deploy(
    port: &dyn DeployPort,
    version: u64,
    resources: &[ResourceDoc],
    handlers: &HandlerRegistry,
    io: &dyn Io,
    options: &DeployOptions,
    on_result: &mut dyn FnMut(&DeployResult),
) -> Result<Report, PortError> {
    let files = PortFiles(port);
    let cx = Context { io, files: &files };
    let cx = &cx;
    let ids: Vec<ResourceId> = resources.iter().map(|r| r.id.clone()).collect();
    let statuses = port.statuses(&ids)?;
    drop(ids);
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
    let cycles = cycle_components(&remaining, &dependents);
    let mut blocked: Vec<Option<(Blocker, usize)>> = vec![None; count];
    for i in 0..count {
        let Some(component) = cycles[i] else { continue };
        blocked[i] = Some((Blocker::Failed, i));
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
    if !options.dry_run {
        // What the store believes deployed is not marked: a kill while repairing drift leaves
        // the resource as drifted as it was (every write is atomic), not in a state that lies.
        let intended: Vec<ResourceId> = (0..count).filter(|i| stale[*i]).map(|i| resources[i].id.clone()).collect();
        if !intended.is_empty() {
            port.intend(version, &intended)?;
        }
    }
    let ready: VecDeque<usize> = (0..count).filter(|i| remaining[*i] == 0).collect();
    let schedule = Mutex::new(Schedule {
        ready,
        remaining,
        blocked,
        events: vec![false; count],
        done: 0,
        busy: 0,
    });
    let wakeup = Condvar::new();
    let (sender, receiver) = mpsc::channel::<(usize, DeployResult)>();
    let workers = options.parallelism.clamp(1, 64).min(count.max(1));
    let mut results: Vec<Option<DeployResult>> = vec![None; count];
    let mut pending: Vec<DeployResult> = Vec::new();
    let mut port_error = None;
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
                            // Cannot happen once cycles are cut; should it, fail what waits
                            // rather than wait for ever.
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
                let outcome = process(resource, resources, version, handlers, cx, options, blocker, event, in_increment[next], missing[next].as_ref());
                let Ok(mut state) = schedule.lock() else { return };
                let failed = matches!(outcome.state, ResourceState::Failed | ResourceState::Skipped);
                let undefined = matches!(outcome.state, ResourceState::Undefined | ResourceState::SkippedForUndefined);
                for &dependent in &dependents[next] {
                    if failed && state.blocked[dependent].is_none() {
                        state.blocked[dependent] = Some((Blocker::Failed, next));
                    } else if undefined && state.blocked[dependent].is_none() {
                        state.blocked[dependent] = Some((Blocker::Undefined, next));
                    }
                    if outcome.changed && resource.send_event && resources[dependent].receive_events {
                        state.events[dependent] = true;
                    }
                    // Only the last requirement to finish queues a dependent (once).
                    if state.remaining[dependent] > 0 {
                        state.remaining[dependent] -= 1;
                        if state.remaining[dependent] == 0 {
                            state.ready.push_back(dependent);
                        }
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
        for (position, result) in receiver.iter() {
            on_result(&result);
            if result.action != Action::Untouched {
                pending.push(result.clone());
            }
            results[position] = Some(result);
            if port_error.is_none() && (pending.len() >= 500 || last_flush.elapsed() > Duration::from_millis(200)) {
                if let Err(error) = durable(io).and_then(|()| port.report(&pending)) {
                    port_error = Some(error);
                }
                pending.clear();
                last_flush = Instant::now();
            }
        }
    });
    if let Some(error) = port_error {
        return Err(error);
    }
    durable(io)?;
    port.report(&pending)?;
    Ok(Report { version, results: results.into_iter().flatten().collect() })
}

#[allow(clippy::too_many_arguments)]
fn process(
    resource: &ResourceDoc,
    resources: &[ResourceDoc],
    version: u64,
    handlers: &HandlerRegistry,
    cx: &Context<'_>,
    options: &DeployOptions,
    blocker: Option<(Blocker, usize)>,
    event: bool,
    in_increment: bool,
    missing: Option<&ResourceId>,
) -> DeployResult {
    let action = if options.dry_run {
        Action::Dryrun
    } else if resource.purged() {
        Action::Purge
    } else {
        Action::Deploy
    };
    let mut outcome = DeployResult {
        resource: resource.id.clone(),
        version,
        action,
        state: ResourceState::Deployed,
        changed: false,
        changes: Vec::new(),
        message: String::new(),
        deployed_hash: None,
        diff: None,
        time_ms: 0,
    };
    finish(resource, &mut outcome, resources, handlers, cx, options, blocker, event, in_increment, missing);
    outcome.time_ms = now_ms();
    if outcome.state == ResourceState::Deployed {
        outcome.deployed_hash = Some(resource.hash.clone());
    }
    outcome
}

/// Fills in what happened to `resource`.
#[allow(clippy::too_many_arguments)]
fn finish(
    resource: &ResourceDoc,
    outcome: &mut DeployResult,
    resources: &[ResourceDoc],
    handlers: &HandlerRegistry,
    cx: &Context<'_>,
    options: &DeployOptions,
    blocker: Option<(Blocker, usize)>,
    event: bool,
    in_increment: bool,
    missing: Option<&ResourceId>,
) {
    if resource.undefined {
        outcome.state = ResourceState::Undefined;
        outcome.message = "an attribute is not known yet".into();
        return;
    }
    match blocker {
        Some((Blocker::Failed, cause)) if resources[cause].id == resource.id => {
            outcome.state = ResourceState::Failed;
            outcome.message = "its requires form a cycle".into();
            return;
        }
        Some((Blocker::Failed, cause)) => {
            outcome.state = ResourceState::Skipped;
            outcome.message = format!("its dependency {} did not deploy", resources[cause].id);
            return;
        }
        Some((Blocker::Undefined, cause)) => {
            outcome.state = ResourceState::SkippedForUndefined;
            outcome.message = format!("its dependency {} has an unknown value", resources[cause].id);
            return;
        }
        None => {}
    }
    if let Some(missing) = missing {
        outcome.state = ResourceState::Failed;
        outcome.message = format!("requires {missing}, which is not in this version");
        return;
    }
    if !in_increment && !event {
        outcome.action = Action::Untouched;
        return;
    }
    let Some(handler) = handlers.get(&resource.resource_type) else {
        outcome.state = ResourceState::Failed;
        outcome.message = format!("no handler for resource type {}", resource.resource_type);
        return;
    };
    if let Err(error) = run_handler(handler.as_ref(), cx, resource, options, event, in_increment, outcome) {
        outcome.state = if error.skip { ResourceState::Skipped } else { ResourceState::Failed };
        outcome.message = error.message;
    }
}

fn run_handler(
    handler: &dyn Handler,
    cx: &Context<'_>,
    resource: &ResourceDoc,
    options: &DeployOptions,
    event: bool,
    in_increment: bool,
    outcome: &mut DeployResult,
) -> Result<(), HandlerError> {
    // Everything the handler needs must be valid before anything is touched: a bad mode or
    // an unknown owner fails the resource with the file as it was.
    handler.check(cx, resource)?;
    let current = handler.read(cx, resource)?;
    let changes = if in_increment { handler.diff(resource, current.as_ref()) } else { Vec::new() };
    if !changes.is_empty() {
        outcome.diff = Some(handler.describe(cx, resource, current.as_ref(), &changes));
    }
    if options.dry_run {
        outcome.state = ResourceState::Dry;
        outcome.changes = changes;
        // Predicts the reload the real deploy would do.
        if event && !resource.purged() && outcome.changes.is_empty() && handler.reloads(resource) {
            outcome.changes.push(cairn_wire::Change {
                field: "reload".into(),
                current: serde_json::Value::Bool(false),
                desired: serde_json::Value::Bool(true),
            });
            outcome.diff = Some("reload: a dependency that sends events would change".into());
        }
        outcome.changed = !outcome.changes.is_empty();
        return Ok(());
    }
    if !changes.is_empty() {
        outcome.changes = changes.clone();
        handler.apply(cx, resource, current.as_ref(), &changes)?;
    }
    // A command that just ran needs no reload on top.
    let mut reloaded = false;
    if event && !resource.purged() && changes.is_empty() {
        reloaded = handler.reload(cx, resource)?;
        if reloaded {
            outcome.action = Action::Reload;
        }
    }
    outcome.changed = !changes.is_empty() || reloaded;
    outcome.changes = changes;
    Ok(())
}

/// File bodies fetched through the port, for handlers.
struct PortFiles<'a>(&'a dyn DeployPort);

impl FileSource for PortFiles<'_> {
    fn file(&self, hash: &str) -> Result<Vec<u8>, HandlerError> {
        self.0.file(hash).map_err(|e| HandlerError::new(format!("cannot fetch the file with hash {hash}: {e}")))
    }
}

/// For every resource on a dependency cycle, the number of its cycle (its strongly
/// connected component); `None` for the others. Only resources that a topological pass
/// cannot reach are looked at, so the common acyclic graph costs one linear pass.
fn cycle_components(remaining: &[u32], dependents: &[Vec<usize>]) -> Vec<Option<u32>> {
    let count = remaining.len();
    let mut left = remaining.to_vec();
    let mut queue: Vec<usize> = (0..count).filter(|i| left[*i] == 0).collect();
    let mut reached = vec![false; count];
    while let Some(node) = queue.pop() {
        reached[node] = true;
        for &dependent in &dependents[node] {
            left[dependent] -= 1;
            if left[dependent] == 0 {
                queue.push(dependent);
            }
        }
    }
    let mut components = vec![None; count];
    if reached.iter().all(|r| *r) {
        return components;
    }
    // Tarjan's algorithm, iterative (graphs may be deep), over the unreached resources.
    let mut index = vec![u32::MAX; count];
    let mut low = vec![0u32; count];
    let mut on_stack = vec![false; count];
    let mut stack: Vec<usize> = Vec::new();
    let mut next_index = 0u32;
    let mut next_component = 0u32;
    for root in (0..count).filter(|i| !reached[*i]) {
        if index[root] != u32::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&mut (node, ref mut edge)) = work.last_mut() {
            if *edge == 0 && index[node] == u32::MAX {
                index[node] = next_index;
                low[node] = next_index;
                next_index += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&next) = dependents[node].get(*edge) {
                *edge += 1;
                if reached[next] {
                    continue;
                }
                if index[next] == u32::MAX {
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut members = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    members.push(member);
                    if member == node {
                        break;
                    }
                }
                let self_loop = dependents[node].contains(&node);
                if members.len() > 1 || self_loop {
                    for member in members {
                        components[member] = Some(next_component);
                    }
                    next_component += 1;
                }
            }
        }
    }
    components
}

/// Makes the changes behind the results about to be reported durable first: a result the
/// store keeps must survive a crash of the machine it describes.
fn durable(io: &dyn Io) -> Result<(), PortError> {
    io.flush().map_err(|error| PortError(format!("cannot make the changes durable before reporting them: {error}")))
}
