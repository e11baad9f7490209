//! fs's own plugins, which are std's under fs's name: `fs::source` (the text of a file of a
//! module's `files/`), `fs::list_files` (the files in a folder of `files/`) and `fs::file` (a
//! reference to a file whose bytes, binary or not, become the body of an `fs::File`: its
//! `hash` and the file store, as Inmanta's file marker does). Paths, and the refusal of those
//! that lead out of `files/`, are std's (`stdlib/src/files.rs`).

use cairn_compiler::compile::plugins::{Param, ParamType, Plugin, PluginFailure, PluginRegistry};

pub fn register(registry: &mut PluginRegistry) {
    alias(registry, "std::source", "fs::source");
    alias(registry, "std::list_files", "fs::list_files");
    alias(registry, "std::file", "fs::file");
}

/// Registers std's plugin `from` again as `to` (std's descriptor is registered before fs's).
fn alias(registry: &mut PluginRegistry, from: &str, to: &str) {
    let plugin = match registry.lookup(from).map(|id| registry.get(id)) {
        Some(std) => Plugin {
            name: to.to_string(),
            params: std.params.clone(),
            variadic: std.variadic,
            kwargs: std.kwargs,
            unknown_passthrough: std.unknown_passthrough,
            func: std.func,
        },
        None => Plugin {
            name: to.to_string(),
            params: vec![Param::new("path", ParamType::String)],
            variadic: false,
            kwargs: false,
            unknown_passthrough: true,
            func: |_, _| Err(PluginFailure::Error("this plugin is std's under fs's name, and std's plugins are not loaded".to_string())),
        },
    };
    registry.register_plugin(plugin);
}
