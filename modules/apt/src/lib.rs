//! The `apt` module: Debian packages and repositories. Ships the model, declares the
//! resource types and installs packages ([`handler`]).

pub mod handler;

use cairn_compiler::export::ResourceDecl;
use cairn_module::{ModelFile, Module, ResourceType};
use std::sync::Arc;

pub fn module() -> Module {
    Module {
        name: "apt",
        model: vec![ModelFile { namespace: "apt", file_name: "_init.cf", text: include_str!("../model/_init.cf") }],
        plugins: cairn_module::no_plugins,
        resources: vec![
            ResourceType::new(ResourceDecl::new("apt::Package", "host.name", "name", &["name", "state"]), Arc::new(handler::PackageHandler)),
            // No handler yet: exported so that a model using it is not silently dropped.
            ResourceType::without_handler(ResourceDecl::new(
                "apt::Repository",
                "host.name",
                "name",
                &["name", "base_url", "release", "repo", "trusted"],
            )),
        ],
    }
}
