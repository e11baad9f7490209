//! A remote agent process (`cairn agent --server URL -e ENV --name A ...`): one session with
//! the server over a websocket, hosting several agent names, and the embedded mode's engine
//! and handlers deploying the work the server sends to the names this process is the
//! primary of. The process speaks only the session protocol (`cairn_wire::session`): it
//! never sees the store.
//!
//! When the server is away the process connects again, with exponential backoff and
//! jitter (so that a fleet does not come back at once); when the server refuses the session
//! (an unknown environment, a token of another environment) it stops with the reason.
//! SIGTERM is a clean stop: the deploys in flight finish and are reported, then the names
//! are left so that standbys take over at once.

mod connection;
mod port;
mod runner;
mod shared;

use crate::handler::HandlerRegistry;
use crate::io::Io;
use shared::Shared;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How an agent process runs.
#[derive(Clone, Debug)]
pub struct RemoteConfig {
    /// The server's address: `http://HOST:PORT`.
    pub server: String,
    pub environment: String,
    /// The agent names this process offers to host.
    pub names: Vec<String>,
    /// An agent-role token of the environment.
    pub token: Option<String>,
    /// The host name the server shows for this process.
    pub host: String,
    /// Resources deployed at the same time, per agent name.
    pub parallelism: usize,
    /// Results are sent at least this often while a deploy runs.
    pub report_interval: Duration,
}

/// Why an agent process stopped other than by a signal.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteError {
    /// The configuration cannot work (an address that is not `http://`).
    Config(String),
    /// The server refused the session, with its reason.
    Refused(String),
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteError::Config(message) => f.write_str(message),
            RemoteError::Refused(reason) => write!(f, "the server refused the session: {reason}"),
        }
    }
}

impl std::error::Error for RemoteError {}

/// The websocket address of the server's session endpoint.
pub fn session_url(server: &str) -> Result<String, RemoteError> {
    let server = server.trim_end_matches('/');
    match server.split_once("://") {
        Some(("http", rest)) if !rest.is_empty() => Ok(format!("ws://{rest}/api/v1/agents/session")),
        Some(("https", _)) => Err(RemoteError::Config("this build of cairn speaks plain http to servers; put a TLS proxy in front of the agent, or use http://".into())),
        _ => Err(RemoteError::Config(format!("`{server}` is not a server address: http://HOST:PORT"))),
    }
}

/// The wait before connection attempt `attempt` (0 for the first retry): doubling from a
/// quarter second up to 10 s, each between half and one and a half times that.
pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(250).saturating_mul(1u32 << attempt.min(6)).min(Duration::from_secs(10));
    let jitter = std::collections::hash_map::RandomState::new().build_hasher().finish() % 1000;
    base.mul_f64(0.5 + jitter as f64 / 1000.0)
}

/// Runs the agent process until `shutdown` resolves (then it stops cleanly) or the server
/// refuses the session.
pub async fn run(config: RemoteConfig, handlers: Arc<HandlerRegistry>, io: Arc<dyn Io>, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RemoteError> {
    let url = session_url(&config.server)?;
    if config.names.is_empty() {
        return Err(RemoteError::Config("name at least one agent to host (--name)".into()));
    }
    let shared = Arc::new(Shared::new(config, handlers, io));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let mut attempt = 0u32;
    loop {
        let outcome = connection::session(&shared, &url, stopped.clone()).await;
        match outcome {
            connection::Outcome::Stopped => return Ok(()),
            connection::Outcome::Refused(reason) => {
                stop_deploys(&shared).await;
                return Err(RemoteError::Refused(reason));
            }
            connection::Outcome::Lost { welcomed, reason } => {
                if welcomed {
                    attempt = 0;
                }
                let delay = backoff(attempt);
                attempt = attempt.saturating_add(1);
                tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "no session with the server");
                let mut stopped = stopped.clone();
                let stop_now = tokio::select! {
                    _ = tokio::time::sleep(delay) => false,
                    _ = async { let _ = stopped.wait_for(|stop| *stop).await; } => true,
                };
                if stop_now || *stopped.borrow() {
                    stop_deploys(&shared).await;
                    return Ok(());
                }
            }
        }
    }
}

/// Stops while disconnected: no new work, and a bounded wait for what is in flight (its
/// results cannot be acknowledged; the next primary redoes it).
async fn stop_deploys(shared: &Arc<Shared>) {
    shared.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    shared.cancel(None);
    let started = Instant::now();
    while shared.running() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_become_session_urls() {
        assert_eq!(session_url("http://127.0.0.1:8888/"), Ok("ws://127.0.0.1:8888/api/v1/agents/session".to_string()));
        assert!(matches!(session_url("https://x"), Err(RemoteError::Config(_))));
        assert!(matches!(session_url("127.0.0.1:8888"), Err(RemoteError::Config(_))));
    }

    #[test]
    fn backoff_grows_to_a_bound_with_jitter() {
        for attempt in 0..20 {
            let wait = backoff(attempt);
            let base = Duration::from_millis(250).saturating_mul(1u32 << attempt.min(6)).min(Duration::from_secs(10));
            assert!(wait >= base / 2 && wait <= base.mul_f64(1.5), "attempt {attempt}: {wait:?}");
        }
        assert!(backoff(10) <= Duration::from_secs(15));
        let waits: std::collections::BTreeSet<Duration> = (0..20).map(|_| backoff(3)).collect();
        assert!(waits.len() > 1, "the waits have jitter");
    }
}
