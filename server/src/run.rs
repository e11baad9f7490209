//! `cairn server`: its configuration (one clap struct, every flag also from the environment)
//! and its life: open the store, start the agent coordinator, bind, serve until SIGTERM or
//! Ctrl-C, then end the agent sessions (their agents connect again elsewhere or later),
//! stop taking connections, finish the requests in flight and return.

use crate::agents::{coordinator, Hub};
use crate::http::{app, auth::Auth, AppState, Limits};
use crate::store::Store;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address and port to listen on.
    #[arg(long, env = "CAIRN_BIND", default_value = "127.0.0.1:8888")]
    pub bind: SocketAddr,
    /// Where the state lives: `mongodb://HOST:PORT/DB` (the production store) or
    /// `sqlite:PATH` (one node, nothing else to run). Default: `sqlite:` under --data-dir.
    #[arg(long, env = "CAIRN_STORE")]
    pub store: Option<String>,
    /// The server's own folder (the default SQLite store).
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "/var/lib/cairn")]
    pub data_dir: PathBuf,
    /// The bootstrap admin token: the one token that exists before any is created.
    #[arg(long, env = "CAIRN_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Accept every request without a token (for a laptop; never on a shared network).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// How log lines are written to stderr.
    #[arg(long, env = "CAIRN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seconds an agent process may stay silent before its session ends and a standby takes
    /// over its agent names (the longest a failover takes).
    #[arg(long, env = "CAIRN_AGENT_TIMEOUT", default_value_t = 10.0, value_parser = parse_timeout)]
    pub agent_timeout: f64,
    /// Do not start the server-side agents of the agent maps (`autostart` entries).
    #[arg(long)]
    pub no_autostart: bool,
    /// The largest request body accepted by version and file uploads, in bytes.
    #[arg(long, env = "CAIRN_MAX_UPLOAD", default_value_t = 512 * 1024 * 1024)]
    pub max_upload: usize,
    /// Do not compile environments' repositories here (other servers sharing the store may).
    #[arg(long)]
    pub no_compile: bool,
    /// Where environments' checkouts and module caches live (default: `compiles` under
    /// --data-dir).
    #[arg(long, env = "CAIRN_COMPILE_DIR")]
    pub compile_dir: Option<PathBuf>,
    /// How many compiles this server runs at the same time, at most.
    #[arg(long, env = "CAIRN_COMPILE_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub compile_workers: u16,
    /// How long one compile (fetch to upload) may take, in seconds, before it is stopped.
    #[arg(long, env = "CAIRN_COMPILE_TIMEOUT", default_value_t = 600.0, value_parser = parse_timeout)]
    pub compile_timeout: f64,
    /// The memory (address space) one compile process may use, in MiB.
    #[arg(long, env = "CAIRN_COMPILE_MEMORY", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(64..=1_048_576))]
    pub compile_memory: u64,
    /// Credentials an environment's `credentials` setting may name: `NAME=ssh:KEY_FILE[:KNOWN_HOSTS]`
    /// or `NAME=token-file:FILE`. Repeat, or separate with `;` in CAIRN_GIT_CREDENTIALS.
    #[arg(long, env = "CAIRN_GIT_CREDENTIALS", value_delimiter = ';')]
    pub git_credentials: Vec<String>,
    /// How long events are kept, in hours (a stream resumed from an older event starts
    /// with a `gap` event).
    #[arg(long, env = "CAIRN_EVENT_RETENTION_HOURS", default_value_t = 168, value_parser = clap::value_parser!(u64).range(1..=87_600))]
    pub event_retention_hours: u64,
    /// The virtualenv compiles run modules' Python code in.
    #[arg(long, env = "CAIRN_COMPILE_VENV")]
    pub compile_venv: Option<PathBuf>,
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.2..=3600.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!("`{text}` is not a number of seconds from 0.2 to 3600")),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Why the server could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Sends logs to stderr, as text or JSON lines (`RUST_LOG`-style filtering is not offered:
/// info and above).
pub fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).with_max_level(tracing::Level::INFO);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Opens the store the configuration names.
pub async fn open_store(args: &ServerArgs) -> Result<Arc<dyn Store>, StartError> {
    let spec = args.store.clone().unwrap_or_else(|| format!("sqlite:{}", args.data_dir.join("state.db").display()));
    if let Some(path) = spec.strip_prefix("sqlite:") {
        let path = if path.is_empty() { args.data_dir.join("state.db") } else { PathBuf::from(path) };
        let store = crate::SqliteStore::open(&path).map_err(|e| StartError(format!("cannot open the store: {e}")))?;
        return Ok(Arc::new(store));
    }
    if spec.starts_with("mongodb://") || spec.starts_with("mongodb+srv://") {
        return crate::mongo_store(&spec).await.map_err(|e| StartError(format!("cannot open the store: {e}")));
    }
    Err(StartError(format!("--store must be `mongodb://HOST:PORT/DB` or `sqlite:PATH`, not `{spec}`")))
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn serve(args: ServerArgs) -> Result<(), StartError> {
    if args.admin_token.is_none() && !args.insecure_no_auth {
        return Err(StartError(
            "no way to authenticate: give --admin-token (or CAIRN_ADMIN_TOKEN) to create the first tokens, or --insecure-no-auth to accept every request"
                .into(),
        ));
    }
    if let Some(token) = &args.admin_token {
        if token.len() < 16 {
            return Err(StartError("the admin token must have at least 16 characters".into()));
        }
    }
    // Before anything listens: a SIGTERM that comes as soon as the port answers is a clean
    // stop, never the default action's death.
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| StartError(format!("cannot handle SIGTERM: {e}")))?;
    let credentials = crate::compiles::parse_credentials(&args.git_credentials).map_err(|e| StartError(format!("--git-credentials: {e}")))?;
    let store = open_store(&args).await?;
    let auth = Auth::new(args.admin_token.as_deref(), args.insecure_no_auth);
    let limits = Limits { upload: args.max_upload, ..Limits::default() };
    let server_id = format!("{}:{}", host_name(), std::process::id());
    let hub = Hub::new(server_id, Duration::from_secs_f64(args.agent_timeout));
    let state = AppState::new(Arc::clone(&store), auth, limits).with_hub(hub);
    drop(store);
    let coordinator = tokio::spawn(coordinator::run(Arc::clone(&state.store), Arc::clone(&state.hub)));
    let events_follower = {
        let bus = Arc::clone(&state.events);
        tokio::spawn(crate::events::bus::follow(Arc::clone(&bus), Arc::clone(&state.store), async move { bus.closed().await }))
    };
    let events_pruner = {
        let bus = Arc::clone(&state.events);
        let retention = Duration::from_secs(args.event_retention_hours * 3600);
        tokio::spawn(crate::events::bus::prune(Arc::clone(&state.store), retention, async move { bus.closed().await }))
    };
    let listener = tokio::net::TcpListener::bind(args.bind).await.map_err(|e| StartError(format!("cannot listen on {}: {e}", args.bind)))?;
    let address = listener.local_addr().map_err(|e| StartError(e.to_string()))?;
    tracing::info!(%address, insecure = args.insecure_no_auth, "listening");
    // Printed for scripts that bind port 0 and need to know the port.
    eprintln!("cairn server listening on http://{address}");
    // Server-side agents reach this server on its own address (loopback when it listens on
    // every address).
    let (stop_agents, agents_stopped) = tokio::sync::oneshot::channel::<()>();
    let supervisor = match (args.no_autostart, std::env::current_exe()) {
        (false, Ok(program)) => {
            let host = if address.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { address.ip() };
            let launcher = crate::agents::autostart::Launcher { program, server_url: format!("http://{}", std::net::SocketAddr::new(host, address.port())) };
            Some(tokio::spawn(crate::agents::autostart::run(Arc::clone(&state.store), launcher, async move {
                let _ = agents_stopped.await;
            })))
        }
        (false, Err(error)) => {
            tracing::warn!(%error, "cannot find this program: server-side agents are not started");
            None
        }
        (true, _) => None,
    };
    let (stop_compiles, compiles_stopped) = tokio::sync::watch::channel(false);
    let compile_service = match (args.no_compile, std::env::current_exe()) {
        (false, Ok(program)) => {
            let host = if address.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { address.ip() };
            let config = crate::compiles::CompileConfig {
                program,
                server_url: format!("http://{}", std::net::SocketAddr::new(host, address.port())),
                work_dir: args.compile_dir.clone().unwrap_or_else(|| args.data_dir.join("compiles")),
                workers: usize::from(args.compile_workers),
                time_limit: Duration::from_secs_f64(args.compile_timeout),
                memory_limit: args.compile_memory * 1024 * 1024,
                credentials,
                venv: args.compile_venv.clone(),
            };
            let poll_credentials = config.credentials.clone();
            let workers = crate::compiles::worker::Workers::new(Arc::clone(&state.store), config, state.hub.server_id.clone(), Arc::clone(&state.compile_kick));
            let mut stopped = compiles_stopped.clone();
            let worker_pool = tokio::spawn(crate::compiles::worker::run(workers, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
            let mut stopped = compiles_stopped;
            let poller = tokio::spawn(crate::compiles::poll::run(Arc::clone(&state.store), poll_credentials, Arc::clone(&state.compile_kick), async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
            Some((worker_pool, poller))
        }
        (false, Err(error)) => {
            tracing::warn!(%error, "cannot find this program: repositories are not compiled here");
            None
        }
        (true, _) => None,
    };
    let hub = Arc::clone(&state.hub);
    let bus = Arc::clone(&state.events);
    // Agent sessions are long-lived connections: they are ended when the server stops, or the
    // graceful shutdown would wait for them.
    let shutdown = async move {
        shutdown_on(terminate).await;
        // Compiles in flight are stopped (and reported so); then the server-side agents,
        // while they can still finish and say they leave.
        let _ = stop_compiles.send(true);
        if let Some((worker_pool, poller)) = compile_service {
            let _ = worker_pool.await;
            let _ = poller.await;
        }
        let _ = stop_agents.send(());
        if let Some(supervisor) = supervisor {
            let _ = supervisor.await;
        }
        hub.close_all();
        bus.close();
    };
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await.map_err(|e| StartError(format!("the server failed: {e}")))?;
    let _ = coordinator.await;
    let _ = events_follower.await;
    let _ = events_pruner.await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves at the signal `terminate` listens for, or Ctrl-C.
pub async fn shutdown_on(mut terminate: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = terminate.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("stopping: finishing the work in flight");
}

/// This machine's name (for the server id of the sessions it holds), or `localhost`.
pub fn host_name() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}
