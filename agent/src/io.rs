//! The IO a handler may do, behind one trait so the same handler works locally and over SSH.
//! [`LocalIo`] acts on this machine; relative paths are resolved against its base folder
//! (the project folder for `cairn deploy`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    /// For a symbolic link: where it points.
    pub target: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// `None` when the command was killed (timeout, signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

pub trait Io: Send + Sync {
    /// The path a handler's `path` attribute designates.
    fn resolve(&self, path: &str) -> PathBuf;
    /// Metadata of a path without following a final symbolic link; `None` when absent.
    fn stat(&self, path: &Path) -> io::Result<Option<FileStat>>;
    fn read_file(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Replaces a file's content atomically (write aside, then rename).
    fn write_file(&self, path: &Path, content: &[u8]) -> io::Result<()>;
    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()>;
    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()>;
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    fn symlink(&self, target: &str, link: &Path) -> io::Result<()>;
    /// Runs a shell command.
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

fn database<I: Io + ?Sized>(io: &I, path: &str) -> io::Result<Vec<(String, u32)>> {
    let text = io.read_file(Path::new(path))?.unwrap_or_default();
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

/// IO on this machine.
#[derive(Clone, Debug)]
pub struct LocalIo {
    base: PathBuf,
}

impl LocalIo {
    pub fn new(base: impl Into<PathBuf>) -> Self {
        LocalIo { base: base.into() }
    }
}

fn absent<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

impl Io for LocalIo {
    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    fn stat(&self, path: &Path) -> io::Result<Option<FileStat>> {
        use std::os::unix::fs::MetadataExt;
        let Some(metadata) = absent(std::fs::symlink_metadata(path))? else { return Ok(None) };
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
        Ok(Some(FileStat { kind, mode: metadata.mode() & 0o7777, uid: metadata.uid(), gid: metadata.gid(), target }))
    }

    fn read_file(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        absent(std::fs::read(path))
    }

    fn write_file(&self, path: &Path, content: &[u8]) -> io::Result<()> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let aside = path.with_file_name(format!(".{name}.cairn-tmp"));
        std::fs::write(&aside, content)?;
        // Keep the permissions of the file being replaced.
        if let Ok(metadata) = std::fs::metadata(path) {
            let _ = std::fs::set_permissions(&aside, metadata.permissions());
        }
        std::fs::rename(&aside, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&aside);
        })
    }

    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }

    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        std::os::unix::fs::lchown(path, uid, gid)
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn symlink(&self, target: &str, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    fn run(&self, command: &str, cwd: Option<&Path>, env: &[(String, String)], timeout: Duration) -> io::Result<CommandOutput> {
        let mut process = Command::new("/bin/sh");
        process.arg("-c").arg(command).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        process.current_dir(cwd.map(Path::to_path_buf).unwrap_or_else(|| self.base.clone()));
        for (key, value) in env {
            process.env(key, value);
        }
        let mut child = process.spawn()?;
        // Read the pipes on threads so a chatty command cannot block on a full pipe.
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let out_reader = std::thread::spawn(move || read_all(stdout));
        let err_reader = std::thread::spawn(move || read_all(stderr));
        let started = Instant::now();
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() >= timeout {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        Ok(CommandOutput { code: status.and_then(|s| s.code()), stdout, stderr, timed_out })
    }
}

fn read_all<R: io::Read>(reader: Option<R>) -> String {
    let mut text = String::new();
    if let Some(mut reader) = reader {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}
