//! The IO a handler may do, behind one trait so the same handler works locally and over SSH.
//! [`LocalIo`] acts on this machine; relative paths are resolved against its base folder
//! (the project folder for `cairn deploy`). [`SshIo`] acts on a remote host over SSH with the
//! same semantics (see `ssh.rs`).
//!
//! Cairn runs as root on the machines it manages, in folders other users may write to, so
//! the local implementation never follows a symbolic link at the path it acts on, never makes
//! a file visible with wider permissions than asked, writes through an unpredictable name
//! created exclusively, and bounds every read and every wait (see `local.rs`).

mod local;
mod output;
mod ssh;

pub use local::LocalIo;
pub use ssh::{SshIo, SshOptions, SshTarget};
pub use output::{BoundedOutput, OUTPUT_LIMIT};

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub kind: FileKind,
    /// Permission bits (`0o644`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// For a symbolic link: where it points.
    pub target: Option<String>,
}

/// Mode and ownership a written file gets before it becomes visible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileAttrs {
    /// Permission bits (`0o600`), applied exactly (no umask).
    pub mode: u32,
    /// `None` leaves the owner as the writing process (root for a system agent).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// `None` when the command was killed (timeout, signal).
    pub code: Option<i32>,
    /// At most [`OUTPUT_LIMIT`] bytes of each stream: the head and the tail, with a line that
    /// says how much was cut in between.
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

/// Files larger than this are not read by handlers (configuration files are far smaller; a
/// larger file at a managed path is reported, not loaded).
pub const READ_LIMIT: u64 = 256 * 1024 * 1024;

pub trait Io: Send + Sync {
    /// The path a handler's `path` attribute designates.
    fn resolve(&self, path: &str) -> PathBuf;
    /// Metadata of a path without following a final symbolic link; `None` when absent.
    fn stat(&self, path: &Path) -> io::Result<Option<FileStat>>;
    /// The content of a regular file, never read through a final symbolic link, and refused
    /// when it is not a regular file (a FIFO or device would block or never end) or when it
    /// is larger than `limit` bytes. `None` when absent.
    fn read_file(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>>;
    /// Creates or replaces a regular file atomically: the content is written aside under an
    /// unpredictable name created exclusively, given `attrs` and flushed before it is renamed
    /// over `path`, so no one ever sees it partial or with other permissions. A symbolic
    /// link at `path` is replaced, never followed. The content is durable when this returns;
    /// the rename is once [`Io::flush`] returned.
    fn write_file(&self, path: &Path, content: &[u8], attrs: &FileAttrs) -> io::Result<()>;
    /// Makes every change made so far durable (the folders whose entries changed are synced),
    /// so that what is reported as done survives a crash. The engine calls it before each
    /// report: one sync per folder and report instead of one per file.
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    /// Changes the permission bits of a file or folder, never through a symbolic link.
    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()>;
    /// Changes owner and group, never through a symbolic link.
    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()>;
    /// Creates a folder (and missing parents) whose own permissions are `mode`; it is never
    /// visible with wider permissions than `mode`.
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    fn symlink(&self, target: &str, link: &Path) -> io::Result<()>;
    /// Runs a shell command in a process group of its own; on timeout the whole group is
    /// killed, and the wait for its output is bounded.
    fn run(&self, command: &str, cwd: Option<&Path>, env: &[(String, String)], timeout: Duration) -> io::Result<CommandOutput>;

    /// The uid of a user name (from `/etc/passwd`).
    fn user_id(&self, name: &str) -> io::Result<Option<u32>> {
        lookup_id(self, "/etc/passwd", name)
    }

    fn group_id(&self, name: &str) -> io::Result<Option<u32>> {
        lookup_id(self, "/etc/group", name)
    }

    fn user_name(&self, uid: u32) -> io::Result<Option<String>> {
        lookup_name(self, "/etc/passwd", uid)
    }

    fn group_name(&self, gid: u32) -> io::Result<Option<String>> {
        lookup_name(self, "/etc/group", gid)
    }
}

/// The account databases are small; a larger one is not an account database.
const ACCOUNTS_LIMIT: u64 = 64 * 1024 * 1024;

fn database<I: Io + ?Sized>(io: &I, path: &str) -> io::Result<Vec<(String, u32)>> {
    let text = io.read_file(Path::new(path), ACCOUNTS_LIMIT)?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?.parse().ok()?;
            Some((name.to_string(), id))
        })
        .collect())
}

fn lookup_id<I: Io + ?Sized>(io: &I, path: &str, name: &str) -> io::Result<Option<u32>> {
    Ok(database(io, path)?.into_iter().find(|(n, _)| n == name).map(|(_, id)| id))
}

fn lookup_name<I: Io + ?Sized>(io: &I, path: &str, id: u32) -> io::Result<Option<String>> {
    Ok(database(io, path)?.into_iter().find(|(_, i)| *i == id).map(|(n, _)| n))
}

/// A random number for the name of a file written aside (then renamed over its target), by
/// the local and the SSH IO alike. Each `RandomState` is seeded from the OS's randomness; the
/// counter keeps two names of one process apart even if the seeds were equal.
fn random_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// The folder that holds `path` (`.` for a bare name).
fn parent_of(path: &std::path::Path) -> &std::path::Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."))
}
