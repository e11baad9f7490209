//! Conformance cases of environments and tokens: creation, settings, isolation, deletion of
//! everything of an environment, tokens by hash.

use super::*;

pub(super) async fn unknown_environment_has_nothing(store: &dyn Store) -> CaseResult {
    let env = "c-unknown";
    check(ok(store.resource_statuses(env).await, "statuses")?.is_empty(), || "statuses of an unknown environment".into())?;
    let logs = ok(store.action_logs(env, &ResourceId("t[a,k=1]".into())).await, "logs")?;
    check(logs.is_empty(), || "logs of an unknown environment".into())
}

pub(super) async fn environments_are_isolated(store: &dyn Store) -> CaseResult {
    ok(store.create_version("c-iso-a", &[doc("t[a,k=1]", "h")]).await, "create")?;
    ok(store.record("c-iso-a", &[result("t[a,k=1]", 1, ResourceState::Deployed, Some("h"))]).await, "record")?;
    check(ok(store.latest_version("c-iso-b").await, "latest")?.is_none(), || "a version leaked into another environment".into())?;
    check(ok(store.resource_statuses("c-iso-b").await, "statuses")?.is_empty(), || "a state leaked into another environment".into())?;
    let first_b = ok(store.create_version("c-iso-b", &[]).await, "create")?;
    check(first_b == 1, || format!("the other environment's first version is {first_b}"))
}

pub(super) async fn environments_are_created_once_and_listed_by_name(store: &dyn Store) -> CaseResult {
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

pub(super) async fn environment_settings_are_replaced(store: &dyn Store) -> CaseResult {
    let record = environment("c-settings", "00000000-0000-4000-8000-000000000001");
    ok(store.create_environment(&record).await, "create")?;
    let settings = BTreeMap::from([("auto_deploy".to_string(), serde_json::json!(false)), ("agent_trigger".to_string(), serde_json::json!("push"))]);
    ok(store.set_environment_settings("c-settings", &settings).await, "set")?;
    let got = ok(store.environment("c-settings").await, "get")?.ok_or("the environment went")?;
    check(got.settings == settings && got.id == record.id && got.created_ms == record.created_ms, || format!("after setting: {got:?}"))?;
    let missing = store.set_environment_settings("c-settings-none", &settings).await;
    check(matches!(missing, Err(StoreError::NotFound(_))), || format!("settings of no environment: {missing:?}"))
}

pub(super) async fn deleting_an_environment_removes_everything_of_it(store: &dyn Store) -> CaseResult {
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

pub(super) async fn tokens_are_found_by_their_hash(store: &dyn Store) -> CaseResult {
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
