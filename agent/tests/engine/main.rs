//! The deploy engine against an in-memory world: a handler whose "real state" is a map, and
//! the in-memory port. Checks ordering, increments, skips, events, cycles and what is
//! reported, without any store or server.

mod external;

use cairn_agent::{Context, DeployOptions, DeployPort, Fields, Handler, HandlerError, HandlerRegistry, LocalIo, MemoryPort};
use cairn_wire::{Action, Change, ResourceDoc, ResourceId, ResourceState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The world a [`MapHandler`] manages: resource id to value, and every call in order.
#[derive(Default)]
struct World {
    values: Mutex<BTreeMap<String, Value>>,
    calls: Mutex<Vec<String>>,
}

struct MapHandler(Arc<World>);

impl Handler for MapHandler {
    fn fields(&self) -> &[&str] {
        &["value"]
    }

    fn read(&self, _cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        if desired.bool_attr("fail") {
            return Err(HandlerError::new("failed on purpose"));
        }
        let values = self.0.values.lock().expect("lock");
        Ok(values.get(&desired.id.0).map(|v| Fields::from([("value".to_string(), v.clone())])))
    }

    fn apply(&self, _cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, _changes: &[Change]) -> Result<(), HandlerError> {
        self.0.calls.lock().expect("lock").push(format!("apply {}", desired.id));
        let value = desired.attr("value").cloned().unwrap_or(Value::Null);
        self.0.values.lock().expect("lock").insert(desired.id.0.clone(), value);
        Ok(())
    }

    fn reload(&self, _cx: &Context<'_>, desired: &ResourceDoc) -> Result<bool, HandlerError> {
        self.0.calls.lock().expect("lock").push(format!("reload {}", desired.id));
        Ok(true)
    }
}

fn resource(name: &str, value: &str, requires: &[&str]) -> ResourceDoc {
    ResourceDoc {
        id: ResourceId(format!("test::Map[a,name={name}]")),
        resource_type: "test::Map".into(),
        agent: "a".into(),
        attributes: BTreeMap::from([("value".to_string(), Value::from(value))]),
        requires: requires.iter().map(|r| ResourceId(format!("test::Map[a,name={r}]"))).collect(),
        hash: format!("{name}={value}"),
        undefined: false,
        send_event: true,
        receive_events: true,
    }
}

struct Setup {
    world: Arc<World>,
    handlers: HandlerRegistry,
    port: MemoryPort,
    io: LocalIo,
}

fn setup() -> Setup {
    let world = Arc::new(World::default());
    let mut handlers = HandlerRegistry::new();
    handlers.register("test::Map", Arc::new(MapHandler(world.clone())));
    Setup { world, handlers, port: MemoryPort::new(), io: LocalIo::new(std::env::temp_dir()) }
}

fn run(setup: &Setup, version: u64, resources: &[ResourceDoc], options: DeployOptions) -> cairn_agent::Report {
    let mut seen = Vec::new();
    let report = cairn_agent::deploy(&setup.port, version, resources, &setup.handlers, &setup.io, &options, &mut |r| seen.push(r.resource.clone()))
        .expect("deploys");
    assert_eq!(seen.len(), resources.len(), "every resource is seen once");
    report
}

fn calls(setup: &Setup) -> Vec<String> {
    std::mem::take(&mut *setup.world.calls.lock().expect("lock"))
}

fn state_of(report: &cairn_agent::Report, name: &str) -> ResourceState {
    report.results.iter().find(|r| r.resource.0.contains(&format!("name={name}]"))).map(|r| r.state).expect("in report")
}

#[test]
fn dependencies_deploy_first_and_an_unchanged_version_touches_nothing() {
    let setup = setup();
    let resources = vec![resource("c", "3", &["b"]), resource("b", "2", &["a"]), resource("a", "1", &[])];
    let report = run(&setup, 1, &resources, DeployOptions { parallelism: 4, ..DeployOptions::default() });
    assert_eq!(report.changed(), 3);
    assert_eq!(calls(&setup), vec!["apply test::Map[a,name=a]", "apply test::Map[a,name=b]", "apply test::Map[a,name=c]"]);
    assert!(report.results.iter().all(|r| r.deployed_hash.is_some() && r.version == 1));
    let again = run(&setup, 2, &resources, DeployOptions::default());
    assert!(again.results.iter().all(|r| r.action == Action::Untouched), "{:?}", again.results);
    assert!(calls(&setup).is_empty());
    assert_eq!(setup.port.log().len(), 3, "untouched resources are not reported");
}

#[test]
fn a_failure_skips_its_dependents_and_the_rest_goes_on() {
    let setup = setup();
    let mut bad = resource("bad", "x", &[]);
    bad.attributes.insert("fail".into(), Value::Bool(true));
    let resources = vec![bad, resource("child", "1", &["bad"]), resource("grandchild", "1", &["child"]), resource("other", "1", &[])];
    let report = run(&setup, 1, &resources, DeployOptions::default());
    assert_eq!(state_of(&report, "bad"), ResourceState::Failed);
    assert_eq!(state_of(&report, "child"), ResourceState::Skipped);
    assert_eq!(state_of(&report, "grandchild"), ResourceState::Skipped);
    assert_eq!(state_of(&report, "other"), ResourceState::Deployed);
    let failed = report.results.iter().find(|r| r.state == ResourceState::Failed).expect("failed");
    assert_eq!(failed.message, "failed on purpose");
    assert_eq!(failed.deployed_hash, None);
    // What failed is in the increment next time, what deployed is not.
    let statuses = setup.port.statuses(&[]).expect("statuses");
    assert_eq!(statuses.values().filter(|s| s.deployed_hash.is_some()).count(), 1);
}

#[test]
fn a_changed_dependency_reloads_its_event_receiving_dependents() {
    let setup = setup();
    let resources = vec![resource("config", "1", &[]), resource("service", "on", &["config"])];
    run(&setup, 1, &resources, DeployOptions::default());
    calls(&setup);
    let changed = vec![resource("config", "2", &[]), resource("service", "on", &["config"])];
    let report = run(&setup, 2, &changed, DeployOptions::default());
    assert_eq!(calls(&setup), vec!["apply test::Map[a,name=config]", "reload test::Map[a,name=service]"]);
    let service = report.results.iter().find(|r| r.resource.0.contains("service")).expect("service");
    assert_eq!(service.action, Action::Reload);
    assert!(service.changed);
}

#[test]
fn a_dry_run_changes_nothing_and_reports_the_diff() {
    let setup = setup();
    let resources = vec![resource("a", "1", &[])];
    let report = run(&setup, 1, &resources, DeployOptions { dry_run: true, ..DeployOptions::default() });
    assert!(calls(&setup).is_empty());
    let result = &report.results[0];
    assert_eq!((result.state, result.action, result.changed), (ResourceState::Dry, Action::Dryrun, true));
    assert_eq!(result.changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), vec!["purged", "value"]);
    assert!(result.diff.is_some());
    assert!(setup.world.values.lock().expect("lock").is_empty());
}

#[test]
fn a_cycle_fails_its_members_and_a_missing_requirement_fails_its_dependent() {
    let setup = setup();
    let resources = vec![
        resource("x", "1", &["y", "fine"]),
        resource("y", "1", &["x"]),
        resource("after", "1", &["y"]),
        resource("me", "1", &["me"]),
        resource("lonely", "1", &["ghost"]),
        resource("fine", "1", &[]),
    ];
    let report = run(&setup, 1, &resources, DeployOptions::default());
    assert_eq!(state_of(&report, "x"), ResourceState::Failed);
    assert_eq!(state_of(&report, "y"), ResourceState::Failed);
    assert_eq!(state_of(&report, "me"), ResourceState::Failed);
    assert_eq!(report.results.iter().filter(|r| r.message.contains("cycle")).count(), 3);
    assert_eq!(state_of(&report, "after"), ResourceState::Skipped, "downstream of a cycle is skipped, not on it");
    assert_eq!(state_of(&report, "lonely"), ResourceState::Failed);
    assert!(report.results.iter().any(|r| r.message.contains("not in this version")));
    assert_eq!(state_of(&report, "fine"), ResourceState::Deployed);
}

#[test]
fn full_redeploys_everything_and_repairs_drift() {
    let setup = setup();
    let resources = vec![resource("a", "1", &[])];
    run(&setup, 1, &resources, DeployOptions::default());
    setup.world.values.lock().expect("lock").insert("test::Map[a,name=a]".into(), Value::from("tampered"));
    calls(&setup);
    let incremental = run(&setup, 2, &resources, DeployOptions::default());
    assert_eq!(incremental.results[0].action, Action::Untouched);
    let full = run(&setup, 3, &resources, DeployOptions { check_all: true, ..DeployOptions::default() });
    assert_eq!(full.changed(), 1);
    assert_eq!(setup.world.values.lock().expect("lock")["test::Map[a,name=a]"], Value::from("1"));
}

/// A port that writes its calls into the world's call list, around the in-memory port.
struct RecordingPort {
    inner: MemoryPort,
    world: Arc<World>,
}

impl DeployPort for RecordingPort {
    fn statuses(&self, resources: &[ResourceId]) -> Result<BTreeMap<ResourceId, cairn_wire::ResourceStatus>, cairn_agent::PortError> {
        self.inner.statuses(resources)
    }

    fn file(&self, hash: &str) -> Result<Vec<u8>, cairn_agent::PortError> {
        self.inner.file(hash)
    }

    fn intend(&self, version: u64, resources: &[ResourceId]) -> Result<(), cairn_agent::PortError> {
        self.world.calls.lock().expect("lock").push(format!("intend {}", resources.len()));
        self.inner.intend(version, resources)
    }

    fn report(&self, results: &[cairn_wire::DeployResult]) -> Result<(), cairn_agent::PortError> {
        self.world.calls.lock().expect("lock").push(format!("report {}", results.len()));
        self.inner.report(results)
    }
}

#[test]
fn the_intent_to_deploy_is_recorded_before_anything_is_applied() {
    let setup = setup();
    let port = RecordingPort { inner: MemoryPort::new(), world: setup.world.clone() };
    let resources = vec![resource("a", "1", &[]), resource("b", "1", &["a"])];
    cairn_agent::deploy(&port, 1, &resources, &setup.handlers, &setup.io, &DeployOptions::default(), &mut |_| {}).expect("deploys");
    assert_eq!(calls(&setup), vec!["intend 2", "apply test::Map[a,name=a]", "apply test::Map[a,name=b]", "report 2"]);
    // Only the increment is intended; a dry run intends nothing.
    let changed = vec![resource("a", "2", &[]), resource("b", "1", &["a"])];
    cairn_agent::deploy(&port, 2, &changed, &setup.handlers, &setup.io, &DeployOptions { dry_run: true, ..DeployOptions::default() }, &mut |_| {})
        .expect("dry run");
    // The changed resource and its dependent (read for the event it would get).
    assert_eq!(calls(&setup), vec!["report 2"]);
    cairn_agent::deploy(&port, 3, &changed, &setup.handlers, &setup.io, &DeployOptions::default(), &mut |_| {}).expect("deploys");
    assert_eq!(calls(&setup)[0], "intend 1");
}
