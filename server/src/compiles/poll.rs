//! The poll timer: every environment with a repository and a `poll_interval` above 0 has its
//! branch looked at that often; a commit other than the one its last compile compiled queues
//! a compile (trigger `poll`). Nothing is kept in memory but when each environment is due: the
//! store says what was compiled, so several servers polling one environment queue one compile
//! (the queue coalesces).

use super::git::{remote_head, GitCredentials};
use super::DEFAULT_BRANCH;
use crate::records::{CompileState, Trigger, TriggerKind};
use crate::store::{now_ms, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const TICK: Duration = Duration::from_secs(1);

/// Polls until `stop` resolves.
pub async fn run(store: Arc<dyn Store>, credentials: BTreeMap<String, GitCredentials>, kick: Arc<Notify>, stop: impl std::future::Future<Output = ()>) {
    let mut due: BTreeMap<String, Instant> = BTreeMap::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        let Ok(environments) = store.environments().await else { continue };
        for environment in environments {
            let settings = &environment.settings;
            let interval = settings.get("poll_interval").and_then(serde_json::Value::as_u64).unwrap_or(0);
            let Some(url) = settings.get("repo_url").and_then(serde_json::Value::as_str) else { continue };
            if interval == 0 {
                due.remove(&environment.name);
                continue;
            }
            let now = Instant::now();
            let next = due.entry(environment.name.clone()).or_insert(now);
            if *next > now {
                continue;
            }
            *next = now + Duration::from_secs(interval);
            let branch = settings.get("repo_branch").and_then(serde_json::Value::as_str).unwrap_or(DEFAULT_BRANCH).to_string();
            let creds = settings
                .get("credentials")
                .and_then(serde_json::Value::as_str)
                .and_then(|name| credentials.get(name))
                .cloned()
                .unwrap_or_default();
            if let Err(error) = poll_one(&*store, &environment.name, url, &branch, creds, &kick).await {
                tracing::warn!(environment = %environment.name, %error, "cannot poll the repository");
            }
        }
    }
}

async fn poll_one(store: &dyn Store, environment: &str, url: &str, branch: &str, credentials: GitCredentials, kick: &Notify) -> Result<(), String> {
    // A compile queued or running will see the newest commit anyway.
    let last = store.compiles(environment, 1).await.map_err(|e| e.to_string())?.into_iter().next();
    if last.as_ref().is_some_and(|c| matches!(c.state, CompileState::Queued | CompileState::Running)) {
        return Ok(());
    }
    let (url_owned, branch_owned) = (url.to_string(), branch.to_string());
    let head = tokio::task::spawn_blocking(move || remote_head(&url_owned, &branch_owned, &credentials))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let Some(head) = head else { return Err(format!("the repository has no branch `{branch}`")) };
    if last.as_ref().and_then(|c| c.report.as_ref()).and_then(|r| r.commit.as_deref()) == Some(head.as_str()) {
        return Ok(());
    }
    let id = crate::http::auth::new_uuid().map_err(|e| e.to_string())?;
    let trigger = Trigger { kind: TriggerKind::Poll, at_ms: now_ms(), detail: format!("{branch} is at {head}") };
    store.request_compile(environment, &id, &trigger).await.map_err(|e| e.to_string())?;
    tracing::info!(%environment, commit = %head, "poll: a new commit, compile queued");
    kick.notify_one();
    Ok(())
}
