//! The `std` module: its model (`stdlib/model`, compiled into the binary, with its
//! templates in `stdlib/templates`), its native plugins and resource types. [`module`] is its
//! descriptor; [`register`] adds the plugins, one module per theme (strings, collections,
//! instances, environment, files, template, json, network, types).

mod casts;
mod collections;
use cairn_wire::digest;
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
use cairn_compiler::compile::value::Value;
use cairn_compiler::export::{FieldCtx, FieldError, JsonValue, ResourceDecl};
use cairn_module::{ModelFile, Module, ResourceType};
use std::sync::Arc;

/// The std module: its model (as shipped in the binary), its plugins and resource types, as
/// std 8.4.2 exports them: `std::AgentConfig` (handled by the orchestrator itself, no agent
/// handler; exported only when `autostart` is true) and `std::testing::NullResource` (left out
/// when `managed` is false).
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
                ResourceDecl::new("std::AgentConfig", "agent", "agentname", &["agentname", "uri"])
                    .with_computed_agent(agent_config_agent)
                    .computed("autostart", autostart),
            ),
            ResourceType::new(
                ResourceDecl::new("std::testing::NullResource", "agentname", "name", &["name", "agentname", "value", "fail"]).managed(),
                Arc::new(NullHandler),
            ),
        ],
        dependency_managers: Vec::new(),
    }
}

/// The agent of an `std::AgentConfig`: its `agent` attribute, `internal` for a model without
/// one.
fn agent_config_agent(ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    match ctx.this().get("agent").value() {
        Some(Value::Str(agent)) => Ok(JsonValue::Str(agent.to_string())),
        Some(Value::Unknown) => Err(FieldError::Unknown),
        _ => Ok(JsonValue::Str("internal".to_string())),
    }
}

/// `autostart`: an agent that is not started is not part of the agent map, so its
/// `AgentConfig` is left out of the export.
fn autostart(ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    match ctx.this().get("autostart").value() {
        Some(Value::Bool(true)) => Ok(JsonValue::Bool(true)),
        Some(Value::Unknown) => Err(FieldError::Unknown),
        _ => Err(FieldError::Ignore),
    }
}

/// Registers every std plugin.
pub fn register(registry: &mut PluginRegistry) {
    casts::register(registry);
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

    fn read(&self, _cx: &cairn_agent::Context<'_>, desired: &cairn_wire::ResourceDoc) -> Result<Option<cairn_agent::Fields>, cairn_agent::HandlerError> {
        if desired.bool_attr("fail") {
            return Err(cairn_agent::HandlerError::new("failed on purpose (`fail = true`)"));
        }
        Ok(Some(cairn_agent::Fields::new()))
    }

    fn apply(
        &self,
        _cx: &cairn_agent::Context<'_>,
        _desired: &cairn_wire::ResourceDoc,
        _current: Option<&cairn_agent::Fields>,
        _changes: &[cairn_wire::Change],
    ) -> Result<(), cairn_agent::HandlerError> {
        Ok(())
    }
}
