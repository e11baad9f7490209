//! Conformance cases of resource states: deploy results and their action logs, intents,
//! dry runs, status pages and counts, facts, large and concurrent reports.

use super::*;

pub(super) async fn results_set_state_and_deployed_hash(store: &dyn Store) -> CaseResult {
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

pub(super) async fn dry_runs_change_no_state_and_intents_keep_the_hash(store: &dyn Store) -> CaseResult {
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

pub(super) async fn action_logs_keep_every_result_in_order(store: &dyn Store) -> CaseResult {
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

pub(super) async fn an_empty_report_is_accepted(store: &dyn Store) -> CaseResult {
    ok(store.record("c-empty", &[]).await, "record nothing")?;
    check(ok(store.resource_statuses("c-empty").await, "statuses")?.is_empty(), || "an empty report made a state".into())
}

pub(super) async fn intents_mark_resources_deploying(store: &dyn Store) -> CaseResult {
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

pub(super) async fn large_reports_are_recorded_whole(store: &dyn Store) -> CaseResult {
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

pub(super) async fn status_pages_filter_by_state_agent_type_and_prefix(store: &dyn Store) -> CaseResult {
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

pub(super) async fn one_resource_status_is_read(store: &dyn Store) -> CaseResult {
    let env = "c-one-status";
    let id = ResourceId("t[a,k=1]".into());
    check(ok(store.resource_status(env, &id).await, "status")?.is_none(), || "a status before any result".into())?;
    ok(store.record(env, &[result(&id.0, 3, ResourceState::Deployed, Some("h3"))]).await, "record")?;
    let status = ok(store.resource_status(env, &id).await, "status")?.ok_or("no status after a result")?;
    let all = ok(store.resource_statuses(env).await, "statuses")?;
    check(all.get(&id) == Some(&status) && status.version == 3 && status.deployed_hash.as_deref() == Some("h3"), || format!("{status:?}"))?;
    check(ok(store.resource_status("c-one-status-other", &id).await, "status")?.is_none(), || "a status leaked into another environment".into())
}

pub(super) async fn states_are_counted(store: &dyn Store) -> CaseResult {
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

pub(super) async fn facts_are_merged_per_resource(store: &dyn Store) -> CaseResult {
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

pub(super) async fn dry_runs_list_newest_first_and_keep_one_result_per_resource(store: &dyn Store) -> CaseResult {
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

/// Reports of one environment at once (agents of several hosts): every result is logged,
/// and a resource in several of them ends in the state its newest log entry shows.
pub(super) async fn concurrent_reports_are_all_kept(store: &dyn Store) -> CaseResult {
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
