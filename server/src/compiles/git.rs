//! Getting an environment's repository: the commit a branch points at (for the poll timer)
//! and a checkout of it in the server's work folder (for the compile process). `file://`
//! URLs, plain paths and `git://` go through git2 in-process. `ssh://` (and `USER@HOST:PATH`)
//! and `https://` go through the `git` program, because the git2 built here has neither
//! libssh2 nor a TLS stack; its credentials are handed over in its environment, never on its
//! command line, and an SSH host key must already be in the known-hosts file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How the repository is reached, from the server's configuration (`--git-credentials`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitCredentials {
    /// The private key for `ssh://` repositories.
    pub ssh_key: Option<PathBuf>,
    /// The known-hosts file an `ssh://` repository's host key must be in.
    pub known_hosts: Option<PathBuf>,
    /// A token for `https://` repositories, sent as a bearer `Authorization` header.
    pub token: Option<String>,
}

/// How long the `git` program may take for one command.
const GIT_PROGRAM_LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitError(pub String);

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GitError {}

fn git2_error(error: git2::Error) -> GitError {
    GitError(error.message().to_string())
}

/// Which way a URL is fetched.
#[derive(Debug, PartialEq, Eq)]
enum Transport {
    /// git2: `file://`, a path, `git://`.
    Native,
    /// The `git` program: `ssh://`, `USER@HOST:PATH`, `https://`, `http://`.
    Program,
}

/// How `url` is fetched; `Err` when it is not a repository URL this server fetches.
fn transport(url: &str) -> Result<Transport, GitError> {
    if url.starts_with("file://") || url.starts_with("git://") || url.starts_with('/') {
        return Ok(Transport::Native);
    }
    if url.starts_with("ssh://") || url.starts_with("https://") || url.starts_with("http://") {
        return Ok(Transport::Program);
    }
    // scp-like `user@host:path`.
    if let Some((user_host, _)) = url.split_once(':') {
        if user_host.contains('@') && !user_host.contains('/') {
            return Ok(Transport::Program);
        }
    }
    Err(GitError(format!("`{url}` is not a repository URL this server can fetch (file://, git://, ssh://, https:// or a path)")))
}

/// Checks that `url` is a repository URL this server can fetch.
pub fn check_url(url: &str) -> Result<(), GitError> {
    transport(url).map(|_| ())
}

/// Checks a branch name as Git does (`refs/heads/NAME` must be a valid reference).
pub fn check_branch(branch: &str) -> Result<(), GitError> {
    if branch.starts_with('-') || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(GitError(format!("`{branch}` is not a valid branch name")));
    }
    Ok(())
}

/// The commit `branch` points at in the repository at `url`; `None` when it has no such
/// branch.
pub fn remote_head(url: &str, branch: &str, credentials: &GitCredentials) -> Result<Option<String>, GitError> {
    check_branch(branch)?;
    let wanted = format!("refs/heads/{branch}");
    match transport(url)? {
        Transport::Native => {
            let mut remote = git2::Remote::create_detached(url).map_err(git2_error)?;
            remote.connect(git2::Direction::Fetch).map_err(git2_error)?;
            let head = remote.list().map_err(git2_error)?.iter().find(|head| head.name() == wanted).map(|head| head.oid().to_string());
            let _ = remote.disconnect();
            Ok(head)
        }
        Transport::Program => {
            let output = run_git(None, &["ls-remote", "--", url, &wanted], credentials)?;
            Ok(output.lines().find_map(|line| line.split_once('\t').filter(|(_, name)| *name == wanted).map(|(oid, _)| oid.to_string())))
        }
    }
}

/// Fetches `branch` of `url` into the repository at `checkout` (made when missing) and
/// checks its commit out, detached; returns the commit. Files the repository does not track
/// (the modules installed under `libs/`) stay, so that they are cached between compiles.
pub fn fetch(url: &str, branch: &str, checkout: &Path, credentials: &GitCredentials) -> Result<String, GitError> {
    check_branch(branch)?;
    let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
    let tracking = format!("refs/remotes/origin/{branch}");
    match transport(url)? {
        Transport::Native => {
            let repository = open_or_init(checkout, url)?;
            let mut remote = repository.remote_anonymous(url).map_err(git2_error)?;
            let mut options = git2::FetchOptions::new();
            options.download_tags(git2::AutotagOption::None);
            remote.fetch(&[&refspec], Some(&mut options), None).map_err(|e| GitError(format!("cannot fetch branch `{branch}` of {url}: {}", e.message())))?;
            let commit = repository
                .find_reference(&tracking)
                .and_then(|reference| reference.peel_to_commit())
                .map_err(|_| GitError(format!("the repository {url} has no branch `{branch}`")))?;
            let mut checkout_options = git2::build::CheckoutBuilder::new();
            checkout_options.force();
            repository.checkout_tree(commit.as_object(), Some(&mut checkout_options)).map_err(git2_error)?;
            repository.set_head_detached(commit.id()).map_err(git2_error)?;
            Ok(commit.id().to_string())
        }
        Transport::Program => {
            if !checkout.join(".git").is_dir() {
                std::fs::create_dir_all(checkout).map_err(|e| GitError(format!("cannot create {}: {e}", checkout.display())))?;
                run_git(Some(checkout), &["init", "-q"], credentials)?;
            }
            run_git(Some(checkout), &["fetch", "-q", "--no-tags", "--", url, &refspec], credentials)
                .map_err(|e| GitError(format!("cannot fetch branch `{branch}` of {url}: {e}")))?;
            run_git(Some(checkout), &["checkout", "-q", "-f", "--detach", &tracking], credentials)?;
            Ok(run_git(Some(checkout), &["rev-parse", "HEAD"], credentials)?.trim().to_string())
        }
    }
}

fn open_or_init(checkout: &Path, url: &str) -> Result<git2::Repository, GitError> {
    if checkout.join(".git").is_dir() {
        return git2::Repository::open(checkout).map_err(git2_error);
    }
    std::fs::create_dir_all(checkout).map_err(|e| GitError(format!("cannot create {}: {e}", checkout.display())))?;
    let repository = git2::Repository::init(checkout).map_err(git2_error)?;
    // Only for people who look into the folder: fetches name the URL themselves.
    let _ = repository.remote("origin", url);
    Ok(repository)
}

/// Runs the `git` program with the credentials in its environment; its stdout, or an error
/// with the last lines of its stderr.
fn run_git(folder: Option<&Path>, args: &[&str], credentials: &GitCredentials) -> Result<String, GitError> {
    let mut command = Command::new("git");
    if let Some(folder) = folder {
        command.current_dir(folder);
    }
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Never ask anyone for anything; never read the user's or the system's configuration.
    command.env("GIT_TERMINAL_PROMPT", "0").env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").env_remove("GIT_ASKPASS").env_remove("SSH_ASKPASS");
    let mut ssh = String::from("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes");
    if let Some(key) = &credentials.ssh_key {
        ssh.push_str(&format!(" -o IdentitiesOnly=yes -i '{}'", key.display().to_string().replace('\'', "")));
    }
    if let Some(known_hosts) = &credentials.known_hosts {
        ssh.push_str(&format!(" -o UserKnownHostsFile='{}'", known_hosts.display().to_string().replace('\'', "")));
    }
    command.env("GIT_SSH_COMMAND", ssh);
    if let Some(token) = &credentials.token {
        // Configuration through the environment (git 2.31 and later): not on the command line.
        command.env("GIT_CONFIG_COUNT", "1").env("GIT_CONFIG_KEY_0", "http.extraHeader").env("GIT_CONFIG_VALUE_0", format!("Authorization: Bearer {token}"));
    }
    let child = command.spawn().map_err(|e| GitError(format!("cannot run git (needed for ssh:// and https:// repositories): {e}")))?;
    let output = wait_bounded(child, GIT_PROGRAM_LIMIT)?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    let mut message = tail.into_iter().rev().collect::<Vec<_>>().join("; ");
    if let Some(token) = &credentials.token {
        message = message.replace(token.as_str(), "<secret>");
    }
    Err(GitError(format!("git {} failed ({}): {message}", args.first().copied().unwrap_or(""), output.status)))
}

/// Waits for a child at most `limit`, then kills it; its output, bounded.
fn wait_bounded(mut child: std::process::Child, limit: Duration) -> Result<std::process::Output, GitError> {
    use std::io::Read;
    const MAX_OUTPUT: u64 = 16 * 1024 * 1024;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(stream) = stdout.as_mut() {
            let _ = stream.take(MAX_OUTPUT).read_to_end(&mut out);
        }
        out
    });
    let err_reader = std::thread::spawn(move || {
        let mut err = Vec::new();
        if let Some(stream) = stderr.as_mut() {
            let _ = stream.take(MAX_OUTPUT).read_to_end(&mut err);
        }
        err
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(GitError(format!("git took longer than {} s and was stopped", limit.as_secs())));
            }
            Err(error) => return Err(GitError(format!("cannot wait for git: {error}"))),
        }
    };
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(std::process::Output { status, stdout, stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_are_chosen_by_the_url() {
        assert_eq!(transport("file:///srv/models.git"), Ok(Transport::Native));
        assert_eq!(transport("/srv/models.git"), Ok(Transport::Native));
        assert_eq!(transport("git://127.0.0.1:9418/models"), Ok(Transport::Native));
        assert_eq!(transport("ssh://git@host:22/models.git"), Ok(Transport::Program));
        assert_eq!(transport("git@github.com:acme/models.git"), Ok(Transport::Program));
        assert_eq!(transport("https://git.example.com/models.git"), Ok(Transport::Program));
        assert!(transport("ext::sh -c evil").is_err());
        assert!(transport("models").is_err());
    }

    #[test]
    fn branch_names_are_checked() {
        assert!(check_branch("main").is_ok());
        assert!(check_branch("release/2026").is_ok());
        assert!(check_branch("-upload-pack=evil").is_err());
        assert!(check_branch("a..b").is_err());
        assert!(check_branch("with space").is_err());
    }
}
