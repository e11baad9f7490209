//! The `fs` module: files, directories and symbolic links. This crate ships the module's
//! model and declares its resource types (handlers come with the deploy engine).

pub mod handlers;

use cairn_agent::HandlerRegistry;
use cairn_compiler::compile::loader::BuiltinModule;
use std::sync::Arc;
use cairn_compiler::export::{ResourceDecl, ResourceRegistry};

pub fn builtin() -> BuiltinModule {
    BuiltinModule { name: "fs", files: vec![("fs", "_init.cf", include_str!("../model/_init.cf"))] }
}

pub fn register(resources: &mut ResourceRegistry) {
    resources.register(ResourceDecl::new(
        "fs::File",
        "host.name",
        "path",
        &["path", "mode", "owner", "group", "content", "content_separator"],
    ));
    resources.register(ResourceDecl::new("fs::Directory", "host.name", "path", &["path", "mode", "owner", "group"]));
    resources.register(ResourceDecl::new("fs::Symlink", "host.name", "dst", &["src", "dst"]));
    resources.register(ResourceDecl::new(
        "fs::JsonFile",
        "host.name",
        "path",
        &["path", "values", "indent", "mode", "owner", "group"],
    ));
}

pub fn register_handlers(handlers: &mut HandlerRegistry) {
    handlers.register("fs::File", Arc::new(handlers::FileHandler));
    handlers.register("fs::Directory", Arc::new(handlers::DirectoryHandler));
    handlers.register("fs::Symlink", Arc::new(handlers::SymlinkHandler));
    handlers.register("fs::JsonFile", Arc::new(handlers::JsonFileHandler));
}
