//! What is left to run: the resources ready to start, how many requirements each still waits
//! for, and why a resource will not deploy. Shared under one lock by the workers (which start
//! resources and release their dependents) and the watcher (which releases the dependents of
//! other agents' resources as their states arrive).

use cairn_wire::ResourceState;
use std::collections::VecDeque;

/// The requirement behind a skip: a resource of this version (by position) or a dependency of
/// another agent (by its number among the deploy's external dependencies).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Cause {
    Local(usize),
    External(usize),
}

/// Why a resource will not deploy, decided before it starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Blocker {
    /// It is on a dependency cycle (or, should the schedule ever stall, it waited for ever).
    Cycle,
    Failed(Cause),
    Undefined(Cause),
}

/// How a finished requirement lets its dependents go on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Settled {
    Done,
    Failed,
    Undefined,
}

impl Settled {
    /// A resource of this version has finished in `state`: every state that is not a failure
    /// or an unknown value (deployed, or checked by a dry run) lets dependents run.
    pub(super) fn local(state: ResourceState) -> Settled {
        match state {
            ResourceState::Failed | ResourceState::Skipped => Settled::Failed,
            ResourceState::Undefined | ResourceState::SkippedForUndefined => Settled::Undefined,
            _ => Settled::Done,
        }
    }

    /// Another agent's resource is in `state`; `None` while it is not done yet (available,
    /// deploying, unavailable, ...): only `deployed` lets dependents run, since the other agent
    /// may still be working on it.
    pub(super) fn external(state: ResourceState) -> Option<Settled> {
        match state {
            ResourceState::Deployed => Some(Settled::Done),
            ResourceState::Failed | ResourceState::Skipped => Some(Settled::Failed),
            ResourceState::Undefined | ResourceState::SkippedForUndefined => Some(Settled::Undefined),
            _ => None,
        }
    }
}

pub(super) struct Schedule {
    pub ready: VecDeque<usize>,
    /// Requirements (local and external) each resource still waits for.
    pub remaining: Vec<u32>,
    pub blocked: Vec<Option<Blocker>>,
    pub events: Vec<bool>,
    pub done: usize,
    pub busy: usize,
    /// For every external dependency, the resources that wait for it (one entry per
    /// `requires` naming it); emptied when it settles, so later states of it are ignored.
    pub waiting: Vec<Vec<usize>>,
    /// External dependencies that someone waits for and that have not settled.
    pub open: usize,
    /// No state of an open external dependency can arrive any more (the updates ended) and
    /// there is no cancel flag to end the wait: what waits for them is given up.
    pub abandoned: bool,
}

impl Schedule {
    /// One requirement of `dependent`, `cause`, has finished as `settled`: the first failed or
    /// unknown requirement decides the dependent's skip, and the last one queues it (once).
    pub(super) fn release(&mut self, dependent: usize, cause: Cause, settled: Settled) {
        if self.blocked[dependent].is_none() {
            self.blocked[dependent] = match settled {
                Settled::Done => None,
                Settled::Failed => Some(Blocker::Failed(cause)),
                Settled::Undefined => Some(Blocker::Undefined(cause)),
            };
        }
        // Guarded: the stall safety net may already have queued it.
        if self.remaining[dependent] > 0 {
            self.remaining[dependent] -= 1;
            if self.remaining[dependent] == 0 {
                self.ready.push_back(dependent);
            }
        }
    }

    /// The external dependency number `external` is in `state`. Returns whether that
    /// released anything (it settled and someone waited for it).
    pub(super) fn settle(&mut self, external: usize, state: ResourceState) -> bool {
        let Some(settled) = Settled::external(state) else { return false };
        let Some(waiters) = self.waiting.get_mut(external).map(std::mem::take) else { return false };
        if waiters.is_empty() {
            return false;
        }
        self.open -= 1;
        for dependent in waiters {
            self.release(dependent, Cause::External(external), settled);
        }
        true
    }
}
