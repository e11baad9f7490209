//! What happens to one resource once the schedule lets it go: skipped for a dependency that
//! did not deploy, failed for a cycle or a missing requirement, left untouched outside the
//! increment, or read, compared and changed through its handler.

use std::collections::BTreeMap;
use super::schedule::{Blocker, Cause};
use super::DeployOptions;
use crate::handler::{Context, FileSource, Handler, HandlerError, HandlerRegistry};
use crate::port::DeployPort;
use cairn_wire::{Action, DeployResult, ResourceDoc, ResourceId, ResourceState};
use std::time::{SystemTime, UNIX_EPOCH};

/// What every resource of one deploy shares.
pub(super) struct Env<'a> {
    pub resources: &'a [ResourceDoc],
    /// The dependencies of other agents, by the number a [`Cause::External`] carries.
    pub externals: &'a [&'a ResourceId],
    pub version: u64,
    pub handlers: &'a HandlerRegistry,
    pub cx: Context<'a>,
    pub options: &'a DeployOptions,
    /// The facts handlers reported after deploying, by resource (sent once the deploy ends).
    pub facts: std::sync::Mutex<BTreeMap<ResourceId, crate::handler::Fields>>,
}

impl Env<'_> {
    fn name(&self, cause: Cause) -> &ResourceId {
        match cause {
            Cause::Local(index) => &self.resources[index].id,
            Cause::External(index) => self.externals[index],
        }
    }
}

/// One resource as the schedule hands it to a worker.
pub(super) struct Job<'a> {
    pub resource: &'a ResourceDoc,
    pub blocker: Option<Blocker>,
    /// A changed dependency sent it an event.
    pub event: bool,
    pub in_increment: bool,
    pub missing: Option<&'a ResourceId>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub(super) fn process(env: &Env<'_>, job: &Job<'_>) -> DeployResult {
    let resource = job.resource;
    let action = if env.options.dry_run {
        Action::Dryrun
    } else if resource.purged() {
        Action::Purge
    } else {
        Action::Deploy
    };
    let mut outcome = DeployResult {
        resource: resource.id.clone(),
        version: env.version,
        action,
        state: ResourceState::Deployed,
        changed: false,
        changes: Vec::new(),
        message: String::new(),
        deployed_hash: None,
        diff: None,
        time_ms: 0,
    };
    finish(env, job, &mut outcome);
    outcome.time_ms = now_ms();
    if outcome.state == ResourceState::Deployed {
        outcome.deployed_hash = Some(resource.hash.clone());
    }
    outcome
}

/// Fills in what happened to the job's resource.
fn finish(env: &Env<'_>, job: &Job<'_>, outcome: &mut DeployResult) {
    let resource = job.resource;
    if resource.undefined {
        outcome.state = ResourceState::Undefined;
        outcome.message = "an attribute is not known yet".into();
        return;
    }
    match job.blocker {
        Some(Blocker::Cycle) => {
            outcome.state = ResourceState::Failed;
            outcome.message = "its requires form a cycle".into();
            return;
        }
        Some(Blocker::Failed(cause)) => {
            outcome.state = ResourceState::Skipped;
            outcome.message = format!("its dependency {} did not deploy", env.name(cause));
            return;
        }
        Some(Blocker::Undefined(cause)) => {
            outcome.state = ResourceState::SkippedForUndefined;
            outcome.message = format!("its dependency {} has an unknown value", env.name(cause));
            return;
        }
        None => {}
    }
    if let Some(missing) = job.missing {
        outcome.state = ResourceState::Failed;
        outcome.message = format!("requires {missing}, which is not in this version");
        return;
    }
    if !job.in_increment && !job.event {
        outcome.action = Action::Untouched;
        return;
    }
    let Some(handler) = env.handlers.get(&resource.resource_type) else {
        outcome.state = ResourceState::Failed;
        outcome.message = format!("no handler for resource type {}", resource.resource_type);
        return;
    };
    if let Err(error) = run_handler(handler.as_ref(), &env.cx, resource, env.options, job.event, job.in_increment, outcome) {
        outcome.state = if error.skip { ResourceState::Skipped } else { ResourceState::Failed };
        outcome.message = error.message;
        return;
    }
    // What the world says of a resource that is now as the model wants it.
    if !env.options.dry_run && !resource.purged() && outcome.state == ResourceState::Deployed {
        match handler.facts(&env.cx, resource) {
            Ok(facts) if !facts.is_empty() => {
                if let Ok(mut all) = env.facts.lock() {
                    all.insert(resource.id.clone(), facts);
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(resource = %resource.id, error = %error.message, "cannot read facts"),
        }
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
pub(super) struct PortFiles<'a>(pub &'a dyn DeployPort);

impl FileSource for PortFiles<'_> {
    fn file(&self, hash: &str) -> Result<Vec<u8>, HandlerError> {
        self.0.file(hash).map_err(|e| HandlerError::new(format!("cannot fetch the file with hash {hash}: {e}")))
    }
}
