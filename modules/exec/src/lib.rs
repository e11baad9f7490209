//! The `exec` module: commands run on a host. Ships the model, declares `exec::Run` as exec
//! 2.1.1 exports it (with mitogen's `via`), its plugins ([`plugins`]) and runs it
//! ([`handler`]).

pub mod handler;
pub mod plugins;

use cairn_compiler::export::ResourceDecl;
use cairn_module::{ModelFile, Module, ResourceType};
use std::sync::Arc;

pub fn module() -> Module {
    Module {
        name: "exec",
        model: vec![ModelFile { namespace: "exec", file_name: "_init.cf", text: include_str!("../model/_init.cf") }],
        plugins: plugins::register,
        resources: vec![ResourceType::new(
            ResourceDecl::new(
                "exec::Run",
                "host.name",
                "command",
                &[
                    "command", "creates", "cwd", "environment", "onlyif", "path", "reload", "reload_only", "returns", "timeout",
                    "unless", "skip_on_fail",
                ],
            )
            .computed("via", cairn_mod_mitogen::via),
            Arc::new(handler::RunHandler),
        )],
        dependency_managers: Vec::new(),
    }
}
