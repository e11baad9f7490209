//! `std::template(path, **kwargs)`: renders a Jinja2 template with the semantics std 8.4.2
//! gives it (docs/inmanta-shapes.md section 6), on minijinja.
//!
//! - **Where the template is**: `module/rest` in that module's `templates/`, `./rest` in the
//!   calling module's, `/rest` in the project's own (Inmanta's `PrefixLoader`); std's own
//!   templates (`std/host_uri.j2`) are compiled into Cairn. `{% include %}`, `{% import %}`
//!   and `{% extends %}` name other templates the same way (`module/rest`, `/rest`).
//! - **What it sees**: with keyword arguments, those and nothing else; without, every name
//!   of the calling scope (an implementation's variables and its instance's attributes and
//!   relations, or the file's top-level variables). `self` is always Jinja2's reference to
//!   the template. Values arrive as Inmanta's proxies (see `values`).
//! - **Jinja2's configuration**: `StrictUndefined`, one final newline of the template
//!   dropped (`keep_trailing_newline` false), newlines normalised to `\n`, no autoescape, no
//!   `trim_blocks`/`lstrip_blocks`, Jinja2's filters and methods (see `filters`), and every
//!   plugin usable as a filter named with `.` for `::` (`{{ x | std.upper }}`).
//!
//! A render reads the model lazily: a lookup the render needs but the call has not fetched
//! is recorded (`session`) and the pass is thrown away; the plugin fetches what was missed
//! through its host (which may make the call wait for a value, as any plugin read does) and
//! renders again, until a pass misses nothing. So a template reads exactly what it uses,
//! whatever the path (`h.os.family.name`, entities in lists, plugin filters), and one pass
//! usually finds everything a level deeper. Templates are parsed once per text.
//!
//! An undefined name is an error naming the template, the line and the name, with Jinja2's
//! wording as the hint. If a value the template uses is unknown, the result is unknown.

mod filters;
mod methods;
mod printf;
mod session;
mod values;

use crate::files::{about, locate};
use crate::support::{error, text, PluginResult};
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;
use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Rest, Value as Jv};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use session::{Miss, Session};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use values::{from_jinja, to_jinja, NotAValue, Pending, TemplateRef};

pub fn register(registry: &mut PluginRegistry) {
    registry.register("std::template", vec![Param::new("path", ParamType::String)], template).kwargs = true;
}

/// The templates std itself ships (Inmanta's `std/templates/`), by their name inside it.
const STD_TEMPLATES: &[(&str, &str)] = &[("host_uri.j2", include_str!("../../templates/host_uri.j2"))];

/// A render that keeps finding new misses is a bug (every pass fetches what it missed, and a
/// model is finite); stop rather than loop.
const MAX_PASSES: usize = 10_000;

/// The text of the template `path` names, and its name inside its folder (the name Jinja2's
/// loader gives it).
fn read_template(ctx: &mut PluginCtx<'_>, path: &str) -> Result<(String, String), PluginFailure> {
    let located = locate(ctx, path, "templates")?;
    let name = located.inner();
    let source = match STD_TEMPLATES.iter().find(|(file, _)| located.module == "std" && *file == name) {
        Some((_, text)) => (*text).to_string(),
        None => ctx.host.module_file(&located.host_path("templates")).map_err(|e| about(path, e))?,
    };
    Ok((name, source))
}

fn template(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let path = text(&args[0]).to_string();
    let (name, source) = read_template(ctx, &path)?;
    let compiled = compiled(ctx, &path, source)?;
    let given = if ctx.kwargs.is_empty() {
        None
    } else {
        let mut given = IndexMap::with_capacity(ctx.kwargs.len());
        for (key, value) in ctx.kwargs {
            match to_jinja(value, ctx) {
                Some(value) => given.insert(key.to_string(), value),
                None => return Ok(Value::Unknown),
            };
        }
        Some(given)
    };
    let root = Jv::from_object(Root { given, reference: Jv::from_object(TemplateRef(name)) });
    let mut session = Session::default();
    for _ in 0..MAX_PASSES {
        let template = compiled.env.get_template(TEMPLATE).map_err(|e| error(format!("template `{path}`: {e}")))?;
        let (rendered, back) = session::installed(session, || template.render(root.clone()));
        session = back;
        if session.misses.is_empty() {
            return match rendered {
                Ok(text) => Ok(Value::str(&text)),
                Err(failure) => Err(explain(&path, &compiled.source, &failure, &session)),
            };
        }
        let misses = std::mem::take(&mut session.misses);
        for miss in misses {
            if let Miss::Template(name) = &miss {
                if !session.sources.contains_key(name) {
                    let (_, text) = read_template(ctx, name)?;
                    let text = jinja_source(&text);
                    compiled.includes.borrow_mut().push((name.clone(), text.clone()));
                    session.sources.insert(name.clone(), text);
                }
                continue;
            }
            if !fetch(ctx, &mut session, miss)? {
                return Ok(Value::Unknown);
            }
        }
    }
    Err(error(format!("template `{path}`: the render kept asking for new values; giving up")))
}

/// Fetches one missed value into the session; false when it is unknown (so is the result).
fn fetch(ctx: &mut PluginCtx<'_>, session: &mut Session, miss: Miss) -> Result<bool, PluginFailure> {
    match miss {
        Miss::Attribute(id, name) => {
            let key = (id, name);
            if session.attributes.contains_key(&key) {
                return Ok(true);
            }
            let value = if ctx.host.has_attribute(id, &key.1) {
                match ctx.host.attribute(id, &key.1) {
                    Ok(value) => Some(value),
                    Err(PluginFailure::Wait(token)) => return Err(PluginFailure::Wait(token)),
                    // Inmanta's proxy turns an attribute it cannot read into an undefined.
                    Err(_) => None,
                }
            } else {
                None
            };
            let converted = match value {
                Some(value) => match to_jinja(&value, ctx) {
                    Some(converted) => Some(converted),
                    None => return Ok(false),
                },
                None => None,
            };
            session.attributes.insert(key, converted);
        }
        Miss::Variable(name) => {
            if session.variables.contains_key(&name) {
                return Ok(true);
            }
            let converted = match ctx.host.variable(&name)? {
                Some(value) => match to_jinja(&value, ctx) {
                    Some(converted) => Some(converted),
                    None => return Ok(false),
                },
                None => None,
            };
            session.variables.insert(name, converted);
        }
        // Read by the render loop itself (it records what the cached environment loaded).
        Miss::Template(_) => {}
        Miss::Call(plugin, args) => {
            let key = session::call_key(&plugin, &args);
            if session.calls.contains_key(&key) {
                return Ok(true);
            }
            let result = match ctx.host.call_plugin(&plugin, args) {
                Ok(value) => match to_jinja(&value, ctx) {
                    Some(converted) => Ok(converted),
                    None => return Ok(false),
                },
                Err(PluginFailure::Wait(token)) => return Err(PluginFailure::Wait(token)),
                Err(PluginFailure::Error(message) | PluginFailure::Explained { message, .. }) => Err(message),
            };
            session.calls.insert(key, result);
        }
    }
    Ok(true)
}

/// The variables of a render: the keyword arguments, or (`given` is `None`) the calling
/// scope, read through the session; `self` is the template reference either way.
#[derive(Debug)]
struct Root {
    given: Option<IndexMap<String, Jv>>,
    reference: Jv,
}

impl Object for Root {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Jv) -> Option<Jv> {
        let name = key.as_str()?;
        if name == "self" {
            return Some(self.reference.clone());
        }
        match &self.given {
            Some(given) => {
                let found = given.get(name).cloned();
                if found.is_none() {
                    session::undefined(format!("'{name}' is undefined"));
                }
                found
            }
            None => session::variable(name),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match &self.given {
            Some(given) => Enumerator::Values(given.keys().map(|k| Jv::from(k.as_str())).collect()),
            None => Enumerator::Empty,
        }
    }
}

/// The name of the one template of each cached environment.
const TEMPLATE: &str = "template";

/// A parsed template in an environment configured as std configures Jinja2.
struct Compiled {
    env: Environment<'static>,
    /// The text as parsed (newlines normalised, the final one dropped), for messages.
    source: String,
    /// The other templates the environment loaded (name, text as loaded): minijinja keeps
    /// them, so a call checks they are unchanged before using the environment again.
    includes: RefCell<Vec<(String, String)>>,
}

/// Templates are parsed once per text: a model renders the same template for thousands of
/// instances. The text is the key, so an edited template is parsed anew; the cache is
/// emptied when it grows past `TEMPLATE_CACHE_LIMIT` texts (a long-running process).
const TEMPLATE_CACHE_LIMIT: usize = 512;

thread_local! {
    static TEMPLATES: RefCell<HashMap<String, Rc<Compiled>>> = RefCell::new(HashMap::new());
}

fn compiled(ctx: &mut PluginCtx<'_>, path: &str, source: String) -> Result<Rc<Compiled>, PluginFailure> {
    if let Some(found) = TEMPLATES.with(|cache| cache.borrow().get(&source).cloned()) {
        let loaded = found.includes.borrow().clone();
        let mut unchanged = true;
        for (name, text) in &loaded {
            let (_, current) = read_template(ctx, name)?;
            unchanged &= jinja_source(&current) == *text;
        }
        if unchanged {
            return Ok(found);
        }
    }
    let compiled = Rc::new(build(path, &source)?);
    TEMPLATES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= TEMPLATE_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(source, compiled.clone());
    });
    Ok(compiled)
}

/// The text Jinja2's lexer works on: every newline (`\r\n`, `\r`) as `\n`, and without
/// `keep_trailing_newline` one final newline dropped.
fn jinja_source(source: &str) -> String {
    let mut text = source.replace("\r\n", "\n").replace('\r', "\n");
    if text.ends_with('\n') {
        text.pop();
    }
    text
}

fn build(path: &str, source: &str) -> Result<Compiled, PluginFailure> {
    let text = jinja_source(source);
    let mut env = Environment::new();
    // Debug mode copies the template's state into every error; the messages here use the
    // error's span only.
    env.set_debug(false);
    // The final newline is already dropped, as Jinja2 drops it (see `jinja_source`).
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_formatter(values::format);
    env.set_unknown_method_callback(methods::unknown_method);
    // Other templates come from the session (the render loop reads them through the host).
    env.set_loader(|name| Ok(session::source(name)));
    filters::install(&mut env);
    for name in dotted_names(&text) {
        let plugin = name.replace('.', "::");
        env.add_filter(name, move |value: Jv, rest: Rest<Jv>| plugin_filter(&plugin, value, rest));
    }
    env.add_template_owned(TEMPLATE, text.clone()).map_err(|e| syntax_error(path, &text, &e))?;
    Ok(Compiled { env, source: text, includes: RefCell::new(Vec::new()) })
}

/// Every dotted name in the text (`std.upper`, `mymod.sub.plugin`): the plugin filters it
/// may use. Names that are not filters (`server.host`) get a filter nobody calls.
fn dotted_names(text: &str) -> Vec<String> {
    static DOTTED: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let Some(pattern) = DOTTED.get_or_init(|| regex::Regex::new(r"[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)+").ok()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = pattern.find_iter(text).map(|m| m.as_str().split('.').map(str::trim).collect::<Vec<_>>().join(".")).collect();
    names.sort();
    names.dedup();
    names
}

/// A plugin used as a filter: `{{ x | std.upper }}` is `std::upper(x)`, `{{ s | std.split(',') }}`
/// is `std::split(s, ',')`. The result comes from the session, or the call is recorded.
fn plugin_filter(plugin: &str, value: Jv, rest: Rest<Jv>) -> Result<Jv, minijinja::Error> {
    let mut args = Vec::with_capacity(1 + rest.len());
    for argument in std::iter::once(&value).chain(rest.iter()) {
        if argument.is_kwargs() {
            return Err(minijinja::Error::new(ErrorKind::TooManyArguments, format!("the filter for plugin `{plugin}` takes positional arguments only")));
        }
        match from_jinja(argument) {
            Ok(argument) => args.push(argument),
            Err(NotAValue::Pending) => return Ok(Jv::from_object(Pending)),
            Err(NotAValue::Undefined) => return Err(minijinja::Error::new(ErrorKind::UndefinedError, FILTER_ARGUMENT)),
            Err(NotAValue::Other(what)) => {
                return Err(minijinja::Error::new(ErrorKind::InvalidOperation, format!("plugin `{plugin}` cannot take {what}")))
            }
        }
    }
    match session::call(plugin, args) {
        Ok(Some(result)) => Ok(result),
        Ok(None) => Ok(Jv::from_object(Pending)),
        Err(message) => Err(minijinja::Error::new(ErrorKind::InvalidOperation, format!("plugin `{plugin}` failed: {message}"))),
    }
}

/// The detail of the error a plugin filter raises on an undefined argument: the failing
/// expression is then the filter, not the name that was undefined.
const FILTER_ARGUMENT: &str = "an argument of a plugin filter is undefined";

/// `template `/x.j2`, line 3` for messages.
fn place(path: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("template `{path}`, line {line}"),
        None => format!("template `{path}`"),
    }
}

fn syntax_error(path: &str, _text: &str, failure: &minijinja::Error) -> PluginFailure {
    let detail = failure.detail().map(|d| format!(": {d}")).unwrap_or_default();
    error(format!("{}: {}{detail}", place(path, failure.line()), failure.kind()))
}

/// The error of a render that failed: an undefined name in Jinja2's words (the name and the
/// hint), anything else as minijinja reports it.
fn explain(path: &str, text: &str, failure: &minijinja::Error, session: &Session) -> PluginFailure {
    // An error inside an included template names that one.
    let (path, text) = match failure.name() {
        Some(name) if name != TEMPLATE => (name, session.sources.get(name).map(String::as_str).unwrap_or_default()),
        _ => (path, text),
    };
    let place = place(path, failure.line());
    let expression = failure.range().and_then(|range| text.get(range)).map(str::trim);
    if failure.kind() == ErrorKind::UndefinedError {
        // The last lookup that found nothing is the one that failed, if the failing
        // expression mentions its name.
        let from_filter = failure.detail() == Some(FILTER_ARGUMENT);
        let jinja = session.last_undefined.clone().filter(|message| match (expression, quoted_name(message)) {
            (Some(expression), Some(name)) => from_filter || expression.contains(name.as_str()),
            _ => true,
        });
        return match jinja {
            Some(jinja) => {
                let what = match quoted_name(&jinja) {
                    Some(name) if jinja.ends_with("is undefined") => format!("`{name}` is not defined"),
                    _ => jinja.clone(),
                };
                PluginFailure::Explained {
                    message: format!("{place}: {what}"),
                    hint: format!(
                        "Jinja2: {jinja}; a template sees the keyword arguments of std::template, or without them the variables where it is called"
                    ),
                }
            }
            None => PluginFailure::Explained {
                message: format!("{place}: undefined value{}", expression.map(|e| format!(" in `{e}`")).unwrap_or_default()),
                hint: "Jinja2: an undefined value cannot be printed, iterated or tested (StrictUndefined)".to_string(),
            },
        };
    }
    let detail = failure.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let context = expression.filter(|e| !e.is_empty()).map(|e| format!(" (in `{e}`)")).unwrap_or_default();
    error(format!("{place}: {}{detail}{context}", failure.kind()))
}

/// The first name quoted in a Jinja2 message (`'missing' is undefined` gives `missing`).
fn quoted_name(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("variable ") {
        return rest.split_whitespace().next().map(str::to_string);
    }
    let start = message.find('\'')? + 1;
    let end = message[start..].find('\'')? + start;
    let name = &message[start..end];
    // `'inmanta.execute.proxy.DictProxy object' has no attribute 'x'`: the attribute.
    if name.contains(' ') {
        let after = &message[end + 1..];
        let start = after.find('\'')? + 1;
        let stop = after[start..].find('\'')? + start;
        return Some(after[start..stop].to_string());
    }
    Some(name.to_string())
}

#[cfg(test)]
mod tests;
