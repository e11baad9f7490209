//! The general std plugins: strings, lists, dicts, attributes, environment, printing and
//! templates.

use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;
use std::rc::Rc;

type PluginResult = Result<Value, PluginFailure>;

fn error(message: impl Into<String>) -> PluginFailure {
    PluginFailure::Error(message.into())
}

fn text(value: &Value) -> &str {
    match value {
        Value::Str(s) => s,
        _ => "",
    }
}

pub fn register(registry: &mut PluginRegistry) {
    use ParamType::*;
    let any = || Param::new("value", Any);
    registry.register("std::print", vec![Param::new("message", Any)], print);
    registry.register("std::length", vec![Param::new("value", String)], length);
    registry.register("std::upper", vec![Param::new("value", String)], |_, a| Ok(Value::str(&text(&a[0]).to_uppercase())));
    registry.register("std::lower", vec![Param::new("value", String)], |_, a| Ok(Value::str(&text(&a[0]).to_lowercase())));
    registry.register("std::capitalize", vec![Param::new("string", String)], capitalize);
    registry.register(
        "std::replace",
        vec![Param::new("string", String), Param::new("old", String), Param::new("new", String)],
        |_, a| Ok(Value::str(&text(&a[0]).replace(text(&a[1]), text(&a[2])))),
    );
    registry.register("std::split", vec![Param::new("string_list", String), Param::new("delim", String)], split);
    registry.register("std::count", vec![Param::new("item_list", List)], |_, a| match &a[0] {
        Value::List(items) => Ok(Value::Int(items.len() as i64)),
        _ => Ok(Value::Int(0)),
    });
    registry.register("std::list_len", vec![Param::new("obj_list", List)], |_, a| match &a[0] {
        Value::List(items) => Ok(Value::Int(items.len() as i64)),
        _ => Ok(Value::Int(0)),
    });
    registry.register("std::is_unknown", vec![any()], |_, a| Ok(Value::Bool(a[0].is_unknown())))
        .unknown_passthrough = false;
    registry.register("std::type", vec![Param::new("obj", Any)], |ctx, a| {
        Ok(Value::str(&match &a[0] {
            Value::Instance(instance) => ctx.host.entity_name(*instance),
            other => other.type_name().to_string(),
        }))
    });
    registry.register("std::unique", vec![Param::new("item_list", List)], |_, a| {
        let Value::List(items) = &a[0] else { return Ok(Value::Bool(true)) };
        let all_unique = items.iter().enumerate().all(|(i, x)| !items[..i].contains(x));
        Ok(Value::Bool(all_unique))
    });
    registry.register("std::flatten", vec![Param::new("item_list", List)], |_, a| {
        let mut out = Vec::new();
        flatten(&a[0], &mut out);
        Ok(Value::list(out))
    });
    registry.register("std::contains", vec![Param::new("dct", Dict), Param::new("key", String)], |_, a| match &a[0] {
        Value::Dict(dict) => Ok(Value::Bool(dict.contains_key(text(&a[1])))),
        _ => Ok(Value::Bool(false)),
    });
    registry.register("std::dict_get", vec![Param::new("dct", Dict), Param::new("key", String)], |_, a| match &a[0] {
        Value::Dict(dict) => dict.get(text(&a[1])).cloned().ok_or_else(|| error(format!("key `{}` not found", text(&a[1])))),
        _ => Err(error("not a dict")),
    });
    registry.register("std::getattribute", vec![Param::new("entity", Instance), Param::new("attribute_name", String)], |ctx, a| {
        let Value::Instance(instance) = a[0] else { return Err(error("not an instance")) };
        ctx.host.attribute(instance, text(&a[1]))
    });
    registry.register("std::attr", vec![Param::new("obj", Instance), Param::new("attr", String)], |ctx, a| {
        let Value::Instance(instance) = a[0] else { return Err(error("not an instance")) };
        ctx.host.attribute(instance, text(&a[1]))
    });
    registry.register("std::is_instance", vec![Param::new("obj", Any), Param::new("cls", String)], |ctx, a| {
        Ok(Value::Bool(match &a[0] {
            Value::Instance(instance) => ctx.host.is_instance_of(*instance, text(&a[1])),
            _ => false,
        }))
    });
    registry.register("std::familyof", vec![Param::new("member", Instance), Param::new("family", String)], familyof);
    registry.register("std::invert", vec![Param::new("value", Bool)], |_, a| Ok(Value::Bool(!a[0].truthy())));
    registry.register("std::equals", vec![Param::new("arg1", Any), Param::new("arg2", Any), Param::optional("desc", Nullable(Box::new(String)), Value::Null)], |_, a| {
        if a[0] == a[1] {
            Ok(Value::Null)
        } else {
            let desc = text(&a[2]);
            Err(error(format!("{} != {}{}", a[0], a[1], if desc.is_empty() { std::string::String::new() } else { format!(": {desc}") })))
        }
    });
    registry.register("std::assert", vec![Param::new("expression", Bool), Param::optional("message", String, Value::str(""))], |_, a| {
        if a[0].truthy() {
            Ok(Value::Null)
        } else {
            Err(error(format!("assertion failed: {}", text(&a[1]))))
        }
    });
    registry.register("std::inlineif", vec![Param::new("conditional", Bool), Param::new("a", Any), Param::new("b", Any)], |_, a| {
        Ok(if a[0].truthy() { a[1].clone() } else { a[2].clone() })
    });
    registry.register("std::at", vec![Param::new("objects", List), Param::new("index", Int)], |_, a| {
        let (Value::List(items), Value::Int(index)) = (&a[0], &a[1]) else { return Err(error("bad arguments")) };
        items.get(*index as usize).cloned().ok_or_else(|| error(format!("index {index} out of range")))
    });
    registry.register("std::item", vec![Param::new("objects", List), Param::new("key", String)], |ctx, a| {
        let Value::List(items) = &a[0] else { return Err(error("not a list")) };
        let mut out = Vec::new();
        for item in items.iter() {
            if let Value::Instance(instance) = item {
                out.push(ctx.host.attribute(*instance, text(&a[1]))?);
            }
        }
        Ok(Value::list(out))
    });
    registry.register("std::select", vec![Param::new("objects", List), Param::new("attr", String)], |ctx, a| {
        let Value::List(items) = &a[0] else { return Err(error("not a list")) };
        let mut out = Vec::new();
        for item in items.iter() {
            if let Value::Instance(instance) = item {
                out.push(ctx.host.attribute(*instance, text(&a[1]))?);
            }
        }
        Ok(Value::list(out))
    });
    registry.register("std::key_sort", vec![Param::new("items", List), Param::new("key", Any)], |ctx, a| {
        let Value::List(items) = &a[0] else { return Err(error("not a list")) };
        let mut keyed = Vec::new();
        for item in items.iter() {
            let key = match (item, &a[1]) {
                (Value::Instance(instance), Value::Str(attr)) => ctx.host.attribute(*instance, attr)?,
                (other, _) => other.clone(),
            };
            keyed.push((ctx.host.render(&key), key, item.clone()));
        }
        keyed.sort_by(|x, y| match (x.1.as_f64(), y.1.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
            _ => x.0.cmp(&y.0),
        });
        Ok(Value::list(keyed.into_iter().map(|(_, _, item)| item).collect()))
    });
    registry.register(
        "std::sequence",
        vec![Param::new("i", Int), Param::optional("start", Int, Value::Int(0)), Param::optional("offset", Int, Value::Int(0))],
        |_, a| {
            let (Value::Int(count), Value::Int(start), Value::Int(offset)) = (&a[0], &a[1], &a[2]) else { return Err(error("bad arguments")) };
            Ok(Value::list((*start..*start + *count).map(|i| Value::Int(i + offset)).collect()))
        },
    );
    registry.register("std::limit", vec![Param::new("string", String), Param::new("length", Int)], |_, a| {
        let Value::Int(n) = a[1] else { return Err(error("bad length")) };
        Ok(Value::str(&text(&a[0]).chars().take(n.max(0) as usize).collect::<std::string::String>()))
    });
    registry.register("std::isset", vec![Param::new("value", Any)], |_, a| Ok(Value::Bool(!matches!(a[0], Value::Null))));
    registry.register("std::objid", vec![Param::new("instance", Instance)], |_, a| match a[0] {
        Value::Instance(instance) => Ok(Value::str(&format!("{}", instance.0))),
        _ => Err(error("not an instance")),
    });
    registry.register("std::get_env", vec![Param::new("name", String), Param::optional("default_value", Nullable(Box::new(String)), Value::Null)], |_, a| {
        Ok(match std::env::var(text(&a[0])) {
            Ok(value) => Value::str(&value),
            Err(_) => a[1].clone(),
        })
    });
    registry.register("std::get_env_int", vec![Param::new("name", String), Param::optional("default_value", Nullable(Box::new(Int)), Value::Null)], |_, a| {
        Ok(match std::env::var(text(&a[0])).ok().and_then(|v| v.parse::<i64>().ok()) {
            Some(value) => Value::Int(value),
            None => a[1].clone(),
        })
    });
    registry.register("std::environment", vec![], |ctx, _| Ok(ctx.host.setting("environment").map(|v| Value::str(&v)).unwrap_or(Value::Unknown)));
    registry.register("std::environment_name", vec![], |ctx, _| {
        Ok(ctx.host.setting("environment_name").map(|v| Value::str(&v)).unwrap_or(Value::Unknown))
    });
    registry.register("std::environment_server", vec![], |ctx, _| {
        Ok(ctx.host.setting("environment_server").map(|v| Value::str(&v)).unwrap_or(Value::Unknown))
    });
    registry.register("std::json_dumps", vec![Param::new("obj", Any)], |ctx, a| Ok(Value::str(&to_json(&a[0], ctx).to_string())));
    registry.register("std::json_loads", vec![Param::new("s", String)], |_, a| {
        let parsed: serde_json::Value = serde_json::from_str(text(&a[0])).map_err(|e| error(e.to_string()))?;
        Ok(from_json(&parsed))
    });
    registry.register("std::source", vec![Param::new("path", String)], |ctx, a| {
        let path = text(&a[0]).trim_start_matches('/');
        let (module, rest) = path.split_once('/').unwrap_or((path, ""));
        ctx.host.module_file(&format!("{module}/files/{rest}")).map(|t| Value::str(&t)).map_err(error)
    });
    registry.register("std::file", vec![Param::new("path", String)], |ctx, a| {
        let path = text(&a[0]).trim_start_matches('/');
        let (module, rest) = path.split_once('/').unwrap_or((path, ""));
        ctx.host.module_file(&format!("{module}/files/{rest}")).map(|t| Value::str(&t)).map_err(error)
    });
    registry.register("std::template", vec![Param::new("path", String)], template);
    registry.register("std::format", vec![Param::new("format_string", String)], |ctx, a| {
        Ok(Value::str(&python_format(text(&a[0]), &a[1..], ctx)))
    })
    .variadic = true;
    registry.register("std::printf", vec![Param::new("message", String)], |ctx, a| {
        let line = python_format(text(&a[0]), &a[1..], ctx);
        ctx.host.print(line);
        Ok(Value::Null)
    })
    .variadic = true;
}

fn print(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let line = ctx.host.render(&args[0]);
    ctx.host.print(line);
    Ok(Value::Null)
}

fn length(_: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    Ok(Value::Int(text(&args[0]).chars().count() as i64))
}

fn capitalize(_: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let s = text(&args[0]);
    let mut chars = s.chars();
    let out: std::string::String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
        None => std::string::String::new(),
    };
    Ok(Value::str(&out))
}

fn split(_: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let delim = text(&args[1]);
    if delim.is_empty() {
        return Err(error("empty separator"));
    }
    Ok(Value::list(text(&args[0]).split(delim).map(Value::str).collect()))
}

fn flatten(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::List(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other.clone()),
    }
}

fn familyof(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let Value::Instance(mut current) = args[0] else { return Err(error("not an instance")) };
    let family = text(&args[1]).to_string();
    for _ in 0..64 {
        if let Value::Str(name) = ctx.host.attribute(current, "name")? {
            if *name == *family {
                return Ok(Value::Bool(true));
            }
        }
        match ctx.host.attribute(current, "family") {
            Ok(Value::Instance(parent)) => current = parent,
            Ok(_) => return Ok(Value::Bool(false)),
            Err(PluginFailure::Error(_)) => return Ok(Value::Bool(false)),
            Err(wait) => return Err(wait),
        }
    }
    Ok(Value::Bool(false))
}

fn to_json(value: &Value, ctx: &PluginCtx<'_>) -> serde_json::Value {
    match value {
        Value::Null | Value::Unknown => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Value::from(*f),
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(|i| to_json(i, ctx)).collect()),
        Value::Dict(dict) => serde_json::Value::Object(dict.iter().map(|(k, v)| (k.to_string(), to_json(v, ctx))).collect()),
        Value::Instance(_) => serde_json::Value::String(ctx.host.render(value)),
    }
}

fn from_json(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(items) => Value::list(items.iter().map(from_json).collect()),
        serde_json::Value::Object(map) => {
            Value::Dict(Rc::new(map.iter().map(|(k, v)| (Rc::from(k.as_str()), from_json(v))).collect()))
        }
    }
}

/// `{}` / `{0}` positional formatting, as Python's `str.format` with positional arguments.
fn python_format(template: &str, args: &[Value], ctx: &PluginCtx<'_>) -> String {
    let mut out = std::string::String::new();
    let mut next = 0;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut field = std::string::String::new();
                for f in chars.by_ref() {
                    if f == '}' {
                        break;
                    }
                    field.push(f);
                }
                let index = field.parse::<usize>().unwrap_or_else(|_| {
                    next += 1;
                    next - 1
                });
                if let Some(value) = args.get(index) {
                    out.push_str(&ctx.host.render(value));
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `std::template("module/file.j2")`: renders `templates/file.j2` of the module with Jinja2
/// syntax; the calling instance's attributes are the template's variables.
fn template(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let path = text(&args[0]).trim_start_matches('/');
    let (module, rest) = path.split_once('/').ok_or_else(|| error(format!("`{path}` should be `module/template`")))?;
    let source = ctx.host.module_file(&format!("{module}/templates/{rest}")).map_err(error)?;
    let mut variables = std::collections::BTreeMap::new();
    if let Some(this) = ctx.this {
        for name in ctx.host.attribute_names(this) {
            if name == "requires" || name == "provides" {
                continue;
            }
            let value = ctx.host.attribute(this, &name)?;
            variables.insert(name, to_jinja(&value, ctx));
        }
    }
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    env.add_template("template", &source).map_err(|e| error(format!("template {path}: {e}")))?;
    let rendered = env
        .get_template("template")
        .and_then(|t| t.render(minijinja::Value::from_serialize(&variables)))
        .map_err(|e| error(format!("template {path}: {e}")))?;
    Ok(Value::str(&rendered))
}

fn to_jinja(value: &Value, ctx: &PluginCtx<'_>) -> serde_json::Value {
    to_json(value, ctx)
}
