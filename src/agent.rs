//! The agent commands: `cairn agent --server URL -e ENV --name A [--name B ...]` runs an
//! agent process (its session, its deploys) until SIGTERM; `cairn agents -e ENV` lists the
//! agent names with their primary and standbys and the latest changes of primary; `cairn
//! agent pause|resume|prefer NAME` change the election through the API; `cairn deploy
//! --server URL -e ENV [--full]` asks the primaries for a deploy (or a repair run).

use crate::inspect::timestamp;
use crate::remote::{fail, print_json, with_client, Remote};
use cairn_server::http::types::{AgentProcess, AgentStatus, PreferRequest};
use clap::{Args, Subcommand};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use termcolor::StandardStream;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AgentCli {
    #[command(subcommand)]
    pub command: Option<AgentCommand>,
    #[command(flatten)]
    pub run: AgentRun,
}

/// Runs an agent process.
#[derive(Args, Debug)]
pub struct AgentRun {
    #[command(flatten)]
    pub remote: Remote,
    /// The environment whose agent names this process hosts.
    #[arg(short = 'e', long, env = "CAIRN_ENVIRONMENT", required = true)]
    pub environment: Option<String>,
    /// An agent name to host (a device, an API endpoint): repeat for several. The server
    /// makes this process the primary of each name nobody else holds.
    #[arg(long = "name", required = true)]
    pub names: Vec<String>,
    /// The host name the server shows for this process.
    #[arg(long, env = "CAIRN_AGENT_HOST")]
    pub host: Option<String>,
    /// Resources deployed at the same time, per agent name.
    #[arg(long, default_value_t = 8, env = "CAIRN_PARALLELISM", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// How log lines are written to stderr.
    #[arg(long, env = "CAIRN_LOG_FORMAT", value_enum, default_value_t = cairn_server::run::LogFormat::Text)]
    pub log_format: cairn_server::run::LogFormat,
    /// Act on this host over SSH instead of on the local machine (agentless): every
    /// resource of the names hosted here is read and changed through `ssh://USER@HOST:PORT`.
    #[arg(long, value_name = "ssh://USER@HOST:PORT", requires_all = ["ssh_key", "known_hosts"])]
    pub ssh: Option<String>,
    /// The private key for --ssh (key authentication only).
    #[arg(long, value_name = "FILE", requires = "ssh")]
    pub ssh_key: Option<std::path::PathBuf>,
    /// The known-hosts file the --ssh target's host key must be in (checked strictly: an
    /// unknown or changed key fails every resource, and nothing is sent).
    #[arg(long, value_name = "FILE", requires = "ssh")]
    pub known_hosts: Option<std::path::PathBuf>,
    /// Run commands and file changes on the --ssh target through `sudo -n`.
    #[arg(long, requires = "ssh")]
    pub sudo: bool,
    /// Exit when the process that started this one is gone (the server starts its
    /// server-side agents with it, so a server killed with SIGKILL leaves none behind).
    #[arg(long, hide = true)]
    pub exit_with_parent: bool,
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Pause an agent name: its primary stops (what is in flight finishes) and no process
    /// deploys it until it is resumed.
    Pause(AgentName),
    /// Resume a paused agent name.
    Resume(AgentName),
    /// Choose the process that should be the primary of an agent name whenever it is
    /// connected (by its host, or its session id from `cairn agents`); `--clear` forgets the
    /// choice.
    Prefer {
        #[command(flatten)]
        agent: AgentName,
        /// The host of the process to prefer.
        #[arg(long, conflicts_with_all = ["session", "clear"], required_unless_present_any = ["session", "clear"])]
        host: Option<String>,
        /// The session id of the process to prefer.
        #[arg(long, conflicts_with = "clear")]
        session: Option<String>,
        /// Prefer no process.
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Args, Debug)]
pub struct AgentName {
    /// The agent name.
    pub name: String,
    #[command(flatten)]
    pub remote: Remote,
    /// The environment.
    #[arg(short = 'e', long, env = "CAIRN_ENVIRONMENT", required = true)]
    pub environment: String,
    /// Print the agent name's state as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn agent(cli: AgentCli, stderr: &mut StandardStream) -> ExitCode {
    match cli.command {
        None => run(cli.run, stderr),
        Some(AgentCommand::Pause(name)) => change(&name, stderr, async |c| c.pause_agent(&name.environment, &name.name, true).await),
        Some(AgentCommand::Resume(name)) => change(&name, stderr, async |c| c.pause_agent(&name.environment, &name.name, false).await),
        Some(AgentCommand::Prefer { agent, host, session, clear: _ }) => {
            let choice = PreferRequest { session, host };
            change(&agent, stderr, async |c| c.prefer_agent(&agent.environment, &agent.name, &choice).await)
        }
    }
}

fn change(
    name: &AgentName,
    stderr: &mut StandardStream,
    work: impl AsyncFnOnce(&cairn_server::client::Client) -> Result<AgentStatus, cairn_server::client::ClientError>,
) -> ExitCode {
    let Ok(status) = with_client(&name.remote, stderr, work) else { return ExitCode::FAILURE };
    if name.json {
        return print_json(&status);
    }
    let _ = writeln!(std::io::stdout(), "{}", describe(&status));
    ExitCode::SUCCESS
}

fn process(process: &AgentProcess) -> String {
    format!("{} pid {} (session {})", process.host, process.pid, process.session)
}

/// One line of an agent name's state.
fn describe(status: &AgentStatus) -> String {
    let primary = match &status.primary {
        Some(primary) => format!("primary {}, epoch {}", process(primary), status.epoch),
        None => "no primary".to_string(),
    };
    let paused = if status.paused { ", paused" } else { "" };
    let preferred = status.preferred.as_deref().map(|p| format!(", prefers session {p}")).unwrap_or_default();
    format!("{}: {primary}{paused}{preferred}; {} standing by", status.name, status.standby.len())
}

fn run(args: AgentRun, stderr: &mut StandardStream) -> ExitCode {
    cairn_server::run::init_logging(args.log_format);
    if args.exit_with_parent {
        let parent = rustix::process::getppid();
        let watcher = std::thread::Builder::new().name("parent-watch".into()).spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if rustix::process::getppid() != parent {
                eprintln!("cairn agent: the server that started this agent is gone: exiting");
                std::process::exit(0);
            }
        });
        if let Err(error) = watcher {
            return fail(stderr, format!("cannot watch the parent process: {error}"));
        }
    }
    let Some(server) = args.remote.server.clone() else { return fail(stderr, "which server? give --server URL or set CAIRN_SERVER") };
    let Some(environment) = args.environment.clone() else { return fail(stderr, "which environment? give -e ENV or set CAIRN_ENVIRONMENT") };
    let config = cairn_agent::remote::RemoteConfig {
        server,
        environment,
        names: args.names.clone(),
        token: args.remote.token.clone(),
        host: args.host.clone().unwrap_or_else(cairn_server::run::host_name),
        parallelism: usize::from(args.parallelism),
        report_interval: std::time::Duration::from_millis(20),
    };
    let handlers = Arc::new(cairn_pipeline::shipped_modules().handlers);
    let io: Arc<dyn cairn_agent::Io> = match (&args.ssh, &args.ssh_key, &args.known_hosts) {
        (Some(url), Some(key), Some(known_hosts)) => {
            let target = match cairn_agent::SshTarget::from_url(url, key.clone(), known_hosts.clone(), args.sudo) {
                Ok(target) => target,
                Err(error) => return fail(stderr, format!("--ssh {url}: {error}")),
            };
            match cairn_agent::SshIo::new(target) {
                Ok(io) => Arc::new(io),
                Err(error) => return fail(stderr, format!("--ssh {url}: {error}")),
            }
        }
        _ => Arc::new(cairn_agent::LocalIo::new(std::env::current_dir().unwrap_or_else(|_| "/".into()))),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(stderr, format!("cannot start the runtime: {error}")),
    };
    let outcome = runtime.block_on(async {
        // Before the first connection: a SIGTERM at any time is a clean stop.
        let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
        cairn_agent::remote::run(config, handlers, io, cairn_server::run::shutdown_on(terminate)).await.map_err(|e| e.to_string())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(stderr, error),
    }
}

/// `cairn agents -e ENV`.
pub fn agents(remote: &Remote, environment: &str, json: bool, stderr: &mut StandardStream) -> ExitCode {
    let Ok(list) = with_client(remote, stderr, async |c| c.agents(environment).await) else { return ExitCode::FAILURE };
    if json {
        return print_json(&list);
    }
    let mut out = std::io::stdout();
    if list.agents.is_empty() {
        let _ = writeln!(out, "no agents in {environment}");
    }
    for agent in &list.agents {
        let _ = writeln!(out, "{}", describe(agent));
        for standby in &agent.standby {
            let _ = writeln!(out, "    standby {}", process(standby));
        }
    }
    if !list.changes.is_empty() {
        let _ = writeln!(out, "\nchanges of primary (newest first):");
        for change in list.changes.iter().take(20) {
            let from = change.from_session.as_deref().unwrap_or("nobody");
            let to = change.to_session.as_deref().unwrap_or("nobody");
            let _ = writeln!(out, "  {}  {}: {from} -> {to}, epoch {} ({})", timestamp(change.at_ms), change.agent, change.epoch, change.reason.as_str());
        }
    }
    ExitCode::SUCCESS
}

/// `cairn deploy --server URL -e ENV [--full]`.
pub fn deploy(remote: &Remote, environment: &str, full: bool, stderr: &mut StandardStream) -> ExitCode {
    let Ok(accepted) = with_client(remote, stderr, async |c| c.request_deploy(environment, full).await) else { return ExitCode::FAILURE };
    let _ = writeln!(std::io::stdout(), "{} requested in {environment}", accepted.accepted);
    ExitCode::SUCCESS
}
