//! The plugins that read a module's files: `source` and `file` (a file of the module's
//! `files/` folder), `list_files` (the files in a folder of `files/`) and `template`
//! (a Jinja2 template of the module's `templates/` folder, rendered with minijinja).
//!
//! Paths are Inmanta's: `module/rest` names `rest` inside the module's folder; `./rest`
//! names the module of the calling instance's entity (Inmanta uses the calling statement's
//! module, which is almost always the same); a path starting with `/` would name the
//! project's own `files/` or `templates/` folder, which the plugin API cannot read.
//!
//! A path stays inside the folder it names: `..` that would climb out of `files/` (or
//! `templates/`) is refused here, by the text of the path; the compiler refuses symbolic links
//! that lead out of the folder, since only it sees the files. A refusal names the argument.

use crate::support::{error, text, PluginResult};
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;
use indexmap::IndexMap;
use std::sync::Arc;

pub fn register(registry: &mut PluginRegistry) {
    let path = || vec![Param::new("path", ParamType::String)];
    registry.register("std::source", path(), |ctx, a| {
        let file = resolve(ctx, text(&a[0]), "files")?;
        ctx.host.module_file(&file).map(|t| Value::str(&t)).map_err(|e| about(text(&a[0]), e))
    });
    // Inmanta's `file` returns a marker that its file handler reads on the agent; Cairn's
    // export carries the content itself, so `file` returns it as `source` does.
    registry.register("std::file", path(), |ctx, a| {
        let file = resolve(ctx, text(&a[0]), "files")?;
        ctx.host.module_file(&file).map(|t| Value::str(&t)).map_err(|e| about(text(&a[0]), e))
    });
    registry.register("std::list_files", path(), |ctx, a| {
        let folder = resolve(ctx, text(&a[0]), "files")?;
        let names = ctx.host.module_files(&folder).map_err(|e| about(text(&a[0]), e))?;
        Ok(Value::list(names.iter().map(|n| Value::str(n)).collect()))
    });
    registry.register("std::template", path(), template);
}

/// A failure of the host about the file that the argument `path` names.
fn about(path: &str, message: String) -> PluginFailure {
    error(format!("`{path}`: {message}"))
}

/// `module/rest` to the module file `module/<folder>/rest`, with `.` and empty parts dropped
/// and `..` resolved; a `..` that would climb out of `<folder>` is refused.
pub fn resolve(ctx: &PluginCtx<'_>, path: &str, folder: &str) -> Result<String, PluginFailure> {
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
                    return Err(error(format!(
                        "`{path}` climbs out of the module's `{folder}/` folder: a `..` may not lead above it"
                    )));
                }
            }
            part => parts.push(part),
        }
    }
    Ok(std::iter::once(module.as_str()).chain(std::iter::once(folder)).chain(parts).collect::<Vec<_>>().join("/"))
}

/// `std::template("module/file.j2")`: renders `templates/file.j2` of the module. The
/// template's variables are the attributes of the calling instance (`self`); only those the
/// template names are read, and `a.b.c` paths follow relations, so a template waits for
/// exactly what it uses. A variable that is not defined is an error (Inmanta's
/// `StrictUndefined`); if a value it uses is unknown, so is the result.
fn template(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let path = text(&args[0]).to_string();
    let file = resolve(ctx, &path, "templates")?;
    let source = ctx.host.module_file(&file).map_err(|e| about(&path, e))?;
    let compiled = compiled_template(&path, source)?;
    let mut context = Tree::default();
    if let Some(this) = ctx.this {
        let attributes = ctx.host.attribute_names(this);
        for name in &compiled.names {
            let parts: Vec<&str> = name.split('.').collect();
            if !attributes.iter().any(|n| n == parts[0]) {
                continue;
            }
            let value = ctx.host.attribute(this, parts[0])?;
            if !context.insert(ctx, &parts, value)? {
                return Ok(Value::Unknown);
            }
        }
    }
    let template = compiled.env.get_template("template").map_err(|e| error(format!("template {path}: {e}")))?;
    let rendered = template.render(context.into_jinja(ctx)).map_err(|e| error(format!("template {path}: {e}")))?;
    Ok(Value::str(&rendered))
}

/// A parsed template and the variables it reads (sorted).
struct CompiledTemplate {
    env: minijinja::Environment<'static>,
    names: Vec<String>,
}

/// Templates are parsed once per text: a model renders the same template for thousands of
/// instances. The text is the key, so an edited template is parsed anew; the cache is
/// emptied when it grows past `TEMPLATE_CACHE_LIMIT` texts (a long-running process).
const TEMPLATE_CACHE_LIMIT: usize = 512;

thread_local! {
    static TEMPLATES: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<CompiledTemplate>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn compiled_template(path: &str, source: String) -> Result<std::rc::Rc<CompiledTemplate>, PluginFailure> {
    if let Some(found) = TEMPLATES.with(|cache| cache.borrow().get(&source).cloned()) {
        return Ok(found);
    }
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template_owned("template", source.clone()).map_err(|e| error(format!("template {path}: {e}")))?;
    let mut names: Vec<String> = env
        .get_template("template")
        .map_err(|e| error(format!("template {path}: {e}")))?
        .undeclared_variables(true)
        .into_iter()
        .collect();
    names.sort();
    let compiled = std::rc::Rc::new(CompiledTemplate { env, names });
    TEMPLATES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= TEMPLATE_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(source, compiled.clone());
    });
    Ok(compiled)
}

/// The variables of a template: values, or for an instance whose attributes the template
/// reads (`host.name`), a map of those attributes.
#[derive(Default)]
struct Tree {
    entries: IndexMap<String, Node>,
}

enum Node {
    Leaf(Value),
    Branch(Tree),
}

impl Tree {
    /// Adds `parts` (a variable path) whose first element holds `value`; false when a value
    /// on the path is unknown.
    fn insert(&mut self, ctx: &mut PluginCtx<'_>, parts: &[&str], value: Value) -> Result<bool, PluginFailure> {
        if contains_unknown(&value) {
            return Ok(false);
        }
        let Some((first, rest)) = parts.split_first() else { return Ok(true) };
        let Value::Instance(id) = value else {
            self.entries.entry(first.to_string()).or_insert(Node::Leaf(value));
            return Ok(true);
        };
        let Some(next) = rest.first() else {
            self.entries.entry(first.to_string()).or_insert(Node::Leaf(value));
            return Ok(true);
        };
        let node = self.entries.entry(first.to_string()).or_insert_with(|| Node::Branch(Tree::default()));
        if let Node::Leaf(_) = node {
            *node = Node::Branch(Tree::default());
        }
        let Node::Branch(child) = node else { return Ok(true) };
        if !ctx.host.attribute_names(id).iter().any(|n| n == next) {
            return Ok(true);
        }
        let inner = ctx.host.attribute(id, next)?;
        child.insert(ctx, rest, inner)
    }

    fn into_jinja(self, ctx: &PluginCtx<'_>) -> minijinja::Value {
        let map: IndexMap<String, minijinja::Value> = self
            .entries
            .into_iter()
            .map(|(k, node)| {
                let value = match node {
                    Node::Leaf(value) => to_jinja(&value, ctx),
                    Node::Branch(tree) => tree.into_jinja(ctx),
                };
                (k, value)
            })
            .collect();
        minijinja::Value::from_object(OrderedMap(map))
    }
}

fn contains_unknown(value: &Value) -> bool {
    match value {
        Value::Unknown => true,
        Value::List(items) => items.iter().any(contains_unknown),
        Value::Dict(dict) => dict.values().any(contains_unknown),
        _ => false,
    }
}

/// A value as the template sees it; instances read as their rendered name.
fn to_jinja(value: &Value, ctx: &PluginCtx<'_>) -> minijinja::Value {
    match value {
        Value::Null | Value::Unknown => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Int(i) => minijinja::Value::from(*i),
        Value::Float(f) => minijinja::Value::from(*f),
        Value::Str(s) => minijinja::Value::from(s.as_ref()),
        Value::List(items) => minijinja::Value::from(items.iter().map(|v| to_jinja(v, ctx)).collect::<Vec<_>>()),
        Value::Dict(dict) => minijinja::Value::from_object(OrderedMap(
            dict.iter().map(|(k, v)| (k.to_string(), to_jinja(v, ctx))).collect(),
        )),
        Value::Instance(_) => minijinja::Value::from(ctx.host.render(value)),
    }
}

/// A map that iterates in insertion order, as Python dicts (and so Inmanta's templates) do.
#[derive(Debug)]
struct OrderedMap(IndexMap<String, minijinja::Value>);

impl minijinja::value::Object for OrderedMap {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        self.0.get(key.as_str()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.0.keys().map(|k| minijinja::Value::from(k.as_str())).collect())
    }
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
            ("web/templates/site.j2", "{{ name }} on {{ host.name }}:{% for p in ports %} {{ p }}{% endfor %}\n"),
            ("web/templates/missing.j2", "{{ nothing }}"),
            ("web/templates/dict.j2", "{% for k in opts %}{{ k }}={{ opts[k] }};{% endfor %}"),
        ] {
            host.files.insert(path.to_string(), text.to_string());
        }
        host
    }

    #[test]
    fn sources_and_listings() {
        let mut host = host();
        assert_eq!(host.call("std::source", &[Value::str("web/a.conf")], None), Ok(Value::str("A")));
        assert_eq!(host.call("std::file", &[Value::str("web/sub/c.conf")], None), Ok(Value::str("C")));
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

    #[test]
    fn templates() {
        let mut host = host();
        let server = host.instance("web::Server", &["name"], &[("name", Value::str("srv1"))]);
        let site = host.instance(
            "web::Site",
            &["name", "host", "ports", "opts"],
            &[
                ("name", Value::str("shop")),
                ("host", server),
                ("ports", Value::list(vec![Value::Int(80), Value::Int(443)])),
            ],
        );
        let out = host.call("std::template", &[Value::str("web/site.j2")], Some(site.clone()));
        assert_eq!(out, Ok(Value::str("shop on srv1: 80 443\n")));
        let out = host.call("std::template", &[Value::str("./site.j2")], Some(site.clone()));
        assert_eq!(out, Ok(Value::str("shop on srv1: 80 443\n")));
        assert!(host.call("std::template", &[Value::str("web/missing.j2")], Some(site.clone())).is_err());
        // `opts` is declared but not set yet: the call waits.
        assert!(matches!(
            host.call("std::template", &[Value::str("web/dict.j2")], Some(site)),
            Err(cairn_compiler::compile::plugins::PluginFailure::Wait(_))
        ));
        let dict: cairn_compiler::compile::value::Dict =
            [("z".into(), Value::Int(1)), ("a".into(), Value::Int(2))].into_iter().collect();
        let with_dict = host.instance("web::Site", &["opts"], &[("opts", Value::Dict(std::rc::Rc::new(dict)))]);
        let out = host.call("std::template", &[Value::str("web/dict.j2")], Some(with_dict));
        assert_eq!(out, Ok(Value::str("z=1;a=2;")));
        let unknown = host.instance(
            "web::Site",
            &["name", "host", "ports"],
            &[("name", Value::Unknown), ("host", Value::Null), ("ports", Value::list(vec![]))],
        );
        assert_eq!(host.call("std::template", &[Value::str("web/site.j2")], Some(unknown)), Ok(Value::Unknown));
    }

    #[test]
    fn an_edited_template_is_rendered_anew_despite_the_cache() {
        let mut host = host();
        let site = host.instance("web::Site", &["name"], &[("name", Value::str("shop"))]);
        host.files.insert("web/templates/edited.j2".to_string(), "v1 {{ name }}".to_string());
        let first = host.call("std::template", &[Value::str("web/edited.j2")], Some(site.clone()));
        assert_eq!(first, Ok(Value::str("v1 shop")));
        host.files.insert("web/templates/edited.j2".to_string(), "v2 {{ name }}!".to_string());
        let second = host.call("std::template", &[Value::str("web/edited.j2")], Some(site.clone()));
        assert_eq!(second, Ok(Value::str("v2 shop!")));
        host.files.insert("web/templates/edited.j2".to_string(), "v1 {{ name }}".to_string());
        assert_eq!(host.call("std::template", &[Value::str("web/edited.j2")], Some(site)), Ok(Value::str("v1 shop")));
    }
}
