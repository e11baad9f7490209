//! What one `std::template` call knows while its template renders: the attributes, scope
//! variables and plugin results fetched so far, what the render asked for that is not
//! fetched yet (the misses), and the last lookup that came back undefined (for Jinja2's
//! wording of the error).
//!
//! A render cannot reach the compiler: minijinja's objects and filters must be `'static`,
//! and the plugin's host is borrowed. So the render only reads this session, which lives in
//! a thread-local while minijinja runs on this thread, and records what it misses; the plugin
//! fetches the misses through its host and renders again (`super::render`).

use super::values::Pending;
use cairn_compiler::compile::value::{InstanceId, KeyPart, Value};
use minijinja::value::Value as Jv;
use std::cell::RefCell;
use std::collections::HashMap;

/// Something the render asked for and the session does not hold yet.
#[derive(Clone, Debug)]
pub enum Miss {
    Attribute(InstanceId, String),
    Variable(String),
    Call(String, Vec<Value>),
    /// A template that `{% include %}`, `{% import %}` or `{% extends %}` names.
    Template(String),
}

/// A plugin filter's call: the plugin and its arguments reduced to what equality sees.
pub type CallKey = (String, Vec<KeyPart>);

#[derive(Default)]
pub struct Session {
    /// `None`: the entity has no such attribute or relation.
    pub attributes: HashMap<(InstanceId, String), Option<Jv>>,
    /// Variables of the calling scope; `None`: no such name in scope.
    pub variables: HashMap<String, Option<Jv>>,
    /// Results of plugins used as filters; `Err` holds the plugin's error.
    pub calls: HashMap<CallKey, Result<Jv, String>>,
    /// Texts of the other templates this render loads, by their Jinja2 name.
    pub sources: HashMap<String, String>,
    pub misses: Vec<Miss>,
    /// Jinja2's message for the last lookup that found nothing.
    pub last_undefined: Option<String>,
}

thread_local! {
    static CURRENT: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// Runs `render` with `session` installed; returns its result and the session (with the
/// misses of this pass).
pub fn installed<R>(session: Session, render: impl FnOnce() -> R) -> (R, Session) {
    CURRENT.with(|current| *current.borrow_mut() = Some(session));
    let result = render();
    let session = CURRENT.with(|current| current.borrow_mut().take()).unwrap_or_default();
    (result, session)
}

fn with<R>(f: impl FnOnce(&mut Session) -> R) -> Option<R> {
    CURRENT.with(|current| current.borrow_mut().as_mut().map(f))
}

/// Remembers why a lookup found nothing, in Jinja2's words.
pub fn undefined(message: String) {
    with(|session| session.last_undefined = Some(message));
}

/// Attribute `name` of an instance (printed as `label`): its value, `None` when the entity
/// has no such attribute, [`Pending`] while it is not fetched.
pub fn attribute(id: InstanceId, name: &str, label: &str) -> Option<Jv> {
    with(|session| match session.attributes.get(&(id, name.to_string())) {
        Some(Some(value)) => Some(value.clone()),
        Some(None) => {
            session.last_undefined = Some(format!("variable {name} not set on {label}"));
            None
        }
        None => {
            session.misses.push(Miss::Attribute(id, name.to_string()));
            Some(Jv::from_object(Pending))
        }
    })
    .flatten()
}

/// A variable of the calling scope, as [`attribute`] does for attributes.
pub fn variable(name: &str) -> Option<Jv> {
    with(|session| match session.variables.get(name) {
        Some(Some(value)) => Some(value.clone()),
        Some(None) => {
            session.last_undefined = Some(format!("'{name}' is undefined"));
            None
        }
        None => {
            session.misses.push(Miss::Variable(name.to_string()));
            Some(Jv::from_object(Pending))
        }
    })
    .flatten()
}

/// The result of plugin `plugin` on `args`: `Ok(None)` while it is not computed (the call
/// is recorded), `Err` with the plugin's message when it failed.
pub fn call(plugin: &str, args: Vec<Value>) -> Result<Option<Jv>, String> {
    let key: CallKey = (plugin.to_string(), args.iter().map(KeyPart::of).collect());
    with(|session| match session.calls.get(&key) {
        Some(Ok(value)) => Ok(Some(value.clone())),
        Some(Err(message)) => Err(message.clone()),
        None => {
            session.misses.push(Miss::Call(plugin.to_string(), args));
            Ok(None)
        }
    })
    .unwrap_or(Ok(None))
}

/// The text of the template `name` for minijinja's loader; `None` (and the miss recorded)
/// while it is not read.
pub fn source(name: &str) -> Option<String> {
    with(|session| match session.sources.get(name) {
        Some(text) => Some(text.clone()),
        None => {
            session.misses.push(Miss::Template(name.to_string()));
            None
        }
    })
    .flatten()
}

/// The key of a plugin call in [`Session::calls`].
pub fn call_key(plugin: &str, args: &[Value]) -> CallKey {
    (plugin.to_string(), args.iter().map(KeyPart::of).collect())
}
