//! [`LocalIo`]: handler IO on this machine, written for a process that runs as root among
//! files other users may write to.
//!
//! - A path is acted on with `O_NOFOLLOW` (or `lstat`/`lchown`): a symbolic link planted at a
//!   managed path is replaced or reported, never followed.
//! - A file is written aside under a random name created exclusively (`O_CREAT|O_EXCL`, so a
//!   planted link or file of that name makes the open fail instead of being written through),
//!   given its mode and owner on the open descriptor, flushed, renamed over the target, and
//!   the folder flushed: the file is never visible partial or with wider permissions.
//! - Temporary files left by a killed deploy are removed the first time a file of their
//!   folder is written; a failed write removes its own.
//! - A command runs in its own process group, which is killed as a whole on timeout; its
//!   output is kept bounded and the wait for it is bounded too.

use super::output::{BoundedOutput, OUTPUT_LIMIT};
use super::{parent_of, random_suffix, CommandOutput, FileAttrs, FileKind, FileStat, Io};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The marker in the names of files written aside: `.NAME.cairn-tmp-RANDOM`.
const TEMP_MARKER: &str = ".cairn-tmp-";

/// How long the output of a finished (or killed) command is still read: a background process
/// that keeps the pipes open must not hold the deploy.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// IO on this machine.
#[derive(Debug)]
pub struct LocalIo {
    base: PathBuf,
    /// Folders already swept for stale temporary files by this process.
    swept: Mutex<HashSet<PathBuf>>,
    /// Folders with a rename not yet synced (see [`Io::flush`]).
    unsynced: Mutex<HashSet<PathBuf>>,
}

impl Clone for LocalIo {
    fn clone(&self) -> Self {
        LocalIo::new(self.base.clone())
    }
}

impl LocalIo {
    pub fn new(base: impl Into<PathBuf>) -> Self {
        LocalIo { base: base.into(), swept: Mutex::new(HashSet::new()), unsynced: Mutex::new(HashSet::new()) }
    }

    /// Removes the temporary files a killed write left in `folder`, once per folder: only
    /// regular files named by Cairn's marker, never through a link. The lock is held for the
    /// whole sweep, so no write of this process into the folder starts before it is done
    /// (the sweep would take its temporary file for a leftover).
    fn sweep_once(&self, folder: &Path) {
        let Ok(mut swept) = self.swept.lock() else { return };
        if !swept.insert(folder.to_path_buf()) {
            return;
        }
        let Ok(entries) = std::fs::read_dir(folder) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with('.') && name.contains(TEMP_MARKER)) {
                continue;
            }
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn absent<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// An error that names the path it is about (the OS error alone does not).
fn at(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Opens `path` for reading without following a final link and without blocking on a FIFO.
fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc_flags::O_NOFOLLOW | libc_flags::O_NONBLOCK | libc_flags::O_CLOEXEC).open(path)
}

/// Open flags that std does not name. Plain constants: no `unsafe` is involved.
mod libc_flags {
    pub const O_NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    pub const O_NONBLOCK: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    pub const O_CLOEXEC: i32 = rustix::fs::OFlags::CLOEXEC.bits() as i32;
    /// The error a `O_NOFOLLOW` open of a link gives.
    pub const ELOOP: i32 = rustix::io::Errno::LOOP.raw_os_error();
}

/// An open of a link refused by `O_NOFOLLOW`, said in words.
fn explain_link(path: &Path, error: io::Error) -> io::Error {
    if error.raw_os_error() == Some(libc_flags::ELOOP) {
        io::Error::other(format!("{} is a symbolic link, which Cairn does not follow", path.display()))
    } else {
        at(path, error)
    }
}



impl LocalIo {
    /// Notes that `folder`'s entries changed: [`Io::flush`] syncs it.
    fn changed_entries_of(&self, folder: &Path) {
        self.unsynced.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(folder.to_path_buf());
    }
}

fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder).and_then(|f| f.sync_all())
}

impl Io for LocalIo {
    fn flush(&self) -> io::Result<()> {
        let folders: Vec<PathBuf> = self.unsynced.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).drain().collect();
        let mut first_error = None;
        for folder in &folders {
            if let Err(error) = sync_folder(folder) {
                first_error.get_or_insert(at(folder, error));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    fn stat(&self, path: &Path) -> io::Result<Option<FileStat>> {
        let Some(metadata) = absent(std::fs::symlink_metadata(path)).map_err(|e| at(path, e))? else { return Ok(None) };
        let file_type = metadata.file_type();
        let kind = if file_type.is_symlink() {
            FileKind::Symlink
        } else if file_type.is_dir() {
            FileKind::Directory
        } else if file_type.is_file() {
            FileKind::File
        } else {
            FileKind::Other
        };
        let target = if kind == FileKind::Symlink { Some(std::fs::read_link(path)?.to_string_lossy().into_owned()) } else { None };
        Ok(Some(FileStat { kind, mode: metadata.mode() & 0o7777, uid: metadata.uid(), gid: metadata.gid(), size: metadata.len(), target }))
    }

    fn read_file(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
        // A repair run reads every managed file: leftovers of a killed write go then too.
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.sweep_once(folder);
        }
        let Some(file) = absent(open_nofollow(path)).map_err(|e| explain_link(path, e))? else { return Ok(None) };
        let metadata = file.metadata().map_err(|e| at(path, e))?;
        if !metadata.file_type().is_file() {
            return Err(io::Error::other(format!("{} is not a regular file", path.display())));
        }
        if metadata.len() > limit {
            return Err(io::Error::other(format!("{} is larger than {limit} bytes ({} bytes)", path.display(), metadata.len())));
        }
        let mut content = Vec::with_capacity(metadata.len() as usize);
        // `take` bounds a file that grows while it is read.
        file.take(limit + 1).read_to_end(&mut content).map_err(|e| at(path, e))?;
        if content.len() as u64 > limit {
            return Err(io::Error::other(format!("{} is larger than {limit} bytes", path.display())));
        }
        Ok(Some(content))
    }

    fn write_file(&self, path: &Path, content: &[u8], attrs: &FileAttrs) -> io::Result<()> {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).ok_or_else(|| io::Error::other(format!("{} names no file", path.display())))?;
        self.sweep_once(folder);
        let (aside, mut file) = loop {
            let aside = folder.join(format!(".{name}{TEMP_MARKER}{:016x}", random_suffix()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc_flags::O_NOFOLLOW | libc_flags::O_CLOEXEC)
                .open(&aside)
            {
                Ok(file) => break (aside, file),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(at(path, error)),
            }
        };
        let written = (|| {
            file.write_all(content)?;
            if attrs.uid.is_some() || attrs.gid.is_some() {
                std::os::unix::fs::fchown(&file, attrs.uid, attrs.gid)?;
            }
            // After the chown: changing the owner clears setuid and setgid bits.
            file.set_permissions(std::fs::Permissions::from_mode(attrs.mode))?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&aside, path)?;
            self.changed_entries_of(folder);
            Ok::<(), io::Error>(())
        })();
        if let Err(error) = written {
            let _ = std::fs::remove_file(&aside);
            return Err(at(path, error));
        }
        Ok(())
    }

    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()> {
        let file = open_nofollow(path).map_err(|e| explain_link(path, e))?;
        file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| at(path, e))
    }

    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        std::os::unix::fs::lchown(path, uid, gid).map_err(|e| at(path, e))
    }

    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if std::fs::symlink_metadata(parent).is_err() {
                std::fs::DirBuilder::new().recursive(true).mode(0o755).create(parent).map_err(|e| at(parent, e))?;
            }
        }
        // Created no wider than asked (the umask can only narrow it), then set exactly.
        match std::fs::DirBuilder::new().mode(mode & 0o777).create(path) {
            Ok(()) => self.changed_entries_of(parent_of(path)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(at(path, error)),
        }
        self.set_mode(path, mode)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path).map_err(|e| at(path, e))?;
        self.changed_entries_of(parent_of(path));
        Ok(())
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path).map_err(|e| at(path, e))?;
        self.changed_entries_of(parent_of(path));
        Ok(())
    }

    fn symlink(&self, target: &str, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link).map_err(|e| at(link, e))?;
        self.changed_entries_of(parent_of(link));
        Ok(())
    }

    fn run(&self, command: &str, cwd: Option<&Path>, env: &[(String, String)], timeout: Duration) -> io::Result<CommandOutput> {
        let cwd = cwd.map(Path::to_path_buf).unwrap_or_else(|| self.base.clone());
        if !cwd.is_dir() {
            return Err(io::Error::other(format!("the working folder {} does not exist", cwd.display())));
        }
        let mut process = Command::new("/bin/sh");
        process.arg("-c").arg(command).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        process.current_dir(&cwd);
        // A group of its own: a timeout kills the command and everything it started.
        process.process_group(0);
        for (key, value) in env {
            process.env(key, value);
        }
        let mut child = process.spawn().map_err(|e| io::Error::new(e.kind(), format!("cannot start /bin/sh: {e}")))?;
        let group = rustix::process::Pid::from_raw(child.id() as i32);
        let (sender, receiver) = std::sync::mpsc::channel::<(bool, BoundedOutput)>();
        let readers = [child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>), child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>)];
        for (is_stdout, reader) in [true, false].into_iter().zip(readers) {
            let sender = sender.clone();
            std::thread::spawn(move || {
                let mut output = BoundedOutput::new(OUTPUT_LIMIT);
                if let Some(mut reader) = reader {
                    let mut buffer = [0u8; 16 * 1024];
                    loop {
                        match reader.read(&mut buffer) {
                            Ok(0) => break,
                            Ok(n) => output.push(&buffer[..n]),
                            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                            Err(_) => break,
                        }
                    }
                }
                let _ = sender.send((is_stdout, output));
            });
        }
        drop(sender);
        let started = Instant::now();
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() >= timeout {
                timed_out = true;
                if let Some(group) = group {
                    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stdout = None;
        let mut stderr = None;
        let deadline = Instant::now() + OUTPUT_GRACE;
        while stdout.is_none() || stderr.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok((true, output)) => stdout = Some(output.text()),
                Ok((false, output)) => stderr = Some(output.text()),
                Err(_) => break,
            }
        }
        let unfinished = "[output not complete: a process the command started still holds it open]";
        Ok(CommandOutput {
            code: status.and_then(|s| s.code()),
            stdout: stdout.unwrap_or_else(|| unfinished.to_string()),
            stderr: stderr.unwrap_or_else(|| unfinished.to_string()),
            timed_out,
        })
    }
}
