//! The `fs` module: files, directories and symbolic links. This crate ships the module's
//! model and declares its resource types (handlers come with the deploy engine).

use cairn_compiler::compile::loader::BuiltinModule;
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
