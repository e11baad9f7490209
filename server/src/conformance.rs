//! The conformance suite every [`Store`] backend passes: the same test functions, run over
//! `&dyn Store` against SQLite and against MongoDB (`server/tests/store`). Each case starts
//! from an empty store and uses environment names of its own, so cases may share a backend.
//! A case returns `Err` with what differed; it never panics.

use crate::store::Store;
use cairn_wire::{Action, Change, DeployResult, ResourceDoc, ResourceId, ResourceState};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

pub type CaseResult = Result<(), String>;
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseResult> + Send + 'a>>;
/// A case: a name and the function that runs it against a store.
pub type Case = (&'static str, for<'a> fn(&'a dyn Store) -> CaseFuture<'a>);

/// Every case of the suite.
pub fn cases() -> Vec<Case> {
    vec![
        ("versions_are_numbered_per_environment", |s| Box::pin(versions_are_numbered_per_environment(s))),
        ("version_resources_read_back_whole_and_sorted", |s| Box::pin(version_resources_read_back_whole_and_sorted(s))),
        ("unknown_environment_has_nothing", |s| Box::pin(unknown_environment_has_nothing(s))),
        ("results_set_state_and_deployed_hash", |s| Box::pin(results_set_state_and_deployed_hash(s))),
        ("dry_runs_change_no_state_and_intents_keep_the_hash", |s| Box::pin(dry_runs_change_no_state_and_intents_keep_the_hash(s))),
        ("versions_are_listed_newest_first_with_their_digest", |s| Box::pin(versions_are_listed_newest_first_with_their_digest(s))),
        ("pruning_keeps_the_newest_versions_whole", |s| Box::pin(pruning_keeps_the_newest_versions_whole(s))),
        ("action_logs_keep_every_result_in_order", |s| Box::pin(action_logs_keep_every_result_in_order(s))),
        ("environments_are_isolated", |s| Box::pin(environments_are_isolated(s))),
        ("an_empty_report_is_accepted", |s| Box::pin(an_empty_report_is_accepted(s))),
        ("intents_mark_resources_deploying", |s| Box::pin(intents_mark_resources_deploying(s))),
        ("files_are_kept_once_by_their_hash", |s| Box::pin(files_are_kept_once_by_their_hash(s))),
    ]
}

fn check(condition: bool, what: impl FnOnce() -> String) -> CaseResult {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

fn ok<T>(result: Result<T, crate::StoreError>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {e}"))
}

pub fn doc(id: &str, hash: &str) -> ResourceDoc {
    let mut attributes = BTreeMap::new();
    attributes.insert("path".to_string(), serde_json::Value::from(id));
    attributes.insert("nested".to_string(), serde_json::json!({"list": [1, 2.5, null, "x"], "flag": true}));
    ResourceDoc {
        id: ResourceId(id.into()),
        resource_type: "t".into(),
        agent: "a".into(),
        attributes,
        requires: Vec::new(),
        hash: hash.into(),
        undefined: false,
        send_event: false,
        receive_events: true,
    }
}

pub fn result(id: &str, version: u64, state: ResourceState, hash: Option<&str>) -> DeployResult {
    DeployResult {
        resource: ResourceId(id.into()),
        version,
        action: if state == ResourceState::Dry { Action::Dryrun } else { Action::Deploy },
        state,
        changed: hash.is_some(),
        changes: vec![Change { field: "content".into(), current: serde_json::Value::Null, desired: "x".into() }],
        message: format!("{} at {version}", state.as_str()),
        deployed_hash: hash.map(str::to_string),
        diff: hash.map(|h| format!("--- a\n+++ b\n+{h}\n")),
        time_ms: 1_000 + version,
    }
}

async fn versions_are_numbered_per_environment(store: &dyn Store) -> CaseResult {
    let env = "c-numbered";
    check(ok(store.latest_version(env).await, "latest")?.is_none(), || "a new environment has a version".into())?;
    let first = ok(store.create_version(env, &[doc("t[a,k=1]", "h1")]).await, "create")?;
    let second = ok(store.create_version(env, &[doc("t[a,k=1]", "h2")]).await, "create")?;
    check(first == 1 && second == 2, || format!("versions numbered {first}, {second}"))?;
    let latest = ok(store.latest_version(env).await, "latest")?;
    check(latest == Some(2), || format!("latest is {latest:?}"))
}

async fn version_resources_read_back_whole_and_sorted(store: &dyn Store) -> CaseResult {
    let env = "c-whole";
    let mut b = doc("t[a,k=b]", "hb");
    b.requires = vec![ResourceId("t[a,k=a]".into())];
    b.undefined = true;
    b.send_event = true;
    let a = doc("t[a,k=a]", "ha");
    let version = ok(store.create_version(env, &[b.clone(), a.clone()]).await, "create")?;
    let read = ok(store.version_resources(env, version).await, "read")?;
    check(read == vec![a, b], || format!("read back {read:#?}"))?;
    let missing = ok(store.version_resources(env, version + 1).await, "read")?;
    check(missing.is_empty(), || "a version that does not exist has resources".into())
}

async fn unknown_environment_has_nothing(store: &dyn Store) -> CaseResult {
    let env = "c-unknown";
    check(ok(store.resource_statuses(env).await, "statuses")?.is_empty(), || "statuses of an unknown environment".into())?;
    let logs = ok(store.action_logs(env, &ResourceId("t[a,k=1]".into())).await, "logs")?;
    check(logs.is_empty(), || "logs of an unknown environment".into())
}

async fn results_set_state_and_deployed_hash(store: &dyn Store) -> CaseResult {
    let env = "c-state";
    let id = ResourceId("t[a,k=1]".into());
    ok(store.record(env, &[result(&id.0, 1, ResourceState::Deployed, Some("h1"))]).await, "record")?;
    let status = ok(store.resource_statuses(env).await, "statuses")?.remove(&id).ok_or("no status after a result")?;
    check(status.state == ResourceState::Deployed && status.deployed_hash.as_deref() == Some("h1") && status.version == 1, || {
        format!("{status:?}")
    })?;
    // A failure forgets what was deployed: the resource must be deployed again.
    ok(store.record(env, &[result(&id.0, 2, ResourceState::Failed, None)]).await, "record")?;
    let status = ok(store.resource_statuses(env).await, "statuses")?.remove(&id).ok_or("no status")?;
    check(status.state == ResourceState::Failed && status.deployed_hash.is_none() && status.version == 2, || format!("{status:?}"))
}

async fn dry_runs_change_no_state_and_intents_keep_the_hash(store: &dyn Store) -> CaseResult {
    let env = "c-dry";
    let id = ResourceId("t[a,k=1]".into());
    ok(store.record(env, &[result(&id.0, 1, ResourceState::Deployed, Some("h1"))]).await, "record")?;
    ok(store.record(env, &[result(&id.0, 2, ResourceState::Dry, None)]).await, "record")?;
    let status = ok(store.resource_statuses(env).await, "statuses")?.remove(&id).ok_or("no status")?;
    check(status.state == ResourceState::Deployed && status.deployed_hash.as_deref() == Some("h1") && status.version == 1, || {
        format!("after a dry run: {status:?}")
    })?;
    let logs = ok(store.action_logs(env, &id).await, "logs")?;
    check(logs.len() == 2 && logs[1].state == ResourceState::Dry, || format!("the dry run is not logged: {logs:?}"))?;
    ok(store.record(env, &[result(&id.0, 3, ResourceState::Deploying, None)]).await, "record")?;
    let status = ok(store.resource_statuses(env).await, "statuses")?.remove(&id).ok_or("no status")?;
    check(status.state == ResourceState::Deploying && status.deployed_hash.as_deref() == Some("h1"), || format!("after an intent: {status:?}"))
}

async fn versions_are_listed_newest_first_with_their_digest(store: &dyn Store) -> CaseResult {
    let env = "c-list";
    let one = vec![doc("t[a,k=1]", "h1")];
    let two = vec![doc("t[a,k=1]", "h1"), doc("t[a,k=2]", "h2")];
    ok(store.create_version(env, &one).await, "create")?;
    ok(store.create_version(env, &two).await, "create")?;
    let versions = ok(store.versions(env).await, "versions")?;
    let numbers: Vec<(u64, u64)> = versions.iter().map(|v| (v.version, v.resource_count)).collect();
    check(numbers == vec![(2, 2), (1, 1)], || format!("versions listed as {numbers:?}"))?;
    check(versions[0].digest == cairn_wire::version_digest(&two) && versions[1].digest == cairn_wire::version_digest(&one), || {
        "digests differ from the documents'".into()
    })?;
    check(versions[0].created_ms >= versions[1].created_ms && versions[1].created_ms > 0, || "creation times".into())
}

async fn pruning_keeps_the_newest_versions_whole(store: &dyn Store) -> CaseResult {
    let env = "c-prune";
    let shared = doc("t[a,k=shared]", "hs");
    for n in 1..=5u64 {
        ok(store.create_version(env, &[shared.clone(), doc(&format!("t[a,k={n}]"), &format!("h{n}"))]).await, "create")?;
    }
    let pruned = ok(store.prune_versions(env, 2).await, "prune")?;
    check(pruned == 3, || format!("{pruned} versions pruned"))?;
    let left: Vec<u64> = ok(store.versions(env).await, "versions")?.iter().map(|v| v.version).collect();
    check(left == vec![5, 4], || format!("left {left:?}"))?;
    for n in [4u64, 5] {
        let resources = ok(store.version_resources(env, n).await, "read")?;
        check(resources == vec![doc(&format!("t[a,k={n}]"), &format!("h{n}")), shared.clone()], || format!("version {n} read back as {resources:?}"))?;
    }
    check(ok(store.version_resources(env, 3).await, "read")?.is_empty(), || "a pruned version still has resources".into())?;
    let next = ok(store.create_version(env, &[]).await, "create")?;
    check(next == 6, || format!("numbering restarted at {next} after pruning"))?;
    let none = ok(store.prune_versions(env, 0).await, "prune to one")?;
    check(none == 2 && ok(store.latest_version(env).await, "latest")? == Some(6), || "pruning to zero keeps the newest".into())
}

async fn action_logs_keep_every_result_in_order(store: &dyn Store) -> CaseResult {
    let env = "c-logs";
    let id = "t[a,k=1]";
    let written = vec![
        result(id, 1, ResourceState::Deployed, Some("h1")),
        result(id, 2, ResourceState::Dry, None),
        result(id, 3, ResourceState::Failed, None),
    ];
    ok(store.record(env, &written[..2]).await, "record")?;
    ok(store.record(env, &[result("t[a,k=2]", 1, ResourceState::Deployed, Some("x"))]).await, "record")?;
    ok(store.record(env, &written[2..]).await, "record")?;
    let logs = ok(store.action_logs(env, &ResourceId(id.into())).await, "logs")?;
    check(logs == written, || format!("logs read back as {logs:#?}"))
}

async fn environments_are_isolated(store: &dyn Store) -> CaseResult {
    ok(store.create_version("c-iso-a", &[doc("t[a,k=1]", "h")]).await, "create")?;
    ok(store.record("c-iso-a", &[result("t[a,k=1]", 1, ResourceState::Deployed, Some("h"))]).await, "record")?;
    check(ok(store.latest_version("c-iso-b").await, "latest")?.is_none(), || "a version leaked into another environment".into())?;
    check(ok(store.resource_statuses("c-iso-b").await, "statuses")?.is_empty(), || "a state leaked into another environment".into())?;
    let first_b = ok(store.create_version("c-iso-b", &[]).await, "create")?;
    check(first_b == 1, || format!("the other environment's first version is {first_b}"))
}

async fn an_empty_report_is_accepted(store: &dyn Store) -> CaseResult {
    ok(store.record("c-empty", &[]).await, "record nothing")?;
    check(ok(store.resource_statuses("c-empty").await, "statuses")?.is_empty(), || "an empty report made a state".into())
}

async fn intents_mark_resources_deploying(store: &dyn Store) -> CaseResult {
    let env = "c-intent";
    let old = ResourceId("t[a,k=old]".into());
    let new = ResourceId("t[a,k=new]".into());
    ok(store.record(env, &[result(&old.0, 1, ResourceState::Deployed, Some("h1"))]).await, "record")?;
    ok(store.mark_deploying(env, 2, &[old.clone(), new.clone()]).await, "intend")?;
    let statuses = ok(store.resource_statuses(env).await, "statuses")?;
    let old_status = statuses.get(&old).ok_or("no status")?;
    check(old_status.state == ResourceState::Deploying && old_status.deployed_hash.as_deref() == Some("h1") && old_status.version == 2, || {
        format!("{old_status:?}")
    })?;
    let new_status = statuses.get(&new).ok_or("an intent for a new resource made no status")?;
    check(new_status.state == ResourceState::Deploying && new_status.deployed_hash.is_none(), || format!("{new_status:?}"))?;
    // Intents are not deploy actions: the log is untouched.
    let logs = ok(store.action_logs(env, &old).await, "logs")?;
    check(logs.len() == 1, || format!("an intent was logged: {logs:?}"))?;
    ok(store.mark_deploying(env, 3, &[]).await, "intend nothing")
}

async fn files_are_kept_once_by_their_hash(store: &dyn Store) -> CaseResult {
    let body = b"port=8080\n\x00binary too".to_vec();
    let hash = cairn_wire::digest::sha1_hex(&body);
    let absent = cairn_wire::digest::sha1_hex(b"never stored");
    let missing = ok(store.missing_files(&[hash.clone(), absent.clone()]).await, "missing")?;
    check(missing == vec![hash.clone(), absent.clone()], || format!("missing before upload: {missing:?}"))?;
    ok(store.put_files(&[(hash.clone(), body.clone())]).await, "put")?;
    ok(store.put_files(&[(hash.clone(), body.clone())]).await, "put again")?;
    let missing = ok(store.missing_files(&[hash.clone(), absent.clone()]).await, "missing")?;
    check(missing == vec![absent.clone()], || format!("missing after upload: {missing:?}"))?;
    let read = ok(store.file(&hash).await, "read")?;
    check(read.as_deref() == Some(body.as_slice()), || "the body read back differs".into())?;
    check(ok(store.file(&absent).await, "read")?.is_none(), || "a file never stored was found".into())?;
    // A body that does not have its hash is refused, and nothing of that upload is kept.
    let other = cairn_wire::digest::sha1_hex(b"other");
    let refused = store.put_files(&[(other.clone(), b"other".to_vec()), (absent.clone(), b"lie".to_vec())]).await;
    check(matches!(refused, Err(crate::StoreError::Invalid(_))), || format!("a wrong hash was accepted: {refused:?}"))?;
    check(ok(store.file(&other).await, "read")?.is_none(), || "part of a refused upload was kept".into())
}
