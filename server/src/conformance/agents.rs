//! Conformance cases of agent sessions and primary election: heartbeats and expiry, leases
//! granted once among racing sessions, epochs, pause and preference, fenced writes, primary
//! changes.

use super::*;

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

pub(super) fn lease(agent: &str, session_id: &str, epoch: u64, expires_ms: u64) -> Lease {
    Lease { agent: agent.into(), session_id: session_id.into(), epoch, expires_ms }
}

/// A primary change as the cases compare it: agent, from, to, epoch, reason (its time is
/// the store's clock).
type ChangeRow = (String, Option<String>, Option<String>, u64, ChangeReason);

pub(super) fn change(agent: &str, from: Option<&str>, to: Option<&str>, epoch: u64, reason: ChangeReason) -> ChangeRow {
    (agent.into(), from.map(str::to_string), to.map(str::to_string), epoch, reason)
}

pub(super) fn changes_of(changes: &[PrimaryChange]) -> Vec<ChangeRow> {
    changes.iter().map(|c| (c.agent.clone(), c.from_session.clone(), c.to_session.clone(), c.epoch, c.reason)).collect()
}

pub(super) async fn register(store: &dyn Store, env: &str, ids: &[&str], at_ms: u64) -> CaseResult {
    for id in ids {
        ok(store.register_session(env, &session(id, &["a", "b"], at_ms)).await, "register")?;
    }
    Ok(())
}

pub(super) async fn sessions_heartbeat_expire_and_end(store: &dyn Store) -> CaseResult {
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
pub(super) async fn a_lease_is_granted_to_one_of_racing_sessions(store: &dyn Store) -> CaseResult {
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

pub(super) async fn renewal_keeps_the_epoch_and_a_new_holder_bumps_it(store: &dyn Store) -> CaseResult {
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

pub(super) async fn a_paused_agent_cannot_be_acquired(store: &dyn Store) -> CaseResult {
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

pub(super) async fn a_preferred_session_is_kept_and_changes_no_lease(store: &dyn Store) -> CaseResult {
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

pub(super) async fn fenced_writes_of_an_older_epoch_are_refused(store: &dyn Store) -> CaseResult {
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
pub(super) async fn stale_writes_racing_a_takeover_are_written_whole_or_not_at_all(store: &dyn Store) -> CaseResult {
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

pub(super) async fn primary_changes_are_listed_newest_first(store: &dyn Store) -> CaseResult {
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

pub(super) async fn deleting_an_environment_removes_its_agents(store: &dyn Store) -> CaseResult {
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

pub(super) async fn run_requests_count_per_environment(store: &dyn Store) -> CaseResult {
    let (env, other) = ("c-runs", "c-runs-other");
    let none = ok(store.run_requests(env).await, "run requests")?;
    check(none == RunRequests::default(), || format!("an environment without requests has {none:?}"))?;
    let first = ok(store.request_run(env, false).await, "request a deploy")?;
    check(first == RunRequests { deploys: 1, repairs: 0 }, || format!("after a deploy request: {first:?}"))?;
    ok(store.request_run(env, true).await, "request a repair")?;
    let both = ok(store.request_run(env, false).await, "request a deploy")?;
    check(both == RunRequests { deploys: 2, repairs: 1 }, || format!("after three requests: {both:?}"))?;
    check(ok(store.run_requests(env).await, "run requests")? == both, || "the counters read back differ".into())?;
    check(ok(store.run_requests(other).await, "run requests")? == RunRequests::default(), || "requests leaked into another environment".into())?;
    ok(store.create_environment(&EnvironmentRecord { id: "c-runs-id".into(), name: env.into(), created_ms: 1, settings: BTreeMap::new() }).await, "create")?;
    ok(store.delete_environment(env).await, "delete")?;
    let after = ok(store.run_requests(env).await, "run requests")?;
    check(after == RunRequests::default(), || format!("a deleted environment kept its requests: {after:?}"))
}
