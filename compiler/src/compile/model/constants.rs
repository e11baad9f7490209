//! Values known without running anything: attribute defaults (literals, and lists and dicts
//! of them) and Python regular expressions read as Rust's.

use super::*;

/// A Python regular expression (Inmanta's `matching /.../`, pydantic's `constr` regex) as a
/// pattern for Rust's regex with the same meaning: outside a character class, an unescaped
/// `$` also matches before a final newline, as Python's does (`(?:\n?\z)`), and `\Z` is
/// `\z`, and the octal escape `\0` is `\x{0}`. The rest of the syntax they share.
pub fn python_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('Z') if !in_class => out.push_str("\\z"),
                // Python's octal escape `\0`, `\0oo` (Rust's regex reads `\0` as a backreference).
                Some('0') => {
                    let mut value = 0u32;
                    for _ in 0..2 {
                        match chars.peek().and_then(|d| d.to_digit(8)) {
                            Some(digit) => {
                                value = value * 8 + digit;
                                chars.next();
                            }
                            None => break,
                        }
                    }
                    out.push_str(&format!("\\x{{{value:X}}}"));
                }
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '$' if !in_class => out.push_str("(?:\\n?\\z)"),
            c => out.push(c),
        }
    }
    out
}

/// Evaluates a default value: literals, and lists and dicts of literals.
pub fn constant(expr: &ast::Expr) -> Option<Value> {
    Some(match &expr.kind {
        ExprKind::Int(i) => Value::Int(*i),
        ExprKind::Float(f) => Value::Float(*f),
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::Null => Value::Null,
        ExprKind::Str(s) => Value::str(s),
        ExprKind::List(items) => {
            // As a list literal evaluates: a list element is spliced in (see `exec::eval`).
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                match constant(item)? {
                    Value::List(inner) => values.extend(inner.iter().cloned()),
                    value => values.push(value),
                }
            }
            Value::list(values)
        }
        ExprKind::Map(pairs) => {
            let mut dict = Dict::default();
            for (key, value) in pairs {
                dict.insert(Rc::from(key.value.as_str()), constant(value)?);
            }
            Value::Dict(Rc::new(dict))
        }
        _ => return None,
    })
}
