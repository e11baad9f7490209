//! The plugins about instances and values: `attr`, `getattr`, `isset`, `is_instance`,
//! `familyof`, `type`, `objid`, `is_unknown`, `invert`, `equals` and `assert` (the model's
//! names; `getattr` and `assert` are the Python functions `getattribute` and
//! `assert_function`, names a model cannot call). Reading an attribute that is not set yet makes the
//! call wait (the `?` on `host.attribute` propagates the wait).

use crate::support::{describe, error, instance, python_eq, text, PluginResult};
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;

pub fn register(registry: &mut PluginRegistry) {
    use ParamType::{Any, Bool, Instance, Nullable, String};
    registry.register("std::attr", vec![Param::new("obj", Any), Param::new("attr", String)], attr);
    let getattr_params = || {
        vec![
            Param::new("entity", Instance),
            Param::new("attribute_name", String),
            Param::optional("default_value", Any, Value::Null),
            Param::optional("no_unknown", Bool, Value::Bool(true)),
        ]
    };
    registry.register("std::getattr", getattr_params(), getattr).unknown_passthrough = false;
    registry.register("std::isset", vec![Param::new("value", Any)], |_, a| Ok(Value::Bool(!matches!(a[0], Value::Null))));
    registry.register("std::is_instance", vec![Param::new("obj", Any), Param::new("cls", String)], is_instance);
    registry.register("std::familyof", vec![Param::new("member", Instance), Param::new("family", String)], familyof);
    // std 8.4.2's `type` is `obj.value.type().__definition__`: on a plain value there is no
    // `value`, on an instance it reads the attribute `value`, and on what that holds it
    // calls the attribute `type`, so it fails on every argument (Inmanta 14: "could not find
    // value value", "could not find value type", "'str' object has no attribute 'value'").
    registry.register("std::type", vec![Param::new("obj", Any)], |ctx, a| {
        Err(error(match &a[0] {
            Value::Instance(id) => format!("`type` reads `{}.value.type`, which std 8.4.2 never finds", ctx.host.entity_name(*id)),
            other => format!("`type` reads the attribute `value` of its argument, and {} has none", describe(other)),
        }))
    });
    registry.register("std::objid", vec![Param::new("value", Any)], |ctx, a| {
        instance(&a[0], "the argument of objid")?;
        Ok(Value::str(&ctx.host.render(&a[0])))
    });
    registry.register("std::is_unknown", vec![Param::new("value", Any)], |_, a| Ok(Value::Bool(a[0].is_unknown())))
        .unknown_passthrough = false;
    registry.register("std::invert", vec![Param::new("value", Bool)], |_, a| Ok(Value::Bool(!a[0].truthy())));
    registry.register(
        "std::equals",
        vec![Param::new("arg1", Any), Param::new("arg2", Any), Param::optional("desc", Nullable(Box::new(String)), Value::Null)],
        equals,
    );
    let assert_params = || vec![Param::new("expression", Bool), Param::optional("message", String, Value::str(""))];
    registry.register("std::assert", assert_params(), assert_function);
}

fn has_attribute(ctx: &PluginCtx<'_>, id: cairn_compiler::compile::value::InstanceId, name: &str) -> bool {
    ctx.host.attribute_names(id).iter().any(|n| n == name)
}

/// `getattr(obj, attr)`: fails when the entity has no such attribute.
fn attr(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let id = instance(&args[0], "the object of attr")?;
    let name = text(&args[1]);
    if !has_attribute(ctx, id, name) {
        return Err(error(format!("`{}` has no attribute `{name}`", ctx.host.entity_name(id))));
    }
    ctx.host.attribute(id, name)
}

/// `std::getattr(entity, attribute_name, default_value=null, no_unknown=true)`: the
/// attribute's value, or `default_value` when the entity has no such attribute (or, with
/// `no_unknown`, when the value is unknown). Unknown arguments reach it (`allow_unknown`).
fn getattr(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let no_unknown = match &args[3] {
        Value::Unknown => true,
        other => other.truthy(),
    };
    let id = match &args[0] {
        Value::Instance(id) => *id,
        Value::Unknown if no_unknown => return Ok(args[2].clone()),
        Value::Unknown => return Ok(Value::Unknown),
        other => return Err(error(format!("getattr needs an entity instance, got {}", describe(other)))),
    };
    let name = match &args[1] {
        Value::Str(name) => name.clone(),
        Value::Unknown => return Ok(if no_unknown { args[2].clone() } else { Value::Unknown }),
        other => return Err(error(format!("attribute_name should be a string, got {}", describe(other)))),
    };
    if !has_attribute(ctx, id, &name) {
        return Ok(args[2].clone());
    }
    let value = ctx.host.attribute(id, &name)?;
    Ok(if value.is_unknown() && no_unknown { args[2].clone() } else { value })
}

/// True when `obj`'s entity is `cls` or inherits from it. A name without `::` is looked up
/// in the main namespace (`__config__`), where a plugin call in `main.cf` would find it.
fn is_instance(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let id = instance(&args[0], "the object of is_instance")?;
    let cls = text(&args[1]);
    let full = if cls.contains("::") { cls.to_string() } else { format!("__config__::{cls}") };
    Ok(Value::Bool(ctx.host.is_instance_of(id, &full)))
}

/// Inmanta's `familyof`, quirk included: the member's own name matches, and so does every
/// ancestor that itself has a parent, but the root of the chain is never compared (Inmanta
/// stops as soon as `parent.family` is unset). So with the std model,
/// `familyof(std::linux, "linux")` is true and `familyof(std::linux, "unix")` is false,
/// exactly as in Inmanta.
fn familyof(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let member = instance(&args[0], "member")?;
    let family = text(&args[1]).to_string();
    let name_is = |ctx: &mut PluginCtx<'_>, id| -> Result<bool, PluginFailure> {
        Ok(matches!(ctx.host.attribute(id, "name")?, Value::Str(name) if *name == *family))
    };
    if name_is(ctx, member)? {
        return Ok(Value::Bool(true));
    }
    let mut parent = member;
    // A cycle in `family` would loop forever in Inmanta; stop after a generous depth.
    for _ in 0..1024 {
        let next = match ctx.host.attribute(parent, "family") {
            Ok(Value::Instance(next)) => next,
            Ok(_) | Err(PluginFailure::Error(_)) => return Ok(Value::Bool(false)),
            Err(wait) => return Err(wait),
        };
        if name_is(ctx, parent)? {
            return Ok(Value::Bool(true));
        }
        parent = next;
    }
    Ok(Value::Bool(false))
}

fn equals(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    if python_eq(&args[0], &args[1]) {
        return Ok(Value::Null);
    }
    let mut message = format!("{} != {}", ctx.host.render(&args[0]), ctx.host.render(&args[1]));
    if let Value::Str(desc) = &args[2] {
        message.push_str(": ");
        message.push_str(desc);
    }
    Err(error(message))
}

fn assert_function(_: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    if args[0].truthy() {
        Ok(Value::Null)
    } else {
        Err(error(format!("Assertion error: {}", text(&args[1]))))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::FakeHost;
    use cairn_compiler::compile::plugins::PluginFailure;
    use cairn_compiler::compile::value::Value;

    #[test]
    fn getattr_defaults() {
        let mut host = FakeHost::default();
        let x = host.instance("m::X", &["a", "u", "later"], &[("a", Value::Int(1)), ("u", Value::Unknown)]);
        let call = |host: &mut FakeHost, args: &[Value]| host.call("std::getattr", args, None);
        assert_eq!(call(&mut host, &[x.clone(), Value::str("a")]), Ok(Value::Int(1)));
        assert_eq!(call(&mut host, &[x.clone(), Value::str("nope"), Value::str("d")]), Ok(Value::str("d")));
        assert_eq!(call(&mut host, &[x.clone(), Value::str("nope")]), Ok(Value::Null));
        assert_eq!(call(&mut host, &[x.clone(), Value::str("u"), Value::str("d")]), Ok(Value::str("d")));
        assert_eq!(call(&mut host, &[x.clone(), Value::str("u"), Value::str("d"), Value::Bool(false)]), Ok(Value::Unknown));
        assert!(matches!(call(&mut host, &[x.clone(), Value::str("later")]), Err(PluginFailure::Wait(_))));
        assert_eq!(host.call("std::getattr", &[x.clone(), Value::str("nope"), Value::Int(3)], None), Ok(Value::Int(3)));
        assert!(host.call("std::attr", &[x.clone(), Value::str("nope")], None).is_err());
        assert_eq!(host.call("std::attr", &[x, Value::str("a")], None), Ok(Value::Int(1)));
    }

    #[test]
    fn families() {
        let mut host = FakeHost::default();
        let names = ["name", "family"];
        let root = host.instance("std::OS", &names, &[("name", Value::str("unix")), ("family", Value::Null)]);
        let mid = host.instance("std::OS", &names, &[("name", Value::str("linux")), ("family", root)]);
        let leaf = host.instance("std::OS", &names, &[("name", Value::str("ubuntu")), ("family", mid)]);
        let family = |host: &mut FakeHost, name: &str| host.call("std::familyof", &[leaf.clone(), Value::str(name)], None);
        assert_eq!(family(&mut host, "ubuntu"), Ok(Value::Bool(true)));
        assert_eq!(family(&mut host, "linux"), Ok(Value::Bool(true)));
        // Inmanta's quirk: the root of the chain is never compared.
        assert_eq!(family(&mut host, "unix"), Ok(Value::Bool(false)));
        assert_eq!(family(&mut host, "windows"), Ok(Value::Bool(false)));
    }

    #[test]
    fn checks() {
        let mut host = FakeHost::default();
        assert_eq!(host.call("std::equals", &[Value::Int(1), Value::Float(1.0)], None), Ok(Value::Null));
        assert_eq!(
            host.call("std::equals", &[Value::Int(1), Value::Int(2), Value::str("why")], None),
            Err(PluginFailure::Error("1 != 2: why".to_string()))
        );
        assert_eq!(
            host.call("std::assert", &[Value::Bool(false), Value::str("bad")], None),
            Err(PluginFailure::Error("Assertion error: bad".to_string()))
        );
        assert_eq!(host.call("std::is_unknown", &[Value::Unknown], None), Ok(Value::Bool(true)));
        assert_eq!(host.call("std::isset", &[Value::Null], None), Ok(Value::Bool(false)));
        let main = host.instance("__config__::A", &[], &[]);
        assert_eq!(host.call("std::is_instance", &[main.clone(), Value::str("A")], None), Ok(Value::Bool(true)));
        assert_eq!(host.call("std::is_instance", &[main.clone(), Value::str("std::Entity")], None), Ok(Value::Bool(false)));
        assert!(host.call("std::is_instance", &[Value::Int(1), Value::str("A")], None).is_err());
        assert_eq!(host.call("std::objid", &[main], None), Ok(Value::str("__config__::A 0")));
    }
}
