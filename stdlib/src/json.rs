//! `std::json_dumps` and `std::json_loads`. Dumping follows Python's `json.dumps` defaults,
//! so the text is byte-for-byte what Inmanta produces: `", "` and `": "` separators,
//! non-ASCII escaped as `\uXXXX`, floats as Python's `repr`, `NaN` / `Infinity` allowed.

use crate::format::float_repr;
use crate::support::{error, text, PluginResult};
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginRegistry};
use cairn_compiler::compile::value::Value;
use std::fmt::Write;
use std::rc::Rc;

pub fn register(registry: &mut PluginRegistry) {
    registry.register("std::json_dumps", vec![Param::new("obj", ParamType::Any)], json_dumps);
    registry.register("std::json_loads", vec![Param::new("s", ParamType::String)], |_, a| {
        loads(text(&a[0])).map_err(error)
    });
}

fn json_dumps(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let mut out = String::new();
    match dump(&args[0], &mut out) {
        Ok(()) => Ok(Value::str(&out)),
        Err(Unserializable::Unknown) => Ok(Value::Unknown),
        Err(Unserializable::Instance(value)) => {
            Err(error(format!("Object of type {} is not JSON serializable", ctx.host.render(&value))))
        }
    }
}

#[derive(Debug)]
pub enum Unserializable {
    /// The value holds an unknown: the text is unknown too.
    Unknown,
    /// Entity instances have no JSON form.
    Instance(Value),
}

/// Writes `value` as Python's `json.dumps(value)` does.
pub fn dump(value: &Value, out: &mut String) -> Result<(), Unserializable> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" }),
        Value::Float(f) => out.push_str(&float_repr(*f)),
        Value::Str(s) => quote(s, out),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(item, out)?;
            }
            out.push(']');
        }
        Value::Dict(dict) => {
            out.push('{');
            for (i, (key, item)) in dict.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quote(key, out);
                out.push_str(": ");
                dump(item, out)?;
            }
            out.push('}');
        }
        Value::Instance(_) => return Err(Unserializable::Instance(value.clone())),
        Value::Unknown => return Err(Unserializable::Unknown),
    }
    Ok(())
}

/// A JSON string as Python's `json.dumps` writes it, with `ensure_ascii`: everything outside
/// printable ASCII is escaped (also what Jinja2's `tojson` writes).
pub(crate) fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            other => {
                let mut units = [0u16; 2];
                for unit in other.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Parses a JSON document as Python's `json.loads`: object keys keep their order (a repeated
/// key keeps its last value), integers stay ints, and `NaN` / `Infinity` are accepted.
pub fn loads(source: &str) -> Result<Value, String> {
    let mut parser = Parser { chars: source.chars().collect(), pos: 0 };
    parser.skip_space();
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.pos < parser.chars.len() {
        return Err(parser.fail("Extra data"));
    }
    Ok(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn fail(&self, what: &str) -> String {
        let line = self.chars[..self.pos.min(self.chars.len())].iter().filter(|c| **c == '\n').count() + 1;
        let column = self.chars[..self.pos.min(self.chars.len())].iter().rev().take_while(|c| **c != '\n').count() + 1;
        format!("invalid JSON: {what}: line {line} column {column} (char {})", self.pos)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        let end = self.pos + word.chars().count();
        if end <= self.chars.len() && self.chars[self.pos..end].iter().copied().eq(word.chars()) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > 512 {
            return Err(self.fail("nested too deeply"));
        }
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let mut dict = cairn_compiler::compile::value::Dict::default();
                self.skip_space();
                if self.peek() == Some('}') {
                    self.pos += 1;
                    return Ok(Value::Dict(Rc::new(dict)));
                }
                loop {
                    self.skip_space();
                    if self.peek() != Some('"') {
                        return Err(self.fail("Expecting property name enclosed in double quotes"));
                    }
                    let key = self.string()?;
                    self.skip_space();
                    if !self.eat(":") {
                        return Err(self.fail("Expecting ':' delimiter"));
                    }
                    self.skip_space();
                    let item = self.value(depth + 1)?;
                    dict.insert(Rc::from(key.as_str()), item);
                    self.skip_space();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Value::Dict(Rc::new(dict)));
                    }
                    return Err(self.fail("Expecting ',' delimiter"));
                }
            }
            Some('[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_space();
                if self.eat("]") {
                    return Ok(Value::list(items));
                }
                loop {
                    self.skip_space();
                    items.push(self.value(depth + 1)?);
                    self.skip_space();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Value::list(items));
                    }
                    return Err(self.fail("Expecting ',' delimiter"));
                }
            }
            Some('"') => Ok(Value::str(&self.string()?)),
            _ if self.eat("null") => Ok(Value::Null),
            _ if self.eat("true") => Ok(Value::Bool(true)),
            _ if self.eat("false") => Ok(Value::Bool(false)),
            _ if self.eat("NaN") => Ok(Value::Float(f64::NAN)),
            _ if self.eat("Infinity") => Ok(Value::Float(f64::INFINITY)),
            _ if self.eat("-Infinity") => Ok(Value::Float(f64::NEG_INFINITY)),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            _ => Err(self.fail("Expecting value")),
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        self.eat("-");
        if self.eat("0") {
        } else if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        } else {
            self.pos = start;
            return Err(self.fail("Expecting value"));
        }
        let mut float = false;
        if self.peek() == Some('.') && self.chars.get(self.pos + 1).is_some_and(char::is_ascii_digit) {
            float = true;
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let mark = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
            } else {
                self.pos = mark;
            }
        }
        let literal: String = self.chars[start..self.pos].iter().collect();
        if !float {
            if let Ok(i) = literal.parse::<i64>() {
                return Ok(Value::Int(i));
            }
        }
        literal.parse::<f64>().map(Value::Float).map_err(|_| self.fail("Expecting value"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else { return Err(self.fail("Unterminated string starting at")) };
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(escape) = self.peek() else { return Err(self.fail("Unterminated string starting at")) };
                    self.pos += 1;
                    match escape {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let first = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&first) && self.eat("\\u") {
                                let second = self.hex4()?;
                                if (0xdc00..0xe000).contains(&second) {
                                    0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                                } else {
                                    out.push(char::REPLACEMENT_CHARACTER);
                                    second
                                }
                            } else {
                                first
                            };
                            out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                        }
                        _ => return Err(self.fail("Invalid \\escape")),
                    }
                }
                c if (c as u32) < 0x20 => return Err(self.fail("Invalid control character at")),
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let end = self.pos + 4;
        if end > self.chars.len() {
            return Err(self.fail("Invalid \\uXXXX escape"));
        }
        let digits: String = self.chars[self.pos..end].iter().collect();
        let code = u32::from_str_radix(&digits, 16).map_err(|_| self.fail("Invalid \\uXXXX escape"))?;
        self.pos = end;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dumped(value: &Value) -> String {
        let mut out = String::new();
        match dump(value, &mut out) {
            Ok(()) => out,
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn python_style_dumps() {
        let dict: cairn_compiler::compile::value::Dict =
            [(Rc::from("a"), Value::Int(1)), (Rc::from("b"), Value::list(vec![Value::Bool(true), Value::Null, Value::Float(1.0)]))]
                .into_iter()
                .collect();
        assert_eq!(dumped(&Value::Dict(Rc::new(dict))), r#"{"a": 1, "b": [true, null, 1.0]}"#);
        assert_eq!(dumped(&Value::str("é\"\n\u{1f600}")), r#""\u00e9\"\n\ud83d\ude00""#);
        assert_eq!(dumped(&Value::Float(f64::INFINITY)), "Infinity");
        assert_eq!(dumped(&Value::list(vec![Value::Unknown])), "Unknown");
    }

    #[test]
    fn loads_keeps_order() {
        let value = loads(r#" {"z": 1, "a": [1.5, "x\u00e9\ud83d\ude00", null, -2e3, true], "z": 2} "#);
        assert_eq!(value.as_ref().map(dumped), Ok(r#"{"z": 2, "a": [1.5, "x\u00e9\ud83d\ude00", null, -2000.0, true]}"#.to_string()));
        assert_eq!(loads("NaN").map(|v| v.to_string()), Ok("NaN".to_string()));
        assert!(loads("[1,]").is_err());
        assert!(loads("{'a': 1}").is_err());
        assert!(loads("1 2").is_err());
        assert!(loads("\"abc").is_err());
        assert_eq!(loads("12345678901234567890").map(|v| v.type_name()), Ok("float"));
    }
}
