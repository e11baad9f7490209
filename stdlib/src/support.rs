//! Helpers shared by the std plugin modules: error construction, argument accessors, and the
//! bits of Python semantics the plugins reproduce (equality where `1 == 1.0 == true`,
//! ordering for sorting, negative indexing).

use cairn_compiler::compile::plugins::{PluginCtx, PluginFailure};
use cairn_compiler::compile::value::{InstanceId, Value};
use std::cmp::Ordering;

pub type PluginResult = Result<Value, PluginFailure>;

pub fn error(message: impl Into<String>) -> PluginFailure {
    PluginFailure::Error(message.into())
}

/// The text of a string argument (arguments are type-checked before the call; anything
/// else reads as empty).
pub fn text(value: &Value) -> &str {
    match value {
        Value::Str(s) => s,
        _ => "",
    }
}

/// An int argument (type-checked before the call).
pub fn int(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

pub fn items(value: &Value) -> &[Value] {
    match value {
        Value::List(items) => items,
        _ => &[],
    }
}

/// The instance an argument holds, or an error naming what was passed instead.
pub fn instance(value: &Value, what: &str) -> Result<InstanceId, PluginFailure> {
    match value {
        Value::Instance(id) => Ok(*id),
        other => Err(error(format!("{what} should be an entity instance, got {}", describe(other)))),
    }
}

/// "a string", "an int", ... for messages.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Int(_) | Value::Instance(_) | Value::Unknown => format!("an {}", value.type_name()),
        other => format!("a {}", other.type_name()),
    }
}

/// Python's `objects[index]`: negative indexes count from the end.
pub fn python_index(len: usize, index: i64) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let position = if index < 0 { index + len } else { index };
    (0..len).contains(&position).then_some(position as usize)
}

/// Python equality: `True == 1 == 1.0`, containers compare element-wise.
pub fn python_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Bool(_) | Value::Int(_) | Value::Float(_), Value::Bool(_) | Value::Int(_) | Value::Float(_)) => {
            number(a) == number(b)
        }
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| python_eq(p, q)),
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| python_eq(v, w)))
        }
        _ => a == b,
    }
}

fn number(value: &Value) -> f64 {
    match value {
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

/// Python's `<` ordering as `sorted` uses it: numbers (and booleans) by value, strings by
/// code point, lists lexicographically; anything else cannot be ordered.
pub fn python_cmp(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Bool(_) | Value::Int(_) | Value::Float(_), Value::Bool(_) | Value::Int(_) | Value::Float(_)) => {
            match (a, b) {
                (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
                _ => Ok(number(a).partial_cmp(&number(b)).unwrap_or(Ordering::Equal)),
            }
        }
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                match python_cmp(p, q)? {
                    Ordering::Equal => {}
                    other => return Ok(other),
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
        _ => Err(format!("cannot order {} and {}", describe(a), describe(b))),
    }
}

/// Reads `path` (`a.b.c`) starting at an instance, following relations.
pub fn read_path(ctx: &mut PluginCtx<'_>, start: &Value, path: &str) -> PluginResult {
    let mut current = start.clone();
    for part in path.split('.') {
        let id = match &current {
            Value::Instance(id) => *id,
            Value::Unknown => return Ok(Value::Unknown),
            other => return Err(error(format!("cannot read attribute `{part}` of {}", describe(other)))),
        };
        current = ctx.host.attribute(id, part)?;
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexing_and_comparison() {
        assert_eq!(python_index(3, -1), Some(2));
        assert_eq!(python_index(3, 3), None);
        assert_eq!(python_index(3, -4), None);
        assert_eq!(python_index(0, 0), None);
        assert!(python_eq(&Value::Bool(true), &Value::Int(1)));
        assert!(python_eq(&Value::Float(2.0), &Value::Int(2)));
        assert!(!python_eq(&Value::str("1"), &Value::Int(1)));
        assert_eq!(python_cmp(&Value::str("b"), &Value::str("a")), Ok(Ordering::Greater));
        assert_eq!(python_cmp(&Value::Int(2), &Value::Float(2.5)), Ok(Ordering::Less));
        assert!(python_cmp(&Value::Int(2), &Value::str("a")).is_err());
        assert!(python_cmp(&Value::Null, &Value::Null).is_err());
    }
}
