//! The compile workers: each claims a queued compile from the store (whichever server of
//! those sharing it gets there first), runs its compile process while renewing the claim,
//! and stores the report. A compile process that outlives the time limit is killed with its
//! whole process group; one whose claim was lost (the store gave it to another server after
//! this one stalled) is killed and its report not written.

use super::git::GitCredentials;
use super::job::{self, Ended, JobSpec};
use super::{CompileConfig, CLAIM_TTL, DEFAULT_BRANCH};
use crate::http::auth::new_token;
use crate::records::{CompileRecord, CompileReport, Role};
use crate::store::{now_ms, Store};
use std::collections::BTreeMap;
use std::io::Read;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How often an idle worker looks for work when nobody kicks it.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// The most of a compile process's stdout read (its report).
const STDOUT_LIMIT: u64 = 64 * 1024 * 1024;
/// Compiler tokens this server mints live this long (a new one is minted before).
const TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// What the workers share.
pub struct Workers {
    pub store: Arc<dyn Store>,
    pub config: CompileConfig,
    /// The id this server claims compiles under.
    pub server: String,
    /// Woken when a compile is queued.
    pub kick: Arc<Notify>,
    /// Compiler tokens by environment, with when they were minted.
    tokens: Mutex<BTreeMap<String, (String, Instant)>>,
    stopping: Arc<AtomicBool>,
}

impl Workers {
    pub fn new(store: Arc<dyn Store>, config: CompileConfig, server: String, kick: Arc<Notify>) -> Arc<Workers> {
        Arc::new(Workers { store, config, server, kick, tokens: Mutex::default(), stopping: Arc::default() })
    }
}

/// Runs the worker pool until `stop` resolves; compiles still running then are stopped and
/// reported as stopped.
pub async fn run(workers: Arc<Workers>, stop: impl std::future::Future<Output = ()>) {
    if let Err(error) = std::fs::create_dir_all(&workers.config.work_dir).and_then(|()| restrict(&workers.config.work_dir)) {
        tracing::error!(folder = %workers.config.work_dir.display(), %error, "cannot make the compile work folder: the compile service is off");
        stop.await;
        return;
    }
    let mut handles = Vec::new();
    for _ in 0..workers.config.workers.max(1) {
        let workers = Arc::clone(&workers);
        handles.push(tokio::spawn(async move { work(workers).await }));
    }
    stop.await;
    workers.stopping.store(true, Ordering::SeqCst);
    workers.kick.notify_waiters();
    for handle in handles {
        let _ = handle.await;
    }
}

fn restrict(folder: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
}

async fn work(workers: Arc<Workers>) {
    while !workers.stopping.load(Ordering::SeqCst) {
        match workers.store.claim_compile(&workers.server, now_ms(), CLAIM_TTL.as_millis() as u64).await {
            Ok(Some(record)) => run_one(&workers, record).await,
            Ok(None) => {
                tokio::select! {
                    _ = workers.kick.notified() => {}
                    _ = tokio::time::sleep(IDLE_TICK) => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot claim a compile");
                tokio::time::sleep(IDLE_TICK).await;
            }
        }
    }
}

/// Runs one claimed compile to its report.
async fn run_one(workers: &Arc<Workers>, record: CompileRecord) {
    let started = Instant::now();
    tracing::info!(environment = %record.environment, compile = %record.id, "compile started");
    let mut report = match prepare_and_run(workers, &record).await {
        Ok(Some(report)) => report,
        // The claim went to another server: that one reports.
        Ok(None) => return,
        Err(summary) => CompileReport { summary, ..CompileReport::default() },
    };
    report.released_version = workers.store.released_version(&record.environment).await.ok().flatten();
    if !report.success {
        let stays = match report.released_version {
            Some(version) => format!("; version {version} stays released"),
            None => "; no version is released".to_string(),
        };
        report.summary.push_str(&stays);
    }
    match workers.store.finish_compile(&record.environment, &record.id, &workers.server, now_ms(), &report).await {
        Ok(true) => tracing::info!(
            environment = %record.environment, compile = %record.id, success = report.success, version = ?report.version,
            seconds = started.elapsed().as_secs_f64(), summary = %report.summary, "compile finished"
        ),
        Ok(false) => tracing::warn!(environment = %record.environment, compile = %record.id, "the compile's claim was lost: its report is not stored"),
        Err(error) => tracing::error!(environment = %record.environment, compile = %record.id, %error, "cannot store a compile's report"),
    }
}

/// `Ok(None)`: the claim was lost. `Err`: the compile could not be started (why).
async fn prepare_and_run(workers: &Arc<Workers>, record: &CompileRecord) -> Result<Option<CompileReport>, String> {
    let environment = workers
        .store
        .environment(&record.environment)
        .await
        .map_err(|e| format!("cannot read the environment: {e}"))?
        .ok_or_else(|| "the environment was deleted".to_string())?;
    let setting = |name: &str| environment.settings.get(name).and_then(serde_json::Value::as_str).map(str::to_string);
    let repo_url = setting("repo_url").ok_or_else(|| "the environment has no `repo_url` setting: nothing to compile".to_string())?;
    let branch = setting("repo_branch").unwrap_or_else(|| DEFAULT_BRANCH.to_string());
    let credentials = match setting("credentials").filter(|name| !name.is_empty()) {
        Some(name) => workers
            .config
            .credentials
            .get(&name)
            .cloned()
            .ok_or_else(|| format!("the credentials `{name}` the environment names are not in this server's configuration (--git-credentials)"))?,
        None => GitCredentials::default(),
    };
    let release = environment.settings.get("auto_release").and_then(serde_json::Value::as_bool).unwrap_or(false);
    let token = compiler_token(workers, &environment.name, &environment.id).await?;
    let folder = job::environment_folder(&workers.config, &environment);
    std::fs::create_dir_all(&folder).and_then(|()| restrict(&folder)).map_err(|e| format!("cannot make {}: {e}", folder.display()))?;
    let spec = JobSpec { environment: &environment, repo_url: &repo_url, branch: &branch, release, credentials: &credentials, token: &token };
    let command = job::command(&workers.config, &spec);
    let cancel = Arc::new(Mutex::new(None::<String>));
    let limit = workers.config.time_limit;
    let process = {
        let cancel = Arc::clone(&cancel);
        let stopping = Arc::clone(&workers.stopping);
        tokio::task::spawn_blocking(move || run_process(command, limit, &cancel, &stopping))
    };
    tokio::pin!(process);
    let mut renew = tokio::time::interval(CLAIM_TTL / 3);
    renew.tick().await;
    let mut lost = false;
    let ended = loop {
        tokio::select! {
            ended = &mut process => break ended.map_err(|e| format!("the compile's thread failed: {e}"))??,
            _ = renew.tick() => {
                let until = now_ms() + CLAIM_TTL.as_millis() as u64;
                match workers.store.renew_compile(&record.environment, &record.id, &workers.server, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost = true;
                        if let Ok(mut reason) = cancel.lock() {
                            *reason = Some("this server lost its claim on the compile".into());
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot renew a compile's claim"),
                }
            }
        }
    };
    if lost {
        return Ok(None);
    }
    Ok(Some(job::report(&ended, &workers.config, &branch)))
}

/// The environment's compiler token, minted when there is none or it gets old (cached by the
/// environment's id too: deleting an environment deletes its tokens, and one made again
/// under its name gets a new one).
async fn compiler_token(workers: &Workers, environment: &str, id: &str) -> Result<String, String> {
    let key = format!("{environment}/{id}");
    if let Ok(tokens) = workers.tokens.lock() {
        if let Some((token, minted)) = tokens.get(&key) {
            if minted.elapsed() < TOKEN_LIFETIME / 2 {
                return Ok(token.clone());
            }
        }
    }
    let expires = now_ms() + TOKEN_LIFETIME.as_millis() as u64;
    let (token, record) =
        new_token(Some(environment.to_string()), Role::Compiler, Some(expires), "compile service".into()).map_err(|e| format!("cannot make a token: {e}"))?;
    workers.store.create_token(&record).await.map_err(|e| format!("cannot store a token: {e}"))?;
    if let Ok(mut tokens) = workers.tokens.lock() {
        tokens.insert(key, (token.clone(), Instant::now()));
    }
    Ok(token)
}

/// Runs the compile process to its end, the time limit, or a cancel (the server stops, the
/// claim was lost); reads its output bounded.
fn run_process(mut command: std::process::Command, limit: Duration, cancel: &Mutex<Option<String>>, stopping: &AtomicBool) -> Result<Ended, String> {
    let mut child = command.spawn().map_err(|e| format!("cannot start the compile process: {e}"))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_bounded(stdout, STDOUT_LIMIT, false));
    let err_reader = std::thread::spawn(move || read_bounded(stderr, job::LOG_LIMIT as u64 * 4, true));
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    let mut cancelled = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        if Instant::now() >= deadline {
            timed_out = true;
            kill_group(&mut child);
            break child.wait().ok();
        }
        let reason = cancel.lock().ok().and_then(|r| r.clone());
        let reason = reason.or_else(|| stopping.load(Ordering::SeqCst).then(|| "the server stopped".to_string()));
        if let Some(reason) = reason {
            cancelled = Some(reason);
            kill_group(&mut child);
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Ended { status, stdout, stderr, timed_out, cancelled })
}

/// SIGKILL to the process's whole group (it leads one of its own): the plugin host goes too.
fn kill_group(child: &mut Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
}

/// Reads a stream to its end, keeping at most `limit` bytes: the first ones, or with
/// `keep_tail` the last ones.
fn read_bounded(stream: Option<impl Read>, limit: u64, keep_tail: bool) -> Vec<u8> {
    let Some(mut stream) = stream else { return Vec::new() };
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if keep_tail {
                    kept.extend_from_slice(&buffer[..n]);
                    if kept.len() as u64 > limit * 2 {
                        let drop = kept.len() - limit as usize;
                        kept.drain(..drop);
                    }
                } else if (kept.len() as u64) < limit {
                    let room = (limit as usize - kept.len()).min(n);
                    kept.extend_from_slice(&buffer[..room]);
                }
            }
        }
    }
    if keep_tail && kept.len() as u64 > limit {
        let drop = kept.len() - limit as usize;
        kept.drain(..drop);
    }
    kept
}
