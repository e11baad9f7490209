//! Python's `str.format`, as `std::format` and templates (`'{}'.format(x)`) expose it: `{}` /
//! `{0}` / `{name}` fields with `.attr` and `[key]` lookups, `!s` / `!r` / `!a` conversions and
//! the format-spec mini-language (`[[fill]align][sign][#][0][width][,|_][.precision][type]`,
//! nested `{}` in the spec), plus Python's float `repr`, which `json_dumps` shares.
//!
//! Formatting reads attributes of instances (`{0.name}`) through a [`FormatHost`] (a plugin's
//! context, or what a template can offer). Values print as Python prints the proxies Inmanta
//! hands its plugins: a list or dict as `@` + its repr (`@[1, 'a', null]`, the values inside
//! as the model's repr shows them, null as `null`), an instance as `@` + its name, a float as
//! Python's repr (`1.0`), null alone as `None`.

use crate::support::{describe, error, python_index};
use cairn_compiler::compile::plugins::{PluginCtx, PluginFailure};
use cairn_compiler::compile::value::{InstanceId, Value};
use std::rc::Rc;

/// What formatting needs from its caller.
pub trait FormatHost {
    /// An attribute of an instance (`{0.name}`); may make a plugin call wait.
    fn attribute(&mut self, instance: InstanceId, name: &str) -> Result<Value, PluginFailure>;
    /// How an entity instance prints (`std::Host 3`).
    fn instance_label(&self, instance: InstanceId) -> String;
}

impl FormatHost for PluginCtx<'_> {
    fn attribute(&mut self, instance: InstanceId, name: &str) -> Result<Value, PluginFailure> {
        self.host.attribute(instance, name)
    }

    fn instance_label(&self, instance: InstanceId) -> String {
        self.host.render(&Value::Instance(instance))
    }
}

/// Python's `str()` of a value as a plugin receives it (see the module documentation).
pub fn python_str(value: &Value, ctx: &dyn FormatHost) -> String {
    match value {
        Value::Str(s) => s.to_string(),
        other => python_repr(other, ctx),
    }
}

/// Python's `repr()` of a value as a plugin receives it: a string quoted, a proxy as `@` +
/// the repr of what it wraps.
pub fn python_repr(value: &Value, ctx: &dyn FormatHost) -> String {
    match value {
        Value::Null => "None".to_string(),
        Value::List(_) | Value::Dict(_) => format!("@{}", inner_repr(value, ctx)),
        Value::Instance(id) => format!("@{}", ctx.instance_label(*id)),
        other => inner_repr(other, ctx),
    }
}

/// The repr of a value inside a proxy: the model's values as they are (null is `null`).
pub fn inner_repr(value: &Value, ctx: &dyn FormatHost) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_repr(*f),
        Value::Str(s) => quote(s),
        Value::List(items) => format!("[{}]", items.iter().map(|v| inner_repr(v, ctx)).collect::<Vec<_>>().join(", ")),
        Value::Dict(dict) => format!(
            "{{{}}}",
            dict.iter().map(|(k, v)| format!("{}: {}", quote(k), inner_repr(v, ctx))).collect::<Vec<_>>().join(", ")
        ),
        Value::Instance(id) => ctx.instance_label(*id),
        Value::Unknown => "Unknown".to_string(),
    }
}

/// The positional and keyword arguments of one `format` call.
struct Args<'a> {
    positional: &'a [Value],
    keywords: &'a [(Rc<str>, Value)],
}

/// `template.format(*args, **kwargs)`.
pub fn python_format(template: &str, args: &[Value], kwargs: &[(Rc<str>, Value)], ctx: &mut dyn FormatHost) -> Result<String, PluginFailure> {
    let mut numbering = Numbering::Unset;
    format_with(template, &Args { positional: args, keywords: kwargs }, ctx, &mut numbering, 0)
}

#[derive(Clone, Copy, PartialEq)]
enum Numbering {
    Unset,
    Auto(usize),
    Manual,
}

fn format_with(
    template: &str,
    args: &Args<'_>,
    ctx: &mut dyn FormatHost,
    numbering: &mut Numbering,
    depth: usize,
) -> Result<String, PluginFailure> {
    if depth > 1 {
        return Err(error("Max string recursion exceeded"));
    }
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '{' if chars.get(i + 1) == Some(&'{') => {
                out.push('{');
                i += 2;
            }
            '}' if chars.get(i + 1) == Some(&'}') => {
                out.push('}');
                i += 2;
            }
            '}' => return Err(error("Single '}' encountered in format string")),
            '{' => {
                let mut level = 1;
                let mut j = i + 1;
                while j < chars.len() {
                    match chars[j] {
                        '{' => level += 1,
                        '}' => {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(error("expected '}' before end of string"));
                }
                let field: String = chars[i + 1..j].iter().collect();
                out.push_str(&replacement(&field, args, ctx, numbering, depth)?);
                i = j + 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// One `{field!conversion:spec}`.
fn replacement(
    field: &str,
    args: &Args<'_>,
    ctx: &mut dyn FormatHost,
    numbering: &mut Numbering,
    depth: usize,
) -> Result<String, PluginFailure> {
    // The field name ends at the first `!` or `:` outside brackets.
    let mut in_bracket = false;
    let mut end = field.len();
    for (index, c) in field.char_indices() {
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            '!' | ':' if !in_bracket => {
                end = index;
                break;
            }
            _ => {}
        }
    }
    let (name, rest) = field.split_at(end);
    let (conversion, spec) = match rest.strip_prefix('!') {
        Some(conv) => {
            let mut conv_chars = conv.chars();
            let kind = conv_chars.next().ok_or_else(|| error("end of string while looking for conversion specifier"))?;
            let after = conv_chars.as_str();
            let spec = match after.strip_prefix(':') {
                Some(spec) => spec,
                None if after.is_empty() => "",
                None => return Err(error("expected ':' after conversion specifier")),
            };
            (Some(kind), spec)
        }
        None => (None, rest.strip_prefix(':').unwrap_or(rest)),
    };
    let value = resolve_field(name, args, ctx, numbering)?;
    let spec = if spec.contains('{') { format_with(spec, args, ctx, numbering, depth + 1)? } else { spec.to_string() };
    let value = match conversion {
        None => value,
        Some('s') => Value::str(&python_str(&value, &*ctx)),
        Some('r') => Value::str(&python_repr(&value, &*ctx)),
        Some('a') => Value::str(&ascii(&python_repr(&value, &*ctx))),
        Some(other) => return Err(error(format!("Unknown conversion specifier {other}"))),
    };
    let plain = python_str(&value, &*ctx);
    format_value(&value, &spec, &plain).map_err(error)
}

fn resolve_field(name: &str, args: &Args<'_>, ctx: &mut dyn FormatHost, numbering: &mut Numbering) -> Result<Value, PluginFailure> {
    let first_end = name.find(['.', '[']).unwrap_or(name.len());
    let (first, mut rest) = name.split_at(first_end);
    let index = if first.is_empty() {
        match *numbering {
            Numbering::Manual => return Err(error("cannot switch from manual field specification to automatic field numbering")),
            Numbering::Unset => {
                *numbering = Numbering::Auto(1);
                0
            }
            Numbering::Auto(next) => {
                *numbering = Numbering::Auto(next + 1);
                next
            }
        }
    } else if first.chars().all(|c| c.is_ascii_digit()) {
        if let Numbering::Auto(_) = numbering {
            return Err(error("cannot switch from automatic field numbering to manual field specification"));
        }
        *numbering = Numbering::Manual;
        first.parse::<usize>().map_err(|_| error(format!("Too many decimal digits in format string: {first}")))?
    } else {
        usize::MAX
    };
    let mut value = if index == usize::MAX {
        // Python's KeyError for a keyword that was not given shows the key's repr.
        args.keywords.iter().find(|(key, _)| &**key == first).map(|(_, value)| value.clone()).ok_or_else(|| error(format!("'{first}'")))?
    } else {
        args.positional
            .get(index)
            .cloned()
            .ok_or_else(|| error(format!("Replacement index {index} out of range for positional args tuple")))?
    };
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let (attr, tail) = after.split_at(end);
            if attr.is_empty() {
                return Err(error("Empty attribute in format string"));
            }
            value = match &value {
                Value::Instance(id) => ctx.attribute(*id, attr)?,
                other => return Err(error(format!("{} has no attribute '{attr}'", describe(other)))),
            };
            rest = tail;
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| error("Missing ']' in format string"))?;
            let key = &after[..end];
            rest = &after[end + 1..];
            if !rest.is_empty() && !rest.starts_with(['.', '[']) {
                return Err(error("Only '.' or '[' may follow ']' in format field specifier"));
            }
            let numeric = !key.is_empty() && key.chars().all(|c| c.is_ascii_digit());
            value = match (&value, numeric) {
                (Value::List(items), true) => key
                    .parse::<i64>()
                    .ok()
                    .and_then(|i| python_index(items.len(), i))
                    .and_then(|i| items.get(i).cloned())
                    .ok_or_else(|| error("list index out of range"))?,
                (Value::Str(s), true) => key
                    .parse::<i64>()
                    .ok()
                    .and_then(|i| python_index(s.chars().count(), i))
                    .and_then(|i| s.chars().nth(i))
                    .map(|c| Value::str(&c.to_string()))
                    .ok_or_else(|| error("string index out of range"))?,
                (Value::Dict(dict), false) => dict.get(key).cloned().ok_or_else(|| error(format!("key '{key}' not found")))?,
                (Value::Dict(_), true) => return Err(error(format!("key {key} not found (dict keys are strings)"))),
                (other, _) => return Err(error(format!("cannot index {} with [{key}]", describe(other)))),
            };
        } else {
            return Err(error(format!("invalid field name '{name}'")));
        }
    }
    Ok(value)
}

/// Python's string repr: single quotes unless the text holds one and no double quote.
pub fn quote(s: &str) -> String {
    let delimiter = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::new();
    out.push(delimiter);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == delimiter => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(delimiter);
    out
}

/// Python's `ascii()`: non-ASCII characters escaped.
fn ascii(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let code = c as u32;
        if code < 0x80 {
            out.push(c);
        } else if code < 0x100 {
            out.push_str(&format!("\\x{code:02x}"));
        } else if code < 0x10000 {
            out.push_str(&format!("\\u{code:04x}"));
        } else {
            out.push_str(&format!("\\U{code:08x}"));
        }
    }
    out
}

/// Python's `repr(float)`: the shortest text that reads back, scientific notation below
/// 1e-4 and from 1e16 on.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".to_string() } else { "-inf".to_string() };
    }
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if f != 0.0 && !(-4..16).contains(&exponent) {
        return format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs());
    }
    let fixed = format!("{f}");
    if fixed.contains('.') {
        fixed
    } else {
        format!("{fixed}.0")
    }
}

#[derive(Debug, Default, PartialEq)]
struct Spec {
    fill: Option<char>,
    align: Option<char>,
    sign: Option<char>,
    alternate: bool,
    zero: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    kind: Option<char>,
}

fn parse_spec(spec: &str) -> Result<Spec, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut parsed = Spec::default();
    let mut i = 0;
    let is_align = |c: &char| "<>=^".contains(*c);
    if chars.len() >= 2 && is_align(&chars[1]) {
        parsed.fill = Some(chars[0]);
        parsed.align = Some(chars[1]);
        i = 2;
    } else if chars.first().is_some_and(is_align) {
        parsed.align = Some(chars[0]);
        i = 1;
    }
    if let Some(c) = chars.get(i).filter(|c| "+- ".contains(**c)) {
        parsed.sign = Some(*c);
        i += 1;
    }
    if chars.get(i) == Some(&'z') {
        i += 1;
    }
    if chars.get(i) == Some(&'#') {
        parsed.alternate = true;
        i += 1;
    }
    if chars.get(i) == Some(&'0') {
        parsed.zero = true;
        i += 1;
    }
    let start = i;
    while chars.get(i).is_some_and(char::is_ascii_digit) {
        i += 1;
    }
    let digits: String = chars[start..i].iter().collect();
    if !digits.is_empty() {
        parsed.width = digits.parse().map_err(|_| "Too many decimal digits in format string".to_string())?;
    }
    if let Some(c) = chars.get(i).filter(|c| **c == ',' || **c == '_') {
        parsed.grouping = Some(*c);
        i += 1;
    }
    if chars.get(i) == Some(&'.') {
        i += 1;
        let start = i;
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        if start == i {
            return Err("Format specifier missing precision".to_string());
        }
        let digits: String = chars[start..i].iter().collect();
        parsed.precision = Some(digits.parse().map_err(|_| "Too many decimal digits in format string".to_string())?);
    }
    if i < chars.len() {
        parsed.kind = Some(chars[i]);
        i += 1;
    }
    if i < chars.len() {
        return Err("Invalid format specifier".to_string());
    }
    Ok(parsed)
}

/// `format(value, spec)`; `plain` is `str(value)`.
pub fn format_value(value: &Value, spec: &str, plain: &str) -> Result<String, String> {
    if spec.is_empty() {
        return Ok(plain.to_string());
    }
    let parsed = parse_spec(spec)?;
    match value {
        Value::Str(s) => format_str(s, &parsed),
        Value::Int(i) => format_int(*i, &parsed, "int"),
        Value::Bool(b) => format_int(i64::from(*b), &parsed, "bool"),
        Value::Float(f) => format_float(*f, &parsed),
        other => Err(format!("unsupported format string passed to {}.__format__", python_type(other))),
    }
}

fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
        Value::Str(_) => "str",
        other => other.type_name(),
    }
}

fn format_str(s: &str, spec: &Spec) -> Result<String, String> {
    if let Some(kind) = spec.kind.filter(|k| *k != 's') {
        return Err(format!("Unknown format code '{kind}' for object of type 'str'"));
    }
    if spec.sign.is_some() {
        return Err("Sign not allowed in string format specifier".to_string());
    }
    if spec.alternate {
        return Err("Alternate form (#) not allowed in string format specifier".to_string());
    }
    if spec.align == Some('=') {
        return Err("'=' alignment not allowed in string format specifier".to_string());
    }
    if let Some(grouping) = spec.grouping {
        return Err(format!("Cannot specify '{grouping}' with 's'."));
    }
    let body: String = match spec.precision {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    let fill = spec.fill.unwrap_or(if spec.zero && spec.align.is_none() { '0' } else { ' ' });
    Ok(pad("", &body, spec.width, fill, spec.align.unwrap_or('<')))
}

fn format_int(i: i64, spec: &Spec, type_name: &str) -> Result<String, String> {
    let kind = spec.kind.unwrap_or('d');
    if "eEfFgG%".contains(kind) {
        return format_float(i as f64, spec);
    }
    if spec.precision.is_some() {
        return Err("Precision not allowed in integer format specifier".to_string());
    }
    let magnitude = i.unsigned_abs();
    let (digits, prefix) = match kind {
        'd' | 'n' => (magnitude.to_string(), ""),
        'b' => (format!("{magnitude:b}"), "0b"),
        'o' => (format!("{magnitude:o}"), "0o"),
        'x' => (format!("{magnitude:x}"), "0x"),
        'X' => (format!("{magnitude:X}"), "0X"),
        'c' => {
            let c = u32::try_from(i).ok().and_then(char::from_u32).ok_or_else(|| "%c arg not in range(0x110000)".to_string())?;
            return Ok(pad("", &c.to_string(), spec.width, spec.fill.unwrap_or(' '), spec.align.unwrap_or('>')));
        }
        other => return Err(format!("Unknown format code '{other}' for object of type '{type_name}'")),
    };
    let digits = match spec.grouping {
        Some(',') if kind == 'd' => group(&digits, ',', 3),
        Some(',') => return Err(format!("Cannot specify ',' with '{kind}'.")),
        Some(sep) => group(&digits, sep, if kind == 'd' || kind == 'n' { 3 } else { 4 }),
        None => digits,
    };
    let prefix = if spec.alternate { prefix } else { "" };
    let sign = sign_text(i < 0, spec.sign);
    finish_number(&format!("{sign}{prefix}"), &digits, spec)
}

fn format_float(f: f64, spec: &Spec) -> Result<String, String> {
    let kind = spec.kind;
    let upper = kind.is_some_and(|k| k.is_ascii_uppercase());
    let magnitude = f.abs();
    let mut body = if f.is_nan() {
        "nan".to_string()
    } else if f.is_infinite() {
        "inf".to_string()
    } else {
        match kind {
            Some('f' | 'F') => format!("{magnitude:.*}", spec.precision.unwrap_or(6)),
            Some('e' | 'E') => scientific(magnitude, spec.precision.unwrap_or(6)),
            Some('g' | 'G' | 'n') => general(magnitude, spec.precision.unwrap_or(6), spec.alternate, false),
            Some('%') => format!("{:.*}%", spec.precision.unwrap_or(6), magnitude * 100.0),
            None => match spec.precision {
                Some(p) => general(magnitude, p, spec.alternate, true),
                None => float_repr(magnitude),
            },
            Some(other) => return Err(format!("Unknown format code '{other}' for object of type 'float'")),
        }
    };
    if upper {
        body = body.to_uppercase();
    }
    if spec.alternate && !body.contains('.') && body.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        let split = body.find(['e', 'E', '%']).unwrap_or(body.len());
        body.insert(split, '.');
    }
    let body = match spec.grouping {
        Some(sep) => {
            let end = body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len());
            format!("{}{}", group(&body[..end], sep, 3), &body[end..])
        }
        None => body,
    };
    let negative = f.is_sign_negative() && !f.is_nan();
    finish_number(sign_text(negative, spec.sign), &body, spec)
}

/// `1.500000e+00`: Python's exponent has a sign and at least two digits.
fn scientific(magnitude: f64, precision: usize) -> String {
    let text = format!("{magnitude:.precision$e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
}

/// The `g` presentation (and, with `at_least_one_decimal`, the no-type one with a precision).
fn general(magnitude: f64, precision: usize, keep_zeros: bool, at_least_one_decimal: bool) -> String {
    let p = precision.max(1);
    let rounded = format!("{magnitude:.*e}", p - 1);
    let exponent: i64 = rounded.split_once('e').and_then(|(_, e)| e.parse().ok()).unwrap_or(0);
    let limit = if at_least_one_decimal { p as i64 - 1 } else { p as i64 };
    let text = if (-4..limit).contains(&exponent) || (magnitude == 0.0) {
        let decimals = (p as i64 - 1 - exponent).max(0) as usize;
        format!("{magnitude:.decimals$}")
    } else {
        scientific(magnitude, p - 1)
    };
    if keep_zeros {
        return text;
    }
    let (number, exponent_part) = match text.find('e') {
        Some(index) => text.split_at(index),
        None => (text.as_str(), ""),
    };
    let mut number = if number.contains('.') { number.trim_end_matches('0').trim_end_matches('.').to_string() } else { number.to_string() };
    if at_least_one_decimal && exponent_part.is_empty() && !number.contains('.') {
        number.push_str(".0");
    }
    format!("{number}{exponent_part}")
}

fn sign_text(negative: bool, sign: Option<char>) -> &'static str {
    match (negative, sign) {
        (true, _) => "-",
        (false, Some('+')) => "+",
        (false, Some(' ')) => " ",
        _ => "",
    }
}

fn finish_number(prefix: &str, digits: &str, spec: &Spec) -> Result<String, String> {
    let (fill, align) = match (spec.fill, spec.align) {
        (fill, Some(align)) => (fill.unwrap_or(if spec.zero { '0' } else { ' ' }), align),
        (Some(fill), None) => (fill, '>'),
        (None, None) if spec.zero => ('0', '='),
        (None, None) => (' ', '>'),
    };
    Ok(pad(prefix, digits, spec.width, fill, align))
}

/// Pads `prefix + body` to `width`; `=` pads between the prefix (sign) and the body.
fn pad(prefix: &str, body: &str, width: usize, fill: char, align: char) -> String {
    let length = prefix.chars().count() + body.chars().count();
    let missing = width.saturating_sub(length);
    let filler = |n: usize| std::iter::repeat_n(fill, n).collect::<String>();
    match align {
        '<' => format!("{prefix}{body}{}", filler(missing)),
        '^' => format!("{}{prefix}{body}{}", filler(missing / 2), filler(missing - missing / 2)),
        '=' => format!("{prefix}{}{body}", filler(missing)),
        _ => format!("{}{prefix}{body}", filler(missing)),
    }
}

fn group(digits: &str, separator: char, size: usize) -> String {
    let chars: Vec<char> = digits.chars().collect();
    let mut out = String::new();
    // Digits left before the next separator, counted from the left.
    let mut until_separator = match chars.len() % size {
        0 => size,
        first => first,
    };
    for (index, c) in chars.iter().enumerate() {
        if index > 0 && until_separator == 0 {
            out.push(separator);
            until_separator = size;
        }
        out.push(*c);
        until_separator -= 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(value: Value, spec: &str) -> String {
        let plain = value.to_string();
        format_value(&value, spec, &plain).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn float_reprs() {
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(0.1), "0.1");
        assert_eq!(float_repr(-2.5), "-2.5");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1.5e-5), "1.5e-05");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.0), "0.0");
        assert_eq!(float_repr(123456789012345680.0), "1.2345678901234568e+17");
    }

    #[test]
    fn specs() {
        assert_eq!(fmt(Value::Int(42), ">5"), "   42");
        assert_eq!(fmt(Value::Int(42), "05"), "00042");
        assert_eq!(fmt(Value::Int(-42), "05"), "-0042");
        assert_eq!(fmt(Value::Int(255), "#x"), "0xff");
        assert_eq!(fmt(Value::Int(255), "08b"), "11111111");
        assert_eq!(fmt(Value::Int(1234567), ","), "1,234,567");
        assert_eq!(fmt(Value::Int(5), "+d"), "+5");
        assert_eq!(fmt(Value::Int(5), ".2f"), "5.00");
        assert_eq!(fmt(Value::Float(1.23456), ".2f"), "1.23");
        assert_eq!(fmt(Value::Float(1234.5), ",.1f"), "1,234.5");
        assert_eq!(fmt(Value::Float(1.5), "e"), "1.500000e+00");
        assert_eq!(fmt(Value::Float(0.00001234), "g"), "1.234e-05");
        assert_eq!(fmt(Value::Float(1234.0), "g"), "1234");
        assert_eq!(fmt(Value::Float(100000.0), "g"), "100000");
        assert_eq!(fmt(Value::Float(1e6), "g"), "1e+06");
        assert_eq!(fmt(Value::Float(0.0001), "g"), "0.0001");
        assert_eq!(fmt(Value::Float(-2.5), "+.1f"), "-2.5");
        assert_eq!(fmt(Value::Float(2.5), "08.2f"), "00002.50");
        assert_eq!(fmt(Value::Float(123.0), ".3"), "1.23e+02");
        assert_eq!(fmt(Value::Float(12.0), ".3"), "12.0");
        assert_eq!(fmt(Value::Float(0.25), ".0%"), "25%");
        assert_eq!(fmt(Value::Float(2.0), ""), "2");
        assert_eq!(fmt(Value::Float(2.0), ">6"), "   2.0");
        assert_eq!(fmt(Value::str("ab"), "*^6"), "**ab**");
        assert_eq!(fmt(Value::str("abcdef"), ".3"), "abc");
        assert_eq!(fmt(Value::str("ab"), "<4"), "ab  ");
        assert_eq!(fmt(Value::str("ab"), "d"), "error: Unknown format code 'd' for object of type 'str'");
        assert_eq!(fmt(Value::Int(3), "s"), "error: Unknown format code 's' for object of type 'int'");
        assert_eq!(fmt(Value::Null, ">4"), "error: unsupported format string passed to NoneType.__format__");
        assert_eq!(fmt(Value::Bool(true), ">3"), "  1");
    }
}

#[cfg(test)]
mod call_tests {
    use crate::testing::FakeHost;
    use cairn_compiler::compile::plugins::PluginFailure;
    use cairn_compiler::compile::value::Value;

    fn format(host: &mut FakeHost, args: &[Value]) -> Result<Value, PluginFailure> {
        host.call("std::format", args, None)
    }

    #[test]
    fn fields() {
        let mut host = FakeHost::default();
        let x = host.instance("m::X", &["name"], &[("name", Value::str("web"))]);
        let list = Value::list(vec![Value::str("a"), Value::str("b")]);
        assert_eq!(format(&mut host, &[Value::str("{} and {}"), Value::Int(1), Value::str("x")]), Ok(Value::str("1 and x")));
        assert_eq!(format(&mut host, &[Value::str("{1}{0}{1}"), Value::Int(1), Value::Int(2)]), Ok(Value::str("212")));
        assert_eq!(format(&mut host, &[Value::str("{0.name}!"), x]), Ok(Value::str("web!")));
        assert_eq!(format(&mut host, &[Value::str("{0[1]}"), list.clone()]), Ok(Value::str("b")));
        // Inmanta's proxies: `@` + the repr, null inside as `null`, a float as Python's repr.
        assert_eq!(format(&mut host, &[Value::str("{!r}"), list]), Ok(Value::str("@['a', 'b']")));
        let mixed = Value::list(vec![Value::Int(1), Value::str("a"), Value::Null]);
        let args = [Value::str("{} {} {} {} {!r}"), Value::Float(1.0), Value::Null, Value::Bool(true), mixed, Value::str("s")];
        assert_eq!(format(&mut host, &args), Ok(Value::str("1.0 None True @[1, 'a', null] 's'")));
        let keywords = [("name", Value::str("y"))];
        assert_eq!(host.call_with("std::format", &[Value::str("{name}-{0}"), Value::str("x")], &keywords, None), Ok(Value::str("y-x")));
        assert_eq!(format(&mut host, &[Value::str("{:>{}}"), Value::str("x"), Value::Int(3)]), Ok(Value::str("  x")));
        assert_eq!(format(&mut host, &[Value::str("{{}}")]), Ok(Value::str("{}")));
        assert!(format(&mut host, &[Value::str("{} {1}"), Value::Int(1), Value::Int(2)]).is_err());
        assert!(format(&mut host, &[Value::str("{2}"), Value::Int(1)]).is_err());
        assert!(format(&mut host, &[Value::str("{name}"), Value::Int(1)]).is_err());
        assert!(format(&mut host, &[Value::str("}")]).is_err());
        assert!(format(&mut host, &[Value::str("{")]).is_err());
    }
}
