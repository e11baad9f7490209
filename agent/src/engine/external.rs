//! Dependencies on other agents' resources. A remote agent deploys only its own resources;
//! the server tells it the states of the other agents' resources they require, first as a
//! map, then as pushed batches of changes. A watcher thread applies those batches to the
//! schedule as they arrive and also watches the cancel flag, so resources that wait for
//! another agent hold no worker and a deploy that only waits still notices a cancel.

use super::schedule::Schedule;
use cairn_wire::{ResourceId, ResourceState};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// The states of dependencies that belong to other agents (remote agents): what is known
/// when the deploy starts, and the changes the server pushes later.
///
/// Only the keys of `states` are external dependencies: a `requires` entry that is neither a
/// resource of the version nor a key here fails its resource, and an update naming an id
/// that is not a key (or that has already settled) is ignored. The sender of `updates` may be
/// dropped at any time; the deploy drops the receiver once nothing waits for another agent,
/// so a send may then fail, which the sender should take as "no longer needed".
#[derive(Debug)]
pub struct External {
    pub states: BTreeMap<ResourceId, ResourceState>,
    pub updates: Receiver<BTreeMap<ResourceId, ResourceState>>,
}

/// How often the watcher looks at the cancel flag while nothing else wakes it: a waiting
/// deploy notices a cancel within this (plus the time to take the lock).
pub(super) const TICK: Duration = Duration::from_millis(50);

pub(super) fn is_set(cancel: Option<&AtomicBool>) -> bool {
    cancel.is_some_and(|flag| flag.load(Ordering::Acquire))
}

/// What the watcher works on.
pub(super) struct Watch<'a> {
    pub schedule: &'a Mutex<Schedule>,
    pub wakeup: &'a Condvar,
    pub count: usize,
    /// External dependency ids to their numbers in the schedule.
    pub index: &'a HashMap<&'a ResourceId, usize>,
    pub cancel: Option<&'a AtomicBool>,
}

/// Runs until the deploy is done, is cancelled, or nothing is left to watch: applies the
/// pushed states while someone waits for another agent, and wakes the workers on a cancel.
pub(super) fn watch(watch: &Watch<'_>, mut updates: Option<Receiver<BTreeMap<ResourceId, ResourceState>>>) {
    loop {
        let Ok(mut state) = watch.schedule.lock() else { return };
        if state.done == watch.count {
            return;
        }
        if is_set(watch.cancel) {
            // Under the lock, so no worker can be between its look at the flag and its wait.
            drop(state);
            watch.wakeup.notify_all();
            return;
        }
        if state.open == 0 {
            // Everything waited for has settled: later updates cannot change anything.
            updates = None;
        }
        match &updates {
            Some(receiver) => {
                // Not under the lock: the workers go on while the watcher waits for the server.
                drop(state);
                match receiver.recv_timeout(TICK) {
                    Ok(batch) => apply(watch, &batch),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => updates = None,
                }
            }
            None if watch.cancel.is_some() => {
                // Only the flag is left to watch. Every finished resource wakes this wait, so
                // the end of the deploy is seen at once; the timeout bounds a cancel's delay.
                if watch.wakeup.wait_timeout(state, TICK).is_err() {
                    return;
                }
            }
            None => {
                if state.open > 0 {
                    // No state can arrive and no cancel can come: waiting would never end.
                    state.abandoned = true;
                    drop(state);
                    watch.wakeup.notify_all();
                }
                return;
            }
        }
    }
}

fn apply(watch: &Watch<'_>, batch: &BTreeMap<ResourceId, ResourceState>) {
    let Ok(mut state) = watch.schedule.lock() else { return };
    let mut released = false;
    for (id, resource_state) in batch {
        if let Some(&external) = watch.index.get(id) {
            released |= state.settle(external, *resource_state);
        }
    }
    drop(state);
    if released {
        watch.wakeup.notify_all();
    }
}
