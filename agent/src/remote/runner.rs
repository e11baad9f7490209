//! Runs the work the server sends: one deploy thread per agent name, running the embedded
//! mode's engine unchanged over a [`SessionPort`]. New work of an agent name cancels the
//! deploy in flight (what is applying finishes and is reported) and starts once it ended:
//! two deploys of one agent name never run at once in a process.

use super::port::SessionPort;
use super::shared::{Run, Shared};
use crate::engine::{deploy_with, DeployOptions, External};
use cairn_wire::{DeployResult, ResourceDoc, ResourceId, ResourceState, ResourceStatus};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

/// One agent name's work, put together from its frames.
#[derive(Default)]
pub struct Work {
    pub agent: String,
    pub epoch: u64,
    pub version: u64,
    pub repair: bool,
    pub resources: Vec<ResourceDoc>,
    pub statuses: BTreeMap<ResourceId, ResourceStatus>,
    pub external: BTreeMap<ResourceId, ResourceState>,
}

/// Starts `work` on a thread of its own, after the deploy it replaces.
pub fn start(shared: &Arc<Shared>, work: Work) {
    if shared.stopping.load(Ordering::SeqCst) {
        return;
    }
    if shared.epoch(&work.agent) != Some(work.epoch) {
        tracing::info!(agent = %work.agent, epoch = work.epoch, "work of a term this process does not hold: ignored");
        return;
    }
    let previous = shared.take_run(&work.agent);
    let cancel = Arc::new(AtomicBool::new(false));
    let (updates, receiver) = mpsc::channel();
    let agent = work.agent.clone();
    let epoch = work.epoch;
    let thread = {
        let shared = Arc::clone(shared);
        let cancel = Arc::clone(&cancel);
        std::thread::Builder::new().name(format!("deploy-{agent}")).spawn(move || {
            if let Some(previous) = previous {
                let _ = previous.thread.join();
            }
            if cancel.load(Ordering::SeqCst) {
                return;
            }
            run(&shared, work, cancel, receiver);
        })
    };
    match thread {
        Ok(thread) => shared.insert_run(&agent, Run { epoch, cancel, updates, thread }),
        Err(error) => tracing::error!(%agent, %error, "cannot start a deploy thread"),
    }
}

fn run(shared: &Arc<Shared>, work: Work, cancel: Arc<AtomicBool>, updates: mpsc::Receiver<BTreeMap<ResourceId, ResourceState>>) {
    let Work { agent, epoch, version, repair, resources, statuses, external } = work;
    let port = SessionPort { shared: Arc::clone(shared), agent: agent.clone(), epoch, statuses, cancel: Arc::clone(&cancel) };
    let options = DeployOptions {
        check_all: repair,
        dry_run: false,
        parallelism: shared.config.parallelism,
        report_interval: shared.config.report_interval,
    };
    let external = External { states: external, updates };
    tracing::info!(%agent, version, resources = resources.len(), repair, "deploying");
    let mut log = |result: &DeployResult| {
        if matches!(result.state, ResourceState::Failed) {
            tracing::warn!(%agent, resource = %result.resource, message = %result.message, "failed");
        } else if result.changed {
            tracing::debug!(%agent, resource = %result.resource, "changed");
        }
    };
    match deploy_with(&port, version, &resources, &shared.handlers, shared.io.as_ref(), &options, Some(external), Some(&cancel), &mut log) {
        Ok(report) if report.cancelled => {
            tracing::info!(%agent, version, done = report.results.len(), of = resources.len(), "deploy stopped before the end")
        }
        Ok(report) => tracing::info!(
            %agent,
            version,
            changed = report.changed(),
            unchanged = report.unchanged(),
            failed = report.failed(),
            skipped = report.skipped(),
            "deployed"
        ),
        Err(error) => tracing::warn!(%agent, version, %error, "deploy stopped"),
    }
}
