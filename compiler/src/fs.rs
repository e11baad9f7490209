//! File access for the compiler, behind a trait: the real file system for the CLI, an
//! in-memory one for tests. The compiler core never touches `std::fs` directly.
//!
//! This module also owns what the compiler is willing to read, since models come from Git
//! repositories and the compiler runs as root: only regular files (a FIFO or `/dev/zero`
//! behind a model file's name would block or never end), at most [`MAX_FILE_SIZE`] bytes,
//! valid UTF-8 (an error says where the invalid bytes start) unless the bytes themselves are
//! asked for (a file a resource deploys as it is, [`FileSystem::read_bytes`]). Model text
//! loses a leading UTF-8 byte order mark; the files plugins read keep theirs. The messages of
//! these refusals are [`FileError`]'s.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// The largest file the compiler reads (a model file, a configuration file, a file a plugin
/// reads): 64 MiB, far more than any model, small enough that a compile cannot be made to
/// hold gigabytes through one file.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// The byte order mark some editors put at the start of UTF-8 text.
const BOM: char = '\u{feff}';

pub trait FileSystem {
    /// Reads a model or configuration file: [`FileSystem::read_text`], without a leading byte
    /// order mark (so that spans and columns start at the first real character).
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.read_text(path).map(without_bom)
    }
    /// Reads a file as it is (for plugins: a BOM is part of the content): a regular file of at
    /// most [`MAX_FILE_SIZE`] bytes, valid UTF-8; refusals are [`FileError`]s.
    fn read_text(&self, path: &Path) -> io::Result<String>;
    /// Reads a file's bytes, text or not (a file a resource deploys as it is): a regular file
    /// of at most [`MAX_FILE_SIZE`] bytes. File systems that only hold text keep this default.
    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.read_text(path).map(String::into_bytes)
    }
    fn is_file(&self, path: &Path) -> bool;
    fn is_dir(&self, path: &Path) -> bool;
    /// The entries of a directory, sorted by name (so compiles are deterministic).
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// The absolute path with every symbolic link resolved and no `.` or `..` left, for
    /// checking that a path stays inside a folder. Fails when the path does not exist.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
}

/// Why a file was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileError {
    /// Not a regular file: what it is instead (`a FIFO`, `a character device`, ...).
    NotRegular(&'static str),
    /// Larger than [`MAX_FILE_SIZE`]: its size in bytes (or as much as was read).
    TooLarge(u64),
    /// Not UTF-8: where the first invalid byte is (byte offset from 0; line and column from
    /// 1, the column counting characters).
    InvalidUtf8 { offset: usize, line: usize, column: usize },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::NotRegular(what) => write!(f, "not a regular file but {what}: only regular files are read"),
            FileError::TooLarge(size) => write!(
                f,
                "the file is {size} bytes, more than the limit of {} bytes ({} MiB) for one file",
                MAX_FILE_SIZE,
                MAX_FILE_SIZE / (1024 * 1024)
            ),
            FileError::InvalidUtf8 { offset, line, column } => {
                write!(f, "invalid UTF-8 at line {line}, column {column} (byte offset {offset}): the file must be UTF-8 text")
            }
        }
    }
}

impl std::error::Error for FileError {}

impl From<FileError> for io::Error {
    fn from(error: FileError) -> io::Error {
        let kind = match error {
            FileError::NotRegular(_) => io::ErrorKind::InvalidInput,
            FileError::TooLarge(_) => io::ErrorKind::FileTooLarge,
            FileError::InvalidUtf8 { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

/// The text without a leading byte order mark.
pub fn without_bom(mut text: String) -> String {
    if text.starts_with(BOM) {
        text.drain(..BOM.len_utf8());
    }
    text
}

/// The bytes as text, or where they stop being UTF-8.
pub fn decode(bytes: Vec<u8>) -> Result<String, FileError> {
    String::from_utf8(bytes).map_err(|error| {
        let bytes = error.as_bytes();
        let offset = error.utf8_error().valid_up_to();
        let valid = &bytes[..offset];
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |newline| newline + 1);
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        // The prefix is valid UTF-8 by definition of `valid_up_to`.
        let before = std::str::from_utf8(&valid[line_start..]).unwrap_or_default();
        // A byte order mark is not a column anyone sees.
        let column = before.trim_start_matches(BOM).chars().count() + 1;
        FileError::InvalidUtf8 { offset, line, column }
    })
}

/// What a file that is not a regular file is, for [`FileError::NotRegular`].
fn describe(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The machine's file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn read_text(&self, path: &Path) -> io::Result<String> {
        Ok(decode(self.read_bytes(path)?)?)
    }

    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::OpenOptionsExt;
        // A device is refused before it is opened: opening one can act (a watchdog starts
        // counting, a tape rewinds), and the compiler runs as root.
        let metadata = std::fs::metadata(path)?;
        if !metadata.is_file() {
            return Err(FileError::NotRegular(describe(metadata.file_type())).into());
        }
        // The name may be swapped for a FIFO or a device between the check and the open:
        // open without blocking (a FIFO's open waits for a writer) and without taking a
        // terminal, then check the file actually opened.
        let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
        // The flag bits are small constants (0o4000 | 0o400): the cast cannot change them.
        let file = std::fs::OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(FileError::NotRegular(describe(metadata.file_type())).into());
        }
        if metadata.len() > MAX_FILE_SIZE {
            return Err(FileError::TooLarge(metadata.len()).into());
        }
        // Read one byte past the limit: a file that grows while it is read is caught too.
        let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_FILE_SIZE {
            return Err(FileError::TooLarge(bytes.len() as u64).into());
        }
        Ok(bytes)
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut entries = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<io::Result<Vec<_>>>()?;
        entries.sort();
        Ok(entries)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
}

/// Files held in memory, keyed by path; directories are implied by the files under them.
/// There are no links: a path is canonical once `.` and `..` are resolved.
#[derive(Clone, Debug, Default)]
pub struct MemFs {
    files: BTreeMap<PathBuf, String>,
}

impl MemFs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> &mut Self {
        self.files.insert(path.into(), text.into());
        self
    }
}

/// `path` with `.` dropped and `..` taking away the component before it.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl FileSystem for MemFs {
    fn read_text(&self, path: &Path) -> io::Result<String> {
        let text = self.files.get(path).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display())))?;
        if text.len() as u64 > MAX_FILE_SIZE {
            return Err(FileError::TooLarge(text.len() as u64).into());
        }
        Ok(text.clone())
    }

    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.files.keys().any(|p| p.starts_with(path) && p != path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        if !self.is_dir(path) {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display())));
        }
        let mut entries: Vec<PathBuf> = self
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(path).ok())
            .filter_map(|rest| rest.components().next())
            .map(|first| path.join(first))
            .collect();
        entries.dedup();
        Ok(entries)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let normal = normalize(path);
        if self.is_file(&normal) || self.is_dir(&normal) {
            Ok(normal)
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fresh folder for one test (tests run in parallel threads).
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cairn-fs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn refusal(path: &Path) -> String {
        RealFs.read_to_string(path).expect_err("the file is refused").to_string()
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = temp_dir("fifo");
        let fifo = dir.join("main.cf");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).expect("mkfifo");
        assert_eq!(refusal(&fifo), "not a regular file but a FIFO (named pipe): only regular files are read");
        // Behind a link too.
        let link = dir.join("link.cf");
        symlink(&fifo, &link).expect("symlink");
        assert!(refusal(&link).contains("a FIFO"));
    }

    #[test]
    fn a_link_to_dev_zero_and_a_directory_are_refused() {
        let dir = temp_dir("devzero");
        let link = dir.join("main.cf");
        symlink("/dev/zero", &link).expect("symlink");
        assert_eq!(refusal(&link), "not a regular file but a character device: only regular files are read");
        assert_eq!(refusal(&dir), "not a regular file but a directory: only regular files are read");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_with_its_size() {
        let dir = temp_dir("large");
        let path = dir.join("big.cf");
        let file = std::fs::File::create(&path).expect("create");
        // Sparse: no 64 MiB written to the disk.
        file.set_len(MAX_FILE_SIZE + 1).expect("set_len");
        assert_eq!(
            refusal(&path),
            format!("the file is {} bytes, more than the limit of 67108864 bytes (64 MiB) for one file", MAX_FILE_SIZE + 1)
        );
        file.set_len(16).expect("set_len");
        assert_eq!(RealFs.read_to_string(&path).expect("read").len(), 16);
    }

    #[test]
    fn invalid_utf8_says_where() {
        let dir = temp_dir("utf8");
        let path = dir.join("bad.cf");
        std::fs::write(&path, b"a = 1\nb = \"h\xc3\xa9\xff\"\n").expect("write");
        let error = RealFs.read_to_string(&path).expect_err("invalid");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            error.to_string(),
            "invalid UTF-8 at line 2, column 8 (byte offset 14): the file must be UTF-8 text"
        );
        assert_eq!(decode(b"\xef\xbb\xbfx\xff".to_vec()), Err(FileError::InvalidUtf8 { offset: 4, line: 1, column: 2 }));
        assert_eq!(decode(b"\xc3".to_vec()), Err(FileError::InvalidUtf8 { offset: 0, line: 1, column: 1 }));
    }

    #[test]
    fn the_bom_is_dropped_from_model_text_and_kept_for_plugins() {
        let dir = temp_dir("bom");
        let path = dir.join("main.cf");
        std::fs::write(&path, "\u{feff}x = 1\n").expect("write");
        assert_eq!(RealFs.read_to_string(&path).expect("read"), "x = 1\n");
        assert_eq!(RealFs.read_text(&path).expect("read"), "\u{feff}x = 1\n");
        let mut fs = MemFs::new();
        fs.add("/p/main.cf", "\u{feff}y = 2\n");
        assert_eq!(fs.read_to_string(Path::new("/p/main.cf")).expect("read"), "y = 2\n");
        assert_eq!(without_bom("no bom".to_string()), "no bom");
    }

    #[test]
    fn memfs_canonicalizes_lexically() {
        let mut fs = MemFs::new();
        fs.add("/p/m/files/a.txt", "A");
        assert_eq!(fs.canonicalize(Path::new("/p/m/files/./x/../a.txt")).expect("exists"), Path::new("/p/m/files/a.txt"));
        assert_eq!(fs.canonicalize(Path::new("/p/m/files")).expect("exists"), Path::new("/p/m/files"));
        assert!(fs.canonicalize(Path::new("/p/m/none")).is_err());
    }
}
