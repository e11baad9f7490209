//! Dependencies on other agents' resources (whose states the server gives and pushes),
//! cancelling a deploy, and the report interval.

use super::{calls, resource, setup, state_of, RecordingPort, Setup};
use cairn_agent::{DeployOptions, DeployPort, External, Report};
use cairn_wire::{ResourceDoc, ResourceId, ResourceState};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A resource of agent `b`, which this agent (`a`) does not deploy.
fn remote(name: &str) -> ResourceId {
    ResourceId(format!("test::Map[b,name={name}]"))
}

fn requiring(mut doc: ResourceDoc, remote_name: &str) -> ResourceDoc {
    doc.requires.push(remote(remote_name));
    doc
}

type Updates = mpsc::Sender<BTreeMap<ResourceId, ResourceState>>;

fn external(states: &[(&str, ResourceState)]) -> (External, Updates) {
    let (sender, updates) = mpsc::channel();
    let states = states.iter().map(|(name, state)| (remote(name), *state)).collect();
    (External { states, updates }, sender)
}

/// Deploys with `deploy_with`; returns the report and the ids `on_result` saw.
fn run_with(
    setup: &Setup,
    port: &dyn DeployPort,
    resources: &[ResourceDoc],
    options: &DeployOptions,
    external: Option<External>,
    cancel: Option<&AtomicBool>,
) -> (Report, Vec<ResourceId>) {
    let mut seen = Vec::new();
    let report = cairn_agent::deploy_with(port, 1, resources, &setup.handlers, &setup.io, options, external, cancel, &mut |r| {
        seen.push(r.resource.clone())
    })
    .expect("deploys");
    (report, seen)
}

fn has_result(report: &Report, name: &str) -> bool {
    report.results.iter().any(|r| r.resource.0.contains(&format!("name={name}]")))
}

fn message_of(report: &Report, name: &str) -> String {
    report.results.iter().find(|r| r.resource.0.contains(&format!("name={name}]"))).map(|r| r.message.clone()).expect("in report")
}

#[test]
fn a_dependency_of_another_agent_already_deployed_lets_its_dependent_deploy() {
    let setup = setup();
    let resources = vec![requiring(resource("web", "1", &[]), "db"), resource("app", "1", &["web"])];
    let (external, _updates) = external(&[("db", ResourceState::Deployed)]);
    let (report, seen) = run_with(&setup, &setup.port, &resources, &DeployOptions::default(), Some(external), None);
    assert!(!report.cancelled);
    assert_eq!(state_of(&report, "web"), ResourceState::Deployed);
    assert_eq!(state_of(&report, "app"), ResourceState::Deployed);
    assert_eq!(calls(&setup), vec!["apply test::Map[a,name=web]", "apply test::Map[a,name=app]"]);
    assert_eq!(seen.len(), 2);
    assert_eq!(setup.port.log().len(), 2);
}

#[test]
fn a_failed_or_undefined_dependency_of_another_agent_skips_its_dependents() {
    let setup = setup();
    let resources = vec![
        requiring(resource("web", "1", &[]), "db"),
        resource("app", "1", &["web"]),
        requiring(resource("cache", "1", &[]), "unknown"),
        requiring(resource("worker", "1", &[]), "skipped"),
        resource("other", "1", &[]),
    ];
    let (external, _updates) =
        external(&[("db", ResourceState::Failed), ("unknown", ResourceState::Undefined), ("skipped", ResourceState::Skipped)]);
    let (report, _) = run_with(&setup, &setup.port, &resources, &DeployOptions::default(), Some(external), None);
    assert_eq!(state_of(&report, "web"), ResourceState::Skipped);
    assert_eq!(message_of(&report, "web"), "its dependency test::Map[b,name=db] did not deploy");
    assert_eq!(state_of(&report, "app"), ResourceState::Skipped);
    assert_eq!(message_of(&report, "app"), "its dependency test::Map[a,name=web] did not deploy");
    assert_eq!(state_of(&report, "worker"), ResourceState::Skipped);
    assert_eq!(state_of(&report, "cache"), ResourceState::SkippedForUndefined);
    assert_eq!(message_of(&report, "cache"), "its dependency test::Map[b,name=unknown] has an unknown value");
    assert_eq!(state_of(&report, "other"), ResourceState::Deployed);
    assert_eq!(calls(&setup), vec!["apply test::Map[a,name=other]"]);
    assert!(!report.cancelled);
}

#[test]
fn a_dependent_waits_without_a_worker_until_an_update_says_deployed() {
    let setup = setup();
    // One worker: should the waiting resource hold it, `other` could not deploy (and be
    // reported) while it waits, and the server below would never send the update.
    let options = DeployOptions { parallelism: 1, report_interval: Duration::from_millis(10), ..DeployOptions::default() };
    let resources = vec![requiring(resource("web", "1", &[]), "db"), resource("app", "1", &["web"]), resource("other", "1", &[])];
    let (external, updates) = external(&[("db", ResourceState::Available)]);
    let sent = AtomicBool::new(false);
    let mut order = Vec::new();
    let (report, reported_first) = std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            // The deploy reports what finished while it waits: another agent may need it.
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut reported = false;
            while !reported && Instant::now() < deadline {
                reported = setup.port.log().iter().any(|r| r.resource.0.contains("name=other]"));
                std::thread::sleep(Duration::from_millis(5));
            }
            // Not done yet, and an id nobody waits for: neither releases anything.
            let not_yet = BTreeMap::from([(remote("db"), ResourceState::Deploying), (remote("nobody"), ResourceState::Failed)]);
            updates.send(not_yet).expect("the deploy listens");
            sent.store(true, Ordering::SeqCst);
            updates.send(BTreeMap::from([(remote("db"), ResourceState::Deployed)])).expect("the deploy listens");
            reported
        });
        let mut seen = |r: &cairn_wire::DeployResult| order.push((r.resource.0.clone(), sent.load(Ordering::SeqCst)));
        let report = cairn_agent::deploy_with(&setup.port, 1, &resources, &setup.handlers, &setup.io, &options, Some(external), None, &mut seen)
            .expect("deploys");
        (report, server.join().expect("server thread"))
    });
    assert!(reported_first, "the independent resource was reported while the other waited");
    assert!(!report.cancelled);
    assert_eq!(state_of(&report, "web"), ResourceState::Deployed);
    assert_eq!(state_of(&report, "app"), ResourceState::Deployed);
    assert_eq!(
        order,
        vec![
            ("test::Map[a,name=other]".to_string(), false),
            ("test::Map[a,name=web]".to_string(), true),
            ("test::Map[a,name=app]".to_string(), true),
        ],
        "the dependent finished only after the update was sent"
    );
}

#[test]
fn the_latest_state_before_release_counts_and_later_ones_do_not() {
    let setup = setup();
    let resources = vec![requiring(resource("web", "1", &[]), "db")];
    let (external, updates) = external(&[("db", ResourceState::Available)]);
    for state in [ResourceState::Deploying, ResourceState::Unavailable, ResourceState::Failed, ResourceState::Deployed] {
        updates.send(BTreeMap::from([(remote("db"), state)])).expect("queued");
    }
    drop(updates);
    let (report, _) = run_with(&setup, &setup.port, &resources, &DeployOptions::default(), Some(external), None);
    assert_eq!(state_of(&report, "web"), ResourceState::Skipped, "released by `failed`; the later `deployed` does not matter");
    assert!(calls(&setup).is_empty());
}

#[test]
fn a_cancel_ends_a_deploy_that_waits_for_ever() {
    let setup = setup();
    let resources = vec![requiring(resource("web", "1", &[]), "db"), resource("app", "1", &["web"]), resource("other", "1", &[])];
    let (external, updates) = external(&[("db", ResourceState::Available)]);
    // The server goes away: nothing more can come, and the deploy still waits for the cancel.
    drop(updates);
    let cancel = AtomicBool::new(false);
    let (report, seen) = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            cancel.store(true, Ordering::SeqCst);
        });
        run_with(&setup, &setup.port, &resources, &DeployOptions::default(), Some(external), Some(&cancel))
    });
    assert!(cancel.load(Ordering::SeqCst), "returned only once cancelled");
    assert!(report.cancelled);
    assert_eq!(state_of(&report, "other"), ResourceState::Deployed);
    assert!(!has_result(&report, "web") && !has_result(&report, "app"), "{:?}", report.results);
    assert_eq!(seen, vec![ResourceId("test::Map[a,name=other]".into())]);
    let log = setup.port.log();
    assert_eq!(log.len(), 1, "only what finished is reported: {log:?}");
    assert_eq!(calls(&setup), vec!["apply test::Map[a,name=other]"]);
}

#[test]
fn a_cancel_while_updates_may_still_come_ends_the_wait_too() {
    let setup = setup();
    let resources = vec![requiring(resource("web", "1", &[]), "db")];
    let (external, updates) = external(&[("db", ResourceState::Deploying)]);
    let cancel = AtomicBool::new(false);
    let (report, _) = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            cancel.store(true, Ordering::SeqCst);
        });
        run_with(&setup, &setup.port, &resources, &DeployOptions::default(), Some(external), Some(&cancel))
    });
    drop(updates);
    assert!(report.cancelled);
    assert!(report.results.is_empty());
}

#[test]
fn a_cancel_set_before_the_call_runs_nothing() {
    let setup = setup();
    let port = RecordingPort { inner: cairn_agent::MemoryPort::new(), world: setup.world.clone() };
    let resources = vec![resource("a", "1", &[]), resource("b", "1", &["a"])];
    let cancel = AtomicBool::new(true);
    let (report, seen) = run_with(&setup, &port, &resources, &DeployOptions::default(), None, Some(&cancel));
    assert!(report.cancelled);
    assert!(report.results.is_empty() && seen.is_empty());
    assert!(calls(&setup).is_empty(), "neither intends, applies nor reports");
}

#[test]
fn without_a_cancel_flag_a_wait_that_cannot_end_is_given_up() {
    let setup = setup();
    let resources = vec![requiring(resource("web", "1", &[]), "db"), resource("other", "1", &[])];
    let (external, updates) = external(&[("db", ResourceState::Available)]);
    drop(updates);
    let (report, _) = run_with(&setup, &setup.port, &resources, &DeployOptions::default(), Some(external), None);
    assert!(report.cancelled);
    assert!(!has_result(&report, "web"));
    assert_eq!(state_of(&report, "other"), ResourceState::Deployed);
}

#[test]
fn a_requirement_neither_here_nor_of_another_agent_fails_as_before() {
    let setup = setup();
    let resources = vec![requiring(resource("lonely", "1", &[]), "ghost"), requiring(resource("web", "1", &[]), "db")];
    let (external, _updates) = external(&[("db", ResourceState::Deployed)]);
    let (report, _) = run_with(&setup, &setup.port, &resources, &DeployOptions::default(), Some(external), None);
    assert_eq!(state_of(&report, "lonely"), ResourceState::Failed);
    assert_eq!(message_of(&report, "lonely"), "requires test::Map[b,name=ghost], which is not in this version");
    assert_eq!(state_of(&report, "web"), ResourceState::Deployed);
}

#[test]
fn events_do_not_cross_agents() {
    let setup = setup();
    let resources = vec![requiring(resource("web", "1", &[]), "db")];
    let (first, _updates) = external(&[("db", ResourceState::Deployed)]);
    run_with(&setup, &setup.port, &resources, &DeployOptions::default(), Some(first), None);
    calls(&setup);
    // The other agent's resource deployed again (it may have changed): no reload here.
    let (again, _updates) = external(&[("db", ResourceState::Deployed)]);
    let (report, _) = run_with(&setup, &setup.port, &resources, &DeployOptions::default(), Some(again), None);
    assert_eq!(report.results[0].action, cairn_wire::Action::Untouched);
    assert!(calls(&setup).is_empty());
}

#[test]
fn the_report_interval_sets_how_results_are_batched() {
    let setup = setup();
    let resources = vec![resource("a", "1", &[]), resource("b", "1", &["a"]), resource("c", "1", &["b"])];
    let port = RecordingPort { inner: cairn_agent::MemoryPort::new(), world: setup.world.clone() };
    // No wait: every result goes out as it comes (the last call reports what is left, nothing).
    let eager = DeployOptions { report_interval: Duration::ZERO, ..DeployOptions::default() };
    run_with(&setup, &port, &resources, &eager, None, None);
    let reports: Vec<String> = calls(&setup).into_iter().filter(|c| c.starts_with("report")).collect();
    assert_eq!(reports, vec!["report 1", "report 1", "report 1", "report 0"]);
    // A long interval: one batch at the end.
    let changed = vec![resource("a", "2", &[]), resource("b", "2", &["a"]), resource("c", "2", &["b"])];
    let patient = DeployOptions { report_interval: Duration::from_secs(3600), ..DeployOptions::default() };
    run_with(&setup, &port, &changed, &patient, None, None);
    let reports: Vec<String> = calls(&setup).into_iter().filter(|c| c.starts_with("report")).collect();
    assert_eq!(reports, vec!["report 3"]);
}
