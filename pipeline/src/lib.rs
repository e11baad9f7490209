//! The pipeline: the one path from a project folder to the documents an orchestrator stores,
//! used by the command line now and by the server's compile service later. Load the project,
//! install the modules it requires but lacks ([`fetch`]), compile once, export, and turn the
//! export into wire documents. Also the list of the modules shipped inside Cairn.

pub mod fetch;
pub mod settings;

use cairn_compiler::compile::{compile_loaded, Compilation, Environment, Limits};
use cairn_compiler::diagnostic::Diagnostic;
use cairn_compiler::export::{export, Export, ExportInput};
use cairn_compiler::fs::FileSystem;
use cairn_compiler::project::{Project, ProjectError};
pub use cairn_module::ModuleSet;
use cairn_compiler::error::Details;
use cairn_compiler::export::ResourceRegistry;
use cairn_pyhost::{HostConfig, PythonHost};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The modules compiled into the binary: std, fs, exec, apt, mitogen, pdns (std first: fs reuses
/// its plugins).
pub fn shipped_modules() -> ModuleSet {
    ModuleSet::new(vec![
        cairn_std::module(),
        cairn_mod_fs::module(),
        cairn_mod_exec::module(),
        cairn_mod_apt::module(),
        cairn_mod_mitogen::module(),
        cairn_mod_pdns::module(),
    ])
}

/// What a compile may read of the world it runs in, passed in as data: the compiler reads
/// no environment of its own (a server compiling a user's model must not hand it its own
/// environment variables).
#[derive(Default, Clone, Debug)]
pub struct CompileSettings {
    /// Compile settings such as the environment id (`std::environment`).
    pub settings: std::collections::BTreeMap<String, String>,
    /// The environment variables the model may read (`std::get_env`); the plugin host gets
    /// these as its whole environment.
    pub env_vars: std::collections::BTreeMap<String, String>,
    pub python: PythonSettings,
}

/// How a module's Python code runs (`docs/plugin-host.md`).
#[derive(Clone, Debug)]
pub struct PythonSettings {
    /// The virtualenv: its `bin/python` runs the host, its installed (v2) modules are
    /// loaded. `None`: the project's `.env` folder when it has one, else `python3` from
    /// `path` and no installed modules.
    pub venv: Option<PathBuf>,
    /// The `PATH` to find `python3` on when there is no virtualenv.
    pub path: Option<std::ffi::OsString>,
    /// Where the host's own code is put (`~/.cache`); `None`: the system's temporary folder.
    pub cache: Option<PathBuf>,
    /// How long one plugin call (or one field of a resource) may run.
    pub call_limit: Duration,
    /// Run the plugin host from this folder rather than from the binary (work on the host).
    pub host_dir: Option<PathBuf>,
}

impl Default for PythonSettings {
    fn default() -> Self {
        PythonSettings { venv: None, path: None, cache: None, call_limit: Duration::from_secs(30), host_dir: None }
    }
}

/// A compile followed, when it succeeded, by an export.
pub struct Build {
    pub compilation: Compilation,
    pub export: Option<Export>,
    /// Compile and export diagnostics together, sorted.
    pub diagnostics: Vec<Diagnostic>,
    /// Modules installed from the project's repositories before compiling: `(name, tag)`.
    pub installed: Vec<(String, String)>,
    pub compile_time: Duration,
    pub export_time: Duration,
    /// The compile's plugin host (stopped; what it loaded and did stays readable).
    pub python: PythonHost,
}

impl Build {
    pub fn succeeded(&self) -> bool {
        self.diagnostics.is_empty() && self.compilation.session.io_errors.is_empty()
    }

    /// The file bodies the exported resources name, by hash (what a server's file store must
    /// hold before the version is uploaded).
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        self.export.as_ref().map(|export| export.files.iter().map(|(hash, body)| (hash.clone(), body.clone())).collect()).unwrap_or_default()
    }

    /// The exported resources as wire documents (none when the build failed).
    pub fn documents(&self) -> Vec<cairn_wire::ResourceDoc> {
        self.export.as_ref().map(resource_docs).unwrap_or_default()
    }
}

/// Loads the project at `root`, installs the modules it requires but lacks, compiles it once
/// and exports its resources. Fails only when the project itself cannot be loaded or a
/// required module cannot be installed; problems of the model are in the build's
/// diagnostics.
pub fn build(fs: &dyn FileSystem, root: &Path, modules: &ModuleSet, settings: &CompileSettings) -> Result<Build, ProjectError> {
    let started = Instant::now();
    let venv = settings.python.venv.clone().or_else(|| Some(root.join(".env")).filter(|env| env.join("bin").join("python").exists()));
    let packages = venv.as_deref().map(cairn_pyhost::module_packages).unwrap_or_default();
    let mut project = Project::load_with_packages(fs, root, &packages)?;
    let mut installed = Vec::new();
    if !project.config.requires.is_empty() {
        installed = fetch::install_missing(&project).map_err(|error| ProjectError::Fetch(error.to_string()))?;
        if !installed.is_empty() {
            // The module path changed on disk: find the new modules' files.
            project = Project::load_with_packages(fs, root, &packages)?;
        }
    }
    let python = python_host(root, venv.as_deref(), settings);
    let lookup = |key: &str| settings.settings.get(key).cloned();
    let env_vars = |name: &str| settings.env_vars.get(name).cloned();
    let env = Environment {
        builtins: &modules.builtins,
        plugins: &modules.plugins,
        foreign: Some(&python),
        settings: &lookup,
        env_vars: &env_vars,
        limits: Limits::default(),
    };
    let compilation = compile_loaded(fs, project, &env);
    let compile_time = started.elapsed();
    let mut diagnostics = compilation.diagnostics.clone();
    let export_started = Instant::now();
    let mut exported = None;
    if compilation.succeeded() {
        if let Some(execution) = &compilation.execution {
            let registry = registry_with_python(&compilation, &modules.resources, &python, &mut diagnostics);
            let input = ExportInput {
                model: &compilation.model,
                execution,
                interner: &compilation.session.interner,
                sources: &compilation.session.sources,
                resources: registry.as_ref().unwrap_or(&modules.resources),
            };
            let (result, export_diagnostics) = export(&input);
            diagnostics.extend(export_diagnostics);
            exported = Some(result);
        }
    }
    python.stop();
    Ok(Build { compilation, export: exported, diagnostics, installed, compile_time, export_time: export_started.elapsed(), python })
}

/// The compile's plugin host (started only when the model reaches Python code).
fn python_host(root: &Path, venv: Option<&Path>, settings: &CompileSettings) -> PythonHost {
    let python = cairn_pyhost::find_python(venv, settings.python.path.as_deref());
    let mut env = settings.env_vars.clone();
    // Nothing written into module folders, and the same hash order every run.
    env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    env.insert("PYTHONHASHSEED".into(), "0".into());
    PythonHost::new(HostConfig {
        python,
        cache: settings.python.cache.clone().unwrap_or_else(std::env::temp_dir),
        host_dir: settings.python.host_dir.clone(),
        project: root.to_path_buf(),
        env,
        settings: settings.settings.clone(),
        call_limit: settings.python.call_limit,
    })
}

/// The resource declarations with the Python-declared types added, when some instance is of
/// a resource entity that no native declaration covers and a module has Python code (`None`:
/// the native ones suffice, and Python is not started for the export).
fn registry_with_python(
    compilation: &Compilation,
    native: &ResourceRegistry,
    python: &PythonHost,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ResourceRegistry> {
    if python.modules().is_empty() {
        return None;
    }
    let model = &compilation.model;
    let execution = compilation.execution.as_ref()?;
    let std_resource = model.entities.iter().position(|e| e.full_name == "std::Resource")?;
    let mut undeclared_at = None;
    let mut seen = vec![false; model.entities.len()];
    for instance in &execution.instances {
        let entity = instance.entity.index();
        if std::mem::replace(&mut seen[entity], true) {
            continue;
        }
        let def = &model.entities[entity];
        let lineage = std::iter::once(entity).chain(def.ancestors.iter().map(|a| a.index()));
        let is_resource = entity == std_resource || def.ancestors.iter().any(|a| a.index() == std_resource);
        if is_resource && !lineage.into_iter().any(|e| native.get(&model.entities[e].full_name).is_some()) {
            undeclared_at = Some(instance.span);
            break;
        }
    }
    let span = undeclared_at?;
    match python.ready() {
        Ok(ready) => {
            let mut registry = native.clone();
            cairn_pyhost::register_python_resources(python, ready.resources.into_values(), &mut registry);
            Some(registry)
        }
        Err(failure) => {
            let mut details = Details::new("plugin", format!("the resource declarations of the modules' Python code are not available: {}", failure.message), "a resource only Python declares");
            if let Some(note) = failure.note {
                details = details.hint(note);
            }
            diagnostics.push(Diagnostic::from_details(details, span));
            None
        }
    }
}

/// Turns exported resources into the documents the store and agents use: the exported
/// fields exactly (file bodies stay in [`Export::files`], named by `hash`).
pub fn resource_docs(export: &Export) -> Vec<cairn_wire::ResourceDoc> {
    export
        .resources
        .iter()
        .map(|resource| cairn_wire::ResourceDoc {
            id: cairn_wire::ResourceId(resource.id.clone()),
            resource_type: resource.resource_type.clone(),
            agent: resource.agent.clone(),
            attributes: resource.attributes.iter().map(|(k, v)| (k.to_string(), json_value(v))).collect(),
            requires: resource.requires.iter().map(|r| cairn_wire::ResourceId(r.clone())).collect(),
            hash: resource.hash.clone(),
            undefined: resource.undefined,
            send_event: resource.send_event,
            receive_events: resource.receive_events,
        })
        .collect()
}

fn json_value(value: &cairn_compiler::export::JsonValue) -> serde_json::Value {
    use cairn_compiler::export::JsonValue;
    match value {
        JsonValue::Null => serde_json::Value::Null,
        JsonValue::Bool(b) => serde_json::Value::Bool(*b),
        JsonValue::Int(i) => serde_json::Value::from(*i),
        JsonValue::Float(f) => serde_json::Value::from(*f),
        JsonValue::Str(s) => serde_json::Value::String(s.clone()),
        JsonValue::List(items) => serde_json::Value::Array(items.iter().map(json_value).collect()),
        JsonValue::Object(pairs) => serde_json::Value::Object(pairs.iter().map(|(k, v)| (k.clone(), json_value(v))).collect()),
    }
}
