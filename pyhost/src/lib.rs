//! The Python plugin host (`docs/plugin-host.md`): runs the Python plugins and resource
//! declarations of Inmanta modules in a `python3` process of Cairn's own, started only when a
//! compile reaches Python code. [`PythonHost`] is both the compiler's
//! [`ForeignPlugins`](cairn_compiler::compile::plugins::ForeignPlugins) and the source of the
//! export declarations of Python-declared resources ([`register_python_resources`]).
//!
//! Files: `codec` (values on the wire), `process` (the child process, bounded lines and
//! waits), `install` (the embedded Python code into a private cache folder), `bridge` (the
//! requests and the questions), `resources` (export declarations).

mod bridge;
mod codec;
mod install;
mod process;
mod resources;

pub use bridge::{HostConfig, HostStats, ParamInfo, PluginInfo, PyModule, PythonHost, Ready, ResourceInfo, PROTOCOL};
pub use install::{content_hash, install};
pub use resources::register_python_resources;

use std::path::{Path, PathBuf};

/// The interpreter for a project: the virtualenv's `bin/python` when there is one, else
/// `python3` found on `path` (the `PATH` variable's value).
pub fn find_python(venv: Option<&Path>, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if let Some(venv) = venv {
        let python = venv.join("bin").join("python");
        return python.exists().then_some(python);
    }
    std::env::split_paths(path?).map(|dir| dir.join("python3")).find(|candidate| candidate.is_file())
}

/// The `inmanta_plugins` folders of a virtualenv's site-packages, where v2 modules are
/// installed.
pub fn module_packages(venv: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for lib in ["lib", "lib64"] {
        if !found.is_empty() {
            break;
        }
        let Ok(entries) = std::fs::read_dir(venv.join(lib)) else { continue };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for python in entries {
            let packages = python.join("site-packages").join("inmanta_plugins");
            if python.file_name().is_some_and(|n| n.to_string_lossy().starts_with("python")) && packages.is_dir() && !found.contains(&packages) {
                found.push(packages);
            }
        }
    }
    found
}
