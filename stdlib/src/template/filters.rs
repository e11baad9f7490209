//! Jinja2's own filters, tests, globals and Python methods where minijinja's differ from
//! them or lack them: what Jinja2 3.1 (as std 8.4.2 configures it) gives a template.
//!
//! minijinja's built-ins stay where they already behave as Jinja2's (`length`, `sort`,
//! `map`, `select`, `batch`, `dictsort`, loops, macros, ...). Replaced or added here:
//! `default`/`d` (`boolean`), `round` (Python's rounding), `format` (printf style), `indent`
//! (string widths, `first`, `blank`), `replace` (`count`), `join` (`attribute`, Python's
//! `str`), `string`, `tojson` (sorted keys, HTML-safe, refusing the model's proxies as
//! Inmanta's Jinja2 does), `escape`/`e` (markupsafe's entities), `truncate`, `center`,
//! `wordcount`, `wordwrap`, `urlencode`, `striptags`, `filesizeformat`, `trim`; the tests
//! `callable`; the globals `cycler` and `joiner`; and the methods of `str`, `dict` and
//! `list` (`.upper()`, `.split()`, `.items()`, `'{}'.format(x)`, ...), through minijinja's
//! unknown-method callback.

use super::values::{dict_method, from_jinja, is_pending, python_repr, python_str, InstanceRef, ModelDict, ModelList, NotAValue, Pending};
use crate::format::{float_repr, python_format, FormatHost};
use cairn_compiler::compile::plugins::PluginFailure;
use cairn_compiler::compile::value::{InstanceId, Value};
use minijinja::value::{Object, ObjectRepr, Rest, Value as Jv, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// Installs the filters, tests and globals of this module in `env`.
pub fn install(env: &mut Environment<'static>) {
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("round", round);
    env.add_filter("format", printf_filter);
    env.add_filter("indent", indent);
    env.add_filter("replace", replace);
    env.add_filter("join", join);
    env.add_filter("string", |value: Jv| Jv::from(python_str(&value)));
    env.add_filter("tojson", tojson);
    env.add_filter("escape", escape_filter);
    env.add_filter("e", escape_filter);
    env.add_filter("forceescape", |value: Jv| Jv::from_safe_string(escape(&python_str(&value))));
    env.add_filter("truncate", truncate);
    env.add_filter("center", center);
    env.add_filter("wordcount", |value: Jv| Jv::from(python_str(&value).split(|c: char| !is_word(c)).filter(|w| !w.is_empty()).count()));
    env.add_filter("wordwrap", wordwrap);
    env.add_filter("urlencode", urlencode);
    env.add_filter("striptags", striptags);
    env.add_filter("filesizeformat", filesizeformat);
    env.add_filter("trim", trim);
    env.add_test("callable", |value: Jv| value.as_object().is_some_and(|o| o.repr() == ObjectRepr::Plain) || value.kind() == ValueKind::Plain);
    env.add_function("cycler", |items: Rest<Jv>| Jv::from_object(Cycler { items: items.0, position: Mutex::new(0) }));
    env.add_function("joiner", |sep: Option<String>| Jv::from_object(Joiner { sep: sep.unwrap_or_else(|| ", ".to_string()), used: Mutex::new(false) }));
}

/// A filter's arguments bound as Python binds them: positionals, then keywords by name.
fn bind(filter: &str, args: &[Jv], names: &[&str]) -> Result<Vec<Option<Jv>>, Error> {
    let mut bound: Vec<Option<Jv>> = vec![None; names.len()];
    let (positional, keywords) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (rest, Some(last)),
        _ => (args, None),
    };
    if positional.len() > names.len() {
        return Err(Error::new(ErrorKind::TooManyArguments, format!("{filter}() takes at most {} arguments", names.len() + 1)));
    }
    for (slot, value) in bound.iter_mut().zip(positional) {
        *slot = Some(value.clone());
    }
    if let Some(keywords) = keywords {
        for key in keywords.try_iter()? {
            let name = key.as_str().unwrap_or_default();
            let Some(position) = names.iter().position(|n| *n == name) else {
                return Err(Error::new(ErrorKind::TooManyArguments, format!("{filter}() got an unexpected keyword argument '{name}'")));
            };
            if bound[position].is_some() {
                return Err(Error::new(ErrorKind::InvalidOperation, format!("{filter}() got multiple values for argument '{name}'")));
            }
            bound[position] = Some(keywords.get_item(&key)?);
        }
    }
    Ok(bound)
}

fn text_of(value: &Option<Jv>, default: &str) -> String {
    value.as_ref().map(python_str).unwrap_or_else(|| default.to_string())
}

fn int_of(value: &Option<Jv>, default: i64) -> Result<i64, Error> {
    match value {
        None => Ok(default),
        Some(v) if v.is_none() => Ok(default),
        Some(v) => v.as_i64().ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("{} is not an integer", python_repr(v)))),
    }
}

fn flag_of(value: &Option<Jv>) -> bool {
    value.as_ref().is_some_and(Jv::is_true)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `default(value, default_value='', boolean=False)`: only an undefined value (or, with
/// `boolean`, a false one) is replaced; `None` is a value.
fn default(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("default", &args, &["default_value", "boolean"])?;
    if value.is_undefined() || (flag_of(&bound[1]) && !value.is_true()) {
        Ok(bound[0].clone().unwrap_or_else(|| Jv::from("")))
    } else {
        Ok(value)
    }
}

/// `round(value, precision=0, method='common')`: `common` is Python's `round` (ties to
/// even on the exact binary value, as `format(x, '.Nf')` rounds), always a float.
fn round(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("round", &args, &["precision", "method"])?;
    let precision = int_of(&bound[0], 0)?;
    let method = text_of(&bound[1], "common");
    let number = f64::try_from(value.clone()).map_err(|_| invalid(format!("round() needs a number, got {}", python_repr(&value))))?;
    let scale = 10f64.powi(i32::try_from(precision).unwrap_or(0));
    let rounded = match method.as_str() {
        "common" => python_round(number, precision),
        "ceil" => (number * scale).ceil() / scale,
        "floor" => (number * scale).floor() / scale,
        _ => return Err(invalid("method must be common, ceil or floor")),
    };
    Ok(Jv::from(rounded))
}

/// Python's `round(x, n)` for floats.
pub fn python_round(x: f64, digits: i64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    if digits >= 0 {
        let digits = usize::try_from(digits.min(300)).unwrap_or(0);
        format!("{x:.digits$}").parse::<f64>().unwrap_or(x)
    } else {
        let scale = 10f64.powi(i32::try_from(-digits).unwrap_or(0).min(308));
        (x / scale).round_ties_even() * scale
    }
}

/// Jinja2's `format` filter: `value % args` (or `% kwargs`), printf style.
fn printf_filter(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let (positional, keywords) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (rest.to_vec(), Some(last.clone())),
        _ => (args.0.clone(), None),
    };
    if keywords.is_some() && !positional.is_empty() {
        return Err(invalid("can't handle positional and keyword arguments at the same time"));
    }
    printf(&python_str(&value), &positional, keywords.as_ref()).map(Jv::from)
}

/// Python's `template % values`: `%s %r %d %i %u %f %F %e %E %g %G %x %X %o %c %%`, with
/// flags (`-+ #0`), width, precision and `%(name)s` keys.
pub fn printf(template: &str, values: &[Jv], keywords: Option<&Jv>) -> Result<String, Error> {
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::new();
    let mut next = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut key = None;
        if chars.get(i) == Some(&'(') {
            let end = chars[i..].iter().position(|c| *c == ')').ok_or_else(|| invalid("incomplete format key"))?;
            key = Some(chars[i + 1..i + end].iter().collect::<String>());
            i += end + 1;
        }
        let mut flags = String::new();
        while let Some(c) = chars.get(i).filter(|c| "-+ #0".contains(**c)) {
            flags.push(*c);
            i += 1;
        }
        let mut width = String::new();
        while let Some(c) = chars.get(i).filter(|c| c.is_ascii_digit()) {
            width.push(*c);
            i += 1;
        }
        let mut precision = None;
        if chars.get(i) == Some(&'.') {
            i += 1;
            let mut digits = String::new();
            while let Some(c) = chars.get(i).filter(|c| c.is_ascii_digit()) {
                digits.push(*c);
                i += 1;
            }
            precision = Some(digits.parse::<usize>().unwrap_or(0));
        }
        let conversion = *chars.get(i).ok_or_else(|| invalid("incomplete format"))?;
        i += 1;
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let value = match &key {
            Some(key) => keywords
                .ok_or_else(|| invalid("format requires a mapping"))?
                .get_item(&Jv::from(key.as_str()))
                .ok()
                .filter(|v| !v.is_undefined())
                .ok_or_else(|| invalid(format!("KeyError: '{key}'")))?,
            None => {
                let value = values.get(next).cloned().ok_or_else(|| invalid("not enough arguments for format string"))?;
                next += 1;
                value
            }
        };
        let width = width.parse::<usize>().unwrap_or(0);
        let left = flags.contains('-');
        let zero = flags.contains('0') && !left;
        let sign = if flags.contains('+') {
            "+"
        } else if flags.contains(' ') {
            " "
        } else {
            ""
        };
        let number = || f64::try_from(value.clone()).map_err(|_| invalid(format!("%{conversion} format: a real number is required, not {}", python_repr(&value))));
        let body = match conversion {
            's' => {
                let text = python_str(&value);
                match precision {
                    Some(p) => text.chars().take(p).collect(),
                    None => text,
                }
            }
            'r' | 'a' => python_repr(&value),
            'd' | 'i' | 'u' => {
                let n = number()?.trunc();
                signed(n < 0.0, sign, &format!("{}", n.abs() as i128))
            }
            'x' | 'X' | 'o' => {
                let n = number()?.trunc() as i128;
                let digits = match conversion {
                    'x' => format!("{:x}", n.unsigned_abs()),
                    'X' => format!("{:X}", n.unsigned_abs()),
                    _ => format!("{:o}", n.unsigned_abs()),
                };
                let prefix = if flags.contains('#') {
                    match conversion {
                        'x' => "0x",
                        'X' => "0X",
                        _ => "0o",
                    }
                } else {
                    ""
                };
                signed(n < 0, sign, &format!("{prefix}{digits}"))
            }
            'f' | 'F' => {
                let n = number()?;
                let p = precision.unwrap_or(6);
                signed(n.is_sign_negative() && n != 0.0, sign, &format!("{:.p$}", n.abs()))
            }
            'e' | 'E' => {
                let n = number()?;
                let text = exponent(n.abs(), precision.unwrap_or(6));
                let text = if conversion == 'E' { text.to_uppercase() } else { text };
                signed(n < 0.0, sign, &text)
            }
            'g' | 'G' => {
                let n = number()?;
                let p = precision.unwrap_or(6).max(1);
                let magnitude = n.abs();
                let exp = if magnitude == 0.0 { 0 } else { magnitude.log10().floor() as i32 };
                let text = if exp < -4 || exp >= p as i32 {
                    let t = exponent(magnitude, p - 1);
                    let (mantissa, e) = t.split_once('e').unwrap_or((&t, "+00"));
                    let mantissa = if mantissa.contains('.') && !flags.contains('#') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
                    format!("{mantissa}e{e}")
                } else {
                    let decimals = usize::try_from(p as i32 - 1 - exp).unwrap_or(0);
                    let t = format!("{magnitude:.decimals$}");
                    if t.contains('.') && !flags.contains('#') {
                        t.trim_end_matches('0').trim_end_matches('.').to_string()
                    } else {
                        t
                    }
                };
                let text = if conversion == 'G' { text.to_uppercase() } else { text };
                signed(n < 0.0, sign, &text)
            }
            'c' => match value.as_i64() {
                Some(code) => char::from_u32(u32::try_from(code).unwrap_or(0xFFFD)).unwrap_or('\u{FFFD}').to_string(),
                None => python_str(&value).chars().take(1).collect(),
            },
            other => return Err(invalid(format!("unsupported format character '{other}'"))),
        };
        let length = body.chars().count();
        if length >= width {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', width - length));
        } else if zero && "diufFeEgGxXo".contains(conversion) {
            let (sign_part, digits) = match body.chars().next() {
                Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_string()),
                _ => (String::new(), body.clone()),
            };
            out.push_str(&sign_part);
            out.extend(std::iter::repeat_n('0', width - length));
            out.push_str(&digits);
        } else {
            out.extend(std::iter::repeat_n(' ', width - length));
            out.push_str(&body);
        }
    }
    if keywords.is_none() && next < values.len() {
        return Err(invalid("not all arguments converted during string formatting"));
    }
    Ok(out)
}

fn signed(negative: bool, sign: &str, digits: &str) -> String {
    if negative {
        format!("-{digits}")
    } else {
        format!("{sign}{digits}")
    }
}

/// `1.500000e+00`, as Python's `%e` writes it.
fn exponent(magnitude: f64, precision: usize) -> String {
    let text = format!("{magnitude:.precision$e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// Python's `str.splitlines()`.
fn splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes: Vec<(usize, char)> = s.char_indices().collect();
    let mut i = 0;
    while i < bytes.len() {
        let (at, c) = bytes[i];
        let boundary = matches!(c, '\n' | '\r' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}' | '\u{2029}');
        if boundary {
            lines.push(&s[start..at]);
            let mut next = at + c.len_utf8();
            if c == '\r' && bytes.get(i + 1).is_some_and(|(_, n)| *n == '\n') {
                next += 1;
                i += 1;
            }
            start = next;
        }
        i += 1;
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// `indent(s, width=4, first=False, blank=False)`; `width` may be the indentation text.
fn indent(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("indent", &args, &["width", "first", "blank"])?;
    let indention = match &bound[0] {
        None => "    ".to_string(),
        Some(w) if w.kind() == ValueKind::String => python_str(w),
        Some(w) => " ".repeat(usize::try_from(int_of(&Some(w.clone()), 4)?).unwrap_or(0)),
    };
    // Jinja2 appends a newline so that `splitlines` keeps a final empty line.
    let text = format!("{}\n", python_str(&value));
    let lines = splitlines(&text);
    let mut out = if flag_of(&bound[2]) {
        lines.join(&format!("\n{indention}"))
    } else {
        let mut rest = lines.iter();
        let mut out = rest.next().map(|l| l.to_string()).unwrap_or_default();
        let others: Vec<String> = rest.map(|l| if l.is_empty() { String::new() } else { format!("{indention}{l}") }).collect();
        if !others.is_empty() {
            out.push('\n');
            out.push_str(&others.join("\n"));
        }
        out
    };
    if flag_of(&bound[1]) {
        out = format!("{indention}{out}");
    }
    Ok(Jv::from(out))
}

/// `replace(s, old, new, count=None)`.
fn replace(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("replace", &args, &["old", "new", "count"])?;
    let (old, new) = (text_of(&bound[0], ""), text_of(&bound[1], ""));
    let count = int_of(&bound[2], -1)?;
    Ok(Jv::from(python_replace(&python_str(&value), &old, &new, count)))
}

/// Python's `str.replace(old, new, count)`; a negative count replaces every occurrence.
fn python_replace(s: &str, old: &str, new: &str, count: i64) -> String {
    match usize::try_from(count) {
        Ok(n) if old.is_empty() => {
            // An empty `old` inserts `new` between the characters, `n` times.
            let mut out = String::new();
            let mut left = n;
            for c in s.chars() {
                if left > 0 {
                    out.push_str(new);
                    left -= 1;
                }
                out.push(c);
            }
            if left > 0 {
                out.push_str(new);
            }
            out
        }
        Ok(n) => s.replacen(old, new, n),
        Err(_) if old.is_empty() => {
            let mut out = String::from(new);
            for c in s.chars() {
                out.push(c);
                out.push_str(new);
            }
            out
        }
        Err(_) => s.replace(old, new),
    }
}

/// `join(value, d='', attribute=None)`: the items as Python's `str` shows them.
fn join(state: &State<'_, '_>, value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("join", &args, &["d", "attribute"])?;
    let separator = text_of(&bound[0], "");
    let mut parts = Vec::new();
    for item in value.try_iter()? {
        let item = match &bound[1] {
            Some(attribute) => attribute_of(state, &item, attribute)?,
            None => item,
        };
        if item.is_undefined() {
            return Err(Error::from(ErrorKind::UndefinedError));
        }
        parts.push(python_str(&item));
    }
    let joined = parts.join(&separator);
    Ok(if value.is_safe() { Jv::from_safe_string(joined) } else { Jv::from(joined) })
}

/// `item.attribute` (dotted paths and integer parts index lists), as Jinja2's
/// `make_attrgetter` reads it.
fn attribute_of(_state: &State<'_, '_>, item: &Jv, attribute: &Jv) -> Result<Jv, Error> {
    let path = python_str(attribute);
    let mut current = item.clone();
    for part in path.split('.') {
        current = match part.parse::<i64>() {
            Ok(index) => current.get_item(&Jv::from(index))?,
            Err(_) => current.get_attr(part)?,
        };
    }
    Ok(current)
}

/// `tojson(value, indent=None)`: Jinja2's `htmlsafe_json_dumps` with sorted keys. A proxy
/// of the model is refused exactly as Python's `json` refuses Inmanta's proxies.
fn tojson(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("tojson", &args, &["indent"])?;
    let indent = match &bound[0] {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(usize::try_from(int_of(&Some(v.clone()), 0)?).unwrap_or(0)),
    };
    let mut out = String::new();
    write_json(&value, indent, 0, &mut out)?;
    let safe = out.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026").replace('\'', "\\u0027");
    Ok(Jv::from_safe_string(safe))
}

fn write_json(value: &Jv, indent: Option<usize>, depth: usize, out: &mut String) -> Result<(), Error> {
    if let Some(object) = value.as_object() {
        let proxy = if object.downcast_ref::<ModelDict>().is_some() {
            Some("DictProxy")
        } else if object.downcast_ref::<ModelList>().is_some() {
            Some("SequenceProxy")
        } else if object.downcast_ref::<InstanceRef>().is_some() {
            Some("DynamicProxy")
        } else {
            None
        };
        if let Some(name) = proxy {
            return Err(invalid(format!("TypeError: Object of type {name} is not JSON serializable")));
        }
    }
    let newline = |out: &mut String, depth: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
    };
    let (item_separator, key_separator) = if indent.is_some() { (",", ": ") } else { (", ", ": ") };
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if value.is_integer() {
                out.push_str(&value.to_string());
            } else {
                let f = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                out.push_str(&if f.is_nan() {
                    "NaN".to_string()
                } else if f.is_infinite() {
                    if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
                } else {
                    float_repr(f)
                });
            }
        }
        ValueKind::String => json_string(value.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Jv> = value.try_iter()?.collect();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out)?;
            }
            if !items.is_empty() {
                newline(out, depth);
            }
            out.push(']');
        }
        ValueKind::Map => {
            let mut pairs: Vec<(String, Jv)> = Vec::new();
            for key in value.try_iter()? {
                pairs.push((python_str(&key), value.get_item(&key)?));
            }
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (key, item)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                json_string(key, out);
                out.push_str(key_separator);
                write_json(item, indent, depth + 1, out)?;
            }
            if !pairs.is_empty() {
                newline(out, depth);
            }
            out.push('}');
        }
        ValueKind::Undefined => return Err(Error::from(ErrorKind::UndefinedError)),
        _ => return Err(invalid(format!("TypeError: Object of type {} is not JSON serializable", value.kind()))),
    }
    Ok(())
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`).
fn json_string(s: &str, out: &mut String) {
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
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// markupsafe's escaping: `& < > " '` as `&amp; &lt; &gt; &#34; &#39;`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `escape`: an already safe string stays as it is.
fn escape_filter(value: Jv) -> Jv {
    if value.is_safe() {
        value
    } else {
        Jv::from_safe_string(escape(&python_str(&value)))
    }
}

/// `truncate(s, length=255, killwords=False, end='...', leeway=None)` (leeway 5).
fn truncate(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("truncate", &args, &["length", "killwords", "end", "leeway"])?;
    let s = python_str(&value);
    let length = usize::try_from(int_of(&bound[0], 255)?).map_err(|_| invalid("length must be positive"))?;
    let end = text_of(&bound[2], "...");
    let leeway = usize::try_from(int_of(&bound[3], 5)?).unwrap_or(0);
    let count = s.chars().count();
    if count <= length + leeway {
        return Ok(Jv::from(s));
    }
    let keep = length.saturating_sub(end.chars().count());
    let head: String = s.chars().take(keep).collect();
    if flag_of(&bound[1]) {
        return Ok(Jv::from(format!("{head}{end}")));
    }
    let cut = match head.rfind(' ') {
        Some(at) => &head[..at],
        None => head.as_str(),
    };
    Ok(Jv::from(format!("{cut}{end}")))
}

/// `center(value, width=80)`: Python's `str.center`.
fn center(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("center", &args, &["width"])?;
    let s = python_str(&value);
    let width = usize::try_from(int_of(&bound[0], 80)?).unwrap_or(0);
    let length = s.chars().count();
    if width <= length {
        return Ok(Jv::from(s));
    }
    let margin = width - length;
    let left = margin / 2 + (margin & width & 1);
    Ok(Jv::from(format!("{}{s}{}", " ".repeat(left), " ".repeat(margin - left))))
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `wordwrap(s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True)`,
/// for the plain cases: words are wrapped at `width`, each paragraph line apart.
fn wordwrap(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("wordwrap", &args, &["width", "break_long_words", "wrapstring", "break_on_hyphens"])?;
    let width = usize::try_from(int_of(&bound[0], 79)?).unwrap_or(79).max(1);
    let break_long = bound[1].as_ref().is_none_or(Jv::is_true);
    let wrapstring = text_of(&bound[2], "\n");
    let mut paragraphs = Vec::new();
    for line in splitlines(&python_str(&value)) {
        let mut lines: Vec<String> = Vec::new();
        let mut current = String::new();
        for word in line.split_whitespace() {
            let mut word = word.to_string();
            loop {
                let needed = if current.is_empty() { word.chars().count() } else { current.chars().count() + 1 + word.chars().count() };
                if needed <= width {
                    if !current.is_empty() {
                        current.push(' ');
                    }
                    current.push_str(&word);
                    break;
                }
                if !current.is_empty() {
                    lines.push(std::mem::take(&mut current));
                    continue;
                }
                if break_long && word.chars().count() > width {
                    let head: String = word.chars().take(width).collect();
                    lines.push(head);
                    word = word.chars().skip(width).collect();
                    continue;
                }
                current = word;
                break;
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        paragraphs.push(lines.join(&wrapstring));
    }
    Ok(Jv::from(paragraphs.join(&wrapstring)))
}

/// `urlencode`: a string quoted as URL text (`/` kept); a dict or list of pairs as a query.
fn urlencode(value: Jv) -> Result<Jv, Error> {
    let quote = |s: &str, for_query: bool| {
        let mut out = String::new();
        for byte in s.as_bytes() {
            let c = *byte as char;
            if c.is_ascii_alphanumeric() || "_.-~".contains(c) || (!for_query && c == '/') {
                out.push(c);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        out
    };
    match value.kind() {
        ValueKind::Map => {
            let mut parts = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                parts.push(format!("{}={}", quote(&python_str(&key), true), quote(&python_str(&item), true)));
            }
            Ok(Jv::from(parts.join("&")))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut parts = Vec::new();
            for pair in value.try_iter()? {
                let key = pair.get_item(&Jv::from(0))?;
                let item = pair.get_item(&Jv::from(1))?;
                parts.push(format!("{}={}", quote(&python_str(&key), true), quote(&python_str(&item), true)));
            }
            Ok(Jv::from(parts.join("&")))
        }
        _ => Ok(Jv::from(quote(&python_str(&value), false))),
    }
}

/// `striptags`: tags removed, whitespace collapsed.
fn striptags(value: Jv) -> Jv {
    let s = python_str(&value);
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    Jv::from(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `filesizeformat(value, binary=False)`.
fn filesizeformat(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("filesizeformat", &args, &["binary"])?;
    let bytes = f64::try_from(value.clone()).map_err(|_| invalid("filesizeformat needs a number"))?;
    let binary = flag_of(&bound[0]);
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    let prefixes = if binary { ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"] } else { ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"] };
    if bytes == 1.0 {
        return Ok(Jv::from("1 Byte"));
    }
    if bytes < base {
        return Ok(Jv::from(format!("{} Bytes", bytes as i64)));
    }
    let mut unit = base;
    for (i, prefix) in prefixes.iter().enumerate() {
        unit = base.powi(i as i32 + 2);
        if bytes < unit || i == prefixes.len() - 1 {
            return Ok(Jv::from(format!("{:.1} {prefix}", base * bytes / unit)));
        }
    }
    Ok(Jv::from(format!("{:.1} YB", base * bytes / unit)))
}

/// `trim(value, chars=None)`: Python's `str.strip`.
fn trim(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("trim", &args, &["chars"])?;
    let s = python_str(&value);
    Ok(Jv::from(match &bound[0] {
        Some(chars) if !chars.is_none() => {
            let chars: Vec<char> = python_str(chars).chars().collect();
            s.trim_matches(|c| chars.contains(&c)).to_string()
        }
        _ => s.trim().to_string(),
    }))
}

/// Jinja2's `cycler(*items)`.
#[derive(Debug)]
struct Cycler {
    items: Vec<Jv>,
    position: Mutex<usize>,
}

impl Object for Cycler {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Jv) -> Option<Jv> {
        match key.as_str()? {
            "current" => {
                let position = *self.position.lock().ok()?;
                self.items.get(position).cloned()
            }
            _ => None,
        }
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, _args: &[Jv]) -> Result<Jv, Error> {
        let mut position = self.position.lock().map_err(|_| invalid("cycler is poisoned"))?;
        match method {
            "next" => {
                let item = self.items.get(*position).cloned().unwrap_or_default();
                *position = if self.items.is_empty() { 0 } else { (*position + 1) % self.items.len() };
                Ok(item)
            }
            "reset" => {
                *position = 0;
                Ok(Jv::from(()))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// Jinja2's `joiner(sep=', ')`: empty the first time it is called, `sep` afterwards.
#[derive(Debug)]
struct Joiner {
    sep: String,
    used: Mutex<bool>,
}

impl Object for Joiner {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, _state: &State<'_, '_>, _args: &[Jv]) -> Result<Jv, Error> {
        let mut used = self.used.lock().map_err(|_| invalid("joiner is poisoned"))?;
        if *used {
            Ok(Jv::from(self.sep.as_str()))
        } else {
            *used = true;
            Ok(Jv::from(""))
        }
    }
}

/// Python methods of template values: `str`, `dict` and `list` (minijinja's own objects do
/// not have them; the model's dicts answer `items()` and friends themselves).
pub fn unknown_method(_state: &State<'_, '_>, value: &Jv, method: &str, args: &[Jv]) -> Result<Jv, Error> {
    if is_pending(value) {
        return Ok(Jv::from_object(Pending));
    }
    match value.kind() {
        ValueKind::String => string_method(value.as_str().unwrap_or_default(), method, args),
        ValueKind::Map => {
            let keys: Vec<Jv> = value.try_iter()?.collect();
            let pairs: Vec<(Jv, Jv)> = keys.into_iter().map(|k| (k.clone(), value.get_item(&k).unwrap_or_default())).collect();
            dict_method(method, args, || pairs.clone().into_iter())
        }
        ValueKind::Seq => {
            let items: Vec<Jv> = value.try_iter()?.collect();
            match (method, args) {
                ("count", [needle]) => Ok(Jv::from(items.iter().filter(|i| *i == needle).count())),
                ("index", [needle]) => items
                    .iter()
                    .position(|i| i == needle)
                    .map(Jv::from)
                    .ok_or_else(|| invalid(format!("ValueError: {} is not in list", python_repr(needle)))),
                _ => Err(Error::from(ErrorKind::UnknownMethod)),
            }
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// The methods of Python's `str` that templates use.
fn string_method(s: &str, method: &str, args: &[Jv]) -> Result<Jv, Error> {
    let bound = |names: &[&str]| bind(&format!("str.{method}"), args, names);
    let strip_set = |chars: &Option<Jv>| -> Option<Vec<char>> { chars.as_ref().filter(|c| !c.is_none()).map(|c| python_str(c).chars().collect()) };
    let prefixes = |value: &Option<Jv>| -> Vec<String> {
        match value {
            Some(v) if v.kind() == ValueKind::Seq => v.try_iter().map(|items| items.map(|i| python_str(&i)).collect()).unwrap_or_default(),
            Some(v) => vec![python_str(v)],
            None => Vec::new(),
        }
    };
    Ok(match method {
        "upper" => Jv::from(s.to_uppercase()),
        "lower" | "casefold" => Jv::from(s.to_lowercase()),
        "capitalize" => Jv::from(crate::strings::capitalize(s)),
        "title" => Jv::from(title(s)),
        "swapcase" => Jv::from(s.chars().map(|c| if c.is_uppercase() { c.to_lowercase().collect::<String>() } else { c.to_uppercase().collect() }).collect::<String>()),
        "strip" | "lstrip" | "rstrip" => {
            let chars = strip_set(&bound(&["chars"])?[0]);
            let matcher = |c: char| match &chars {
                Some(set) => set.contains(&c),
                None => c.is_whitespace(),
            };
            Jv::from(match method {
                "strip" => s.trim_matches(matcher),
                "lstrip" => s.trim_start_matches(matcher),
                _ => s.trim_end_matches(matcher),
            })
        }
        "split" | "rsplit" => {
            let b = bound(&["sep", "maxsplit"])?;
            let maxsplit = int_of(&b[1], -1)?;
            let parts = python_split(s, b[0].as_ref().filter(|v| !v.is_none()).map(python_str).as_deref(), maxsplit, method == "rsplit")?;
            Jv::from(parts.into_iter().map(Jv::from).collect::<Vec<_>>())
        }
        "splitlines" => Jv::from(splitlines(s).into_iter().map(Jv::from).collect::<Vec<_>>()),
        "startswith" | "endswith" => {
            let b = bound(&["prefix"])?;
            let candidates = prefixes(&b[0]);
            let found = candidates.iter().any(|p| if method == "startswith" { s.starts_with(p.as_str()) } else { s.ends_with(p.as_str()) });
            Jv::from(found)
        }
        "replace" => {
            let b = bound(&["old", "new", "count"])?;
            Jv::from(python_replace(s, &text_of(&b[0], ""), &text_of(&b[1], ""), int_of(&b[2], -1)?))
        }
        "find" | "rfind" | "index" | "rindex" => {
            let b = bound(&["sub"])?;
            let sub = text_of(&b[0], "");
            let found = if method.starts_with('r') { s.rfind(&sub) } else { s.find(&sub) };
            match found {
                Some(at) => Jv::from(s[..at].chars().count()),
                None if method.ends_with("index") => return Err(invalid("ValueError: substring not found")),
                None => Jv::from(-1),
            }
        }
        "count" => {
            let sub = text_of(&bound(&["sub"])?[0], "");
            Jv::from(if sub.is_empty() { s.chars().count() + 1 } else { s.matches(&sub).count() })
        }
        "join" => {
            let b = bound(&["iterable"])?;
            let items = b[0].as_ref().ok_or_else(|| invalid("str.join() takes exactly one argument"))?;
            let parts: Vec<String> = items.try_iter()?.map(|i| python_str(&i)).collect();
            Jv::from(parts.join(s))
        }
        "format" => {
            let (positional, keywords) = match args.split_last() {
                Some((last, rest)) if last.is_kwargs() => (rest, Some(last)),
                _ => (args, None),
            };
            let mut values = Vec::new();
            for arg in positional {
                values.push(model_value(arg)?);
            }
            let mut named: Vec<(Rc<str>, Value)> = Vec::new();
            if let Some(keywords) = keywords {
                for key in keywords.try_iter()? {
                    named.push((Rc::from(python_str(&key).as_str()), model_value(&keywords.get_item(&key)?)?));
                }
            }
            let text = python_format(s, &values, &named, &mut TemplateFormat).map_err(|failure| match failure {
                PluginFailure::Error(message) | PluginFailure::Explained { message, .. } => invalid(message),
                PluginFailure::Wait(_) => invalid("str.format() cannot read attributes of entities in a template"),
            })?;
            Jv::from(text)
        }
        "zfill" => {
            let width = usize::try_from(int_of(&bound(&["width"])?[0], 0)?).unwrap_or(0);
            let length = s.chars().count();
            if length >= width {
                Jv::from(s)
            } else {
                let (sign, digits) = match s.chars().next() {
                    Some(c @ ('-' | '+')) => (c.to_string(), &s[1..]),
                    _ => (String::new(), s),
                };
                Jv::from(format!("{sign}{}{digits}", "0".repeat(width - length)))
            }
        }
        "ljust" | "rjust" | "center" => {
            let b = bound(&["width", "fillchar"])?;
            let width = usize::try_from(int_of(&b[0], 0)?).unwrap_or(0);
            let fill = b[1].as_ref().map(python_str).and_then(|f| f.chars().next()).unwrap_or(' ');
            let length = s.chars().count();
            if length >= width {
                Jv::from(s)
            } else {
                let margin = width - length;
                let left = match method {
                    "ljust" => 0,
                    "rjust" => margin,
                    _ => margin / 2 + (margin & width & 1),
                };
                let pad = |n: usize| std::iter::repeat_n(fill, n).collect::<String>();
                Jv::from(format!("{}{s}{}", pad(left), pad(margin - left)))
            }
        }
        "isdigit" | "isdecimal" | "isnumeric" => Jv::from(!s.is_empty() && s.chars().all(|c| c.is_numeric())),
        "isalpha" => Jv::from(!s.is_empty() && s.chars().all(char::is_alphabetic)),
        "isalnum" => Jv::from(!s.is_empty() && s.chars().all(char::is_alphanumeric)),
        "isspace" => Jv::from(!s.is_empty() && s.chars().all(char::is_whitespace)),
        "islower" => Jv::from(s.chars().any(char::is_lowercase) && !s.chars().any(char::is_uppercase)),
        "isupper" => Jv::from(s.chars().any(char::is_uppercase) && !s.chars().any(char::is_lowercase)),
        "partition" | "rpartition" => {
            let sep = text_of(&bound(&["sep"])?[0], "");
            if sep.is_empty() {
                return Err(invalid("ValueError: empty separator"));
            }
            let found = if method == "partition" { s.find(&sep) } else { s.rfind(&sep) };
            let parts = match found {
                Some(at) => [&s[..at], sep.as_str(), &s[at + sep.len()..]],
                None if method == "partition" => [s, "", ""],
                None => ["", "", s],
            };
            Jv::from(parts.iter().map(|p| Jv::from(*p)).collect::<Vec<_>>())
        }
        _ => return Err(Error::from(ErrorKind::UnknownMethod)),
    })
}

/// Python's `str.title()`: a letter after a non-letter is upper case, the others lower.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut previous_cased = false;
    for c in s.chars() {
        if previous_cased {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        previous_cased = c.is_alphabetic();
    }
    out
}

/// Python's `str.split(sep, maxsplit)` and `rsplit`: without `sep`, runs of whitespace
/// separate and the ends are stripped.
fn python_split(s: &str, sep: Option<&str>, maxsplit: i64, from_right: bool) -> Result<Vec<String>, Error> {
    let limit = usize::try_from(maxsplit).ok();
    match sep {
        Some("") => Err(invalid("ValueError: empty separator")),
        Some(sep) => {
            let parts: Vec<String> = match (limit, from_right) {
                (Some(n), false) => s.splitn(n + 1, sep).map(str::to_string).collect(),
                (Some(n), true) => {
                    let mut parts: Vec<String> = s.rsplitn(n + 1, sep).map(str::to_string).collect();
                    parts.reverse();
                    parts
                }
                (None, _) => s.split(sep).map(str::to_string).collect(),
            };
            Ok(parts)
        }
        None => {
            let words: Vec<&str> = s.split_whitespace().collect();
            match limit {
                Some(n) if n < words.len() => {
                    if from_right {
                        let trimmed = s.trim_end();
                        let mut parts: Vec<String> = Vec::new();
                        let mut rest = trimmed;
                        for _ in 0..n {
                            match rest.rfind(char::is_whitespace) {
                                Some(at) => {
                                    parts.push(rest[at..].trim_start().to_string());
                                    rest = rest[..at].trim_end();
                                }
                                None => break,
                            }
                        }
                        parts.push(rest.to_string());
                        parts.reverse();
                        Ok(parts)
                    } else {
                        let mut parts: Vec<String> = Vec::new();
                        let mut rest = s.trim_start();
                        for _ in 0..n {
                            match rest.find(char::is_whitespace) {
                                Some(at) => {
                                    parts.push(rest[..at].to_string());
                                    rest = rest[at..].trim_start();
                                }
                                None => break,
                            }
                        }
                        parts.push(rest.to_string());
                        Ok(parts)
                    }
                }
                _ => Ok(words.into_iter().map(str::to_string).collect()),
            }
        }
    }
}

/// A template value handed to `str.format`.
fn model_value(value: &Jv) -> Result<Value, Error> {
    from_jinja(value).map_err(|why| match why {
        NotAValue::Pending => invalid("a value of the model is still being read"),
        NotAValue::Undefined => Error::from(ErrorKind::UndefinedError),
        NotAValue::Other(what) => invalid(format!("str.format() cannot format {what}")),
    })
}

/// What `str.format` in a template can do: print values as Python does; instances' fields
/// (`{0.name}`) are read in the template itself (`'{}'.format(host.name)`).
struct TemplateFormat;

impl FormatHost for TemplateFormat {
    fn attribute(&mut self, _instance: InstanceId, name: &str) -> Result<Value, PluginFailure> {
        Err(PluginFailure::Error(format!("str.format() in a template cannot read `.{name}` of an entity: read it in the template and pass the value")))
    }

    fn instance_label(&self, instance: InstanceId) -> String {
        format!("instance {}", instance.0)
    }
}
