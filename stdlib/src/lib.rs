//! The `std` module: its model (`stdlib/model`, compiled into the binary, with its
//! templates in `stdlib/templates`), its native plugins and resource types. [`module`] is its
//! descriptor; [`register`] adds the plugins, one module per theme (strings, collections,
//! instances, environment, files, template, json, network, types).

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
mod template;
#[cfg(test)]
mod testing;
mod types;

use cairn_compiler::compile::plugins::PluginRegistry;
use cairn_compiler::export::ResourceDecl;
use cairn_module::{ModelFile, Module, ResourceType};
use std::sync::Arc;

/// The std module: its model (as shipped in the binary), its plugins and resource types:
/// `std::AgentConfig` (handled by the orchestrator itself, no agent handler) and
/// `std::testing::NullResource`.
pub fn module() -> Module {
    Module {
        name: "std",
        model: vec![
            ModelFile { namespace: "std", file_name: "_init.cf", text: include_str!("../model/_init.cf") },
            ModelFile { namespace: "std::testing", file_name: "testing.cf", text: include_str!("../model/testing.cf") },
        ],
        plugins: register,
        resources: vec![
            ResourceType::without_handler(
                ResourceDecl::new("std::AgentConfig", "agentname", "agentname", &["agentname", "uri", "autostart", "params"])
                    .with_constant_agent("internal"),
            ),
            ResourceType::new(
                ResourceDecl::new("std::testing::NullResource", "agentname", "name", &["name", "agentname", "value", "fail"]),
                Arc::new(NullHandler),
            ),
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
    template::register(registry);
    json::register(registry);
    network::register(registry);
    types::register(registry);
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
