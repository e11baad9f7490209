//! The type casts `int(x)`, `float(x)`, `number(x)`, `string(x)` and `bool(x)`, with the
//! semantics of Inmanta's (Python's conversions): `int("3")` is 3, `int(3.7)` is 3, `int("3.7")`
//! fails; `float` reads ints, bools and numeric text; `number` keeps an int an int (a bool
//! too, as 0 or 1) and reads anything else as a float; `string` writes `true`/`false`, `null`,
//! floats as Python's repr and lists and dicts as Python's repr; `bool` is Python's truth
//! value (`bool("")` is false, `bool("false")` true, `bool(null)` false).

use crate::format::inner_repr;
use crate::support::error;
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry, CAST_NAMESPACE};
use cairn_compiler::compile::value::Value;

pub fn register(registry: &mut PluginRegistry) {
    let casts: [(&str, cairn_compiler::compile::plugins::PluginFn); 5] =
        [("int", cast_int), ("float", cast_float), ("number", cast_number), ("string", cast_string), ("bool", cast_bool)];
    for (name, func) in casts {
        registry.register(&format!("{CAST_NAMESPACE}::{name}"), vec![Param::new("value", ParamType::Any)], func);
    }
}

fn failed(value: &Value, ty: &str, ctx: &PluginCtx<'_>) -> PluginFailure {
    error(format!("Failed to cast '{}' to {ty}", text(value, ctx)))
}

fn cast_int(ctx: &mut PluginCtx<'_>, args: &[Value]) -> Result<Value, PluginFailure> {
    let value = &args[0];
    match value {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
        Value::Float(f) if f.is_finite() && f.trunc().abs() < 9.2e18 => Ok(Value::Int(f.trunc() as i64)),
        Value::Str(s) => parse_int(s).map(Value::Int).ok_or_else(|| failed(value, "int", ctx)),
        _ => Err(failed(value, "int", ctx)),
    }
}

fn cast_float(ctx: &mut PluginCtx<'_>, args: &[Value]) -> Result<Value, PluginFailure> {
    to_float(&args[0]).map(Value::Float).ok_or_else(|| failed(&args[0], "float", ctx))
}

fn cast_number(ctx: &mut PluginCtx<'_>, args: &[Value]) -> Result<Value, PluginFailure> {
    match &args[0] {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
        other => to_float(other).map(Value::Float).ok_or_else(|| failed(other, "number", ctx)),
    }
}

fn cast_string(ctx: &mut PluginCtx<'_>, args: &[Value]) -> Result<Value, PluginFailure> {
    Ok(Value::str(&text(&args[0], ctx)))
}

fn cast_bool(_: &mut PluginCtx<'_>, args: &[Value]) -> Result<Value, PluginFailure> {
    Ok(Value::Bool(match &args[0] {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::List(items) => !items.is_empty(),
        Value::Dict(dict) => dict.len() != 0,
        Value::Instance(_) | Value::Unknown => true,
    }))
}

/// Python's `float()` of a model value.
fn to_float(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Float(f) => Some(*f),
        Value::Str(s) => {
            let trimmed = s.trim();
            let digits = without_underscores(trimmed)?;
            // Rust reads `inf`, `infinity` and `nan` in any case, as Python does; not `0x..`.
            digits.parse::<f64>().ok().filter(|_| !digits.contains(['x', 'X']))
        }
        _ => None,
    }
}

/// Python's `int()` of a text: optional whitespace and sign, decimal digits (single `_`
/// between digits allowed).
fn parse_int(text: &str) -> Option<i64> {
    let digits = without_underscores(text.trim())?;
    let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(&digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The text with Python's digit separators removed: `None` when a `_` is not between two
/// digits.
fn without_underscores(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'_' {
            let before = i > 0 && bytes[i - 1].is_ascii_digit();
            let after = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !before || !after {
                return None;
            }
        }
    }
    Some(text.replace('_', ""))
}

/// Python's `str()` of a value as a cast receives it (the model's values themselves, so
/// null is `null` and booleans are `true`/`false` at the top).
fn text(value: &Value, ctx: &PluginCtx<'_>) -> String {
    match value {
        Value::Str(s) => s.to_string(),
        Value::Bool(true) => "true".to_string(),
        Value::Bool(false) => "false".to_string(),
        other => inner_repr(other, ctx),
    }
}
