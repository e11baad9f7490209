//! The PowerDNS HTTP API (v1) as the handlers use it: one blocking HTTP client per handler
//! set (the engine runs handlers on worker threads of its own), every request bounded by a
//! timeout and every answer by a size limit, redirects not followed, no proxy (the endpoint
//! is reached directly).
//!
//! PowerDNS's backends take one write at a time badly (the sqlite3 backend answers 500,
//! "database is locked", to concurrent writes; SQL backends can deadlock on a zone's SOA), so
//! the writes this agent sends to one endpoint go one at a time, and a request that changes
//! nothing twice (GET, PUT, PATCH, DELETE) is retried a few times on a 500, 502 or 503 (other
//! writers than this agent exist). A write waits for the ones before it at most 5 minutes.
//!
//! The endpoint is the agent name of the resource (`http://127.0.0.1:8081`). The API key is
//! the agent's, never the model's: [`KeySource::Environment`] reads `CAIRN_PDNS_API_KEY`, or
//! the file `CAIRN_PDNS_API_KEY_FILE` names, from the agent process's environment at each
//! request. The key is sent only in the `X-API-Key` header, marked sensitive; it is never
//! formatted, and every message that leaves this module has it replaced by `***` in case a
//! server or a library echoed it.

use cairn_agent::HandlerError;
use reqwest::blocking::Client;
use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::Value;
use std::fmt;
use std::io::Read;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The variable holding the API key in the agent's environment.
pub const KEY_VARIABLE: &str = "CAIRN_PDNS_API_KEY";
/// The variable naming a file that holds the API key (used when [`KEY_VARIABLE`] is unset).
pub const KEY_FILE_VARIABLE: &str = "CAIRN_PDNS_API_KEY_FILE";

/// Answers larger than this are refused (a zone of a few hundred thousand records fits).
pub const RESPONSE_LIMIT: u64 = 64 * 1024 * 1024;
/// A key file larger than this is not a key file.
const KEY_FILE_LIMIT: u64 = 4096;
/// Error texts of the server are cut to this many characters in messages.
const MESSAGE_LIMIT: usize = 2000;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a write waits for the writes to the same endpoint before it.
const WRITE_WAIT: Duration = Duration::from_secs(300);
/// Pauses before the retries of an idempotent request that got a 500, 502 or 503.
const RETRY_PAUSES: [Duration; 4] = [Duration::from_millis(50), Duration::from_millis(150), Duration::from_millis(400), Duration::from_millis(1000)];

/// An API key. Its `Debug` and `Display` show `***`, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(key: impl Into<String>) -> Secret {
        Secret(key.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where the handlers take the API key from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// The agent process's environment: [`KEY_VARIABLE`], else the file [`KEY_FILE_VARIABLE`]
    /// names.
    Environment,
    /// A key given by the code that builds the handlers (tests, an agent with its own
    /// configuration).
    Fixed(Secret),
}

impl KeySource {
    fn key(&self) -> Result<Secret, HandlerError> {
        match self {
            KeySource::Fixed(key) => Ok(key.clone()),
            KeySource::Environment => {
                if let Some(key) = std::env::var_os(KEY_VARIABLE) {
                    let key = key.into_string().map_err(|_| HandlerError::new(format!("{KEY_VARIABLE} is not valid UTF-8")))?;
                    if !key.trim().is_empty() {
                        return Ok(Secret(key.trim().to_string()));
                    }
                }
                if let Some(path) = std::env::var_os(KEY_FILE_VARIABLE) {
                    let file = std::fs::File::open(&path)
                        .map_err(|e| HandlerError::new(format!("cannot open the API key file {} ({KEY_FILE_VARIABLE}): {e}", path.to_string_lossy())))?;
                    let mut text = String::new();
                    file.take(KEY_FILE_LIMIT + 1)
                        .read_to_string(&mut text)
                        .map_err(|e| HandlerError::new(format!("cannot read the API key file {}: {e}", path.to_string_lossy())))?;
                    if text.len() as u64 > KEY_FILE_LIMIT {
                        return Err(HandlerError::new(format!("the API key file {} is larger than {KEY_FILE_LIMIT} bytes", path.to_string_lossy())));
                    }
                    if !text.trim().is_empty() {
                        return Ok(Secret(text.trim().to_string()));
                    }
                }
                Err(HandlerError::new(format!(
                    "no PowerDNS API key: set {KEY_VARIABLE} (or {KEY_FILE_VARIABLE}, a file holding the key) in the agent's environment"
                )))
            }
        }
    }
}

/// An answer of the API: its status and (bounded) body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<Value, HandlerError> {
        serde_json::from_slice(&self.body).map_err(|e| HandlerError::new(format!("PowerDNS answered {} with a body that is not JSON: {e}", self.status)))
    }

    /// The `error` text PowerDNS puts in its error answers (or the body as text), cut short.
    pub fn error_text(&self) -> String {
        let text = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_string());
        cut(&text)
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MESSAGE_LIMIT {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MESSAGE_LIMIT).collect();
    short.push_str(" [...]");
    short
}

/// The client shared by the handlers of one module instance.
pub struct Api {
    keys: KeySource,
    client: OnceLock<Client>,
    /// One lock per endpoint, held while a write is sent.
    writes: Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
}

impl Api {
    pub fn new(keys: KeySource) -> Api {
        Api { keys, client: OnceLock::new(), writes: Mutex::new(BTreeMap::new()) }
    }

    fn write_lock(&self, endpoint: &str) -> Result<Arc<Mutex<()>>, HandlerError> {
        let mut locks = self.writes.lock().map_err(|_| HandlerError::new("the write locks of the PowerDNS client are poisoned"))?;
        Ok(locks.entry(endpoint.to_string()).or_default().clone())
    }

    fn client(&self) -> Result<&Client, HandlerError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        // TLS with ring; installing it again (another client, another crate) changes nothing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| HandlerError::new(format!("cannot set up the HTTP client: {e}")))?;
        // Another thread may have set one meanwhile: either is fine.
        let _ = self.client.set(client);
        self.client.get().ok_or_else(|| HandlerError::new("the HTTP client was not kept"))
    }

    /// Sends `method path` (with a JSON body) to `endpoint` and returns the answer, whatever
    /// its status; fails only when no answer came (or an answer too large).
    pub fn call(&self, endpoint: &str, method: Method, path: &str, body: Option<&Value>) -> Result<Reply, HandlerError> {
        let key = self.keys.key()?;
        let lock = if method == Method::GET { None } else { Some(self.write_lock(endpoint)?) };
        let _guard = match &lock {
            Some(lock) => Some(wait_for(lock, endpoint)?),
            None => None,
        };
        let idempotent = method != Method::POST;
        let mut pauses = RETRY_PAUSES.iter();
        loop {
            let result = self.send(&key, endpoint, method.clone(), path, body);
            let reply = result.map_err(|e| HandlerError::new(scrub(&format!("{method} {endpoint}{path}: {e}"), &key)))?;
            if idempotent && matches!(reply.status, 500 | 502 | 503) {
                if let Some(pause) = pauses.next() {
                    std::thread::sleep(*pause);
                    continue;
                }
            }
            return Ok(reply);
        }
    }

    fn send(&self, key: &Secret, endpoint: &str, method: Method, path: &str, body: Option<&Value>) -> Result<Reply, String> {
        let client = self.client().map_err(|e| e.message)?;
        let mut header = HeaderValue::from_str(key.expose()).map_err(|_| "the API key has characters a header cannot hold".to_string())?;
        header.set_sensitive(true);
        let mut request = client.request(method, format!("{endpoint}{path}")).header("X-API-Key", header).header("Accept", "application/json");
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let response = request.send().map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        response.take(RESPONSE_LIMIT + 1).read_to_end(&mut bytes).map_err(|e| format!("reading the answer: {e}"))?;
        if bytes.len() as u64 > RESPONSE_LIMIT {
            return Err(format!("the answer is larger than {RESPONSE_LIMIT} bytes"));
        }
        Ok(Reply { status, body: bytes })
    }

    /// A message about a request that got an unexpected answer, with PowerDNS's own text.
    pub fn unexpected(&self, what: &str, endpoint: &str, reply: &Reply) -> HandlerError {
        let text = reply.error_text();
        let reason = match reply.status {
            401 | 403 => " (the API key was refused: check the agent's API key)".to_string(),
            _ => String::new(),
        };
        let message = format!("{what} on {endpoint}: PowerDNS answered {}{reason}: {text}", reply.status);
        match self.keys.key() {
            Ok(key) => HandlerError::new(scrub(&message, &key)),
            Err(_) => HandlerError::new(message),
        }
    }
}

/// Takes the write lock of `endpoint`, waiting at most [`WRITE_WAIT`] for the writes before.
fn wait_for<'l>(lock: &'l Mutex<()>, endpoint: &str) -> Result<std::sync::MutexGuard<'l, ()>, HandlerError> {
    let deadline = std::time::Instant::now() + WRITE_WAIT;
    loop {
        match lock.try_lock() {
            Ok(guard) => return Ok(guard),
            // A panic elsewhere while holding the lock leaves nothing half-done here: go on.
            Err(std::sync::TryLockError::Poisoned(poisoned)) => return Ok(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(std::sync::TryLockError::WouldBlock) => {
                return Err(HandlerError::new(format!(
                    "{endpoint}: the writes before this one did not finish within {} s",
                    WRITE_WAIT.as_secs()
                )))
            }
        }
    }
}

/// The cause chain of a request error (timeouts and refused connections say so).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "no answer in time".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `text` with the key replaced by `***`.
fn scrub(text: &str, key: &Secret) -> String {
    if key.expose().len() >= 4 {
        text.replace(key.expose(), "***")
    } else {
        text.to_string()
    }
}

/// The endpoint an agent name designates: `http://` or `https://`, without a final `/`.
pub fn endpoint(agent: &str) -> Result<String, String> {
    let trimmed = agent.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("http://").or_else(|| trimmed.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']) => Ok(trimmed.to_string()),
        _ => Err(format!("the agent `{agent}` is not a PowerDNS API endpoint: write it as http://HOST:PORT or https://HOST:PORT")),
    }
}

/// A server id of the API's paths (`localhost`).
pub fn server_id(server: &str) -> Result<&str, String> {
    if server.is_empty() || !server.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(format!("`{server}` is not a PowerDNS server id"));
    }
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(endpoint("http://127.0.0.1:8081/").as_deref(), Ok("http://127.0.0.1:8081"));
        assert!(endpoint("127.0.0.1:8081").is_err());
        assert!(endpoint("http://user@host").is_err());
        assert!(endpoint("http://host/api").is_err());
    }

    #[test]
    fn secrets_are_not_shown() {
        let key = Secret::new("s3cr3t-key");
        assert_eq!(format!("{key} {key:?} {:?}", KeySource::Fixed(key.clone())), "*** *** Fixed(***)");
        assert_eq!(scrub("x s3cr3t-key y", &key), "x *** y");
    }
}
