//! fs's own plugins, which behave as std's: `fs::source` (the text of a file of a module's
//! `files/`) and `fs::list_files` (the files in a folder of `files/`) are std's
//! `std::source`/`std::list_files` under fs's name; `fs::file` refers to a module file whose
//! bytes, binary or not, become the body of an `fs::File` (its `hash` and the file store),
//! as Inmanta's file marker does.
//!
//! Paths are `module/rest` (a file of that module's `files/`) or `./rest` (the module of the
//! calling instance's entity), as in std. A `..` that would climb out of `files/` is refused
//! by the text of the path here; links that lead out are refused by the compiler.

use cairn_compiler::compile::plugins::{Param, ParamType, Plugin, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;

pub fn register(registry: &mut PluginRegistry) {
    alias(registry, "std::source", "fs::source");
    alias(registry, "std::list_files", "fs::list_files");
    registry.register("fs::file", vec![Param::new("path", ParamType::String)], file);
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

fn error(message: String) -> PluginFailure {
    PluginFailure::Error(message)
}

/// `fs::file(path)`: a reference to the module file, read now; the export hashes its bytes.
fn file(ctx: &mut PluginCtx<'_>, args: &[Value]) -> Result<Value, PluginFailure> {
    let path = match &args[0] {
        Value::Str(path) => path.to_string(),
        other => return Err(error(format!("expected a path, got {other}"))),
    };
    let file = resolve(ctx, &path)?;
    ctx.host.file_reference(&file).map(|reference| Value::str(&reference)).map_err(|e| error(format!("`{path}`: {e}")))
}

/// `module/rest` to the module file `module/files/rest`, with `.` and empty parts dropped and
/// `..` resolved; a `..` that would climb out of `files/` is refused.
fn resolve(ctx: &PluginCtx<'_>, path: &str) -> Result<String, PluginFailure> {
    if path.starts_with('/') {
        return Err(error(format!("`{path}`: files of the project itself are not supported, put them in a module")));
    }
    let (module, rest) = match path.strip_prefix("./") {
        Some(rest) => {
            let this = ctx.this.ok_or_else(|| error(format!("`{path}`: `./` paths need a calling instance to find the module")))?;
            let entity = ctx.host.entity_name(this);
            (entity.split("::").next().unwrap_or_default().to_string(), rest)
        }
        None => match path.split_once('/') {
            Some((module, rest)) => (module.to_string(), rest),
            None => (path.to_string(), ""),
        },
    };
    if module.is_empty() || module == "." || module == ".." {
        return Err(error(format!("`{path}` does not name a module (expected `module/path`)")));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(error(format!("`{path}` climbs out of the module's `files/` folder: a `..` may not lead above it")));
                }
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(error(format!("`{path}` names no file of the module's `files/` folder")));
    }
    Ok(std::iter::once(module.as_str()).chain(std::iter::once("files")).chain(parts).collect::<Vec<_>>().join("/"))
}
