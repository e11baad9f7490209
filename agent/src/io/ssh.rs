//! [`SshIo`]: handler IO on a remote host over SSH (russh, SFTP with russh-sftp), with the
//! semantics of [`crate::io::LocalIo`], so that one handler serves both.
//!
//! - One connection per [`SshIo`] (one per target), made on first use and made again after
//!   it dropped; every call multiplexes a request on its SFTP session or a channel of its own,
//!   so deploy threads share it. A failed connect is retried on a later call, with a backoff
//!   (1 s doubling to 30 s) during which calls fail at once with the last reason.
//! - The host key is checked against the target's known-hosts file before anything is sent
//!   (see `connection.rs`); key authentication only.
//! - Files: a write goes to `.NAME.cairn-tmp-RANDOM` in the same folder, opened with
//!   `O_CREAT|O_EXCL` and mode 0600 (a planted link or file of that name makes the open fail),
//!   is given owner then mode on its handle, fsynced, closed and renamed over the name with
//!   `posix-rename@openssh.com` (rename(2): a link at the name is replaced, not followed).
//!   Modes and owners are set with `lsetstat@openssh.com` (never through a link; without that
//!   extension, after an `lstat` that refuses a link). A read `lstat`s first and refuses a
//!   link, a non-regular file or one over the limit, then checks the opened file is the same
//!   (type, size, owner, mode, mtime) and reads at most `limit + 1` bytes. SFTP cannot open
//!   with `O_NOFOLLOW`: a link swapped in between the two steps that points to a file of
//!   identical metadata would be read (a read, never a write, goes through it).
//! - With `sudo`, commands run under `sudo -n` and the SFTP server itself is started under
//!   `sudo -n`, so every file operation runs as root: sudo covers everything.
//! - Relative paths are relative to the remote user's home (where SFTP and the shell start).
//! - Every call is bounded: connecting by [`SshOptions::connect_timeout`], a file operation
//!   by [`SshOptions::call_timeout`], a command by its own timeout.

mod command;
mod connection;

use super::{random_suffix, CommandOutput, FileAttrs, FileKind, FileStat, Io};
use connection::Connection;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The marker in the names of files written aside (as `LocalIo` names them).
const TEMP_MARKER: &str = ".cairn-tmp-";
/// Bytes per SFTP read or write request (OpenSSH accepts up to 255 KiB).
const CHUNK: usize = 64 * 1024;
/// SFTP writes of one file in flight at once.
const WRITES_IN_FLIGHT: usize = 16;

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

/// A host reached over SSH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// A private key without a passphrase (ed25519, RSA or ECDSA; OpenSSH or PEM form).
    pub key_file: PathBuf,
    /// OpenSSH known-hosts format: `host` lines for port 22, `[host]:port` for others; hashed
    /// entries (`|1|...`) are understood.
    pub known_hosts_file: PathBuf,
    /// Commands and file operations run as root through `sudo -n`.
    pub sudo: bool,
}

impl SshTarget {
    /// A target from `ssh://USER@HOST[:PORT]` (port 22 when absent).
    pub fn from_url(url: &str, key_file: impl Into<PathBuf>, known_hosts_file: impl Into<PathBuf>, sudo: bool) -> io::Result<SshTarget> {
        let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("{url:?} is not ssh://USER@HOST[:PORT]"));
        let rest = url.strip_prefix("ssh://").ok_or_else(bad)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (user, address) = rest.split_once('@').ok_or_else(bad)?;
        let (host, port) = if let Some(bracketed) = address.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(port) => port.parse().map_err(|_| bad())?,
                None if after.is_empty() => 22,
                None => return Err(bad()),
            };
            (host, port)
        } else {
            match address.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
                None => (address, 22),
            }
        };
        if user.is_empty() || host.is_empty() {
            return Err(bad());
        }
        Ok(SshTarget { user: user.to_string(), host: host.to_string(), port, key_file: key_file.into(), known_hosts_file: known_hosts_file.into(), sudo })
    }

    /// `user@host:port`, as errors name the target.
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Bounds of an [`SshIo`].
#[derive(Clone, Copy, Debug)]
pub struct SshOptions {
    /// TCP connect, handshake, authentication and SFTP start together.
    pub connect_timeout: Duration,
    /// One file operation (a whole `write_file` or `read_file` included).
    pub call_timeout: Duration,
    /// Keepalive interval; three unanswered keepalives drop the connection.
    pub keepalive: Duration,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions { connect_timeout: Duration::from_secs(10), call_timeout: Duration::from_secs(60), keepalive: Duration::from_secs(15) }
    }
}

/// The last failed connect: calls before `retry_at` fail at once with `reason`.
struct Failure {
    retry_at: Instant,
    delay: Duration,
    reason: io::Error,
}

struct Pool {
    connection: Option<Arc<Connection>>,
    failure: Option<Failure>,
}

/// Handler IO on one SSH target. Cheap to share (`Arc<SshIo>`); safe to call from several
/// threads at once; must not be dropped inside an async context of another runtime's task
/// that it is blocking (it shuts its own runtime down in the background).
pub struct SshIo {
    target: SshTarget,
    options: SshOptions,
    runtime: Option<tokio::runtime::Runtime>,
    pool: Mutex<Pool>,
    /// Folders swept for stale temporary files; held for the whole sweep.
    swept: Mutex<HashSet<String>>,
    /// Folders with a rename not yet synced (see [`Io::flush`]).
    unsynced: std::sync::Mutex<HashSet<String>>,
}

impl std::fmt::Debug for SshIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshIo").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Drop for SshIo {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn utf8(path: &Path) -> io::Result<&str> {
    path.to_str().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not UTF-8, which SFTP paths must be here", path.display())))
}

/// An SSH string: length and bytes.
fn ssh_string(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// The folder that holds `path`, as an SFTP path (`.` for a bare name).
fn parent_of(path: &str) -> String {
    super::parent_of(Path::new(path)).to_string_lossy().into_owned()
}


fn kind_of(attrs: &FileAttributes) -> FileKind {
    match attrs.permissions.unwrap_or(0) & S_IFMT {
        S_IFREG => FileKind::File,
        S_IFDIR => FileKind::Directory,
        S_IFLNK => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

fn is_status(error: &SftpError, code: StatusCode) -> bool {
    matches!(error, SftpError::Status(status) if status.status_code == code)
}

/// A transport failure (as opposed to an answer from the server): the connection is dropped.
fn is_transport(error: &SftpError) -> bool {
    !matches!(error, SftpError::Status(_) | SftpError::Limited(_))
}

impl SshIo {
    /// IO on `target` with the default bounds. Nothing is connected until the first call.
    pub fn new(target: SshTarget) -> io::Result<SshIo> {
        SshIo::with_options(target, SshOptions::default())
    }

    pub fn with_options(target: SshTarget, options: SshOptions) -> io::Result<SshIo> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cairn-ssh")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| io::Error::other(format!("cannot start the SSH runtime: {e}")))?;
        Ok(SshIo {
            target,
            options,
            runtime: Some(runtime),
            pool: Mutex::new(Pool { connection: None, failure: None }),
            swept: Mutex::new(HashSet::new()),
            unsynced: std::sync::Mutex::new(HashSet::new()),
        })
    }

    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Connects now (if not connected): for an agent that checks its targets at start.
    pub fn connect(&self) -> io::Result<()> {
        self.block(self.options.connect_timeout + Duration::from_secs(1), async { self.connection().await.map(|_| ()) })
    }

    /// Drops the pooled connection (the next call connects again).
    pub fn disconnect(&self) {
        let _ = self.block(self.options.call_timeout, async {
            let connection = self.pool.lock().await.connection.take();
            if let Some(connection) = connection {
                let _ = connection.sftp.close_session();
                let _ = connection.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
            }
            Ok(())
        });
    }

    /// Runs `work` on the SSH runtime, bounded by `limit`, from any thread (inside another
    /// runtime too: the wait then happens on a scoped thread of its own).
    fn block<T: Send>(&self, limit: Duration, work: impl Future<Output = io::Result<T>> + Send) -> io::Result<T> {
        let runtime = self.runtime.as_ref().ok_or_else(|| io::Error::other("the SSH runtime is shut down"))?;
        let label = self.target.label();
        let bounded = async move {
            match tokio::time::timeout(limit, work).await {
                Ok(result) => result,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("{label}: no answer within {} s", limit.as_secs_f64()))),
            }
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|scope| scope.spawn(|| runtime.block_on(bounded)).join().unwrap_or_else(|_| Err(io::Error::other("the SSH call panicked"))))
        } else {
            runtime.block_on(bounded)
        }
    }

    /// The pooled connection, made (again) when there is none or it dropped.
    async fn connection(&self) -> io::Result<Arc<Connection>> {
        let mut pool = self.pool.lock().await;
        if let Some(connection) = &pool.connection {
            if !connection.is_closed() {
                return Ok(connection.clone());
            }
            pool.connection = None;
        }
        if let Some(failure) = &pool.failure {
            if Instant::now() < failure.retry_at {
                let left = failure.retry_at.saturating_duration_since(Instant::now());
                return Err(io::Error::new(failure.reason.kind(), format!("{} (next attempt in {:.1} s)", failure.reason, left.as_secs_f64())));
            }
        }
        let label = self.target.label();
        let attempt = tokio::time::timeout(self.options.connect_timeout, connection::connect(&self.target, self.options.keepalive, self.options.call_timeout)).await;
        let result = match attempt {
            Ok(Ok(connection)) => Ok(Arc::new(connection)),
            Ok(Err(error)) => Err(io::Error::new(error.kind(), format!("{label}: {error}"))),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{label}: not connected within {} s (host down, or a firewall drops the packets)", self.options.connect_timeout.as_secs_f64()),
            )),
        };
        match result {
            Ok(connection) => {
                pool.failure = None;
                pool.connection = Some(connection.clone());
                Ok(connection)
            }
            Err(error) => {
                let delay = pool.failure.as_ref().map_or(Duration::from_secs(1), |f| (f.delay * 2).min(Duration::from_secs(30)));
                pool.failure = Some(Failure { retry_at: Instant::now() + delay, delay, reason: io::Error::new(error.kind(), error.to_string()) });
                Err(error)
            }
        }
    }

    /// Drops `connection` from the pool if it is still the pooled one.
    async fn forget(&self, connection: &Arc<Connection>) {
        let mut pool = self.pool.lock().await;
        if pool.connection.as_ref().is_some_and(|c| Arc::ptr_eq(c, connection)) {
            pool.connection = None;
        }
    }

    /// An SFTP error as an `io::Error` naming the target and path; a transport failure drops
    /// the connection.
    async fn fail(&self, connection: &Arc<Connection>, path: &str, error: SftpError) -> io::Error {
        if is_transport(&error) {
            self.forget(connection).await;
        }
        let kind = match &error {
            SftpError::Status(status) => match status.status_code {
                StatusCode::NoSuchFile => io::ErrorKind::NotFound,
                StatusCode::PermissionDenied => io::ErrorKind::PermissionDenied,
                _ => io::ErrorKind::Other,
            },
            SftpError::Timeout => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::Other,
        };
        let message = match &error {
            SftpError::Status(status) if !status.error_message.is_empty() => status.error_message.clone(),
            other => other.to_string(),
        };
        io::Error::new(kind, format!("{}: {path}: {message}", self.target.label()))
    }

    fn message(&self, path: &str, text: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!("{}: {path}: {text}", self.target.label()))
    }

    /// A file operation on the pooled connection, bounded by the call timeout.
    fn call<T: Send>(&self, work: impl Future<Output = io::Result<T>> + Send) -> io::Result<T> {
        self.block(self.options.call_timeout + self.options.connect_timeout, work)
    }

    async fn lstat(&self, c: &Arc<Connection>, path: &str) -> io::Result<Option<FileAttributes>> {
        match c.sftp.lstat(path).await {
            Ok(attrs) => Ok(Some(attrs.attrs)),
            Err(error) if is_status(&error, StatusCode::NoSuchFile) => Ok(None),
            Err(error) => Err(self.fail(c, path, error).await),
        }
    }

    /// Sets attributes of `path` without following a final link.
    async fn lsetstat(&self, c: &Arc<Connection>, path: &str, attrs: FileAttributes) -> io::Result<()> {
        if c.lsetstat {
            let mut data = Vec::new();
            ssh_string(&mut data, path);
            let encoded = russh_sftp::ser::to_bytes(&attrs).map_err(|e| self.message(path, e))?;
            data.extend_from_slice(&encoded);
            return match c.sftp.extended("lsetstat@openssh.com", data).await {
                Ok(russh_sftp::protocol::Packet::Status(status)) if status.status_code == StatusCode::Ok => Ok(()),
                Ok(russh_sftp::protocol::Packet::Status(status)) => Err(self.fail(c, path, SftpError::Status(status)).await),
                Ok(_) => Err(self.message(path, "unexpected answer to lsetstat")),
                Err(error) => Err(self.fail(c, path, error).await),
            };
        }
        match self.lstat(c, path).await? {
            None => Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: {path}: no such file", self.target.label()))),
            Some(found) if kind_of(&found) == FileKind::Symlink => Err(self.message(path, "is a symbolic link, which Cairn does not follow")),
            Some(_) => match c.sftp.setstat(path, attrs).await {
                Ok(_) => Ok(()),
                Err(error) => Err(self.fail(c, path, error).await),
            },
        }
    }
}

/// The asynchronous operations behind [`Io`]; each takes the pooled connection.
impl SshIo {
    async fn stat_async(&self, path: &str) -> io::Result<Option<FileStat>> {
        let c = self.connection().await?;
        let Some(attrs) = self.lstat(&c, path).await? else { return Ok(None) };
        let kind = kind_of(&attrs);
        let target = if kind == FileKind::Symlink {
            match c.sftp.readlink(path).await {
                Ok(name) => name.files.into_iter().next().map(|f| f.filename),
                Err(error) => return Err(self.fail(&c, path, error).await),
            }
        } else {
            None
        };
        Ok(Some(FileStat {
            kind,
            mode: attrs.permissions.unwrap_or(0) & 0o7777,
            uid: attrs.uid.unwrap_or(0),
            gid: attrs.gid.unwrap_or(0),
            size: attrs.size.unwrap_or(0),
            target,
        }))
    }

    /// Removes the temporary files a killed write left in `folder`, once per folder: only
    /// regular files named by Cairn's marker. The lock is held for the whole sweep, so no
    /// write of this `SshIo` starts meanwhile (its temporary file would look stale).
    async fn sweep_once(&self, c: &Arc<Connection>, folder: &str) {
        let mut swept = self.swept.lock().await;
        if !swept.insert(folder.to_string()) {
            return;
        }
        let Ok(handle) = c.sftp.opendir(folder).await else { return };
        let mut stale = Vec::new();
        // Bounded: a folder of a million entries is not swept to the end.
        for _ in 0..10_000 {
            let Ok(names) = c.sftp.readdir(handle.handle.as_str()).await else { break };
            for file in names.files {
                if file.filename.starts_with('.') && file.filename.contains(TEMP_MARKER) && kind_of(&file.attrs) == FileKind::File {
                    stale.push(file.filename);
                }
            }
        }
        let _ = c.sftp.close(handle.handle).await;
        for name in stale {
            let _ = c.sftp.remove(format!("{}/{name}", folder.trim_end_matches('/'))).await;
        }
    }

    async fn read_async(&self, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let c = self.connection().await?;
        let folder = parent_of(path);
        self.sweep_once(&c, &folder).await;
        let Some(before) = self.lstat(&c, path).await? else { return Ok(None) };
        match kind_of(&before) {
            FileKind::File => {}
            FileKind::Symlink => return Err(self.message(path, "is a symbolic link, which Cairn does not follow")),
            _ => return Err(self.message(path, "is not a regular file")),
        }
        let size = before.size.unwrap_or(0);
        if size > limit {
            return Err(self.message(path, format!("is larger than {limit} bytes ({size} bytes)")));
        }
        let handle = match c.sftp.open(path, OpenFlags::READ, FileAttributes::default()).await {
            Ok(handle) => handle.handle,
            Err(error) if is_status(&error, StatusCode::NoSuchFile) => return Ok(None),
            Err(error) => return Err(self.fail(&c, path, error).await),
        };
        let read = self.read_handle(&c, path, &handle, &before, limit).await;
        let _ = c.sftp.close(handle).await;
        read.map(Some)
    }

    async fn read_handle(&self, c: &Arc<Connection>, path: &str, handle: &str, before: &FileAttributes, limit: u64) -> io::Result<Vec<u8>> {
        let opened = match c.sftp.fstat(handle).await {
            Ok(attrs) => attrs.attrs,
            Err(error) => return Err(self.fail(c, path, error).await),
        };
        let same = opened.permissions == before.permissions && opened.uid == before.uid && opened.gid == before.gid && opened.size == before.size && opened.mtime == before.mtime;
        if !same || kind_of(&opened) != FileKind::File {
            return Err(self.message(path, "changed while it was opened (replaced by a link or another file?): not read"));
        }
        let mut content = Vec::with_capacity(opened.size.unwrap_or(0).min(limit) as usize);
        loop {
            match c.sftp.read(handle, content.len() as u64, CHUNK as u32).await {
                Ok(data) if data.data.is_empty() => break,
                Ok(data) => {
                    content.extend_from_slice(&data.data);
                    // Bounds a file that grows while it is read.
                    if content.len() as u64 > limit {
                        return Err(self.message(path, format!("is larger than {limit} bytes")));
                    }
                }
                Err(error) if is_status(&error, StatusCode::Eof) => break,
                Err(error) => return Err(self.fail(c, path, error).await),
            }
        }
        Ok(content)
    }

    async fn write_async(&self, path: &str, content: &[u8], attrs: &FileAttrs) -> io::Result<()> {
        let c = self.connection().await?;
        let folder = parent_of(path);
        let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).ok_or_else(|| self.message(path, "names no file"))?;
        if !c.posix_rename {
            return Err(self.message(path, "the SFTP server lacks posix-rename@openssh.com, needed to replace a file atomically"));
        }
        self.sweep_once(&c, &folder).await;
        let mut attempts = 0;
        let (aside, handle) = loop {
            attempts += 1;
            let aside = format!("{}/.{name}{TEMP_MARKER}{:016x}", folder.trim_end_matches('/'), random_suffix());
            let mode = FileAttributes { permissions: Some(0o600), ..FileAttributes::default() };
            match c.sftp.open(aside.as_str(), OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE, mode).await {
                Ok(handle) => break (aside, handle.handle),
                // OpenSSH answers EEXIST with a generic failure: try the next name once
                // the name is seen to exist, else report.
                Err(error) if attempts < 8 && is_status(&error, StatusCode::Failure) && matches!(self.lstat(&c, &aside).await, Ok(Some(_))) => continue,
                Err(error) => return Err(self.fail(&c, path, error).await),
            }
        };
        let written = self.fill(&c, path, &handle, content, attrs).await;
        let closed = c.sftp.close(handle).await;
        let renamed = match (written, closed) {
            (Ok(()), Ok(_)) => {
                let mut data = Vec::new();
                ssh_string(&mut data, &aside);
                ssh_string(&mut data, path);
                match c.sftp.extended("posix-rename@openssh.com", data).await {
                    Ok(russh_sftp::protocol::Packet::Status(status)) if status.status_code == StatusCode::Ok => Ok(()),
                    Ok(russh_sftp::protocol::Packet::Status(status)) => Err(self.fail(&c, path, SftpError::Status(status)).await),
                    Ok(_) => Err(self.message(path, "unexpected answer to posix-rename")),
                    Err(error) => Err(self.fail(&c, path, error).await),
                }
            }
            (Err(error), _) => Err(error),
            (Ok(()), Err(error)) => Err(self.fail(&c, path, error).await),
        };
        match renamed {
            Ok(()) => {
                self.unsynced.lock().unwrap_or_else(|p| p.into_inner()).insert(folder);
                Ok(())
            }
            Err(error) => {
                let _ = c.sftp.remove(aside).await;
                Err(error)
            }
        }
    }

    /// Writes `content` into the open file aside, then its owner, its mode, and syncs it.
    async fn fill(&self, c: &Arc<Connection>, path: &str, handle: &str, content: &[u8], attrs: &FileAttrs) -> io::Result<()> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let mut pending = FuturesUnordered::new();
        let mut offset = 0u64;
        let mut failed = None;
        for chunk in content.chunks(CHUNK) {
            if pending.len() >= WRITES_IN_FLIGHT {
                if let Some(Err(error)) = pending.next().await {
                    failed = Some(error);
                    break;
                }
            }
            pending.push(c.sftp.write(handle, offset, chunk.to_vec()));
            offset += chunk.len() as u64;
        }
        while let Some(result) = pending.next().await {
            if let Err(error) = result {
                failed.get_or_insert(error);
            }
        }
        if let Some(error) = failed {
            return Err(self.fail(c, path, error).await);
        }
        if attrs.uid.is_some() || attrs.gid.is_some() {
            // SFTP sets owner and group together: keep the one not asked for.
            let (uid, gid) = match (attrs.uid, attrs.gid) {
                (Some(uid), Some(gid)) => (uid, gid),
                _ => match c.sftp.fstat(handle).await {
                    Ok(current) => (attrs.uid.or(current.attrs.uid).unwrap_or(0), attrs.gid.or(current.attrs.gid).unwrap_or(0)),
                    Err(error) => return Err(self.fail(c, path, error).await),
                },
            };
            let owner = FileAttributes { uid: Some(uid), gid: Some(gid), ..FileAttributes::default() };
            if let Err(error) = c.sftp.fsetstat(handle, owner).await {
                return Err(self.fail(c, path, error).await);
            }
        }
        // After the chown: changing the owner clears setuid and setgid bits.
        let mode = FileAttributes { permissions: Some(attrs.mode & 0o7777), ..FileAttributes::default() };
        if let Err(error) = c.sftp.fsetstat(handle, mode).await {
            return Err(self.fail(c, path, error).await);
        }
        if c.fsync {
            if let Err(error) = c.sftp.fsync(handle).await {
                return Err(self.fail(c, path, error).await);
            }
        }
        Ok(())
    }

    async fn set_mode_async(&self, path: &str, mode: u32) -> io::Result<()> {
        let c = self.connection().await?;
        self.lsetstat(&c, path, FileAttributes { permissions: Some(mode & 0o7777), ..FileAttributes::default() }).await
    }

    async fn chown_async(&self, path: &str, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        let c = self.connection().await?;
        let (uid, gid) = match (uid, gid) {
            (Some(uid), Some(gid)) => (uid, gid),
            _ => {
                let current = self.lstat(&c, path).await?.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{}: {path}: no such file", self.target.label())))?;
                (uid.or(current.uid).unwrap_or(0), gid.or(current.gid).unwrap_or(0))
            }
        };
        if c.lsetstat {
            self.lsetstat(&c, path, FileAttributes { uid: Some(uid), gid: Some(gid), ..FileAttributes::default() }).await
        } else {
            // No lchown over plain SFTP: `chown -h` does not follow a link.
            let line = format!("chown -h {uid}:{gid} -- {}", command::quote(path));
            self.checked(&c, path, line).await
        }
    }

    /// Runs a helper command; a non-zero exit is an error with its stderr.
    async fn checked(&self, c: &Arc<Connection>, path: &str, line: String) -> io::Result<()> {
        let line = if self.target.sudo { format!("exec sudo -n -- /bin/sh -c {}", command::quote(&line)) } else { line };
        let output = command::run(c, line, self.options.call_timeout).await?;
        if output.code == Some(0) {
            Ok(())
        } else {
            Err(self.message(path, output.stderr.trim()))
        }
    }

    async fn create_dir_async(&self, path: &str, mode: u32) -> io::Result<()> {
        let c = self.connection().await?;
        // Missing parents, outermost first, with 0755 (as LocalIo makes them).
        let mut missing = Vec::new();
        let mut parent = Path::new(path).parent();
        while let Some(folder) = parent.filter(|p| !p.as_os_str().is_empty()) {
            let folder = utf8(folder)?;
            if self.lstat(&c, folder).await?.is_some() {
                break;
            }
            missing.push(folder.to_string());
            parent = Path::new(folder).parent();
        }
        for folder in missing.iter().rev().map(String::as_str).chain(std::iter::once(path)) {
            let wanted = if folder == path { mode & 0o777 } else { 0o755 };
            match c.sftp.mkdir(folder, FileAttributes { permissions: Some(wanted), ..FileAttributes::default() }).await {
                Ok(_) => {
                    self.unsynced.lock().unwrap_or_else(|p| p.into_inner()).insert(parent_of(folder));
                }
                Err(error) => match self.lstat(&c, folder).await? {
                    Some(found) if kind_of(&found) == FileKind::Directory => {}
                    _ => return Err(self.fail(&c, folder, error).await),
                },
            }
        }
        self.lsetstat(&c, path, FileAttributes { permissions: Some(mode & 0o7777), ..FileAttributes::default() }).await
    }

    async fn remove_async(&self, path: &str, folder: bool) -> io::Result<()> {
        let c = self.connection().await?;
        let result = if folder { c.sftp.rmdir(path).await } else { c.sftp.remove(path).await };
        match result {
            Ok(_) => {
                self.unsynced.lock().unwrap_or_else(|p| p.into_inner()).insert(parent_of(path));
                Ok(())
            }
            Err(error) => Err(self.fail(&c, path, error).await),
        }
    }

    async fn symlink_async(&self, target: &str, link: &str) -> io::Result<()> {
        let c = self.connection().await?;
        // OpenSSH's sftp-server takes SSH_FXP_SYMLINK's arguments in the reverse of the
        // draft's order (target first), and russh-sftp sends them in the draft's order.
        match c.sftp.symlink(target, link).await {
            Ok(_) => {
                self.unsynced.lock().unwrap_or_else(|p| p.into_inner()).insert(parent_of(link));
                Ok(())
            }
            Err(error) => Err(self.fail(&c, link, error).await),
        }
    }

    async fn run_async(&self, command: &str, cwd: Option<&Path>, env: &[(String, String)], timeout: Duration) -> io::Result<CommandOutput> {
        let line = command::command_line(command, cwd, env, timeout, self.target.sudo)?;
        let c = self.connection().await?;
        command::run(&c, line, timeout).await.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.target.label())))
    }

    async fn flush_async(&self, folders: Vec<String>) -> io::Result<()> {
        let c = self.connection().await?;
        let mut line = String::from("sync -f --");
        for folder in &folders {
            line.push(' ');
            line.push_str(&command::quote(folder));
        }
        // Best effort on a system whose `sync` lacks `-f`: only a lost connection is an error.
        let line = if self.target.sudo { format!("exec sudo -n -- /bin/sh -c {}", command::quote(&line)) } else { line };
        command::run(&c, line, self.options.call_timeout).await.map(|_| ())
    }
}

impl Io for SshIo {
    fn resolve(&self, path: &str) -> PathBuf {
        PathBuf::from(path)
    }

    fn stat(&self, path: &Path) -> io::Result<Option<FileStat>> {
        let path = utf8(path)?;
        self.call(self.stat_async(path))
    }

    fn read_file(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let path = utf8(path)?;
        self.call(self.read_async(path, limit))
    }

    fn write_file(&self, path: &Path, content: &[u8], attrs: &FileAttrs) -> io::Result<()> {
        let path = utf8(path)?;
        self.call(self.write_async(path, content, attrs))
    }

    fn flush(&self) -> io::Result<()> {
        let folders: Vec<String> = self.unsynced.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        if folders.is_empty() {
            return Ok(());
        }
        self.call(self.flush_async(folders))
    }

    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()> {
        let path = utf8(path)?;
        self.call(self.set_mode_async(path, mode))
    }

    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        let path = utf8(path)?;
        self.call(self.chown_async(path, uid, gid))
    }

    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        let path = utf8(path)?;
        self.call(self.create_dir_async(path, mode))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let path = utf8(path)?;
        self.call(self.remove_async(path, false))
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        let path = utf8(path)?;
        self.call(self.remove_async(path, true))
    }

    fn symlink(&self, target: &str, link: &Path) -> io::Result<()> {
        let link = utf8(link)?;
        self.call(self.symlink_async(target, link))
    }

    fn run(&self, command: &str, cwd: Option<&Path>, env: &[(String, String)], timeout: Duration) -> io::Result<CommandOutput> {
        // The command's own timeout, then the output grace and the channel's close.
        self.block(self.options.connect_timeout + timeout + Duration::from_secs(5), self.run_async(command, cwd, env, timeout))
    }
}
