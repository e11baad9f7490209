//! The compiler proper, after parsing: load the files a project needs, build the
//! declarations, lower the code, execute it, and gather every diagnostic.

pub mod arena;
pub mod errors;
pub mod exec;
pub mod ir;
pub mod loader;
pub mod lower;
pub mod model;
pub mod module_files;
pub mod plugins;
pub mod value;

use crate::diagnostic::{sort_and_dedup, Diagnostic};
use errors::{CompileWarning, WarningKind};
use crate::fs::FileSystem;
use crate::project::{Project, ProjectError};
use crate::session::ParseSession;
pub use exec::Limits;
use exec::{ExecInput, Execution};
use ir::Block;
use loader::{BuiltinModule, Loaded, ModuleOrigin};
use model::{Model, NamespaceInput};
use plugins::PluginRegistry;
use rustc_hash::FxHashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Everything a compile produced; `diagnostics` is empty when it succeeded.
pub struct Compilation {
    pub project: Project,
    pub session: ParseSession,
    pub loaded: Loaded,
    pub model: Model,
    pub blocks: Vec<Block>,
    pub execution: Option<Execution>,
    pub diagnostics: Vec<Diagnostic>,
    /// Things worth knowing that do not fail the compile (modules with Python plugins, ...).
    pub warnings: Vec<Diagnostic>,
    pub timings: Timings,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    pub parse: Duration,
    pub declarations: Duration,
    pub execute: Duration,
}

impl Compilation {
    pub fn succeeded(&self) -> bool {
        self.diagnostics.is_empty() && self.session.io_errors.is_empty()
    }

    pub fn instance_count(&self) -> usize {
        self.execution.as_ref().map(|e| e.instances.len()).unwrap_or(0)
    }
}

/// What the embedding program supplies: built-in modules (std), native plugins, the settings
/// of the compile and the process environment variables the model may read. The compiler
/// reads nothing of its own surroundings: everything comes through here.
pub struct Environment<'a> {
    pub builtins: &'a [BuiltinModule],
    pub plugins: &'a PluginRegistry,
    /// Runs the plugins of modules' Python code; without it a call of one is an error when it
    /// runs, and each module with Python code gets a warning.
    pub foreign: Option<&'a dyn plugins::ForeignPlugins>,
    pub settings: &'a dyn Fn(&str) -> Option<String>,
    /// Environment variables by name (`std::get_env`): the binary passes the real ones,
    /// tests a map.
    pub env_vars: &'a dyn Fn(&str) -> Option<String>,
    /// The bounds that stop a runaway model (`Limits::default()` but in tests).
    pub limits: Limits,
}

/// Compiles the project at `root`. Fails only when the project itself cannot be loaded.
pub fn compile_project(fs: &dyn FileSystem, root: &Path, env: &Environment<'_>) -> Result<Compilation, ProjectError> {
    let project = Project::load(fs, root)?;
    Ok(compile_loaded(fs, project, env))
}

pub fn compile_loaded(fs: &dyn FileSystem, project: Project, env: &Environment<'_>) -> Compilation {
    let started = Instant::now();
    let mut session = ParseSession::new();
    let loaded = loader::load(fs, &project, env.builtins, &mut session);
    session.finish();
    let mut timings = Timings { parse: started.elapsed(), ..Timings::default() };
    let mut diagnostics = session.diagnostics.clone();
    diagnostics.extend(loaded.errors.iter().map(Diagnostic::from));
    let warnings = if env.foreign.is_some() { Vec::new() } else { python_plugin_warnings(&loaded) };
    if !diagnostics.is_empty() || !session.io_errors.is_empty() {
        sort_and_dedup(&mut diagnostics);
        return Compilation { project, session, loaded, model: Model::default(), blocks: Vec::new(), execution: None, diagnostics, warnings, timings };
    }
    let declarations_started = Instant::now();
    let mut errors = Vec::new();
    let ParseSession { files, interner, .. } = &mut session;
    let inputs: Vec<NamespaceInput<'_>> = loaded
        .namespaces
        .iter()
        .map(|ns| NamespaceInput {
            name: &ns.name,
            module: &ns.module,
            file: ns.file,
            file_index: ns.file_index,
            ast: &files[ns.file_index].module,
        })
        .collect();
    let mut model = model::build(&inputs, interner, &mut errors);
    let (blocks, name_ids) = lower::lower(&mut model, &inputs, interner, env.plugins, &loaded.modules, &mut errors);
    drop(inputs);
    // Everything executable is lowered now: the syntax trees are no longer needed, and for a
    // large model they weigh more than the executor's own data.
    for file in &mut session.files {
        file.module = crate::ast::Module::default();
    }
    timings.declarations = declarations_started.elapsed();
    if !errors.is_empty() {
        diagnostics.extend(errors.iter().map(Diagnostic::from));
        sort_and_dedup(&mut diagnostics);
        return Compilation { project, session, loaded, model, blocks, execution: None, diagnostics, warnings, timings };
    }
    if let Some(foreign) = env.foreign {
        // Only the modules the model imports (the module path may hold many more).
        let imported: std::collections::BTreeSet<&str> = loaded.namespaces.iter().map(|ns| ns.module.as_str()).collect();
        let with_code: Vec<&loader::ModuleInfo> =
            loaded.modules.values().filter(|m| m.python.is_some() && imported.contains(m.name.as_str())).collect();
        foreign.modules_loaded(&with_code);
    }
    let execute_started = Instant::now();
    let mut module_roots: FxHashMap<String, std::path::PathBuf> = loaded
        .modules
        .values()
        .filter_map(|m| match &m.origin {
            ModuleOrigin::Folder(path) => Some((m.name.clone(), path.clone())),
            ModuleOrigin::Builtin => None,
        })
        .collect();
    // The project itself under the empty module name: Inmanta's `/x.j2` (the project's own
    // `templates/` or `files/`) reaches the host as `/templates/x.j2`, whose module part is
    // empty. No module can have an empty name, so this shadows none.
    module_roots.insert(String::new(), project.root.clone());
    // Plugins read module files only through these, which keep every path inside the module
    // folder it names (see `module_files`).
    let files = module_files::ModuleFiles::new(fs, module_roots);
    let module_file = |path: &str| files.read(path).map_err(|error| error.to_string());
    let module_files = |path: &str| files.list(path).map_err(|error| error.to_string());
    let module_file_bytes = |path: &str| files.read_bytes(path).map_err(|error| error.to_string());
    let execution = exec::execute(ExecInput {
        model: &model,
        blocks: &blocks,
        plugins: env.plugins,
        foreign: env.foreign,
        interner: &session.interner,
        sources: &session.sources,
        name_ids: &name_ids,
        settings: env.settings,
        env_vars: env.env_vars,
        module_file: &module_file,
        module_files: &module_files,
        module_file_bytes: &module_file_bytes,
        limits: env.limits,
    });
    timings.execute = execute_started.elapsed();
    diagnostics.extend(execution.errors.iter().map(Diagnostic::from));
    sort_and_dedup(&mut diagnostics);
    Compilation { project, session, loaded, model, blocks, execution: Some(execution), diagnostics, warnings, timings }
}

/// One warning per loaded module that ships Python plugins: its model is used, its plugins
/// cannot run (a call to one is an error at the call site).
fn python_plugin_warnings(loaded: &Loaded) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    for module in loaded.modules.values().filter(|m| m.python_plugins) {
        let Some(namespace) = loaded.namespaces.iter().find(|ns| ns.module == module.name) else { continue };
        let warning = CompileWarning {
            kind: WarningKind::PythonPlugins { module: module.name.clone() },
            span: crate::span::Span::new(namespace.file, 0, 0),
        };
        warnings.push(Diagnostic::from(&warning));
    }
    warnings
}
