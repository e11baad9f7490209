//! What a compile process (`cairn compile-job`) is given and what it gives back. It is given
//! its command line (repository, branch, checkout folder, this server, the environment, whether
//! to release) and, in an environment of its own that holds nothing of the server's, a
//! compiler token and the repository's credentials. It prints one line of JSON on stdout, a
//! [`CompileReport`], and exits 0 whether the model compiled or not; anything else (no report,
//! killed by the time limit, out of memory) is turned into a failed report here.

use super::git::GitCredentials;
use super::CompileConfig;
use crate::records::{CompileReport, EnvironmentRecord};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The compiler token of the environment (the process uploads with it).
pub const TOKEN_VARIABLE: &str = "CAIRN_TOKEN";
/// The repository's SSH key, known-hosts file and HTTPS token.
pub const SSH_KEY_VARIABLE: &str = "CAIRN_GIT_SSH_KEY";
pub const KNOWN_HOSTS_VARIABLE: &str = "CAIRN_GIT_KNOWN_HOSTS";
pub const GIT_TOKEN_VARIABLE: &str = "CAIRN_GIT_TOKEN";

/// The most of a compile process's stderr kept in its report.
pub const LOG_LIMIT: usize = 16 * 1024;

/// What one compile runs on.
pub struct JobSpec<'a> {
    pub environment: &'a EnvironmentRecord,
    pub repo_url: &'a str,
    pub branch: &'a str,
    pub release: bool,
    pub credentials: &'a GitCredentials,
    pub token: &'a str,
}

/// The environment's own folder under the work folder (by its id: a name given again is a
/// new environment, with a fresh checkout).
pub fn environment_folder(config: &CompileConfig, environment: &EnvironmentRecord) -> PathBuf {
    config.work_dir.join(&environment.id)
}

/// The command line and environment of the compile process.
pub fn command(config: &CompileConfig, spec: &JobSpec<'_>) -> Command {
    let folder = environment_folder(config, spec.environment);
    let mut command = Command::new(&config.program);
    command
        .arg("compile-job")
        .args(["--repo", spec.repo_url, "--branch", spec.branch])
        .arg("--checkout")
        .arg(folder.join("repo"))
        .args(["--server", &config.server_url, "-e", &spec.environment.name])
        .args(["--memory-limit", &config.memory_limit.to_string()])
        .args(["--set", &format!("environment={}", spec.environment.id), "--set", &format!("environment_name={}", spec.environment.name)]);
    if spec.release {
        command.arg("--release");
    }
    if let Some(venv) = &config.venv {
        command.arg("--venv").arg(venv);
    }
    // Nothing of the server's own environment: the model may read its environment
    // (`std::get_env`), and the server's may hold its secrets.
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.env("HOME", &folder).env("XDG_CACHE_HOME", folder.join("cache")).env("LANG", "C.UTF-8").env(TOKEN_VARIABLE, spec.token);
    if let Some(key) = &spec.credentials.ssh_key {
        command.env(SSH_KEY_VARIABLE, key);
    }
    if let Some(known_hosts) = &spec.credentials.known_hosts {
        command.env(KNOWN_HOSTS_VARIABLE, known_hosts);
    }
    if let Some(token) = &spec.credentials.token {
        command.env(GIT_TOKEN_VARIABLE, token);
    }
    command.current_dir(&folder).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Its own process group: the time limit stops the plugin host it starts too.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
}

/// The credentials as the compile process reads them from its environment.
pub fn credentials_from_environment() -> GitCredentials {
    GitCredentials {
        ssh_key: std::env::var_os(SSH_KEY_VARIABLE).map(PathBuf::from),
        known_hosts: std::env::var_os(KNOWN_HOSTS_VARIABLE).map(PathBuf::from),
        token: std::env::var(GIT_TOKEN_VARIABLE).ok().filter(|t| !t.is_empty()),
    }
}

/// How a compile process ended.
pub struct Ended {
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Stopped by the time limit.
    pub timed_out: bool,
    /// Stopped because the server stops or lost its claim.
    pub cancelled: Option<String>,
}

/// The report of a compile process that ended: the one it printed, or a failed one that
/// says how it ended.
pub fn report(ended: &Ended, config: &CompileConfig, branch: &str) -> CompileReport {
    let log = tail(&ended.stderr, LOG_LIMIT);
    let printed = String::from_utf8_lossy(&ended.stdout)
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .and_then(|line| serde_json::from_str::<CompileReport>(line).ok());
    let failed = |summary: String| CompileReport { branch: branch.to_string(), summary, log: log.clone(), ..CompileReport::default() };
    if let Some(reason) = &ended.cancelled {
        return failed(format!("stopped: {reason}"));
    }
    if ended.timed_out {
        return failed(format!("stopped by the time limit: the compile took longer than {} s", config.time_limit.as_secs()));
    }
    match (printed, ended.status) {
        (Some(mut report), Some(status)) if status.success() => {
            report.log = log;
            report
        }
        (_, status) => {
            let out_of_memory = log.contains("memory allocation of") || log.contains("MemoryError") || log.contains("out of memory");
            let how = match status {
                Some(status) => describe(status),
                None => "it could not be waited for".to_string(),
            };
            if out_of_memory {
                failed(format!("stopped by the memory limit of {} MiB ({how})", config.memory_limit / (1024 * 1024)))
            } else {
                failed(format!("the compile process failed ({how}) without a report; its last output is in the log"))
            }
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The last `limit` bytes of `bytes` as text, from a line start when it was cut.
pub fn tail(bytes: &[u8], limit: usize) -> String {
    if bytes.len() <= limit {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let cut = &bytes[bytes.len() - limit..];
    let start = cut.iter().position(|b| *b == b'\n').map_or(0, |p| p + 1);
    String::from_utf8_lossy(&cut[start..]).into_owned()
}

/// A file path as the report shows it: relative to the checkout when it is in it.
pub fn relative(path: &str, checkout: &Path) -> String {
    Path::new(path).strip_prefix(checkout).map(|p| p.display().to_string()).unwrap_or_else(|_| path.to_string())
}
