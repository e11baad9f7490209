//! How model values look inside a template. Inmanta hands its values to Jinja2 wrapped in
//! proxies, and the proxies are what a template sees: a list or dict of the model prints as
//! `@` + its Python repr, a missing key or index is an error, an entity instance reads its
//! attributes and relations on demand. This module holds those proxies as minijinja objects
//! ([`ModelList`], [`ModelDict`], [`InstanceRef`], [`TemplateRef`] for Jinja2's `self`, and
//! [`Pending`] for a value still to be fetched), the conversions between Cairn's values and
//! minijinja's, and Python's `str` / `repr` of template values, which the output uses.

use super::session;
use crate::format::{float_repr, quote};
use cairn_compiler::compile::plugins::PluginCtx;
use cairn_compiler::compile::value::{InstanceId, Value};
use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value as Jv, ValueKind};
use minijinja::{Error, ErrorKind, State};
use std::fmt::Write;
use std::rc::Rc;
use std::sync::Arc;

/// A list of the model (Inmanta's `SequenceProxy`).
#[derive(Debug)]
pub struct ModelList(pub Vec<Jv>);

/// A dict of the model (Inmanta's `DictProxy`): insertion-ordered, string keys.
#[derive(Debug)]
pub struct ModelDict(pub IndexMap<String, Jv>);

/// An entity instance of the model; `label` is how it prints.
#[derive(Debug)]
pub struct InstanceRef {
    pub id: InstanceId,
    pub label: String,
}

/// Jinja2's `self` in a template: a reference to the template, named by its loader name.
#[derive(Debug)]
pub struct TemplateRef(pub String);

/// A value the render asked for but the plugin has not fetched yet (an attribute of an
/// instance, a scope variable, a plugin filter's result). The pass that meets one is thrown
/// away; `Pending` only has to let the render go on, so that one pass finds as many missing
/// values as it can.
#[derive(Debug)]
pub struct Pending;

/// A Cairn value as a template sees it; `None` when it is (or holds) an unknown.
pub fn to_jinja(value: &Value, ctx: &PluginCtx<'_>) -> Option<Jv> {
    Some(match value {
        Value::Null => Jv::from(()),
        Value::Bool(b) => Jv::from(*b),
        Value::Int(i) => Jv::from(*i),
        Value::Float(f) => Jv::from(*f),
        Value::Str(s) => Jv::from(s.as_ref()),
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter() {
                out.push(to_jinja(item, ctx)?);
            }
            Jv::from_object(ModelList(out))
        }
        Value::Dict(dict) => {
            let mut out = IndexMap::with_capacity(dict.len());
            for (key, item) in dict.iter() {
                out.insert(key.to_string(), to_jinja(item, ctx)?);
            }
            Jv::from_object(ModelDict(out))
        }
        Value::Instance(id) => Jv::from_object(InstanceRef { id: *id, label: format!("@{}", ctx.host.render(value)) }),
        Value::Unknown => return None,
    })
}

/// Why a template value cannot be handed to a plugin.
pub enum NotAValue {
    /// It is [`Pending`]: the call has to wait for the next pass.
    Pending,
    /// It is undefined (Jinja2 raises when a plugin filter gets one).
    Undefined,
    /// Something a model cannot hold (a macro, a function, bytes).
    Other(String),
}

/// A template value as a Cairn value (the arguments of a plugin used as a filter).
pub fn from_jinja(value: &Jv) -> Result<Value, NotAValue> {
    if let Some(object) = value.as_object() {
        if object.downcast_ref::<Pending>().is_some() {
            return Err(NotAValue::Pending);
        }
        if let Some(instance) = object.downcast_ref::<InstanceRef>() {
            return Ok(Value::Instance(instance.id));
        }
        if let Some(list) = object.downcast_ref::<ModelList>() {
            return list.0.iter().map(from_jinja).collect::<Result<Vec<_>, _>>().map(Value::list);
        }
        if let Some(dict) = object.downcast_ref::<ModelDict>() {
            let mut out = cairn_compiler::compile::value::Dict::default();
            for (key, item) in &dict.0 {
                out.insert(Rc::from(key.as_str()), from_jinja(item)?);
            }
            return Ok(Value::Dict(Rc::new(out)));
        }
    }
    match value.kind() {
        ValueKind::Undefined => Err(NotAValue::Undefined),
        ValueKind::None => Ok(Value::Null),
        ValueKind::Bool => Ok(Value::Bool(value.is_true())),
        ValueKind::Number => {
            if let Some(i) = value.as_i64() {
                Ok(Value::Int(i))
            } else {
                f64::try_from(value.clone()).map(Value::Float).map_err(|_| NotAValue::Other("a number too large for the model".into()))
            }
        }
        ValueKind::String => Ok(Value::str(value.as_str().unwrap_or_default())),
        ValueKind::Seq | ValueKind::Iterable => {
            let items = value.try_iter().map_err(|e| NotAValue::Other(e.to_string()))?;
            items.map(|item| from_jinja(&item)).collect::<Result<Vec<_>, _>>().map(Value::list)
        }
        ValueKind::Map => {
            let mut out = cairn_compiler::compile::value::Dict::default();
            let keys = value.try_iter().map_err(|e| NotAValue::Other(e.to_string()))?;
            for key in keys {
                let item = value.get_item(&key).map_err(|e| NotAValue::Other(e.to_string()))?;
                out.insert(Rc::from(python_str(&key).as_str()), from_jinja(&item)?);
            }
            Ok(Value::Dict(Rc::new(out)))
        }
        other => Err(NotAValue::Other(format!("a {other}"))),
    }
}

impl Object for ModelList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Jv) -> Option<Jv> {
        let found = key.as_i64().and_then(|index| {
            let len = self.0.len() as i64;
            let position = if index < 0 { index + len } else { index };
            usize::try_from(position).ok().and_then(|p| self.0.get(p).cloned())
        });
        if found.is_none() {
            session::undefined(format!("inmanta.execute.proxy.SequenceProxy object has no element {key}"));
        }
        found
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&python_repr(&Jv::from_dyn_object(minijinja::value::DynObject::new(self.clone()))))
    }
}

impl Object for ModelDict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Jv) -> Option<Jv> {
        let found = key.as_str().and_then(|k| self.0.get(k).cloned());
        if found.is_none() {
            session::undefined(format!("'inmanta.execute.proxy.DictProxy object' has no attribute {}", python_repr(key)));
        }
        found
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.keys().map(|k| Jv::from(k.as_str())).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Jv]) -> Result<Jv, Error> {
        let pairs = || self.0.iter().map(|(k, v)| (Jv::from(k.as_str()), v.clone()));
        dict_method(method, args, pairs)
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&python_repr(&Jv::from_dyn_object(minijinja::value::DynObject::new(self.clone()))))
    }
}

/// `dict.items()`, `keys()`, `values()` and `get(key, default=None)` over `pairs`, for the
/// model's dicts and the template's own.
pub fn dict_method<I: Iterator<Item = (Jv, Jv)>>(method: &str, args: &[Jv], pairs: impl Fn() -> I) -> Result<Jv, Error> {
    let no_arguments = || {
        if args.is_empty() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::TooManyArguments, format!("dict.{method}() takes no arguments")))
        }
    };
    match method {
        "items" => {
            no_arguments()?;
            Ok(Jv::from(pairs().map(|(k, v)| Jv::from(vec![k, v])).collect::<Vec<_>>()))
        }
        "keys" => {
            no_arguments()?;
            Ok(Jv::from(pairs().map(|(k, _)| k).collect::<Vec<_>>()))
        }
        "values" => {
            no_arguments()?;
            Ok(Jv::from(pairs().map(|(_, v)| v).collect::<Vec<_>>()))
        }
        "get" => {
            let (key, default) = match args {
                [key] => (key, Jv::from(())),
                [key, default] => (key, default.clone()),
                _ => return Err(Error::new(ErrorKind::InvalidOperation, "dict.get() takes one or two arguments")),
            };
            Ok(pairs().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or(default))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

impl Object for InstanceRef {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Jv) -> Option<Jv> {
        session::attribute(self.id, key.as_str()?, &self.label)
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

impl Object for TemplateRef {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Jv) -> Option<Jv> {
        // Jinja2's reference reads blocks only; a template has none Cairn knows of.
        session::undefined(format!("'jinja2.runtime.TemplateReference object' has no attribute {}", python_repr(key)));
        None
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<TemplateReference {}>", quote(&self.0))
    }
}

impl Object for Pending {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, _key: &Jv) -> Option<Jv> {
        Some(Jv::from_object(Pending))
    }

    fn is_true(self: &Arc<Self>) -> bool {
        false
    }

    fn call(self: &Arc<Self>, _state: &State<'_, '_>, _args: &[Jv]) -> Result<Jv, Error> {
        Ok(Jv::from_object(Pending))
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, _method: &str, _args: &[Jv]) -> Result<Jv, Error> {
        Ok(Jv::from_object(Pending))
    }

    fn render(self: &Arc<Self>, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// True when the value is [`Pending`] (the pass will be done again).
pub fn is_pending(value: &Jv) -> bool {
    value.as_object().is_some_and(|o| o.downcast_ref::<Pending>().is_some())
}

/// Python's `str()` of a template value: what `{{ x }}` prints.
pub fn python_str(value: &Jv) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        ValueKind::Undefined => String::new(),
        _ => python_repr(value),
    }
}

/// Python's `repr()` of a template value. A proxy of the model shows as `@` + the repr of
/// what it wraps; the values inside it are plain (a dict of the model holding a list prints
/// `@{'ports': [80]}`), while a template's own list holding a model list shows the proxy.
pub fn python_repr(value: &Jv) -> String {
    let mut out = String::new();
    write_repr(value, true, &mut out);
    out
}

fn write_repr(value: &Jv, proxied: bool, out: &mut String) {
    if let Some(object) = value.as_object() {
        if let Some(list) = object.downcast_ref::<ModelList>() {
            if proxied {
                out.push('@');
            }
            write_seq(list.0.iter(), false, out);
            return;
        }
        if let Some(dict) = object.downcast_ref::<ModelDict>() {
            if proxied {
                out.push('@');
            }
            write_map(dict.0.iter().map(|(k, v)| (Jv::from(k.as_str()), v.clone())), false, out);
            return;
        }
        if object.downcast_ref::<InstanceRef>().is_some()
            || object.downcast_ref::<TemplateRef>().is_some()
            || object.downcast_ref::<Pending>().is_some()
        {
            let _ = write!(out, "{value}");
            return;
        }
    }
    match value.kind() {
        ValueKind::None => out.push_str("None"),
        ValueKind::Undefined => out.push_str("Undefined"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            if value.is_integer() {
                let _ = write!(out, "{value}");
            } else {
                match f64::try_from(value.clone()) {
                    Ok(f) => out.push_str(&float_repr(f)),
                    Err(_) => {
                        let _ = write!(out, "{value}");
                    }
                }
            }
        }
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            out.push_str(&quote(text));
        }
        ValueKind::Seq | ValueKind::Iterable => match value.try_iter() {
            Ok(items) => write_seq(items, true, out),
            Err(_) => {
                let _ = write!(out, "{value}");
            }
        },
        ValueKind::Map => {
            let pairs: Vec<(Jv, Jv)> = match value.try_iter() {
                Ok(keys) => keys.map(|k| (k.clone(), value.get_item(&k).unwrap_or_default())).collect(),
                Err(_) => Vec::new(),
            };
            write_map(pairs.into_iter(), true, out)
        }
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

fn write_seq<I, V>(items: I, proxied: bool, out: &mut String)
where
    I: Iterator<Item = V>,
    V: std::borrow::Borrow<Jv>,
{
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_repr(item.borrow(), proxied, out);
    }
    out.push(']');
}

fn write_map(pairs: impl Iterator<Item = (Jv, Jv)>, proxied: bool, out: &mut String) {
    out.push('{');
    for (i, (key, item)) in pairs.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_repr(&key, proxied, out);
        out.push_str(": ");
        write_repr(&item, proxied, out);
    }
    out.push('}');
}

/// The output formatter: every `{{ x }}` prints Python's `str(x)` (no autoescaping, as
/// std configures Jinja2). The undefined `x if c` without `else` prints nothing.
pub fn format(out: &mut minijinja::Output<'_>, _state: &State<'_, '_>, value: &Jv) -> Result<(), Error> {
    if is_pending(value) {
        return Ok(());
    }
    out.write_str(&python_str(value)).map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
}
