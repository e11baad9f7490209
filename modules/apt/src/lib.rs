//! The `apt` module: Debian packages and repositories. Ships the model and declares the
//! resource types.

pub mod handler;

use cairn_agent::HandlerRegistry;
use cairn_compiler::compile::loader::BuiltinModule;
use std::sync::Arc;
use cairn_compiler::export::{ResourceDecl, ResourceRegistry};

pub fn builtin() -> BuiltinModule {
    BuiltinModule { name: "apt", files: vec![("apt", "_init.cf", include_str!("../model/_init.cf"))] }
}

pub fn register(resources: &mut ResourceRegistry) {
    resources.register(ResourceDecl::new("apt::Package", "host.name", "name", &["name", "state"]));
    resources.register(ResourceDecl::new(
        "apt::Repository",
        "host.name",
        "name",
        &["name", "base_url", "release", "repo", "trusted"],
    ));
}

pub fn register_handlers(handlers: &mut HandlerRegistry) {
    handlers.register("apt::Package", Arc::new(handler::PackageHandler));
}
