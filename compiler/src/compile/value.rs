//! Runtime values of the executor. Cheap to clone (`Rc` inside); dicts keep insertion order
//! like Inmanta's (Python) dicts; numbers compare as Python does (`1 == 1.0`).

use indexmap::IndexMap;
use std::fmt;
use std::rc::Rc;

/// An instance of an entity, by index into the executor's instance arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u32);

pub type Dict = IndexMap<Rc<str>, Value>;

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<Vec<Value>>),
    Dict(Rc<Dict>),
    Instance(InstanceId),
    /// A value that is not known at compile time (a fact not yet reported, ...).
    Unknown,
}

impl Value {
    pub fn str(text: &str) -> Value {
        Value::Str(Rc::from(text))
    }

    /// The first instance held in this value, at any depth of lists and dicts (a `list` or
    /// `dict` attribute holds plain values only, as in Inmanta).
    pub fn instance_within(&self) -> Option<InstanceId> {
        match self {
            Value::Instance(instance) => Some(*instance),
            Value::List(items) => items.iter().find_map(Value::instance_within),
            Value::Dict(dict) => dict.values().find_map(Value::instance_within),
            _ => None,
        }
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(items))
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Instance(_) => "instance",
            Value::Unknown => "unknown",
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// Python truthiness, used by `and`, `or`, `not`, `if` and conditionals.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Dict(d) => !d.is_empty(),
            Value::Instance(_) => true,
            Value::Unknown => false,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Renders the value as Inmanta does in string interpolation and f-strings: a float with
    /// no fraction prints as an int, booleans as `True`/`False`, null as `null`.
    pub fn render(&self, out: &mut String, instance_name: &dyn Fn(InstanceId) -> String) {
        use std::fmt::Write;
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.render_repr(out, instance_name);
                }
                out.push(']');
            }
            Value::Dict(dict) => {
                out.push('{');
                for (i, (key, value)) in dict.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "'{key}': ");
                    value.render_repr(out, instance_name);
                }
                out.push('}');
            }
            Value::Instance(id) => out.push_str(&instance_name(*id)),
            Value::Unknown => out.push_str("Unknown"),
        }
    }

    /// Like [`render`](Self::render), but strings are quoted (inside lists and dicts).
    fn render_repr(&self, out: &mut String, instance_name: &dyn Fn(InstanceId) -> String) {
        match self {
            Value::Str(s) => {
                out.push('\'');
                out.push_str(s);
                out.push('\'');
            }
            other => other.render(out, instance_name),
        }
    }
}

/// Python's `str(float)` for the values a model meets: integral floats print as ints (Inmanta
/// renders `1.0` as `1` in strings).
pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(_) | Value::Int(_), Value::Float(_) | Value::Int(_)) => self.as_f64() == other.as_f64(),
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Dict(a), Value::Dict(b)) => a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v)),
            (Value::Instance(a), Value::Instance(b)) => a == b,
            (Value::Unknown, Value::Unknown) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.render(&mut out, &|id| format!("instance#{}", id.0));
        f.write_str(&out)
    }
}

/// A hashable key for index lookups: values reduced to what equality sees.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyPart {
    Null,
    Bool(bool),
    Int(i64),
    /// Floats by bit pattern. As in Inmanta (whose index keys are the values' `repr`), the
    /// float `1.0` is not the same key as the int `1`.
    Float(u64),
    Str(Rc<str>),
    List(Vec<KeyPart>),
    Instance(InstanceId),
    Other(String),
}

impl KeyPart {
    pub fn of(value: &Value) -> KeyPart {
        match value {
            Value::Null => KeyPart::Null,
            Value::Bool(b) => KeyPart::Bool(*b),
            Value::Int(i) => KeyPart::Int(*i),
            Value::Float(f) if *f == 0.0 => KeyPart::Float(0.0f64.to_bits()),
            Value::Float(f) => KeyPart::Float(f.to_bits()),
            Value::Str(s) => KeyPart::Str(s.clone()),
            Value::List(items) => KeyPart::List(items.iter().map(KeyPart::of).collect()),
            Value::Instance(id) => KeyPart::Instance(*id),
            other => KeyPart::Other(other.to_string()),
        }
    }
}
