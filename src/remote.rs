//! The commands that talk to a server: `cairn server` itself, `env`, `token`, `status`,
//! `export --server`, and `versions`/`resources` with `-e ENV`. Every one reads the server's
//! address from `--server` or `CAIRN_SERVER` and the token from `--token` or `CAIRN_TOKEN`,
//! prints tables for people and `--json` for scripts, and shows a server's error as one line
//! with its HTTP status.

use crate::print::{build_reported, CompileArgs, plural, summary};
use crate::inspect::timestamp;
use cairn_server::client::{Client, ClientError};
use cairn_server::http::types::TokenCreate;
use cairn_server::records::Role;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use termcolor::StandardStream;

/// Where the server is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub struct Remote {
    /// The server's address, `http://HOST:PORT`.
    #[arg(long, env = "CAIRN_SERVER")]
    pub server: Option<String>,
    /// The bearer token (better given through CAIRN_TOKEN: arguments are visible to other
    /// users of the machine).
    #[arg(long, env = "CAIRN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The repository an environment is compiled from (the autonomous server,
/// `docs/autonomous.md`): shorthands for the settings `repo_url`, `repo_branch`,
/// `auto_release`, `poll_interval` and `credentials`.
#[derive(Args, Debug, Clone, Default)]
pub struct Repository {
    /// The Git repository the server compiles (file://, git://, ssh:// or https://).
    #[arg(long)]
    pub repo: Option<String>,
    /// Its branch (default `main`).
    #[arg(long)]
    pub branch: Option<String>,
    /// Release every version compiled from the repository (`--auto-release=false` to stop).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub auto_release: Option<bool>,
    /// Seconds between polls of the repository (0: only the webhook and `cairn compile`).
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<u64>,
    /// The name of credentials in the server's configuration (--git-credentials).
    #[arg(long, value_name = "NAME")]
    pub credentials: Option<String>,
}

impl Repository {
    /// The settings these flags give.
    pub fn settings(&self) -> Vec<(String, serde_json::Value)> {
        let mut out = Vec::new();
        if let Some(url) = &self.repo {
            out.push(("repo_url".to_string(), serde_json::Value::from(url.clone())));
        }
        if let Some(branch) = &self.branch {
            out.push(("repo_branch".to_string(), serde_json::Value::from(branch.clone())));
        }
        if let Some(release) = self.auto_release {
            out.push(("auto_release".to_string(), serde_json::Value::from(release)));
        }
        if let Some(seconds) = self.poll_interval {
            out.push(("poll_interval".to_string(), serde_json::Value::from(seconds)));
        }
        if let Some(name) = &self.credentials {
            out.push(("credentials".to_string(), serde_json::Value::from(name.clone())));
        }
        out
    }
}

#[derive(Subcommand, Debug)]
pub enum EnvCommand {
    /// Create an environment.
    Create {
        /// Lower-case letters, digits, `-`, `_` and `.`.
        name: String,
        #[command(flatten)]
        repository: Repository,
        #[command(flatten)]
        remote: Remote,
        /// Print the created environment as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the environments.
    List {
        #[command(flatten)]
        remote: Remote,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Change settings of an environment: `KEY=VALUE` (the value as JSON when it is JSON,
    /// else as text), `KEY=` to remove one. Secrets such as `pdns_api_key` are stored but never
    /// shown again.
    Set {
        env: String,
        #[arg(value_name = "KEY=VALUE", required_unless_present_any = ["repo", "branch", "auto_release", "poll_interval", "credentials"])]
        settings: Vec<String>,
        #[command(flatten)]
        repository: Repository,
        #[command(flatten)]
        remote: Remote,
    },
    /// Say where an agent name runs: `local:` (on the server's machine), `ssh://USER@HOST:PORT`
    /// (agentless, over SSH from the server; needs --key and --known-hosts, paths on the
    /// server) or an API endpoint `https://...`. With --autostart the server starts and
    /// supervises an agent process for it.
    SetAgent {
        env: String,
        name: String,
        target: String,
        /// The private key for an SSH target (a path on the server).
        #[arg(long)]
        key: Option<String>,
        /// The known-hosts file the target's host key must be in (a path on the server).
        #[arg(long)]
        known_hosts: Option<String>,
        /// Run commands and file changes through `sudo -n` on the SSH target.
        #[arg(long)]
        sudo: bool,
        /// The server runs an agent process for this name.
        #[arg(long)]
        autostart: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove an agent name from the agent map (a server-side agent for it is stopped).
    UnsetAgent {
        env: String,
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show the agent map of an environment.
    AgentMap {
        env: String,
        #[command(flatten)]
        remote: Remote,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn print_agent_map(map: &cairn_server::http::agent_map::AgentMapBody, json: bool) -> ExitCode {
    if json {
        return print_json(map);
    }
    let mut out = std::io::stdout();
    if map.agents.is_empty() {
        let _ = writeln!(out, "the agent map is empty");
    }
    for (name, entry) in &map.agents {
        let mut options = Vec::new();
        if let Some(key) = &entry.key {
            options.push(format!("key {key}"));
        }
        if let Some(known_hosts) = &entry.known_hosts {
            options.push(format!("known hosts {known_hosts}"));
        }
        if entry.sudo {
            options.push("sudo".to_string());
        }
        if entry.autostart {
            options.push("autostart".to_string());
        }
        let options = if options.is_empty() { String::new() } else { format!(" ({})", options.join(", ")) };
        let _ = writeln!(out, "{name} -> {}{options}", entry.target);
    }
    ExitCode::SUCCESS
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it (only the token, on stdout): the server keeps only its
    /// hash, so it cannot be shown again.
    Create {
        /// The environment it is for; without it, a token for every environment (admin only).
        #[arg(short = 'e', long, env = "CAIRN_ENVIRONMENT")]
        environment: Option<String>,
        /// What it may do: agent, compiler, api or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Refuse it after this many seconds.
        #[arg(long)]
        expires_in: Option<u64>,
        /// A note stored with it.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("unknown role `{text}` (agent, compiler, api or admin)"))
}

pub fn fail(stderr: &mut StandardStream, error: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(stderr, "error: {error}");
    ExitCode::FAILURE
}

fn client(remote: &Remote) -> Result<Client, ClientError> {
    let server = remote
        .server
        .as_deref()
        .ok_or_else(|| ClientError::Invalid("which server? give --server URL or set CAIRN_SERVER".into()))?;
    Client::new(server, remote.token.clone())
}

fn runtime() -> Result<tokio::runtime::Runtime, ClientError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| ClientError::Invalid(format!("cannot start the runtime: {e}")))
}

/// Runs `work` against the server and turns its error into one line.
pub fn with_client<T>(remote: &Remote, stderr: &mut StandardStream, work: impl AsyncFnOnce(&Client) -> Result<T, ClientError>) -> Result<T, ExitCode> {
    let outcome = client(remote).and_then(|client| runtime().and_then(|rt| rt.block_on(work(&client))));
    outcome.map_err(|error| fail(stderr, error))
}

pub fn print_json(value: &impl serde::Serialize) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            let _ = writeln!(std::io::stdout(), "{text}");
            ExitCode::SUCCESS
        }
        Err(_) => ExitCode::FAILURE,
    }
}

pub fn server(args: cairn_server::run::ServerArgs, stderr: &mut StandardStream) -> ExitCode {
    cairn_server::run::init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(stderr, format!("cannot start the runtime: {error}")),
    };
    match runtime.block_on(cairn_server::run::serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(stderr, error),
    }
}

pub fn env(command: EnvCommand, stderr: &mut StandardStream) -> ExitCode {
    match command {
        EnvCommand::Create { name, repository, remote, json } => {
            let settings: std::collections::BTreeMap<String, serde_json::Value> = repository.settings().into_iter().collect();
            let Ok(record) = with_client(&remote, stderr, async |c| c.create_environment_with(&name, &settings).await) else { return ExitCode::FAILURE };
            if json {
                return print_json(&record);
            }
            let _ = writeln!(std::io::stdout(), "created environment {} ({})", record.name, record.id);
            ExitCode::SUCCESS
        }
        EnvCommand::Set { env, settings, repository, remote } => {
            let mut changes: Vec<(String, Option<serde_json::Value>)> = repository.settings().into_iter().map(|(k, v)| (k, Some(v))).collect();
            for item in &settings {
                let Some((key, value)) = item.split_once('=') else { return fail(stderr, format!("`{item}` is not KEY=VALUE")) };
                let value = if value.is_empty() { None } else { Some(serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()))) };
                changes.push((key.to_string(), value));
            }
            let Ok(record) = with_client(&remote, stderr, async |c| {
                let mut current = c.environment(&env).await?.settings;
                for (key, value) in &changes {
                    match value {
                        Some(value) => current.insert(key.clone(), value.clone()),
                        None => current.remove(key),
                    };
                }
                c.set_settings(&env, &current).await
            }) else {
                return ExitCode::FAILURE;
            };
            let mut out = std::io::stdout();
            for (key, value) in &record.settings {
                let _ = writeln!(out, "{key} = {value}");
            }
            ExitCode::SUCCESS
        }
        EnvCommand::SetAgent { env, name, target, key, known_hosts, sudo, autostart, remote } => {
            let entry = cairn_server::agent_map::AgentMapEntry { target, key, known_hosts, sudo, autostart };
            if let Err(error) = entry.check() {
                return fail(stderr, error);
            }
            let Ok(map) = with_client(&remote, stderr, async |c| c.set_agent_target(&env, &name, Some(&entry)).await) else { return ExitCode::FAILURE };
            print_agent_map(&map, false)
        }
        EnvCommand::UnsetAgent { env, name, remote } => {
            let Ok(map) = with_client(&remote, stderr, async |c| c.set_agent_target(&env, &name, None).await) else { return ExitCode::FAILURE };
            print_agent_map(&map, false)
        }
        EnvCommand::AgentMap { env, remote, json } => {
            let Ok(map) = with_client(&remote, stderr, async |c| c.agent_map(&env).await) else { return ExitCode::FAILURE };
            print_agent_map(&map, json)
        }
        EnvCommand::List { remote, json } => {
            let Ok(environments) = with_client(&remote, stderr, async |c| c.environments().await) else { return ExitCode::FAILURE };
            if json {
                return print_json(&environments);
            }
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{:<24} {:<36}  {}", "name", "id", "created (UTC)");
            for environment in &environments {
                let _ = writeln!(out, "{:<24} {:<36}  {}", environment.name, environment.id, timestamp(environment.created_ms));
            }
            ExitCode::SUCCESS
        }
    }
}

pub fn token(command: TokenCommand, stderr: &mut StandardStream) -> ExitCode {
    let TokenCommand::Create { environment, role, expires_in, description, remote } = command;
    let request = TokenCreate { environment, role, expires_in_seconds: expires_in, description };
    let Ok(created) = with_client(&remote, stderr, async |c| c.create_token(&request).await) else { return ExitCode::FAILURE };
    // Only the token: scripts capture it with `$(cairn token create ...)`.
    let _ = writeln!(std::io::stdout(), "{}", created.token);
    ExitCode::SUCCESS
}

pub fn status(remote: &Remote, environment: &str, json: bool, stderr: &mut StandardStream) -> ExitCode {
    let Ok(status) = with_client(remote, stderr, async |c| c.status(environment).await) else { return ExitCode::FAILURE };
    if json {
        return print_json(&status);
    }
    let mut out = std::io::stdout();
    let version = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "none".into());
    let _ = writeln!(out, "environment {}", status.environment);
    let _ = writeln!(out, "  latest version    {}", version(status.latest_version));
    let _ = writeln!(out, "  released version  {}", version(status.released_version));
    let total: u64 = status.resources.values().sum();
    let _ = writeln!(out, "  resources         {total}");
    for (state, count) in &status.resources {
        let _ = writeln!(out, "    {state:<22}{count:>8}");
    }
    if status.agents.is_empty() {
        let _ = writeln!(out, "  agents            none connected");
    }
    for agent in &status.agents {
        let primary = agent.primary.as_ref().map(|p| format!("{} pid {}", p.host, p.pid)).unwrap_or_else(|| "no primary".into());
        let paused = if agent.paused { " (paused)" } else { "" };
        let _ = writeln!(out, "  agent {}: {primary}{paused}, {} standing by", agent.name, agent.standby.len());
    }
    ExitCode::SUCCESS
}

pub fn versions(remote: &Remote, environment: &str, json: bool, stderr: &mut StandardStream) -> ExitCode {
    let Ok(list) = with_client(remote, stderr, async |c| c.versions(environment).await) else { return ExitCode::FAILURE };
    if json {
        return print_json(&list.versions);
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{:>8}  {:<19}  {:>9}  released", "version", "created (UTC)", "resources");
    for version in &list.versions {
        let released = if version.released { "yes" } else { "" };
        let _ = writeln!(out, "{:>8}  {:<19}  {:>9}  {released}", version.version, timestamp(version.created_ms), version.resource_count);
    }
    ExitCode::SUCCESS
}

pub fn resources(remote: &Remote, environment: &str, state: Option<&str>, json: bool, stderr: &mut StandardStream) -> ExitCode {
    let all = with_client(remote, stderr, async |c| {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = c.resources(environment, state, after.as_deref(), 1000).await?;
            all.extend(page.resources);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    });
    let Ok(all) = all else { return ExitCode::FAILURE };
    if json {
        return print_json(&all);
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{:<22} {:>7}  resource", "state", "version");
    for status in &all {
        let _ = writeln!(out, "{:<22} {:>7}  {}", status.state.as_str(), status.version, status.resource);
    }
    ExitCode::SUCCESS
}

/// `cairn export --server URL -e ENV [--release]`: compile here, upload the file bodies the
/// server lacks and the version (streamed), print the version's number.
pub fn export(project: &Path, args: &CompileArgs, remote: &Remote, environment: Option<&str>, release: bool, stderr: &mut StandardStream) -> ExitCode {
    let Some(environment) = environment else { return fail(stderr, "which environment? give -e ENV or set CAIRN_ENVIRONMENT") };
    let Some(build) = build_reported(project, args, stderr) else { return ExitCode::FAILURE };
    let resources = std::sync::Arc::new(build.documents());
    let files = build.files();
    let count = resources.len();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = std::time::Instant::now();
    let uploaded = with_client(remote, stderr, async |c| c.upload_version(environment, resources, &files, release, sent.clone()).await);
    let Ok(created) = uploaded else { return ExitCode::FAILURE };
    let bytes = sent.load(std::sync::atomic::Ordering::Relaxed);
    let _ = writeln!(
        stderr,
        "{}; uploaded {} ({bytes} bytes) to {environment} in {:.2} s{}",
        summary(&build),
        plural(count, "resource"),
        started.elapsed().as_secs_f64(),
        if created.released { ", released" } else { "" }
    );
    // The number alone on stdout, for scripts.
    let _ = writeln!(std::io::stdout(), "{}", created.version);
    std::mem::forget(build);
    ExitCode::SUCCESS
}
