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
//! `callable`; the globals `cycler` and `joiner`. The methods of `str`, `dict` and `list`
//! are in `methods.rs`, the printf-style `format` in `printf.rs`.

use super::values::{python_repr, python_str, InstanceRef, ModelDict, ModelList};
use crate::format::float_repr;
use minijinja::value::{Object, ObjectRepr, Rest, Value as Jv, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};
use std::sync::{Arc, Mutex};
use super::printf::*;

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
pub(super) fn bind(filter: &str, args: &[Jv], names: &[&str]) -> Result<Vec<Option<Jv>>, Error> {
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

pub(super) fn text_of(value: &Option<Jv>, default: &str) -> String {
    value.as_ref().map(python_str).unwrap_or_else(|| default.to_string())
}

pub(super) fn int_of(value: &Option<Jv>, default: i64) -> Result<i64, Error> {
    match value {
        None => Ok(default),
        Some(v) if v.is_none() => Ok(default),
        Some(v) => v.as_i64().ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("{} is not an integer", python_repr(v)))),
    }
}

pub(super) fn flag_of(value: &Option<Jv>) -> bool {
    value.as_ref().is_some_and(Jv::is_true)
}

pub(super) fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `default(value, default_value='', boolean=False)`: only an undefined value (or, with
/// `boolean`, a false one) is replaced; `None` is a value.
pub(super) fn default(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("default", &args, &["default_value", "boolean"])?;
    if value.is_undefined() || (flag_of(&bound[1]) && !value.is_true()) {
        Ok(bound[0].clone().unwrap_or_else(|| Jv::from("")))
    } else {
        Ok(value)
    }
}

/// `round(value, precision=0, method='common')`: `common` is Python's `round` (ties to
/// even on the exact binary value, as `format(x, '.Nf')` rounds), always a float.
pub(super) fn round(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
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

/// Python's `str.splitlines()`.
pub(super) fn splitlines(s: &str) -> Vec<&str> {
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
pub(super) fn indent(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
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
pub(super) fn replace(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let bound = bind("replace", &args, &["old", "new", "count"])?;
    let (old, new) = (text_of(&bound[0], ""), text_of(&bound[1], ""));
    let count = int_of(&bound[2], -1)?;
    Ok(Jv::from(python_replace(&python_str(&value), &old, &new, count)))
}

/// Python's `str.replace(old, new, count)`; a negative count replaces every occurrence.
pub(super) fn python_replace(s: &str, old: &str, new: &str, count: i64) -> String {
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
pub(super) fn join(state: &State<'_, '_>, value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
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
pub(super) fn attribute_of(_state: &State<'_, '_>, item: &Jv, attribute: &Jv) -> Result<Jv, Error> {
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
pub(super) fn tojson(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
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

pub(super) fn write_json(value: &Jv, indent: Option<usize>, depth: usize, out: &mut String) -> Result<(), Error> {
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
        ValueKind::String => crate::json::quote(value.as_str().unwrap_or_default(), out),
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
                crate::json::quote(key, out);
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
pub(super) fn escape_filter(value: Jv) -> Jv {
    if value.is_safe() {
        value
    } else {
        Jv::from_safe_string(escape(&python_str(&value)))
    }
}

/// `truncate(s, length=255, killwords=False, end='...', leeway=None)` (leeway 5).
pub(super) fn truncate(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
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
pub(super) fn center(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
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

pub(super) fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `wordwrap(s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True)`,
/// for the plain cases: words are wrapped at `width`, each paragraph line apart.
pub(super) fn wordwrap(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
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
pub(super) fn urlencode(value: Jv) -> Result<Jv, Error> {
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
pub(super) fn striptags(value: Jv) -> Jv {
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
pub(super) fn filesizeformat(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
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
pub(super) fn trim(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
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
