//! The files of a module that plugins read (`std::source`, `std::file`, `std::template`,
//! `std::list_files`), as the compile hands them over: a plugin names a file `module/folder/
//! rest` (`web/files/motd`), and the file must stay inside that folder of the module. A model
//! comes from a Git repository and the compiler runs as root, so `..` that climbs out, an
//! absolute part, and a symbolic link that leads out of the folder (or a folder that is a link
//! out of the module) are refused: the folder and the file are both resolved through
//! [`FileSystem::canonicalize`] and the file must lie under the folder. A link that stays
//! inside is followed. The file read is the resolved one, the one that was checked.

use super::errors::HostError;
use crate::fs::FileSystem;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::path::{Component, Path, PathBuf};

/// Module files by `module/folder/rest`, through a [`FileSystem`].
pub struct ModuleFiles<'a> {
    fs: &'a dyn FileSystem,
    /// Module name to its folder.
    roots: FxHashMap<String, PathBuf>,
    /// Resolved `(module, folder)` boundaries: a model renders the same template for
    /// thousands of instances, and the folder does not move during a compile.
    boundaries: RefCell<FxHashMap<(String, String), PathBuf>>,
}

/// What is being done with the path, for the error of a file that cannot be reached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    List,
}

impl Access {
    fn error(self, path: &Path, error: std::io::Error) -> HostError {
        let path = path.display().to_string();
        let error = error.to_string();
        match self {
            Access::Read => HostError::CannotRead { path, error },
            Access::List => HostError::CannotList { path, error },
        }
    }
}

impl<'a> ModuleFiles<'a> {
    pub fn new(fs: &'a dyn FileSystem, roots: FxHashMap<String, PathBuf>) -> Self {
        ModuleFiles { fs, roots, boundaries: RefCell::new(FxHashMap::default()) }
    }

    /// The text of the module file `module/folder/rest`, exactly as it is.
    pub fn read(&self, path: &str) -> Result<String, HostError> {
        let (_, target) = self.resolve(path, Access::Read)?;
        self.fs.read_text(&target).map_err(|error| Access::Read.error(&target, error))
    }

    /// The bytes of the module file `module/folder/rest`, exactly as they are (a binary file
    /// too), under the same checks as [`ModuleFiles::read`].
    pub fn read_bytes(&self, path: &str) -> Result<Vec<u8>, HostError> {
        let (_, target) = self.resolve(path, Access::Read)?;
        self.fs.read_bytes(&target).map_err(|error| Access::Read.error(&target, error))
    }

    /// The names of the regular files directly in the module folder `module/folder[/rest]`,
    /// sorted; a link that leads out of the folder is left out (reading it would be refused).
    pub fn list(&self, path: &str) -> Result<Vec<String>, HostError> {
        let (boundary, folder) = self.resolve(path, Access::List)?;
        let entries = self.fs.read_dir(&folder).map_err(|error| Access::List.error(&folder, error))?;
        let mut names: Vec<String> = entries
            .iter()
            .filter(|entry| self.fs.is_file(entry))
            .filter(|entry| self.fs.canonicalize(entry).is_ok_and(|resolved| resolved.starts_with(&boundary)))
            .filter_map(|entry| entry.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The resolved folder (`files/` of the module) and the resolved path inside it.
    fn resolve(&self, path: &str, access: Access) -> Result<(PathBuf, PathBuf), HostError> {
        let not_a_path = || match access {
            Access::Read => HostError::NotAModuleFile(path.to_string()),
            Access::List => HostError::NotAModuleFolder(path.to_string()),
        };
        let (module, rest) = path.split_once('/').ok_or_else(not_a_path)?;
        let root = self.roots.get(module).ok_or_else(|| HostError::ModuleNotLoaded(module.to_string()))?;
        let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
        for component in Path::new(rest).components() {
            match component {
                Component::Normal(part) => parts.push(part),
                Component::CurDir => {}
                // Plugins resolve `..` that stays inside before they ask; what is left climbs.
                Component::ParentDir => return Err(HostError::ClimbsOut(path.to_string())),
                Component::RootDir | Component::Prefix(_) => return Err(HostError::AbsolutePart(path.to_string())),
            }
        }
        let Some((folder, inner)) = parts.split_first() else { return Err(not_a_path()) };
        let boundary = self.boundary(module, root, folder, access)?;
        let target: PathBuf = inner.iter().fold(root.join(folder), |path, part| path.join(part));
        let resolved = self.fs.canonicalize(&target).map_err(|error| access.error(&target, error))?;
        if !resolved.starts_with(&boundary) {
            return Err(HostError::LeadsOutside {
                target: resolved.display().to_string(),
                folder: root.join(folder).display().to_string(),
            });
        }
        Ok((boundary, resolved))
    }

    /// The resolved folder `folder` of a module, which must itself lie inside the module.
    fn boundary(&self, module: &str, root: &Path, folder: &std::ffi::OsStr, access: Access) -> Result<PathBuf, HostError> {
        let key = (module.to_string(), folder.to_string_lossy().into_owned());
        if let Some(found) = self.boundaries.borrow().get(&key) {
            return Ok(found.clone());
        }
        let root_resolved = self.fs.canonicalize(root).map_err(|error| access.error(root, error))?;
        let unresolved = root.join(folder);
        let boundary = self.fs.canonicalize(&unresolved).map_err(|error| access.error(&unresolved, error))?;
        if !boundary.starts_with(&root_resolved) {
            return Err(HostError::LeadsOutside {
                target: boundary.display().to_string(),
                folder: root.display().to_string(),
            });
        }
        self.boundaries.borrow_mut().insert(key, boundary.clone());
        Ok(boundary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{MemFs, RealFs};
    use std::os::unix::fs::symlink;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cairn-module-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn write(path: &Path, text: &str) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }

    /// A project folder with module `web` (files, templates, and links in and out) and a
    /// secret next to it.
    fn project(name: &str) -> PathBuf {
        let dir = temp_dir(name);
        write(&dir.join("secret.txt"), "SECRET");
        write(&dir.join("libs/web/files/motd"), "hello");
        write(&dir.join("libs/web/files/conf.d/a.conf"), "A");
        write(&dir.join("libs/web/model/_init.cf"), "");
        write(&dir.join("libs/web/templates/site.j2"), "{{ x }}");
        symlink("motd", dir.join("libs/web/files/alias")).expect("symlink");
        symlink("../../../secret.txt", dir.join("libs/web/files/escape")).expect("symlink");
        symlink("../model/_init.cf", dir.join("libs/web/files/model")).expect("symlink");
        symlink("../../../../secret.txt", dir.join("libs/web/files/conf.d/b.conf")).expect("symlink");
        symlink("/etc", dir.join("libs/web/files/etc")).expect("symlink");
        std::fs::create_dir_all(dir.join("libs/evil")).expect("mkdir");
        symlink(&dir, dir.join("libs/evil/files")).expect("symlink");
        dir
    }

    fn files(dir: &Path) -> ModuleFiles<'static> {
        let roots = [("web", "libs/web"), ("evil", "libs/evil")].into_iter().map(|(m, p)| (m.to_string(), dir.join(p))).collect();
        ModuleFiles::new(&RealFs, roots)
    }

    #[test]
    fn files_inside_the_folder_are_read_and_links_inside_are_followed() {
        let dir = project("inside");
        let files = files(&dir);
        assert_eq!(files.read("web/files/motd"), Ok("hello".to_string()));
        assert_eq!(files.read("web/files/alias"), Ok("hello".to_string()));
        assert_eq!(files.read("web/files/./conf.d/a.conf"), Ok("A".to_string()));
        assert_eq!(files.read("web/templates/site.j2"), Ok("{{ x }}".to_string()));
        assert_eq!(files.list("web/files/conf.d"), Ok(vec!["a.conf".to_string()]), "the link out is not listed");
        assert_eq!(files.list("web/files"), Ok(vec!["alias".to_string(), "motd".to_string()]));
    }

    #[test]
    fn links_that_lead_out_of_the_folder_are_refused() {
        let dir = project("outside");
        let files = files(&dir);
        let secret = std::fs::canonicalize(dir.join("secret.txt")).expect("exists").display().to_string();
        let folder = dir.join("libs/web/files").display().to_string();
        assert_eq!(files.read("web/files/escape"), Err(HostError::LeadsOutside { target: secret.clone(), folder: folder.clone() }));
        assert!(matches!(files.read("web/files/model"), Err(HostError::LeadsOutside { .. })), "out of files/, though inside the module");
        assert_eq!(
            files.read("web/files/etc/shadow").map_err(|e| e.to_string()),
            Err(format!("it resolves to /etc/shadow, outside {folder}: a symbolic link leads out of it"))
        );
        assert!(matches!(files.list("web/files/etc"), Err(HostError::LeadsOutside { .. })));
        // A module folder that is itself a link out of the module.
        assert!(matches!(files.read("evil/files/secret.txt"), Err(HostError::LeadsOutside { .. })));
    }

    #[test]
    fn climbing_and_absolute_parts_are_refused_before_any_lookup() {
        let dir = project("climb");
        let files = files(&dir);
        assert_eq!(files.read("web/files/../../../secret.txt"), Err(HostError::ClimbsOut("web/files/../../../secret.txt".into())));
        assert_eq!(files.read("web//etc/passwd"), Err(HostError::AbsolutePart("web//etc/passwd".into())));
        assert!(matches!(files.read("web/files//etc/passwd"), Err(HostError::LeadsOutside { .. })), "through the link `etc`");
        assert_eq!(files.read("web"), Err(HostError::NotAModuleFile("web".into())));
        assert_eq!(files.read("nope/files/x"), Err(HostError::ModuleNotLoaded("nope".into())));
        assert!(matches!(files.read("web/files/none"), Err(HostError::CannotRead { .. })));
    }

    #[test]
    fn memfs_paths_are_checked_lexically() {
        let mut fs = MemFs::new();
        fs.add("/p/libs/web/files/a.txt", "A").add("/p/libs/web/model/_init.cf", "");
        let roots = [("web".to_string(), PathBuf::from("/p/libs/web"))].into_iter().collect();
        let files = ModuleFiles::new(&fs, roots);
        assert_eq!(files.read("web/files/a.txt"), Ok("A".to_string()));
        assert_eq!(files.list("web/files"), Ok(vec!["a.txt".to_string()]));
        assert!(matches!(files.read("web/files/../model/_init.cf"), Err(HostError::ClimbsOut(_))));
    }
}
