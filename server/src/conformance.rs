//! The conformance suite every [`Store`] backend passes: the same test functions, run over
//! `&dyn Store` against SQLite and against MongoDB (`server/tests/store`). Each case starts
//! from an empty store and uses environment names of its own, so cases may share a backend.
//! A case returns `Err` with what differed; it never panics.

use crate::records::{AgentRecord, ChangeReason, DryRunRecord, EnvironmentRecord, Lease, PrimaryChange, Role, SessionRecord, StatusFilter, TokenRecord};
use crate::store::{Store, StoreError};
use cairn_wire::{Action, Change, DeployResult, ResourceDoc, ResourceId, ResourceState};
use std::collections::{BTreeMap, BTreeSet};
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
        ("one_resource_of_a_version_is_read_by_its_id", |s| Box::pin(one_resource_of_a_version_is_read_by_its_id(s))),
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
        ("a_large_file_is_kept_whole", |s| Box::pin(a_large_file_is_kept_whole(s))),
        ("a_version_with_an_id_twice_is_refused", |s| Box::pin(a_version_with_an_id_twice_is_refused(s))),
        ("concurrent_versions_get_distinct_numbers", |s| Box::pin(concurrent_versions_get_distinct_numbers(s))),
        ("concurrent_reports_are_all_kept", |s| Box::pin(concurrent_reports_are_all_kept(s))),
        ("a_large_version_reads_back_whole", |s| Box::pin(a_large_version_reads_back_whole(s))),
        ("large_reports_are_recorded_whole", |s| Box::pin(large_reports_are_recorded_whole(s))),
        ("environments_are_created_once_and_listed_by_name", |s| Box::pin(environments_are_created_once_and_listed_by_name(s))),
        ("environment_settings_are_replaced", |s| Box::pin(environment_settings_are_replaced(s))),
        ("deleting_an_environment_removes_everything_of_it", |s| Box::pin(deleting_an_environment_removes_everything_of_it(s))),
        ("releasing_needs_the_version", |s| Box::pin(releasing_needs_the_version(s))),
        ("deleting_a_version_keeps_the_others_and_its_number", |s| Box::pin(deleting_a_version_keeps_the_others_and_its_number(s))),
        ("pruning_keeps_the_released_version", |s| Box::pin(pruning_keeps_the_released_version(s))),
        ("version_pages_cover_a_version_once_in_id_order", |s| Box::pin(version_pages_cover_a_version_once_in_id_order(s))),
        ("status_pages_filter_by_state_agent_type_and_prefix", |s| Box::pin(status_pages_filter_by_state_agent_type_and_prefix(s))),
        ("one_resource_status_is_read", |s| Box::pin(one_resource_status_is_read(s))),
        ("states_are_counted", |s| Box::pin(states_are_counted(s))),
        ("tokens_are_found_by_their_hash", |s| Box::pin(tokens_are_found_by_their_hash(s))),
        ("facts_are_merged_per_resource", |s| Box::pin(facts_are_merged_per_resource(s))),
        ("dry_runs_list_newest_first_and_keep_one_result_per_resource", |s| {
            Box::pin(dry_runs_list_newest_first_and_keep_one_result_per_resource(s))
        }),
        ("sessions_heartbeat_expire_and_end", |s| Box::pin(sessions_heartbeat_expire_and_end(s))),
        ("a_lease_is_granted_to_one_of_racing_sessions", |s| Box::pin(a_lease_is_granted_to_one_of_racing_sessions(s))),
        ("renewal_keeps_the_epoch_and_a_new_holder_bumps_it", |s| Box::pin(renewal_keeps_the_epoch_and_a_new_holder_bumps_it(s))),
        ("a_paused_agent_cannot_be_acquired", |s| Box::pin(a_paused_agent_cannot_be_acquired(s))),
        ("a_preferred_session_is_kept_and_changes_no_lease", |s| Box::pin(a_preferred_session_is_kept_and_changes_no_lease(s))),
        ("fenced_writes_of_an_older_epoch_are_refused", |s| Box::pin(fenced_writes_of_an_older_epoch_are_refused(s))),
        ("stale_writes_racing_a_takeover_are_written_whole_or_not_at_all", |s| {
            Box::pin(stale_writes_racing_a_takeover_are_written_whole_or_not_at_all(s))
        }),
        ("primary_changes_are_listed_newest_first", |s| Box::pin(primary_changes_are_listed_newest_first(s))),
        ("deleting_an_environment_removes_its_agents", |s| Box::pin(deleting_an_environment_removes_its_agents(s))),
    ]
}

fn check(condition: bool, what: impl FnOnce() -> String) -> CaseResult {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

fn ok<T>(result: Result<T, StoreError>, what: &str) -> Result<T, String> {
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
    check(matches!(refused, Err(StoreError::Invalid(_))), || format!("a wrong hash was accepted: {refused:?}"))?;
    check(ok(store.file(&other).await, "read")?.is_none(), || "part of a refused upload was kept".into())
}

pub fn environment(name: &str, id: &str) -> EnvironmentRecord {
    let mut settings = BTreeMap::new();
    settings.insert("repair_interval".to_string(), serde_json::json!(600));
    settings.insert("odd.key $name".to_string(), serde_json::json!({"nested": [1, "two", null]}));
    EnvironmentRecord { id: id.into(), name: name.into(), created_ms: 1_700_000_000_000, settings }
}

pub fn token(id: &str, hash: &str, environment: Option<&str>) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        hash: hash.into(),
        environment: environment.map(str::to_string),
        role: Role::Agent,
        created_ms: 1_700_000_000_000,
        expires_ms: Some(1_800_000_000_000),
        description: format!("token {id}"),
    }
}

/// `count` documents whose ids sort differently from the order they are given in.
fn many_docs(count: usize) -> Vec<ResourceDoc> {
    (0..count).map(|i| (i * 7_919) % count).map(|n| doc(&format!("t[a,k={n:05}]"), &format!("h{n}"))).collect()
}

async fn a_version_with_an_id_twice_is_refused(store: &dyn Store) -> CaseResult {
    let env = "c-twice";
    let refused = store.create_version(env, &[doc("t[a,k=1]", "h1"), doc("t[a,k=2]", "h2"), doc("t[a,k=1]", "h3")]).await;
    check(matches!(refused, Err(StoreError::Invalid(_))), || format!("an id twice was accepted: {refused:?}"))?;
    check(ok(store.latest_version(env).await, "latest")?.is_none(), || "a refused version was stored".into())
}

async fn concurrent_versions_get_distinct_numbers(store: &dyn Store) -> CaseResult {
    let env = "c-concurrent";
    let one = [doc("t[a,k=1]", "h1")];
    let (a, b, c, d) = tokio::join!(
        store.create_version(env, &one),
        store.create_version(env, &one),
        store.create_version(env, &[]),
        store.create_version(env, &one)
    );
    let numbers: BTreeSet<u64> = [ok(a, "create")?, ok(b, "create")?, ok(c, "create")?, ok(d, "create")?].into_iter().collect();
    check(numbers == (1..=4).collect(), || format!("concurrent versions numbered {numbers:?}"))?;
    let listed: Vec<u64> = ok(store.versions(env).await, "versions")?.iter().map(|v| v.version).collect();
    check(listed == vec![4, 3, 2, 1], || format!("versions listed as {listed:?}"))
}

async fn a_large_version_reads_back_whole(store: &dyn Store) -> CaseResult {
    let env = "c-large";
    let resources = many_docs(1_200);
    let version = ok(store.create_version(env, &resources).await, "create")?;
    let mut sorted = resources.clone();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let read = ok(store.version_resources(env, version).await, "read")?;
    check(read.len() == sorted.len() && read == sorted, || format!("{} of {} resources read back, or not in id order", read.len(), sorted.len()))?;
    let info = ok(store.versions(env).await, "versions")?;
    check(info.first().map(|v| v.resource_count) == Some(1_200), || format!("listed as {info:?}"))?;
    // A second version sharing all but one document, then pruning the first: the shared
    // documents stay for the second.
    let mut next = resources.clone();
    next[0] = doc(&next[0].id.0, "changed");
    let second = ok(store.create_version(env, &next).await, "create")?;
    check(ok(store.prune_versions(env, 1).await, "prune")? == 1, || "the first version was not pruned".into())?;
    let mut expected = next;
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    let read = ok(store.version_resources(env, second).await, "read")?;
    check(read == expected, || "the second version lost documents when the first was pruned".into())
}

async fn large_reports_are_recorded_whole(store: &dyn Store) -> CaseResult {
    let env = "c-large-report";
    let ids: Vec<ResourceId> = many_docs(1_200).into_iter().map(|d| d.id).collect();
    ok(store.mark_deploying(env, 1, &ids).await, "intend")?;
    let counts = ok(store.count_by_state(env).await, "count")?;
    check(counts == BTreeMap::from([(ResourceState::Deploying, 1_200)]), || format!("after intents: {counts:?}"))?;
    let results: Vec<DeployResult> = ids.iter().map(|id| result(&id.0, 1, ResourceState::Deployed, Some("h"))).collect();
    ok(store.record(env, &results).await, "record")?;
    let counts = ok(store.count_by_state(env).await, "count")?;
    check(counts == BTreeMap::from([(ResourceState::Deployed, 1_200)]), || format!("after results: {counts:?}"))?;
    let logs = ok(store.action_logs(env, &ids[777]).await, "logs")?;
    check(logs == vec![results[777].clone()], || format!("log of one resource: {logs:?}"))
}

async fn environments_are_created_once_and_listed_by_name(store: &dyn Store) -> CaseResult {
    let b = environment("c-envs-b", "00000000-0000-4000-8000-00000000000b");
    let a = environment("c-envs-a", "00000000-0000-4000-8000-00000000000a");
    let c = environment("c-envs-C", "00000000-0000-4000-8000-00000000000c");
    for record in [&b, &a, &c] {
        ok(store.create_environment(record).await, "create")?;
    }
    let same_name = store.create_environment(&environment("c-envs-a", "00000000-0000-4000-8000-0000000000ff")).await;
    check(matches!(same_name, Err(StoreError::Conflict(_))), || format!("a second environment of one name: {same_name:?}"))?;
    let same_id = store.create_environment(&environment("c-envs-z", &a.id)).await;
    check(matches!(same_id, Err(StoreError::Conflict(_))), || format!("a second environment of one id: {same_id:?}"))?;
    let listed: Vec<EnvironmentRecord> = ok(store.environments().await, "list")?.into_iter().filter(|e| e.name.starts_with("c-envs-")).collect();
    // By name, as bytes compare: upper case first.
    check(listed == vec![c.clone(), a.clone(), b.clone()], || format!("listed as {listed:#?}"))?;
    let got = ok(store.environment("c-envs-a").await, "get")?;
    check(got.as_ref() == Some(&a), || format!("read back as {got:?}"))?;
    check(ok(store.environment("c-envs-z").await, "get")?.is_none(), || "a refused environment exists".into())
}

async fn environment_settings_are_replaced(store: &dyn Store) -> CaseResult {
    let record = environment("c-settings", "00000000-0000-4000-8000-000000000001");
    ok(store.create_environment(&record).await, "create")?;
    let settings = BTreeMap::from([("auto_deploy".to_string(), serde_json::json!(false)), ("agent_trigger".to_string(), serde_json::json!("push"))]);
    ok(store.set_environment_settings("c-settings", &settings).await, "set")?;
    let got = ok(store.environment("c-settings").await, "get")?.ok_or("the environment went")?;
    check(got.settings == settings && got.id == record.id && got.created_ms == record.created_ms, || format!("after setting: {got:?}"))?;
    let missing = store.set_environment_settings("c-settings-none", &settings).await;
    check(matches!(missing, Err(StoreError::NotFound(_))), || format!("settings of no environment: {missing:?}"))
}

async fn deleting_an_environment_removes_everything_of_it(store: &dyn Store) -> CaseResult {
    let (gone, kept) = ("c-delete-gone", "c-delete-kept");
    let id = ResourceId("t[a,k=1]".into());
    for (n, env) in [gone, kept].into_iter().enumerate() {
        ok(store.create_environment(&environment(env, &format!("00000000-0000-4000-8000-00000000010{n}"))).await, "create")?;
        let version = ok(store.create_version(env, &[doc(&id.0, "h1")]).await, "version")?;
        ok(store.release_version(env, version).await, "release")?;
        ok(store.record(env, &[result(&id.0, version, ResourceState::Deployed, Some("h1"))]).await, "record")?;
        ok(store.set_facts(env, &id, &BTreeMap::from([("ip".to_string(), serde_json::json!("10.0.0.1"))])).await, "facts")?;
        let dryrun = DryRunRecord { id: "d1".into(), version, created_ms: 5, results: vec![result(&id.0, version, ResourceState::Dry, None)] };
        ok(store.create_dryrun(env, &dryrun).await, "dry run")?;
        ok(store.create_token(&token(&format!("{env}-token"), &format!("{env}-hash"), Some(env))).await, "token")?;
    }
    ok(store.create_token(&token("c-delete-global", "c-delete-global-hash", None)).await, "token")?;
    check(ok(store.delete_environment(gone).await, "delete")?, || "deleting an environment found none".into())?;
    check(ok(store.environment(gone).await, "get")?.is_none(), || "the environment is still there".into())?;
    check(!ok(store.environments().await, "list")?.iter().any(|e| e.name == gone), || "the environment is still listed".into())?;
    check(ok(store.latest_version(gone).await, "latest")?.is_none(), || "its versions are still there".into())?;
    check(ok(store.version_resources(gone, 1).await, "read")?.is_empty(), || "its documents are still there".into())?;
    check(ok(store.released_version(gone).await, "released")?.is_none(), || "its release is still there".into())?;
    check(ok(store.resource_statuses(gone).await, "statuses")?.is_empty(), || "its states are still there".into())?;
    check(ok(store.action_logs(gone, &id).await, "logs")?.is_empty(), || "its logs are still there".into())?;
    check(ok(store.facts(gone).await, "facts")?.is_empty(), || "its facts are still there".into())?;
    check(ok(store.dryruns(gone).await, "dry runs")?.is_empty(), || "its dry runs are still there".into())?;
    check(ok(store.token_by_hash(&format!("{gone}-hash")).await, "token")?.is_none(), || "its token still works".into())?;
    // The other environment and the tokens for every environment are untouched.
    check(ok(store.environment(kept).await, "get")?.is_some(), || "the other environment went".into())?;
    check(ok(store.latest_version(kept).await, "latest")? == Some(1), || "the other environment lost its version".into())?;
    check(ok(store.version_resources(kept, 1).await, "read")?.len() == 1, || "the other environment lost its documents".into())?;
    check(ok(store.released_version(kept).await, "released")? == Some(1), || "the other environment lost its release".into())?;
    check(ok(store.resource_statuses(kept).await, "statuses")?.len() == 1, || "the other environment lost its states".into())?;
    check(ok(store.action_logs(kept, &id).await, "logs")?.len() == 1, || "the other environment lost its logs".into())?;
    check(ok(store.facts(kept).await, "facts")?.len() == 1, || "the other environment lost its facts".into())?;
    check(ok(store.dryruns(kept).await, "dry runs")?.len() == 1, || "the other environment lost its dry runs".into())?;
    check(ok(store.token_by_hash(&format!("{kept}-hash")).await, "token")?.is_some(), || "the other environment lost its token".into())?;
    check(ok(store.token_by_hash("c-delete-global-hash").await, "token")?.is_some(), || "a token for every environment went".into())?;
    check(!ok(store.delete_environment(gone).await, "delete again")?, || "a deleted environment was deleted again".into())?;
    // Made again, it starts afresh.
    ok(store.create_environment(&environment(gone, "00000000-0000-4000-8000-000000000109")).await, "create again")?;
    let first = ok(store.create_version(gone, &[]).await, "version")?;
    check(first == 1, || format!("the environment made again starts at version {first}"))
}

async fn releasing_needs_the_version(store: &dyn Store) -> CaseResult {
    let env = "c-release";
    check(ok(store.released_version(env).await, "released")?.is_none(), || "a new environment has a release".into())?;
    let unknown = store.release_version(env, 1).await;
    check(matches!(unknown, Err(StoreError::NotFound(_))), || format!("releasing a version that does not exist: {unknown:?}"))?;
    let first = ok(store.create_version(env, &[doc("t[a,k=1]", "h1")]).await, "create")?;
    let second = ok(store.create_version(env, &[doc("t[a,k=1]", "h2")]).await, "create")?;
    ok(store.release_version(env, second).await, "release")?;
    check(ok(store.released_version(env).await, "released")? == Some(second), || "the release is not kept".into())?;
    // Going back is a release too.
    ok(store.release_version(env, first).await, "release")?;
    check(ok(store.released_version(env).await, "released")? == Some(first), || "releasing an older version".into())?;
    let unknown = store.release_version(env, second + 1).await;
    check(matches!(unknown, Err(StoreError::NotFound(_))), || format!("releasing a later version that does not exist: {unknown:?}"))?;
    check(ok(store.released_version(env).await, "released")? == Some(first), || "a refused release changed the release".into())?;
    check(ok(store.released_version("c-release-other").await, "released")?.is_none(), || "a release leaked into another environment".into())
}

async fn deleting_a_version_keeps_the_others_and_its_number(store: &dyn Store) -> CaseResult {
    let env = "c-delete-version";
    let shared = doc("t[a,k=shared]", "hs");
    for n in 1..=3u64 {
        ok(store.create_version(env, &[shared.clone(), doc(&format!("t[a,k={n}]"), &format!("h{n}"))]).await, "create")?;
    }
    check(ok(store.delete_version(env, 2).await, "delete")?, || "deleting version 2 found none".into())?;
    check(!ok(store.delete_version(env, 2).await, "delete again")?, || "version 2 was deleted twice".into())?;
    check(!ok(store.delete_version(env, 9).await, "delete unknown")?, || "a version that never was was deleted".into())?;
    let left: Vec<u64> = ok(store.versions(env).await, "versions")?.iter().map(|v| v.version).collect();
    check(left == vec![3, 1], || format!("left {left:?}"))?;
    for n in [1u64, 3] {
        let read = ok(store.version_resources(env, n).await, "read")?;
        check(read == vec![doc(&format!("t[a,k={n}]"), &format!("h{n}")), shared.clone()], || format!("version {n} read back as {read:?}"))?;
    }
    check(ok(store.version_resources(env, 2).await, "read")?.is_empty(), || "a deleted version has resources".into())?;
    // The newest goes too: its number is not given again.
    check(ok(store.delete_version(env, 3).await, "delete")?, || "deleting version 3 found none".into())?;
    let next = ok(store.create_version(env, &[]).await, "create")?;
    check(next == 4, || format!("after deleting the newest, the next version is {next}"))?;
    ok(store.release_version(env, 1).await, "release")?;
    let released = store.delete_version(env, 1).await;
    check(matches!(released, Err(StoreError::Conflict(_))), || format!("deleting the released version: {released:?}"))?;
    check(ok(store.version_resources(env, 1).await, "read")?.len() == 2, || "a refused delete removed documents".into())
}

async fn pruning_keeps_the_released_version(store: &dyn Store) -> CaseResult {
    let env = "c-prune-released";
    for n in 1..=4u64 {
        ok(store.create_version(env, &[doc(&format!("t[a,k={n}]"), &format!("h{n}"))]).await, "create")?;
    }
    ok(store.release_version(env, 2).await, "release")?;
    let pruned = ok(store.prune_versions(env, 1).await, "prune")?;
    check(pruned == 2, || format!("{pruned} versions pruned"))?;
    let left: Vec<u64> = ok(store.versions(env).await, "versions")?.iter().map(|v| v.version).collect();
    check(left == vec![4, 2], || format!("left {left:?}"))?;
    let read = ok(store.version_resources(env, 2).await, "read")?;
    check(read == vec![doc("t[a,k=2]", "h2")], || format!("the released version read back as {read:?}"))
}

async fn version_pages_cover_a_version_once_in_id_order(store: &dyn Store) -> CaseResult {
    let env = "c-version-pages";
    let resources = many_docs(23);
    let version = ok(store.create_version(env, &resources).await, "create")?;
    let whole = ok(store.version_resources(env, version).await, "read")?;
    for limit in [1usize, 5, 23, 100] {
        let mut paged: Vec<ResourceDoc> = Vec::new();
        let mut after: Option<ResourceId> = None;
        for _ in 0..100 {
            let page = ok(store.version_resources_page(env, version, after.as_ref(), limit).await, "page")?;
            check(page.len() <= limit, || format!("a page of {} with limit {limit}", page.len()))?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let full = page.len() == limit;
            paged.extend(page);
            if !full {
                break;
            }
        }
        check(paged == whole, || format!("pages of {limit} cover {} of {} resources, or not in id order", paged.len(), whole.len()))?;
    }
    // `after` needs not be an id of the version: the page starts at the next one.
    let between = ResourceId("t[a,k=00010a]".into());
    let page = ok(store.version_resources_page(env, version, Some(&between), 2).await, "page")?;
    let ids: Vec<&str> = page.iter().map(|d| d.id.0.as_str()).collect();
    check(ids == ["t[a,k=00011]", "t[a,k=00012]"], || format!("after an id between two: {ids:?}"))?;
    let last = whole.last().ok_or("an empty version")?.id.clone();
    check(ok(store.version_resources_page(env, version, Some(&last), 5).await, "page")?.is_empty(), || "a page after the last id".into())?;
    check(ok(store.version_resources_page(env, version, None, 0).await, "page")?.is_empty(), || "a page of at most 0".into())?;
    check(ok(store.version_resources_page(env, version + 1, None, 5).await, "page")?.is_empty(), || "a page of no version".into())
}

async fn status_pages_filter_by_state_agent_type_and_prefix(store: &dyn Store) -> CaseResult {
    let env = "c-status-pages";
    let ids = [
        "fs::File[web1,path=/etc/a]",
        "fs::File[web1,path=/etc/b]",
        "fs::File[web2,path=/etc/a]",
        "std::Service[web1,name=nginx]",
        "std::Service[web2,name=nginx]",
        "fs::Directory[web1,path=/etc]",
        "exec::Run[web2,command=/bin/true]",
    ];
    let states = [ResourceState::Deployed, ResourceState::Failed, ResourceState::Deployed, ResourceState::Skipped];
    let results: Vec<DeployResult> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let state = states[n % states.len()];
            result(id, 1, state, (state == ResourceState::Deployed).then_some("h"))
        })
        .collect();
    ok(store.record(env, &results).await, "record")?;
    ok(store.mark_deploying(env, 2, &[ResourceId(ids[6].into())]).await, "intend")?;
    ok(store.record("c-status-pages-other", &results).await, "record elsewhere")?;
    let all: Vec<_> = ok(store.resource_statuses(env).await, "statuses")?.into_values().collect();
    let filters = [
        StatusFilter::default(),
        StatusFilter { state: Some(ResourceState::Deployed), ..StatusFilter::default() },
        StatusFilter { state: Some(ResourceState::Deploying), ..StatusFilter::default() },
        StatusFilter { state: Some(ResourceState::Orphaned), ..StatusFilter::default() },
        StatusFilter { agent: Some("web1".into()), ..StatusFilter::default() },
        StatusFilter { resource_type: Some("fs::File".into()), ..StatusFilter::default() },
        StatusFilter { id_prefix: Some("fs::".into()), ..StatusFilter::default() },
        StatusFilter { id_prefix: Some("fs::File[web1,".into()), ..StatusFilter::default() },
        StatusFilter { id_prefix: Some("".into()), ..StatusFilter::default() },
        StatusFilter { id_prefix: Some("zzz".into()), ..StatusFilter::default() },
        StatusFilter { state: Some(ResourceState::Deployed), agent: Some("web1".into()), ..StatusFilter::default() },
        StatusFilter { agent: Some("web2".into()), resource_type: Some("std::Service".into()), id_prefix: Some("std".into()), ..StatusFilter::default() },
    ];
    for filter in &filters {
        let expected: Vec<_> = all.iter().filter(|s| filter.matches(s)).cloned().collect();
        let whole = ok(store.resource_statuses_page(env, filter, None, 100).await, "page")?;
        check(whole == expected, || format!("{filter:?} gave {whole:#?}, not {expected:#?}"))?;
        let mut paged = Vec::new();
        let mut after: Option<ResourceId> = None;
        for _ in 0..20 {
            let page = ok(store.resource_statuses_page(env, filter, after.as_ref(), 2).await, "page")?;
            check(page.len() <= 2, || format!("a page of {} with limit 2", page.len()))?;
            let Some(last) = page.last() else { break };
            after = Some(last.resource.clone());
            paged.extend(page);
        }
        check(paged == expected, || format!("{filter:?} in pages of 2 gave {paged:#?}"))?;
    }
    let some = StatusFilter { agent: Some("web1".into()), ..StatusFilter::default() };
    check(ok(store.resource_statuses_page(env, &some, None, 0).await, "page")?.is_empty(), || "a page of at most 0".into())
}

async fn one_resource_status_is_read(store: &dyn Store) -> CaseResult {
    let env = "c-one-status";
    let id = ResourceId("t[a,k=1]".into());
    check(ok(store.resource_status(env, &id).await, "status")?.is_none(), || "a status before any result".into())?;
    ok(store.record(env, &[result(&id.0, 3, ResourceState::Deployed, Some("h3"))]).await, "record")?;
    let status = ok(store.resource_status(env, &id).await, "status")?.ok_or("no status after a result")?;
    let all = ok(store.resource_statuses(env).await, "statuses")?;
    check(all.get(&id) == Some(&status) && status.version == 3 && status.deployed_hash.as_deref() == Some("h3"), || format!("{status:?}"))?;
    check(ok(store.resource_status("c-one-status-other", &id).await, "status")?.is_none(), || "a status leaked into another environment".into())
}

async fn states_are_counted(store: &dyn Store) -> CaseResult {
    let env = "c-count";
    check(ok(store.count_by_state(env).await, "count")?.is_empty(), || "counts of an empty environment".into())?;
    let results = [
        result("t[a,k=1]", 1, ResourceState::Deployed, Some("h")),
        result("t[a,k=2]", 1, ResourceState::Deployed, Some("h")),
        result("t[a,k=3]", 1, ResourceState::Failed, None),
        result("t[a,k=4]", 1, ResourceState::Dry, None),
    ];
    ok(store.record(env, &results).await, "record")?;
    ok(store.mark_deploying(env, 2, &[ResourceId("t[a,k=5]".into())]).await, "intend")?;
    let counts = ok(store.count_by_state(env).await, "count")?;
    let expected = BTreeMap::from([(ResourceState::Deployed, 2), (ResourceState::Failed, 1), (ResourceState::Deploying, 1)]);
    check(counts == expected, || format!("counted {counts:?}"))
}

async fn tokens_are_found_by_their_hash(store: &dyn Store) -> CaseResult {
    let scoped = token("c-token-1", "c-token-hash-1", Some("c-token-env"));
    let mut global = token("c-token-2", "c-token-hash-2", None);
    global.role = Role::Admin;
    global.expires_ms = None;
    global.description = String::new();
    ok(store.create_token(&scoped).await, "create")?;
    ok(store.create_token(&global).await, "create")?;
    let found = ok(store.token_by_hash("c-token-hash-1").await, "by hash")?;
    check(found.as_ref() == Some(&scoped), || format!("found {found:?}"))?;
    let found = ok(store.token_by_hash("c-token-hash-2").await, "by hash")?;
    check(found.as_ref() == Some(&global), || format!("found {found:?}"))?;
    check(ok(store.token_by_hash("c-token-hash-3").await, "by hash")?.is_none(), || "a token that was never made".into())?;
    let same_id = store.create_token(&token("c-token-1", "c-token-hash-4", None)).await;
    check(matches!(same_id, Err(StoreError::Conflict(_))), || format!("a second token of one id: {same_id:?}"))?;
    check(ok(store.token_by_hash("c-token-hash-4").await, "by hash")?.is_none(), || "a refused token works".into())?;
    let same_hash = store.create_token(&token("c-token-5", "c-token-hash-1", None)).await;
    check(matches!(same_hash, Err(StoreError::Conflict(_))), || format!("a second token of one hash: {same_hash:?}"))
}

async fn facts_are_merged_per_resource(store: &dyn Store) -> CaseResult {
    let env = "c-facts";
    let (one, two) = (ResourceId("t[a,k=1]".into()), ResourceId("t[a,k=2]".into()));
    check(ok(store.facts(env).await, "facts")?.is_empty(), || "facts of an empty environment".into())?;
    let first = BTreeMap::from([("ip".to_string(), serde_json::json!("10.0.0.1")), ("cores".to_string(), serde_json::json!(4))]);
    ok(store.set_facts(env, &one, &first).await, "set")?;
    let second = BTreeMap::from([
        ("cores".to_string(), serde_json::json!(8)),
        ("disks.sda $size".to_string(), serde_json::json!({"bytes": 1_000_000_000_000u64, "ssd": true})),
    ]);
    ok(store.set_facts(env, &one, &second).await, "merge")?;
    ok(store.set_facts(env, &two, &BTreeMap::from([("up".to_string(), serde_json::json!(null))])).await, "set")?;
    ok(store.set_facts(env, &two, &BTreeMap::new()).await, "set nothing")?;
    ok(store.set_facts("c-facts-other", &one, &first).await, "set elsewhere")?;
    let facts = ok(store.facts(env).await, "facts")?;
    let mut merged = first.clone();
    merged.extend(second);
    let expected = BTreeMap::from([(one, merged), (two, BTreeMap::from([("up".to_string(), serde_json::json!(null))]))]);
    check(facts == expected, || format!("facts read back as {facts:#?}"))
}

async fn dry_runs_list_newest_first_and_keep_one_result_per_resource(store: &dyn Store) -> CaseResult {
    let env = "c-dryruns";
    check(ok(store.dryruns(env).await, "list")?.is_empty(), || "dry runs of an empty environment".into())?;
    let older = DryRunRecord { id: "b-older".into(), version: 1, created_ms: 10, results: Vec::new() };
    let newer = DryRunRecord { id: "a-newer".into(), version: 2, created_ms: 20, results: vec![result("t[a,k=2]", 2, ResourceState::Dry, None)] };
    let tied = DryRunRecord { id: "c-tied".into(), version: 2, created_ms: 20, results: Vec::new() };
    for record in [&older, &newer, &tied] {
        ok(store.create_dryrun(env, record).await, "create")?;
    }
    let again = store.create_dryrun(env, &older).await;
    check(matches!(again, Err(StoreError::Conflict(_))), || format!("a second dry run of one id: {again:?}"))?;
    let listed: Vec<String> = ok(store.dryruns(env).await, "list")?.into_iter().map(|d| d.id).collect();
    check(listed == ["c-tied", "a-newer", "b-older"], || format!("listed as {listed:?}"))?;
    // A resource reported again replaces its earlier result; results are in id order.
    let mut changed = result("t[a,k=2]", 2, ResourceState::Dry, None);
    changed.changed = true;
    changed.message = "would change".into();
    let first = result("t[a,k=1]", 2, ResourceState::Dry, None);
    ok(store.add_dryrun_results(env, "a-newer", &[changed.clone()]).await, "add")?;
    ok(store.add_dryrun_results(env, "a-newer", std::slice::from_ref(&first)).await, "add")?;
    let got = ok(store.dryrun(env, "a-newer").await, "get")?.ok_or("the dry run went")?;
    check(got.results == vec![first.clone(), changed.clone()] && got.version == 2 && got.created_ms == 20, || format!("read back as {got:#?}"))?;
    let listed = ok(store.dryruns(env).await, "list")?;
    check(listed.iter().find(|d| d.id == "a-newer").map(|d| &d.results) == Some(&got.results), || "the list shows other results".into())?;
    check(listed.iter().find(|d| d.id == "b-older").is_some_and(|d| d.results.is_empty()), || "another dry run got results".into())?;
    let unknown = store.add_dryrun_results(env, "nope", &[first]).await;
    check(matches!(unknown, Err(StoreError::NotFound(_))), || format!("results for no dry run: {unknown:?}"))?;
    check(ok(store.dryrun(env, "nope").await, "get")?.is_none(), || "a dry run that was never made".into())?;
    check(ok(store.dryrun("c-dryruns-other", "a-newer").await, "get")?.is_none(), || "a dry run leaked into another environment".into())
}

async fn one_resource_of_a_version_is_read_by_its_id(store: &dyn Store) -> CaseResult {
    let env = "c-one";
    let wanted = doc("t[a,path=/srv/www]", "h1");
    // Ids that sort around it (a path that is a prefix of others).
    let resources = vec![doc("t[a,path=/srv/www/a]", "h2"), wanted.clone(), doc("t[a,path=/srv]", "h3")];
    let version = ok(store.create_version(env, &resources).await, "create")?;
    let found = ok(store.version_resource(env, version, &wanted.id).await, "read")?;
    check(found.as_ref() == Some(&wanted), || format!("read {found:?}"))?;
    let absent = ok(store.version_resource(env, version, &ResourceId("t[a,path=/nope]".into())).await, "read")?;
    check(absent.is_none(), || "a resource not in the version was found".into())?;
    let other_version = ok(store.version_resource(env, version + 1, &wanted.id).await, "read")?;
    check(other_version.is_none(), || "a resource of a version that does not exist was found".into())
}

async fn a_large_file_is_kept_whole(store: &dyn Store) -> CaseResult {
    // Larger than one MongoDB document may be (16 MiB), not a multiple of anything.
    let body: Vec<u8> = (0..20 * 1024 * 1024 + 12_345u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let hash = cairn_wire::digest::sha1_hex(&body);
    let small = b"small".to_vec();
    let small_hash = cairn_wire::digest::sha1_hex(&small);
    ok(store.put_files(&[(hash.clone(), body.clone()), (small_hash.clone(), small.clone())]).await, "put")?;
    ok(store.put_files(&[(hash.clone(), body.clone())]).await, "put again")?;
    check(ok(store.missing_files(&[hash.clone(), small_hash.clone()]).await, "missing")?.is_empty(), || "a stored file is missing".into())?;
    let read = ok(store.file(&hash).await, "read")?.ok_or("the large file is not there")?;
    check(read == body, || format!("the large file read back as {} bytes of {}", read.len(), body.len()))?;
    check(ok(store.file(&small_hash).await, "read")?.as_deref() == Some(small.as_slice()), || "the small file read back differs".into())
}

/// Reports of one environment at once (agents of several hosts): every result is logged,
/// and a resource in several of them ends in the state its newest log entry shows.
async fn concurrent_reports_are_all_kept(store: &dyn Store) -> CaseResult {
    let env = "c-concurrent-reports";
    let shared = "t[a,k=shared]";
    let batch = |n: u64| -> Vec<DeployResult> {
        let mut results: Vec<DeployResult> = (0..10).map(|i| result(&format!("t[a{n},k={i}]"), n, ResourceState::Deployed, Some("h"))).collect();
        let state = if n % 2 == 0 { ResourceState::Failed } else { ResourceState::Deployed };
        results.push(result(shared, n, state, (state == ResourceState::Deployed).then_some("hs")));
        results
    };
    let (one, two, three, four) = (batch(1), batch(2), batch(3), batch(4));
    let (a, b, c, d) = tokio::join!(store.record(env, &one), store.record(env, &two), store.record(env, &three), store.record(env, &four));
    for outcome in [a, b, c, d] {
        ok(outcome, "record")?;
    }
    let statuses = ok(store.resource_statuses(env).await, "statuses")?;
    check(statuses.len() == 41, || format!("{} states after 4 reports of 11", statuses.len()))?;
    for n in 1..=4u64 {
        let logs = ok(store.action_logs(env, &ResourceId(format!("t[a{n},k=3]"))).await, "logs")?;
        check(logs.len() == 1 && logs[0].version == n, || format!("log of a resource of report {n}: {logs:?}"))?;
    }
    let logs = ok(store.action_logs(env, &ResourceId(shared.into())).await, "logs")?;
    let versions: BTreeSet<u64> = logs.iter().map(|l| l.version).collect();
    check(logs.len() == 4 && versions == (1..=4).collect(), || format!("the shared resource's log: {logs:?}"))?;
    let newest = logs.last().ok_or("no log")?;
    let status = statuses.get(&ResourceId(shared.into())).ok_or("no state of the shared resource")?;
    check(status.version == newest.version && status.state == newest.state && status.deployed_hash == newest.deployed_hash, || {
        format!("the shared resource is {status:?}, its newest log entry {newest:?}")
    })
}

// ---------- agents: sessions, leases, fencing ----------

/// A session offering `agents`, connected and last heard from at `at_ms`.
pub fn session(id: &str, agents: &[&str], at_ms: u64) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        server: "server-1".into(),
        host: format!("host-of-{id}"),
        pid: 4_242,
        agents: agents.iter().map(|a| a.to_string()).collect(),
        connected_ms: at_ms,
        last_heartbeat_ms: at_ms,
    }
}

fn lease(agent: &str, session_id: &str, epoch: u64, expires_ms: u64) -> Lease {
    Lease { agent: agent.into(), session_id: session_id.into(), epoch, expires_ms }
}

/// A primary change as the cases compare it: agent, from, to, epoch, reason (its time is
/// the store's clock).
type ChangeRow = (String, Option<String>, Option<String>, u64, ChangeReason);

fn change(agent: &str, from: Option<&str>, to: Option<&str>, epoch: u64, reason: ChangeReason) -> ChangeRow {
    (agent.into(), from.map(str::to_string), to.map(str::to_string), epoch, reason)
}

fn changes_of(changes: &[PrimaryChange]) -> Vec<ChangeRow> {
    changes.iter().map(|c| (c.agent.clone(), c.from_session.clone(), c.to_session.clone(), c.epoch, c.reason)).collect()
}

async fn register(store: &dyn Store, env: &str, ids: &[&str], at_ms: u64) -> CaseResult {
    for id in ids {
        ok(store.register_session(env, &session(id, &["a", "b"], at_ms)).await, "register")?;
    }
    Ok(())
}

async fn sessions_heartbeat_expire_and_end(store: &dyn Store) -> CaseResult {
    let env = "c-sessions";
    check(ok(store.sessions(env, None).await, "sessions")?.is_empty(), || "sessions of an empty environment".into())?;
    let (s1, s2) = (session("s1", &["a", "b"], 1_000), session("s2", &["b"], 1_000));
    ok(store.register_session(env, &s2).await, "register")?;
    ok(store.register_session(env, &s1).await, "register")?;
    let listed = ok(store.sessions(env, None).await, "sessions")?;
    check(listed == vec![s1.clone(), s2.clone()], || format!("listed as {listed:#?}"))?;
    check(ok(store.heartbeat(env, "s1", 5_000).await, "heartbeat")?, || "a heartbeat of a registered session found none".into())?;
    // Never back in time.
    check(ok(store.heartbeat(env, "s1", 4_000).await, "heartbeat")?, || "an earlier heartbeat found no session".into())?;
    check(!ok(store.heartbeat(env, "nope", 5_000).await, "heartbeat")?, || "a heartbeat of no session was taken".into())?;
    check(!ok(store.heartbeat("c-sessions-other", "s1", 5_000).await, "heartbeat")?, || "a heartbeat found a session of another environment".into())?;
    let mut beating = s1.clone();
    beating.last_heartbeat_ms = 5_000;
    let live = ok(store.sessions(env, Some(5_000)).await, "live sessions")?;
    check(live == vec![beating.clone()], || format!("live since 5000: {live:#?}"))?;
    check(ok(store.sessions(env, Some(5_001)).await, "live sessions")?.is_empty(), || "a session heard from before is live".into())?;
    // A hello sent again replaces the session.
    let mut again = session("s2", &["b", "c"], 2_000);
    again.server = "server-2".into();
    ok(store.register_session(env, &again).await, "register again")?;
    let listed = ok(store.sessions(env, None).await, "sessions")?;
    check(listed == vec![beating.clone(), again.clone()], || format!("after a second hello: {listed:#?}"))?;
    // Expiring ends the stale sessions and releases their leases.
    let granted = ok(store.acquire_lease(env, "b", "s2", 2_000, 60_000, false).await, "acquire")?;
    check(granted == Some(lease("b", "s2", 1, 62_000)), || format!("granted {granted:?}"))?;
    ok(store.acquire_lease(env, "a", "s1", 5_000, 60_000, false).await, "acquire")?.ok_or("s1 got no lease")?;
    let expired = ok(store.expire_sessions(env, 3_000).await, "expire")?;
    check(expired == ["s2"], || format!("expired {expired:?}"))?;
    check(ok(store.sessions(env, None).await, "sessions")? == vec![beating.clone()], || "an expired session is still listed".into())?;
    check(!ok(store.heartbeat(env, "s2", 6_000).await, "heartbeat")?, || "an expired session took a heartbeat".into())?;
    let leases = ok(store.leases(env).await, "leases")?;
    check(leases == vec![lease("a", "s1", 1, 65_000)], || format!("leases after expiring s2: {leases:?}"))?;
    let expired = store.acquire_lease(env, "b", "s2", 6_000, 60_000, false).await;
    check(matches!(expired, Err(StoreError::NotFound(_))), || format!("an expired session asked for a lease: {expired:?}"))?;
    check(ok(store.expire_sessions(env, 3_000).await, "expire")?.is_empty(), || "expired twice".into())?;
    // Ending releases its leases too.
    check(ok(store.end_session(env, "s1").await, "end")?, || "ending a session found none".into())?;
    check(!ok(store.end_session(env, "s1").await, "end again")?, || "a session was ended twice".into())?;
    check(ok(store.sessions(env, None).await, "sessions")?.is_empty(), || "an ended session is listed".into())?;
    check(ok(store.leases(env).await, "leases")?.is_empty(), || "an ended session holds a lease".into())?;
    let changes = changes_of(&ok(store.primary_changes(env, None, 10).await, "changes")?);
    let expected = vec![
        change("a", Some("s1"), None, 1, ChangeReason::SessionEnded),
        change("b", Some("s2"), None, 1, ChangeReason::SessionExpired),
        change("a", None, Some("s1"), 1, ChangeReason::Free),
        change("b", None, Some("s2"), 1, ChangeReason::Free),
    ];
    check(changes == expected, || format!("changes {changes:#?}"))?;
    // Another session is granted at once, in the next term.
    ok(store.register_session(env, &session("s3", &["a"], 7_000)).await, "register")?;
    let next = ok(store.acquire_lease(env, "a", "s3", 7_000, 1_000, false).await, "acquire")?;
    check(next == Some(lease("a", "s3", 2, 8_000)), || format!("after the holder ended: {next:?}"))?;
    check(ok(store.sessions("c-sessions-other", None).await, "sessions")?.is_empty(), || "a session leaked into another environment".into())
}

/// Two sessions asking for one agent name at once, many times each: one of them gets it.
async fn a_lease_is_granted_to_one_of_racing_sessions(store: &dyn Store) -> CaseResult {
    let env = "c-lease-race";
    register(store, env, &["s1", "s2", "s3"], 1_000).await?;
    let asks: Vec<_> = (0..8).map(|n| store.acquire_lease(env, "a", if n % 2 == 0 { "s1" } else { "s2" }, 1_000, 10_000, false)).collect();
    let mut winners = BTreeSet::new();
    for outcome in futures_util::future::join_all(asks).await {
        if let Some(granted) = ok(outcome, "acquire")? {
            check(granted.epoch == 1 && granted.agent == "a", || format!("granted {granted:?}"))?;
            winners.insert(granted.session_id);
        }
    }
    check(winners.len() == 1, || format!("granted to {winners:?}"))?;
    let first = winners.pop_first().ok_or("nobody was granted the lease")?;
    let leases = ok(store.leases(env).await, "leases")?;
    check(leases == vec![lease("a", &first, 1, 11_000)], || format!("leases {leases:?}"))?;
    // Once it expired, two other sessions race to take it over: one of them gets it, in
    // the next term.
    let asks: Vec<_> = (0..8).map(|n| store.acquire_lease(env, "a", if n % 2 == 0 { "s3" } else { "s2" }, 20_000, 10_000, false)).collect();
    let asked = ["s3", "s2"];
    let mut winners = BTreeSet::new();
    for outcome in futures_util::future::join_all(asks).await {
        if let Some(granted) = ok(outcome, "acquire")? {
            winners.insert((granted.session_id, granted.epoch));
        }
    }
    let second = winners.first().map(|w| w.0.clone()).unwrap_or_default();
    let expected_epoch = if second == first { 1 } else { 2 };
    check(winners.len() == 1 && asked.contains(&second.as_str()) && winners.first().map(|w| w.1) == Some(expected_epoch), || {
        format!("after expiry granted to {winners:?}")
    })?;
    let changes = ok(store.primary_changes(env, Some("a"), 10).await, "changes")?;
    let terms = if second == first { 1 } else { 2 };
    check(changes.len() == terms && changes[0].to_session.as_deref() == Some(second.as_str()), || format!("changes {changes:#?}"))
}

async fn renewal_keeps_the_epoch_and_a_new_holder_bumps_it(store: &dyn Store) -> CaseResult {
    let env = "c-lease-terms";
    register(store, env, &["s1", "s2"], 1_000).await?;
    let acquire = |session: &'static str, now: u64, takeover: bool| store.acquire_lease(env, "a", session, now, 5_000, takeover);
    check(ok(acquire("s1", 1_000, false).await, "acquire")? == Some(lease("a", "s1", 1, 6_000)), || "the first grant".into())?;
    check(ok(acquire("s2", 2_000, false).await, "acquire")?.is_none(), || "a live lease was granted to another session".into())?;
    let renewed = ok(acquire("s1", 3_000, false).await, "renew")?;
    check(renewed == Some(lease("a", "s1", 1, 8_000)), || format!("renewed as {renewed:?}"))?;
    check(ok(acquire("s2", 7_999, false).await, "acquire")?.is_none(), || "a renewed lease was granted to another session".into())?;
    // Expired: the next term.
    let taken = ok(acquire("s2", 8_000, false).await, "acquire")?;
    check(taken == Some(lease("a", "s2", 2, 13_000)), || format!("after expiry {taken:?}"))?;
    check(ok(acquire("s1", 8_001, false).await, "acquire")?.is_none(), || "the old holder renewed a lease taken over".into())?;
    // A takeover (the caller found s1 preferred).
    let taken = ok(acquire("s1", 8_001, true).await, "take over")?;
    check(taken == Some(lease("a", "s1", 3, 13_001)), || format!("taken over as {taken:?}"))?;
    // An expired lease nobody took is renewed in its term.
    let late = ok(acquire("s1", 20_000, false).await, "renew late")?;
    check(late == Some(lease("a", "s1", 3, 25_000)), || format!("renewed late as {late:?}"))?;
    check(!ok(store.release_lease(env, "a", "s2").await, "release")?, || "a session released a lease it does not hold".into())?;
    check(ok(store.release_lease(env, "a", "s1").await, "release")?, || "the holder could not release".into())?;
    check(!ok(store.release_lease(env, "a", "s1").await, "release")?, || "a lease was released twice".into())?;
    check(!ok(store.release_lease(env, "zz", "s1").await, "release")?, || "a lease of no agent was released".into())?;
    let agents = ok(store.agents(env).await, "agents")?;
    let expected = vec![AgentRecord { agent: "a".into(), paused: false, preferred: None, lease: None, epoch: 3 }];
    check(agents == expected, || format!("after release {agents:?}"))?;
    check(ok(store.leases(env).await, "leases")?.is_empty(), || "a released lease is listed".into())?;
    // Released, then granted again, even to the same session: a new term.
    let again = ok(acquire("s1", 21_000, false).await, "acquire")?;
    check(again == Some(lease("a", "s1", 4, 26_000)), || format!("after release {again:?}"))?;
    let unknown = store.acquire_lease(env, "a", "nope", 30_000, 5_000, true).await;
    check(matches!(unknown, Err(StoreError::NotFound(_))), || format!("a lease for no session: {unknown:?}"))?;
    let other = store.acquire_lease("c-lease-terms-other", "a", "s1", 30_000, 5_000, false).await;
    check(matches!(other, Err(StoreError::NotFound(_))), || format!("a lease for a session of another environment: {other:?}"))?;
    let changes = changes_of(&ok(store.primary_changes(env, Some("a"), 10).await, "changes")?);
    let expected = vec![
        change("a", None, Some("s1"), 4, ChangeReason::Free),
        change("a", Some("s1"), None, 3, ChangeReason::Released),
        change("a", Some("s2"), Some("s1"), 3, ChangeReason::Takeover),
        change("a", Some("s1"), Some("s2"), 2, ChangeReason::Expired),
        change("a", None, Some("s1"), 1, ChangeReason::Free),
    ];
    check(changes == expected, || format!("changes {changes:#?}"))
}

async fn a_paused_agent_cannot_be_acquired(store: &dyn Store) -> CaseResult {
    let env = "c-lease-paused";
    register(store, env, &["s1", "s2"], 1_000).await?;
    let id = "t[a,k=1]";
    ok(store.acquire_lease(env, "a", "s1", 1_000, 5_000, false).await, "acquire")?.ok_or("no first grant")?;
    ok(store.set_agent_paused(env, "a", true).await, "pause")?;
    ok(store.set_agent_paused(env, "a", true).await, "pause again")?;
    let agents = ok(store.agents(env).await, "agents")?;
    check(agents == vec![AgentRecord { agent: "a".into(), paused: true, preferred: None, lease: None, epoch: 1 }], || format!("paused: {agents:?}"))?;
    check(ok(store.acquire_lease(env, "a", "s1", 2_000, 5_000, false).await, "renew")?.is_none(), || "a paused agent was renewed".into())?;
    check(ok(store.acquire_lease(env, "a", "s2", 9_000, 5_000, true).await, "take over")?.is_none(), || "a paused agent was taken over".into())?;
    // Its last term's results are still taken: nobody else was granted it.
    ok(store.record_fenced(env, "a", 1, &[result(id, 1, ResourceState::Deployed, Some("h1"))]).await, "record in the paused term")?;
    // A name never seen can be paused before anyone asks for it.
    ok(store.set_agent_paused(env, "b", true).await, "pause b")?;
    check(ok(store.acquire_lease(env, "b", "s1", 2_000, 5_000, false).await, "acquire")?.is_none(), || "a paused new agent was granted".into())?;
    let b = ok(store.agents(env).await, "agents")?.into_iter().find(|a| a.agent == "b");
    check(b == Some(AgentRecord { agent: "b".into(), paused: true, preferred: None, lease: None, epoch: 0 }), || format!("b: {b:?}"))?;
    ok(store.set_agent_paused(env, "a", false).await, "resume")?;
    let resumed = ok(store.acquire_lease(env, "a", "s2", 10_000, 5_000, false).await, "acquire")?;
    check(resumed == Some(lease("a", "s2", 2, 15_000)), || format!("after resuming: {resumed:?}"))?;
    let stale = store.record_fenced(env, "a", 1, &[result(id, 2, ResourceState::Failed, None)]).await;
    check(matches!(stale, Err(StoreError::Fenced(_))), || format!("the paused term's results after a new grant: {stale:?}"))?;
    let changes = changes_of(&ok(store.primary_changes(env, None, 10).await, "changes")?);
    let expected = vec![
        change("a", None, Some("s2"), 2, ChangeReason::Free),
        change("a", Some("s1"), None, 1, ChangeReason::Paused),
        change("a", None, Some("s1"), 1, ChangeReason::Free),
    ];
    check(changes == expected, || format!("changes {changes:#?}"))
}

async fn a_preferred_session_is_kept_and_changes_no_lease(store: &dyn Store) -> CaseResult {
    let env = "c-lease-preferred";
    register(store, env, &["s1", "s2"], 1_000).await?;
    ok(store.set_preferred(env, "b", Some("s2")).await, "prefer")?;
    ok(store.acquire_lease(env, "a", "s1", 1_000, 5_000, false).await, "acquire")?.ok_or("no grant")?;
    ok(store.set_preferred(env, "a", Some("s2")).await, "prefer")?;
    let agents = ok(store.agents(env).await, "agents")?;
    let expected = vec![
        AgentRecord { agent: "a".into(), paused: false, preferred: Some("s2".into()), lease: Some(lease("a", "s1", 1, 6_000)), epoch: 1 },
        AgentRecord { agent: "b".into(), paused: false, preferred: Some("s2".into()), lease: None, epoch: 0 },
    ];
    check(agents == expected, || format!("agents {agents:#?}"))?;
    // The preference alone hands nothing over; the caller's takeover does.
    check(ok(store.acquire_lease(env, "a", "s2", 2_000, 5_000, false).await, "acquire")?.is_none(), || "a preference took the lease by itself".into())?;
    ok(store.set_preferred(env, "a", None).await, "clear")?;
    let a = ok(store.agents(env).await, "agents")?.into_iter().next();
    check(a.as_ref().is_some_and(|a| a.preferred.is_none() && a.lease == Some(lease("a", "s1", 1, 6_000))), || format!("after clearing: {a:?}"))?;
    check(ok(store.agents("c-lease-preferred-other").await, "agents")?.is_empty(), || "agents leaked into another environment".into())
}

async fn fenced_writes_of_an_older_epoch_are_refused(store: &dyn Store) -> CaseResult {
    let env = "c-fenced";
    register(store, env, &["s1", "s2"], 1_000).await?;
    let (one, two) = ("t[a,k=1]", "t[a,k=2]");
    let never = store.record_fenced(env, "a", 1, &[result(one, 1, ResourceState::Deployed, Some("h1"))]).await;
    check(matches!(never, Err(StoreError::Fenced(_))), || format!("results of an agent that never had a primary: {never:?}"))?;
    let epoch = ok(store.acquire_lease(env, "a", "s1", 1_000, 1_000, false).await, "acquire")?.ok_or("no grant")?.epoch;
    ok(store.record_fenced(env, "a", epoch, &[result(one, 1, ResourceState::Deployed, Some("h1"))]).await, "record")?;
    ok(store.mark_deploying_fenced(env, "a", epoch, 2, &[ResourceId(one.into())]).await, "intend")?;
    ok(store.record_fenced(env, "a", epoch, &[]).await, "record nothing")?;
    let status = ok(store.resource_status(env, &ResourceId(one.into())).await, "status")?.ok_or("no state after a fenced record")?;
    check(status.state == ResourceState::Deploying && status.deployed_hash.as_deref() == Some("h1") && status.version == 2, || format!("{status:?}"))?;
    // Another session takes over once the lease expired: the old term is refused.
    let newer = ok(store.acquire_lease(env, "a", "s2", 5_000, 1_000, false).await, "take over")?.ok_or("no takeover")?.epoch;
    check(newer == epoch + 1, || format!("taken over in epoch {newer}"))?;
    let before = (ok(store.resource_statuses(env).await, "statuses")?, ok(store.action_logs(env, &ResourceId(one.into())).await, "logs")?);
    let refused = store.record_fenced(env, "a", epoch, &[result(two, 3, ResourceState::Deployed, Some("h2")), result(one, 3, ResourceState::Failed, None)]).await;
    let Err(StoreError::Fenced(message)) = &refused else { return Err(format!("results of the old term: {refused:?}")) };
    let shown = refused.as_ref().err().map(ToString::to_string).unwrap_or_default();
    check(message.contains(&format!("epoch {epoch} refused")) && message.contains(&format!("current epoch is {newer}")) && shown.starts_with("fenced:"), || {
        format!("the refusal says {shown}")
    })?;
    let intent = store.mark_deploying_fenced(env, "a", epoch, 3, &[ResourceId(two.into()), ResourceId(one.into())]).await;
    check(matches!(intent, Err(StoreError::Fenced(_))), || format!("intents of the old term: {intent:?}"))?;
    for stale in [0, newer + 1] {
        let refused = store.record_fenced(env, "a", stale, &[result(two, 3, ResourceState::Deployed, Some("h2"))]).await;
        check(matches!(refused, Err(StoreError::Fenced(_))), || format!("results of epoch {stale}: {refused:?}"))?;
    }
    // A result of another agent's resource is not covered by this agent's epoch.
    let foreign = store.record_fenced(env, "a", newer, &[result(two, 3, ResourceState::Deployed, Some("h2")), result("t[b,k=1]", 3, ResourceState::Deployed, None)]).await;
    check(matches!(foreign, Err(StoreError::Invalid(_))), || format!("a result of another agent: {foreign:?}"))?;
    let foreign = store.mark_deploying_fenced(env, "a", newer, 3, &[ResourceId("t[b,k=1]".into())]).await;
    check(matches!(foreign, Err(StoreError::Invalid(_))), || format!("an intent of another agent: {foreign:?}"))?;
    let after = (ok(store.resource_statuses(env).await, "statuses")?, ok(store.action_logs(env, &ResourceId(one.into())).await, "logs")?);
    check(after == before, || format!("refused writes changed {before:#?} into {after:#?}"))?;
    check(ok(store.action_logs(env, &ResourceId(two.into())).await, "logs")?.is_empty(), || "a refused result was logged".into())?;
    // The current term writes.
    let current = result(one, 3, ResourceState::Deployed, Some("h3"));
    ok(store.record_fenced(env, "a", newer, std::slice::from_ref(&current)).await, "record")?;
    let logs = ok(store.action_logs(env, &ResourceId(one.into())).await, "logs")?;
    check(logs.len() == 2 && logs.last() == Some(&current), || format!("logs {logs:#?}"))?;
    ok(store.mark_deploying_fenced(env, "a", newer, 4, &[ResourceId(two.into())]).await, "intend")?;
    let status = ok(store.resource_status(env, &ResourceId(two.into())).await, "status")?;
    check(status.is_some_and(|s| s.state == ResourceState::Deploying && s.version == 4), || "the current term's intent".into())?;
    let other = store.record_fenced("c-fenced-other", "a", newer, &[current]).await;
    check(matches!(other, Err(StoreError::Fenced(_))), || format!("an epoch of another environment: {other:?}"))
}

/// Results of the old term sent while another session takes the lease over: each batch is
/// refused and leaves nothing, or is written whole; none fails otherwise; and none is
/// written once the takeover is done (what is there just after it is all there will be).
async fn stale_writes_racing_a_takeover_are_written_whole_or_not_at_all(store: &dyn Store) -> CaseResult {
    let env = "c-fenced-race";
    register(store, env, &["s1", "s2"], 1_000).await?;
    let epoch = ok(store.acquire_lease(env, "a", "s1", 1_000, 1_000, false).await, "acquire")?.ok_or("no grant")?.epoch;
    let batches: Vec<Vec<DeployResult>> =
        (0..8).map(|n| (0..40).map(|i| result(&format!("t[a,k={n}-{i}]"), 1, ResourceState::Deployed, Some("h"))).collect()).collect();
    let writes = futures_util::future::join_all(batches.iter().map(|b| store.record_fenced(env, "a", epoch, b)));
    let takeover = async {
        // Let the first writes begin.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let taken = store.acquire_lease(env, "a", "s2", 5_000, 1_000, false).await;
        (taken, store.resource_statuses(env).await)
    };
    let (outcomes, (taken, just_after)) = tokio::join!(writes, takeover);
    check(ok(taken, "take over")?.map(|l| l.epoch) == Some(epoch + 1), || "the takeover was not granted".into())?;
    let just_after = ok(just_after, "statuses")?;
    let statuses = ok(store.resource_statuses(env).await, "statuses")?;
    check(statuses.len() == just_after.len(), || {
        format!("{} states just after the takeover, {} once the stale writes were done", just_after.len(), statuses.len())
    })?;
    for (batch, outcome) in batches.iter().zip(outcomes) {
        let written = batch.iter().filter(|r| statuses.contains_key(&r.resource)).count();
        match outcome {
            Ok(()) => check(written == batch.len(), || format!("an accepted batch has {written} of {} states", batch.len()))?,
            Err(StoreError::Fenced(_)) => check(written == 0, || format!("a refused batch has {written} states"))?,
            Err(other) => return Err(format!("a stale batch failed: {other}")),
        }
    }
    let late = store.record_fenced(env, "a", epoch, &batches[0]).await;
    check(matches!(late, Err(StoreError::Fenced(_))), || format!("a stale batch after the takeover: {late:?}"))
}

async fn primary_changes_are_listed_newest_first(store: &dyn Store) -> CaseResult {
    let env = "c-changes";
    register(store, env, &["s1", "s2"], 1_000).await?;
    check(ok(store.primary_changes(env, None, 10).await, "changes")?.is_empty(), || "changes of an empty environment".into())?;
    // Changes of different names are ordered by time (to the millisecond): a little apart.
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(3));
    ok(store.acquire_lease(env, "a", "s1", 1_000, 5_000, false).await, "acquire")?.ok_or("no grant")?;
    pause().await;
    ok(store.acquire_lease(env, "b", "s2", 1_000, 5_000, false).await, "acquire")?.ok_or("no grant")?;
    pause().await;
    ok(store.acquire_lease(env, "a", "s2", 2_000, 5_000, true).await, "take over")?.ok_or("no takeover")?;
    pause().await;
    check(ok(store.release_lease(env, "b", "s2").await, "release")?, || "no release".into())?;
    pause().await;
    check(ok(store.release_lease(env, "a", "s2").await, "release")?, || "no release".into())?;
    let all = ok(store.primary_changes(env, None, 10).await, "changes")?;
    let expected = vec![
        change("a", Some("s2"), None, 2, ChangeReason::Released),
        change("b", Some("s2"), None, 1, ChangeReason::Released),
        change("a", Some("s1"), Some("s2"), 2, ChangeReason::Takeover),
        change("b", None, Some("s2"), 1, ChangeReason::Free),
        change("a", None, Some("s1"), 1, ChangeReason::Free),
    ];
    check(changes_of(&all) == expected, || format!("changes {all:#?}"))?;
    check(all.windows(2).all(|w| w[0].at_ms >= w[1].at_ms) && all.iter().all(|c| c.at_ms > 0), || format!("times {all:#?}"))?;
    let of_a = changes_of(&ok(store.primary_changes(env, Some("a"), 10).await, "changes of a")?);
    let expected_a: Vec<_> = expected.iter().filter(|c| c.0 == "a").cloned().collect();
    check(of_a == expected_a, || format!("changes of a {of_a:#?}"))?;
    let two = changes_of(&ok(store.primary_changes(env, None, 2).await, "changes")?);
    check(two == expected[..2], || format!("at most two: {two:#?}"))?;
    let one = changes_of(&ok(store.primary_changes(env, Some("b"), 1).await, "changes")?);
    check(one == expected[1..2], || format!("at most one of b: {one:#?}"))?;
    check(ok(store.primary_changes(env, None, 0).await, "changes")?.is_empty(), || "at most zero".into())?;
    check(ok(store.primary_changes(env, Some("zz"), 10).await, "changes")?.is_empty(), || "changes of a name never leased".into())?;
    check(ok(store.primary_changes("c-changes-other", None, 10).await, "changes")?.is_empty(), || "changes leaked into another environment".into())
}

async fn deleting_an_environment_removes_its_agents(store: &dyn Store) -> CaseResult {
    let (gone, kept) = ("c-delete-agents-gone", "c-delete-agents-kept");
    for (n, env) in [gone, kept].into_iter().enumerate() {
        ok(store.create_environment(&environment(env, &format!("00000000-0000-4000-8000-00000000020{n}"))).await, "create")?;
        register(store, env, &["s1", "s2"], 1_000).await?;
        ok(store.acquire_lease(env, "a", "s1", 1_000, 5_000, false).await, "acquire")?.ok_or("no grant")?;
        ok(store.acquire_lease(env, "a", "s2", 9_000, 5_000, false).await, "acquire")?.ok_or("no takeover")?;
        ok(store.set_agent_paused(env, "b", true).await, "pause")?;
        ok(store.set_preferred(env, "c", Some("s1")).await, "prefer")?;
    }
    check(ok(store.delete_environment(gone).await, "delete")?, || "deleting found no environment".into())?;
    check(ok(store.sessions(gone, None).await, "sessions")?.is_empty(), || "its sessions are still there".into())?;
    check(ok(store.agents(gone).await, "agents")?.is_empty(), || "its agents are still there".into())?;
    check(ok(store.leases(gone).await, "leases")?.is_empty(), || "its leases are still there".into())?;
    check(ok(store.primary_changes(gone, None, 10).await, "changes")?.is_empty(), || "its primary changes are still there".into())?;
    check(!ok(store.heartbeat(gone, "s1", 10_000).await, "heartbeat")?, || "its session takes heartbeats".into())?;
    let stale = store.record_fenced(gone, "a", 2, &[result("t[a,k=1]", 1, ResourceState::Deployed, None)]).await;
    check(matches!(stale, Err(StoreError::Fenced(_))), || format!("results of a term of the deleted environment: {stale:?}"))?;
    check(ok(store.sessions(kept, None).await, "sessions")?.len() == 2, || "the other environment lost its sessions".into())?;
    check(ok(store.agents(kept).await, "agents")?.len() == 3, || "the other environment lost its agents".into())?;
    check(ok(store.leases(kept).await, "leases")? == vec![lease("a", "s2", 2, 14_000)], || "the other environment lost its lease".into())?;
    check(ok(store.primary_changes(kept, None, 10).await, "changes")?.len() == 2, || "the other environment lost its changes".into())
}
