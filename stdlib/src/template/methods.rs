//! The Python methods of `str`, `dict` and `list` that templates call (`.upper()`,
//! `.split()`, `.items()`, `'{}'.format(x)`, ...), through minijinja's unknown-method
//! callback.

use super::filters::*;
use super::values::{dict_method, from_jinja, is_pending, python_repr, python_str, NotAValue, Pending};
use crate::format::{python_format, FormatHost};
use cairn_compiler::compile::plugins::PluginFailure;
use cairn_compiler::compile::value::{InstanceId, Value};
use minijinja::value::{Value as Jv, ValueKind};
use minijinja::{Error, ErrorKind, State};
use std::rc::Rc;

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
pub(super) fn string_method(s: &str, method: &str, args: &[Jv]) -> Result<Jv, Error> {
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
pub(super) fn title(s: &str) -> String {
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
pub(super) fn python_split(s: &str, sep: Option<&str>, maxsplit: i64, from_right: bool) -> Result<Vec<String>, Error> {
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
pub(super) fn model_value(value: &Jv) -> Result<Value, Error> {
    from_jinja(value).map_err(|why| match why {
        NotAValue::Pending => invalid("a value of the model is still being read"),
        NotAValue::Undefined => Error::from(ErrorKind::UndefinedError),
        NotAValue::Other(what) => invalid(format!("str.format() cannot format {what}")),
    })
}

/// What `str.format` in a template can do: print values as Python does; instances' fields
/// (`{0.name}`) are read in the template itself (`'{}'.format(host.name)`).
pub(super) struct TemplateFormat;

impl FormatHost for TemplateFormat {
    fn attribute(&mut self, _instance: InstanceId, name: &str) -> Result<Value, PluginFailure> {
        Err(PluginFailure::Error(format!("str.format() in a template cannot read `.{name}` of an entity: read it in the template and pass the value")))
    }

    fn instance_label(&self, instance: InstanceId) -> String {
        format!("instance {}", instance.0)
    }
}
