//! `cairn modules`: the modules a project loads, where each came from, and which of their
//! plugins and resource types are native (Cairn's own, in the binary) and which run in Python
//! (the module's code, through the plugin host).

use crate::print::CompileArgs;
use cairn_compiler::compile::loader::ModuleOrigin;
use cairn_compiler::fs::RealFs;
use cairn_compiler::project::ModuleKind;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use termcolor::StandardStream;

struct Listed {
    name: String,
    origin: String,
    path: Option<String>,
    /// `(full name, "native" | "python")`
    plugins: Vec<(String, &'static str)>,
    resources: Vec<(String, &'static str)>,
    python_error: Option<String>,
}

pub fn list(root: &Path, args: &CompileArgs, json_output: bool, stderr: &mut StandardStream) -> ExitCode {
    let settings = match args.settings(root) {
        Ok(settings) => settings,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let modules = cairn_pipeline::shipped_modules();
    let build = match cairn_pipeline::build(&RealFs, root, &modules, &settings) {
        Ok(build) => build,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let loaded = &build.compilation.loaded;
    let with_python = loaded.modules.values().any(|m| m.python.is_some());
    let ready = if with_python { Some(build.python.ready()) } else { None };
    build.python.stop();
    let mut listed = Vec::new();
    for module in loaded.modules.values() {
        let (origin, path) = match (&module.origin, module.kind) {
            (ModuleOrigin::Builtin, _) => ("shipped".to_string(), None),
            (ModuleOrigin::Folder(path), ModuleKind::V1) => ("v1".to_string(), Some(path.display().to_string())),
            (ModuleOrigin::Folder(path), ModuleKind::V2) => ("v2".to_string(), Some(path.display().to_string())),
        };
        let namespaces: BTreeSet<&str> = loaded.namespaces.iter().filter(|ns| ns.module == module.name).map(|ns| ns.name.as_str()).collect();
        let mut plugins: BTreeSet<(String, &'static str)> = BTreeSet::new();
        for namespace in &namespaces {
            for name in modules.plugins.names_in(namespace) {
                plugins.insert((format!("{namespace}::{name}"), "native"));
            }
        }
        let prefix = format!("{}::", module.name);
        let mut resources: BTreeSet<(String, &'static str)> =
            modules.resources.iter().filter(|d| d.name.starts_with(&prefix)).map(|d| (d.name.clone(), "native")).collect();
        let mut python_error = None;
        if let (Some(_), Some(ready)) = (&module.python, &ready) {
            match ready {
                Ok(ready) => {
                    let native_plugins: BTreeSet<String> = plugins.iter().map(|(n, _)| n.clone()).collect();
                    for name in ready.plugins.keys().filter(|n| n.starts_with(&prefix) || **n == module.name) {
                        if !native_plugins.contains(name) {
                            plugins.insert((name.clone(), "python"));
                        }
                    }
                    let native_resources: BTreeSet<String> = resources.iter().map(|(n, _)| n.clone()).collect();
                    for resource in ready.resources.values().filter(|r| r.module == module.name || r.entity.starts_with(&prefix)) {
                        if !native_resources.contains(&resource.entity) {
                            resources.insert((resource.entity.clone(), "python"));
                        }
                    }
                    python_error = ready.errors.get(&module.name).map(|f| f.message.clone());
                }
                Err(failure) => python_error = Some(failure.message.clone()),
            }
        }
        listed.push(Listed { name: module.name.clone(), origin, path, plugins: plugins.into_iter().collect(), resources: resources.into_iter().collect(), python_error });
    }
    let mut stdout = std::io::stdout();
    if json_output {
        let items: Vec<_> = listed
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "origin": m.origin,
                    "path": m.path,
                    "plugins": m.plugins.iter().map(|(n, r)| json!({"name": n, "runs": r})).collect::<Vec<_>>(),
                    "resources": m.resources.iter().map(|(n, r)| json!({"name": n, "runs": r})).collect::<Vec<_>>(),
                    "python_error": m.python_error,
                })
            })
            .collect();
        let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&items).unwrap_or_default());
    } else {
        for m in &listed {
            let place = m.path.as_deref().map(|p| format!(" {p}")).unwrap_or_default();
            let _ = writeln!(stdout, "{} ({}{place})", m.name, m.origin);
            for (what, items) in [("plugins", &m.plugins), ("resources", &m.resources)] {
                for runs in ["native", "python"] {
                    let names: Vec<&str> = items.iter().filter(|(_, r)| *r == runs).map(|(n, _)| n.as_str()).collect();
                    if !names.is_empty() {
                        let _ = writeln!(stdout, "  {what} ({runs}, {}): {}", names.len(), names.join(", "));
                    }
                }
            }
            if let Some(error) = &m.python_error {
                let _ = writeln!(stdout, "  python: {error}");
            }
        }
    }
    if !build.diagnostics.is_empty() {
        let _ = writeln!(stderr, "note: the model has {} problem(s); `cairn compile` shows them", build.diagnostics.len());
    }
    ExitCode::SUCCESS
}
