//! The `fs` module: files, directories, symbolic links and JSON documents. This crate ships
//! the module's model, declares its resource types as fs 1.1.2 exports them (their fields,
//! computed in [`export`]; every one with mitogen's `via`), its dependency manager (a
//! resource requires the managed directories it is in), its plugins ([`plugins`]), and deploys
//! the resources ([`handlers`]).

pub mod export;
pub mod handlers;
pub mod plugins;

use cairn_compiler::export::{DependencyManager, ResourceDecl};
use cairn_module::{ModelFile, Module, ResourceType};
use std::sync::Arc;

pub fn module() -> Module {
    Module {
        name: "fs",
        model: vec![ModelFile { namespace: "fs", file_name: "_init.cf", text: include_str!("../model/_init.cf") }],
        plugins: plugins::register,
        resources: vec![
            ResourceType::new(
                ResourceDecl::new("fs::File", "host.name", "path", &["path", "owner", "group"])
                    .computed("permissions", export::permissions)
                    .computed("hash", export::hash)
                    .computed("via", cairn_mod_mitogen::via),
                Arc::new(handlers::FileHandler),
            ),
            ResourceType::new(
                ResourceDecl::new("fs::Directory", "host.name", "path", &["path", "owner", "group"])
                    .computed("permissions", export::permissions)
                    .computed("via", cairn_mod_mitogen::via),
                Arc::new(handlers::DirectoryHandler),
            ),
            ResourceType::new(
                ResourceDecl::new("fs::Symlink", "host.name", "dst", &["src", "dst"]).computed("via", cairn_mod_mitogen::via),
                Arc::new(handlers::SymlinkHandler),
            ),
            ResourceType::new(
                ResourceDecl::new("fs::JsonFile", "host.name", "uri", &["path", "owner", "group", "indent", "format"])
                    .computed("uri", export::uri)
                    .computed("permissions", export::permissions)
                    .computed("values", export::values)
                    .computed("via", cairn_mod_mitogen::via),
                Arc::new(handlers::JsonFileHandler),
            ),
        ],
        dependency_managers: vec![DependencyManager::new("fs::dir_before_file", export::dir_before_file)],
    }
}
