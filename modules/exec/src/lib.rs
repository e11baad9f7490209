//! The `exec` module: commands run on a host. Ships the model and declares `exec::Run`.

pub mod handler;

use cairn_agent::HandlerRegistry;
use cairn_compiler::compile::loader::BuiltinModule;
use std::sync::Arc;
use cairn_compiler::export::{ResourceDecl, ResourceRegistry};

pub fn builtin() -> BuiltinModule {
    BuiltinModule { name: "exec", files: vec![("exec", "_init.cf", include_str!("../model/_init.cf"))] }
}

pub fn register(resources: &mut ResourceRegistry) {
    resources.register(ResourceDecl::new(
        "exec::Run",
        "host.name",
        "command",
        &[
            "command", "creates", "cwd", "environment", "onlyif", "path", "reload", "reload_only", "returns", "timeout",
            "unless", "skip_on_fail",
        ],
    ));
}

pub fn register_handlers(handlers: &mut HandlerRegistry) {
    handlers.register("exec::Run", Arc::new(handler::RunHandler));
}
