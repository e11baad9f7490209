//! The `apt` module: Debian packages and the repositories they come from. Ships the model
//! (a repository is an `fs::ConfigFile`, not a resource of its own), declares `apt::Package`
//! as apt 1.1.0 exports it (with mitogen's `via`) and installs packages ([`handler`]).

pub mod handler;

use cairn_compiler::export::ResourceDecl;
use cairn_module::{ModelFile, Module, ResourceType};
use std::sync::Arc;

pub fn module() -> Module {
    Module {
        name: "apt",
        model: vec![ModelFile { namespace: "apt", file_name: "_init.cf", text: include_str!("../model/_init.cf") }],
        plugins: cairn_module::no_plugins,
        resources: vec![ResourceType::new(
            ResourceDecl::new("apt::Package", "host.name", "name", &["name"]).computed("via", cairn_mod_mitogen::via),
            Arc::new(handler::PackageHandler),
        )],
        dependency_managers: Vec::new(),
    }
}
