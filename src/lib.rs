//! The `cairn` library side of the binary: which modules ship inside Cairn, and the
//! compile-then-export pipeline the commands share. The binary (`main.rs`) only parses
//! arguments and prints.

pub mod fetch;

use cairn_compiler::compile::loader::BuiltinModule;
use cairn_compiler::compile::plugins::PluginRegistry;
use cairn_compiler::compile::{compile_project, Compilation, Environment};
use cairn_compiler::diagnostic::Diagnostic;
use cairn_compiler::export::{export, Export, ExportInput, ResourceRegistry};
use cairn_compiler::fs::FileSystem;
use cairn_compiler::project::ProjectError;
use std::path::Path;
use std::time::{Duration, Instant};

/// The modules compiled into the binary: their models, plugins and resource types.
pub struct Modules {
    pub builtins: Vec<BuiltinModule>,
    pub plugins: PluginRegistry,
    pub resources: ResourceRegistry,
}

/// Registers every shipped module (std, fs, exec, apt).
pub fn modules() -> Modules {
    let mut plugins = PluginRegistry::new();
    let mut resources = ResourceRegistry::new();
    cairn_std::register(&mut plugins);
    cairn_std::register_resources(&mut resources);
    cairn_mod_fs::register(&mut resources);
    cairn_mod_exec::register(&mut resources);
    cairn_mod_apt::register(&mut resources);
    Modules {
        builtins: vec![cairn_std::builtin(), cairn_mod_fs::builtin(), cairn_mod_exec::builtin(), cairn_mod_apt::builtin()],
        plugins,
        resources,
    }
}

/// A compile followed, when it succeeded, by an export.
pub struct Build {
    pub compilation: Compilation,
    pub export: Option<Export>,
    /// Compile and export diagnostics together, sorted.
    pub diagnostics: Vec<Diagnostic>,
    pub compile_time: Duration,
    pub export_time: Duration,
}

impl Build {
    pub fn succeeded(&self) -> bool {
        self.diagnostics.is_empty() && self.compilation.session.io_errors.is_empty()
    }
}

/// Compiles the project at `root` and exports its resources; `env_vars` are the environment
/// variables the model may read (`std::get_env`).
pub fn build(
    fs: &dyn FileSystem,
    root: &Path,
    modules: &Modules,
    env_vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Build, ProjectError> {
    let started = Instant::now();
    let settings = |_: &str| None;
    let env = Environment { builtins: &modules.builtins, plugins: &modules.plugins, settings: &settings, env_vars };
    let compilation = compile_project(fs, root, &env)?;
    // Required modules missing from the module path are installed from the project's
    // repositories first (then the project is loaded again, with them).
    let compilation = if compilation.project.config.requires.is_empty() {
        compilation
    } else {
        match fetch::install_missing(&compilation.project) {
            Ok(installed) if installed.is_empty() => compilation,
            Ok(_) => compile_project(fs, root, &env)?,
            Err(error) => return Err(ProjectError::Fetch(error.to_string())),
        }
    };
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
    Ok(Build { compilation, export: exported, diagnostics, compile_time, export_time: export_started.elapsed() })
}

/// The handlers of every shipped resource type.
pub fn handlers() -> cairn_agent::HandlerRegistry {
    let mut handlers = cairn_agent::HandlerRegistry::new();
    cairn_std::register_handlers(&mut handlers);
    cairn_mod_fs::register_handlers(&mut handlers);
    cairn_mod_exec::register_handlers(&mut handlers);
    cairn_mod_apt::register_handlers(&mut handlers);
    handlers
}

/// Turns exported resources into the documents the store and agents use.
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

/// Where `cairn deploy` keeps its state for a project.
pub fn deploy_store_path(project: &Path) -> std::path::PathBuf {
    project.join("data").join("deploy").join("state.db")
}
