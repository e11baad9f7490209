//! The `std` module: its model (`stdlib/model`, compiled into the binary) and its native
//! plugins. [`builtin`] hands the model to the compiler; [`register`] adds the plugins.

mod plugins;
mod types;

use cairn_compiler::compile::loader::BuiltinModule;
use cairn_compiler::compile::plugins::PluginRegistry;

/// The std model, as shipped in the binary.
pub fn builtin() -> BuiltinModule {
    BuiltinModule {
        name: "std",
        files: vec![
            ("std", "_init.cf", include_str!("../model/_init.cf")),
            ("std::testing", "testing.cf", include_str!("../model/testing.cf")),
        ],
    }
}

/// Registers every std plugin.
pub fn register(registry: &mut PluginRegistry) {
    plugins::register(registry);
    types::register(registry);
}

/// Declares std's resource types: `std::AgentConfig` (handled by the server's internal
/// agent) and `std::testing::NullResource`.
pub fn register_resources(resources: &mut cairn_compiler::export::ResourceRegistry) {
    use cairn_compiler::export::ResourceDecl;
    resources.register(
        ResourceDecl::new("std::AgentConfig", "agentname", "agentname", &["agentname", "uri", "autostart", "params"])
            .with_constant_agent("internal"),
    );
    resources.register(ResourceDecl::new("std::testing::NullResource", "agentname", "name", &["name", "agentname", "value", "fail"]));
}
