//! Server-side agents: for each entry of an environment's agent map marked `autostart`, the
//! server runs an agent process of its own (`cairn agent --name NAME`, with the SSH target
//! when there is one) and keeps it running: started when the entry appears, restarted with
//! backoff when it exits, stopped (SIGTERM, then SIGKILL after a grace period) when the entry
//! goes or changes and when the server stops. The processes take part in the election like
//! any agent: a standby elsewhere takes over if one dies. Each environment's processes share
//! one agent token minted by this server and handed over in the process environment, never on
//! the command line.

use crate::agent_map::{from_settings, AgentMapEntry, Target};
use crate::http::auth::new_token;
use crate::records::Role;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the map is read and the processes checked.
const TICK: Duration = Duration::from_secs(1);
/// The longest wait before a process that keeps exiting is started again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a process may take to stop after SIGTERM.
const GRACE: Duration = Duration::from_secs(5);
/// The agent tokens this server mints live this long (a new one is minted before).
const TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

/// How to start an agent process.
#[derive(Clone, Debug)]
pub struct Launcher {
    /// The `cairn` binary.
    pub program: PathBuf,
    /// The server's own address, as the agents reach it (`http://127.0.0.1:PORT`).
    pub server_url: String,
}

impl Launcher {
    /// The command line of the agent process for `name` in `environment`.
    /// `secrets` are the environment's secret settings, handed over as environment variables.
    pub fn command(&self, environment: &str, name: &str, entry: &AgentMapEntry, secrets: &[(&'static str, String)]) -> Result<Command, String> {
        let mut command = Command::new(&self.program);
        command.args(["agent", "--server", &self.server_url, "-e", environment, "--name", name, "--exit-with-parent"]);
        match entry.check()? {
            Target::Local | Target::Api { .. } => {}
            Target::Ssh { .. } => {
                command.args(["--ssh", &entry.target]);
                if let Some(key) = &entry.key {
                    command.args(["--ssh-key", key]);
                }
                if let Some(known_hosts) = &entry.known_hosts {
                    command.args(["--known-hosts", known_hosts]);
                }
                if entry.sudo {
                    command.arg("--sudo");
                }
            }
        }
        // The agent's own environment: nothing of the server's secrets but the token.
        command.env_remove("CAIRN_ADMIN_TOKEN").env_remove("CAIRN_TOKEN").env("CAIRN_LOG_FORMAT", "json");
        for (variable, value) in secrets {
            command.env(variable, value);
        }
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        Ok(command)
    }
}

struct Running {
    wanted: Wanted,
    child: Option<Child>,
    /// When it may be started (again).
    next_start: Instant,
    backoff: Duration,
    started: Option<Instant>,
}

/// Supervises the server-side agents until `stop` resolves; then stops them all.
pub async fn run(store: Arc<dyn Store>, launcher: Launcher, stop: impl std::future::Future<Output = ()>) {
    let mut running: BTreeMap<(String, String), Running> = BTreeMap::new();
    let mut tokens: BTreeMap<String, (String, Instant)> = BTreeMap::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(TICK) => {}
        }
        let wanted = match wanted(store.as_ref()).await {
            Ok(wanted) => wanted,
            Err(error) => {
                tracing::warn!(%error, "cannot read the agent maps; the server-side agents keep running as they are");
                continue;
            }
        };
        // Gone or changed: stop.
        let stale: Vec<(String, String)> = running.iter().filter(|(key, r)| wanted.get(*key) != Some(&r.wanted)).map(|(key, _)| key.clone()).collect();
        for key in stale {
            if let Some(mut gone) = running.remove(&key) {
                if let Some(child) = gone.child.as_mut() {
                    tracing::info!(environment = %key.0, agent = %key.1, "stopping a server-side agent");
                    stop_child(child).await;
                }
            }
        }
        for (key, want) in wanted {
            let slot = running.entry(key.clone()).or_insert_with(|| Running {
                wanted: want.clone(),
                child: None,
                next_start: Instant::now(),
                backoff: Duration::from_secs(1),
                started: None,
            });
            if let Some(child) = slot.child.as_mut() {
                match child.try_wait() {
                    Ok(None) => {
                        // Running; a process that stayed up a while starts from a short backoff again.
                        if slot.started.is_some_and(|s| s.elapsed() > MAX_BACKOFF) {
                            slot.backoff = Duration::from_secs(1);
                        }
                        continue;
                    }
                    Ok(Some(status)) => {
                        tracing::warn!(environment = %key.0, agent = %key.1, %status, backoff_s = slot.backoff.as_secs(), "a server-side agent exited; it is started again");
                        slot.child = None;
                        slot.next_start = Instant::now() + slot.backoff;
                        slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
                    }
                    Err(error) => {
                        tracing::warn!(environment = %key.0, agent = %key.1, %error, "cannot check a server-side agent");
                        continue;
                    }
                }
            }
            if Instant::now() < slot.next_start {
                continue;
            }
            let token = match token(store.as_ref(), &mut tokens, &key.0).await {
                Ok(token) => token,
                Err(error) => {
                    tracing::warn!(environment = %key.0, %error, "cannot mint the agents' token");
                    continue;
                }
            };
            let entry = &want.entry;
            let spawned = launcher.command(&key.0, &key.1, entry, &want.secrets).and_then(|mut command| command.env("CAIRN_TOKEN", token).spawn().map_err(|e| e.to_string()));
            match spawned {
                Ok(child) => {
                    tracing::info!(environment = %key.0, agent = %key.1, target = %entry.target, pid = child.id(), "started a server-side agent");
                    slot.child = Some(child);
                    slot.started = Some(Instant::now());
                }
                Err(error) => {
                    tracing::warn!(environment = %key.0, agent = %key.1, %error, "cannot start a server-side agent");
                    slot.next_start = Instant::now() + slot.backoff;
                    slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
    for (key, mut gone) in running {
        if let Some(child) = gone.child.as_mut() {
            tracing::info!(environment = %key.0, agent = %key.1, "stopping a server-side agent: the server stops");
            stop_child(child).await;
        }
    }
}

/// The autostart entries of every environment, by (environment, agent name).
async fn wanted(store: &dyn Store) -> Result<BTreeMap<(String, String), Wanted>, String> {
    let mut wanted = BTreeMap::new();
    for environment in store.environments().await.map_err(|e| e.to_string())? {
        let secrets: Vec<(&'static str, String)> = crate::settings::SECRETS
            .iter()
            .filter_map(|(setting, variable)| Some((*variable, environment.settings.get(*setting)?.as_str()?.to_string())))
            .collect();
        for (name, entry) in from_settings(&environment.settings) {
            if entry.autostart && entry.check().is_ok() {
                wanted.insert((environment.name.clone(), name), Wanted { entry, secrets: secrets.clone() });
            }
        }
    }
    Ok(wanted)
}

/// An agent process as the map and the settings want it (a change of either restarts it).
#[derive(Clone, PartialEq)]
struct Wanted {
    entry: AgentMapEntry,
    secrets: Vec<(&'static str, String)>,
}

/// The agent token of an environment, minted when there is none or it gets old.
async fn token(store: &dyn Store, tokens: &mut BTreeMap<String, (String, Instant)>, environment: &str) -> Result<String, String> {
    if let Some((token, minted)) = tokens.get(environment) {
        if minted.elapsed() < TOKEN_LIFETIME / 2 {
            return Ok(token.clone());
        }
    }
    let expires = crate::store::now_ms() + TOKEN_LIFETIME.as_millis() as u64;
    let (token, record) = new_token(Some(environment.to_string()), Role::Agent, Some(expires), "server-side agents (autostart)".into()).map_err(|e| e.to_string())?;
    store.create_token(&record).await.map_err(|e| e.to_string())?;
    tokens.insert(environment.to_string(), (token.clone(), Instant::now()));
    Ok(token)
}

/// SIGTERM, a bounded wait, then SIGKILL; reaps the process either way.
async fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}
