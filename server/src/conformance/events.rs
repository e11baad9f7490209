//! Conformance cases of the event log: one sequence over every environment, read in id
//! order from any id, filtered by environment; pruning by age that never lowers the last id
//! given; a change of primary written by the store itself; concurrent appends each numbered
//! once and readable with no hole. Other cases may share the backend, so every check looks
//! at this case's own environments, and ids are compared with each other, never with fixed
//! numbers.

use super::*;
use crate::events::{Event, EventKind, NewEvent};

fn event(environment: &str, kind: EventKind, n: u64) -> NewEvent {
    NewEvent { time_ms: crate::store::now_ms(), environment: environment.into(), kind, data: serde_json::json!({ "n": n, "text": "ü \"quoted\"" }) }
}

async fn all_of(store: &dyn Store, environment: &str) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = ok(store.events(after, Some(environment), 7).await, "read events")?;
        let Some(last) = page.last() else { return Ok(out) };
        after = last.id;
        out.extend(page);
    }
}

pub(super) async fn events_are_one_sequence_read_in_order(store: &dyn Store) -> CaseResult {
    let (a, b) = ("events-seq-a", "events-seq-b");
    let (_, before) = ok(store.event_bounds().await, "bounds")?;
    let first = ok(store.append_events(&[event(a, EventKind::VersionUploaded, 1), event(b, EventKind::VersionUploaded, 2)]).await, "append")?;
    let second = ok(store.append_events(&[event(a, EventKind::VersionReleased, 3)]).await, "append")?;
    check(first > before && second > first, || format!("ids do not grow: before {before}, then {first}, then {second}"))?;
    let (_, last) = ok(store.event_bounds().await, "bounds")?;
    check(last >= second, || format!("the last id given is {last}, below {second}"))?;
    let of_a = all_of(store, a).await?;
    let numbers: Vec<u64> = of_a.iter().map(|e| e.data["n"].as_u64().unwrap_or(0)).collect();
    check(numbers == [1, 3], || format!("environment a's events are {numbers:?}"))?;
    check(of_a[0].kind == "version.uploaded" && of_a[1].kind == "version.released", || format!("kinds {of_a:?}"))?;
    check(of_a[0].data["text"] == "ü \"quoted\"" && of_a[0].environment == a, || format!("read back {:?}", of_a[0]))?;
    check(of_a[0].id < of_a[1].id, || "not in id order".into())?;
    let of_b = all_of(store, b).await?;
    check(of_b.len() == 1 && of_b[0].data["n"] == 2, || format!("environment b's events are {of_b:?}"))?;
    // Every environment's, from just before this case's first event.
    let everything = ok(store.events(of_a[0].id - 1, None, 100_000).await, "read all")?;
    let ours: Vec<u64> = everything.iter().filter(|e| e.environment == a || e.environment == b).map(|e| e.data["n"].as_u64().unwrap_or(0)).collect();
    check(ours == [1, 2, 3], || format!("all environments' events, ours: {ours:?}"))?;
    check(everything.windows(2).all(|w| w[0].id < w[1].id), || "all events are not in id order".into())?;
    let none = ok(store.events(of_a[1].id, Some(a), 10).await, "read after the last")?;
    check(none.is_empty(), || format!("events after the last: {none:?}"))?;
    let empty = ok(store.append_events(&[]).await, "append nothing")?;
    check(empty >= second, || format!("appending nothing returned {empty}"))
}

pub(super) async fn pruning_removes_old_events_and_keeps_the_last_id(store: &dyn Store) -> CaseResult {
    let env = "events-prune";
    let mut old = event(env, EventKind::AgentUp, 1);
    old.time_ms = 1_000;
    ok(store.append_events(&[old]).await, "append old")?;
    let kept = ok(store.append_events(&[event(env, EventKind::AgentDown, 2)]).await, "append new")?;
    let pruned = ok(store.prune_events(2_000).await, "prune")?;
    check(pruned >= 1, || format!("pruning removed {pruned}"))?;
    let left = all_of(store, env).await?;
    check(left.len() == 1 && left[0].data["n"] == 2, || format!("after pruning: {left:?}"))?;
    let (first, last) = ok(store.event_bounds().await, "bounds")?;
    check(first.is_some_and(|f| f <= kept) && last >= kept, || format!("bounds after pruning: {first:?}, {last}"))?;
    let next = ok(store.append_events(&[event(env, EventKind::AgentUp, 3)]).await, "append after pruning")?;
    check(next > kept, || format!("an id was given again after pruning: {next} after {kept}"))
}

pub(super) async fn a_change_of_primary_is_an_event(store: &dyn Store) -> CaseResult {
    let env = "events-primary";
    ok(store.create_environment(&environment(env, "00000000-0000-4000-8000-00000000e001")).await, "create environment")?;
    ok(store.register_session(env, &session("s1", &["web"], 1_000)).await, "register")?;
    ok(store.acquire_lease(env, "web", "s1", 1_000, 60_000, false).await, "acquire")?.ok_or("no lease")?;
    ok(store.acquire_lease(env, "web", "s1", 2_000, 60_000, false).await, "renew")?.ok_or("no renewal")?;
    ok(store.end_session(env, "s1").await, "end")?;
    let events = all_of(store, env).await?;
    let changes: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e.kind == "agent.primary")
        .map(|e| (e.data["agent"].to_string(), e.data["to_session"].to_string(), e.data["reason"].to_string()))
        .collect();
    let expected = vec![
        ("\"web\"".to_string(), "\"s1\"".to_string(), format!("\"{}\"", ChangeReason::Free.as_str())),
        ("\"web\"".to_string(), "null".to_string(), format!("\"{}\"", ChangeReason::SessionEnded.as_str())),
    ];
    check(changes == expected, || format!("primary events {changes:?}, expected {expected:?}"))?;
    ok(store.delete_environment(env).await, "delete")?;
    let after_delete = all_of(store, env).await?;
    check(after_delete.is_empty(), || format!("a deleted environment's events are still there: {after_delete:?}"))
}

pub(super) async fn concurrent_appends_are_numbered_once_with_no_hole(store: &dyn Store) -> CaseResult {
    let env = "events-concurrent";
    let appends = (0..16u64).map(|writer| {
        let batch: Vec<NewEvent> = (0..10).map(|n| event(env, EventKind::ResourceState, writer * 100 + n)).collect();
        async move { store.append_events(&batch).await }
    });
    for outcome in futures_util::future::join_all(appends).await {
        ok(outcome, "concurrent append")?;
    }
    let events = all_of(store, env).await?;
    check(events.len() == 160, || format!("{} events read back, not 160", events.len()))?;
    let ids: BTreeSet<u64> = events.iter().map(|e| e.id).collect();
    check(ids.len() == 160, || "an id was given twice".into())?;
    let numbers: BTreeSet<u64> = events.iter().map(|e| e.data["n"].as_u64().unwrap_or(u64::MAX)).collect();
    check(numbers.len() == 160, || "an event was read twice or lost".into())?;
    // Each writer's batch reads back in the order it was appended.
    for writer in 0..16u64 {
        let own: Vec<u64> = events.iter().filter_map(|e| e.data["n"].as_u64()).filter(|n| n / 100 == writer).collect();
        check(own == (0..10).map(|n| writer * 100 + n).collect::<Vec<_>>(), || format!("writer {writer}'s events read back as {own:?}"))?;
    }
    Ok(())
}
