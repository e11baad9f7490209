//! Finds and parses the files a compile needs: `main.cf` (namespace `__config__`), the
//! built-in modules (`std`, shipped inside the binary), and every namespace reached through
//! `import`, transitively. Modules come from the project's module path; a module whose
//! `plugins/` folder holds Python code is loaded all the same (its plugins are reported only
//! where the model calls them).

use super::errors::{CompileError, ErrorKind, Help};
use crate::ast::TopStmt;
use crate::fs::FileSystem;
use crate::project::{ModuleKind, ModuleSource, Project};
use crate::session::ParseSession;
use crate::span::{FileId, Span};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

/// A module compiled into the binary: its namespaces and their source text.
#[derive(Clone, Debug)]
pub struct BuiltinModule {
    pub name: &'static str,
    /// `(namespace, file name, text)`
    pub files: Vec<(&'static str, &'static str, &'static str)>,
}

/// Where a module's namespaces come from.
#[derive(Clone, Debug)]
pub enum ModuleOrigin {
    Builtin,
    Folder(PathBuf),
}

#[derive(Clone, Debug)]
pub struct ModuleInfo {
    pub name: String,
    pub origin: ModuleOrigin,
    pub python_plugins: bool,
    pub kind: ModuleKind,
    /// The folder of its Python package, when it has Python code.
    pub python: Option<PathBuf>,
}

/// One loaded namespace.
#[derive(Debug)]
pub struct LoadedNamespace {
    pub name: String,
    pub module: String,
    /// Index into the session's parsed files.
    pub file_index: usize,
    pub file: FileId,
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub namespaces: Vec<LoadedNamespace>,
    pub modules: BTreeMap<String, ModuleInfo>,
    pub errors: Vec<CompileError>,
}

enum Source {
    Text(&'static str, &'static str),
    Path(PathBuf),
}

/// Loads `main.cf` and everything it imports.
pub fn load(
    fs: &dyn FileSystem,
    project: &Project,
    builtins: &[BuiltinModule],
    session: &mut ParseSession,
) -> Loaded {
    let mut loaded = Loaded::default();
    let mut sources: BTreeMap<String, (String, Source)> = BTreeMap::new();
    // Project modules come first: a project may bring its own version of a shipped module in
    // its module path, except `std`, which is always Cairn's. A shipped module installed in
    // the virtualenv (v2) is Cairn's too: its native version is the one meant.
    for module in &project.modules {
        let shipped = builtins.iter().any(|b| b.name == module.name);
        if module.name == "std" || (shipped && module.kind == ModuleKind::V2) || loaded.modules.contains_key(&module.name) {
            continue;
        }
        loaded.modules.insert(module.name.clone(), module_info(fs, module));
        for (namespace, path) in &module.files {
            sources.insert(namespace.clone(), (module.name.clone(), Source::Path(path.clone())));
        }
    }
    for builtin in builtins {
        if loaded.modules.contains_key(builtin.name) {
            continue;
        }
        loaded.modules.insert(
            builtin.name.to_string(),
            ModuleInfo { name: builtin.name.to_string(), origin: ModuleOrigin::Builtin, python_plugins: false, kind: ModuleKind::V1, python: None },
        );
        for (namespace, file_name, text) in &builtin.files {
            sources.insert(namespace.to_string(), (builtin.name.to_string(), Source::Text(file_name, text)));
        }
    }

    let mut queue: VecDeque<(String, Option<Span>)> = VecDeque::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let main = project.main_file();
    if let Some(file) = session.add_file(fs, "__config__", &main) {
        loaded.namespaces.push(LoadedNamespace {
            name: "__config__".into(),
            module: "__config__".into(),
            file_index: session.files.len() - 1,
            file,
        });
        seen.insert("__config__".into());
        enqueue_imports(session, session.files.len() - 1, &mut queue);
    }
    // `std` is always loaded; other shipped modules only when imported.
    queue.push_back(("std".to_string(), None));
    while let Some((namespace, span)) = queue.pop_front() {
        if !seen.insert(namespace.clone()) {
            continue;
        }
        // Importing `a::b::c` loads the enclosing namespaces `a` and `a::b` first (as Inmanta
        // does: their names are visible from `a::b::c` unqualified).
        let module_name = namespace.split("::").next().unwrap_or_default().to_string();
        let parents = std::iter::successors(namespace.rsplit_once("::").map(|(p, _)| p), |n| n.rsplit_once("::").map(|(p, _)| p));
        let unseen: Vec<&str> = parents.filter(|p| !seen.contains(*p)).collect();
        if !unseen.is_empty() {
            seen.remove(&namespace);
            queue.push_front((namespace.clone(), span));
            // Outermost first: `a`, then `a::b`.
            // A missing module root or intermediate namespace is reported at the import: as
            // in Inmanta, `a::b::c` needs `model/b/_init.cf` (or `model/b.cf`) too.
            for parent in unseen {
                queue.push_front((parent.to_string(), span));
            }
            continue;
        }
        let Some((module, source)) = sources.get(&namespace) else {
            if let Some(span) = span {
                let error = if loaded.modules.contains_key(&module_name) {
                    let prefix = format!("{module_name}::");
                    let namespaces: Vec<&str> = sources.keys().filter(|n| n.starts_with(&prefix) || **n == module_name).map(String::as_str).collect();
                    let near = crate::suggest::closest(&namespace, namespaces).map(Help::DidYouMean);
                    CompileError::new(ErrorKind::NamespaceNotFound(namespace.clone()), span).with_help(near)
                } else {
                    let shipped: Vec<String> = builtins.iter().map(|b| b.name.to_string()).collect();
                    let near = crate::suggest::closest(&module_name, loaded.modules.keys().map(String::as_str));
                    let folders = project.config.modulepath.clone();
                    CompileError::new(ErrorKind::ModuleNotFound(module_name.clone()), span).with_help(Some(Help::SearchedFor { folders, shipped, near }))
                };
                loaded.errors.push(error);
            }
            continue;
        };
        let file = match source {
            Source::Text(file_name, text) => Some(session.add_source(&namespace, &format!("<{module}>/{file_name}"), text.to_string())),
            Source::Path(path) => session.add_file(fs, &namespace, path),
        };
        if let Some(file) = file {
            let index = session.files.len() - 1;
            loaded.namespaces.push(LoadedNamespace { name: namespace.clone(), module: module.clone(), file_index: index, file });
            enqueue_imports(session, index, &mut queue);
        }
    }
    loaded
}

fn module_info(fs: &dyn FileSystem, module: &ModuleSource) -> ModuleInfo {
    let python = module.python_package(fs);
    ModuleInfo {
        name: module.name.clone(),
        origin: ModuleOrigin::Folder(module.root.clone()),
        python_plugins: python.is_some(),
        kind: module.kind,
        python,
    }
}

fn enqueue_imports(session: &ParseSession, index: usize, queue: &mut VecDeque<(String, Option<Span>)>) {
    for statement in &session.files[index].module.statements {
        if let TopStmt::Import(import) = statement {
            let name: Vec<&str> = import.module.parts.iter().map(|p| session.interner.resolve(p.name)).collect();
            queue.push_back((name.join("::"), Some(import.module.span())));
        }
    }
}
