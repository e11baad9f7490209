//! Conformance cases of the compile queue (the autonomous server): triggers coalescing into
//! one queued compile, claims (one running compile per environment, oldest first, expired
//! claims failed as abandoned), renewals and reports written only by the claim's holder, the
//! listing, and the same under concurrent requests and claims.

use super::*;
use crate::records::{CompileDiagnostic, CompileRecord, CompileReport, CompileState, Trigger, TriggerKind, MAX_TRIGGERS_KEPT};

fn trigger(kind: TriggerKind, at_ms: u64, detail: &str) -> Trigger {
    Trigger { kind, at_ms, detail: detail.into() }
}

async fn with_environments(store: &dyn Store, names: &[&str]) -> CaseResult {
    for (i, name) in names.iter().enumerate() {
        ok(store.create_environment(&environment(name, &format!("00000000-0000-4000-8000-0000000c{i:04}"))).await, "create environment")?;
    }
    Ok(())
}

fn report(success: bool) -> CompileReport {
    let mut phases = BTreeMap::new();
    phases.insert("fetch".to_string(), 12);
    phases.insert("compile".to_string(), 340);
    CompileReport {
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        branch: "main".into(),
        success,
        version: success.then_some(7),
        released: success,
        released_version: Some(6),
        summary: if success { "compiled".into() } else { "does not compile".into() },
        phases,
        diagnostics: vec![CompileDiagnostic {
            severity: "error".into(),
            message: "unknown variable `x` — ü".into(),
            file: Some("main.cf".into()),
            line: Some(4),
            column: Some(9),
            span: Some((31, 32)),
            label: "not defined".into(),
            rendered: "error: unknown variable\n  ┌─ main.cf:4:9\n".into(),
        }],
        log: "installed module greeting at v1.1.0\n".into(),
    }
}

pub(super) async fn compile_requests_need_the_environment_and_coalesce(store: &dyn Store) -> CaseResult {
    let missing = store.request_compile("c-cq-none", "id-0", &trigger(TriggerKind::Api, 1, "")).await;
    check(matches!(missing, Err(StoreError::NotFound(_))), || format!("a compile of no environment: {missing:?}"))?;
    with_environments(store, &["c-cq"]).await?;
    let first = ok(store.request_compile("c-cq", "id-1", &trigger(TriggerKind::Webhook, 100, "push 1")).await, "request")?;
    check(first.id == "id-1" && first.state == CompileState::Queued && first.trigger_count == 1 && first.queued_ms == 100, || format!("the first request: {first:?}"))?;
    for i in 0..(MAX_TRIGGERS_KEPT + 5) {
        let joined = ok(store.request_compile("c-cq", &format!("other-{i}"), &trigger(TriggerKind::Poll, 200 + i as u64, "poll")).await, "request")?;
        check(joined.id == "id-1", || format!("a trigger made another queued compile: {joined:?}"))?;
    }
    let listed = ok(store.compiles("c-cq", 10).await, "list")?;
    check(listed.len() == 1, || format!("{} compiles queued", listed.len()))?;
    let queued = &listed[0];
    check(queued.trigger_count == MAX_TRIGGERS_KEPT as u64 + 6, || format!("counted {}", queued.trigger_count))?;
    check(queued.triggers.len() == MAX_TRIGGERS_KEPT, || format!("kept {} triggers", queued.triggers.len()))?;
    check(queued.triggers[0] == trigger(TriggerKind::Webhook, 100, "push 1") && queued.queued_ms == 100, || format!("the first trigger: {:?}", queued.triggers[0]))?;
    let got = ok(store.compile("c-cq", "id-1").await, "get")?;
    check(got.as_ref() == Some(queued), || format!("read by id: {got:?}"))?;
    check(ok(store.compile("c-cq", "other-0").await, "get")?.is_none(), || "a joined trigger's id names a compile".into())
}

pub(super) async fn compiles_are_claimed_oldest_first_one_per_environment(store: &dyn Store) -> CaseResult {
    with_environments(store, &["c-cc-a", "c-cc-b"]).await?;
    ok(store.request_compile("c-cc-b", "b-1", &trigger(TriggerKind::Api, 20, "")).await, "request b")?;
    ok(store.request_compile("c-cc-a", "a-1", &trigger(TriggerKind::Api, 10, "")).await, "request a")?;
    let claimed = ok(store.claim_compile("server-1", 1_000, 30_000).await, "claim")?;
    let claimed = claimed.ok_or("nothing claimed")?;
    check(claimed.id == "a-1" && claimed.state == CompileState::Running, || format!("claimed {claimed:?}"))?;
    check(claimed.started_ms == Some(1_000) && claimed.server.as_deref() == Some("server-1") && claimed.lease_expires_ms == Some(31_000), || format!("claimed {claimed:?}"))?;
    // A trigger while a is running: a follow-up, queued, not claimable until a finishes.
    let follow_up = ok(store.request_compile("c-cc-a", "a-2", &trigger(TriggerKind::Webhook, 1_100, "")).await, "request")?;
    check(follow_up.id == "a-2" && follow_up.state == CompileState::Queued, || format!("the follow-up: {follow_up:?}"))?;
    let joined = ok(store.request_compile("c-cc-a", "a-3", &trigger(TriggerKind::Webhook, 1_200, "")).await, "request")?;
    check(joined.id == "a-2" && joined.trigger_count == 2, || format!("a second trigger during the compile: {joined:?}"))?;
    let second = ok(store.claim_compile("server-2", 1_300, 30_000).await, "claim")?.ok_or("b not claimed")?;
    check(second.id == "b-1", || format!("the second claim took {second:?}"))?;
    let third = ok(store.claim_compile("server-2", 1_400, 30_000).await, "claim")?;
    check(third.is_none(), || format!("a second running compile of an environment: {third:?}"))?;
    // Only the holder renews or finishes; nothing changes otherwise.
    check(!ok(store.renew_compile("c-cc-a", "a-1", "server-2", 90_000).await, "renew")?, || "another server renewed the claim".into())?;
    check(!ok(store.finish_compile("c-cc-a", "a-1", "server-2", 2_000, &report(true)).await, "finish")?, || "another server finished the compile".into())?;
    check(!ok(store.finish_compile("c-cc-a", "a-2", "server-1", 2_000, &report(true)).await, "finish")?, || "a queued compile was finished".into())?;
    let unchanged = ok(store.compile("c-cc-a", "a-1").await, "get")?.ok_or("a-1 gone")?;
    check(unchanged == claimed, || format!("a refused write changed it: {unchanged:?}"))?;
    check(ok(store.renew_compile("c-cc-a", "a-1", "server-1", 60_000).await, "renew")?, || "the holder could not renew".into())?;
    let renewed = ok(store.compile("c-cc-a", "a-1").await, "get")?.ok_or("a-1 gone")?;
    check(renewed.lease_expires_ms == Some(60_000), || format!("renewed to {:?}", renewed.lease_expires_ms))?;
    check(ok(store.finish_compile("c-cc-a", "a-1", "server-1", 2_500, &report(false)).await, "finish")?, || "the holder could not finish".into())?;
    let done = ok(store.compile("c-cc-a", "a-1").await, "get")?.ok_or("a-1 gone")?;
    check(done.state == CompileState::Failed && done.finished_ms == Some(2_500) && done.lease_expires_ms.is_none(), || format!("finished as {done:?}"))?;
    check(done.report.as_ref() == Some(&report(false)), || format!("the report read back as {:?}", done.report))?;
    check(!ok(store.renew_compile("c-cc-a", "a-1", "server-1", 90_000).await, "renew")?, || "a finished compile was renewed".into())?;
    // Now the follow-up is claimable.
    let next = ok(store.claim_compile("server-3", 3_000, 30_000).await, "claim")?.ok_or("the follow-up not claimed")?;
    check(next.id == "a-2" && next.trigger_count == 2, || format!("claimed {next:?}"))?;
    check(ok(store.finish_compile("c-cc-a", "a-2", "server-3", 3_500, &report(true)).await, "finish")?, || "finish".into())?;
    let succeeded = ok(store.compile("c-cc-a", "a-2").await, "get")?.ok_or("a-2 gone")?;
    check(succeeded.state == CompileState::Succeeded, || format!("{succeeded:?}"))?;
    // Newest first, with a limit.
    let listed: Vec<String> = ok(store.compiles("c-cc-a", 10).await, "list")?.into_iter().map(|c| c.id).collect();
    check(listed == ["a-2", "a-1"], || format!("listed {listed:?}"))?;
    let limited = ok(store.compiles("c-cc-a", 1).await, "list")?;
    check(limited.len() == 1 && limited[0].id == "a-2", || format!("limited {limited:?}"))?;
    check(ok(store.compiles("c-cc-none", 10).await, "list")?.is_empty(), || "compiles of no environment".into())
}

pub(super) async fn an_expired_claim_is_failed_as_abandoned_and_frees_its_environment(store: &dyn Store) -> CaseResult {
    with_environments(store, &["c-ce"]).await?;
    ok(store.request_compile("c-ce", "e-1", &trigger(TriggerKind::Api, 10, "")).await, "request")?;
    ok(store.claim_compile("dead-server", 1_000, 5_000).await, "claim")?.ok_or("not claimed")?;
    ok(store.request_compile("c-ce", "e-2", &trigger(TriggerKind::Api, 2_000, "")).await, "request")?;
    // Still live at 5,999: nothing to claim.
    check(ok(store.claim_compile("live-server", 5_999, 5_000).await, "claim")?.is_none(), || "claimed while the first claim is live".into())?;
    let next = ok(store.claim_compile("live-server", 6_001, 5_000).await, "claim")?.ok_or("the queued compile not claimed after the expiry")?;
    check(next.id == "e-2", || format!("claimed {next:?}"))?;
    let abandoned = ok(store.compile("c-ce", "e-1").await, "get")?.ok_or("e-1 gone")?;
    check(abandoned.state == CompileState::Failed && abandoned.finished_ms == Some(6_001) && abandoned.lease_expires_ms.is_none(), || format!("{abandoned:?}"))?;
    let summary = abandoned.report.as_ref().map(|r| r.summary.clone()).unwrap_or_default();
    check(summary.contains("abandoned") && summary.contains("dead-server"), || format!("the abandoned report says {summary:?}"))?;
    check(!ok(store.finish_compile("c-ce", "e-1", "dead-server", 7_000, &report(true)).await, "finish")?, || "the dead server's late report was taken".into())
}

pub(super) async fn deleting_an_environment_deletes_its_compiles(store: &dyn Store) -> CaseResult {
    with_environments(store, &["c-cd"]).await?;
    ok(store.request_compile("c-cd", "d-1", &trigger(TriggerKind::Api, 10, "")).await, "request")?;
    ok(store.claim_compile("s", 100, 5_000).await, "claim")?.ok_or("not claimed")?;
    ok(store.request_compile("c-cd", "d-2", &trigger(TriggerKind::Api, 20, "")).await, "request")?;
    check(ok(store.delete_environment("c-cd").await, "delete")?, || "nothing deleted".into())?;
    check(ok(store.compiles("c-cd", 10).await, "list")?.is_empty(), || "compiles outlived their environment".into())?;
    with_environments(store, &["c-cd"]).await?;
    let fresh = ok(store.request_compile("c-cd", "d-3", &trigger(TriggerKind::Api, 30, "")).await, "request")?;
    check(fresh.id == "d-3" && fresh.trigger_count == 1, || format!("a new environment of the name joined an old compile: {fresh:?}"))?;
    let claimed = ok(store.claim_compile("s", 200, 5_000).await, "claim")?;
    check(claimed.as_ref().map(|c| c.id.as_str()) == Some("d-3"), || format!("the old running compile still holds the name: {claimed:?}"))
}

pub(super) async fn concurrent_requests_and_claims_stay_one_per_environment(store: &dyn Store) -> CaseResult {
    with_environments(store, &["c-cx"]).await?;
    let requests = (0..16).map(|i| async move { store.request_compile("c-cx", &format!("x-{i}"), &trigger(TriggerKind::Webhook, 100 + i, "")).await });
    let results = futures_util::future::join_all(requests).await;
    let mut ids = BTreeSet::new();
    for result in results {
        ids.insert(ok(result, "request")?.id);
    }
    check(ids.len() == 1, || format!("concurrent requests made {} queued compiles: {ids:?}", ids.len()))?;
    let listed = ok(store.compiles("c-cx", 10).await, "list")?;
    check(listed.len() == 1 && listed[0].trigger_count == 16, || format!("{listed:?}"))?;
    let claims = (0..8).map(|i| async move { store.claim_compile(&format!("server-{i}"), 1_000, 30_000).await });
    let mut claimed: Vec<CompileRecord> = Vec::new();
    for result in futures_util::future::join_all(claims).await {
        if let Some(record) = ok(result, "claim")? {
            claimed.push(record);
        }
    }
    check(claimed.len() == 1, || format!("{} servers claimed the one compile", claimed.len()))?;
    let stored = ok(store.compile("c-cx", &claimed[0].id).await, "get")?.ok_or("gone")?;
    check(stored.server == claimed[0].server, || format!("claimed by {:?}, stored as {:?}", claimed[0].server, stored.server))
}
