//! The module descriptor: everything a module crate (`std`, `fs`, `exec`, `apt`, `mitogen`,
//! vendor modules) gives Cairn, in one value, registered once. A resource type is declared
//! once, with its export declaration (fields, computed fields, id, agent) and its handler
//! together, so its name (`"fs::File"`) and its fields are written in one place; the module's
//! dependency managers sit beside them. [`ModuleSet`] turns a list of descriptors into what
//! the compiler (models, plugins, resource declarations, dependency managers) and the agent
//! (handlers) look up.
//!
//! This crate sits between the compiler and the agent on one side and the module crates on
//! the other: it is the only place that knows both halves of a module.

use cairn_agent::{Handler, HandlerRegistry};
use cairn_compiler::compile::loader::BuiltinModule;
use cairn_compiler::compile::plugins::PluginRegistry;
use cairn_compiler::export::{DependencyManager, ResourceDecl, ResourceRegistry};
use std::sync::Arc;

/// One `.cf` file of a module's model, compiled into the binary.
#[derive(Clone, Copy, Debug)]
pub struct ModelFile {
    /// `fs`, `std::testing`, ...
    pub namespace: &'static str,
    /// The file's name as diagnostics show it (`_init.cf`).
    pub file_name: &'static str,
    pub text: &'static str,
}

/// A resource type: how the compiler exports it and which handler deploys it.
#[derive(Clone)]
pub struct ResourceType {
    pub decl: ResourceDecl,
    /// `None` for types that no agent handler deploys (handled by the orchestrator itself,
    /// such as `std::AgentConfig`).
    pub handler: Option<Arc<dyn Handler>>,
}

impl ResourceType {
    pub fn new(decl: ResourceDecl, handler: Arc<dyn Handler>) -> Self {
        ResourceType { decl, handler: Some(handler) }
    }

    pub fn without_handler(decl: ResourceDecl) -> Self {
        ResourceType { decl, handler: None }
    }
}

/// Everything one module brings.
pub struct Module {
    pub name: &'static str,
    pub model: Vec<ModelFile>,
    /// Adds the module's native plugins (`name::plugin`). Modules are registered in order, so
    /// a module may reuse the plugins of one listed before it (std comes first).
    pub plugins: fn(&mut PluginRegistry),
    pub resources: Vec<ResourceType>,
    /// Functions that add `requires` edges once all resources of a version are known (fs's
    /// "a file requires the directories it is in").
    pub dependency_managers: Vec<DependencyManager>,
}

impl Module {
    /// The module's model as the compiler loads it.
    pub fn builtin(&self) -> BuiltinModule {
        BuiltinModule { name: self.name, files: self.model.iter().map(|f| (f.namespace, f.file_name, f.text)).collect() }
    }
}

/// A module with no native plugins.
pub fn no_plugins(_: &mut PluginRegistry) {}

/// A set of modules, looked up by the compiler and the agent.
pub struct ModuleSet {
    pub builtins: Vec<BuiltinModule>,
    pub plugins: PluginRegistry,
    pub resources: ResourceRegistry,
    pub handlers: HandlerRegistry,
}

impl ModuleSet {
    pub fn new(modules: Vec<Module>) -> ModuleSet {
        let mut set = ModuleSet {
            builtins: Vec::with_capacity(modules.len()),
            plugins: PluginRegistry::new(),
            resources: ResourceRegistry::new(),
            handlers: HandlerRegistry::new(),
        };
        for module in modules {
            set.builtins.push(module.builtin());
            (module.plugins)(&mut set.plugins);
            for resource in module.resources {
                if let Some(handler) = resource.handler {
                    set.handlers.register(&resource.decl.name, handler);
                }
                set.resources.register(resource.decl);
            }
            for manager in module.dependency_managers {
                set.resources.register_dependency_manager(manager);
            }
        }
        set
    }
}
