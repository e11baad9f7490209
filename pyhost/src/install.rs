//! Puts the host's Python code (embedded in the binary at build time) into a cache folder
//! on first use: `CACHE/cairn/pyhost-HASH/`, HASH naming the content, so binaries of other
//! versions never share a folder. The folder is written aside and renamed into place, 0700
//! with files 0600; an existing folder is used only if it is a real folder (not a link), owned
//! by us, not writable by others, and complete.

use sha1::{Digest, Sha1};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/host_files.rs"));

/// The host's entry point, relative to its folder.
pub const ENTRY: &str = "cairn_host.py";
/// Written last: a folder without it is incomplete.
const COMPLETE: &str = ".complete";

/// A short hash of the embedded files.
pub fn content_hash() -> String {
    let mut hasher = Sha1::new();
    for (path, text) in HOST_FILES {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The host folder under `cache` (`~/.cache`), made if needed; returns the entry script.
pub fn install(cache: &Path) -> Result<PathBuf, String> {
    if !HOST_FILES.iter().any(|(path, _)| *path == ENTRY) {
        return Err(format!("this binary was built without its plugin host ({ENTRY} is missing)"));
    }
    let base = cache.join("cairn");
    make_private_dir(&base)?;
    let folder = base.join(format!("pyhost-{}", content_hash()));
    if is_trusted_complete(&folder)? {
        return Ok(folder.join(ENTRY));
    }
    // Unique to this call: threads of one process may install at the same time.
    static ATTEMPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let attempt = ATTEMPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let aside = base.join(format!(".pyhost-{}-{}-{attempt}", content_hash(), std::process::id()));
    let _ = fs::remove_dir_all(&aside);
    make_private_dir(&aside)?;
    for (path, text) in HOST_FILES {
        let target = aside.join(path);
        if let Some(parent) = target.parent() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        write_private(&target, text.as_bytes())?;
    }
    write_private(&aside.join(COMPLETE), b"")?;
    match fs::rename(&aside, &folder) {
        Ok(()) => {}
        // Another process installed it first: use theirs, once it checks out.
        Err(_) if is_trusted_complete(&folder)? => {
            let _ = fs::remove_dir_all(&aside);
        }
        Err(error) => {
            let _ = fs::remove_dir_all(&aside);
            return Err(format!("cannot put the plugin host in {}: {error}", folder.display()));
        }
    }
    Ok(folder.join(ENTRY))
}

fn make_private_dir(path: &Path) -> Result<(), String> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(format!("{} is a symbolic link: refusing to use it", path.display())),
        Ok(meta) if !meta.is_dir() => Err(format!("{} is not a folder", path.display())),
        Ok(_) => Ok(()),
        Err(_) => fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(|e| format!("{}: {e}", path.display())),
    }
}

/// Whether `folder` is a complete host we may run: a real folder of ours that nobody else can
/// write to.
fn is_trusted_complete(folder: &Path) -> Result<bool, String> {
    let Ok(meta) = fs::symlink_metadata(folder) else { return Ok(false) };
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(format!("{} is not a folder Cairn made: refusing to run code from it", folder.display()));
    }
    let ours = meta.uid() == rustix::process::geteuid().as_raw();
    if !ours || meta.permissions().mode() & 0o022 != 0 {
        return Err(format!("{} is not private to this user: refusing to run code from it", folder.display()));
    }
    Ok(fs::symlink_metadata(folder.join(COMPLETE)).is_ok_and(|m| m.is_file()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_privately_and_refuses_a_link() {
        let dir = std::env::temp_dir().join(format!("cairn-pyhost-install-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let entry = install(&dir).expect("installs");
        assert!(entry.is_file());
        let folder = entry.parent().expect("folder");
        assert_eq!(fs::metadata(folder).expect("meta").permissions().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(&entry).expect("meta").permissions().mode() & 0o777, 0o600);
        // The second time reuses the folder.
        assert_eq!(install(&dir).expect("again"), entry);
        // A link where the folder should be is refused.
        fs::remove_dir_all(folder).expect("removes");
        std::os::unix::fs::symlink("/tmp", folder).expect("links");
        assert!(install(&dir).expect_err("refused").contains("not a folder Cairn made"));
        let _ = fs::remove_dir_all(&dir);
    }
}
