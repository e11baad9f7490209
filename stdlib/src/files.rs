//! The plugins that read a module's files: `source` and `file` (a file of the module's
//! `files/` folder) and `list_files` (the files in a folder of `files/`); and the path
//! resolution they share with `std::template` (a file of `templates/`, see `template`).
//!
//! Paths are Inmanta's: `module/rest` names `rest` inside the module's folder; `./rest`
//! names the module of the calling statement; a path starting with `/` names the project's
//! own `files/` or `templates/` folder.
//!
//! A path stays inside the folder it names: `..` that would climb out of `files/` (or
//! `templates/`) is refused here, by the text of the path; the compiler refuses symbolic links
//! that lead out of the folder, since only it sees the files. A refusal names the argument.

use crate::support::{error, text};
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;

pub fn register(registry: &mut PluginRegistry) {
    let path = || vec![Param::new("path", ParamType::String)];
    registry.register("std::source", path(), |ctx, a| {
        let file = resolve(ctx, text(&a[0]), "files")?;
        ctx.host.module_file(&file).map(|t| Value::str(&t)).map_err(|e| about(text(&a[0]), e))
    });
    // Inmanta's `file` returns a marker naming the file, whose bytes (binary or not) become
    // the body of the `fs::File` that uses it: a reference the host keeps with the compile.
    registry.register("std::file", path(), |ctx, a| {
        let file = resolve(ctx, text(&a[0]), "files")?;
        ctx.host.file_reference(&file).map(|r| Value::str(&r)).map_err(|e| about(text(&a[0]), e))
    });
    registry.register("std::list_files", path(), |ctx, a| {
        let folder = resolve(ctx, text(&a[0]), "files")?;
        let names = ctx.host.module_files(&folder).map_err(|e| about(text(&a[0]), e))?;
        Ok(Value::list(names.iter().map(|n| Value::str(n)).collect()))
    });
}

/// A failure of the host about the file that the argument `path` names.
pub fn about(path: &str, message: String) -> PluginFailure {
    error(format!("`{path}`: {message}"))
}

/// Where a path of `source`, `file`, `list_files` or `template` leads: the module (`""` for
/// the project itself) and the parts of the path inside its `folder`.
pub struct Located {
    pub module: String,
    pub parts: Vec<String>,
}

impl Located {
    /// The path the host reads: `module/folder/rest` (`/folder/rest` for the project).
    pub fn host_path(&self, folder: &str) -> String {
        let mut path = format!("{}/{folder}", self.module);
        for part in &self.parts {
            path.push('/');
            path.push_str(part);
        }
        path
    }

    /// The path inside the folder (`rest`): the name Jinja2's loader gives the template.
    pub fn inner(&self) -> String {
        self.parts.join("/")
    }
}

/// Splits `path` into its module and the parts inside `folder`, with `.` and empty parts
/// dropped and `..` resolved; a `..` that would climb out of `folder` is refused.
pub fn locate(ctx: &PluginCtx<'_>, path: &str, folder: &str) -> Result<Located, PluginFailure> {
    let (module, rest) = if let Some(rest) = path.strip_prefix("./") {
        // Inmanta takes the module of the calling statement; the entity of the calling
        // instance is the best guess when the host cannot say.
        let module = ctx.host.calling_module().or_else(|| {
            ctx.this.map(|this| ctx.host.entity_name(this).split("::").next().unwrap_or_default().to_string())
        });
        let module = module.ok_or_else(|| error(format!("`{path}`: `./` paths need to know the calling module")))?;
        (module, rest)
    } else if let Some(rest) = path.strip_prefix('/') {
        (String::new(), rest)
    } else {
        match path.split_once('/') {
            Some((module, rest)) => (module.to_string(), rest),
            None => (path.to_string(), ""),
        }
    };
    if module == "." || module == ".." || (module.is_empty() && !path.starts_with('/')) {
        return Err(error(format!("`{path}` does not name a module (expected `module/path`)")));
    }
    let mut parts: Vec<String> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    let whose = if module.is_empty() { "the project's" } else { "the module's" };
                    return Err(error(format!("`{path}` climbs out of {whose} `{folder}/` folder: a `..` may not lead above it")));
                }
            }
            part => parts.push(part.to_string()),
        }
    }
    Ok(Located { module, parts })
}

/// `module/rest` to the host path `module/<folder>/rest` (see [`locate`]).
pub fn resolve(ctx: &PluginCtx<'_>, path: &str, folder: &str) -> Result<String, PluginFailure> {
    locate(ctx, path, folder).map(|located| located.host_path(folder))
}

#[cfg(test)]
mod tests {
    use crate::testing::FakeHost;
    use cairn_compiler::compile::value::Value;

    fn host() -> FakeHost {
        let mut host = FakeHost::default();
        for (path, text) in [
            ("web/files/a.conf", "A"),
            ("web/files/b.conf", "B"),
            ("web/files/sub/c.conf", "C"),
        ] {
            host.files.insert(path.to_string(), text.to_string());
        }
        host
    }

    #[test]
    fn sources_and_listings() {
        let mut host = host();
        assert_eq!(host.call("std::source", &[Value::str("web/a.conf")], None), Ok(Value::str("A")));
        let reference = host.call("std::file", &[Value::str("web/sub/c.conf")], None);
        let expected = format!("{}web/files/sub/c.conf", cairn_compiler::compile::plugins::FILE_REFERENCE_PREFIX);
        assert_eq!(reference, Ok(Value::str(&expected)), "a reference to the file, not its text");
        assert!(host.call("std::source", &[Value::str("web/none")], None).is_err());
        assert!(host.call("std::source", &[Value::str("/project.txt")], None).is_err());
        let listed = host.call("std::list_files", &[Value::str("web")], None);
        assert_eq!(listed, Ok(Value::list(vec![Value::str("a.conf"), Value::str("b.conf")])));
        let listed = host.call("std::list_files", &[Value::str("web/sub/")], None);
        assert_eq!(listed, Ok(Value::list(vec![Value::str("c.conf")])));
        assert!(host.call("std::list_files", &[Value::str("other")], None).is_err());
    }

    #[test]
    fn dot_dot_stays_inside_the_folder_or_is_refused() {
        let mut host = host();
        host.files.insert("web/model/_init.cf".to_string(), "entity Secret: end".to_string());
        assert_eq!(host.call("std::source", &[Value::str("web/sub/../a.conf")], None), Ok(Value::str("A")));
        assert_eq!(host.call("std::source", &[Value::str("web/./sub//c.conf")], None), Ok(Value::str("C")));
        for (plugin, path, folder) in [
            ("std::source", "web/../../../../etc/shadow", "files"),
            ("std::file", "web/../model/_init.cf", "files"),
            ("std::list_files", "web/sub/../..", "files"),
            ("std::template", "web/../files/a.conf", "templates"),
            ("std::source", "./../x", "files"),
        ] {
            let this = host.instance("web::Site", &[], &[]);
            let refused = host.call(plugin, &[Value::str(path)], Some(this));
            assert_eq!(
                refused,
                Err(cairn_compiler::compile::plugins::PluginFailure::Error(format!(
                    "`{path}` climbs out of the module's `{folder}/` folder: a `..` may not lead above it"
                ))),
                "{plugin}({path})"
            );
        }
        assert!(host.call("std::source", &[Value::str("../etc/passwd")], None).is_err());
    }

    #[test]
    fn a_host_refusal_names_the_argument() {
        let mut host = host();
        let missing = host.call("std::source", &[Value::str("web/none")], None);
        assert_eq!(
            missing,
            Err(cairn_compiler::compile::plugins::PluginFailure::Error("`web/none`: cannot read web/files/none".to_string()))
        );
    }

}
