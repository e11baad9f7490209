//! The `fs` module: files, directories and symbolic links. This crate ships the module's
//! model, declares its resource types and deploys them ([`handlers`]).

pub mod handlers;

use cairn_compiler::export::ResourceDecl;
use cairn_module::{ModelFile, Module, ResourceType};
use std::sync::Arc;

pub fn module() -> Module {
    Module {
        name: "fs",
        model: vec![ModelFile { namespace: "fs", file_name: "_init.cf", text: include_str!("../model/_init.cf") }],
        plugins: cairn_module::no_plugins,
        resources: vec![
            ResourceType::new(
                ResourceDecl::new("fs::File", "host.name", "path", &["path", "mode", "owner", "group", "content", "content_separator"]),
                Arc::new(handlers::FileHandler),
            ),
            ResourceType::new(
                ResourceDecl::new("fs::Directory", "host.name", "path", &["path", "mode", "owner", "group"]),
                Arc::new(handlers::DirectoryHandler),
            ),
            ResourceType::new(ResourceDecl::new("fs::Symlink", "host.name", "dst", &["src", "dst"]), Arc::new(handlers::SymlinkHandler)),
            ResourceType::new(
                ResourceDecl::new("fs::JsonFile", "host.name", "path", &["path", "values", "indent", "mode", "owner", "group"]),
                Arc::new(handlers::JsonFileHandler),
            ),
        ],
    }
}
