//! The `std` module: its model (`stdlib/model`, compiled into the binary) and its native
//! plugins. [`builtin`] hands the model to the compiler; [`register`] adds the plugins, one
//! module per theme (strings, collections, instances, environment, files, json, network,
//! types).

mod collections;
mod digest;
mod environment;
mod files;
mod format;
mod instances;
mod json;
mod network;
mod strings;
mod support;
#[cfg(test)]
mod testing;
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
    strings::register(registry);
    collections::register(registry);
    instances::register(registry);
    environment::register(registry);
    files::register(registry);
    json::register(registry);
    network::register(registry);
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

/// `std::testing::NullResource`: changes nothing; `fail = true` makes it fail.
struct NullHandler;

impl cairn_agent::Handler for NullHandler {
    fn fields(&self) -> &[&str] {
        &[]
    }

    fn read(&self, _io: &dyn cairn_agent::Io, desired: &cairn_wire::ResourceDoc) -> Result<Option<cairn_agent::Fields>, cairn_agent::HandlerError> {
        if desired.bool_attr("fail") {
            return Err(cairn_agent::HandlerError::new("failed on purpose (`fail = true`)"));
        }
        Ok(Some(cairn_agent::Fields::new()))
    }

    fn apply(
        &self,
        _io: &dyn cairn_agent::Io,
        _desired: &cairn_wire::ResourceDoc,
        _current: Option<&cairn_agent::Fields>,
        _changes: &[cairn_wire::Change],
    ) -> Result<(), cairn_agent::HandlerError> {
        Ok(())
    }
}

pub fn register_handlers(handlers: &mut cairn_agent::HandlerRegistry) {
    handlers.register("std::testing::NullResource", std::sync::Arc::new(NullHandler));
}
