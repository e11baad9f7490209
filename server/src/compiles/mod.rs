//! The autonomous server's compile service (`docs/autonomous.md`): an environment names a
//! Git repository and a branch; triggers (the webhook, the poll timer, `cairn compile
//! --server`) queue a compile in the store, where triggers that arrive while one is queued
//! join it; a bounded pool of workers claims queued compiles (one per environment at a
//! time, whichever server of those sharing the store claims it) and runs each in a `cairn
//! compile-job` process of its own, with limits on time and memory, so that a model that
//! loops or explodes cannot take the server down. That process fetches the commit, installs
//! the project's modules, compiles, exports and uploads the version through this server's API
//! with a compiler token; its report (commit, phases, diagnostics) is stored with the compile.
//!
//! [`git`] reaches repositories, [`job`] is what a compile process is given and gives back,
//! [`worker`] claims and runs compiles, [`poll`] is the timer, [`webhook`] checks a Git
//! host's signature.

pub mod git;
pub mod job;
pub mod poll;
pub mod webhook;
pub mod worker;

use git::GitCredentials;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How the compile service runs, from the server's configuration.
#[derive(Clone, Debug)]
pub struct CompileConfig {
    /// The `cairn` binary that runs `compile-job`.
    pub program: PathBuf,
    /// This server's own address, as the compile process reaches it.
    pub server_url: String,
    /// Where each environment's checkout and module cache live.
    pub work_dir: PathBuf,
    /// How many compiles this server runs at the same time, at most.
    pub workers: usize,
    /// How long one compile may take, fetch to upload.
    pub time_limit: Duration,
    /// The address space a compile process may use, in bytes.
    pub memory_limit: u64,
    /// Credentials by name (an environment's `credentials` setting names one).
    pub credentials: BTreeMap<String, GitCredentials>,
    /// The virtualenv a compile's Python code runs in, when the server has one.
    pub venv: Option<PathBuf>,
}

/// How long a claim on a running compile lasts unless renewed (renewed every third of it).
pub const CLAIM_TTL: Duration = Duration::from_secs(30);

/// The branch compiled when an environment names none.
pub const DEFAULT_BRANCH: &str = "main";

/// Reads `--git-credentials` entries: `NAME=ssh:KEY_FILE[:KNOWN_HOSTS_FILE]` or
/// `NAME=token-file:FILE` (the token is read from the file when the server starts).
pub fn parse_credentials(entries: &[String]) -> Result<BTreeMap<String, GitCredentials>, String> {
    let mut out = BTreeMap::new();
    for entry in entries {
        let (name, spec) = entry.split_once('=').ok_or_else(|| format!("`{entry}`: expected NAME=ssh:KEY_FILE[:KNOWN_HOSTS] or NAME=token-file:FILE"))?;
        if name.is_empty() || name.len() > 255 {
            return Err(format!("`{entry}`: the credentials need a name"));
        }
        let credentials = if let Some(rest) = spec.strip_prefix("ssh:") {
            let (key, known_hosts) = match rest.split_once(':') {
                Some((key, known)) => (key, Some(PathBuf::from(known))),
                None => (rest, None),
            };
            if key.is_empty() {
                return Err(format!("`{entry}`: no key file"));
            }
            GitCredentials { ssh_key: Some(PathBuf::from(key)), known_hosts, token: None }
        } else if let Some(file) = spec.strip_prefix("token-file:") {
            let token = std::fs::read_to_string(file).map_err(|e| format!("credentials `{name}`: cannot read {file}: {e}"))?;
            let token = token.trim().to_string();
            if token.is_empty() {
                return Err(format!("credentials `{name}`: {file} is empty"));
            }
            GitCredentials { token: Some(token), ..GitCredentials::default() }
        } else {
            return Err(format!("`{entry}`: expected NAME=ssh:KEY_FILE[:KNOWN_HOSTS] or NAME=token-file:FILE"));
        };
        out.insert(name.to_string(), credentials);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_the_configuration() {
        let parsed = parse_credentials(&["deploy=ssh:/etc/cairn/key:/etc/cairn/known_hosts".into(), "plain=ssh:/k".into()]).expect("parsed");
        assert_eq!(parsed["deploy"].ssh_key.as_deref(), Some(std::path::Path::new("/etc/cairn/key")));
        assert_eq!(parsed["deploy"].known_hosts.as_deref(), Some(std::path::Path::new("/etc/cairn/known_hosts")));
        assert_eq!(parsed["plain"].known_hosts, None);
        assert!(parse_credentials(&["nothing".into()]).is_err());
        assert!(parse_credentials(&["x=password:hunter2".into()]).is_err());
        assert!(parse_credentials(&["x=token-file:/nonexistent/file".into()]).is_err());
    }
}
