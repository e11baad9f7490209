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
use std::path::Path;
use std::time::{Duration, Instant};

/// The modules compiled into the binary: std, fs, exec, apt, mitogen (std first: fs reuses
/// its plugins).
pub fn shipped_modules() -> ModuleSet {
    ModuleSet::new(vec![
        cairn_std::module(),
        cairn_mod_fs::module(),
        cairn_mod_exec::module(),
        cairn_mod_apt::module(),
        cairn_mod_mitogen::module(),
    ])
}

/// What a compile may read of the world it runs in, passed in as data: the compiler reads
/// no environment of its own (a server compiling a user's model must not hand it its own
/// environment variables).
#[derive(Default, Clone, Debug)]
pub struct CompileSettings {
    /// Compile settings such as the environment id (`std::environment`).
    pub settings: std::collections::BTreeMap<String, String>,
    /// The environment variables the model may read (`std::get_env`).
    pub env_vars: std::collections::BTreeMap<String, String>,
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
    let mut project = Project::load(fs, root)?;
    let mut installed = Vec::new();
    if !project.config.requires.is_empty() {
        installed = fetch::install_missing(&project).map_err(|error| ProjectError::Fetch(error.to_string()))?;
        if !installed.is_empty() {
            // The module path changed on disk: find the new modules' files.
            project = Project::load(fs, root)?;
        }
    }
    let lookup = |key: &str| settings.settings.get(key).cloned();
    let env_vars = |name: &str| settings.env_vars.get(name).cloned();
    let env = Environment { builtins: &modules.builtins, plugins: &modules.plugins, settings: &lookup, env_vars: &env_vars, limits: Limits::default() };
    let compilation = compile_loaded(fs, project, &env);
    let compile_time = started.elapsed();
    let mut diagnostics = compilation.diagnostics.clone();
    let export_started = Instant::now();
    let mut exported = None;
    if compilation.succeeded() {
        if let Some(execution) = &compilation.execution {
            let input = ExportInput {
                model: &compilation.model,
                execution,
                interner: &compilation.session.interner,
                sources: &compilation.session.sources,
                resources: &modules.resources,
            };
            let (result, export_diagnostics) = export(&input);
            diagnostics.extend(export_diagnostics);
            exported = Some(result);
        }
    }
    Ok(Build { compilation, export: exported, diagnostics, installed, compile_time, export_time: export_started.elapsed() })
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
